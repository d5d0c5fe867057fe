import {
  BlockNotFoundError,
  HttpRequestError,
  LimitExceededRpcError,
  ResourceUnavailableRpcError,
  RpcRequestError,
  TimeoutError,
  WebSocketRequestError,
  InternalRpcError,
  UnknownRpcError,
  type Block,
  type PublicClient,
} from "viem";
import { DomainError } from "../lib/errors.ts";
import type { BlockRef, RawLog } from "./types.ts";

/**
 * An RPC failure worth retrying: the node is down, slow, overloaded or rate-limiting, or a block
 * it just reported is gone (a reorg shortened the chain while we read, or a load-balanced node
 * lags behind its peer).
 */
export function isRetryable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current && depth < 6; depth++) {
    if (
      current instanceof BlockNotFoundError ||
      current instanceof HttpRequestError ||
      current instanceof TimeoutError ||
      current instanceof WebSocketRequestError ||
      current instanceof LimitExceededRpcError ||
      current instanceof ResourceUnavailableRpcError ||
      current instanceof InternalRpcError ||
      current instanceof UnknownRpcError
    ) {
      return true;
    }
    if (current instanceof RpcRequestError && [429, -32005, -32603].includes(current.code)) return true;
    // The database is unreachable for a while (a restart, a dropped connection): retried as well.
    if (current instanceof DomainError && current.kind === "unavailable") return true;
    const code = (current as { code?: unknown }).code;
    if (
      typeof code === "string" &&
      ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "UND_ERR_SOCKET"].includes(code)
    ) {
      return true;
    }
    if (
      current instanceof Error &&
      /fetch failed|socket hang up|ECONNREFUSED|ECONNRESET|timed? ?out/i.test(current.message)
    ) {
      return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Runs a read pinned to a block by its hash (EIP-1898, or eth_getLogs' `blockHash`). A node asked
 * about a block that a reorg has just removed answers with an error of its own (Hardhat: -32602
 * "invalid block tag"; geth: "header for hash not found"), which names no reorg. So on any error
 * that is not retryable already, the block is looked up: if it is gone, the read failed because
 * of the reorg, and it becomes the retryable BlockNotFoundError (the step is read again on the new
 * branch) instead of stopping the chain's indexer.
 */
export async function readAtBlockHash<T>(
  client: Pick<PublicClient, "request">,
  blockHash: string,
  read: () => Promise<T>,
): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (isRetryable(error)) throw error;
    const block = await client.request({
      method: "eth_getBlockByHash",
      params: [blockHash as `0x${string}`, false],
    });
    if (block) throw error;
    throw new BlockNotFoundError({ blockHash: blockHash as `0x${string}` });
  }
}

/** eth_getLogs refusals that mean "ask for fewer blocks". */
export function isRangeTooLarge(error: unknown): boolean {
  const text =
    error instanceof Error
      ? `${error.message} ${(error as { details?: string }).details ?? ""}`
      : String(error);
  return (
    error instanceof LimitExceededRpcError ||
    /block range|too many (results|logs)|query returned more than|limit exceeded|response size|exceed/i.test(
      text,
    )
  );
}

export class FatalIndexerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FatalIndexerError";
  }
}

/**
 * Which logs to ask for: any of `address` (lowercase), with topic0 any of `topics`, and topics 1–3
 * any of `rest[0..2]` where given (null: any).
 */
export interface LogFilter {
  address: readonly string[];
  topics: readonly string[];
  rest?: readonly (readonly string[] | null)[];
}

/**
 * eth_getLogs returned raw, one JSON-RPC request (viem's formatting and ABI decoding cost more
 * than the database write; sources decode the fixed layouts themselves).
 */
export async function getRawLogs(
  client: PublicClient,
  filter: LogFilter,
  range: { fromBlock: bigint; toBlock: bigint } | { blockHash: string },
  /** Cancels the request. Requests with different signals also never share an HTTP batch. */
  signal?: AbortSignal,
): Promise<RawLog[]> {
  const address = filter.address.length === 1 ? filter.address[0] : filter.address;
  const topics = [filter.topics, ...(filter.rest ?? [])];
  const params =
    "blockHash" in range
      ? { address, topics, blockHash: range.blockHash }
      : {
          address,
          topics,
          fromBlock: `0x${range.fromBlock.toString(16)}`,
          toBlock: `0x${range.toBlock.toString(16)}`,
        };
  const read = async () =>
    (await client.request(
      { method: "eth_getLogs", params: [params] } as never,
      signal ? { signal } : undefined,
    )) as RawLog[];
  return "blockHash" in range ? readAtBlockHash(client, range.blockHash, read) : read();
}

export function toRef(block: Block): BlockRef {
  if (block.number === null || block.hash === null)
    throw new Error("pending block returned where a mined one was expected");
  return {
    number: block.number,
    hash: block.hash,
    parentHash: block.parentHash,
    timestamp: new Date(Number(block.timestamp) * 1000),
  };
}

const HEADER_CONCURRENCY = 32;

export const getHeader = async (client: PublicClient, blockNumber: bigint): Promise<BlockRef> =>
  toRef(await client.getBlock({ blockNumber }));

/** Headers of the given blocks, HEADER_CONCURRENCY requests at a time. */
export async function getHeaders(
  client: PublicClient,
  numbers: readonly bigint[],
): Promise<Map<bigint, BlockRef>> {
  const result = new Map<bigint, BlockRef>();
  for (let i = 0; i < numbers.length; i += HEADER_CONCURRENCY) {
    const slice = numbers.slice(i, i + HEADER_CONCURRENCY);
    const fetched = await Promise.all(slice.map((n) => getHeader(client, n)));
    for (const ref of fetched) result.set(ref.number, ref);
  }
  return result;
}

/**
 * The number of the node's `finalized` block, or undefined when the node does not serve that tag
 * (an error that is not worth retrying, or no block). Connection problems throw as usual.
 */
export async function getFinalizedNumber(client: PublicClient): Promise<bigint | undefined> {
  try {
    const block = (await client.request({
      method: "eth_getBlockByNumber",
      params: ["finalized", false],
    } as never)) as { number?: string } | null;
    return block?.number ? BigInt(block.number) : undefined;
  } catch (error) {
    if (isRetryable(error)) throw error;
    return undefined;
  }
}
