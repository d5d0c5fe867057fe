import type { Queryable } from "../db/types.ts";
import type { DepositBalanceObserved, DepositTransferObserved } from "../chain/events.ts";
import type { DepositSweep } from "./events.ts";
import type { DateRange } from "../lib/range.ts";

/**
 * Every statement on the deposits tables (`deposit_addresses`, `deposit_balances`,
 * `deposit_transfers`, `deposit_sweeps`). Rows observed on chain carry their block, so a reorg
 * deletes those past the common ancestor and the orders are recomputed from what remains.
 */

export interface NewDepositAddress {
  chainId: bigint;
  address: string;
  merchant: string;
  orderRef: string;
  token: string;
  /** How long from now to watch it (the order's time to live plus DEPOSIT_WATCH_HOURS). */
  watchSeconds: number;
}

/** Starts watching a deposit address (idempotent). */
export async function registerDepositAddress(db: Queryable, d: NewDepositAddress): Promise<void> {
  await db.query(
    `INSERT INTO deposit_addresses (chain_id, address, merchant, order_ref, token, watch_until)
     VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::float8))
     ON CONFLICT (chain_id, address) DO NOTHING`,
    [
      d.chainId,
      d.address.toLowerCase(),
      d.merchant.toLowerCase(),
      d.orderRef.toLowerCase(),
      d.token,
      d.watchSeconds,
    ],
  );
}

/** Starts watching many deposit addresses at once (idempotent; benchmarks and imports). */
export async function registerDepositAddresses(
  db: Queryable,
  list: readonly NewDepositAddress[],
): Promise<void> {
  if (list.length === 0) return;
  const col = <T>(f: (d: NewDepositAddress) => T) => list.map(f);
  await db.query(
    `INSERT INTO deposit_addresses (chain_id, address, merchant, order_ref, token, watch_until)
     SELECT c, a, m, o, t, now() + make_interval(secs => w)
       FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::float8[]) AS u(c, a, m, o, t, w)
     ON CONFLICT (chain_id, address) DO NOTHING`,
    [
      col((d) => d.chainId.toString()),
      col((d) => d.address.toLowerCase()),
      col((d) => d.merchant.toLowerCase()),
      col((d) => d.orderRef.toLowerCase()),
      col((d) => d.token),
      col((d) => d.watchSeconds),
    ],
  );
}

/**
 * Moves the end of an address's watch window to `watchSeconds` from now (a cancelled
 * subscription's address is watched a little longer, then only while it holds unswept ETH).
 */
export async function setDepositWatchWindow(
  db: Queryable,
  chainId: bigint,
  address: string,
  watchSeconds: number,
): Promise<void> {
  await db.query(
    `UPDATE deposit_addresses SET watch_until = now() + make_interval(secs => $3::float8)
      WHERE chain_id = $1 AND address = $2`,
    [chainId, address.toLowerCase(), watchSeconds],
  );
}

export interface WatchedAddress {
  address: string;
  /** The newest observed ETH balance. */
  balance: bigint;
}

/**
 * The open deposit addresses of a chain: inside their watch window, or still holding ETH that was
 * not swept. Two index scans, however many deposits the chain has had.
 */
export async function watchedAddresses(db: Queryable, chainId: bigint): Promise<WatchedAddress[]> {
  const { rows } = await db.query<{ address: string; balance: string }>(
    `SELECT address, balance::text FROM deposit_addresses WHERE chain_id = $1 AND watch_until > now()
     UNION
     SELECT address, balance::text FROM deposit_addresses WHERE chain_id = $1 AND balance > 0`,
    [chainId],
  );
  return rows.map((r) => ({ address: r.address, balance: BigInt(r.balance) }));
}

/** An open deposit address as the watch reads it: its newest balance and the block it was observed at. */
export interface WatchedDetail extends WatchedAddress {
  /** The block of its newest balance observation; null before the first one. */
  observedAt: bigint | null;
}

const OPEN = "(watch_until > now() OR balance > 0)";

/**
 * Those of `addresses` that are open deposit addresses of the chain, with their newest balance and
 * its block: one index lookup per address given (the block's recipients, a slice), however many
 * addresses are open.
 */
export async function watchedDetails(
  db: Queryable,
  chainId: bigint,
  addresses: readonly string[],
): Promise<WatchedDetail[]> {
  if (addresses.length === 0) return [];
  const { rows } = await db.query<{ address: string; balance: string; observed: string | null }>(
    `SELECT a.address, a.balance::text,
            (SELECT max(b.block_number) FROM deposit_balances b
              WHERE b.chain_id = a.chain_id AND b.address = a.address)::text AS observed
       FROM deposit_addresses a
      WHERE a.chain_id = $1 AND a.address = ANY($2::text[]) AND ${OPEN}`,
    [chainId, [...new Set(addresses.map((a) => a.toLowerCase()))]],
  );
  return rows.map((r) => ({
    address: r.address,
    balance: BigInt(r.balance),
    observedAt: r.observed === null ? null : BigInt(r.observed),
  }));
}

/**
 * Up to `limit` open deposit addresses after `after`, in address order, with their newest balance
 * (the rotation's next slice): a walk of the primary key from `after`, read once per address.
 */
export async function watchedSlice(
  db: Queryable,
  chainId: bigint,
  after: string,
  limit: number,
): Promise<WatchedAddress[]> {
  const { rows } = await db.query<{ address: string; balance: string }>(
    `SELECT address, balance::text FROM deposit_addresses
      WHERE chain_id = $1 AND address > $2 AND ${OPEN}
      ORDER BY address LIMIT $3`,
    [chainId, after, limit],
  );
  return rows.map((r) => ({ address: r.address, balance: BigInt(r.balance) }));
}

/** How many deposit addresses of the chain are open. */
export async function countWatched(db: Queryable, chainId: bigint): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM deposit_addresses WHERE chain_id = $1 AND ${OPEN}`,
    [chainId],
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * Deposit addresses whose watch window ends between `fromSeconds` and `toSeconds` from now (with
 * the window's tail after expiry added, those whose order expires soon or expired just now).
 */
export async function addressesEndingBetween(
  db: Queryable,
  chainId: bigint,
  fromSeconds: number,
  toSeconds: number,
): Promise<string[]> {
  const { rows } = await db.query<{ address: string }>(
    `SELECT address FROM deposit_addresses
      WHERE chain_id = $1
        AND watch_until BETWEEN now() + make_interval(secs => $2::float8) AND now() + make_interval(secs => $3::float8)`,
    [chainId, fromSeconds, toSeconds],
  );
  return rows.map((r) => r.address);
}

/** Stores balance observations (idempotent per address and block) and moves each address's newest balance. */
export async function recordBalances(
  tx: Queryable,
  events: readonly DepositBalanceObserved[],
): Promise<void> {
  if (events.length === 0) return;
  const col = <T>(f: (e: DepositBalanceObserved) => T) => events.map(f);
  await tx.query(
    `INSERT INTO deposit_balances (chain_id, address, block_number, block_hash, block_timestamp, balance, tx_hash)
     SELECT * FROM unnest($1::int8[], $2::text[], $3::int8[], $4::text[], $5::timestamptz[], $6::numeric[], $7::text[])
     ON CONFLICT (chain_id, address, block_number) DO UPDATE
       SET balance = EXCLUDED.balance, block_hash = EXCLUDED.block_hash, tx_hash = EXCLUDED.tx_hash`,
    [
      col((e) => e.chainId.toString()),
      col((e) => e.address.toLowerCase()),
      col((e) => e.blockNumber.toString()),
      col((e) => e.blockHash),
      col((e) => e.blockTimestamp.toISOString()),
      col((e) => e.balance.toString()),
      col((e) => e.txHash),
    ],
  );
  const chains = new Set(events.map((e) => e.chainId));
  for (const chainId of chains) {
    await refreshNewestBalances(
      tx,
      chainId,
      events.filter((e) => e.chainId === chainId).map((e) => e.address.toLowerCase()),
    );
  }
}

/** Sets `deposit_addresses.balance` of the given addresses from their newest observation. */
async function refreshNewestBalances(tx: Queryable, chainId: bigint, addresses: readonly string[]) {
  if (addresses.length === 0) return;
  await tx.query(
    `UPDATE deposit_addresses a SET balance = COALESCE(
       (SELECT b.balance FROM deposit_balances b WHERE b.chain_id = a.chain_id AND b.address = a.address
         ORDER BY b.block_number DESC LIMIT 1), 0)
     WHERE a.chain_id = $1 AND a.address = ANY($2::text[])`,
    [chainId, [...new Set(addresses)]],
  );
}

export async function recordTransfers(
  tx: Queryable,
  events: readonly DepositTransferObserved[],
): Promise<void> {
  if (events.length === 0) return;
  const col = <T>(f: (e: DepositTransferObserved) => T) => events.map(f);
  await tx.query(
    `INSERT INTO deposit_transfers (chain_id, block_number, tx_index, log_index, block_hash, block_timestamp, tx_hash,
       token, address, sender, amount)
     SELECT * FROM unnest($1::int8[], $2::int8[], $3::int4[], $4::int4[], $5::text[], $6::timestamptz[], $7::text[],
       $8::text[], $9::text[], $10::text[], $11::numeric[])
     ON CONFLICT DO NOTHING`,
    [
      col((e) => e.chainId.toString()),
      col((e) => e.blockNumber.toString()),
      col((e) => e.txIndex),
      col((e) => e.logIndex),
      col((e) => e.blockHash),
      col((e) => e.blockTimestamp.toISOString()),
      col((e) => e.txHash),
      col((e) => e.token.toLowerCase()),
      col((e) => e.address.toLowerCase()),
      col((e) => e.sender.toLowerCase()),
      col((e) => e.amount.toString()),
    ],
  );
}

export async function recordSweeps(tx: Queryable, sweeps: readonly DepositSweep[]): Promise<void> {
  if (sweeps.length === 0) return;
  const col = <T>(f: (e: DepositSweep) => T) => sweeps.map(f);
  await tx.query(
    `INSERT INTO deposit_sweeps (chain_id, block_number, tx_index, log_index, block_hash, block_timestamp, tx_hash,
       kind, address, merchant, order_ref, token, amount)
     SELECT * FROM unnest($1::int8[], $2::int8[], $3::int4[], $4::int4[], $5::text[], $6::timestamptz[], $7::text[],
       $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::numeric[])
     ON CONFLICT DO NOTHING`,
    [
      col((e) => e.chainId.toString()),
      col((e) => e.blockNumber.toString()),
      col((e) => e.txIndex),
      col((e) => e.logIndex),
      col((e) => e.blockHash),
      col((e) => e.blockTimestamp.toISOString()),
      col((e) => e.txHash),
      col((e) => e.kind),
      col((e) => e.address.toLowerCase()),
      col((e) => e.merchant.toLowerCase()),
      col((e) => e.orderRef.toLowerCase()),
      col((e) => e.token.toLowerCase()),
      col((e) => e.amount.toString()),
    ],
  );
}

/**
 * Deletes every deposit observation and sweep of `chainId` past block `ancestor` (a reorg's common
 * ancestor), resets the newest balances from what remains, and returns the addresses touched.
 */
export async function rollbackDepositsPast(
  tx: Queryable,
  chainId: bigint,
  ancestor: bigint,
): Promise<string[]> {
  const touched = new Set<string>();
  for (const table of ["deposit_balances", "deposit_transfers", "deposit_sweeps"]) {
    const { rows } = await tx.query<{ address: string }>(
      `DELETE FROM ${table} WHERE chain_id = $1 AND block_number > $2 RETURNING address`,
      [chainId, ancestor],
    );
    for (const r of rows) touched.add(r.address);
  }
  await refreshNewestBalances(tx, chainId, [...touched]);
  return [...touched];
}

export interface BalanceRow {
  address: string;
  blockNumber: bigint;
  blockTimestamp: Date;
  balance: bigint;
  txHash: string | null;
}
export interface TransferRow {
  address: string;
  token: string;
  blockNumber: bigint;
  logIndex: number;
  blockTimestamp: Date;
  txHash: string;
  amount: bigint;
}
export interface SweepRow {
  address: string;
  kind: "credited" | "forwarded";
  token: string;
  blockNumber: bigint;
  logIndex: number;
  blockTimestamp: Date;
  txHash: string;
  amount: bigint;
}

/** Everything observed at the given addresses of a chain, as the order state reads it. */
export interface DepositActivity {
  balances: BalanceRow[];
  transfers: TransferRow[];
  sweeps: SweepRow[];
}

export async function depositActivity(
  tx: Queryable,
  chainId: bigint,
  addresses: readonly string[],
): Promise<Map<string, DepositActivity>> {
  const result = new Map<string, DepositActivity>();
  if (addresses.length === 0) return result;
  const of = (address: string) => {
    let a = result.get(address);
    if (!a) result.set(address, (a = { balances: [], transfers: [], sweeps: [] }));
    return a;
  };
  const params = [chainId, addresses.map((a) => a.toLowerCase())];
  const balances = await tx.query<{
    address: string;
    block_number: bigint;
    block_timestamp: Date;
    balance: string;
    tx_hash: string | null;
  }>(
    `SELECT address, block_number, block_timestamp, balance::text, tx_hash FROM deposit_balances
      WHERE chain_id = $1 AND address = ANY($2::text[]) ORDER BY block_number`,
    params,
  );
  for (const r of balances.rows) {
    of(r.address).balances.push({
      address: r.address,
      blockNumber: r.block_number,
      blockTimestamp: r.block_timestamp,
      balance: BigInt(r.balance),
      txHash: r.tx_hash,
    });
  }
  // Transfers and sweeps share their columns (sweeps add `kind`): one row shape, one mapper.
  type FlowDbRow = {
    address: string;
    kind?: "credited" | "forwarded";
    token: string;
    block_number: bigint;
    log_index: number;
    block_timestamp: Date;
    tx_hash: string;
    amount: string;
  };
  const flow = (r: FlowDbRow) => ({
    address: r.address,
    token: r.token,
    blockNumber: r.block_number,
    logIndex: r.log_index,
    blockTimestamp: r.block_timestamp,
    txHash: r.tx_hash,
    amount: BigInt(r.amount),
  });
  const transfers = await tx.query<FlowDbRow>(
    `SELECT address, token, block_number, log_index, block_timestamp, tx_hash, amount::text FROM deposit_transfers
      WHERE chain_id = $1 AND address = ANY($2::text[]) ORDER BY block_number, log_index`,
    params,
  );
  for (const r of transfers.rows) of(r.address).transfers.push(flow(r));
  const sweeps = await tx.query<FlowDbRow & { kind: "credited" | "forwarded" }>(
    `SELECT address, kind, token, block_number, log_index, block_timestamp, tx_hash, amount::text FROM deposit_sweeps
      WHERE chain_id = $1 AND address = ANY($2::text[]) ORDER BY block_number, log_index`,
    params,
  );
  for (const r of sweeps.rows) of(r.address).sweeps.push({ ...flow(r), kind: r.kind });
  return result;
}

/** A deposit the contract can sweep now: the arguments of `sweepDeposits` and what it holds. */
export interface SweepCandidate {
  address: string;
  merchant: string;
  /** bytes32 order id bound in the address. */
  orderRef: string;
  /** The token to sweep, 0x0…0 for ETH only (a token sweep also sweeps the deposit's ETH). */
  token: string;
  /** Unswept amount as observed (ETH: the newest balance; tokens: transfers in minus sweeps). */
  amount: bigint;
  /** The block of the newest observation that makes up `amount`. */
  lastBlock: bigint;
}

/**
 * Deposits of a chain holding unswept funds whose newest observation is at or before
 * `confirmedAtOrBefore` (indexed head − CONFIRMATIONS + 1): what a sweeper may sweep. ETH and each
 * token of an address are separate candidates; `sweepDeposits` takes them as they are.
 */
export async function depositsReadyToSweep(
  db: Queryable,
  chainId: bigint,
  confirmedAtOrBefore: bigint,
): Promise<SweepCandidate[]> {
  const { rows } = await db.query<{
    address: string;
    merchant: string;
    order_ref: string;
    token: string;
    amount: string;
    last_block: bigint;
  }>(
    `SELECT a.address, a.merchant, a.order_ref, '0x0000000000000000000000000000000000000000' AS token,
            a.balance::text AS amount, b.last_block
       FROM deposit_addresses a
       JOIN LATERAL (SELECT max(block_number) AS last_block FROM deposit_balances b
                      WHERE b.chain_id = a.chain_id AND b.address = a.address) b ON true
      WHERE a.chain_id = $1 AND a.balance > 0 AND b.last_block <= $2
     UNION ALL
     SELECT a.address, a.merchant, a.order_ref, t.token, (t.amount - COALESCE(s.amount, 0))::text, t.last_block
       FROM deposit_addresses a
       JOIN (SELECT address, token, sum(amount) AS amount, max(block_number) AS last_block FROM deposit_transfers
              WHERE chain_id = $1 GROUP BY address, token) t ON t.address = a.address
       LEFT JOIN (SELECT address, token, sum(amount) AS amount FROM deposit_sweeps
              WHERE chain_id = $1 GROUP BY address, token) s ON s.address = t.address AND s.token = t.token
      WHERE a.chain_id = $1 AND t.amount > COALESCE(s.amount, 0) AND t.last_block <= $2
      ORDER BY 1, 4`,
    [chainId, confirmedAtOrBefore],
  );
  return rows.map((r) => ({
    address: r.address,
    merchant: r.merchant,
    orderRef: r.order_ref,
    token: r.token,
    amount: BigInt(r.amount),
    lastBlock: BigInt(r.last_block),
  }));
}

/**
 * depositsReadyToSweep for the deposits bound to `merchants` (payout addresses) only, filtered in
 * the database: the work and the rows returned grow with these merchants' deposits, not with the
 * chain's (the console's list; security review 2, finding 7).
 */
export async function merchantDepositsReadyToSweep(
  db: Queryable,
  chainId: bigint,
  confirmedAtOrBefore: bigint,
  merchants: readonly string[],
): Promise<SweepCandidate[]> {
  if (merchants.length === 0) return [];
  const { rows } = await db.query<{
    address: string;
    merchant: string;
    order_ref: string;
    token: string;
    amount: string;
    last_block: bigint;
  }>(
    `WITH mine AS (
       SELECT address, merchant, order_ref, balance FROM deposit_addresses
        WHERE chain_id = $1 AND merchant = ANY($3::text[]))
     SELECT a.address, a.merchant, a.order_ref, '0x0000000000000000000000000000000000000000' AS token,
            a.balance::text AS amount, b.last_block
       FROM mine a
       JOIN LATERAL (SELECT max(block_number) AS last_block FROM deposit_balances b
                      WHERE b.chain_id = $1 AND b.address = a.address) b ON true
      WHERE a.balance > 0 AND b.last_block <= $2
     UNION ALL
     SELECT a.address, a.merchant, a.order_ref, t.token, (t.amount - COALESCE(s.amount, 0))::text, t.last_block
       FROM mine a
       JOIN LATERAL (SELECT token, sum(amount) AS amount, max(block_number) AS last_block FROM deposit_transfers t
                      WHERE t.chain_id = $1 AND t.address = a.address GROUP BY token) t ON true
       LEFT JOIN LATERAL (SELECT sum(amount) AS amount FROM deposit_sweeps s
                      WHERE s.chain_id = $1 AND s.address = a.address AND s.token = t.token) s ON true
      WHERE t.amount > COALESCE(s.amount, 0) AND t.last_block <= $2
      ORDER BY 1, 4`,
    [chainId, confirmedAtOrBefore, [...new Set(merchants.map((m) => m.toLowerCase()))]],
  );
  return rows.map((r) => ({
    address: r.address,
    merchant: r.merchant,
    orderRef: r.order_ref,
    token: r.token,
    amount: BigInt(r.amount),
    lastBlock: BigInt(r.last_block),
  }));
}

/** The binding of the given deposit addresses of a chain (merchant, order ref), by address. */
export async function depositBindings(
  tx: Queryable,
  chainId: bigint,
  addresses: readonly string[],
): Promise<Map<string, { merchant: string; orderRef: string }>> {
  if (addresses.length === 0) return new Map();
  const { rows } = await tx.query<{ address: string; merchant: string; order_ref: string }>(
    "SELECT address, merchant, order_ref FROM deposit_addresses WHERE chain_id = $1 AND address = ANY($2::text[])",
    [chainId, [...new Set(addresses.map((a) => a.toLowerCase()))]],
  );
  return new Map(rows.map((r) => [r.address, { merchant: r.merchant, orderRef: r.order_ref }]));
}

/** Forgets every deposit of a chain, e.g. for a new local dev chain. */
export async function deleteChainDeposits(tx: Queryable, chainId: bigint): Promise<void> {
  for (const table of ["deposit_balances", "deposit_transfers", "deposit_sweeps", "deposit_addresses"]) {
    await tx.query(`DELETE FROM ${table} WHERE chain_id = $1`, [chainId]);
  }
}

/** A sweep observed on chain, as the exports list it (docs/exports.md). */
export interface SweepExportRow {
  chainId: bigint;
  blockNumber: bigint;
  logIndex: number;
  blockTimestamp: Date;
  txHash: string;
  /** credited: into the contract for the merchant; forwarded: a token not allowlisted, sent to the merchant. */
  kind: "credited" | "forwarded";
  /** The deposit address swept, lowercase. */
  address: string;
  /** The payout address, lowercase. */
  merchant: string;
  orderRef: string;
  token: string;
  amount: bigint;
}

/**
 * Every sweep to these payout addresses on these chains whose block time lies in `range`, oldest
 * first, one page at a time (keyset on block time, chain, block and log index).
 */
export async function* sweepsForExport(
  db: Queryable,
  chainIds: readonly bigint[],
  merchants: readonly string[],
  range: DateRange,
  pageSize = 1_000,
): AsyncGenerator<SweepExportRow[]> {
  if (merchants.length === 0 || chainIds.length === 0) return;
  let after: SweepExportRow | null = null;
  for (;;) {
    const page: { rows: SweepDbRow[] } = await db.query<SweepDbRow>(
      `SELECT chain_id, block_number, log_index, block_timestamp, tx_hash, kind, address, merchant, order_ref, token,
              amount::text AS amount
         FROM deposit_sweeps
        WHERE chain_id = ANY($1::int8[]) AND merchant = ANY($2::text[])
          AND ($3::timestamptz IS NULL OR block_timestamp >= $3) AND ($4::timestamptz IS NULL OR block_timestamp < $4)
          AND ($5::timestamptz IS NULL OR (block_timestamp, chain_id, block_number, log_index) > ($5, $6::int8, $7::int8, $8::int4))
        ORDER BY block_timestamp, chain_id, block_number, log_index LIMIT $9`,
      [
        chainIds.map(String),
        merchants.map((m) => m.toLowerCase()),
        range.from,
        range.to,
        after?.blockTimestamp ?? null,
        after?.chainId ?? null,
        after?.blockNumber ?? null,
        after?.logIndex ?? null,
        pageSize,
      ],
    );
    const rows = page.rows.map((r): SweepExportRow => ({
      chainId: BigInt(r.chain_id),
      blockNumber: BigInt(r.block_number),
      logIndex: r.log_index,
      blockTimestamp: r.block_timestamp,
      txHash: r.tx_hash,
      kind: r.kind,
      address: r.address,
      merchant: r.merchant,
      orderRef: r.order_ref,
      token: r.token,
      amount: BigInt(r.amount),
    }));
    if (rows.length > 0) yield rows;
    after = rows.at(-1) ?? null;
    if (!after || rows.length < pageSize) return;
  }
}

type SweepDbRow = {
  chain_id: bigint;
  block_number: bigint;
  log_index: number;
  block_timestamp: Date;
  tx_hash: string;
  kind: "credited" | "forwarded";
  address: string;
  merchant: string;
  order_ref: string;
  token: string;
  amount: string;
};
