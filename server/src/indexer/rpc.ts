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
import {
  isBatchRefusal,
  isRangeRefusal,
  isTransientRefusal,
  providerMessage,
  refusalKind,
} from "./provider-errors.ts";
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
    // A rate limit or gateway error the transport's own retries did not outlast, or a batch the
    // provider refused for its size (the transport sends smaller ones from now on).
    if (isTransientRefusal(current) || isBatchRefusal(current)) return true;
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
 * A call that got no answer worth reading: the request failed on the way (connection, timeout,
 * HTTP error status) or the provider turned it away for now (rate limit, gateway error). Unlike
 * isRetryable, never a JSON-RPC answer of the node about the call itself (a revert, -32603).
 */
export function isTransportFailure(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current && depth < 6; depth++) {
    if (
      current instanceof HttpRequestError ||
      current instanceof TimeoutError ||
      current instanceof WebSocketRequestError ||
      isTransientRefusal(current)
    )
      return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** Clients whose provider refused reads by block hash, and the line that says so (logged once). */
const withoutHashReads = new WeakSet<object>();
const providerLogs = new WeakMap<object, (message: string) => void>();

/** Where the RPC layer reports what it learnt about a client's provider (one line per finding). */
export function reportProviderFindings(client: object, log: (message: string) => void): void {
  providerLogs.set(client, log);
}

/** Whether reads by block hash are known not to work through `client` (the number fallback is used). */
export const lacksBlockHashReads = (client: object): boolean => withoutHashReads.has(client);

/**
 * Runs a read pinned to a block by its hash (EIP-1898, or eth_getLogs' `blockHash`). A node asked
 * about a block that a reorg has just removed answers with an error of its own (Hardhat: -32602
 * "invalid block tag"; geth: "header for hash not found"), which names no reorg. So on any error
 * that is not retryable already, the block is looked up: if it is gone, the read failed because
 * of the reorg, and it becomes the retryable BlockNotFoundError (the step is read again on the new
 * branch) instead of stopping the chain's indexer.
 *
 * If the block is there and `byNumber` is given, the provider may not serve reads by hash at all
 * (some gateways refuse EIP-1898 block objects or eth_getLogs' `blockHash`): the read is made by
 * number, and the block at that number must still have the hash afterwards (else the retryable
 * BlockNotFoundError). When that works, every later read through this client goes by number
 * directly, and one line says so.
 */
export async function readAtBlockHash<T>(
  client: Pick<PublicClient, "request">,
  blockHash: string,
  read: () => Promise<T>,
  byNumber?: { number: bigint; read: () => Promise<T> },
): Promise<T> {
  if (byNumber && withoutHashReads.has(client)) return readByNumberChecked(client, blockHash, byNumber);
  try {
    return await read();
  } catch (error) {
    if (isRetryable(error)) throw error;
    const block = await client.request({
      method: "eth_getBlockByHash",
      params: [blockHash as `0x${string}`, false],
    });
    if (!block) throw new BlockNotFoundError({ blockHash: blockHash as `0x${string}` });
    if (!byNumber) throw error;
    let result: T;
    try {
      result = await readByNumberChecked(client, blockHash, byNumber);
    } catch (fallbackError) {
      if (fallbackError instanceof BlockNotFoundError || isRetryable(fallbackError)) throw fallbackError;
      throw error; // the same read fails by number too: the error was about the read, not the hash
    }
    if (!withoutHashReads.has(client)) {
      withoutHashReads.add(client);
      providerLogs.get(client)?.(
        `RPC: the provider does not serve reads by block hash (${providerMessage(error)}); reading by block number and checking the block's hash instead`,
      );
    }
    return result;
  }
}

async function readByNumberChecked<T>(
  client: Pick<PublicClient, "request">,
  blockHash: string,
  byNumber: { number: bigint; read: () => Promise<T> },
): Promise<T> {
  const result = await byNumber.read();
  const block = (await client.request({
    method: "eth_getBlockByNumber",
    params: [`0x${byNumber.number.toString(16)}`, false],
  } as never)) as { hash?: string } | null;
  if (block?.hash !== blockHash) throw new BlockNotFoundError({ blockHash: blockHash as `0x${string}` });
  return result;
}

/**
 * eth_getLogs refusals that mean "ask for fewer blocks": a range or result-size cap in any of the
 * providers' and node clients' wordings (./provider-errors.ts), or a -32005 "limit exceeded" that is
 * not a rate limit.
 */
export function isRangeTooLarge(error: unknown): boolean {
  if (isRangeRefusal(error)) return true;
  if (refusalKind(error) !== undefined) return false; // a batch refusal or a rate limit
  const text =
    error instanceof Error
      ? `${error.message} ${(error as { details?: string }).details ?? ""}`
      : String(error);
  return (
    error instanceof LimitExceededRpcError ||
    /block range|too many (results|logs)|query returned more than|limit exceeded|response size/i.test(text)
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
  /** A block range, or one block by its hash (with its number: the fallback for providers without hash reads). */
  range: { fromBlock: bigint; toBlock: bigint } | { blockHash: string; blockNumber?: bigint },
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
  const readWith = (p: typeof params) => async () =>
    (await client.request(
      { method: "eth_getLogs", params: [p] } as never,
      signal ? { signal } : undefined,
    )) as RawLog[];
  if (!("blockHash" in range)) return readWith(params)();
  const { blockHash, blockNumber } = range;
  const byNumber =
    blockNumber === undefined
      ? undefined
      : {
          number: blockNumber,
          read: async () => {
            const n = `0x${blockNumber.toString(16)}`;
            const logs = await readWith({ address, topics, fromBlock: n, toBlock: n })();
            // Logs of another block at this height: the chain moved while we read.
            if (logs.some((l) => l.blockHash !== blockHash))
              throw new BlockNotFoundError({ blockHash: blockHash as `0x${string}` });
            return logs;
          },
        };
  return readAtBlockHash(client, blockHash, readWith(params), byNumber);
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
 * The given blocks with their transactions (`eth_getBlockByNumber(n, true)`, HEADER_CONCURRENCY
 * at a time): their headers, and each block as the node returned it, by hash.
 */
export async function getBlocksWithTransactions(
  client: PublicClient,
  numbers: readonly bigint[],
): Promise<{ refs: Map<bigint, BlockRef>; bodies: Map<string, unknown> }> {
  const refs = new Map<bigint, BlockRef>();
  const bodies = new Map<string, unknown>();
  type Raw = { number: string | null; hash: string | null; parentHash: string; timestamp: string };
  for (let i = 0; i < numbers.length; i += HEADER_CONCURRENCY) {
    const slice = numbers.slice(i, i + HEADER_CONCURRENCY);
    const fetched = await Promise.all(
      slice.map(async (n) => {
        const raw = (await client.request({
          method: "eth_getBlockByNumber",
          params: [`0x${n.toString(16)}`, true],
        } as never)) as Raw | null;
        if (!raw) throw new BlockNotFoundError({ blockNumber: n });
        if (raw.number === null || raw.hash === null)
          throw new Error("pending block returned where a mined one was expected");
        return raw;
      }),
    );
    for (const raw of fetched) {
      const ref: BlockRef = {
        number: BigInt(raw.number as string),
        hash: raw.hash as string,
        parentHash: raw.parentHash,
        timestamp: new Date(Number(BigInt(raw.timestamp)) * 1000),
      };
      refs.set(ref.number, ref);
      bodies.set(ref.hash, raw);
    }
  }
  return { refs, bodies };
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
