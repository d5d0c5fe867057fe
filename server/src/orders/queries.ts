import type { Queryable } from "../db/types.ts";
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

/** Public reads by order id (the pay page and its QR code), bound to one database. */
export function createOrderReader(db: Queryable) {
  return { order: (id: bigint) => findOrder(db, id) };
}
