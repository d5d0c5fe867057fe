import type { Queryable } from "../db/types.ts";

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
