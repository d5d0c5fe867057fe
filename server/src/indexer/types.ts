import type { Queryable } from "../db/types.ts";

/** A block header as the indexer keeps it: the reorg window stores these. */
export interface BlockRef {
  number: bigint;
  hash: string;
  parentHash: string;
  timestamp: Date;
}

/** The newest block whose effects are applied, by number and hash. */
export interface Cursor {
  blockNumber: bigint;
  blockHash: string;
}

/** A log as eth_getLogs returns it (hex quantities), before any decoding. */
export interface RawLog {
  address: string;
  topics: string[];
  data: string;
  blockNumber: string;
  blockHash: string;
  /** Returned by current nodes (geth ≥ 1.14.x, reth, erigon, EDR); saves a header fetch. */
  blockTimestamp?: string;
  transactionHash: string;
  transactionIndex: string;
  logIndex: string;
  removed?: boolean;
}

/** Where a reading taken at a block sits: its chain and block (a balance read at the block's end). */
export interface BlockPosition {
  chainId: bigint;
  blockNumber: bigint;
  blockHash: string;
  blockTimestamp: Date;
}

/**
 * Where a log sits: its block, and its transaction and index in it. (chain id, block number, tx
 * index, log index) is the checkpoint key of every row decoded from a log; the block hash lets a
 * reorg find it. Sources build it with logPosition (./position.ts).
 */
export interface LogPosition extends BlockPosition {
  txIndex: number;
  logIndex: number;
  txHash: string;
}

export interface DecodeContext {
  chainId: bigint;
  /** The timestamp of the log's block (from the log itself or from its header). */
  blockTimestamp: Date;
}

/**
 * What the indexer follows: logs of `addresses` whose topic0 is one of `topics`, each decoded into
 * a domain event by `decode`. `addresses` may be a function, asked before every fetch, for sources
 * whose address set grows (watched deposit addresses). `decode` returns undefined for a log it does
 * not want and throws FatalIndexerError for a log it cannot read.
 */
export interface Source<E> {
  name: string;
  addresses: Values;
  /** topic0 values (event selectors) this source decodes. */
  topics: readonly string[];
  /**
   * Further topic positions to match (1 to 3), each an OR-list of 32-byte topics, e.g. an ERC-20
   * `Transfer` whose `to` (topic2) is one of the watched addresses. A source with a filter gets its
   * own eth_getLogs requests (the longest list split into chunks of TOPIC_CHUNK); an empty list
   * matches nothing.
   */
  topicFilters?: readonly TopicFilter[];
  /**
   * With topic filters whose lists grow with the data (every open deposit address): at the head,
   * where one block is read at a time, the source's logs are fetched without those filters, in the
   * request shared with the sources that have none, and this keeps the wanted ones (one lookup for
   * the block's logs, instead of a filter listing every value: a cost per log, not per value).
   * Historical ranges keep the filters (a range holds far more logs than values).
   */
  matchAtHead?: (logs: readonly RawLog[]) => Promise<readonly RawLog[]>;
  decode(log: RawLog, ctx: DecodeContext): E | undefined;
}

/** A fixed list, or a function asked before every fetch (a set that grows or shrinks). */
export type Values = readonly string[] | (() => readonly string[] | Promise<readonly string[]>);

export interface TopicFilter {
  position: 1 | 2 | 3;
  values: Values;
}

export interface BlockReadContext<E = unknown> {
  chainId: bigint;
  /**
   * The first block of the step. Realtime: the first of `blocks`; historical: the chunk's first
   * block (only its last header is in `blocks`), so a reader can look inside the chunk by number.
   */
  from: bigint;
  /** The step's decoded log events, in chain order (e.g. what moved money out of an address). */
  events: readonly E[];
  /** A historical chunk (final blocks, only the last header known) rather than blocks at the head. */
  historical: boolean;
  /**
   * At the head, for readers that want transactions: each block of the step as the node returned
   * it to `eth_getBlockByNumber(n, true)`, by hash (absent: the reader fetches what it needs).
   */
  bodies?: ReadonlyMap<string, unknown>;
}

/**
 * State read at a block rather than logs (balances of watched addresses: plain ETH transfers,
 * including internal ones from contract wallets, leave no log). `read` is called once per block
 * step with its blocks (realtime: the blocks of the step; historical: the last block of the chunk,
 * with the chunk's first block number in `ctx.from`; those blocks are final, so reads inside the
 * chunk by number are safe), and returns events that follow the step's log events, through the
 * same sink in the same transaction. A block that vanished mid-read is a retryable error (the
 * step is read again).
 */
export interface BlockReader<E> {
  name: string;
  /**
   * At the head, the reader reads the blocks' transactions: the realtime follower then fetches
   * each block with them (`eth_getBlockByNumber(n, true)`) instead of its header alone, and hands
   * them over in `BlockReadContext.bodies` (one call per block for both).
   */
  wantsTransactions?: boolean;
  read(blocks: readonly BlockRef[], ctx: BlockReadContext<E>): Promise<E[]>;
}

/** New canonical blocks, in order, and the decoded events of all sources in chain order. */
export interface BlockStep<E> {
  type: "block";
  chainId: bigint;
  /** The applied blocks, ascending; the last one is the new cursor. */
  blocks: readonly BlockRef[];
  events: E[];
  /** The chain head when the step was read. */
  head: bigint;
  /** Whether the blocks are final (historical backfill) rather than followed at the head. */
  historical: boolean;
}

/** The chain replaced blocks after `ancestor`: every effect past it must go. */
export interface ReorgStep {
  type: "reorg";
  chainId: bigint;
  /** The newest stored block the chain still has; the new cursor. */
  ancestor: BlockRef;
  /** The cursor before the rollback. */
  previous: Cursor;
  head: bigint;
}

/** Blocks up to `block` are final: no reorg will ever reach them. The window below it is pruned. */
export interface FinalizeStep {
  type: "finalize";
  chainId: bigint;
  block: bigint;
}

export type Step<E> = BlockStep<E> | ReorgStep | FinalizeStep;

/** The indexer's position while nothing new arrives (the clock still moves). */
export interface IdleContext {
  chainId: bigint;
  cursor: BlockRef;
  head: bigint;
}

/**
 * The domain side of the indexer. `apply` runs inside the transaction that also saves the cursor
 * and the block window, so a step's effects exist if and only if the cursor moved past it. `idle`
 * (optional) runs in its own transaction when the indexer is at the head with nothing new, for
 * effects of time alone (order expiry). The result of each call is handed to the indexer's
 * `onCommit` listeners after the transaction commits.
 */
export interface Sink<E, R = void> {
  apply(tx: Queryable, step: Step<E>): Promise<R>;
  idle?(tx: Queryable, at: IdleContext): Promise<R>;
}

export interface IndexerStatus {
  state: "starting" | "backfilling" | "following" | "retrying" | "stopped" | "failed";
  headBlock: bigint | null;
  indexedBlock: bigint | null;
  lagBlocks: bigint | null;
  lastError: string | null;
  /** Blocks the next backfill eth_getLogs asks for at once (it adapts to the node's limits and the log density). */
  logRange: bigint;
}
