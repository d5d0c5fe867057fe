import type { Queryable } from "../db/types.ts";
import { outgoingByIds, type OutgoingState, type OutgoingTransaction } from "../sender/repository.ts";

/**
 * Every statement on the `sweeps` table (migrations 062, 130): what each of the sweeper's
 * transactions sweeps. The transaction itself (nonce, hashes, fees, state) is the sender's
 * (`outgoing_transactions`, server/src/sender/); a sweep points at it. Only the sweeper (./sweeper.ts, through this file) runs
 * SQL on `sweeps`.
 */

/** A sweep's state is its transaction's. */
export type SweepState = OutgoingState;

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

/** A sweep with its transaction as the sender follows it. */
export interface SweepRecord {
  id: bigint;
  chainId: bigint;
  outgoingId: bigint;
  sender: string | null;
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
  /** Chain head when the sweep was sent (the SWEEP_INTERVAL_BLOCKS clock). */
  sentBlock: bigint;
  minedBlock: bigint | null;
  minedBlockHash: string | null;
  error: string | null;
  /** The transaction was recorded before the sender kept calldata (migration 130). */
  callMissing: boolean;
}

interface SweepRow {
  id: bigint;
  chain_id: bigint;
  outgoing_id: bigint;
  deposits:
    | string
    | {
        address: string;
        merchant: string;
        orderRef: string;
        token: string;
        eth: string;
        tokenAmount: string;
      }[];
  value: string;
  sent_block: bigint;
}

const COLUMNS = "id, chain_id, outgoing_id, deposits, value::text, sent_block";

function toRecord(r: SweepRow, t: OutgoingTransaction): SweepRecord {
  const deposits =
    typeof r.deposits === "string"
      ? (JSON.parse(r.deposits) as Exclude<SweepRow["deposits"], string>)
      : r.deposits;
  return {
    id: BigInt(r.id),
    chainId: BigInt(r.chain_id),
    outgoingId: t.id,
    sender: t.sender,
    nonce: t.nonce,
    txHash: t.txHash,
    txHashes: t.txHashes,
    deposits: deposits.map((d) => ({ ...d, eth: BigInt(d.eth), tokenAmount: BigInt(d.tokenAmount) })),
    value: BigInt(r.value),
    gasLimit: t.gasLimit,
    maxFeePerGas: t.maxFeePerGas,
    maxPriorityFeePerGas: t.maxPriorityFeePerGas,
    state: t.state,
    attempts: t.attempts,
    sentBlock: BigInt(r.sent_block),
    minedBlock: t.minedBlock,
    minedBlockHash: t.minedBlockHash,
    error: t.error,
    callMissing: t.data === null,
  };
}

/** Sweep rows with their transactions, in the rows' order. */
async function withTransactions(db: Queryable, rows: SweepRow[]): Promise<SweepRecord[]> {
  const txs = await outgoingByIds(
    db,
    rows.map((r) => BigInt(r.outgoing_id)),
  );
  return rows.flatMap((r) => {
    const t = txs.get(BigInt(r.outgoing_id));
    return t ? [toRecord(r, t)] : [];
  });
}

export interface NewSweep {
  chainId: bigint;
  /** The sender's row of its transaction, recorded in the same database transaction. */
  outgoingId: bigint;
  deposits: readonly SweptDeposit[];
  value: bigint;
  sentBlock: bigint;
}

/** Records what a sweep sweeps, in the transaction in which the sender records it (before broadcast). */
export async function insertSweep(db: Queryable, s: NewSweep): Promise<void> {
  const deposits = s.deposits.map((d) => ({
    address: d.address.toLowerCase(),
    merchant: d.merchant.toLowerCase(),
    orderRef: d.orderRef.toLowerCase(),
    token: d.token.toLowerCase(),
    eth: d.eth.toString(),
    tokenAmount: d.tokenAmount.toString(),
  }));
  await db.query(
    `INSERT INTO sweeps (chain_id, outgoing_id, deposits, addresses, value, sent_block)
     VALUES ($1, $2, $3::jsonb, $4::text[], $5, $6)`,
    [
      s.chainId,
      s.outgoingId,
      JSON.stringify(deposits),
      deposits.map((d) => d.address),
      s.value.toString(),
      s.sentBlock,
    ],
  );
}

/** A sweep whose broadcast the node refused never reached the chain and costs nothing: forgotten. */
export async function deleteSweepOf(db: Queryable, outgoingId: bigint): Promise<void> {
  await db.query("DELETE FROM sweeps WHERE outgoing_id = $1", [outgoingId]);
}

/** The sweeps of these transactions (the sender's open ones), by nonce. */
export async function sweepsOf(db: Queryable, open: readonly OutgoingTransaction[]): Promise<SweepRecord[]> {
  if (open.length === 0) return [];
  const { rows } = await db.query<SweepRow>(
    `SELECT ${COLUMNS} FROM sweeps WHERE outgoing_id = ANY($1::int8[])`,
    [open.map((t) => t.id.toString())],
  );
  const byId = new Map(open.map((t) => [t.id, t]));
  return rows
    .map((r) => toRecord(r, byId.get(BigInt(r.outgoing_id)) as OutgoingTransaction))
    .sort((a, b) => (a.nonce < b.nonce ? -1 : a.nonce > b.nonce ? 1 : 0));
}

/** The newest sweeps of a chain (for status and tests), newest first. */
export async function recentSweeps(db: Queryable, chainId: bigint, limit = 20): Promise<SweepRecord[]> {
  const { rows } = await db.query<SweepRow>(
    `SELECT ${COLUMNS} FROM sweeps WHERE chain_id = $1 ORDER BY id DESC LIMIT $2`,
    [chainId, limit],
  );
  return withTransactions(db, rows);
}

/** The chain head when this chain's newest sweep was sent (the SWEEP_INTERVAL_BLOCKS clock). */
export async function lastSweepBlock(db: Queryable, chainId: bigint): Promise<bigint | null> {
  // A sweep the node refused is deleted (deleteSweepOf): it cost nothing and does not count.
  const { rows } = await db.query<{ sent_block: bigint }>(
    "SELECT sent_block FROM sweeps WHERE chain_id = $1 ORDER BY id DESC LIMIT 1",
    [chainId],
  );
  const v = rows[0]?.sent_block;
  return v === undefined ? null : BigInt(v);
}

/** Forgets every sweep of a chain, e.g. for a new local dev chain (its nonces start over). */
export async function deleteChainSweeps(tx: Queryable, chainId: bigint): Promise<void> {
  await tx.query("DELETE FROM sweeps WHERE chain_id = $1", [chainId]);
}
