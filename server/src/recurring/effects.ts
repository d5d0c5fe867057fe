import type { ChainEvent } from "../chain/events.ts";
import type { Queryable } from "../db/types.ts";
import type { Step } from "../indexer/types.ts";
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
 * The recurring module's sink: it runs after the deposits and token-subscriptions modules on the
 * same step in the same transaction, and takes what they touched from them (never their tables).
 *  - block: the subscriptions whose deposit addresses the step touched (balances, token
 *    transfers, sweeps), and the token_pull subscriptions whose reference an on-chain
 *    subscription of the step has (Subscribed, Collected, Cancelled), are recomputed: credits are allocated oldest
 *    period first, and paid periods and status changes are published with the indexed data;
 *  - reorg: the deposits module rolled its rows back; the subscriptions with a credit past the
 *    ancestor are recomputed (a period can become unpaid again);
 *  - finalize: nothing (finality changes no status).
 * The clock's effects are the scheduler's (./scheduler.ts).
 */
/** What the modules before recurring recorded on a step. */
export interface RecurringInputs {
  /** The deposit addresses the deposits module touched. */
  deposits: readonly string[];
  /** The refs of the on-chain token subscriptions the token-subscriptions module touched. */
  tokenRefs: readonly string[];
}

export function recurringSink(options: RecurringSinkOptions): {
  apply(tx: Queryable, step: Step<ChainEvent>, touched: RecurringInputs): Promise<void>;
} {
  async function apply(tx: Queryable, step: Step<ChainEvent>, touched: RecurringInputs): Promise<void> {
    if (step.type === "finalize") return;
    let ids: bigint[];
    let indexed: bigint;
    if (step.type === "block") {
      const last = step.blocks.at(-1);
      if (!last) return;
      indexed = last.number;
      if (touched.deposits.length === 0 && touched.tokenRefs.length === 0) return;
      ids = [
        ...(await subscriptionsByDepositAddress(tx, step.chainId, touched.deposits)),
        ...(await tokenPullSubscriptionsByReference(tx, step.chainId, touched.tokenRefs)),
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
