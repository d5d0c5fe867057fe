import type { Queryable } from "../db/types.ts";
import type { OrderRow } from "./serialize.ts";
import type { OrderStatus } from "./state.ts";

/**
 * Every statement on the `orders` table for the order write path. Nothing outside server/src/orders
 * runs SQL on orders for these; routes and services call through here.
 */

/** The columns of a new order, in the order of INSERT_ORDER. */
export interface NewOrder {
  id: bigint;
  merchantId: bigint | null;
  chainId: bigint;
  payTo: string;
  /** The order's deposit address (lowercase), or null for an order paid through the contract only. */
  depositAddress?: string | null;
  /** The on-chain reference (bytes32 hex), random: see ids.ts `newOrderReference`. */
  reference: string;
  merchantAddress: string;
  token: string;
  tokenSymbol: string;
  tokenDecimals: number;
  currencyAmount: string;
  usdCents: bigint;
  expectedAmount: bigint;
  price: bigint;
  priceDecimals: number;
  /** Where the price came from: "feed", "static" or "peg" (service.ts, PriceSourceKind). */
  priceSource?: string | null;
  callback: string;
  itemTitle: string | null;
  itemDescription: string | null;
  itemImage: string | null;
  /** Where the payment page sends the customer once paid; null: nowhere. */
  returnUrl?: string | null;
  /** The terminal key that created it at the point of sale; null otherwise. */
  terminalKeyId?: bigint | null;
  ttlSeconds: number;
  /** The fiat currency of `currencyAmount` (ISO 4217, lower case); default usd. */
  currency?: string;
  /** The locked USD rate of one unit of `currency` (fiatRate / 10^fiatRateDecimals); USD: 1. */
  fiatRate?: bigint;
  fiatRateDecimals?: number;
  /** Where the fiat rate came from (a rate source's name); null for USD. */
  fiatRateSource?: string | null;
}

const INSERT_ORDER = `INSERT INTO orders (id, merchant_id, chain_id, pay_to, merchant_address, token, token_symbol,
  token_decimals, currency_amount, usd_cents, expected_amount, price, price_decimals, callback, item_title,
  item_description, item_image, expires_at, deposit_address, reference, return_url, terminal_key_id, price_source,
  currency, fiat_rate, fiat_rate_decimals, fiat_rate_source)`;
const ORDER_VALUES = `$1::int8, $2::int8, $3::int8, $4::text, $5::text, $6::text, $7::text, $8::int4, $9::text,
  $10::int8, $11::numeric, $12::numeric, $13::int4, $14::text, $15::text, $16::text, $17::text,
  now() + make_interval(secs => $18::float8), $19::text, $20::text, $21::text, $22::int8, $23::text,
  $24::text, $25::numeric, $26::int4, $27::text`;

const orderParams = (o: NewOrder) => [
  o.id,
  o.merchantId,
  o.chainId,
  o.payTo,
  o.merchantAddress,
  o.token,
  o.tokenSymbol,
  o.tokenDecimals,
  o.currencyAmount,
  o.usdCents,
  o.expectedAmount.toString(),
  o.price.toString(),
  o.priceDecimals,
  o.callback,
  o.itemTitle,
  o.itemDescription,
  o.itemImage,
  o.ttlSeconds,
  o.depositAddress ?? null,
  o.reference,
  o.returnUrl ?? null,
  o.terminalKeyId ?? null,
  o.priceSource ?? null,
  o.currency ?? "usd",
  (o.fiatRate ?? 1n).toString(),
  o.fiatRateDecimals ?? 0,
  o.fiatRateSource ?? null,
];

/** Inserts an order; a primary-key collision surfaces as the driver's unique violation (23505). */
export async function insertOrder(db: Queryable, order: NewOrder): Promise<OrderRow> {
  const { rows } = await db.query<OrderRow>(
    `${INSERT_ORDER} VALUES (${ORDER_VALUES}) RETURNING *`,
    orderParams(order),
  );
  return rows[0] as OrderRow;
}

/**
 * Inserts a merchant's order and takes one of its daily slots in one statement (one round trip,
 * no explicit transaction). Returns undefined, inserting nothing, when the day's `dailyLimit`
 * slots are taken.
 */
export async function insertOrderWithDailySlot(
  db: Queryable,
  order: NewOrder & { merchantId: bigint },
  dailyLimit: number,
): Promise<OrderRow | undefined> {
  const { rows } = await db.query<OrderRow>(
    `WITH slot AS (
       INSERT INTO merchant_daily_orders AS d (merchant_id, day, count)
       VALUES ($2, (now() AT TIME ZONE 'UTC')::date, 1)
       ON CONFLICT (merchant_id, day) DO UPDATE SET count = d.count + 1 WHERE d.count < $28
       RETURNING 1
     )
     ${INSERT_ORDER} SELECT ${ORDER_VALUES} FROM slot RETURNING *`,
    [...orderParams(order), dailyLimit],
  );
  return rows[0];
}

export async function findOrder(db: Queryable, id: bigint): Promise<OrderRow | undefined> {
  const { rows } = await db.query<OrderRow>("SELECT * FROM orders WHERE id = $1", [id]);
  return rows[0];
}

/** An order by its on-chain reference (bytes32 hex; an older order's is its id's), through the unique index. */
export async function findOrderByReference(db: Queryable, reference: string): Promise<OrderRow | undefined> {
  const { rows } = await db.query<OrderRow>(
    "SELECT * FROM orders WHERE order_reference(id, reference) = $1",
    [reference.toLowerCase()],
  );
  return rows[0];
}

/** A merchant's orders, newest first, after the keyset cursor `before` when given. */
export async function listMerchantOrders(
  db: Queryable,
  merchantId: bigint,
  options: { status?: OrderStatus | undefined; limit: number; before?: { createdAt: string; id: string } },
): Promise<OrderRow[]> {
  const params: unknown[] = [merchantId, options.limit];
  let where = "merchant_id = $1";
  if (options.status) {
    params.push(options.status);
    where += ` AND status = $${params.length}`;
  }
  if (options.before) {
    params.push(options.before.createdAt, options.before.id);
    where += ` AND (created_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::int8)`;
  }
  const { rows } = await db.query<OrderRow>(
    `SELECT * FROM orders WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT $2`,
    params,
  );
  return rows;
}

/** The given orders, locked for update until the transaction ends, by id. */
export async function lockOrders(
  tx: Queryable,
  ids: readonly bigint[],
  /** Also the orders with these on-chain references (bytes32 hex, lowercase). */
  references: readonly string[] = [],
): Promise<OrderRow[]> {
  if (ids.length === 0 && references.length === 0) return [];
  const { rows } = await tx.query<OrderRow>(
    `SELECT * FROM orders WHERE id = ANY($1::int8[]) OR order_reference(id, reference) = ANY($2::text[])
      ORDER BY id FOR UPDATE`,
    [ids.map(String), references],
  );
  return rows;
}

/**
 * Writes the chain-derived fields of orders (their state as computed from events), all in one
 * statement: each column travels as one array parameter and `unnest` turns them back into rows.
 */
export async function saveOrderStates(tx: Queryable, orders: readonly OrderRow[]): Promise<void> {
  if (orders.length === 0) return;
  await tx.query(
    `UPDATE orders AS o SET status = u.status, exception = u.exception, amount_paid = u.amount_paid,
       amount_refunded = u.amount_refunded, transaction_id = u.transaction_id, paid_block = u.paid_block,
       sent_transaction = u.sent_transaction, awaiting_sweep = u.awaiting_sweep, updated_at = now()
     FROM unnest($1::int8[], $2::text[], $3::text[], $4::numeric[], $5::numeric[], $6::text[], $7::int8[], $8::text[],
       $9::bool[])
       AS u (id, status, exception, amount_paid, amount_refunded, transaction_id, paid_block, sent_transaction,
         awaiting_sweep)
     WHERE o.id = u.id`,
    [
      orders.map((o) => o.id.toString()),
      orders.map((o) => o.status),
      orders.map((o) => o.exception),
      orders.map((o) => o.amount_paid),
      orders.map((o) => o.amount_refunded),
      orders.map((o) => o.transaction_id),
      orders.map((o) => (o.paid_block === null ? null : o.paid_block.toString())),
      orders.map((o) => o.sent_transaction),
      orders.map((o) => o.awaiting_sweep),
    ],
  );
}

/**
 * Orders of `chainId` whose state may change with time alone: `success` orders paid at or before
 * `paidAtOrBefore` (their confirmations may have reached the threshold) that are not waiting for
 * a sweep (only the sweep moves those), and open orders past their expiry.
 */
export async function ordersDueForRefresh(
  tx: Queryable,
  chainId: bigint,
  paidAtOrBefore: bigint,
): Promise<bigint[]> {
  const { rows } = await tx.query<{ id: bigint }>(
    `SELECT id FROM orders WHERE chain_id = $1 AND status = 'success' AND paid_block <= $2 AND NOT awaiting_sweep
     UNION ALL
     SELECT id FROM orders WHERE chain_id = $1 AND status = 'pending' AND expires_at < now()`,
    [chainId, paidAtOrBefore],
  );
  return rows.map((r) => r.id);
}

/** The orders of `chainId` whose deposit address is one of `addresses` (lowercase), by address. */
export async function ordersByDepositAddress(
  tx: Queryable,
  chainId: bigint,
  addresses: readonly string[],
): Promise<Map<string, bigint>> {
  if (addresses.length === 0) return new Map();
  const { rows } = await tx.query<{ id: bigint; deposit_address: string }>(
    "SELECT id, deposit_address FROM orders WHERE chain_id = $1 AND deposit_address = ANY($2::text[])",
    [chainId, [...new Set(addresses)]],
  );
  return new Map(rows.map((r) => [r.deposit_address, r.id]));
}

/** Orders of `chainId` that were made whole in a block after `block` (a reorg may undo that). */
export async function ordersPaidAfter(tx: Queryable, chainId: bigint, block: bigint): Promise<bigint[]> {
  const { rows } = await tx.query<{ id: bigint }>(
    "SELECT id FROM orders WHERE chain_id = $1 AND paid_block > $2",
    [chainId, block],
  );
  return rows.map((r) => r.id);
}

/**
 * Deletes a chain's orders (e.g. for a new local dev chain) and rebuilds today's per-merchant
 * order counters from the orders that remain, so a plan's daily limit and `transactions_today`
 * never count orders that no longer exist. Their callbacks are deleted before them, by the dev reset
 * (server/src/runtime/reset.ts), from `chainOrderIds`.
 */
export async function deleteChainOrders(tx: Queryable, chainId: bigint): Promise<void> {
  await tx.query("DELETE FROM orders WHERE chain_id = $1", [chainId]);
  await tx.query("DELETE FROM merchant_daily_orders");
  await tx.query(
    `INSERT INTO merchant_daily_orders (merchant_id, day, count)
     SELECT merchant_id, (created_at AT TIME ZONE 'UTC')::date, count(*)
       FROM orders
      WHERE merchant_id IS NOT NULL
        AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
      GROUP BY 1, 2`,
  );
}

/** The ids of a chain's orders. */
export async function chainOrderIds(tx: Queryable, chainId: bigint): Promise<bigint[]> {
  const { rows } = await tx.query<{ id: bigint }>("SELECT id FROM orders WHERE chain_id = $1", [chainId]);
  return rows.map((r) => r.id);
}

/** The chains that have orders. */
export async function orderChainIds(db: Queryable): Promise<bigint[]> {
  const { rows } = await db.query<{ chain_id: bigint }>("SELECT DISTINCT chain_id FROM orders");
  return rows.map((r) => r.chain_id);
}
