import type { Queryable } from "../db/types.ts";
import type { BlockRef, Cursor } from "./types.ts";

/**
 * The indexer's own tables: the cursor (one row per chain) and the window of unfinalized blocks
 * it has applied (`indexer_blocks`), which a reorg walks back to find the common ancestor.
 * Domain rows are the sinks' business.
 */

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

/** Forgets the blocks below `below`: they are final and no reorg can reach them. */
export async function pruneBlocks(tx: Queryable, chainId: bigint, below: bigint): Promise<void> {
  await tx.query("DELETE FROM indexer_blocks WHERE chain_id = $1 AND number < $2", [chainId, below]);
}

/** Forgets the blocks past a reorg's common ancestor. */
export async function dropBlocksPast(tx: Queryable, chainId: bigint, ancestor: bigint): Promise<void> {
  await tx.query("DELETE FROM indexer_blocks WHERE chain_id = $1 AND number > $2", [chainId, ancestor]);
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

/** A chain whose indexer stopped on a non-retryable error, as recorded for every process to see. */
export interface IndexerFailure {
  message: string;
  failedAt: Date;
}

export async function recordFailure(db: Queryable, chainId: bigint, message: string): Promise<void> {
  await db.query(
    `INSERT INTO indexer_failures (chain_id, message, failed_at) VALUES ($1, $2, now())
     ON CONFLICT (chain_id) DO UPDATE SET message = EXCLUDED.message, failed_at = EXCLUDED.failed_at`,
    [chainId, message],
  );
}

export async function clearFailure(db: Queryable, chainId: bigint): Promise<void> {
  await db.query("DELETE FROM indexer_failures WHERE chain_id = $1", [chainId]);
}

export async function loadFailure(db: Queryable, chainId: bigint): Promise<IndexerFailure | undefined> {
  const { rows } = await db.query<{ message: string; failed_at: Date }>(
    "SELECT message, failed_at FROM indexer_failures WHERE chain_id = $1",
    [chainId],
  );
  const row = rows[0];
  return row ? { message: row.message, failedAt: row.failed_at } : undefined;
}

/** Forgets a chain's indexer state (cursor, block window, failure), e.g. for a new local dev chain. */
export async function deleteIndexerState(tx: Queryable, chainId: bigint): Promise<void> {
  await tx.query("DELETE FROM indexer_blocks WHERE chain_id = $1", [chainId]);
  await tx.query("DELETE FROM indexer_cursor WHERE chain_id = $1", [chainId]);
  await tx.query("DELETE FROM indexer_failures WHERE chain_id = $1", [chainId]);
}
