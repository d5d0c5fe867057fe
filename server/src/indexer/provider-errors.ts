/**
 * What hosted providers and node clients answer when a request is larger than they serve, or when
 * they rate-limit, read into a few kinds the RPC layer acts on:
 * - `range`: eth_getLogs spans more blocks than allowed (ask for fewer blocks);
 * - `results`: eth_getLogs would return more logs or bytes than allowed (ask for fewer blocks);
 * - `batch`: a JSON-RPC batch has more calls (or bytes) than allowed (send smaller batches);
 * - `rate_limited`: too many requests for now (wait, as Retry-After says, or back off).
 *
 * None of these wordings is standardized and codes are reused for unrelated errors (-32005,
 * -32602, -32600), so each is matched by its text, with its source beside it. test/server/
 * provider-errors.test.ts checks every example here against the matcher.
 */
export type RefusalKind = "range" | "results" | "batch" | "rate_limited";

export interface ProviderWording {
  /** Who answers this (provider, node client), and where the wording is documented or seen. */
  source: string;
  kind: RefusalKind;
  /** Matched case-insensitively against the error's message, details and causes. */
  pattern: RegExp;
  /** A full answer as that source gives it: JSON-RPC code, HTTP status and message. */
  example: { code?: number; status?: number; message: string };
}

export const PROVIDER_WORDINGS: readonly ProviderWording[] = [
  // eth_getLogs block ranges
  {
    source: "Alchemy, free tier (docs: eth_getLogs limits)",
    kind: "range",
    pattern: /tier plan, you can make eth_getLogs requests with up to a \d[\d,KkMm]* block range/,
    example: {
      code: -32600,
      message:
        "Under the Free tier plan, you can make eth_getLogs requests with up to a 10 block range. Based on your parameters, this block range should work: [0x1, 0xa]. Upgrade to PAYG for expanded block range.",
    },
  },
  {
    source: "QuickNode (docs: eth_getLogs limits; also mainnet.base.org)",
    kind: "range",
    pattern: /eth_getLogs is limited to a [\d,]+ range/,
    example: { code: -32614, status: 413, message: "eth_getLogs is limited to a 10 range" },
  },
  {
    source: "Chainstack (docs: limits, EVM range limits)",
    kind: "range",
    pattern: /block range limit exceeded/,
    example: { code: -32000, message: "Block range limit exceeded." },
  },
  {
    source: "Ankr; Frontier/Moonbeam nodes",
    kind: "range",
    pattern: /block range is too (wide|large)/,
    example: { code: -32062, message: "block range is too wide (maximum 3000)" },
  },
  {
    source: "BNB Chain and other geth-derived nodes, publicnode",
    kind: "range",
    pattern: /exceed maximum block range/,
    example: { code: -32000, message: "exceed maximum block range: 5000" },
  },
  {
    source: "reth (rpc-eth-types logs_utils)",
    kind: "range",
    pattern: /query exceeds max block range/,
    example: { code: -32602, message: "query exceeds max block range 100000" },
  },
  {
    source: "eRPC, dRPC and other gateways",
    kind: "range",
    pattern:
      /getLogs request exceeded max allowed range|requested range too large|ranges over \d+ blocks are not supported/,
    example: { code: -32012, message: "getLogs request exceeded max allowed range" },
  },
  {
    source: "Base public endpoint, Bor-based public nodes",
    kind: "range",
    pattern: /block range too large|please limit the (block )?range|maximum \d+ blocks distance/,
    example: { code: -32000, message: "block range too large" },
  },
  // eth_getLogs result sizes
  {
    source: "Infura (docs: eth_getLogs, 10,000 results)",
    kind: "results",
    pattern: /query returned more than [\d,]+ results/,
    example: {
      code: -32005,
      message: "query returned more than 10000 results. Try with this block range [0x1, 0x2710].",
    },
  },
  {
    source: "Alchemy, paid tiers (docs: eth_getLogs limits, 10K logs or 150 MB)",
    kind: "results",
    pattern: /log response size exceeded/,
    example: {
      code: -32602,
      message:
        "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit on the response size, or you can request any block range with a cap of 10K logs in the response. Based on your parameters and the response size limit, this block range should work: [0x1, 0x7d0]",
    },
  },
  {
    source: "Erigon and reth (rpc.returndata / max-logs-per-response), BlastAPI",
    kind: "results",
    pattern: /query exceeds max results/,
    example: {
      code: -32602,
      message: "query exceeds max results 20000, retry with the range 22382105-22382515",
    },
  },
  {
    source: "Nethermind (JsonRpc.MaxLogsPerResponse)",
    kind: "results",
    pattern: /too many logs requested/,
    example: { code: -32005, message: "Too many logs requested. Max logs per response is 10000." },
  },
  {
    source: "geth (--rpc.batch-response-max-size), Bor, Base public endpoint",
    kind: "results",
    pattern: /response too large|response size (exceeded|limit)|backend response too large/,
    example: { code: -32003, message: "response too large" },
  },
  {
    source: "Infura (10 s limit) and Alchemy: a query that took too long",
    kind: "results",
    pattern: /query timeout exceeded/,
    example: { code: -32005, message: "query timeout exceeded" },
  },
  // JSON-RPC batches
  {
    source: "geth and Bor (--rpc.batch-request-limit: geth 1,000, Bor 100)",
    kind: "batch",
    pattern: /batch too large/,
    example: { code: -32600, message: "batch too large" },
  },
  {
    source: "Alchemy, Infura, QuickNode, Chainstack (batch caps)",
    kind: "batch",
    pattern:
      /batch (size |request )?(limit )?(exceeded|too large)|exceeded max batch|max(imum)? batch size|too many requests in (a )?batch/,
    example: { code: -32600, message: "Batch size limit exceeded" },
  },
  // Rate limits (HTTP 429 is read from the status, whatever the body says)
  {
    source: "Alchemy (docs: throughput, compute units per second)",
    kind: "rate_limited",
    pattern: /exceeded its compute units per second capacity/,
    example: {
      code: 429,
      status: 429,
      message:
        "Your app has exceeded its compute units per second capacity. If you have retries enabled, you can safely ignore this message. If not, check out https://docs.alchemy.com/reference/throughput",
    },
  },
  {
    source: "Infura (docs: rate limiting)",
    kind: "rate_limited",
    pattern: /project ID request rate exceeded|daily request count exceeded/,
    example: { code: -32005, status: 429, message: "project ID request rate exceeded" },
  },
  {
    source: "QuickNode (docs: error codes, -32007)",
    kind: "rate_limited",
    pattern: /request limit reached/,
    example: {
      code: -32007,
      status: 429,
      message:
        "[req/sec] request limit reached - reduce calls per second or upgrade your account at quicknode.com",
    },
  },
  {
    source: "Chainstack, Ankr, generic gateways",
    kind: "rate_limited",
    pattern: /too many requests|rate limit(ed| exceeded)?|exceeded the rate/,
    example: { code: -32005, status: 429, message: "Too Many Requests" },
  },
];

/** The messages, details and JSON-RPC error bodies along an error's cause chain. */
function texts(error: unknown): { text: string; codes: number[]; statuses: number[] } {
  const parts: string[] = [];
  const codes: number[] = [];
  const statuses: number[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    if (typeof current === "string") {
      parts.push(current);
      break;
    }
    const e = current as { message?: unknown; details?: unknown; code?: unknown; status?: unknown };
    if (typeof e.message === "string") parts.push(e.message);
    if (typeof e.details === "string") parts.push(e.details);
    if (typeof e.code === "number") codes.push(e.code);
    if (typeof e.status === "number") statuses.push(e.status);
    current = (current as { cause?: unknown }).cause;
  }
  return { text: parts.join(" \n "), codes, statuses };
}

/** The wording an error matches, if any (the first in the table's order). */
export function matchWording(error: unknown): ProviderWording | undefined {
  const { text } = texts(error);
  return PROVIDER_WORDINGS.find((w) => new RegExp(w.pattern.source, "i").test(text));
}

/**
 * The kind of refusal an error is: by its wording first, then HTTP 429 or JSON-RPC code 429 as a
 * rate limit. Undefined for anything else (a revert, a bad parameter, a connection loss).
 */
export function refusalKind(error: unknown): RefusalKind | undefined {
  const wording = matchWording(error);
  if (wording) return wording.kind;
  const { codes, statuses } = texts(error);
  if (statuses.includes(429) || codes.includes(429)) return "rate_limited";
  return undefined;
}

/** An eth_getLogs refusal that asks for fewer blocks (a range or a result-size cap). */
export const isRangeRefusal = (error: unknown): boolean => {
  const kind = refusalKind(error);
  return kind === "range" || kind === "results";
};

/** A refusal of a JSON-RPC batch for its size. */
export const isBatchRefusal = (error: unknown): boolean => refusalKind(error) === "batch";

/** HTTP statuses worth another try: rate limiting, and the gateway/server errors of an overloaded backend. */
const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

/** The HTTP status of a failed request (viem's HttpRequestError, or RpcRequestError of a non-2xx answer). */
export function httpStatusOf(error: unknown): number | undefined {
  return texts(error).statuses[0];
}

/**
 * A transient refusal worth retrying after a pause: a rate limit (HTTP 429, a 429 or rate-limit
 * wording) or an HTTP 5xx of a gateway. Not a range, result or batch refusal: those are answered by
 * asking differently, not by asking again.
 */
export function isTransientRefusal(error: unknown): boolean {
  const kind = refusalKind(error);
  if (kind === "range" || kind === "results" || kind === "batch") return false;
  if (kind === "rate_limited") return true;
  const status = httpStatusOf(error);
  return status !== undefined && RETRYABLE_STATUS.has(status);
}

/**
 * How long the answer asked us to wait (Retry-After: seconds or an HTTP date), in milliseconds,
 * capped at `maxMs`; undefined when it did not say.
 */
export function retryAfterMs(error: unknown, maxMs = 60_000, now = Date.now()): number | undefined {
  let current: unknown = error;
  for (let depth = 0; current && depth < 8; depth++) {
    const headers = (current as { headers?: unknown }).headers;
    if (headers instanceof Headers) {
      const value = headers.get("retry-after");
      if (value !== null) {
        const seconds = Number(value);
        const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - now;
        if (Number.isFinite(ms)) return Math.min(Math.max(ms, 0), maxMs);
      }
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Exponential backoff with jitter: a random delay between half and all of `baseMs` × 2^attempt, capped at `maxMs`. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * The provider's own words for an error: the JSON-RPC message or HTTP details along the cause chain
 * (viem's own messages, such as "JSON is not a valid request object.", name only the code), else
 * the first line of the message.
 */
export function providerMessage(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; current && depth < 8; depth++) {
    const details = (current as { details?: unknown }).details;
    if (typeof details === "string" && details.trim() !== "") return details.split("\n")[0] as string;
    current = (current as { cause?: unknown }).cause;
  }
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0] as string;
}
