import type { RecurringEvent, RecurringEventSubscriber } from "../recurring/events.ts";
import {
  entryToJson,
  periodToJson,
  type PeriodJson,
  type RecurringEntryJson,
} from "../recurring/serialize.ts";
import { enqueueCallbacks } from "./outbox.ts";

/** A subscription's callbacks: one outbox stream, so they arrive in order. */
export const recurringStream = (subscriptionId: bigint): string => `recurring:${subscriptionId}`;

/** The body of a recurring callback (docs/recurring.md). */
export interface RecurringCallbackBody {
  type: RecurringEvent["type"];
  previous_status: string;
  status: string;
  /** The subscription as `GET /status/recurring/:status` shows it, about `period` when set. */
  subscription: RecurringEntryJson;
  period: PeriodJson | null;
}

export function recurringCallbackBody(e: RecurringEvent, publicUrl: string): RecurringCallbackBody {
  const period = e.periodIndex === null ? undefined : e.periods.find((p) => p.index === e.periodIndex);
  return {
    type: e.type,
    previous_status: e.previous,
    status: e.status,
    subscription: entryToJson(
      e.subscription,
      e.periods,
      publicUrl,
      e.indexedBlock,
      e.periodIndex ?? undefined,
    ),
    period: period ? periodToJson(e.subscription, period) : null,
  };
}

/**
 * The merchant's subscription callbacks: every event queued for the subscription's callback URL,
 * signed with the merchant's secret, in one delivery stream per subscription (so a subscription's
 * callbacks arrive in order), in the transaction of the change.
 */
export function recurringCallbacks(publicUrl: string): RecurringEventSubscriber {
  return {
    handle: (tx, events) =>
      enqueueCallbacks(
        tx,
        events.map((e) => ({
          stream: recurringStream(e.subscription.id),
          kind: e.type,
          url: e.subscription.callback,
          body: JSON.stringify(recurringCallbackBody(e, publicUrl)),
          secretRef: `merchant:${e.subscription.merchant_id}`,
          merchantId: e.subscription.merchant_id,
        })),
      ),
  };
}
