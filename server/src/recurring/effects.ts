import { unreachable, type ChainEvent } from "../chain/events.ts";
import type { Queryable } from "../db/types.ts";
import type { Sink, Step } from "../indexer/types.ts";
import { refsOfTokenSubscriptions } from "../token-subscriptions/repository.ts";
import type { RecurringEvents } from "./events.ts";
import {
  lockSubscriptions,
  subscriptionsByDepositAddress,
  subscriptionsCreditedAfter,
  tokenPullSubscriptionsByReference,
} from "./repository.ts";
import { refreshSubscriptions } from "./refresh.ts";

export interface RecurringSinkOptions {
  events: RecurringEvents;
  /** The wall clock in ms (tests control it). */
  now: () => number;
}

/**
 * The indexer sink of subscriptions, a follower of the order sink: it runs after it on the same
 * step in the same transaction and reads what the deposits module recorded (never its tables).
 *  - block: the subscriptions whose deposit addresses the step touched (balances, token
 *    transfers, sweeps), and the token_pull subscriptions whose reference an on-chain
 *    subscription of the step has (Subscribed, Collected, Cancelled, stored by the
 *    token-subscription sink before this one runs), are recomputed: credits are allocated oldest
 *    period first, and paid periods and status changes are published with the indexed data;
 *  - reorg: the deposits module rolled its rows back; the subscriptions with a credit past the
 *    ancestor are recomputed (a period can become unpaid again);
 *  - finalize: nothing (finality changes no status).
 * The clock's effects are the scheduler's (./scheduler.ts).
 */
export function recurringSink(options: RecurringSinkOptions): Sink<ChainEvent, void> {
  async function apply(tx: Queryable, step: Step<ChainEvent>): Promise<void> {
    if (step.type === "finalize") return;
    let ids: bigint[];
    let indexed: bigint;
    if (step.type === "block") {
      const last = step.blocks.at(-1);
      if (!last) return;
      indexed = last.number;
      const touched = new Set<string>();
      const refs = new Set<string>();
      const onChainIds: bigint[] = [];
      for (const e of step.events) {
        switch (e.kind) {
          case "deposit_balance":
          case "deposit_transfer":
          case "deposit_forwarded":
            touched.add(e.address);
            break;
          case "payment":
            touched.add(e.counterparty);
            break;
          case "withdrawal":
          case "refund":
            break;
          case "token_subscribed":
            refs.add(e.ref);
            break;
          case "token_collected":
          case "token_cancelled":
            onChainIds.push(e.id);
            break;
          default:
            unreachable(e, "chain event");
        }
      }
      for (const ref of await refsOfTokenSubscriptions(tx, step.chainId, onChainIds)) refs.add(ref);
      if (touched.size === 0 && refs.size === 0) return;
      ids = [
        ...(await subscriptionsByDepositAddress(tx, step.chainId, [...touched])),
        ...(await tokenPullSubscriptionsByReference(tx, step.chainId, [...refs])),
      ];
    } else {
      indexed = step.ancestor.number;
      ids = await subscriptionsCreditedAfter(tx, step.chainId, step.ancestor.number);
    }
    if (ids.length === 0) return;
    const chainId = step.chainId;
    await refreshSubscriptions(tx, await lockSubscriptions(tx, ids), {
      now: new Date(options.now()),
      indexedBlock: (c) => (c === chainId ? indexed : null),
      events: options.events,
    });
  }
  return { apply };
}
