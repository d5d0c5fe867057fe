/**
 * The JSON-RPC transport of one chain, shaped for hosted providers as they are: HTTP batches capped
 * (RPC_BATCH_SIZE) and halved when the provider refuses a batch for its size; rate limits (HTTP 429,
 * the providers' rate-limit answers), gateway errors (HTTP 500/502/503/504) and, for reads, lost
 * connections retried after the Retry-After the answer gives, else with exponential backoff and
 * jitter. Range and result-size
 * refusals of eth_getLogs are not retried here: the indexer asks for fewer blocks instead.
 */
import { http, webSocket, type Transport } from "viem";
import {
  backoffMs,
  isBatchRefusal,
  isTransientRefusal,
  providerMessage,
  refusalKind,
  retryAfterMs,
} from "../indexer/provider-errors.ts";
import type { Logger } from "../lib/log.ts";
import { sleep } from "../lib/sleep.ts";
import { observeTransport, rpcErrorKind, type RpcStats } from "./rpc-stats.ts";

/** Calls not repeated after a connection loss (the first may have arrived): everything else only reads. */
const NOT_REPEATED = new Set(["eth_sendRawTransaction", "eth_sendTransaction"]);

/** Calls per HTTP batch when RPC_BATCH_SIZE is not set: under Bor's and most providers' caps. */
export const DEFAULT_RPC_BATCH_SIZE = 50;

export interface ProviderTransportOptions {
  /** Largest JSON-RPC batch sent over HTTP (1: no batching); halves on a "batch too large" answer. */
  batchSize?: number;
  /** Each JSON-RPC call (every attempt) is counted here (/metrics). */
  stats?: RpcStats | undefined;
  log?: Logger | undefined;
  /** Request timeout, ms (default 15 s). */
  timeoutMs?: number;
  /** Further attempts of a call refused by a rate limit or a gateway error (default 4). */
  retries?: number;
  /** First backoff delay, ms (default 250); doubles per attempt, with jitter, up to `maxDelayMs`. */
  baseDelayMs?: number;
  /** Longest wait between two attempts, Retry-After included (default 10 s). */
  maxDelayMs?: number;
}

/** What a provider transport has learnt about its endpoint (/health and tests read it). */
export interface ProviderTransportState {
  /** The batch size in use now. */
  batchSize(): number;
}

/**
 * A transport for `url` (http(s) or ws(s)) with the provider policy above. The returned state says
 * the batch size in use.
 */
export function providerTransport(
  url: string,
  options: ProviderTransportOptions = {},
): { transport: Transport; state: ProviderTransportState } {
  const { stats, log } = options;
  const timeout = options.timeoutMs ?? 15_000;
  const retries = options.retries ?? 4;
  const baseDelay = options.baseDelayMs ?? 250;
  const maxDelay = options.maxDelayMs ?? 10_000;
  const isSocket = url.startsWith("ws");
  let batchSize = Math.max(1, Math.floor(options.batchSize ?? DEFAULT_RPC_BATCH_SIZE));

  const make = (size: number): Transport => {
    const raw = isSocket
      ? webSocket(url, { retryCount: 0 })
      : http(url, { retryCount: 0, timeout, batch: size > 1 ? { batchSize: size, wait: 0 } : false });
    return stats ? observeTransport(raw, stats) : raw;
  };

  const transport: Transport = (params) => {
    // One inner transport per batch size in use (each has its own batch queue).
    const inners = new Map<number, ReturnType<Transport>>();
    const inner = (size: number) => {
      let t = inners.get(size);
      if (!t) {
        t = make(size)({ ...params, retryCount: 0 });
        inners.set(size, t);
      }
      return t;
    };
    const first = inner(batchSize);

    async function request(args: { method: string; params?: unknown }, opts?: { signal?: AbortSignal }) {
      const signal = opts?.signal;
      for (let attempt = 0; ;) {
        const size = isSocket ? 1 : batchSize;
        try {
          return await (isSocket ? first : inner(size)).request(args as never, opts as never);
        } catch (error) {
          if (signal?.aborted) throw error;
          if (!isSocket && size > 1 && isBatchRefusal(error)) {
            // Only the first refusal at this size halves it; the calls of the same batch follow.
            if (batchSize === size) {
              batchSize = Math.max(1, Math.floor(size / 2));
              log?.warn(
                `RPC: the provider refused a batch of up to ${size} calls (${providerMessage(error)}); sending at most ${batchSize} per batch from now on (RPC_BATCH_SIZE)`,
              );
            }
            continue;
          }
          // A rate limit or gateway error, or a connection lost under a read (a provider's load
          // balancer resets idle or busy connections): tried again after a pause.
          const lost = !NOT_REPEATED.has(args.method) && rpcErrorKind(error) === "network";
          if (attempt < retries && (isTransientRefusal(error) || lost)) {
            const wait = retryAfterMs(error, maxDelay) ?? backoffMs(attempt, baseDelay, maxDelay);
            log?.debug(
              {
                method: args.method,
                attempt: attempt + 1,
                waitMs: wait,
                kind: refusalKind(error) ?? rpcErrorKind(error),
              },
              `RPC: ${providerMessage(error)}; retrying`,
            );
            attempt++;
            await sleep(wait, signal);
            continue;
          }
          throw error;
        }
      }
    }

    return { ...first, config: { ...first.config, retryCount: 0 }, request: request as typeof first.request };
  };

  return { transport, state: { batchSize: () => batchSize } };
}
