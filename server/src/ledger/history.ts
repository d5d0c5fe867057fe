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

/**
 * Payments to these payout addresses that matched no order, newest first. Payments made by one of
 * `knownPayers` are not orphans whatever their reference: a token-subscription collection is paid
 * by the Subscriptions contract with the subscription's ref, which names no order.
 */
export async function orphanPayments(
  db: Queryable,
  chainId: bigint,
  merchants: readonly string[],
  limit = 100,
  knownPayers: readonly string[] = [],
): Promise<OrphanPayment[]> {
  const { rows } = await db.query<{
    tx_hash: string;
    order_ref: string;
    token: string;
    amount: string;
    merchant: string;
  }>(
    `SELECT tx_hash, order_ref, token, amount, merchant FROM contract_events
      WHERE chain_id = $1 AND kind = 'payment' AND order_id IS NULL AND merchant = ANY($2::text[])
        AND NOT (counterparty = ANY($4::text[]))
      ORDER BY block_number DESC, log_index DESC LIMIT $3`,
    [chainId, merchants, limit, knownPayers.map((p) => p.toLowerCase())],
  );
  return rows.map((r) => ({
    txHash: r.tx_hash,
    orderRef: r.order_ref,
    token: r.token,
    amount: BigInt(r.amount),
    merchant: r.merchant,
  }));
}
