import type { Queryable } from "../db/types.ts";
import type { PeriodRow, SubscriptionRow } from "./repository.ts";
import type { RecurringStatus } from "./state.ts";

/**
 * What receivers hear about a subscription, in this order within one change:
 *  - `recurring.period_paid`: a period is paid in full (one per period, oldest first);
 *  - `recurring.status_changed`: its status changed;
 *  - `recurring.upcoming`: the reminder that a payment is due within 10 days (once per period).
 */
export type RecurringEventType = "recurring.period_paid" | "recurring.status_changed" | "recurring.upcoming";

export interface RecurringEvent {
  type: RecurringEventType;
  /** The subscription after the change. */
  subscription: SubscriptionRow;
  /** Its open periods after the change. */
  periods: readonly PeriodRow[];
  previous: RecurringStatus;
  status: RecurringStatus;
  /** The period paid (period_paid) or due (upcoming); null for status_changed. */
  periodIndex: number | null;
  /** The indexed block of the subscription's chain at the change (for confirmations), if known. */
  indexedBlock: bigint | null;
}

/**
 * Registered at start-up; called inside the transaction that changes the subscriptions, so what
 * it writes (outbox rows) exists if and only if the change commits.
 */
export interface RecurringEventSubscriber {
  handle(tx: Queryable, events: readonly RecurringEvent[]): Promise<void>;
}

export interface RecurringEvents {
  publish(tx: Queryable, events: readonly RecurringEvent[]): Promise<void>;
}

export function createRecurringEvents(
  subscribers: readonly RecurringEventSubscriber[] = [],
): RecurringEvents {
  return {
    async publish(tx, events) {
      if (events.length === 0) return;
      for (const s of subscribers) await s.handle(tx, events);
    },
  };
}
