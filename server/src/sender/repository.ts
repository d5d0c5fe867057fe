import type { Queryable } from "../db/types.ts";

/**
 * Every statement on `outgoing_transactions` (migration 130): each transaction a key of this server
 * signs, one row per nonce, recorded before it is broadcast and followed until it is settled. Only
 * server/src/sender/ runs SQL on it; the modules that send (the sweeper, the collector) keep the id
 * of their row and read it through the functions below.
 */

/**
 * - `sent`: signed and recorded (and broadcast, or about to be); not mined;
 * - `mined`: a receipt for one of its hashes, with fewer than the confirmations asked for; a reorg
 *   that removes it puts it back to `sent`;
 * - `confirmed`: mined and confirmed (settled, not followed any more);
 * - `reverted`: mined, and it reverted (settled);
 * - `replaced`: its nonce was used by a transaction that is none of its hashes (settled);
 * - `failed`: the node refused its first broadcast; nothing of it is pending (settled).
 */
export type OutgoingState = "sent" | "mined" | "confirmed" | "reverted" | "replaced" | "failed";

/** States still followed. */
export const OPEN_STATES: readonly OutgoingState[] = ["sent", "mined"];

export interface OutgoingTransaction {
  id: bigint;
  chainId: bigint;
  /** The key's address, lowercase; null only for a collect recorded before this table, until claimed. */
  sender: string | null;
  purpose: string;
  nonce: bigint;
  /** What was signed; null only for a transaction recorded before this table, until its owner fills it in. */
  to: `0x${string}` | null;
  data: `0x${string}` | null;
  value: bigint;
  gasLimit: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
  /** The newest version signed, or the one mined. */
  txHash: `0x${string}`;
  /** Every version of this nonce signed (any of them may be the one mined), oldest first. */
  txHashes: `0x${string}`[];
  state: OutgoingState;
  /** Broadcasts of this nonce: the first, re-broadcasts after a drop, fee bumps. */
  attempts: number;
  /** Chain head when the newest version was signed (the stuck clock). */
  sentBlock: bigint;
  minedBlock: bigint | null;
  minedBlockHash: string | null;
  error: string | null;
}

interface Row {
  id: bigint;
  chain_id: bigint;
  sender: string | null;
  purpose: string;
  nonce: bigint;
  to_address: string | null;
  data: string | null;
  value: string;
  gas_limit: string;
  max_fee_per_gas: string;
  max_priority_fee_per_gas: string;
  tx_hash: string;
  tx_hashes: string[];
  state: OutgoingState;
  attempts: number;
  sent_block: bigint;
  mined_block: bigint | null;
  mined_block_hash: string | null;
  error: string | null;
}

const COLUMNS = `id, chain_id, sender, purpose, nonce, to_address, data, value::text, gas_limit::text,
  max_fee_per_gas::text, max_priority_fee_per_gas::text, tx_hash, tx_hashes, state, attempts, sent_block,
  mined_block, mined_block_hash, error`;

const toRecord = (r: Row): OutgoingTransaction => ({
  id: BigInt(r.id),
  chainId: BigInt(r.chain_id),
  sender: r.sender,
  purpose: r.purpose,
  nonce: BigInt(r.nonce),
  to: r.to_address as `0x${string}` | null,
  data: r.data as `0x${string}` | null,
  value: BigInt(r.value),
  gasLimit: BigInt(r.gas_limit),
  maxFeePerGas: BigInt(r.max_fee_per_gas),
  maxPriorityFeePerGas: BigInt(r.max_priority_fee_per_gas),
  txHash: r.tx_hash as `0x${string}`,
  txHashes: r.tx_hashes as `0x${string}`[],
  state: r.state,
  attempts: r.attempts,
  sentBlock: BigInt(r.sent_block),
  minedBlock: r.mined_block === null ? null : BigInt(r.mined_block),
  minedBlockHash: r.mined_block_hash,
  error: r.error,
});

export interface NewOutgoing {
  chainId: bigint;
  sender: string;
  purpose: string;
  nonce: bigint;
  to: `0x${string}`;
  data: `0x${string}`;
  value: bigint;
  gasLimit: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
  txHash: `0x${string}`;
  sentBlock: bigint;
}

/** Records a signed transaction (state `sent`, one attempt) before it is broadcast. */
export async function insertOutgoing(db: Queryable, t: NewOutgoing): Promise<OutgoingTransaction> {
  const { rows } = await db.query<Row>(
    `INSERT INTO outgoing_transactions (chain_id, sender, purpose, nonce, to_address, data, value, gas_limit,
       max_fee_per_gas, max_priority_fee_per_gas, tx_hash, tx_hashes, state, attempts, sent_block)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, ARRAY[$11::text], 'sent', 1, $12)
     RETURNING ${COLUMNS}`,
    [
      t.chainId,
      t.sender.toLowerCase(),
      t.purpose,
      t.nonce,
      t.to.toLowerCase(),
      t.data,
      t.value.toString(),
      t.gasLimit.toString(),
      t.maxFeePerGas.toString(),
      t.maxPriorityFeePerGas.toString(),
      t.txHash,
      t.sentBlock,
    ],
  );
  return toRecord(rows[0] as Row);
}

/** A new version of the same nonce with higher fees, recorded before it is broadcast. */
export async function recordBump(
  db: Queryable,
  id: bigint,
  v: { txHash: `0x${string}`; maxFeePerGas: bigint; maxPriorityFeePerGas: bigint; sentBlock: bigint },
): Promise<void> {
  await db.query(
    `UPDATE outgoing_transactions SET tx_hash = $2, tx_hashes = array_append(tx_hashes, $2::text),
       max_fee_per_gas = $3, max_priority_fee_per_gas = $4, sent_block = $5, attempts = attempts + 1,
       error = NULL, updated_at = now()
     WHERE id = $1`,
    [id, v.txHash, v.maxFeePerGas.toString(), v.maxPriorityFeePerGas.toString(), v.sentBlock],
  );
}

/** The same version broadcast once more (the node had dropped it). */
export async function recordRebroadcast(db: Queryable, id: bigint): Promise<void> {
  await db.query(
    "UPDATE outgoing_transactions SET attempts = attempts + 1, updated_at = now() WHERE id = $1",
    [id],
  );
}

/** Moves a transaction to a new state; `minedBlock` given (null included) sets or clears the receipt's block. */
export async function setOutgoingState(
  db: Queryable,
  id: bigint,
  state: OutgoingState,
  details: {
    txHash?: `0x${string}`;
    minedBlock?: bigint | null;
    minedBlockHash?: string | null;
    sentBlock?: bigint;
    error?: string | null;
  } = {},
): Promise<void> {
  await db.query(
    `UPDATE outgoing_transactions SET state = $2,
       tx_hash = COALESCE($3, tx_hash),
       mined_block = CASE WHEN $4::boolean THEN $5::int8 ELSE mined_block END,
       mined_block_hash = CASE WHEN $4::boolean THEN $6::text ELSE mined_block_hash END,
       sent_block = COALESCE($7, sent_block),
       error = CASE WHEN $8::boolean THEN $9::text ELSE error END,
       updated_at = now()
     WHERE id = $1`,
    [
      id,
      state,
      details.txHash ?? null,
      "minedBlock" in details,
      details.minedBlock ?? null,
      details.minedBlockHash ?? null,
      details.sentBlock ?? null,
      "error" in details,
      details.error ?? null,
    ],
  );
}

/** The open transactions (`sent`, `mined`) of one key on one chain, by nonce; of one purpose when given. */
export async function openOutgoing(
  db: Queryable,
  chainId: bigint,
  sender: string,
  purpose?: string,
): Promise<OutgoingTransaction[]> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM outgoing_transactions
      WHERE chain_id = $1 AND sender = $2 AND state IN ('sent', 'mined') AND ($3::text IS NULL OR purpose = $3)
      ORDER BY nonce, id`,
    [chainId, sender.toLowerCase(), purpose ?? null],
  );
  return rows.map(toRecord);
}

/** The highest nonce of a key's transactions not yet mined, or null. */
export async function highestPendingNonce(
  db: Queryable,
  chainId: bigint,
  sender: string,
): Promise<bigint | null> {
  const { rows } = await db.query<{ nonce: bigint | null }>(
    "SELECT max(nonce) AS nonce FROM outgoing_transactions WHERE chain_id = $1 AND sender = $2 AND state = 'sent'",
    [chainId, sender.toLowerCase()],
  );
  const v = rows[0]?.nonce;
  return v === null || v === undefined ? null : BigInt(v);
}

/** These transactions, by id (missing ids are left out). */
export async function outgoingByIds(
  db: Queryable,
  ids: readonly bigint[],
): Promise<Map<bigint, OutgoingTransaction>> {
  if (ids.length === 0) return new Map();
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM outgoing_transactions WHERE id = ANY($1::int8[])`,
    [ids.map((id) => id.toString())],
  );
  return new Map(rows.map((r) => [BigInt(r.id), toRecord(r)]));
}

/** The newest transactions of a chain (for status and tests), newest first; of one purpose when given. */
export async function recentOutgoing(
  db: Queryable,
  chainId: bigint,
  limit = 20,
  purpose?: string,
): Promise<OutgoingTransaction[]> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM outgoing_transactions WHERE chain_id = $1 AND ($3::text IS NULL OR purpose = $3)
      ORDER BY id DESC LIMIT $2`,
    [chainId, limit, purpose ?? null],
  );
  return rows.map(toRecord);
}

/**
 * Claims the open transactions of this chain recorded without a key (collects in flight when
 * migration 130 ran): they were sent by the chain's one gas key.
 */
export async function claimUnowned(db: Queryable, chainId: bigint, sender: string): Promise<void> {
  await db.query(
    `UPDATE outgoing_transactions SET sender = $2, updated_at = now()
      WHERE chain_id = $1 AND sender IS NULL AND state IN ('sent', 'mined')`,
    [chainId, sender.toLowerCase()],
  );
}

/** Fills in what a transaction recorded before migration 130 was signed with (its owner knows it). */
export async function fillCall(
  db: Queryable,
  id: bigint,
  call: { to: `0x${string}`; data: `0x${string}` },
): Promise<void> {
  await db.query(
    `UPDATE outgoing_transactions SET to_address = $2, data = $3, updated_at = now()
      WHERE id = $1 AND data IS NULL`,
    [id, call.to.toLowerCase(), call.data],
  );
}

/** A key's open transactions (`sent`, `mined`), counted by purpose and state. */
export async function openCounts(
  db: Queryable,
  chainId: bigint,
  sender: string,
): Promise<{ purpose: string; state: OutgoingState; count: bigint }[]> {
  const { rows } = await db.query<{ purpose: string; state: OutgoingState; count: bigint }>(
    `SELECT purpose, state, count(*)::int8 AS count FROM outgoing_transactions
      WHERE chain_id = $1 AND sender = $2 AND state IN ('sent', 'mined')
      GROUP BY purpose, state`,
    [chainId, sender.toLowerCase()],
  );
  return rows.map((r) => ({ purpose: r.purpose, state: r.state, count: BigInt(r.count) }));
}

/**
 * The most the newest transaction of each purpose could cost (gas limit × max fee per gas, in wei),
 * among the key's latest 200: what one more such transaction needs in the key's balance.
 */
export async function newestFeeCaps(
  db: Queryable,
  chainId: bigint,
  sender: string,
): Promise<{ purpose: string; wei: bigint }[]> {
  const { rows } = await db.query<{ purpose: string; cap: string }>(
    `SELECT DISTINCT ON (purpose) purpose, (gas_limit * max_fee_per_gas)::text AS cap
       FROM (SELECT id, purpose, gas_limit, max_fee_per_gas FROM outgoing_transactions
              WHERE chain_id = $1 AND sender = $2 ORDER BY id DESC LIMIT 200) AS newest
      ORDER BY purpose, id DESC`,
    [chainId, sender.toLowerCase()],
  );
  return rows.map((r) => ({ purpose: r.purpose, wei: BigInt(r.cap) }));
}

/**
 * Forgets every transaction of a chain, e.g. for a new local dev chain (its nonces start over). The
 * rows that point here (sweeps, the collector's bookkeeping) go first, each by its own module.
 */
export async function deleteChainOutgoing(tx: Queryable, chainId: bigint): Promise<void> {
  await tx.query("DELETE FROM outgoing_transactions WHERE chain_id = $1", [chainId]);
}
