import type { Logger } from "pino";
import type { PublicClient } from "viem";
import type { Db, Queryable } from "../db/types.ts";
import { watchNewHeads } from "./heads.ts";
import { createHistoricalSync, minBig } from "./historical.ts";
import { createRealtimeSync } from "./realtime.ts";
import { findCommonAncestor } from "./reorg.ts";
import { firstLine } from "../lib/errors.ts";
import { sleep } from "../lib/sleep.ts";
import {
  FatalIndexerError,
  getBlocksWithTransactions,
  getFinalizedNumber,
  getHeader,
  getHeaders,
  isRangeTooLarge,
  isRetryable,
} from "./rpc.ts";
import { createSelector, decodeLogs, fetchSelectionLogs } from "./sources.ts";
import {
  dropBlocksPast,
  loadBlocksDescending,
  loadCursor,
  pruneBlocks,
  saveBlocks,
  saveCursor,
} from "./store.ts";
import type { BlockReader, BlockRef, Cursor, IndexerStatus, Sink, Source, Step } from "./types.ts";

export type * from "./types.ts";
export { FatalIndexerError } from "./rpc.ts";

export interface ChainConnection {
  chainId: bigint;
  client: PublicClient;
  /**
   * Whether to bound the reorg window by the node's `finalized` block (default: when the node
   * serves a finalized block behind its head; a dev chain that calls its head final does not count).
   * False: always head − finalityBlocks.
   */
  finalizedTag?: boolean;
}

export interface IndexerOptions<E, R> {
  chain: ChainConnection;
  db: Db;
  sources: readonly Source<E>[];
  /** State read per block step (balances of watched addresses); their events follow the logs'. */
  readers?: readonly BlockReader<E>[];
  sink: Sink<E, R>;
  log: Logger;
  /** The first block to index when there is no cursor yet (the contract's deployment block). */
  startBlock: bigint;
  /** The reorg window when the node serves no `finalized` block: blocks behind the head kept. */
  finalityBlocks: number;
  pollIntervalMs: number;
  /**
   * A ws:// or wss:// endpoint whose `newHeads` subscription wakes the realtime loop at once.
   * Polling every `pollIntervalMs` continues as the fallback and catches missed notifications.
   */
  newHeadsUrl?: string | undefined;
  /** Largest number of blocks asked of eth_getLogs at once; adapts down on refusals. */
  maxLogRange?: number;
  /** Blocks handled per realtime step (each needs its header). */
  realtimeBatch?: number;
}

export interface Indexer<R = unknown> {
  /** Runs until `signal` aborts, or throws FatalIndexerError on a non-retryable failure. */
  run(signal: AbortSignal): Promise<void>;
  status(): IndexerStatus;
  /** Runs one step at once (tests, benchmarks); returns whether it made progress. */
  step(): Promise<boolean>;
  /** Called with the sink's result of every step (and idle call), after its transaction commits. */
  onCommit(listener: (result: R) => void): () => void;
  /** Cuts the current poll wait short (a new head was announced). */
  wake(): void;
}

/**
 * The indexer core, after Ponder, by pipeline stage: rpc (./rpc.ts) → historical sync over final
 * blocks (./historical.ts) → realtime sync block by block (./realtime.ts, ./reorg.ts) → typed
 * steps `block | reorg | finalize`, each handed to the sink in the transaction that also moves the
 * cursor and the block window (./store.ts). It knows nothing of the domain: sources decode logs,
 * the sink applies them.
 */
export function createIndexer<E, R>(options: IndexerOptions<E, R>): Indexer<R> {
  const { db, log, sink } = options;
  const { chainId, client } = options.chain;
  const finalityBlocks = BigInt(options.finalityBlocks);
  const status: Omit<IndexerStatus, "logRange"> = {
    state: "starting",
    headBlock: null,
    indexedBlock: null,
    lagBlocks: null,
    lastError: null,
  };
  const listeners = new Set<(result: R) => void>();
  const select = createSelector(options.sources);

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

  const header = (blockNumber: bigint) => getHeader(client, blockNumber);
  const headers = (numbers: readonly bigint[]) => getHeaders(client, numbers);

  const historical = createHistoricalSync<E>({
    log,
    maxLogRange: BigInt(options.maxLogRange ?? 100_000),
    header,
    async getLogs(fromBlock, toBlock, signal) {
      return fetchSelectionLogs(client, await select("range"), { fromBlock, toBlock }, signal);
    },
    decode: async (logs, known) => decodeLogs(await select("decode"), chainId, logs, known, headers),
  });
  // At the head, blocks come with their transactions when a reader wants them (one call for both).
  const wantBodies = (options.readers ?? []).some((r) => r.wantsTransactions);
  let bodies = new Map<string, unknown>();
  const realtime = createRealtimeSync<E>({
    batch: BigInt(options.realtimeBatch ?? 50),
    header,
    headers: wantBodies
      ? async (numbers) => {
          const got = await getBlocksWithTransactions(client, numbers);
          bodies = got.bodies;
          return got.refs;
        }
      : headers,
    async getBlockLogs(block) {
      const at = { blockHash: block.hash, blockNumber: block.number };
      const selection = await select("head");
      try {
        return await selection.keep(await fetchSelectionLogs(client, selection, at));
      } catch (error) {
        // A provider that caps the results of one call (Infura's 10,000 logs) can refuse a whole
        // block's unfiltered Transfer logs: ask for this block with every source's own filters.
        if (!isRangeTooLarge(error)) throw error;
        log.debug(
          `indexer: block ${block.number}'s logs asked with the sources' filters (${firstLine(error)})`,
        );
        return fetchSelectionLogs(client, await select("range"), at);
      }
    },
    decode: async (logs, known) => decodeLogs(await select("decode"), chainId, logs, known, headers),
  });

  // The finalized bound: the node's `finalized` block where it serves a real one, else depth.
  let tagMode: "unknown" | "on" | "off" = options.chain.finalizedTag === false ? "off" : "unknown";
  /** The newest block no reorg can reach, as of `head`. */
  async function finalizedAt(head: bigint, tag: bigint | undefined): Promise<bigint> {
    if (tagMode === "unknown") {
      // Asked after the head, so a node that calls its head final shows finalized ≥ head.
      const t = tag ?? (await getFinalizedNumber(client));
      tagMode = t !== undefined && t < head ? "on" : "off";
      if (tagMode === "on") log.debug("indexer: the reorg window ends at the node's finalized block");
      else
        log.info(
          `indexer: the node serves no "finalized" block behind its head; the reorg window is the newest ${options.finalityBlocks} blocks (FINALITY_BLOCKS)`,
        );
      if (tagMode === "on" && t !== undefined) return t;
    } else if (tagMode === "on" && tag !== undefined) {
      return minBig(tag, head);
    }
    return head - finalityBlocks;
  }
  async function readHead(): Promise<{ head: bigint; finalized: bigint }> {
    if (tagMode === "on") {
      const [head, tag] = await Promise.all([
        client.getBlockNumber({ cacheTime: 0 }),
        getFinalizedNumber(client),
      ]);
      return { head, finalized: await finalizedAt(head, tag) };
    }
    const head = await client.getBlockNumber({ cacheTime: 0 });
    return { head, finalized: await finalizedAt(head, undefined) };
  }

  // Highest `finalize` step committed by this process (pruning is idempotent after a restart).
  let finalizedSent = -1n;

  /** Runs `steps` and the store writes in one transaction; hands the results to listeners. */
  async function commit(write: (tx: Queryable) => Promise<void>, steps: Step<E>[]): Promise<void> {
    const results = await db.transaction(async (tx) => {
      await write(tx);
      const out: R[] = [];
      for (const step of steps) out.push(await sink.apply(tx, step));
      return out;
    });
    for (const step of steps) if (step.type === "finalize") finalizedSent = step.block;
    for (const result of results) emit(result);
  }

  /** A block step (with a finalize step when the bound moved), committed with the cursor. */
  async function applyBlocks(
    blocks: readonly BlockRef[],
    events: E[],
    head: bigint,
    finalized: bigint,
    historical: boolean,
  ): Promise<void> {
    const last = blocks.at(-1);
    if (!last) return;
    const bound = minBig(last.number, finalized);
    const steps: Step<E>[] = [{ type: "block", chainId, blocks, events, head, historical }];
    if (bound > finalizedSent) steps.push({ type: "finalize", chainId, block: bound });
    await commit(async (tx) => {
      await saveBlocks(tx, chainId, blocks);
      await saveCursor(tx, chainId, { blockNumber: last.number, blockHash: last.hash });
      if (bound > finalizedSent) await pruneBlocks(tx, chainId, bound);
    }, steps);
    status.indexedBlock = last.number;
  }

  function emit(result: R) {
    for (const listener of listeners) listener(result);
  }

  /** Walks the stored window back to the newest block the chain still has; rolls back past it. */
  async function handleReorg(head: bigint): Promise<void> {
    const stored = await loadBlocksDescending(db, chainId);
    const ancestor = await findCommonAncestor(stored, head, header);
    if (!ancestor) {
      throw new FatalIndexerError(
        `reorg deeper than the finality window (${options.finalityBlocks} blocks): no stored block matches the chain. ` +
          "Refusing to continue rather than corrupt data; reindex from a trusted node.",
      );
    }
    const cursor = await loadCursor(db, chainId);
    const previous: Cursor = cursor ?? { blockNumber: ancestor.number, blockHash: ancestor.hash };
    const depth = previous.blockNumber - ancestor.number;
    await commit(
      async (tx) => {
        await dropBlocksPast(tx, chainId, ancestor.number);
        await saveCursor(tx, chainId, { blockNumber: ancestor.number, blockHash: ancestor.hash });
      },
      [{ type: "reorg", chainId, ancestor, previous, head }],
    );
    status.indexedBlock = ancestor.number;
    log.warn(
      { depth: Number(depth), ancestor: Number(ancestor.number) },
      `indexer: reorg of depth ${depth} rolled back to block ${ancestor.number}`,
    );
  }

  /** At the head with nothing new: lets the sink apply effects of time alone. */
  async function idleAtHead(cursor: BlockRef, head: bigint): Promise<void> {
    if (!sink.idle) return;
    const result = await db.transaction((tx) => sink.idle?.(tx, { chainId, cursor, head }) as Promise<R>);
    emit(result);
  }

  async function step(): Promise<boolean> {
    const { head, finalized } = await readHead();
    status.headBlock = head;
    const cursor = await loadCursor(db, chainId);
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
        await idleAtHead(current, head);
        return false;
      }
    } else if (head < from) {
      return false;
    }

    if (from <= finalized) {
      status.state = "backfilling";
      await historical.backfill(from, finalized, async (chunk) =>
        applyBlocks(
          [chunk.last],
          await withReads(chunk.events, [chunk.last], chunk.from, true),
          head,
          finalized,
          true,
        ),
      );
      return true;
    }

    status.state = "following";
    const read = await realtime.read(from, head, cursor);
    if (read.type === "reorg") {
      await handleReorg(head);
      return true;
    }
    if (read.type === "moved") return true; // the chain moved while we read; read again
    const first = read.blocks[0]?.number ?? from;
    await applyBlocks(
      read.blocks,
      await withReads(read.events, read.blocks, first, false),
      head,
      finalized,
      false,
    );
    return true;
  }

  /** The step's log events followed by every block reader's events (the step spans `from`..last block). */
  async function withReads(
    events: E[],
    blocks: readonly BlockRef[],
    from: bigint,
    historical: boolean,
  ): Promise<E[]> {
    const readers = options.readers ?? [];
    if (readers.length === 0 || blocks.length === 0) return events;
    const read = await Promise.all(
      readers.map((r) =>
        r.read(blocks, { chainId, from, events, historical, ...(historical ? {} : { bodies }) }),
      ),
    );
    return events.concat(...read);
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
        status.lastError = firstLine(error);
        log.warn({ retryInMs: backoff }, `indexer: RPC problem, retrying: ${status.lastError}`);
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
    status.state = "stopped";
  }

  return {
    status: () => ({ ...status, logRange: historical.range() }),
    step,
    wake,
    onCommit(listener) {
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
