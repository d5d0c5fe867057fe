import type { OutboxEntry } from "../callbacks/outbox.ts";
import type { Queryable } from "../db/types.ts";
import { pluginFlags } from "../merchants/plugins.ts";
import { notificationsThisMonth } from "../merchants/service.ts";
import type { Notification, Notifier } from "./notifier.ts";
import { webhookNotifier, type Enqueue } from "./webhook.ts";

const ORDER_EVENT = /^order\.(pending|success|complete|expired|refunded)$/;

/** The text of an order status notification; short enough for one SMS. */
export function orderStatusText(
  status: string,
  order: { id: number; currency_amount: string; expected_amount: string; token: string },
): string {
  const amount = `$${order.currency_amount} (${order.expected_amount} ${order.token})`;
  switch (status) {
    case "success":
      return `Ethereum POS: order ${order.id} paid, ${amount}. Waiting for confirmations.`;
    case "complete":
      return `Ethereum POS: order ${order.id} complete, ${amount} confirmed.`;
    case "expired":
      return `Ethereum POS: order ${order.id} expired unpaid, ${amount}.`;
    case "refunded":
      return `Ethereum POS: order ${order.id} refunded, ${amount}.`;
    default:
      return `Ethereum POS: order ${order.id} is pending again: its payment left the chain in a reorg.`;
  }
}

/**
 * Called for every order callback as it is queued, inside the transaction that changes the
 * order's status. When the order's merchant has the TXT Messaging plugin on and is under its
 * monthly limit, it sends a notification through the merchant's notifier (the webhook one),
 * which queues it in the same transaction. `body` is the order JSON of the callback.
 */
export async function notifyOrderStatus(
  tx: Queryable,
  entry: OutboxEntry,
  enqueue: Enqueue,
  notifierFor: (tx: Queryable, url: string, enqueue: Enqueue) => Notifier = webhookNotifier,
): Promise<boolean> {
  const event = ORDER_EVENT.exec(entry.kind);
  const merchantId = entry.merchantId ?? null;
  if (!event?.[1] || merchantId === null || entry.redeliveryOf != null) return false;
  const { rows } = await tx.query<{
    plugins: unknown;
    notify_url: string | null;
    notify_phone: string | null;
    txt_messaging_monthly_limit: number;
  }>("SELECT plugins, notify_url, notify_phone, txt_messaging_monthly_limit FROM merchants WHERE id = $1", [
    merchantId,
  ]);
  const merchant = rows[0];
  if (!merchant?.notify_url || !pluginFlags(merchant.plugins).txt_messaging) return false;
  if ((await notificationsThisMonth(tx, merchantId)) >= merchant.txt_messaging_monthly_limit) return false;
  const order = JSON.parse(entry.body) as {
    id: number;
    currency_amount: string;
    expected_amount: string;
    token: string;
  };
  const message: Notification = {
    merchantId,
    event: entry.kind,
    to: merchant.notify_phone,
    text: orderStatusText(event[1], order),
    orderId: entry.orderId ?? null,
    status: event[1],
  };
  await notifierFor(tx, merchant.notify_url, enqueue).send(message);
  return true;
}
