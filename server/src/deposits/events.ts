/**
 * What the indexer observes at deposit addresses, keyed like every indexed row by chain and block.
 * The order sink stores them through ./repository.ts and recomputes the orders they touch.
 */

import type { BlockPosition, LogPosition } from "../indexer/types.ts";

/** The ETH balance of a watched address changed: its value at the end of `blockNumber`. */
export interface DepositBalanceObserved extends BlockPosition {
  kind: "deposit_balance";
  address: string;
  balance: bigint;
  /**
   * A direct transfer to the address in the step's blocks, when there is one. ETH from a contract
   * wallet or an exchange's batch contract is an internal transfer and has none: null.
   */
  txHash: string | null;
}

/** An ERC-20 `Transfer` to a watched address (allowlisted tokens). */
export interface DepositTransferObserved extends LogPosition {
  kind: "deposit_transfer";
  token: string;
  address: string;
  sender: string;
  amount: bigint;
}

/** A token that is not allowlisted was swept from a deposit address to its merchant (nothing credited). */
export interface DepositTokenForwarded extends LogPosition {
  kind: "deposit_forwarded";
  merchant: string;
  orderRef: string;
  address: string;
  token: string;
  amount: bigint;
}

export type DepositEvent = DepositBalanceObserved | DepositTransferObserved | DepositTokenForwarded;

/** A sweep as the deposits module records it (a PaymentReceived paid by the deposit, or a forward). */
export interface DepositSweep extends LogPosition {
  kind: "credited" | "forwarded";
  address: string;
  merchant: string;
  orderRef: string;
  token: string;
  amount: bigint;
}

/**
 * The deposit addresses a step touched (observed, swept, forwarded, or rolled back by a reorg),
 * lowercase: what the deposits module hands the modules after it, so none works it out again.
 */
export interface TouchedDeposits {
  readonly addresses: readonly string[];
}
