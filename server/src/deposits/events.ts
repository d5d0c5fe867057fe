/**
 * What the deposits module records and hands on. The events the indexer observes at deposit
 * addresses (DepositEvent and its kinds) are defined with every chain event in
 * server/src/chain/events.ts.
 */

import type { LogPosition } from "../indexer/types.ts";

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
