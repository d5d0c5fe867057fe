import type { Logger } from "pino";
import type { Block, PublicClient } from "viem";
import type { Db, Queryable } from "../db/types.ts";
import { bytes32ToOrderId } from "../orders/ids.ts";
import { ordersDueForRefresh, refreshOrders, type HandlerContext, type StatusChange } from "./handlers.ts";
import { watchNewHeads } from "./heads.ts";
import { decodeLog, getRawLogs, type RawLog } from "./logs.ts";
import { FatalIndexerError, isRangeTooLarge, isRetryable, sleep } from "./rpc.ts";
import {
  insertEvents,
  loadBlocksDescending,
  loadCursor,
  pruneBlocks,
  rollbackTo,
  saveBlocks,
  saveCursor,
  type BlockRef,
  type Cursor,
  type IndexedEvent,
} from "./store.ts";

export interface IndexerOptions {
  db: Db;
  client: PublicClient;
  log: Logger;
  chainId: bigint;
  contract: `0x${string}`;
  startBlock: bigint;
  confirmations: number;
  finalityBlocks: number;
  pollIntervalMs: number;
  publicUrl: string;
  /** Largest number of blocks asked of eth_getLogs at once; adapts down on refusals. */
  maxLogRange?: number;
  /** Blocks handled per realtime step (each needs its header). */
  realtimeBatch?: number;
  /**
   * A ws:// or wss:// endpoint whose `newHeads` subscription wakes the realtime loop at once.
   * Polling every `pollIntervalMs` continues as the fallback and catches missed notifications.
   */
  newHeadsUrl?: string;
}

export interface IndexerStatus {
  state: "starting" | "backfilling" | "following" | "retrying" | "stopped" | "failed";
  headBlock: bigint | null;
  indexedBlock: bigint | null;
  lagBlocks: bigint | null;
  lastError: string | null;
}

export interface Indexer {
  /** Runs until `signal` aborts, or throws FatalIndexerError on a non-retryable failure. */
  run(signal: AbortSignal): Promise<void>;
  status(): IndexerStatus;
  /** Runs one step at once (tests, benchmarks); returns whether it made progress. */
  step(): Promise<boolean>;
  onChange(listener: (changes: StatusChange[]) => void): () => void;
  /** Cuts the current poll wait short (a new head was announced). */
  wake(): void;
}

const HEADER_CONCURRENCY = 32;
/** Backfill ranges aim at about this many logs (≈ 1 MB of JSON; viem caps a response at 10 MiB). */
const TARGET_LOGS = 1_500;
/** Backfill ranges fetched and decoded ahead of the one being written. */
const FETCH_AHEAD = 2;
/** Backfill chunks per step, so that the loop regularly checks for a stop. */
const CHUNKS_PER_STEP = 64;

/**
 * The indexer pipeline, after Ponder: rpc → historical backfill (adaptive eth_getLogs ranges over
 * final blocks) → realtime follow (block by block with parent-hash checks) → store (one
 * transaction per step: events, block window, cursor, order effects and callbacks) → handlers.
 */
export function createIndexer(options: IndexerOptions): Indexer {
  const { db, client, log, chainId, contract } = options;
  const realtimeBatch = BigInt(options.realtimeBatch ?? 50);
  const maxRange = BigInt(options.maxLogRange ?? 100_000);
  let logRange = minBig(maxRange, 10n);
  const status: IndexerStatus = {
    state: "starting",
    headBlock: null,
    indexedBlock: null,
    lagBlocks: null,
    lastError: null,
  };
  const listeners = new Set<(changes: StatusChange[]) => void>();

  // A wake-up that arrives while a step runs is kept, so the next wait returns at once.
  let woken = false;
  let interrupt: (() => void) | undefined;
  function wake() {
    woken = true;
    interrupt?.();
  }
  /** Waits up to `ms`, or until a wake-up or abort. */
  function idle(ms: number, signal: AbortSignal): Promise<void> {
    if (woken || signal.aborted) {
      woken = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        interrupt = undefined;
        woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      interrupt = done;
    });
  }

  const header = async (blockNumber: bigint): Promise<BlockRef> =>
    toRef(await client.getBlock({ blockNumber }));

  async function headers(numbers: readonly bigint[]): Promise<Map<bigint, BlockRef>> {
    const result = new Map<bigint, BlockRef>();
    for (let i = 0; i < numbers.length; i += HEADER_CONCURRENCY) {
      const slice = numbers.slice(i, i + HEADER_CONCURRENCY);
      const fetched = await Promise.all(slice.map(header));
      for (const ref of fetched) result.set(ref.number, ref);
    }
    return result;
  }

  /**
   * Every log of [fromBlock, toBlock], however the node limits ranges: a refused range is split in
   * halves (recursively), and later ranges are dispatched at the size that worked.
   */
  async function fetchRange(fromBlock: bigint, toBlock: bigint, signal?: AbortSignal): Promise<RawLog[]> {
    try {
      return await getRawLogs(client, contract, { fromBlock, toBlock }, signal);
    } catch (error) {
      if (!isRangeTooLarge(error) || toBlock === fromBlock) throw error;
      const mid = fromBlock + (toBlock - fromBlock) / 2n;
      logRange = minBig(logRange, mid - fromBlock + 1n);
      log.debug({ fromBlock, toBlock }, "indexer: getLogs range refused, splitting");
      const first = await fetchRange(fromBlock, mid, signal);
      return first.concat(await fetchRange(mid + 1n, toBlock, signal));
    }
  }

  /** Decodes logs, taking each block's timestamp from the log or, failing that, its header. */
  async function decodeAll(logs: readonly RawLog[], known: readonly BlockRef[]): Promise<IndexedEvent[]> {
    const timestamps = new Map<string, Date>(known.map((b) => [`0x${b.number.toString(16)}`, b.timestamp]));
    const missing = new Set<bigint>();
    for (const l of logs) {
      if (timestamps.has(l.blockNumber)) continue;
      if (l.blockTimestamp) timestamps.set(l.blockNumber, new Date(Number(l.blockTimestamp) * 1000));
      else missing.add(BigInt(l.blockNumber));
    }
    if (missing.size > 0) {
      for (const b of (await headers([...missing])).values()) {
        timestamps.set(`0x${b.number.toString(16)}`, b.timestamp);
      }
    }
    return logs.map((l) => decodeLog(l, chainId, timestamps.get(l.blockNumber) as Date));
  }

  /** One backfill chunk: its logs, decoded, and the header of its last block (the new cursor). */
  async function fetchChunk(from: bigint, to: bigint, signal: AbortSignal) {
    const started = performance.now();
    const rangeBefore = logRange;
    const [logs, last] = await Promise.all([fetchRange(from, to, signal), header(to)]);
    const events = await decodeAll(logs, [last]);
    // Aim the next ranges at about TARGET_LOGS logs each, growing at most 4× at a time (through
    // empty stretches), never past a size the node refused, and never after a slow answer.
    const span = to - from + 1n;
    let next = logs.length === 0 ? span * 4n : (span * BigInt(TARGET_LOGS)) / BigInt(logs.length);
    next = minBig(next, minBig(span * 4n, maxRange));
    if (logRange < rangeBefore) next = minBig(next, logRange);
    if (next < 1n) next = 1n;
    if (performance.now() - started < 5_000 || next < logRange) logRange = next;
    return { from, to, last, events };
  }

  /**
   * Historical backfill over final blocks, pipelined: up to FETCH_AHEAD ranges are fetched and
   * decoded while the current one is written, and the chunks are applied strictly in order, each
   * in its own transaction with the cursor. Returns after at most CHUNKS_PER_STEP chunks, so
   * that the loop can stop and follow a moving head.
   */
  async function backfill(from: bigint, finalHead: bigint, head: bigint): Promise<void> {
    let next = from;
    let dispatched = 0;
    const pending: ReturnType<typeof fetchChunk>[] = []; // dispatched, not applied yet
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
        const { from: f, to, last, events } = await chunk;
        await apply(last, [last], events, head);
        pending.shift();
        topUp();
        log.debug({ from: f, to, events: events.length, head }, "indexer: backfilled range");
      }
    } finally {
      for (const controller of controllers) controller.abort();
    }
  }

  async function apply(
    cursorBlock: BlockRef,
    blocks: readonly BlockRef[],
    events: IndexedEvent[],
    head: bigint,
  ): Promise<void> {
    const changes = await db.transaction(async (tx) => {
      await matchOrders(tx, events);
      await insertEvents(tx, events);
      await saveBlocks(tx, chainId, blocks);
      await saveCursor(tx, chainId, { blockNumber: cursorBlock.number, blockHash: cursorBlock.hash });
      const keepFrom = minBig(cursorBlock.number, head - BigInt(options.finalityBlocks));
      await pruneBlocks(tx, chainId, keepFrom);
      const ctx = context(cursorBlock, head);
      const touched = new Set(events.flatMap((e) => (e.orderId === null ? [] : [e.orderId])));
      for (const id of await ordersDueForRefresh(tx, ctx)) touched.add(id);
      return refreshOrders(tx, ctx, [...touched]);
    });
    status.indexedBlock = cursorBlock.number;
    emit(changes);
  }

  function context(cursorBlock: BlockRef, head: bigint): HandlerContext {
    const atHead = cursorBlock.number >= head;
    return {
      chainId,
      publicUrl: options.publicUrl,
      clock: {
        indexedBlock: cursorBlock.number,
        confirmations: options.confirmations,
        canExpire: (expiresAt) =>
          Date.now() >= expiresAt.getTime() &&
          (atHead || cursorBlock.timestamp.getTime() >= expiresAt.getTime()),
      },
    };
  }

  function emit(changes: StatusChange[]) {
    if (changes.length === 0) return;
    for (const listener of listeners) listener(changes);
  }

  /** Walks the stored window back to the newest block the chain still has; rolls back past it. */
  async function handleReorg(head: bigint): Promise<void> {
    const stored = await loadBlocksDescending(db, chainId);
    let ancestor: BlockRef | undefined;
    for (const block of stored) {
      if (block.number > head) continue;
      const onChain = await header(block.number);
      if (onChain.hash === block.hash) {
        ancestor = block;
        break;
      }
    }
    if (!ancestor) {
      throw new FatalIndexerError(
        `reorg deeper than the finality window (${options.finalityBlocks} blocks): no stored block matches the chain. ` +
          "Refusing to continue rather than corrupt data; reindex from a trusted node.",
      );
    }
    const cursor = await loadCursor(db, chainId);
    const depth = cursor ? cursor.blockNumber - ancestor.number : 0n;
    const changes = await db.transaction(async (tx) => {
      const affected = await rollbackTo(tx, chainId, ancestor.number);
      await saveCursor(tx, chainId, { blockNumber: ancestor.number, blockHash: ancestor.hash });
      const ctx = context(ancestor, head);
      const { rows } = await tx.query<{ id: bigint }>(
        "SELECT id FROM orders WHERE chain_id = $1 AND paid_block > $2",
        [chainId, ancestor.number],
      );
      return refreshOrders(tx, ctx, [...new Set([...affected, ...rows.map((r) => r.id)])]);
    });
    status.indexedBlock = ancestor.number;
    log.warn(
      { depth: Number(depth), ancestor: Number(ancestor.number) },
      `indexer: reorg of depth ${depth} rolled back to block ${ancestor.number}`,
    );
    emit(changes);
  }

  async function step(): Promise<boolean> {
    const head = await client.getBlockNumber({ cacheTime: 0 });
    status.headBlock = head;
    const cursor: Cursor | undefined = await loadCursor(db, chainId);
    const from = cursor ? cursor.blockNumber + 1n : options.startBlock;
    status.indexedBlock = from - 1n;
    status.lagBlocks = head - (from - 1n);

    if (cursor) {
      // A chain that got shorter, or a replaced block at our height, is a reorg.
      if (head < cursor.blockNumber) {
        await handleReorg(head);
        return true;
      }
      if (head === cursor.blockNumber) {
        const current = await header(head);
        if (current.hash !== cursor.blockHash) {
          await handleReorg(head);
          return true;
        }
        await refreshDue(current, head);
        return false;
      }
    } else if (head < from) {
      return false;
    }

    const finalHead = head - BigInt(options.finalityBlocks);
    if (from <= finalHead) {
      status.state = "backfilling";
      await backfill(from, finalHead, head);
      return true;
    }

    status.state = "following";
    const to = minBig(head, from + realtimeBatch - 1n);
    const numbers: bigint[] = [];
    for (let n = from; n <= to; n++) numbers.push(n);
    const blockMap = await headers(numbers);
    const blocks = numbers.map((n) => blockMap.get(n) as BlockRef);
    const first = blocks[0];
    if (cursor && first) {
      // Without a parent hash to compare (placeholder blocks), ask the chain for our cursor block.
      const onOurChain = ZERO_HASH.test(first.parentHash)
        ? (await header(cursor.blockNumber)).hash === cursor.blockHash
        : first.parentHash === cursor.blockHash;
      if (!onOurChain) {
        await handleReorg(head);
        return true;
      }
    }
    for (let i = 1; i < blocks.length; i++) {
      const [child, parent] = [blocks[i], blocks[i - 1]];
      if (child && parent && !linked(child, parent.hash)) return true; // the chain moved while we read; read again
    }
    // Logs by block hash (EIP-234): each block's logs belong to exactly the header we checked. A
    // range query could answer from another branch, and a branch without logs would go unnoticed.
    const perBlock = await Promise.all(
      blocks.map((block) =>
        getRawLogs(client, contract, { blockHash: block.hash }).catch(async (error: unknown) => {
          // A node that no longer knows the hash has moved to another branch: read again.
          if ((await header(block.number).catch(() => undefined))?.hash !== block.hash) return undefined;
          throw error;
        }),
      ),
    );
    if (perBlock.some((l) => l === undefined)) return true;
    const logs = perBlock.flatMap((l) => l ?? []);
    if (logs.some((l) => blockMap.get(BigInt(l.blockNumber))?.hash !== l.blockHash)) return true; // ditto
    const events = await decodeAll(logs, blocks);
    const last = blocks.at(-1);
    if (!last) return false;
    await apply(last, blocks, events, head);
    return true;
  }

  async function refreshDue(cursorBlock: BlockRef, head: bigint) {
    const changes = await db.transaction(async (tx) => {
      const ctx = context(cursorBlock, head);
      return refreshOrders(tx, ctx, await ordersDueForRefresh(tx, ctx));
    });
    emit(changes);
  }

  /** The realtime loop: steps while there is progress, then waits a poll interval or a wake-up. */
  async function follow(signal: AbortSignal): Promise<void> {
    let backoff = 250;
    while (!signal.aborted) {
      try {
        woken = false;
        const progressed = await step();
        backoff = 250;
        status.lastError = null;
        if (!progressed) await idle(options.pollIntervalMs, signal);
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof FatalIndexerError || !isRetryable(error)) {
          status.state = "failed";
          status.lastError = error instanceof Error ? error.message : String(error);
          log.fatal({ err: error }, `indexer: stopped: ${status.lastError}`);
          throw error instanceof FatalIndexerError
            ? error
            : new FatalIndexerError(status.lastError, { cause: error });
        }
        status.state = "retrying";
        status.lastError = error instanceof Error ? (error.message.split("\n")[0] ?? "") : String(error);
        log.warn({ retryInMs: backoff }, `indexer: RPC problem, retrying: ${status.lastError}`);
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
    status.state = "stopped";
  }

  return {
    status: () => ({ ...status }),
    step,
    wake,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async run(signal) {
      // The subscription lives as long as this run: until an abort or a fatal error.
      const stopHeads = new AbortController();
      const heads = options.newHeadsUrl
        ? watchNewHeads({
            url: options.newHeadsUrl,
            log,
            onHead: wake,
            signal: AbortSignal.any([signal, stopHeads.signal]),
          })
        : undefined;
      try {
        await follow(signal);
      } finally {
        stopHeads.abort();
        await heads;
      }
    },
  };
}

function toRef(block: Block): BlockRef {
  if (block.number === null || block.hash === null)
    throw new Error("pending block returned where a mined one was expected");
  return {
    number: block.number,
    hash: block.hash,
    parentHash: block.parentHash,
    timestamp: new Date(Number(block.timestamp) * 1000),
  };
}

const minBig = (a: bigint, b: bigint) => (a < b ? a : b);

/**
 * Whether `child` builds on `parentHash`. Hardhat's `hardhat_mine` creates placeholder blocks
 * whose parentHash is zero; those carry no linkage to check, so only a real mismatch counts.
 */
const ZERO_HASH = /^0x0{64}$/;
const linked = (child: BlockRef, parentHash: string) =>
  child.parentHash === parentHash || ZERO_HASH.test(child.parentHash);
/** Links events to existing orders; an event whose order id matches none stays an orphan. */
async function matchOrders(tx: Queryable, events: IndexedEvent[]): Promise<void> {
  const candidates = new Map<string, bigint>();
  for (const e of events) {
    if (!e.orderRef) continue;
    const id = bytes32ToOrderId(e.orderRef as `0x${string}`);
    if (id !== undefined) candidates.set(e.orderRef, id);
  }
  if (candidates.size === 0) return;
  const { rows } = await tx.query<{ id: bigint }>("SELECT id FROM orders WHERE id = ANY($1::int8[])", [
    [...candidates.values()].map(String),
  ]);
  const existing = new Set(rows.map((r) => r.id));
  for (const e of events) {
    const id = e.orderRef ? candidates.get(e.orderRef) : undefined;
    if (id !== undefined && existing.has(id)) e.orderId = id;
  }
}
