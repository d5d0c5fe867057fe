import type { Queryable } from "../db/types.ts";
import type { DateRange } from "../lib/range.ts";

/** Read queries on `contract_events` and `merchant_ledger` for a merchant's account history. */

export interface LedgerEntry {
  /** Payout address, lowercase. */
  merchant: string;
  /** Token address, lowercase (the zero address for ETH). */
  token: string;
  credited: bigint;
  withdrawn: bigint;
  refunded: bigint;
}

/** The contract's running totals for some payout addresses on one chain. */
export async function ledgerEntries(
  db: Queryable,
  chainId: bigint,
  merchants: readonly string[],
): Promise<LedgerEntry[]> {
  const { rows } = await db.query<{
    merchant: string;
    token: string;
    credited: string;
    withdrawn: string;
    refunded: string;
  }>(
    "SELECT merchant, token, credited, withdrawn, refunded FROM merchant_ledger WHERE chain_id = $1 AND merchant = ANY($2::text[])",
    [chainId, merchants],
  );
  return rows.map((r) => ({
    merchant: r.merchant,
    token: r.token,
    credited: BigInt(r.credited),
    withdrawn: BigInt(r.withdrawn),
    refunded: BigInt(r.refunded),
  }));
}

export interface OrphanPayment {
  txHash: string;
  /** The bytes32 order reference the payer sent, which matched no order. */
  orderRef: string;
  token: string;
  amount: bigint;
  merchant: string;
}

/** What else a payment that matched no order may belong to, and is then no orphan. */
export interface KnownPayments {
  /** At most this many orphans, newest first (default 100). */
  limit?: number;
  /** Payers whose payments belong elsewhere, e.g. the Subscriptions contract's collections. */
  knownPayers?: readonly string[];
  /** References (bytes32 hex) that name something other than an order, e.g. a subscription. */
  knownRefs?: readonly string[];
}

/**
 * Payments to these payout addresses that matched no order, newest first. A payment made by one of
 * `knownPayers` or carrying one of `knownRefs` is no orphan: a subscription is paid with its own
 * reference (swept from its deposit address, or collected by the Subscriptions contract), which
 * names no order.
 */
export async function orphanPayments(
  db: Queryable,
  chainId: bigint,
  merchants: readonly string[],
  known: KnownPayments = {},
): Promise<OrphanPayment[]> {
  const { limit = 100, knownPayers = [], knownRefs = [] } = known;
  const { rows } = await db.query<{
    tx_hash: string;
    order_ref: string;
    token: string;
    amount: string;
    merchant: string;
  }>(
    `SELECT tx_hash, order_ref, token, amount, merchant FROM contract_events
      WHERE chain_id = $1 AND kind = 'payment' AND order_id IS NULL AND merchant = ANY($2::text[])
        AND NOT (counterparty = ANY($4::text[])) AND NOT (order_ref = ANY($5::text[]))
      ORDER BY block_number DESC, log_index DESC LIMIT $3`,
    [
      chainId,
      merchants,
      limit,
      knownPayers.map((p) => p.toLowerCase()),
      knownRefs.map((r) => r.toLowerCase()),
    ],
  );
  return rows.map((r) => ({
    txHash: r.tx_hash,
    orderRef: r.order_ref,
    token: r.token,
    amount: BigInt(r.amount),
    merchant: r.merchant,
  }));
}

/** A contract event as the exports list it (docs/exports.md). */
export interface LedgerEventRow {
  chainId: bigint;
  blockNumber: bigint;
  logIndex: number;
  blockTimestamp: Date;
  txHash: string;
  kind: "payment" | "withdrawal" | "refund";
  /** Payout address, lowercase. */
  merchant: string;
  /** The bytes32 order reference (payments, refunds), or null. */
  orderRef: string | null;
  /** The order it matched, whoever owns it, or null. */
  orderId: bigint | null;
  /** The payer of a payment (a deposit address for a sweep), the refund's recipient or the withdrawal's target. */
  counterparty: string;
  token: string;
  amount: bigint;
}

/**
 * Every event of one kind to these payout addresses on these chains whose block time lies in
 * `range`, oldest first, one page at a time (keyset on block time, chain, block and log index).
 */
export async function* ledgerEventsForExport(
  db: Queryable,
  kind: LedgerEventRow["kind"],
  chainIds: readonly bigint[],
  merchants: readonly string[],
  range: DateRange,
  pageSize = 1_000,
): AsyncGenerator<LedgerEventRow[]> {
  if (merchants.length === 0 || chainIds.length === 0) return;
  let after: LedgerEventRow | null = null;
  for (;;) {
    const page: { rows: EventDbRow[] } = await db.query<EventDbRow>(
      `SELECT chain_id, block_number, log_index, block_timestamp, tx_hash, kind, merchant, order_ref, order_id,
              counterparty, token, amount::text AS amount
         FROM contract_events
        WHERE kind = $1 AND chain_id = ANY($2::int8[]) AND merchant = ANY($3::text[])
          AND ($4::timestamptz IS NULL OR block_timestamp >= $4) AND ($5::timestamptz IS NULL OR block_timestamp < $5)
          AND ($6::timestamptz IS NULL OR (block_timestamp, chain_id, block_number, log_index) > ($6, $7::int8, $8::int8, $9::int4))
        ORDER BY block_timestamp, chain_id, block_number, log_index LIMIT $10`,
      [
        kind,
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
    const rows = page.rows.map((r): LedgerEventRow => ({
      chainId: BigInt(r.chain_id),
      blockNumber: BigInt(r.block_number),
      logIndex: r.log_index,
      blockTimestamp: r.block_timestamp,
      txHash: r.tx_hash,
      kind: r.kind,
      merchant: r.merchant,
      orderRef: r.order_ref,
      orderId: r.order_id === null ? null : BigInt(r.order_id),
      counterparty: r.counterparty,
      token: r.token,
      amount: BigInt(r.amount),
    }));
    if (rows.length > 0) yield rows;
    after = rows.at(-1) ?? null;
    if (!after || rows.length < pageSize) return;
  }
}

type EventDbRow = {
  chain_id: bigint;
  block_number: bigint;
  log_index: number;
  block_timestamp: Date;
  tx_hash: string;
  kind: LedgerEventRow["kind"];
  merchant: string;
  order_ref: string | null;
  order_id: bigint | null;
  counterparty: string;
  token: string;
  amount: string;
};
