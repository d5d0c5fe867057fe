import type { ChainContext, ChainModule } from "../chain/module.ts";
import { touchedDeposits } from "../deposits/module.ts";
import { touchedTokenSubscriptions } from "../token-subscriptions/module.ts";
import { recurringSink } from "./effects.ts";
import type { RecurringEvents } from "./events.ts";
import { deleteChainSubscriptions } from "./repository.ts";

export interface RecurringContext extends ChainContext {
  /** Where subscription events are published (the callbacks outbox, the TXT notifier). */
  readonly recurringEvents: RecurringEvents;
  /** The wall clock in ms (tests control it). */
  readonly now: () => number;
}

/**
 * Recurring billing: subscriptions paid by transfers to their deposit addresses, or pulled by the
 * Subscriptions contract. No source of its own: it reads what deposits and token subscriptions
 * recorded on the step. The clock's effects are the scheduler's (./scheduler.ts).
 */
export const recurringModule: ChainModule<RecurringContext> = {
  name: "recurring",
  sources: () => [],
  sink(ctx) {
    const sink = recurringSink({ events: ctx.recurringEvents, now: ctx.now });
    return {
      apply: (tx, step, facts) =>
        sink.apply(tx, step, {
          deposits: facts.read(touchedDeposits).addresses,
          tokenRefs: facts.read(touchedTokenSubscriptions).refs,
        }),
    };
  },
  deleteChainData: deleteChainSubscriptions,
};
