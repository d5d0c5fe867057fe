import type { Queryable } from "../db/types.ts";
import type { DateRange } from "../lib/range.ts";
import type { Interval } from "./schedule.ts";
import type { PeriodState, RecurringStatus } from "./state.ts";

/** Every statement on `subscriptions` and `subscription_periods` (migration 090). */

export interface SubscriptionRow {
  id: bigint;
  merchant_id: bigint;
  chain_id: bigint;
  method: "deposit" | "token_pull";
  token: string;
  token_symbol: string;
  token_decimals: number;
  usd_cents: bigint;
  interval: Interval;
  starts_at: Date;
  merchant_address: string;
  callback: string;
  item_title: string | null;
  item_description: string | null;
  item_image: string | null;
  reference: string;
  deposit_address: string;
  page_token: string;
  status: RecurringStatus;
  paid_through: Date;
  shown_index: number;
  credit: string;
  credit_block: bigint | null;
  next_check_at: Date | null;
  cancelled_at: Date | null;
  created_at: Date;
}

export interface PeriodRow {
  subscription_id: bigint;
  index: number;
  starts_at: Date;
  ends_at: Date;
  opens_at: Date;
  opened_at: Date;
  price: string;
  price_decimals: number;
  expected_amount: string;
  paid_amount: string;
  paid_at: Date | null;
  paid_block: bigint | null;
  transaction_id: string | null;
  reminded_at: Date | null;
}

const SUBSCRIPTION_COLUMNS = `id, merchant_id, chain_id, method, token, token_symbol, token_decimals, usd_cents, interval,
  starts_at, merchant_address, callback, item_title, item_description, item_image, reference, deposit_address,
  page_token, status, paid_through, shown_index, credit::text AS credit, credit_block, next_check_at, cancelled_at, created_at`;
const PERIOD_COLUMNS = `subscription_id, index, starts_at, ends_at, opens_at, opened_at, price::text AS price,
  price_decimals, expected_amount::text AS expected_amount, paid_amount::text AS paid_amount, paid_at, paid_block,
  transaction_id, reminded_at`;

export interface NewSubscription {
  merchantId: bigint;
  chainId: bigint;
  method: "deposit" | "token_pull";
  token: string;
  tokenSymbol: string;
  tokenDecimals: number;
  usdCents: bigint;
  interval: Interval;
  startsAt: Date;
  merchantAddress: string;
  callback: string;
  itemTitle: string | null;
  itemDescription: string | null;
  itemImage: string | null;
  reference: string;
  depositAddress: string;
  pageToken: string;
  createdAt: Date;
}

export async function insertSubscription(tx: Queryable, s: NewSubscription): Promise<SubscriptionRow> {
  const { rows } = await tx.query<SubscriptionRow>(
    `INSERT INTO subscriptions (merchant_id, chain_id, method, token, token_symbol, token_decimals, usd_cents, interval,
       starts_at, merchant_address, callback, item_title, item_description, item_image, reference, deposit_address,
       page_token, paid_through, next_check_at, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $9, $18, $18)
     RETURNING ${SUBSCRIPTION_COLUMNS}`,
    [
      s.merchantId,
      s.chainId,
      s.method,
      s.token,
      s.tokenSymbol,
      s.tokenDecimals,
      s.usdCents,
      s.interval,
      s.startsAt,
      s.merchantAddress.toLowerCase(),
      s.callback,
      s.itemTitle,
      s.itemDescription,
      s.itemImage,
      s.reference.toLowerCase(),
      s.depositAddress.toLowerCase(),
      s.pageToken,
      s.createdAt,
    ],
  );
  const row = rows[0];
  if (!row) throw new Error("insertSubscription: no row");
  return row;
}

export interface NewPeriod {
  index: number;
  startsAt: Date;
  endsAt: Date;
  opensAt: Date;
  openedAt: Date;
  price: bigint;
  priceDecimals: number;
  expectedAmount: bigint;
}

/** Opens a period (locks its rate); idempotent per subscription and index. */
export async function insertPeriod(tx: Queryable, subscriptionId: bigint, p: NewPeriod): Promise<void> {
  await tx.query(
    `INSERT INTO subscription_periods (subscription_id, index, starts_at, ends_at, opens_at, opened_at, price,
       price_decimals, expected_amount)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
    [
      subscriptionId,
      p.index,
      p.startsAt,
      p.endsAt,
      p.opensAt,
      p.openedAt,
      p.price.toString(),
      p.priceDecimals,
      p.expectedAmount.toString(),
    ],
  );
}

/**
 * Serializes subscription creation per merchant for the rest of the transaction, so two
 * concurrent requests cannot both pass the plugin's cap.
 */
export async function lockMerchantSubscriptions(tx: Queryable, merchantId: bigint): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock(hashtextextended('ethpos.recurring:' || $1::text, 0))", [
    merchantId.toString(),
  ]);
}

/** Subscriptions that count toward the plugin's cap: not cancelled and not expired. */
export async function countLiveSubscriptions(tx: Queryable, merchantId: bigint): Promise<number> {
  const { rows } = await tx.query<{ count: bigint }>(
    `SELECT count(*)::int8 AS count FROM subscriptions
      WHERE merchant_id = $1 AND cancelled_at IS NULL AND status <> 'expired'`,
    [merchantId],
  );
  return Number(rows[0]?.count ?? 0n);
}

export async function findSubscription(db: Queryable, id: bigint): Promise<SubscriptionRow | undefined> {
  const { rows } = await db.query<SubscriptionRow>(
    `SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1`,
    [id],
  );
  return rows[0];
}

export async function findSubscriptionByPageToken(
  db: Queryable,
  token: string,
): Promise<SubscriptionRow | undefined> {
  const { rows } = await db.query<SubscriptionRow>(
    `SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE page_token = $1`,
    [token],
  );
  return rows[0];
}

/** A merchant's subscriptions, newest first (keyset on id), optionally of one status. */
export async function listSubscriptions(
  db: Queryable,
  merchantId: bigint,
  options: { status?: RecurringStatus | undefined; limit: number; beforeId?: bigint | undefined },
): Promise<SubscriptionRow[]> {
  const { rows } = await db.query<SubscriptionRow>(
    `SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions
      WHERE merchant_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::int8 IS NULL OR id < $3)
      ORDER BY id DESC LIMIT $4`,
    [merchantId, options.status ?? null, options.beforeId ?? null, options.limit],
  );
  return rows;
}

export async function periodsOf(db: Queryable, ids: readonly bigint[]): Promise<Map<bigint, PeriodRow[]>> {
  const result = new Map<bigint, PeriodRow[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return result;
  const { rows } = await db.query<PeriodRow>(
    `SELECT ${PERIOD_COLUMNS} FROM subscription_periods WHERE subscription_id = ANY($1::int8[])
      ORDER BY subscription_id, index`,
    [ids.map(String)],
  );
  for (const r of rows) result.get(r.subscription_id)?.push(r);
  return result;
}

/** Locks the given subscriptions (in id order, so two writers never deadlock) and returns them. */
export async function lockSubscriptions(tx: Queryable, ids: readonly bigint[]): Promise<SubscriptionRow[]> {
  if (ids.length === 0) return [];
  const { rows } = await tx.query<SubscriptionRow>(
    `SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ANY($1::int8[]) ORDER BY id FOR UPDATE`,
    [[...new Set(ids)].map(String)],
  );
  return rows;
}

/**
 * The references (bytes32 hex, lowercase) of every subscription on a chain that pays one of these
 * merchant addresses, whatever its method or status: payments carrying them belong to a
 * subscription, not to an order.
 */
export async function subscriptionReferences(
  db: Queryable,
  chainId: bigint,
  merchantAddresses: readonly string[],
): Promise<string[]> {
  if (merchantAddresses.length === 0) return [];
  const { rows } = await db.query<{ reference: string }>(
    "SELECT reference FROM subscriptions WHERE chain_id = $1 AND merchant_address = ANY($2::text[])",
    [chainId, [...new Set(merchantAddresses.map((a) => a.toLowerCase()))]],
  );
  return rows.map((r) => r.reference);
}

/** The subscriptions paid through the given deposit addresses of a chain. */
export async function subscriptionsByDepositAddress(
  tx: Queryable,
  chainId: bigint,
  addresses: readonly string[],
): Promise<bigint[]> {
  if (addresses.length === 0) return [];
  const { rows } = await tx.query<{ id: bigint }>(
    "SELECT id FROM subscriptions WHERE chain_id = $1 AND deposit_address = ANY($2::text[])",
    [chainId, [...new Set(addresses.map((a) => a.toLowerCase()))]],
  );
  return rows.map((r) => r.id);
}

/** The token_pull subscriptions of a chain with these references (bytes32 hex). */
export async function tokenPullSubscriptionsByReference(
  tx: Queryable,
  chainId: bigint,
  references: readonly string[],
): Promise<bigint[]> {
  if (references.length === 0) return [];
  const { rows } = await tx.query<{ id: bigint }>(
    "SELECT id FROM subscriptions WHERE chain_id = $1 AND method = 'token_pull' AND reference = ANY($2::text[])",
    [chainId, [...new Set(references.map((r) => r.toLowerCase()))]],
  );
  return rows.map((r) => r.id);
}

/** Subscriptions of a chain with a credit past `block` (a reorg's ancestor): their credits may be gone. */
export async function subscriptionsCreditedAfter(
  tx: Queryable,
  chainId: bigint,
  block: bigint,
): Promise<bigint[]> {
  const { rows } = await tx.query<{ id: bigint }>(
    "SELECT id FROM subscriptions WHERE chain_id = $1 AND credit_block > $2",
    [chainId, block],
  );
  return rows.map((r) => r.id);
}

/**
 * Subscriptions whose state the clock alone changes by `now` (or whose next period must open),
 * locked and skipping those another transaction holds: any number of schedulers may run.
 */
export async function lockDueSubscriptions(
  tx: Queryable,
  now: Date,
  limit: number,
  /** Already handled in this pass (one whose period could not open stays due). */
  exclude: readonly bigint[] = [],
): Promise<SubscriptionRow[]> {
  const { rows } = await tx.query<SubscriptionRow>(
    `SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE next_check_at <= $1 AND NOT (id = ANY($3::int8[]))
      ORDER BY next_check_at, id LIMIT $2 FOR UPDATE SKIP LOCKED`,
    [now, limit, exclude.map(String)],
  );
  return rows;
}

/** Chains with at least one subscription due by `now` (before reading prices for them). */
export async function chainsWithDueSubscriptions(db: Queryable, now: Date): Promise<bigint[]> {
  const { rows } = await db.query<{ chain_id: bigint }>(
    "SELECT DISTINCT chain_id FROM subscriptions WHERE next_check_at <= $1",
    [now],
  );
  return rows.map((r) => r.chain_id);
}

export interface SubscriptionStateUpdate {
  status: RecurringStatus;
  paidThrough: Date;
  shownIndex: number;
  credit: bigint;
  creditBlock: bigint | null;
  nextCheckAt: Date | null;
}

export async function saveSubscriptionState(
  tx: Queryable,
  id: bigint,
  s: SubscriptionStateUpdate,
): Promise<void> {
  await tx.query(
    `UPDATE subscriptions SET status = $2, paid_through = $3, credit = $4, credit_block = $5, next_check_at = $6,
       shown_index = $7
      WHERE id = $1`,
    [id, s.status, s.paidThrough, s.credit.toString(), s.creditBlock, s.nextCheckAt, s.shownIndex],
  );
}

export async function savePeriodStates(
  tx: Queryable,
  subscriptionId: bigint,
  periods: readonly PeriodState[],
): Promise<void> {
  if (periods.length === 0) return;
  await tx.query(
    `UPDATE subscription_periods p SET paid_amount = u.paid_amount, paid_at = u.paid_at, paid_block = u.paid_block,
       transaction_id = u.transaction_id
       FROM unnest($2::int4[], $3::numeric[], $4::timestamptz[], $5::int8[], $6::text[])
         AS u (index, paid_amount, paid_at, paid_block, transaction_id)
      WHERE p.subscription_id = $1 AND p.index = u.index`,
    [
      subscriptionId,
      periods.map((p) => p.index),
      periods.map((p) => p.paidAmount.toString()),
      periods.map((p) => p.paidAt?.toISOString() ?? null),
      periods.map((p) => p.paidBlock?.toString() ?? null),
      periods.map((p) => p.transactionId),
    ],
  );
}

export async function markReminded(
  tx: Queryable,
  subscriptionId: bigint,
  index: number,
  at: Date,
): Promise<void> {
  await tx.query(
    "UPDATE subscription_periods SET reminded_at = $3 WHERE subscription_id = $1 AND index = $2",
    [subscriptionId, index, at],
  );
}

/**
 * Cancels a subscription at `at` (once; a second cancel keeps the first time) and drops the open
 * periods that would start at or after it: they are no longer owed.
 */
export async function cancelSubscriptionRow(tx: Queryable, id: bigint, at: Date): Promise<void> {
  await tx.query("UPDATE subscriptions SET cancelled_at = COALESCE(cancelled_at, $2) WHERE id = $1", [
    id,
    at,
  ]);
  await tx.query(
    `DELETE FROM subscription_periods p USING subscriptions s
      WHERE p.subscription_id = $1 AND s.id = p.subscription_id AND p.starts_at >= s.cancelled_at`,
    [id],
  );
}

/** Forgets the subscriptions of a chain (a new local dev chain); their periods go with them. */
/** The ids of a chain's subscriptions. */
export async function chainSubscriptionIds(tx: Queryable, chainId: bigint): Promise<bigint[]> {
  const { rows } = await tx.query<{ id: bigint }>("SELECT id FROM subscriptions WHERE chain_id = $1", [
    chainId,
  ]);
  return rows.map((r) => r.id);
}

export async function deleteChainSubscriptions(tx: Queryable, chainId: bigint): Promise<void> {
  await tx.query("DELETE FROM subscriptions WHERE chain_id = $1", [chainId]);
}

/** A subscription period with its subscription's terms, as the exports list it (docs/exports.md). */
export interface PeriodExportRow {
  subscription: Pick<
    SubscriptionRow,
    | "id"
    | "chain_id"
    | "method"
    | "token"
    | "token_symbol"
    | "token_decimals"
    | "usd_cents"
    | "interval"
    | "merchant_address"
    | "deposit_address"
    | "item_title"
  >;
  period: Omit<PeriodRow, "reminded_at" | "opens_at">;
}

type PeriodExportDbRow = PeriodExportRow["subscription"] & Omit<PeriodRow, "reminded_at" | "opens_at">;

/**
 * The periods of a merchant's subscriptions due in `range` (their start), oldest first, one page
 * at a time (keyset on the due date, subscription and period index). A period has a row once it
 * opened and locked its rate.
 */
export async function* merchantPeriodsForExport(
  db: Queryable,
  merchantId: bigint,
  range: DateRange,
  pageSize = 1_000,
): AsyncGenerator<PeriodExportRow[]> {
  let after: { startsAt: Date; id: bigint; index: number } | null = null;
  for (;;) {
    const page: { rows: PeriodExportDbRow[] } = await db.query<PeriodExportDbRow>(
      `SELECT s.id, s.chain_id, s.method, s.token, s.token_symbol, s.token_decimals, s.usd_cents, s.interval,
              s.merchant_address, s.deposit_address, s.item_title,
              p.subscription_id, p.index, p.starts_at, p.ends_at, p.opened_at, p.price::text AS price, p.price_decimals,
              p.expected_amount::text AS expected_amount, p.paid_amount::text AS paid_amount, p.paid_at, p.paid_block,
              p.transaction_id
         FROM subscription_periods p JOIN subscriptions s ON s.id = p.subscription_id
        WHERE s.merchant_id = $1
          AND ($2::timestamptz IS NULL OR p.starts_at >= $2) AND ($3::timestamptz IS NULL OR p.starts_at < $3)
          AND ($4::timestamptz IS NULL OR (p.starts_at, p.subscription_id, p.index) > ($4, $5::int8, $6::int4))
        ORDER BY p.starts_at, p.subscription_id, p.index LIMIT $7`,
      [
        merchantId,
        range.from,
        range.to,
        after?.startsAt ?? null,
        after?.id ?? null,
        after?.index ?? null,
        pageSize,
      ],
    );
    if (page.rows.length > 0) {
      yield page.rows.map((r) => ({
        subscription: {
          id: r.id,
          chain_id: r.chain_id,
          method: r.method,
          token: r.token,
          token_symbol: r.token_symbol,
          token_decimals: r.token_decimals,
          usd_cents: r.usd_cents,
          interval: r.interval,
          merchant_address: r.merchant_address,
          deposit_address: r.deposit_address,
          item_title: r.item_title,
        },
        period: {
          subscription_id: r.subscription_id,
          index: r.index,
          starts_at: r.starts_at,
          ends_at: r.ends_at,
          opened_at: r.opened_at,
          price: r.price,
          price_decimals: r.price_decimals,
          expected_amount: r.expected_amount,
          paid_amount: r.paid_amount,
          paid_at: r.paid_at,
          paid_block: r.paid_block,
          transaction_id: r.transaction_id,
        },
      }));
    }
    const last = page.rows.at(-1);
    if (!last || page.rows.length < pageSize) return;
    after = { startsAt: last.starts_at, id: last.subscription_id, index: last.index };
  }
}

/**
 * A merchant's subscriptions with a payment due soon or late (upcoming or pending, not cancelled),
 * the soonest first.
 */
export async function subscriptionsDueSoon(
  db: Queryable,
  merchantId: bigint,
  limit: number,
): Promise<SubscriptionRow[]> {
  const { rows } = await db.query<SubscriptionRow>(
    `SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions
      WHERE merchant_id = $1 AND cancelled_at IS NULL AND status IN ('upcoming', 'pending')
      ORDER BY paid_through, id LIMIT $2`,
    [merchantId, limit],
  );
  return rows;
}
