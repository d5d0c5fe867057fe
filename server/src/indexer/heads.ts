import type { Logger } from "pino";
import { getWebSocketRpcClient } from "viem/utils";
import { firstLine } from "../lib/errors.ts";
import { sleep } from "../lib/sleep.ts";

export interface NewHead {
  number: bigint;
  hash: string;
  parentHash: string;
}

export interface WatchNewHeadsOptions {
  /** A ws:// or wss:// JSON-RPC endpoint that supports `eth_subscribe("newHeads")`. */
  url: string;
  log: Logger;
  /** Called for every head the node announces, reorged ones included. */
  onHead: (head: NewHead) => void;
  signal: AbortSignal;
  /** First reconnect delay; doubles up to 30 s while the node stays away. */
  retryMs?: number;
}

/**
 * Follows the node's `newHeads` WebSocket subscription until `signal` aborts, reconnecting with
 * backoff whenever the socket fails or closes. Only a wake-up signal: the indexer reads blocks and
 * logs itself and keeps polling, so a missed or late notification costs one poll interval at most.
 *
 * It uses viem's socket client without viem's own reconnect (which gives up after five tries and
 * then keeps a dead socket in its cache): each connection is closed and replaced here instead.
 */
export async function watchNewHeads(options: WatchNewHeadsOptions): Promise<void> {
  const { url, log, onHead, signal } = options;
  const firstRetry = options.retryMs ?? 500;
  let retry = firstRetry;
  while (!signal.aborted) {
    let rpc: Awaited<ReturnType<typeof getWebSocketRpcClient>> | undefined;
    try {
      rpc = await getWebSocketRpcClient(url, { reconnect: false, keepAlive: false });
      const socket = rpc;
      const ended = new Promise<string>((resolve, reject) => {
        const stop = () => resolve("stopped");
        signal.addEventListener("abort", stop, { once: true });
        socket.request({
          body: { method: "eth_subscribe", params: ["newHeads"] },
          onError: (error) => {
            signal.removeEventListener("abort", stop);
            reject(error);
          },
          onResponse: (message: {
            id?: number;
            error?: { message?: string };
            method?: string;
            params?: { result?: { number?: string; hash?: string; parentHash?: string } };
          }) => {
            if (message.error) {
              signal.removeEventListener("abort", stop);
              reject(new Error(`eth_subscribe refused: ${message.error.message ?? "unknown error"}`));
            } else if (typeof message.id === "number") {
              retry = firstRetry;
              log.info({ url }, "indexer: subscribed to new heads");
            } else if (message.method === "eth_subscription") {
              const head = message.params?.result;
              if (head?.number && head.hash && head.parentHash)
                onHead({ number: BigInt(head.number), hash: head.hash, parentHash: head.parentHash });
            }
          },
        });
      });
      await ended;
    } catch (error) {
      if (signal.aborted) break;
      log.warn(
        { retryInMs: retry },
        `indexer: new-heads subscription lost, polling meanwhile: ${
          error instanceof Error ? firstLine(error) : "cannot connect"
        }`,
      );
    } finally {
      rpc?.close();
    }
    await sleep(retry, signal);
    retry = Math.min(retry * 2, 30_000);
  }
}
