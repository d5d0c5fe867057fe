import {
  HttpRequestError,
  RpcRequestError,
  SocketClosedError,
  TimeoutError,
  WebSocketRequestError,
  type Transport,
} from "viem";
import { refusalKind } from "../indexer/provider-errors.ts";

/**
 * Why a JSON-RPC call failed, as an operator groups it:
 * - `timeout`: no answer in time;
 * - `rate_limited`: HTTP 429, or the provider's "limit exceeded" (-32005);
 * - `range_too_large`: eth_getLogs asked for more blocks or results than the provider serves;
 * - `batch_too_large`: the provider refused a JSON-RPC batch for its size;
 * - `reverted`: an eth_call or eth_estimateGas whose call reverted (an answer, not an outage);
 * - `rpc`: any other JSON-RPC error answer;
 * - `http`: an HTTP error status;
 * - `network`: no answer at all (connection refused or reset, socket closed);
 * - `other`: anything else.
 */
export type RpcErrorKind =
  | "timeout"
  | "rate_limited"
  | "range_too_large"
  | "batch_too_large"
  | "reverted"
  | "rpc"
  | "http"
  | "network"
  | "other";

/** One method's calls through one chain's transport since the process started. */
export interface RpcMethodStats {
  method: string;
  calls: number;
  /** Seconds spent waiting for answers, summed over the calls. */
  seconds: number;
  errors: Partial<Record<RpcErrorKind, number>>;
}

/** Counts of the JSON-RPC calls of one chain's client, by method and by failure kind. */
export interface RpcStats {
  record(method: string, seconds: number, error?: unknown): void;
  snapshot(): RpcMethodStats[];
}

export function createRpcStats(): RpcStats {
  const byMethod = new Map<string, RpcMethodStats>();
  return {
    record(method, seconds, error) {
      let s = byMethod.get(method);
      if (!s) {
        s = { method, calls: 0, seconds: 0, errors: {} };
        byMethod.set(method, s);
      }
      s.calls++;
      s.seconds += seconds;
      if (error !== undefined) {
        const kind = rpcErrorKind(error);
        s.errors[kind] = (s.errors[kind] ?? 0) + 1;
      }
    },
    snapshot: () => [...byMethod.values()].map((s) => ({ ...s, errors: { ...s.errors } })),
  };
}

const RANGE_TOO_LARGE =
  /block range|too many (results|logs)|query returned more than|response size|range (is )?too (large|wide)/i;

/**
 * The kind of what a transport's `request` threw: viem's typed error (MethodNotFoundRpcError,
 * LimitExceededRpcError, HttpRequestError, TimeoutError, …), read down its chain of causes to the
 * JSON-RPC error or the HTTP response.
 */
export function rpcErrorKind(error: unknown): RpcErrorKind {
  const causes: unknown[] = [];
  for (
    let e = error;
    e !== undefined && e !== null && causes.length < 8;
    e = (e as { cause?: unknown }).cause
  )
    causes.push(e);
  const find = <C>(type: abstract new (...args: never[]) => C): C | undefined =>
    causes.find((e): e is C => e instanceof type);
  const text = causes
    .map((e) =>
      e instanceof Error ? `${e.message} ${(e as { details?: unknown }).details ?? ""}` : String(e),
    )
    .join(" ");
  if (find(TimeoutError)) return "timeout";
  // Some providers refuse a range with -32005 or an HTTP error (QuickNode: 413): the range is what
  // to change. The wordings are those of ../indexer/provider-errors.ts.
  const refusal = refusalKind(error);
  if (refusal === "range" || refusal === "results" || RANGE_TOO_LARGE.test(text)) return "range_too_large";
  if (refusal === "batch") return "batch_too_large";
  if (refusal === "rate_limited") return "rate_limited";
  const http = find(HttpRequestError);
  if (http) {
    if (http.status === 429) return "rate_limited";
    return http.status === undefined ? "network" : "http";
  }
  const code = causes
    .map((e) => (e as { code?: unknown }).code)
    .find((c): c is number => typeof c === "number");
  if (code !== undefined || find(RpcRequestError)) {
    if (code === 429 || code === -32005 || /rate limit|too many requests/i.test(text)) return "rate_limited";
    if (code === 3 || /revert/i.test(text)) return "reverted";
    return "rpc";
  }
  if (find(SocketClosedError) || find(WebSocketRequestError)) return "network";
  if (/fetch failed|socket hang up|ECONNREFUSED|ECONNRESET/i.test(text)) return "network";
  return "other";
}

/**
 * The transport with each JSON-RPC call counted in `stats`: its method, its time, and the kind of
 * its failure. Counted per call, as the client asks it: the calls of one HTTP batch count one each,
 * and a JSON-RPC error answer to one member of a batch counts against that member only.
 */
export function observeTransport<T extends Transport>(transport: T, stats: RpcStats): T {
  const observed: Transport = (params) => {
    const inner = transport(params);
    const request = async (args: { method: string }, options?: unknown) => {
      const started = performance.now();
      try {
        const result: unknown = await inner.request(args as never, options as never);
        stats.record(args.method, (performance.now() - started) / 1000);
        return result;
      } catch (error) {
        stats.record(args.method, (performance.now() - started) / 1000, error);
        throw error;
      }
    };
    return { ...inner, request: request as typeof inner.request };
  };
  return observed as T;
}
