import type { Queryable } from "../db/types.ts";

/**
 * Every statement on the UTXO tables of payment methods (migration 200): the merchants' xpubs,
 * the payments seen at order addresses, and each coin watcher's cursor.
 */

export async function saveMerchantXpub(db: Queryable, merchantId: bigint, coin: string, xpub: string) {
  // A new key starts at index 0 again; the same key keeps its next index.
  await db.query(
    `INSERT INTO merchant_xpubs (merchant_id, coin, xpub) VALUES ($1, $2, $3)
     ON CONFLICT (merchant_id, coin) DO UPDATE
       SET next_index = CASE WHEN merchant_xpubs.xpub = EXCLUDED.xpub THEN merchant_xpubs.next_index ELSE 0 END,
           xpub = EXCLUDED.xpub, updated_at = now()`,
    [merchantId, coin, xpub],
  );
}

export async function deleteMerchantXpub(db: Queryable, merchantId: bigint, coin: string): Promise<boolean> {
  const { rows } = await db.query(
    "DELETE FROM merchant_xpubs WHERE merchant_id = $1 AND coin = $2 RETURNING 1",
    [merchantId, coin],
  );
  return rows.length > 0;
}

export async function merchantXpubs(
  db: Queryable,
  merchantId: bigint,
): Promise<{ coin: string; xpub: string; nextIndex: number }[]> {
  const { rows } = await db.query<{ coin: string; xpub: string; next_index: number }>(
    "SELECT coin, xpub, next_index FROM merchant_xpubs WHERE merchant_id = $1 ORDER BY coin",
    [merchantId],
  );
  return rows.map((r) => ({ coin: r.coin, xpub: r.xpub, nextIndex: r.next_index }));
}

/** Takes the merchant's next receive index for `coin` (one statement: no two orders share one). */
export async function takeXpubIndex(
  db: Queryable,
  merchantId: bigint,
  coin: string,
): Promise<{ xpub: string; index: number } | undefined> {
  const { rows } = await db.query<{ xpub: string; index: number }>(
    `UPDATE merchant_xpubs SET next_index = next_index + 1 WHERE merchant_id = $1 AND coin = $2
     RETURNING xpub, next_index - 1 AS index`,
    [merchantId, coin],
  );
  return rows[0];
}

export interface UtxoPaymentRow {
  coin: string;
  txid: string;
  address: string;
  amount: bigint;
  blockHeight: number | null;
  blockTime: Date | null;
  confirmations: number;
  final: boolean;
}

/** Records what the watcher saw (insert or update); `removed` are gone (reorg, dropped). */
export async function saveUtxoPayments(
  tx: Queryable,
  seen: readonly UtxoPaymentRow[],
  removed: readonly { coin: string; txid: string; address: string }[],
): Promise<void> {
  for (const r of removed) {
    await tx.query("DELETE FROM utxo_method_payments WHERE coin = $1 AND txid = $2 AND address = $3", [
      r.coin,
      r.txid,
      r.address,
    ]);
  }
  if (seen.length === 0) return;
  const col = <T>(f: (r: UtxoPaymentRow) => T) => seen.map(f);
  await tx.query(
    `INSERT INTO utxo_method_payments (coin, txid, address, amount, block_height, block_time, confirmations, final)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::int4[], $6::timestamptz[],
       $7::int4[], $8::bool[])
     ON CONFLICT (coin, txid, address) DO UPDATE SET amount = EXCLUDED.amount, block_height = EXCLUDED.block_height,
       block_time = EXCLUDED.block_time, confirmations = EXCLUDED.confirmations, final = EXCLUDED.final`,
    [
      col((r) => r.coin),
      col((r) => r.txid),
      col((r) => r.address),
      col((r) => r.amount.toString()),
      col((r) => r.blockHeight),
      col((r) => r.blockTime),
      col((r) => r.confirmations),
      col((r) => r.final),
    ],
  );
}

/** The payments seen at the given addresses of a coin, mined ones only (mempool ones do not count). */
export async function utxoPaymentsAt(
  db: Queryable,
  coin: string,
  addresses: readonly string[],
): Promise<UtxoPaymentRow[]> {
  if (addresses.length === 0) return [];
  const { rows } = await db.query<{
    coin: string;
    txid: string;
    address: string;
    amount: string;
    block_height: number | null;
    block_time: Date | null;
    confirmations: number;
    final: boolean;
  }>(
    `SELECT * FROM utxo_method_payments WHERE coin = $1 AND address = ANY($2::text[]) AND block_height IS NOT NULL
      ORDER BY block_height, txid`,
    [coin, [...new Set(addresses)]],
  );
  return rows.map((r) => ({
    coin: r.coin,
    txid: r.txid,
    address: r.address,
    amount: BigInt(r.amount),
    blockHeight: r.block_height,
    blockTime: r.block_time,
    confirmations: r.confirmations,
    final: r.final,
  }));
}

/** Payments of a coin not yet final: the watcher follows them on every poll. */
export async function openUtxoPayments(
  db: Queryable,
  coin: string,
): Promise<{ txid: string; address: string }[]> {
  const { rows } = await db.query<{ txid: string; address: string }>(
    "SELECT txid, address FROM utxo_method_payments WHERE coin = $1 AND NOT final",
    [coin],
  );
  return rows;
}

export async function loadUtxoCursor(db: Queryable, coin: string): Promise<string | null> {
  const { rows } = await db.query<{ cursor: string }>(
    "SELECT cursor FROM utxo_method_cursors WHERE coin = $1",
    [coin],
  );
  return rows[0]?.cursor ?? null;
}

export async function saveUtxoCursor(tx: Queryable, coin: string, cursor: string): Promise<void> {
  await tx.query(
    `INSERT INTO utxo_method_cursors (coin, cursor) VALUES ($1, $2)
     ON CONFLICT (coin) DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = now()`,
    [coin, cursor],
  );
}
