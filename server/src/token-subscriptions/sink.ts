import type { Queryable } from "../db/types.ts";
import { eventsByOwner, unreachable, type ChainEvent } from "../chain/events.ts";
import type { Sink, Step } from "../indexer/types.ts";
import type { TokenCancelled, TokenCollected, TokenSubscribed, TokenSubscriptionEvent } from "./events.ts";
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

/**
 * The chain's sink with the token-subscription sink beside it, on one event stream: each block
 * step's events are split by owner (the Subscriptions contract's go to `tokens`, everything else to
 * `main`), reorgs and finalizations go to both, in the same transaction; `main`'s result is the
 * step's, and idle time is `main`'s alone.
 */
export function withTokenSubscriptions<R>(
  main: Sink<ChainEvent, R>,
  tokens: Sink<TokenSubscriptionEvent> | undefined,
): Sink<ChainEvent, R> {
  const idle = main.idle?.bind(main);
  return {
    async apply(tx, step) {
      if (step.type !== "block") {
        const result = await main.apply(tx, step);
        await tokens?.apply(tx, step);
        return result;
      }
      const { contract, deposits, tokenSubscriptions } = eventsByOwner(step.events);
      const result = await main.apply(tx, { ...step, events: [...contract, ...deposits] });
      await tokens?.apply(tx, { ...step, events: tokenSubscriptions });
      return result;
    },
    ...(idle ? { idle } : {}),
  };
}
