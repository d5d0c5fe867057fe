import type { Queryable } from "../db/types.ts";
import type { ContractEvent } from "../chain/events.ts";

/** A payment or refund linked to an order, as the order state machine reads it. */
export interface OrderEventRow {
  orderId: bigint;
  chainId: bigint;
  kind: "payment" | "refund";
  merchant: string;
  token: string;
  /** The payer of a payment (a deposit address for a sweep) or the recipient of a refund. */
  counterparty: string;
  blockNumber: bigint;
  logIndex: number;
  blockTimestamp: Date;
  txHash: string;
  amount: bigint;
}

/**
 * Inserts events idempotently (ON CONFLICT DO NOTHING on the checkpoint key), one statement per
 * 5,000 rows: each column travels as one array parameter and `unnest` turns them back into rows,
 * which PostgreSQL parses far faster than thousands of scalar parameters.
 */
export async function insertEvents(tx: Queryable, events: readonly ContractEvent[]): Promise<void> {
  const BATCH = 5_000;
  for (let start = 0; start < events.length; start += BATCH) {
    const batch = events.slice(start, start + BATCH);
    const columns: unknown[][] = Array.from({ length: 14 }, () => new Array<unknown>(batch.length));
    batch.forEach((e, i) => {
      const row = [
        e.chainId.toString(),
        e.blockNumber.toString(),
        e.txIndex,
        e.logIndex,
        e.blockHash,
        e.blockTimestamp.toISOString(),
        e.txHash,
        e.kind,
        e.merchant,
        e.orderRef,
        e.orderId === null ? null : e.orderId.toString(),
        e.counterparty,
        e.token,
        e.amount.toString(),
      ];
      row.forEach((value, c) => ((columns[c] as unknown[])[i] = value));
    });
    await tx.query(
      `INSERT INTO contract_events (chain_id, block_number, tx_index, log_index, block_hash, block_timestamp, tx_hash,
         kind, merchant, order_ref, order_id, counterparty, token, amount)
       SELECT * FROM unnest($1::int8[], $2::int8[], $3::int4[], $4::int4[], $5::text[], $6::timestamptz[], $7::text[],
         $8::text[], $9::text[], $10::text[], $11::int8[], $12::text[], $13::text[], $14::numeric[])
       ON CONFLICT DO NOTHING`,
      columns,
    );
  }
}

/**
 * Deletes every event of `chainId` past block `ancestor` (a reorg's common ancestor). Returns the
 * ids of the orders that lost events, so that their state can be recomputed in the same
 * transaction.
 */
export async function rollbackEventsPast(
  tx: Queryable,
  chainId: bigint,
  ancestor: bigint,
): Promise<bigint[]> {
  const { rows } = await tx.query<{ order_id: bigint | null }>(
    "DELETE FROM contract_events WHERE chain_id = $1 AND block_number > $2 RETURNING order_id",
    [chainId, ancestor],
  );
  const ids = new Set<bigint>();
  for (const r of rows) if (r.order_id !== null) ids.add(r.order_id);
  return [...ids];
}

/** The payments and refunds linked to the given orders, on any chain (the caller matches terms). */
export async function orderEvents(tx: Queryable, orderIds: readonly bigint[]): Promise<OrderEventRow[]> {
  if (orderIds.length === 0) return [];
  const { rows } = await tx.query<{
    order_id: bigint;
    chain_id: bigint;
    kind: "payment" | "refund";
    merchant: string;
    token: string;
    counterparty: string;
    block_number: bigint;
    log_index: number;
    block_timestamp: Date;
    tx_hash: string;
    amount: string;
  }>(
    `SELECT order_id, chain_id, kind, merchant, token, counterparty, block_number, log_index, block_timestamp, tx_hash,
            amount FROM contract_events WHERE order_id = ANY($1::int8[]) AND kind IN ('payment', 'refund')`,
    [orderIds.map(String)],
  );
  return rows.map((r) => ({
    orderId: r.order_id,
    chainId: r.chain_id,
    kind: r.kind,
    merchant: r.merchant,
    token: r.token,
    counterparty: r.counterparty,
    blockNumber: r.block_number,
    logIndex: r.log_index,
    blockTimestamp: r.block_timestamp,
    txHash: r.tx_hash,
    amount: BigInt(r.amount),
  }));
}

export interface LedgerBalance {
  merchant: string;
  token: string;
  credited: bigint;
  withdrawn: bigint;
  refunded: bigint;
}

/** The merchant ledger mirrored from events (view `merchant_ledger`), per merchant and token. */
export async function ledgerBalances(db: Queryable, chainId: bigint): Promise<LedgerBalance[]> {
  const { rows } = await db.query<{
    merchant: string;
    token: string;
    credited: string;
    withdrawn: string;
    refunded: string;
  }>(
    "SELECT merchant, token, credited, withdrawn, refunded FROM merchant_ledger WHERE chain_id = $1 ORDER BY merchant, token",
    [chainId],
  );
  return rows.map((r) => ({
    merchant: r.merchant,
    token: r.token,
    credited: BigInt(r.credited),
    withdrawn: BigInt(r.withdrawn),
    refunded: BigInt(r.refunded),
  }));
}

/** Forgets every contract event of a chain, e.g. for a new local dev chain. */
export async function deleteChainEvents(tx: Queryable, chainId: bigint): Promise<void> {
  await tx.query("DELETE FROM contract_events WHERE chain_id = $1", [chainId]);
}
