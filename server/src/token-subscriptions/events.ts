/**
 * What the indexer reads from the Subscriptions contract, keyed like every indexed row by chain,
 * block and log. The token-subscription sink (./sink.ts) stores them through ./repository.ts.
 */

import type { LogPosition } from "../indexer/types.ts";

interface Logged extends LogPosition {
  /** The subscription id. */
  id: bigint;
}

/** `Subscribed`: a customer authorized a recurring pull with these terms. */
export interface TokenSubscribed extends Logged {
  kind: "token_subscribed";
  /** The Subscriptions contract, lowercase. */
  contract: string;
  merchant: string;
  /** bytes32, lowercase hex: the `orderId` of every payment of this subscription. */
  ref: string;
  customer: string;
  token: string;
  amountPerPeriod: bigint;
  /** Seconds. */
  interval: bigint;
  /** Unix seconds: when period 0 starts and is due. */
  start: bigint;
}

/** `Collected`: period `period` was charged; the merchant's balance in the processor grew by `amount`. */
export interface TokenCollected extends Logged {
  kind: "token_collected";
  period: bigint;
  /** Unix seconds: the end of the period charged (the next period's due time). */
  paidThrough: bigint;
  amount: bigint;
}

/** `Cancelled`: no period of subscription `id` is ever collected again. */
export interface TokenCancelled extends Logged {
  kind: "token_cancelled";
  by: string;
  paidThrough: bigint;
}

export type TokenSubscriptionEvent = TokenSubscribed | TokenCollected | TokenCancelled;
