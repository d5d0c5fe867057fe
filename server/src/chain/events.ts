import type { BlockPosition, LogPosition } from "../indexer/types.ts";

/**
 * Every event a chain's indexer hands its modules, in one union discriminated by `kind` (after
 * Ponder's sync/events.ts): the PaymentProcessor's events (the ledger's), what is observed at
 * deposit addresses, and the Subscriptions contract's events. Every shape is defined here, below
 * the modules that store them; code that handles them switches on `kind` and ends in
 * `unreachable`, so a new kind fails to compile wherever it is not handled.
 */
export type ChainEvent = ContractEvent | DepositEvent | TokenSubscriptionEvent;

// The PaymentProcessor's events: the ledger stores them (server/src/ledger/contract-events.ts).

/**
 * A PaymentProcessor event as the ledger stores it, keyed by its checkpoint (chain id, block,
 * tx index, log index). uint256 amounts are bigint here and numeric(78,0) in SQL.
 */
export interface ContractEvent extends LogPosition {
  kind: "payment" | "withdrawal" | "refund";
  merchant: string;
  /** The bytes32 order id of a payment or refund, lowercase hex. */
  orderRef: string | null;
  /** The order this event was linked to, when one exists. */
  orderId: bigint | null;
  counterparty: string;
  token: string;
  amount: bigint;
}

// What the indexer observes at deposit addresses: the deposits module stores them
// (server/src/deposits/repository.ts) and recomputes the orders they touch.

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

// What the indexer reads from the Subscriptions contract: the token-subscription sink
// (server/src/token-subscriptions/sink.ts) stores them.

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

/** The end of an exhaustive switch: compiles only when every case is handled. */
export function unreachable(value: never, what = "value"): never {
  throw new Error(
    `unhandled ${what}: ${JSON.stringify(value, (_, v: unknown) => (typeof v === "bigint" ? `${v}` : v))}`,
  );
}

/** A step's events by the module that owns them, each list in chain order. */
export interface EventsByOwner {
  /** PaymentReceived, Withdrawn, Refunded (the ledger's). */
  contract: ContractEvent[];
  /** Balances, token transfers and forwards at deposit addresses (the deposits module's). */
  deposits: DepositEvent[];
  /** Subscribed, Collected, Cancelled (the token-subscriptions module's). */
  tokenSubscriptions: TokenSubscriptionEvent[];
}

/** Splits a step's events by owner, with one exhaustive switch. */
export function eventsByOwner(events: readonly ChainEvent[]): EventsByOwner {
  const out: EventsByOwner = { contract: [], deposits: [], tokenSubscriptions: [] };
  for (const e of events) {
    switch (e.kind) {
      case "payment":
      case "withdrawal":
      case "refund":
        out.contract.push(e);
        break;
      case "deposit_balance":
      case "deposit_transfer":
      case "deposit_forwarded":
        out.deposits.push(e);
        break;
      case "token_subscribed":
      case "token_collected":
      case "token_cancelled":
        out.tokenSubscriptions.push(e);
        break;
      default:
        unreachable(e, "chain event");
    }
  }
  return out;
}
