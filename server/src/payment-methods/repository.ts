import type { Queryable } from "../db/types.ts";

/** Every statement on `order_methods` (migration 200). Nothing outside this folder runs SQL on it. */

/** One way to pay one order. */
export interface OrderMethodRow {
  orderId: bigint;
  /** "ETH@31337", "USDC@8453". */
  method: string;
  /** 0: the order's default method (the seed's fields describe it). */
  position: number;
  /** The EVM chain; null for a UTXO coin. */
  chainId: bigint | null;
  /** Lowercase; the zero address for ETH; the coin (LTC) for a UTXO method. */
  token: string;
  symbol: string;
  decimals: number;
  /** Lowercase on EVM chains; as derived (case matters) for a UTXO coin. */
  address: string;
  expectedAmount: bigint;
  price: bigint;
  priceDecimals: number;
  priceSource: string;
}

type DbRow = {
  order_id: bigint;
  method: string;
  position: number;
  chain_id: bigint | null;
  token: string;
  symbol: string;
  decimals: number;
  address: string;
  expected_amount: string;
  price: string;
  price_decimals: number;
  price_source: string;
};

const fromDb = (r: DbRow): OrderMethodRow => ({
  orderId: r.order_id,
  method: r.method,
  position: r.position,
  chainId: r.chain_id,
  token: r.token,
  symbol: r.symbol,
  decimals: r.decimals,
  address: r.address,
  expectedAmount: BigInt(r.expected_amount),
  price: BigInt(r.price),
  priceDecimals: r.price_decimals,
  priceSource: r.price_source,
});

/** Records an order's methods, all in one statement. */
export async function insertOrderMethods(tx: Queryable, rows: readonly OrderMethodRow[]): Promise<void> {
  if (rows.length === 0) return;
  const col = <T>(f: (r: OrderMethodRow) => T) => rows.map(f);
  await tx.query(
    `INSERT INTO order_methods (order_id, method, position, chain_id, token, symbol, decimals, address,
       expected_amount, price, price_decimals, price_source)
     SELECT * FROM unnest($1::int8[], $2::text[], $3::int4[], $4::int8[], $5::text[], $6::text[], $7::int4[],
       $8::text[], $9::numeric[], $10::numeric[], $11::int4[], $12::text[])`,
    [
      col((r) => r.orderId.toString()),
      col((r) => r.method),
      col((r) => r.position),
      col((r) => (r.chainId === null ? null : r.chainId.toString())),
      col((r) => (r.chainId === null ? r.token : r.token.toLowerCase())),
      col((r) => r.symbol),
      col((r) => r.decimals),
      col((r) => (r.chainId === null ? r.address : r.address.toLowerCase())),
      col((r) => r.expectedAmount.toString()),
      col((r) => r.price.toString()),
      col((r) => r.priceDecimals),
      col((r) => r.priceSource),
    ],
  );
}

/** The methods of the given orders, default first. */
export async function methodsOfOrders(
  db: Queryable,
  orderIds: readonly bigint[],
): Promise<Map<bigint, OrderMethodRow[]>> {
  const result = new Map<bigint, OrderMethodRow[]>();
  if (orderIds.length === 0) return result;
  const { rows } = await db.query<DbRow>(
    "SELECT * FROM order_methods WHERE order_id = ANY($1::int8[]) ORDER BY order_id, position",
    [orderIds.map(String)],
  );
  for (const r of rows) {
    const list = result.get(r.order_id) ?? [];
    list.push(fromDb(r));
    result.set(r.order_id, list);
  }
  return result;
}

/**
 * The orders a step of `chainId` may change through their methods there: those with a method at
 * one of `addresses` (what the deposits module touched), and those taken over and paid
 * (`success`) with a method on the chain (its default one included), whose confirmations or sweep
 * may have come.
 */
export async function ordersToRefresh(
  tx: Queryable,
  chainId: bigint,
  addresses: readonly string[],
): Promise<bigint[]> {
  const { rows } = await tx.query<{ order_id: bigint }>(
    `SELECT DISTINCT m.order_id FROM order_methods m
      WHERE m.chain_id = $1
        AND (m.address = ANY($2::text[])
             OR EXISTS (SELECT 1 FROM method_orders t WHERE t.order_id = m.order_id AND t.status = 'success'))`,
    [chainId, [...new Set(addresses)]],
  );
  return rows.map((r) => r.order_id);
}

/** The orders with a method of UTXO `coin` at one of `addresses`. */
export async function ordersAtUtxoAddresses(
  tx: Queryable,
  coin: string,
  addresses: readonly string[],
): Promise<bigint[]> {
  if (addresses.length === 0) return [];
  const { rows } = await tx.query<{ order_id: bigint }>(
    "SELECT DISTINCT order_id FROM order_methods WHERE chain_id IS NULL AND token = $1 AND address = ANY($2::text[])",
    [coin, [...new Set(addresses)]],
  );
  return rows.map((r) => r.order_id);
}

/** Records the status the module computed for orders it took over (see ordersToRefresh). */
export async function saveTakenStatuses(
  tx: Queryable,
  statuses: readonly { orderId: bigint; status: string }[],
): Promise<void> {
  if (statuses.length === 0) return;
  await tx.query(
    `INSERT INTO method_orders (order_id, status)
     SELECT * FROM unnest($1::int8[], $2::text[])
     ON CONFLICT (order_id) DO UPDATE SET status = EXCLUDED.status, updated_at = now()`,
    [statuses.map((s) => s.orderId.toString()), statuses.map((s) => s.status)],
  );
}

/** Forgets the methods on a chain (dev reset of a new local chain). */
export async function deleteChainMethods(tx: Queryable, chainId: bigint): Promise<void> {
  await tx.query("DELETE FROM order_methods WHERE chain_id = $1", [chainId]);
}
