import type { Queryable } from "../db/types.ts";
import type { Sink, Step } from "../indexer/types.ts";
import {
  isTokenSubscriptionEvent,
  type TokenCancelled,
  type TokenCollected,
  type TokenSubscribed,
  type TokenSubscriptionEvent,
} from "./events.ts";
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
          if (e.kind === "token_subscribed") subscribed.push(e);
          else if (e.kind === "token_collected") collected.push(e);
          else cancelled.push(e);
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
 * step's events are split by kind (the Subscriptions contract's go to `tokens`, everything else to
 * `main`), reorgs and finalizations go to both, in the same transaction; `main`'s result is the
 * step's, and idle time is `main`'s alone.
 */
export function withTokenSubscriptions<E extends { kind: string }, R>(
  main: Sink<E, R>,
  tokens: Sink<TokenSubscriptionEvent> | undefined,
): Sink<E | TokenSubscriptionEvent, R> {
  const idle = main.idle?.bind(main);
  const isToken = (e: E | TokenSubscriptionEvent): e is TokenSubscriptionEvent => isTokenSubscriptionEvent(e);
  return {
    async apply(tx, step) {
      if (step.type !== "block") {
        const result = await main.apply(tx, step);
        await tokens?.apply(tx, step);
        return result;
      }
      const own: TokenSubscriptionEvent[] = [];
      const rest: E[] = [];
      for (const e of step.events) {
        if (isToken(e)) own.push(e);
        else rest.push(e);
      }
      const result = await main.apply(tx, { ...step, events: rest });
      await tokens?.apply(tx, { ...step, events: own });
      return result;
    },
    ...(idle ? { idle } : {}),
  };
}
