import type { Queryable } from "../db/types.ts";
import {
  unreachable,
  type TokenCancelled,
  type TokenCollected,
  type TokenSubscribed,
  type TokenSubscriptionEvent,
} from "../chain/events.ts";
import type { Sink, Step } from "../indexer/types.ts";
import {
  insertCollections,
  insertSubscriptions,
  markCancelled,
  refreshSubscriptionState,
  rollbackTokenSubscriptionsPast,
} from "./repository.ts";

/**
 * How the Subscriptions contract's events become rows, in the indexer's transaction:
 *  - block: stores new subscriptions, collected periods and cancellations (idempotent), then
 *    recomputes `paid_through` and `periods_collected` of the subscriptions touched from their
 *    collections, as the contract does;
 *  - reorg: deletes what was recorded past the common ancestor (collections, subscriptions,
 *    cancellations) and recomputes the rest;
 *  - finalize: nothing (the rows carry their blocks; nothing depends on finality).
 * Money itself is the PaymentProcessor's: each collection's `PaymentReceived` (payer = the
 * Subscriptions contract, orderId = the ref) is stored by the ledger like any payment.
 */
export function createTokenSubscriptionSink(): Sink<TokenSubscriptionEvent> {
  async function apply(tx: Queryable, step: Step<TokenSubscriptionEvent>): Promise<void> {
    switch (step.type) {
      case "block": {
        if (step.events.length === 0) return;
        const subscribed: TokenSubscribed[] = [];
        const collected: TokenCollected[] = [];
        const cancelled: TokenCancelled[] = [];
        for (const e of step.events) {
          switch (e.kind) {
            case "token_subscribed":
              subscribed.push(e);
              break;
            case "token_collected":
              collected.push(e);
              break;
            case "token_cancelled":
              cancelled.push(e);
              break;
            default:
              unreachable(e, "token subscription event");
          }
        }
        await insertSubscriptions(tx, subscribed);
        await insertCollections(tx, collected);
        await markCancelled(tx, cancelled);
        await refreshSubscriptionState(
          tx,
          step.chainId,
          collected.map((e) => e.id),
        );
        return;
      }
      case "reorg":
        await rollbackTokenSubscriptionsPast(tx, step.chainId, step.ancestor.number);
        return;
      case "finalize":
        return;
    }
  }
  return { apply };
}
