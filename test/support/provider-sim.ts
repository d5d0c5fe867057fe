import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/**
 * A hosted JSON-RPC provider, simulated: an HTTP proxy in front of a real node that imposes the
 * limits hosted providers impose, each refused the way that provider documents it (code, HTTP
 * status, wording, Retry-After). The personality can change at any time (`set`).
 */
export interface Personality {
  /** For logs and reports. */
  name: string;
  /** eth_getLogs over more blocks than this is refused, in `rangeStyle`'s wording. */
  rangeLimit?: number;
  /** Whose refusal a range limit gives: QuickNode (-32614, HTTP 413) or Alchemy's free tier (-32600). */
  rangeStyle?: "quicknode" | "alchemy";
  /** eth_getLogs that would return more logs than this is refused (Infura: -32005, "query returned more than N results"). */
  resultCap?: number;
  /** A JSON-RPC batch of more calls than this is refused as a whole (geth: [{"error":{"code":-32600,"message":"batch too large"}}]). */
  batchCap?: number;
  /**
   * Rate-limit bursts: in each `periodMs`, the first `burstMs` every request is refused with HTTP
   * 429, with a Retry-After of `retryAfterSeconds` (Alchemy's wording) or without one (Infura's).
   */
  rateLimit?: { periodMs: number; burstMs: number; retryAfterSeconds?: number };
  /** Every answer is held this long. */
  slowMs?: number;
  /** The `finalized` and `safe` tags are unknown (a pre-merge or an L2 node: "finalized block not found"). */
  noFinalized?: boolean;
  /** Reads by block hash are refused: eth_getLogs' `blockHash` and EIP-1898 block objects (-32602). */
  noBlockHash?: boolean;
  /** Every `resetEvery`-th HTTP request has its connection reset without an answer. */
  resetEvery?: number;
}

export const PLAIN: Personality = { name: "plain" };

/** The personalities of the common providers, with small limits so that a short test meets them. */
export const PERSONALITIES = {
  alchemyFreeRange: {
    name: "Alchemy free tier: 10-block eth_getLogs",
    rangeLimit: 10,
    rangeStyle: "alchemy",
  },
  quicknodeRange: {
    name: "QuickNode trial: 5-block eth_getLogs (413)",
    rangeLimit: 5,
    rangeStyle: "quicknode",
  },
  infuraResults: { name: "Infura: result cap (1 log here)", resultCap: 1 },
  batchCap: { name: "geth/Bor: batch cap of 8 calls", batchCap: 8 },
  burstsRetryAfter: {
    name: "Alchemy: 429 bursts with Retry-After",
    rateLimit: { periodMs: 2_000, burstMs: 700, retryAfterSeconds: 1 },
  },
  burstsNoRetryAfter: {
    name: "Infura: 429 bursts without Retry-After",
    rateLimit: { periodMs: 2_000, burstMs: 700 },
  },
  slow: { name: "slow answers (300 ms)", slowMs: 300 },
  noTagsNoHash: { name: "no finalized tag, no block-hash reads", noFinalized: true, noBlockHash: true },
  resets: { name: "connection resets (every 9th request)", resetEvery: 9 },
} satisfies Record<string, Personality>;

interface Call {
  jsonrpc?: string;
  id?: unknown;
  method: string;
  params?: unknown[];
}
type Answer = {
  jsonrpc: "2.0";
  id: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
};

/** An HTTP-level answer that replaces the whole response. */
class HttpRefusal {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;
  constructor(status: number, body: unknown, headers: Record<string, string> = {}) {
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

export interface ProviderSim {
  url: string;
  /** Holds every request until `release()` (a provider that stalls; the test makes history meanwhile). */
  hold(): void;
  release(): void;
  set(personality: Personality): void;
  personality(): Personality;
  /** Requests refused or reset so far, by reason (range, results, batch, rate_limited, finalized, block_hash, reset). */
  refused: Record<string, number>;
  /** HTTP requests received, and JSON-RPC calls in them. */
  counts: { requests: number; calls: number };
  close(): Promise<void>;
}

const hex = (n: bigint) => `0x${n.toString(16)}`;

export async function startProviderSim(upstream: string, initial: Personality = PLAIN): Promise<ProviderSim> {
  let p: Personality = initial;
  let since = Date.now();
  const refused: Record<string, number> = {};
  const counts = { requests: 0, calls: 0 };
  const sockets = new Set<Socket>();
  let held: (() => void)[] | undefined;
  const count = (reason: string) => {
    refused[reason] = (refused[reason] ?? 0) + 1;
  };

  async function forward(body: unknown): Promise<unknown> {
    const res = await fetch(upstream, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return res.json();
  }

  async function headNumber(): Promise<bigint> {
    const a = (await forward({ jsonrpc: "2.0", id: 0, method: "eth_blockNumber", params: [] })) as Answer;
    return BigInt(a.result as string);
  }

  async function blockOf(tag: unknown): Promise<bigint> {
    if (typeof tag === "string" && tag.startsWith("0x")) return BigInt(tag);
    if (tag === "earliest") return 0n;
    return headNumber();
  }

  const error = (call: Call, code: number, message: string, data?: unknown): Answer => ({
    jsonrpc: "2.0",
    id: call.id ?? null,
    error: data === undefined ? { code, message } : { code, message, data },
  });

  /** A call the personality refuses before the node sees it, or undefined. */
  async function refuseBefore(call: Call, single: boolean): Promise<Answer | HttpRefusal | undefined> {
    const params = call.params ?? [];
    if (
      p.noFinalized &&
      call.method === "eth_getBlockByNumber" &&
      ["finalized", "safe"].includes(params[0] as string)
    ) {
      count("finalized");
      return error(call, -32000, `${params[0] as string} block not found`);
    }
    if (p.noBlockHash) {
      const filter = params[0] as { blockHash?: string } | undefined;
      if (call.method === "eth_getLogs" && filter?.blockHash) {
        count("block_hash");
        return error(call, -32602, 'invalid argument 0: json: unknown field "blockHash"');
      }
      if (
        ["eth_call", "eth_getBalance", "eth_getCode", "eth_getStorageAt", "eth_getTransactionCount"].includes(
          call.method,
        ) &&
        typeof params[1] === "object" &&
        params[1] !== null
      ) {
        count("block_hash");
        return error(call, -32602, "invalid argument 1: hex string without 0x prefix");
      }
    }
    if (p.rangeLimit !== undefined && call.method === "eth_getLogs") {
      const filter = params[0] as { fromBlock?: unknown; toBlock?: unknown; blockHash?: string } | undefined;
      if (filter && !filter.blockHash) {
        const from = await blockOf(filter.fromBlock ?? "latest");
        const to = await blockOf(filter.toBlock ?? "latest");
        if (to - from + 1n > BigInt(p.rangeLimit)) {
          count("range");
          if (p.rangeStyle === "quicknode") {
            const answer = error(call, -32614, `eth_getLogs is limited to a ${p.rangeLimit} range`);
            return single ? new HttpRefusal(413, answer) : answer;
          }
          const end = from + BigInt(p.rangeLimit) - 1n;
          return error(
            call,
            -32600,
            `Under the Free tier plan, you can make eth_getLogs requests with up to a ${p.rangeLimit} block range. Based on your parameters, this block range should work: [${hex(from)}, ${hex(end)}]. Upgrade to PAYG for expanded block range.`,
          );
        }
      }
    }
    return undefined;
  }

  /** A node answer the personality replaces (a result cap), or the answer as it is. */
  function refuseAfter(call: Call, answer: Answer): Answer {
    if (p.resultCap !== undefined && call.method === "eth_getLogs" && Array.isArray(answer.result)) {
      if (answer.result.length > p.resultCap) {
        count("results");
        const filter = (call.params?.[0] ?? {}) as { fromBlock?: string };
        return error(
          call,
          -32005,
          `query returned more than ${p.resultCap} results. Try with this block range [${filter.fromBlock ?? "0x0"}, ${filter.fromBlock ?? "0x0"}].`,
          { from: filter.fromBlock, to: filter.fromBlock, limit: p.resultCap },
        );
      }
    }
    return answer;
  }

  function rateLimited(): HttpRefusal | undefined {
    const r = p.rateLimit;
    if (!r) return undefined;
    if ((Date.now() - since) % r.periodMs >= r.burstMs) return undefined;
    count("rate_limited");
    if (r.retryAfterSeconds !== undefined) {
      return new HttpRefusal(
        429,
        {
          jsonrpc: "2.0",
          id: null,
          error: {
            code: 429,
            message:
              "Your app has exceeded its compute units per second capacity. If you have retries enabled, you can safely ignore this message. If not, check out https://docs.alchemy.com/reference/throughput",
          },
        },
        { "retry-after": String(r.retryAfterSeconds) },
      );
    }
    return new HttpRefusal(429, {
      jsonrpc: "2.0",
      id: null,
      error: {
        code: -32005,
        message: "project ID request rate exceeded",
        data: { see: "https://infura.io/dashboard", current_rps: 13.5, allowed_rps: 10, backoff_seconds: 1 },
      },
    });
  }

  async function answer(
    body: unknown,
  ): Promise<{ status: number; body: unknown; headers?: Record<string, string> }> {
    const limited = rateLimited();
    if (limited) return limited;
    const single = !Array.isArray(body);
    const calls = (single ? [body] : body) as Call[];
    counts.calls += calls.length;
    if (!single && p.batchCap !== undefined && calls.length > p.batchCap) {
      count("batch");
      return {
        status: 200,
        body: [{ jsonrpc: "2.0", id: null, error: { code: -32600, message: "batch too large" } }],
      };
    }
    const answers: (Answer | undefined)[] = [];
    const pass: Call[] = [];
    for (const call of calls) {
      const refusal = await refuseBefore(call, single);
      if (refusal instanceof HttpRefusal) return refusal;
      answers.push(refusal);
      if (!refusal) pass.push(call);
    }
    const fromNode =
      pass.length === 0
        ? []
        : single
          ? [(await forward(pass[0])) as Answer]
          : ((await forward(pass)) as Answer[]);
    const byId = new Map(fromNode.map((a) => [JSON.stringify(a.id), a]));
    const out = calls.map((call, i) => {
      const early = answers[i];
      if (early) return early;
      const a = single ? fromNode[0] : byId.get(JSON.stringify(call.id));
      return refuseAfter(call, a as Answer);
    });
    return { status: 200, body: single ? out[0] : out };
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    counts.requests++;
    const n = counts.requests;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (held === undefined && p.resetEvery !== undefined && n % p.resetEvery === 0) {
        count("reset");
        req.socket.resetAndDestroy();
        return;
      }
      const reply = async () => {
        if (held) await new Promise<void>((resolve) => held?.push(resolve));
        let parsed: unknown;
        try {
          parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch {
          return {
            status: 400,
            body: { jsonrpc: "2.0", id: null, error: { code: -32700, message: "parse error" } },
          };
        }
        const out = await answer(parsed);
        if (p.slowMs) await new Promise((r) => setTimeout(r, p.slowMs));
        return out;
      };
      reply().then(
        (out) => {
          if (res.destroyed) return;
          res
            .writeHead(out.status, { "content-type": "application/json", ...(out.headers ?? {}) })
            .end(JSON.stringify(out.body));
        },
        () => {
          if (!res.destroyed) res.writeHead(502, { "content-type": "text/plain" }).end("bad gateway");
        },
      );
    });
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    set(next) {
      p = next;
      since = Date.now();
    },
    personality: () => p,
    hold() {
      held ??= [];
    },
    release() {
      const waiting = held ?? [];
      held = undefined;
      for (const go of waiting) go();
    },
    refused,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
