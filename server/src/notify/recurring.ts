import { insertCallback } from "../callbacks/outbox.ts";
import type { Queryable } from "../db/types.ts";
import { formatDecimal, formatUsdCents } from "../lib/money.ts";
import { pluginFlags } from "../merchants/plugins.ts";
import { notificationsThisMonth } from "../merchants/service.ts";
import type { RecurringEvent, RecurringEventSubscriber } from "../recurring/events.ts";
import type { Notifier } from "./notifier.ts";
import { webhookNotifier, type Enqueue } from "./webhook.ts";

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
 * with the plugin on and a notify URL, within the monthly limit, queued in the change's transaction.
 */
export function recurringTxtNotifier(
  notifierFor: (tx: Queryable, url: string, enqueue: Enqueue) => Notifier = webhookNotifier,
): RecurringEventSubscriber {
  return {
    async handle(tx, events) {
      const merchantIds = [...new Set(events.map((e) => e.subscription.merchant_id))];
      const { rows } = await tx.query<{
        id: bigint;
        plugins: unknown;
        notify_url: string | null;
        notify_phone: string | null;
        txt_messaging_monthly_limit: number;
      }>(
        `SELECT id, plugins, notify_url, notify_phone, txt_messaging_monthly_limit FROM merchants
          WHERE id = ANY($1::int8[]) AND notify_url IS NOT NULL`,
        [merchantIds.map(String)],
      );
      const byId = new Map(rows.filter((r) => pluginFlags(r.plugins).txt_messaging).map((r) => [r.id, r]));
      for (const e of events) {
        const m = byId.get(e.subscription.merchant_id);
        if (!m?.notify_url) continue;
        if ((await notificationsThisMonth(tx, m.id)) >= m.txt_messaging_monthly_limit) continue;
        await notifierFor(tx, m.notify_url, insertCallback).send({
          merchantId: m.id,
          event: e.type,
          to: m.notify_phone,
          text: recurringText(e),
          orderId: null,
          status: e.status,
        });
      }
    },
  };
}
