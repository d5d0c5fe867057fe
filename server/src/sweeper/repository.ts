import type { Queryable } from "../db/types.ts";

/**
 * Every statement on the `sweeps` table (migration 060): the sweeper's own transactions, one row
 * per nonce, tracked from `sent` to `confirmed` (or `failed` / `replaced`). Only server/src/sweeper/
 * runs SQL on it.
 */

export type SweepState = "sent" | "mined" | "confirmed" | "failed" | "replaced";

/** One deposit in a sweep: a `Deposit` struct of `sweepDeposits` and what it held when sent. */
export interface SweptDeposit {
  address: string;
  merchant: string;
  orderRef: string;
  token: string;
  /** ETH (wei) the deposit held, and for a token entry the token units it held. */
  eth: bigint;
  tokenAmount: bigint;
}

export interface SweepRecord {
  id: bigint;
  chainId: bigint;
  sender: string;
  nonce: bigint;
  txHash: `0x${string}`;
  txHashes: `0x${string}`[];
  deposits: SweptDeposit[];
  value: bigint;
  gasLimit: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
  state: SweepState;
  attempts: number;
  sentBlock: bigint;
  minedBlock: bigint | null;
  minedBlockHash: string | null;
  error: string | null;
}

interface SweepRow {
  id: bigint;
  chain_id: bigint;
  sender: string;
  nonce: bigint;
  tx_hash: string;
  tx_hashes: string[];
  deposits: {
    address: string;
    merchant: string;
    orderRef: string;
    token: string;
    eth: string;
    tokenAmount: string;
  }[];
  value: string;
  gas_limit: string;
  max_fee_per_gas: string;
  max_priority_fee_per_gas: string;
  state: SweepState;
  attempts: number;
  sent_block: bigint;
  mined_block: bigint | null;
  mined_block_hash: string | null;
  error: string | null;
}

const COLUMNS = `id, chain_id, sender, nonce, tx_hash, tx_hashes, deposits, value::text, gas_limit::text,
  max_fee_per_gas::text, max_priority_fee_per_gas::text, state, attempts, sent_block, mined_block,
  mined_block_hash, error`;

function toRecord(r: SweepRow): SweepRecord {
  const deposits =
    typeof r.deposits === "string" ? (JSON.parse(r.deposits) as SweepRow["deposits"]) : r.deposits;
  return {
    id: BigInt(r.id),
    chainId: BigInt(r.chain_id),
    sender: r.sender,
    nonce: BigInt(r.nonce),
    txHash: r.tx_hash as `0x${string}`,
    txHashes: r.tx_hashes as `0x${string}`[],
    deposits: deposits.map((d) => ({ ...d, eth: BigInt(d.eth), tokenAmount: BigInt(d.tokenAmount) })),
    value: BigInt(r.value),
    gasLimit: BigInt(r.gas_limit),
    maxFeePerGas: BigInt(r.max_fee_per_gas),
    maxPriorityFeePerGas: BigInt(r.max_priority_fee_per_gas),
    state: r.state,
    attempts: r.attempts,
    sentBlock: BigInt(r.sent_block),
    minedBlock: r.mined_block === null ? null : BigInt(r.mined_block),
    minedBlockHash: r.mined_block_hash,
    error: r.error,
  };
}

export interface NewSweep {
  chainId: bigint;
  sender: string;
  nonce: bigint;
  txHash: `0x${string}`;
  deposits: readonly SweptDeposit[];
  value: bigint;
  gasLimit: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
  sentBlock: bigint;
}

/**
 * Records a sweep before it is broadcast (its hash is known once signed), so a crash between the
 * broadcast and the insert cannot lose track of it. A row left by an earlier use of the same nonce
 * that never made it on chain (`failed` before broadcast) is replaced.
 */
export async function insertSweep(db: Queryable, s: NewSweep): Promise<SweepRecord> {
  const deposits = s.deposits.map((d) => ({
    address: d.address.toLowerCase(),
    merchant: d.merchant.toLowerCase(),
    orderRef: d.orderRef.toLowerCase(),
    token: d.token.toLowerCase(),
    eth: d.eth.toString(),
    tokenAmount: d.tokenAmount.toString(),
  }));
  const { rows } = await db.query<SweepRow>(
    `INSERT INTO sweeps (chain_id, sender, nonce, tx_hash, tx_hashes, deposits, addresses, value, gas_limit,
       max_fee_per_gas, max_priority_fee_per_gas, state, attempts, sent_block)
     VALUES ($1, $2, $3, $4, ARRAY[$4::text], $5::jsonb, $6::text[], $7, $8, $9, $10, 'sent', 1, $11)
     ON CONFLICT (chain_id, sender, nonce) DO UPDATE SET
       tx_hash = EXCLUDED.tx_hash, tx_hashes = EXCLUDED.tx_hashes, deposits = EXCLUDED.deposits,
       addresses = EXCLUDED.addresses, value = EXCLUDED.value, gas_limit = EXCLUDED.gas_limit,
       max_fee_per_gas = EXCLUDED.max_fee_per_gas, max_priority_fee_per_gas = EXCLUDED.max_priority_fee_per_gas,
       state = 'sent', attempts = 1, sent_block = EXCLUDED.sent_block, mined_block = NULL,
       mined_block_hash = NULL, error = NULL, updated_at = now()
     RETURNING ${COLUMNS}`,
    [
      s.chainId,
      s.sender.toLowerCase(),
      s.nonce,
      s.txHash,
      JSON.stringify(deposits),
      deposits.map((d) => d.address),
      s.value.toString(),
      s.gasLimit.toString(),
      s.maxFeePerGas.toString(),
      s.maxPriorityFeePerGas.toString(),
      s.sentBlock,
    ],
  );
  return toRecord(rows[0] as SweepRow);
}

/** A re-broadcast of the same nonce with a higher fee: a new hash, one more attempt. */
export async function recordRebroadcast(
  db: Queryable,
  id: bigint,
  r: { txHash: `0x${string}`; maxFeePerGas: bigint; maxPriorityFeePerGas: bigint; sentBlock: bigint },
): Promise<void> {
  await db.query(
    `UPDATE sweeps SET tx_hash = $2, tx_hashes = array_append(tx_hashes, $2::text), max_fee_per_gas = $3,
       max_priority_fee_per_gas = $4, sent_block = $5, attempts = attempts + 1, error = NULL, updated_at = now()
     WHERE id = $1`,
    [id, r.txHash, r.maxFeePerGas.toString(), r.maxPriorityFeePerGas.toString(), r.sentBlock],
  );
}

/** Moves a sweep to a new state; `mined` carries the receipt's block, `sent` clears it (a reorg). */
export async function setSweepState(
  db: Queryable,
  id: bigint,
  state: SweepState,
  details: {
    txHash?: `0x${string}`;
    minedBlock?: bigint | null;
    minedBlockHash?: string | null;
    sentBlock?: bigint;
    error?: string | null;
  } = {},
): Promise<void> {
  await db.query(
    `UPDATE sweeps SET state = $2,
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

/** The sweeps of a chain not yet confirmed or given up (`sent` or `mined`), oldest first. */
export async function openSweeps(db: Queryable, chainId: bigint): Promise<SweepRecord[]> {
  const { rows } = await db.query<SweepRow>(
    `SELECT ${COLUMNS} FROM sweeps WHERE chain_id = $1 AND state IN ('sent', 'mined') ORDER BY nonce`,
    [chainId],
  );
  return rows.map(toRecord);
}

/** The newest sweeps of a chain (for status and tests), newest first. */
export async function recentSweeps(db: Queryable, chainId: bigint, limit = 20): Promise<SweepRecord[]> {
  const { rows } = await db.query<SweepRow>(
    `SELECT ${COLUMNS} FROM sweeps WHERE chain_id = $1 ORDER BY id DESC LIMIT $2`,
    [chainId, limit],
  );
  return rows.map(toRecord);
}

/** The chain head when this chain's newest sweep was first sent (the SWEEP_INTERVAL_BLOCKS clock). */
export async function lastSweepBlock(db: Queryable, chainId: bigint): Promise<bigint | null> {
  // A sweep that failed before it reached the chain cost nothing and does not count.
  const { rows } = await db.query<{ sent_block: bigint }>(
    `SELECT sent_block FROM sweeps WHERE chain_id = $1 AND NOT (state = 'failed' AND mined_block IS NULL)
      ORDER BY id DESC LIMIT 1`,
    [chainId],
  );
  const v = rows[0]?.sent_block;
  return v === undefined ? null : BigInt(v);
}

/** Forgets every sweep of a chain, e.g. for a new local dev chain (its nonces start over). */
export async function deleteChainSweeps(tx: Queryable, chainId: bigint): Promise<void> {
  await tx.query("DELETE FROM sweeps WHERE chain_id = $1", [chainId]);
}
