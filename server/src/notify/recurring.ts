import { formatDecimal, formatUsdCents } from "../lib/money.ts";
import type { RecurringEvent, RecurringEventSubscriber } from "../recurring/events.ts";
import { sendTxt, txtMerchants, type TxtOptions } from "./channel.ts";

/** The text of a subscription notification; short enough for one SMS. */
export function recurringText(e: RecurringEvent): string {
  const s = e.subscription;
  const usd = `$${formatUsdCents(s.usd_cents)} ${s.interval}`;
  const period = e.periods.find((p) => p.index === e.periodIndex);
  const amount = period
    ? ` (${formatDecimal(BigInt(period.expected_amount), s.token_decimals)} ${s.token_symbol})`
    : "";
  switch (e.type) {
    case "recurring.period_paid":
      return `Ethereum POS: subscription ${s.id} period ${e.periodIndex} paid, ${usd}${amount}.`;
    case "recurring.upcoming":
      return `Ethereum POS: subscription ${s.id} payment due ${period?.starts_at.toISOString().slice(0, 10) ?? ""}, ${usd}${amount}.`;
    case "recurring.status_changed":
      return `Ethereum POS: subscription ${s.id} is now ${e.status} (was ${e.previous}), ${usd}.`;
  }
}

/**
 * The TXT Messaging notifier for subscriptions: the same events as the callbacks, for merchants
 * with the plugin on (a text, or a webhook to the notify URL: notify/channel.ts), for the events
 * they want, within the monthly limit, queued in the change's transaction.
 */
export function recurringTxtNotifier(options: TxtOptions = {}): RecurringEventSubscriber {
  return {
    async handle(tx, events) {
      const merchants = await txtMerchants(
        tx,
        [...new Set(events.map((e) => e.subscription.merchant_id))],
        options,
      );
      for (const e of events) {
        const merchant = merchants.get(e.subscription.merchant_id);
        if (!merchant) continue;
        await sendTxt(
          tx,
          merchant,
          { event: e.type, text: recurringText(e), orderId: null, status: e.status },
          options,
        );
      }
    },
  };
}
