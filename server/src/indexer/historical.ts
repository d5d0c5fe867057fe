import type { Logger } from "pino";
import { providerMessage } from "./provider-errors.ts";
import { isRangeTooLarge } from "./rpc.ts";
import type { BlockRef, RawLog } from "./types.ts";

/** Backfill ranges aim at about this many logs (≈ 1 MB of JSON; viem caps a response at 10 MiB). */
const TARGET_LOGS = 1_500;
/** Backfill ranges fetched and decoded ahead of the one being written. */
const FETCH_AHEAD = 2;
/** Successful chunks after a refusal before a range the provider refused is tried again. */
const PROBE_AFTER = 200;
/** Backfill chunks per call, so that the loop regularly checks for a stop and a moving head. */
const CHUNKS_PER_STEP = 64;

export interface Chunk<E> {
  from: bigint;
  to: bigint;
  /** The header of the chunk's last block: the new cursor. */
  last: BlockRef;
  events: E[];
}

export interface HistoricalSyncOptions<E> {
  log: Logger;
  /** Largest number of blocks asked of eth_getLogs at once; adapts down on refusals. */
  maxLogRange: bigint;
  /** One eth_getLogs over a block range (one HTTP request, cancelled by `signal`). */
  getLogs(fromBlock: bigint, toBlock: bigint, signal: AbortSignal): Promise<RawLog[]>;
  header(blockNumber: bigint): Promise<BlockRef>;
  /** Decodes a chunk's logs into events (the chunk's last header is known). */
  decode(logs: RawLog[], known: readonly BlockRef[]): Promise<E[]>;
}

/**
 * Historical sync over final blocks (no reorg can reach them, so no per-block headers): adaptive
 * eth_getLogs ranges, fetched ahead and applied strictly in order.
 */
export function createHistoricalSync<E>(options: HistoricalSyncOptions<E>) {
  const { log, maxLogRange: maxRange } = options;
  let logRange = minBig(maxRange, 10n);
  /**
   * The smallest range the provider refused lately: ranges grow back below it, and after
   * PROBE_AFTER successful chunks it is forgotten (limits change with plans and load), so one
   * request then probes a larger range again.
   */
  let refused: bigint | undefined;
  let sinceRefusal = 0;

  /**
   * Every log of [fromBlock, toBlock], however the node limits ranges: a refused range is split in
   * halves (recursively), and later ranges are dispatched at the size that worked.
   */
  async function fetchRange(fromBlock: bigint, toBlock: bigint, signal: AbortSignal): Promise<RawLog[]> {
    try {
      return await options.getLogs(fromBlock, toBlock, signal);
    } catch (error) {
      if (!isRangeTooLarge(error) || toBlock === fromBlock) throw error;
      const mid = fromBlock + (toBlock - fromBlock) / 2n;
      const span = toBlock - fromBlock + 1n;
      if (refused === undefined || span < refused) {
        log.info(
          { fromBlock, toBlock },
          `indexer: the provider refused eth_getLogs over ${span} blocks (${providerMessage(error)}); asking for at most ${mid - fromBlock + 1n}`,
        );
        refused = span;
      }
      sinceRefusal = 0;
      logRange = minBig(logRange, mid - fromBlock + 1n);
      const first = await fetchRange(fromBlock, mid, signal);
      return first.concat(await fetchRange(mid + 1n, toBlock, signal));
    }
  }

  /** One chunk: its logs, decoded, and the header of its last block. */
  async function fetchChunk(from: bigint, to: bigint, signal: AbortSignal): Promise<Chunk<E>> {
    const started = performance.now();
    const rangeBefore = logRange;
    const [logs, last] = await Promise.all([fetchRange(from, to, signal), options.header(to)]);
    const events = await options.decode(logs, [last]);
    // Aim the next ranges at about TARGET_LOGS logs each, growing at most 4× at a time (through
    // empty stretches), never past a size the node refused, and never after a slow answer.
    const span = to - from + 1n;
    let next = logs.length === 0 ? span * 4n : (span * BigInt(TARGET_LOGS)) / BigInt(logs.length);
    next = minBig(next, minBig(span * 4n, maxRange));
    if (logRange < rangeBefore) next = minBig(next, logRange);
    if (refused !== undefined) {
      if (++sinceRefusal >= PROBE_AFTER) refused = undefined;
      else next = minBig(next, refused - 1n);
    }
    if (next < 1n) next = 1n;
    if (performance.now() - started < 5_000 || next < logRange) logRange = next;
    return { from, to, last, events };
  }

  /**
   * Backfills [from, finalHead], pipelined: up to FETCH_AHEAD ranges are fetched and decoded while
   * the current one is applied, and `apply` sees the chunks strictly in order (each one commits
   * with its cursor). Returns after at most CHUNKS_PER_STEP chunks.
   */
  async function backfill(
    from: bigint,
    finalHead: bigint,
    apply: (chunk: Chunk<E>) => Promise<void>,
  ): Promise<void> {
    let next = from;
    let dispatched = 0;
    const pending: Promise<Chunk<E>>[] = []; // dispatched, not applied yet
    // One signal per range: each range is its own HTTP request (a shared batch would arrive only
    // when its slowest member is ready), and a failed step cancels the ranges still in flight.
    const controllers: AbortController[] = [];
    // The first range probes the density; the others are sized by what it found.
    const topUp = () => {
      while (pending.length <= FETCH_AHEAD && next <= finalHead && dispatched < CHUNKS_PER_STEP) {
        const to = minBig(finalHead, next + logRange - 1n);
        const controller = new AbortController();
        controllers.push(controller);
        const chunk = fetchChunk(next, to, controller.signal);
        chunk.then(topUp, () => {}); // a failure surfaces below, where the chunks are awaited in order
        pending.push(chunk);
        next = to + 1n;
        dispatched++;
        if (dispatched === 1) break;
      }
    };
    topUp();
    try {
      for (let chunk = pending[0]; chunk; chunk = pending[0]) {
        const applied = await chunk;
        await apply(applied);
        pending.shift();
        topUp();
        log.debug(
          { from: applied.from, to: applied.to, events: applied.events.length },
          "indexer: backfilled range",
        );
      }
    } finally {
      for (const controller of controllers) controller.abort();
    }
  }

  /** The range the next backfill request asks for, in blocks. */
  const range = () => logRange;

  return { backfill, range };
}

export const minBig = (a: bigint, b: bigint) => (a < b ? a : b);
