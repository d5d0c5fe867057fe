import type { Queryable } from "../db/types.ts";

/** A decoded contract event with its checkpoint (chain id, block, tx index, log index). */
export interface IndexedEvent {
  chainId: bigint;
  blockNumber: bigint;
  blockHash: string;
  blockTimestamp: Date;
  txIndex: number;
  logIndex: number;
  txHash: string;
  kind: "payment" | "withdrawal" | "refund";
  merchant: string;
  orderRef: string | null;
  orderId: bigint | null;
  counterparty: string;
  token: string;
  amount: bigint;
}

export interface BlockRef {
  number: bigint;
  hash: string;
  parentHash: string;
  timestamp: Date;
}

export interface Cursor {
  blockNumber: bigint;
  blockHash: string;
}

/**
 * Inserts events idempotently (ON CONFLICT DO NOTHING on the checkpoint key), one statement per
 * 5,000 rows: each column travels as one array parameter and `unnest` turns them back into rows,
 * which PostgreSQL parses far faster than thousands of scalar parameters.
 */
export async function insertEvents(tx: Queryable, events: readonly IndexedEvent[]): Promise<void> {
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

export async function saveBlocks(tx: Queryable, chainId: bigint, blocks: readonly BlockRef[]): Promise<void> {
  if (blocks.length === 0) return;
  const params: unknown[] = [chainId];
  const rows = blocks.map((b, i) => {
    params.push(b.number, b.hash, b.parentHash, b.timestamp);
    const base = 2 + i * 4;
    return `($1, $${base}, $${base + 1}, $${base + 2}, $${base + 3})`;
  });
  await tx.query(
    `INSERT INTO indexer_blocks (chain_id, number, hash, parent_hash, timestamp) VALUES ${rows.join(", ")}
     ON CONFLICT (chain_id, number) DO UPDATE SET hash = EXCLUDED.hash, parent_hash = EXCLUDED.parent_hash,
       timestamp = EXCLUDED.timestamp`,
    params,
  );
}

export async function pruneBlocks(tx: Queryable, chainId: bigint, below: bigint): Promise<void> {
  await tx.query("DELETE FROM indexer_blocks WHERE chain_id = $1 AND number < $2", [chainId, below]);
}

export async function loadCursor(db: Queryable, chainId: bigint): Promise<Cursor | undefined> {
  const { rows } = await db.query<{ block_number: bigint; block_hash: string }>(
    "SELECT block_number, block_hash FROM indexer_cursor WHERE chain_id = $1",
    [chainId],
  );
  const row = rows[0];
  return row ? { blockNumber: row.block_number, blockHash: row.block_hash } : undefined;
}

export async function saveCursor(tx: Queryable, chainId: bigint, cursor: Cursor): Promise<void> {
  await tx.query(
    `INSERT INTO indexer_cursor (chain_id, block_number, block_hash, updated_at) VALUES ($1, $2, $3, now())
     ON CONFLICT (chain_id) DO UPDATE SET block_number = EXCLUDED.block_number, block_hash = EXCLUDED.block_hash,
       updated_at = now()`,
    [chainId, cursor.blockNumber, cursor.blockHash],
  );
}

/** The stored unfinalized blocks, newest first, for finding a reorg's common ancestor. */
export async function loadBlocksDescending(db: Queryable, chainId: bigint): Promise<BlockRef[]> {
  const { rows } = await db.query<{ number: bigint; hash: string; parent_hash: string; timestamp: Date }>(
    "SELECT number, hash, parent_hash, timestamp FROM indexer_blocks WHERE chain_id = $1 ORDER BY number DESC",
    [chainId],
  );
  return rows.map((r) => ({
    number: r.number,
    hash: r.hash,
    parentHash: r.parent_hash,
    timestamp: r.timestamp,
  }));
}

/**
 * Deletes every effect past `ancestor`: events, blocks. Returns the order ids that lost events,
 * so their state can be recomputed in the same transaction.
 */
export async function rollbackTo(tx: Queryable, chainId: bigint, ancestor: bigint): Promise<bigint[]> {
  const { rows } = await tx.query<{ order_id: bigint }>(
    `DELETE FROM contract_events WHERE chain_id = $1 AND block_number > $2 AND order_id IS NOT NULL
     RETURNING order_id`,
    [chainId, ancestor],
  );
  await tx.query("DELETE FROM contract_events WHERE chain_id = $1 AND block_number > $2", [
    chainId,
    ancestor,
  ]);
  await tx.query("DELETE FROM indexer_blocks WHERE chain_id = $1 AND number > $2", [chainId, ancestor]);
  return [...new Set(rows.map((r) => r.order_id))];
}
