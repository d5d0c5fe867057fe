import { unavailable } from "../../lib/errors.ts";
import { parseDecimal } from "../../lib/money.ts";

/** What every HTTP ticker source shares: where it is, how long to wait, how old an answer may be. */
export interface HttpSourceOptions {
  /** The API's base URL (COINBASE_API_URL, …; tests point it at a local server). */
  baseUrl: string;
  /** RATE_TIMEOUT_MS: a request unanswered after this long fails (AbortSignal.timeout). */
  timeoutMs: number;
  /** An answer older than this is stale (RATE_MAX_AGE_SECONDS; fiat pairs count FX market hours only). */
  maxAgeSeconds: number;
  /** A fiat pair's limit (RATE_FIAT_MAX_AGE_SECONDS), in FX market hours. */
  fiatMaxAgeSeconds: number;
  /**
   * RATE_CACHE_MS: an answer is reused this long (concurrent reads share one request), so a burst of
   * orders makes one call per pair to each API; 0: every read calls. A failed call is not kept.
   */
  cacheMs?: number;
  /** Where answers are kept for `cacheMs` (one map per set of sources). */
  cache?: Map<string, { at: number; answer: Promise<JsonAnswer> }>;
  now?: () => number;
  fetch?: typeof fetch;
}

/** The decimal places a ticker's rate is kept to (digits beyond are dropped: far below a wei). */
export const HTTP_RATE_DECIMALS = 18;

export interface JsonAnswer {
  /** The body, with every JSON number kept as its exact source text (never a float). */
  body: unknown;
  /**
   * When the answer was made, in Unix seconds: the Date header less the Age header a cache adds
   * (RFC 9111), so a cached answer is as old as it really is; the time of reading without a Date.
   */
  producedAt: number;
}

/**
 * GET `url` as JSON within the timeout (or the answer of the last `cacheMs`); a network error, a
 * timeout, an error status or a non-JSON body throws.
 */
export function getJson(source: string, url: string, options: HttpSourceOptions): Promise<JsonAnswer> {
  const { cache, cacheMs = 0 } = options;
  if (!cache || cacheMs <= 0) return fetchJson(source, url, options);
  const now = (options.now ?? Date.now)();
  const kept = cache.get(url);
  if (kept && now - kept.at < cacheMs) return kept.answer;
  const answer = fetchJson(source, url, options);
  cache.set(url, { at: now, answer });
  answer.catch(() => {
    if (cache.get(url)?.answer === answer) cache.delete(url);
  });
  return answer;
}

async function fetchJson(source: string, url: string, options: HttpSourceOptions): Promise<JsonAnswer> {
  const now = options.now ?? Date.now;
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(url, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (error) {
    const name = (error as Error).name;
    const why =
      name === "TimeoutError" || name === "AbortError"
        ? `no answer within ${options.timeoutMs} ms (RATE_TIMEOUT_MS)`
        : `unreachable (${(error as Error).message})`;
    throw unavailable(`${source} is ${why}`, "rate_source_failed");
  }
  const text = await response.text().catch(() => "");
  let body: unknown;
  try {
    // The reviver's third argument carries each number's source text (JSON.parse source text access).
    body = JSON.parse(text, (_key, value: unknown, context?: { source?: string }) =>
      typeof value === "number" && context?.source !== undefined ? context.source : value,
    );
  } catch {
    throw unavailable(
      `${source} answered HTTP ${response.status} with a body that is not JSON`,
      "rate_source_failed",
    );
  }
  if (!response.ok) {
    throw unavailable(
      `${source} answered HTTP ${response.status}: ${errorText(body).slice(0, 200)}`,
      "rate_source_failed",
    );
  }
  const nowSeconds = Math.floor(now() / 1000);
  const date = Date.parse(response.headers.get("date") ?? "");
  const age = Number(response.headers.get("age") ?? "0");
  const produced = Number.isFinite(date) ? Math.min(Math.floor(date / 1000), nowSeconds) : nowSeconds;
  return { body, producedAt: produced - (Number.isSafeInteger(age) && age > 0 ? age : 0) };
}

/** The error text of an API's error body (Coinbase `errors[].message`, Kraken `error[]`, `message`). */
function errorText(body: unknown): string {
  const b = body as { errors?: { message?: string }[]; error?: unknown; message?: string } | null;
  if (Array.isArray(b?.errors)) return b.errors.map((e) => e.message ?? "").join("; ");
  if (Array.isArray(b?.error)) return b.error.join("; ");
  if (typeof b?.error === "string") return b.error;
  if (typeof b?.message === "string") return b.message;
  return JSON.stringify(body);
}

/**
 * A rate as an API writes it ("3012.4501", or a JSON number's exact text), at HTTP_RATE_DECIMALS:
 * parsed exactly (parseDecimal), digits past the 18th dropped. Anything else is a malformed answer.
 */
export function parseRate(source: string, pair: string, text: unknown): bigint {
  if (typeof text === "string") {
    const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
    if (match) {
      const value = parseDecimal(
        `${match[1]}${match[2] ? `.${match[2].slice(0, HTTP_RATE_DECIMALS)}` : ""}`,
        HTTP_RATE_DECIMALS,
      );
      if (value > 0n) return value;
    }
  }
  throw unavailable(
    `${source} answered ${pair} with ${JSON.stringify(text)}, not a positive decimal`,
    "rate_source_failed",
  );
}

/** `"ETH/USD"` → ["ETH", "USD"]. */
export const splitPair = (pair: string): [string, string] => {
  const [base = "", quote = ""] = pair.split("/");
  return [base, quote];
};
