import type { DepositEvent } from "../deposits/events.ts";
import type { ContractEvent } from "../ledger/contract-events.ts";
import type { TokenSubscriptionEvent } from "../token-subscriptions/events.ts";

/**
 * Every event a chain's indexer hands its modules, in one union discriminated by `kind` (after
 * Ponder's sync/events.ts): the PaymentProcessor's events (the ledger's), what is observed at
 * deposit addresses, and the Subscriptions contract's events. Code that handles them switches on
 * `kind` and ends in `unreachable`, so a new kind fails to compile wherever it is not handled.
 */
export type ChainEvent = ContractEvent | DepositEvent | TokenSubscriptionEvent;

export type { ContractEvent, DepositEvent, TokenSubscriptionEvent };

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
