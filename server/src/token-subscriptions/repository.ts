import type { Queryable } from "../db/types.ts";
import { outgoingByIds } from "../sender/repository.ts";
import type { TokenCancelled, TokenCollected, TokenSubscribed } from "../chain/events.ts";

/**
 * Every statement on the token-subscription tables (migration 091): `token_subscriptions`,
 * `token_subscription_collections` (indexed from the Subscriptions contract, keyed by block, so a
 * reorg deletes what lies past the common ancestor) and `token_subscription_keeper` (the
 * collector's own bookkeeping; its collect in flight is a row of the sender's, migration 130), and the API state the collector obeys: `token_collect_mandates`
 * (migration 105: the terms this server asked for, the only subscriptions it collects) and
 * `token_collect_stops` (migration 096). Only server/src/token-subscriptions/ runs SQL on them; other
 * modules (the recurring billing module) call the functions below.
 */

/** A subscription as indexed: its terms (fixed on chain at subscribe) and its state. */
export interface TokenSubscription {
  chainId: bigint;
  /** The contract's subscription id. */
  id: bigint;
  /** The Subscriptions contract, lowercase. */
  contract: string;
  /** bytes32, lowercase hex: the `orderId` of each of its payments into the PaymentProcessor. */
  ref: string;
  merchant: string;
  customer: string;
  token: string;
  /** Token units charged per period. */
  amountPerPeriod: bigint;
  /** Period length, seconds. */
  interval: bigint;
  /** Unix seconds: period 0 starts and is due. */
  start: bigint;
  /** Unix seconds: the end of the last collected period (`start` before any), as `paidThrough(id)` on chain. */
  paidThrough: bigint;
  periodsCollected: number;
  cancelled: boolean;
  cancelledBy: string | null;
  cancelledBlock: bigint | null;
  cancelledTxHash: string | null;
  /** Where the `Subscribed` event is. */
  blockNumber: bigint;
  blockHash: string;
  blockTimestamp: Date;
  txHash: string;
  logIndex: number;
}

/** One collected period (a `Collected` event). */
export interface TokenSubscriptionCollection {
  chainId: bigint;
  id: bigint;
  ref: string;
  period: bigint;
  amount: bigint;
  /** Unix seconds: the end of this period. */
  paidThrough: bigint;
  blockNumber: bigint;
  blockHash: string;
  blockTimestamp: Date;
  txHash: string;
  logIndex: number;
}

interface SubscriptionRow {
  chain_id: string;
  subscription_id: string;
  contract: string;
  ref: string;
  merchant: string;
  customer: string;
  token: string;
  amount_per_period: string;
  interval_seconds: string;
  start_at: string;
  paid_through: string;
  periods_collected: number;
  cancelled: boolean;
  cancelled_by: string | null;
  cancelled_block: string | null;
  cancelled_tx_hash: string | null;
  block_number: string;
  block_hash: string;
  block_timestamp: Date;
  tx_hash: string;
  log_index: number;
}

const SUBSCRIPTION_COLUMNS = `chain_id::text, subscription_id::text, contract, ref, merchant, customer, token,
  amount_per_period::text, interval_seconds::text, start_at::text, paid_through::text, periods_collected,
  cancelled, cancelled_by, cancelled_block::text, cancelled_tx_hash, block_number::text, block_hash,
  block_timestamp, tx_hash, log_index`;

const toSubscription = (r: SubscriptionRow): TokenSubscription => ({
  chainId: BigInt(r.chain_id),
  id: BigInt(r.subscription_id),
  contract: r.contract,
  ref: r.ref,
  merchant: r.merchant,
  customer: r.customer,
  token: r.token,
  amountPerPeriod: BigInt(r.amount_per_period),
  interval: BigInt(r.interval_seconds),
  start: BigInt(r.start_at),
  paidThrough: BigInt(r.paid_through),
  periodsCollected: r.periods_collected,
  cancelled: r.cancelled,
  cancelledBy: r.cancelled_by,
  cancelledBlock: r.cancelled_block === null ? null : BigInt(r.cancelled_block),
  cancelledTxHash: r.cancelled_tx_hash,
  blockNumber: BigInt(r.block_number),
  blockHash: r.block_hash,
  blockTimestamp: r.block_timestamp,
  txHash: r.tx_hash,
  logIndex: r.log_index,
});

interface CollectionRow {
  chain_id: string;
  subscription_id: string;
  ref: string;
  period: string;
  amount: string;
  paid_through: string;
  block_number: string;
  block_hash: string;
  block_timestamp: Date;
  tx_hash: string;
  log_index: number;
}

const COLLECTION_COLUMNS = `chain_id::text, subscription_id::text, ref, period::text, amount::text,
  paid_through::text, block_number::text, block_hash, block_timestamp, tx_hash, log_index`;

const toCollection = (r: CollectionRow): TokenSubscriptionCollection => ({
  chainId: BigInt(r.chain_id),
  id: BigInt(r.subscription_id),
  ref: r.ref,
  period: BigInt(r.period),
  amount: BigInt(r.amount),
  paidThrough: BigInt(r.paid_through),
  blockNumber: BigInt(r.block_number),
  blockHash: r.block_hash,
  blockTimestamp: r.block_timestamp,
  txHash: r.tx_hash,
  logIndex: r.log_index,
});

// ---------------------------------------------------------------------------------------------
// Reads (for the recurring billing module, the collector and tests)
// ---------------------------------------------------------------------------------------------

/**
 * Every subscription created with this `ref` on a chain, oldest first. Anyone can create a
 * subscription to any merchant with any ref and any amount: a caller must check the terms
 * (merchant, token, amount per period, interval) before it counts one as paying for anything.
 */
export async function tokenSubscriptionsByRef(
  db: Queryable,
  chainId: bigint,
  ref: string,
): Promise<TokenSubscription[]> {
  const { rows } = await db.query<SubscriptionRow>(
    `SELECT ${SUBSCRIPTION_COLUMNS} FROM token_subscriptions WHERE chain_id = $1 AND ref = $2
      ORDER BY subscription_id`,
    [chainId, ref.toLowerCase()],
  );
  return rows.map(toSubscription);
}

/**
 * The oldest subscription with this `ref` whose terms name `merchant` (and, when given, `token`), or
 * undefined. See {@link tokenSubscriptionsByRef} for why the terms matter.
 */
export async function tokenSubscriptionByRef(
  db: Queryable,
  chainId: bigint,
  ref: string,
  terms: { merchant: string; token?: string },
): Promise<TokenSubscription | undefined> {
  return (await tokenSubscriptionsByRef(db, chainId, ref)).find(
    (s) =>
      s.merchant === terms.merchant.toLowerCase() &&
      (terms.token === undefined || s.token === terms.token.toLowerCase()),
  );
}

/**
 * The open (not cancelled on chain) subscriptions with this ref whose terms are exactly the ones this
 * server asked for (`allowCollecting`), oldest first: what still lets anyone charge the customer
 * after the API subscription is cancelled (collect is permissionless).
 */
export async function openAskedSubscriptions(
  db: Queryable,
  chainId: bigint,
  ref: string,
): Promise<TokenSubscription[]> {
  const { rows } = await db.query<SubscriptionRow>(
    `SELECT ${SUBSCRIPTION_COLUMNS} FROM token_subscriptions s
      WHERE s.chain_id = $1 AND s.ref = $2 AND NOT s.cancelled
        AND EXISTS (SELECT 1 FROM token_collect_mandates m
                     WHERE m.chain_id = s.chain_id AND m.ref = s.ref AND m.merchant = s.merchant
                       AND m.token = s.token AND m.amount_per_period = s.amount_per_period
                       AND m.interval_seconds = s.interval_seconds AND m.start_at = s.start_at)
      ORDER BY s.subscription_id`,
    [chainId, ref.toLowerCase()],
  );
  return rows.map(toSubscription);
}

/** One subscription by its on-chain id, or undefined. */
export async function tokenSubscriptionById(
  db: Queryable,
  chainId: bigint,
  id: bigint,
): Promise<TokenSubscription | undefined> {
  const { rows } = await db.query<SubscriptionRow>(
    `SELECT ${SUBSCRIPTION_COLUMNS} FROM token_subscriptions WHERE chain_id = $1 AND subscription_id = $2`,
    [chainId, id.toString()],
  );
  return rows[0] ? toSubscription(rows[0]) : undefined;
}

/** The refs of the given on-chain subscription ids (the recurring sink finds its subscriptions by ref). */
export async function refsOfTokenSubscriptions(
  db: Queryable,
  chainId: bigint,
  ids: readonly bigint[],
): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<{ ref: string }>(
    "SELECT DISTINCT ref FROM token_subscriptions WHERE chain_id = $1 AND subscription_id = ANY($2::numeric[])",
    [chainId, [...new Set(ids.map(String))]],
  );
  return rows.map((r) => r.ref);
}

/** The collected periods of every subscription with this `ref`, in chain order. */
export async function collectionsByRef(
  db: Queryable,
  chainId: bigint,
  ref: string,
): Promise<TokenSubscriptionCollection[]> {
  const { rows } = await db.query<CollectionRow>(
    `SELECT ${COLLECTION_COLUMNS} FROM token_subscription_collections WHERE chain_id = $1 AND ref = $2
      ORDER BY block_number, log_index`,
    [chainId, ref.toLowerCase()],
  );
  return rows.map(toCollection);
}

/** The collected periods of one subscription, by period. */
export async function collectionsOf(
  db: Queryable,
  chainId: bigint,
  id: bigint,
): Promise<TokenSubscriptionCollection[]> {
  const { rows } = await db.query<CollectionRow>(
    `SELECT ${COLLECTION_COLUMNS} FROM token_subscription_collections WHERE chain_id = $1 AND subscription_id = $2
      ORDER BY period`,
    [chainId, id.toString()],
  );
  return rows.map(toCollection);
}

// ---------------------------------------------------------------------------------------------
// Writes by the sink (in the indexer's transaction)
// ---------------------------------------------------------------------------------------------

/** Stores new subscriptions (idempotent: a step applied again changes nothing). */
export async function insertSubscriptions(tx: Queryable, events: readonly TokenSubscribed[]): Promise<void> {
  if (events.length === 0) return;
  const col = <T>(f: (e: TokenSubscribed) => T) => events.map(f);
  await tx.query(
    `INSERT INTO token_subscriptions (chain_id, subscription_id, contract, ref, merchant, customer, token,
       amount_per_period, interval_seconds, start_at, paid_through, block_number, block_hash, block_timestamp,
       tx_hash, log_index)
     SELECT c, i, ct, r, m, cu, t, a, iv, s, s, bn, bh, bt, th, li
       FROM unnest($1::int8[], $2::numeric[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
         $8::numeric[], $9::int8[], $10::int8[], $11::int8[], $12::text[], $13::timestamptz[], $14::text[],
         $15::int4[]) AS u(c, i, ct, r, m, cu, t, a, iv, s, bn, bh, bt, th, li)
     ON CONFLICT (chain_id, subscription_id) DO NOTHING`,
    [
      col((e) => e.chainId.toString()),
      col((e) => e.id.toString()),
      col((e) => e.contract),
      col((e) => e.ref),
      col((e) => e.merchant),
      col((e) => e.customer),
      col((e) => e.token),
      col((e) => e.amountPerPeriod.toString()),
      col((e) => e.interval.toString()),
      col((e) => e.start.toString()),
      col((e) => e.blockNumber.toString()),
      col((e) => e.blockHash),
      col((e) => e.blockTimestamp.toISOString()),
      col((e) => e.txHash),
      col((e) => e.logIndex),
    ],
  );
}

/**
 * Stores collected periods (idempotent per subscription and period) with the subscription's ref,
 * then recomputes the subscriptions they touch.
 */
export async function insertCollections(tx: Queryable, events: readonly TokenCollected[]): Promise<void> {
  if (events.length === 0) return;
  const col = <T>(f: (e: TokenCollected) => T) => events.map(f);
  await tx.query(
    `INSERT INTO token_subscription_collections (chain_id, subscription_id, ref, period, amount, paid_through,
       block_number, block_hash, block_timestamp, tx_hash, log_index)
     SELECT u.c, u.i, s.ref, u.p, u.a, u.pt, u.bn, u.bh, u.bt, u.th, u.li
       FROM unnest($1::int8[], $2::numeric[], $3::int8[], $4::numeric[], $5::int8[], $6::int8[], $7::text[],
         $8::timestamptz[], $9::text[], $10::int4[]) AS u(c, i, p, a, pt, bn, bh, bt, th, li)
       JOIN token_subscriptions s ON s.chain_id = u.c AND s.subscription_id = u.i
     ON CONFLICT (chain_id, subscription_id, period) DO NOTHING`,
    [
      col((e) => e.chainId.toString()),
      col((e) => e.id.toString()),
      col((e) => e.period.toString()),
      col((e) => e.amount.toString()),
      col((e) => e.paidThrough.toString()),
      col((e) => e.blockNumber.toString()),
      col((e) => e.blockHash),
      col((e) => e.blockTimestamp.toISOString()),
      col((e) => e.txHash),
      col((e) => e.logIndex),
    ],
  );
}

/** Marks subscriptions cancelled, with who cancelled and where. */
export async function markCancelled(tx: Queryable, events: readonly TokenCancelled[]): Promise<void> {
  for (const e of events) {
    await tx.query(
      `UPDATE token_subscriptions SET cancelled = true, cancelled_by = $3, cancelled_block = $4, cancelled_tx_hash = $5
        WHERE chain_id = $1 AND subscription_id = $2`,
      [e.chainId, e.id.toString(), e.by, e.blockNumber, e.txHash],
    );
  }
}

/**
 * Recomputes `paid_through` and `periods_collected` of these subscriptions from their stored
 * collections (the start when none remain), as the contract computes them.
 */
export async function refreshSubscriptionState(
  tx: Queryable,
  chainId: bigint,
  ids: readonly bigint[],
): Promise<void> {
  if (ids.length === 0) return;
  await tx.query(
    `UPDATE token_subscriptions s SET
       paid_through = COALESCE((SELECT max(c.paid_through) FROM token_subscription_collections c
                                 WHERE c.chain_id = s.chain_id AND c.subscription_id = s.subscription_id), s.start_at),
       periods_collected = (SELECT count(*) FROM token_subscription_collections c
                             WHERE c.chain_id = s.chain_id AND c.subscription_id = s.subscription_id)
      WHERE s.chain_id = $1 AND s.subscription_id = ANY($2::numeric[])`,
    [chainId, [...new Set(ids.map((id) => id.toString()))]],
  );
}

/**
 * A reorg: deletes the collections and subscriptions recorded past `ancestor`, reopens the
 * subscriptions whose cancellation was past it, and recomputes the state of those that remain.
 * Returns the ids touched.
 */
export async function rollbackTokenSubscriptionsPast(
  tx: Queryable,
  chainId: bigint,
  ancestor: bigint,
): Promise<bigint[]> {
  const touched = new Set<string>();
  const collections = await tx.query<{ subscription_id: string }>(
    `DELETE FROM token_subscription_collections WHERE chain_id = $1 AND block_number > $2
      RETURNING subscription_id::text`,
    [chainId, ancestor],
  );
  for (const r of collections.rows) touched.add(r.subscription_id);
  const reopened = await tx.query<{ subscription_id: string }>(
    `UPDATE token_subscriptions SET cancelled = false, cancelled_by = NULL, cancelled_block = NULL,
       cancelled_tx_hash = NULL
      WHERE chain_id = $1 AND cancelled_block > $2 RETURNING subscription_id::text`,
    [chainId, ancestor],
  );
  for (const r of reopened.rows) touched.add(r.subscription_id);
  const deleted = await tx.query<{ subscription_id: string }>(
    `DELETE FROM token_subscriptions WHERE chain_id = $1 AND block_number > $2 RETURNING subscription_id::text`,
    [chainId, ancestor],
  );
  for (const r of deleted.rows) touched.delete(r.subscription_id);
  const ids = [...touched].map((id) => BigInt(id));
  await refreshSubscriptionState(tx, chainId, ids);
  return ids;
}

/** Deletes everything of one chain (a new local chain; see server/src/runtime/reset.ts). */
export async function deleteChainTokenSubscriptions(tx: Queryable, chainId: bigint): Promise<void> {
  // The mandates go too: they belong to the API subscriptions of that chain, deleted with it.
  for (const table of [
    "token_subscription_collections",
    "token_subscriptions",
    "token_subscription_keeper",
    "token_collect_mandates",
  ]) {
    await tx.query(`DELETE FROM ${table} WHERE chain_id = $1`, [chainId]);
  }
}

// ---------------------------------------------------------------------------------------------
// The collector's bookkeeping
// ---------------------------------------------------------------------------------------------

/** A subscription the collector may try now: open, due by chain time, not backing off, asked for. */
export interface DueSubscription {
  id: bigint;
  paidThrough: bigint;
  token: string;
  amountPerPeriod: bigint;
  failures: number;
}

/**
 * The exact terms of an on-chain subscription this server asked a customer to create (a token_pull
 * subscription of one of its merchants). All lowercase hex; amounts and times as bigint.
 */
export interface CollectMandate {
  ref: string;
  /** The payee bound on chain: the merchant's payout address. */
  merchant: string;
  token: string;
  amountPerPeriod: bigint;
  /** Seconds. */
  interval: bigint;
  /** Unix seconds (never 0: the server fixes the start). */
  start: bigint;
}

/**
 * The collector may collect on-chain subscriptions with exactly these terms (and only those: anyone
 * can create an on-chain subscription, and the collector's key pays the gas). Idempotent per ref;
 * kept across reindexes.
 */
export async function allowCollecting(tx: Queryable, chainId: bigint, m: CollectMandate): Promise<void> {
  await tx.query(
    `INSERT INTO token_collect_mandates (chain_id, ref, merchant, token, amount_per_period, interval_seconds, start_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (chain_id, ref) DO NOTHING`,
    [
      chainId,
      m.ref.toLowerCase(),
      m.merchant.toLowerCase(),
      m.token.toLowerCase(),
      m.amountPerPeriod.toString(),
      m.interval.toString(),
      m.start.toString(),
    ],
  );
}

/**
 * The collector stops collecting every on-chain subscription with this ref (the merchant cancelled
 * the API subscription that owns it). Idempotent; kept across reindexes.
 */
export async function stopCollecting(tx: Queryable, chainId: bigint, ref: string): Promise<void> {
  await tx.query(
    "INSERT INTO token_collect_stops (chain_id, ref) VALUES ($1, $2) ON CONFLICT (chain_id, ref) DO NOTHING",
    [chainId, ref.toLowerCase()],
  );
}

/**
 * Open subscriptions whose next period is due at `chainTime` (unix seconds, the head block's
 * timestamp), that are not backing off at `head`, and whose terms are exactly those of a mandate
 * (`allowCollecting`) whose ref was not stopped (`stopCollecting`). Least recently attempted first
 * (never attempted before any), then most overdue: each attempt sends a subscription to the back of
 * the line, so none can take every send while others wait.
 */
export async function dueSubscriptions(
  db: Queryable,
  chainId: bigint,
  chainTime: bigint,
  head: bigint,
  limit: number,
): Promise<DueSubscription[]> {
  const { rows } = await db.query<{
    subscription_id: string;
    paid_through: string;
    token: string;
    amount_per_period: string;
    failures: number | null;
  }>(
    `SELECT s.subscription_id::text, s.paid_through::text, s.token, s.amount_per_period::text, k.failures
       FROM token_subscriptions s
       JOIN token_collect_mandates m
         ON m.chain_id = s.chain_id AND m.ref = s.ref AND m.merchant = s.merchant AND m.token = s.token
        AND m.amount_per_period = s.amount_per_period AND m.interval_seconds = s.interval_seconds
        AND m.start_at = s.start_at
       LEFT JOIN token_subscription_keeper k ON k.chain_id = s.chain_id AND k.subscription_id = s.subscription_id
      WHERE s.chain_id = $1 AND NOT s.cancelled AND s.paid_through <= $2
        AND (k.retry_block IS NULL OR k.retry_block <= $3)
        AND NOT EXISTS (SELECT 1 FROM token_collect_stops x WHERE x.chain_id = s.chain_id AND x.ref = s.ref)
      ORDER BY k.attempt_seq NULLS FIRST, s.paid_through, s.subscription_id LIMIT $4`,
    [chainId, chainTime.toString(), head, limit],
  );
  return rows.map((r) => ({
    id: BigInt(r.subscription_id),
    paidThrough: BigInt(r.paid_through),
    token: r.token,
    amountPerPeriod: BigInt(r.amount_per_period),
    failures: r.failures ?? 0,
  }));
}

/** The collector's state for one subscription, with its collect in flight as the sender follows it. */
export interface KeeperState {
  id: bigint;
  /** The sender's row of the collect in flight (outgoing_transactions), or null. */
  outgoingId: bigint | null;
  /** The collect in flight: its newest version, every version, its nonce and fees (null when none). */
  txHash: `0x${string}` | null;
  txHashes: `0x${string}`[];
  nonce: bigint | null;
  gasLimit: bigint | null;
  maxFeePerGas: bigint | null;
  maxPriorityFeePerGas: bigint | null;
  sentBlock: bigint | null;
  lastError: string | null;
  failures: number;
  retryBlock: bigint | null;
}

interface KeeperRow {
  subscription_id: string;
  outgoing_id: string | null;
  last_error: string | null;
  failures: number;
  retry_block: string | null;
}

const KEEPER_COLUMNS = "subscription_id::text, outgoing_id::text, last_error, failures, retry_block::text";

async function toKeeper(db: Queryable, r: KeeperRow): Promise<KeeperState> {
  const outgoingId = r.outgoing_id === null ? null : BigInt(r.outgoing_id);
  const t = outgoingId === null ? undefined : (await outgoingByIds(db, [outgoingId])).get(outgoingId);
  return {
    id: BigInt(r.subscription_id),
    outgoingId,
    txHash: t?.txHash ?? null,
    txHashes: t?.txHashes ?? [],
    nonce: t?.nonce ?? null,
    gasLimit: t?.gasLimit ?? null,
    maxFeePerGas: t?.maxFeePerGas ?? null,
    maxPriorityFeePerGas: t?.maxPriorityFeePerGas ?? null,
    sentBlock: t?.sentBlock ?? null,
    lastError: r.last_error,
    failures: r.failures,
    retryBlock: r.retry_block === null ? null : BigInt(r.retry_block),
  };
}

/** The collector's state for one subscription (undefined: never tried). */
export async function keeperState(
  db: Queryable,
  chainId: bigint,
  id: bigint,
): Promise<KeeperState | undefined> {
  const { rows } = await db.query<KeeperRow>(
    `SELECT ${KEEPER_COLUMNS} FROM token_subscription_keeper WHERE chain_id = $1 AND subscription_id = $2`,
    [chainId, id.toString()],
  );
  return rows[0] ? toKeeper(db, rows[0]) : undefined;
}

/**
 * The collect in flight on this chain, if any (the collector sends one at a time): the subscription
 * and the sender's row of its transaction.
 */
export async function collectInFlight(
  db: Queryable,
  chainId: bigint,
): Promise<{ id: bigint; outgoingId: bigint; failures: number } | undefined> {
  const { rows } = await db.query<KeeperRow>(
    `SELECT ${KEEPER_COLUMNS} FROM token_subscription_keeper WHERE chain_id = $1 AND outgoing_id IS NOT NULL
      ORDER BY outgoing_id LIMIT 1`,
    [chainId],
  );
  const r = rows[0];
  return r
    ? { id: BigInt(r.subscription_id), outgoingId: BigInt(r.outgoing_id as string), failures: r.failures }
    : undefined;
}

/**
 * Records a collect sent: in the database transaction in which the sender records it (before it is
 * broadcast), so a crash in between cannot lose track of it. Each attempt goes to the back of the line.
 */
export async function recordCollectSent(
  db: Queryable,
  chainId: bigint,
  id: bigint,
  outgoingId: bigint,
): Promise<void> {
  await db.query(
    `INSERT INTO token_subscription_keeper (chain_id, subscription_id, outgoing_id, attempt_seq)
     VALUES ($1, $2, $3, nextval('token_collect_attempt_seq'))
     ON CONFLICT (chain_id, subscription_id) DO UPDATE
       SET outgoing_id = EXCLUDED.outgoing_id, attempt_seq = EXCLUDED.attempt_seq, updated_at = now()`,
    [chainId, id.toString(), outgoingId],
  );
}

/** The collect in flight is done (mined and indexed): success clears the error and the back-off. */
export async function recordCollectDone(db: Queryable, chainId: bigint, id: bigint): Promise<void> {
  await db.query(
    `UPDATE token_subscription_keeper SET outgoing_id = NULL, last_error = NULL, failures = 0, retry_block = NULL,
       updated_at = now()
      WHERE chain_id = $1 AND subscription_id = $2`,
    [chainId, id.toString()],
  );
}

/**
 * A failure (a simulation that reverts, a send refused, a collect reverted or replaced): the error,
 * one more consecutive failure when `counts`, and no new attempt before `retryBlock`.
 */
export async function recordCollectFailure(
  db: Queryable,
  chainId: bigint,
  id: bigint,
  failure: { error: string; retryBlock: bigint; counts: boolean },
): Promise<void> {
  await db.query(
    `INSERT INTO token_subscription_keeper (chain_id, subscription_id, last_error, failures, retry_block, attempt_seq)
     VALUES ($1, $2, $3, CASE WHEN $5 THEN 1 ELSE 0 END, $4, nextval('token_collect_attempt_seq'))
     ON CONFLICT (chain_id, subscription_id) DO UPDATE
       SET outgoing_id = NULL, last_error = EXCLUDED.last_error,
           failures = token_subscription_keeper.failures + CASE WHEN $5 THEN 1 ELSE 0 END,
           retry_block = EXCLUDED.retry_block, attempt_seq = EXCLUDED.attempt_seq, updated_at = now()`,
    [chainId, id.toString(), failure.error, failure.retryBlock, failure.counts],
  );
}
