import type { Queryable } from "../db/types.ts";
import type { DateRange } from "../lib/range.ts";
import type { OrderRow } from "./serialize.ts";
import type { OrderStatus } from "./state.ts";

/**
 * Read-only order queries for the pay page, the account pages and the callbacks API. They take
 * any Queryable, so a caller can run them inside its own transaction.
 */

/** An order by id, whoever owns it (the pay page: the id is the capability). */
export async function findOrder(db: Queryable, id: bigint): Promise<OrderRow | undefined> {
  const { rows } = await db.query<OrderRow>("SELECT * FROM orders WHERE id = $1", [id]);
  return rows[0];
}

/** Whether an order exists and which merchant owns it (null for an anonymous order). */
export async function orderOwner(
  db: Queryable,
  id: bigint,
): Promise<{ merchantId: bigint | null } | undefined> {
  const { rows } = await db.query<{ merchant_id: bigint | null }>(
    "SELECT merchant_id FROM orders WHERE id = $1",
    [id],
  );
  return rows[0] ? { merchantId: rows[0].merchant_id } : undefined;
}

/** The callback URL of the merchant's latest order (the one its integration uses now), if any. */
export async function latestCallbackUrl(db: Queryable, merchantId: bigint): Promise<string | undefined> {
  const { rows } = await db.query<{ callback: string }>(
    "SELECT callback FROM orders WHERE merchant_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
    [merchantId],
  );
  return rows[0]?.callback;
}

export interface StatusTotal {
  status: OrderStatus;
  count: bigint;
  usdCents: bigint;
}

/** A merchant's order count and USD total (cents) per status. */
export async function merchantStatusTotals(db: Queryable, merchantId: bigint): Promise<StatusTotal[]> {
  const { rows } = await db.query<{ status: OrderStatus; count: bigint; cents: string }>(
    "SELECT status, count(*)::int8 AS count, COALESCE(sum(usd_cents), 0)::text AS cents FROM orders WHERE merchant_id = $1 GROUP BY status",
    [merchantId],
  );
  return rows.map((r) => ({ status: r.status, count: r.count, usdCents: BigInt(r.cents) }));
}

/** Every status of the order life cycle, in its order (a status with no order still has a count: 0). */
export const ORDER_STATUSES: readonly OrderStatus[] = [
  "pending",
  "success",
  "complete",
  "expired",
  "refunded",
];

export interface ChainStatusCount {
  chainId: bigint;
  status: OrderStatus;
  count: bigint;
}

/** The number of orders in each status, per chain (the operator's /metrics), statuses with none left out. */
export async function orderCountsByStatus(db: Queryable): Promise<ChainStatusCount[]> {
  const { rows } = await db.query<{ chain_id: bigint; status: OrderStatus; count: bigint }>(
    "SELECT chain_id, status, count(*)::int8 AS count FROM orders GROUP BY chain_id, status",
  );
  return rows.map((r) => ({ chainId: BigInt(r.chain_id), status: r.status, count: BigInt(r.count) }));
}

/** Orders a merchant created today (UTC), as counted against its plan's daily limit. */
export async function merchantOrdersToday(db: Queryable, merchantId: bigint): Promise<bigint> {
  const { rows } = await db.query<{ count: bigint }>(
    "SELECT count::int8 AS count FROM merchant_daily_orders WHERE merchant_id = $1 AND day = (now() AT TIME ZONE 'UTC')::date",
    [merchantId],
  );
  return rows[0]?.count ?? 0n;
}

/** Rows per page of an export read: a large export streams page by page, never all at once. */
export const EXPORT_PAGE_SIZE = 1_000;

/**
 * A merchant's orders created in `range`, oldest first, one page at a time (keyset on
 * created_at and id, which the merchant's history index serves).
 */
export async function* merchantOrdersForExport(
  db: Queryable,
  merchantId: bigint,
  range: DateRange,
  pageSize = EXPORT_PAGE_SIZE,
): AsyncGenerator<OrderRow[]> {
  let after: { createdAt: Date; id: bigint } | null = null;
  for (;;) {
    const page: { rows: OrderRow[] } = await db.query<OrderRow>(
      `SELECT * FROM orders
        WHERE merchant_id = $1
          AND ($2::timestamptz IS NULL OR created_at >= $2) AND ($3::timestamptz IS NULL OR created_at < $3)
          AND ($4::timestamptz IS NULL OR (created_at, id) > ($4, $5::int8))
        ORDER BY created_at, id LIMIT $6`,
      [merchantId, range.from, range.to, after?.createdAt ?? null, after?.id ?? null, pageSize],
    );
    if (page.rows.length > 0) yield page.rows;
    const last = page.rows.at(-1);
    if (!last || page.rows.length < pageSize) return;
    after = { createdAt: last.created_at, id: last.id };
  }
}

/** The USD rate an order locked: `price / 10^priceDecimals` USD per whole token, when it was made. */
export interface LockedRate {
  orderId: bigint;
  price: bigint;
  priceDecimals: number;
  lockedAt: Date;
}

type RateRow = { id: bigint; price: string; price_decimals: number; created_at: Date };
const rateOf = (r: RateRow): LockedRate => ({
  orderId: r.id,
  price: BigInt(r.price),
  priceDecimals: r.price_decimals,
  lockedAt: r.created_at,
});

/** The locked rates of these orders, by id; orders of other merchants are left out. */
export async function merchantOrderRates(
  db: Queryable,
  merchantId: bigint,
  ids: readonly bigint[],
): Promise<Map<bigint, LockedRate>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<RateRow>(
    "SELECT id, price::text AS price, price_decimals, created_at FROM orders WHERE merchant_id = $1 AND id = ANY($2::int8[])",
    [merchantId, [...new Set(ids)].map(String)],
  );
  return new Map(rows.map((r) => [r.id, rateOf(r)]));
}

/** The locked rates of the merchant's orders paid through these deposit addresses of a chain, by address. */
export async function merchantOrderRatesByDepositAddress(
  db: Queryable,
  merchantId: bigint,
  chainId: bigint,
  addresses: readonly string[],
): Promise<Map<string, LockedRate>> {
  if (addresses.length === 0) return new Map();
  const { rows } = await db.query<RateRow & { deposit_address: string }>(
    `SELECT id, price::text AS price, price_decimals, created_at, deposit_address FROM orders
      WHERE chain_id = $1 AND deposit_address = ANY($2::text[]) AND merchant_id = $3`,
    [chainId, [...new Set(addresses.map((a) => a.toLowerCase()))], merchantId],
  );
  return new Map(rows.map((r) => [r.deposit_address, rateOf(r)]));
}

/** A question for nearestEarlierQuotes: money that moved on a chain in a token at a time. */
export interface QuoteAsk {
  chainId: bigint;
  token: string;
  at: Date;
}

/**
 * For each ask, the rate of the merchant's newest order on that chain and token made at or before
 * its time: the nearest earlier quote, for money that moved without an order of the merchant (a
 * withdrawal). Only the merchant's own orders are read, so no other account's order or its timing
 * shows. Block times are whole seconds, so an order made during the block's second counts as
 * earlier. One query for all the asks; undefined where there is no such order.
 */
export async function nearestEarlierQuotes(
  db: Queryable,
  merchantId: bigint,
  asks: readonly QuoteAsk[],
): Promise<(LockedRate | undefined)[]> {
  if (asks.length === 0) return [];
  const { rows } = await db.query<RateRow & { i: string }>(
    `SELECT q.i::text AS i, o.id, o.price::text AS price, o.price_decimals, o.created_at
       FROM unnest($2::int8[], $3::text[], $4::timestamptz[]) WITH ORDINALITY AS q(chain_id, token, at, i)
       JOIN LATERAL (SELECT id, price, price_decimals, created_at FROM orders
                      WHERE merchant_id = $1 AND chain_id = q.chain_id AND token = q.token
                        AND created_at < q.at + interval '1 second'
                      ORDER BY created_at DESC, id DESC LIMIT 1) o ON true`,
    [
      merchantId,
      asks.map((a) => a.chainId.toString()),
      asks.map((a) => a.token.toLowerCase()),
      asks.map((a) => a.at.toISOString()),
    ],
  );
  const found = new Map(rows.map((r) => [Number(r.i), rateOf(r)]));
  return asks.map((_, i) => found.get(i + 1));
}

/** Public reads by order id (the pay page and its QR code), bound to one database. */
export function createOrderReader(db: Queryable) {
  return { order: (id: bigint) => findOrder(db, id) };
}

/** What one coin brought in one UTC day: exact sums (coin units; the orders' currency amount). */
export interface DailyIncome {
  /** yyyy-mm-dd, UTC. */
  day: string;
  chainId: bigint;
  /** Token address, lowercase (the zero address for ETH). */
  token: string;
  tokenSymbol: string;
  tokenDecimals: number;
  /** Paid, in the token's smallest unit. */
  amount: bigint;
  /** The orders' currency amounts added up, a decimal string ("12.50"). */
  value: string;
  orders: bigint;
}

/** The statuses of an order whose payment the merchant keeps: paid, confirming or confirmed. */
const INCOME_STATUSES = ["success", "complete"];

/**
 * A merchant's income per UTC day and coin: orders paid (success or complete) created in
 * [from, to), their payments and currency amounts summed as numeric (exact), by day of creation.
 */
export async function merchantIncomeByDay(
  db: Queryable,
  merchantId: bigint,
  from: Date,
  to: Date,
): Promise<DailyIncome[]> {
  const { rows } = await db.query<{
    day: string;
    chain_id: bigint;
    token: string;
    token_symbol: string;
    token_decimals: number;
    amount: string;
    value: string;
    orders: bigint;
  }>(
    `SELECT to_char((created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day, chain_id, lower(token) AS token,
            token_symbol, token_decimals, sum(amount_paid)::text AS amount,
            sum(currency_amount::numeric)::text AS value, count(*)::int8 AS orders
       FROM orders
      WHERE merchant_id = $1 AND status = ANY($2::text[]) AND created_at >= $3 AND created_at < $4
      GROUP BY 1, chain_id, lower(token), token_symbol, token_decimals
      ORDER BY 1, chain_id, lower(token)`,
    [merchantId, INCOME_STATUSES, from, to],
  );
  return rows.map((r) => ({
    day: r.day,
    chainId: BigInt(r.chain_id),
    token: r.token,
    tokenSymbol: r.token_symbol,
    tokenDecimals: r.token_decimals,
    amount: BigInt(r.amount),
    value: r.value,
    orders: BigInt(r.orders),
  }));
}

/** The currency total (exact decimal string) and count of a merchant's paid orders created in [from, to). */
export async function merchantIncomeTotal(
  db: Queryable,
  merchantId: bigint,
  from: Date,
  to: Date,
): Promise<{ value: string; orders: bigint }> {
  const { rows } = await db.query<{ value: string; orders: bigint }>(
    `SELECT COALESCE(sum(currency_amount::numeric), 0)::text AS value, count(*)::int8 AS orders
       FROM orders
      WHERE merchant_id = $1 AND status = ANY($2::text[]) AND created_at >= $3 AND created_at < $4`,
    [merchantId, INCOME_STATUSES, from, to],
  );
  return { value: rows[0]?.value ?? "0", orders: BigInt(rows[0]?.orders ?? 0n) };
}

/** A merchant's orders still waiting for payment (pending, not yet expired): how many, and the newest `limit`. */
export async function merchantWaitingOrders(
  db: Queryable,
  merchantId: bigint,
  now: Date,
  limit: number,
): Promise<{ count: bigint; orders: OrderRow[] }> {
  const count = await db.query<{ n: bigint }>(
    "SELECT count(*)::int8 AS n FROM orders WHERE merchant_id = $1 AND status = 'pending' AND expires_at > $2",
    [merchantId, now],
  );
  const { rows } = await db.query<OrderRow>(
    `SELECT * FROM orders WHERE merchant_id = $1 AND status = 'pending' AND expires_at > $2
      ORDER BY created_at DESC, id DESC LIMIT $3`,
    [merchantId, now, limit],
  );
  return { count: BigInt(count.rows[0]?.n ?? 0n), orders: rows };
}
