import { insertCallback } from "../callbacks/outbox.ts";
import type { Queryable } from "../db/types.ts";
import { formatDecimal } from "../lib/money.ts";
import { pluginFlags } from "../merchants/plugins.ts";
import { notificationsThisMonth } from "../merchants/service.ts";
import type { OrderEventSubscriber, OrderStatusChanged } from "../orders/events.ts";
import type { Notification, Notifier } from "./notifier.ts";
import { webhookNotifier, type Enqueue } from "./webhook.ts";

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
 * Sends the merchant's TXT Messaging notification for an order status change, when the order's
 * merchant has the plugin on and is under its monthly limit, through the merchant's notifier
 * (the webhook one), which queues it in the transaction of the change. Returns whether it sent.
 */
export async function notifyOrderStatus(
  tx: Queryable,
  change: OrderStatusChanged,
  enqueue: Enqueue = insertCallback,
  notifierFor: (tx: Queryable, url: string, enqueue: Enqueue) => Notifier = webhookNotifier,
): Promise<boolean> {
  const { order, status } = change;
  const merchantId = order.merchant_id;
  if (merchantId === null) return false;
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
  const message: Notification = {
    merchantId,
    event: `order.${status}`,
    to: merchant.notify_phone,
    text: orderStatusText(status, {
      id: Number(order.id),
      currency_amount: order.currency_amount,
      expected_amount: formatDecimal(BigInt(order.expected_amount), order.token_decimals),
      token: order.token_symbol,
    }),
    orderId: order.id,
    status,
  };
  await notifierFor(tx, merchant.notify_url, enqueue).send(message);
  return true;
}

/**
 * The TXT notifier as an order event subscriber (registered at start-up). One query selects the
 * changes whose merchant could be notified at all (notify URL set, plugin on); only those go
 * through notifyOrderStatus, one by one and in order (it counts the month's notifications as it
 * queues them).
 */
export function txtNotifier(
  notifierFor?: (tx: Queryable, url: string, enqueue: Enqueue) => Notifier,
): OrderEventSubscriber {
  return {
    async select(tx, changes) {
      const merchantIds = new Set<bigint>();
      for (const change of changes)
        if (change.order.merchant_id !== null) merchantIds.add(change.order.merchant_id);
      if (merchantIds.size === 0) return changes.map(() => false);
      const { rows } = await tx.query<{ id: bigint; plugins: unknown }>(
        "SELECT id, plugins FROM merchants WHERE id = ANY($1::int8[]) AND notify_url IS NOT NULL",
        [[...merchantIds].map(String)],
      );
      const candidates = new Set(rows.filter((r) => pluginFlags(r.plugins).txt_messaging).map((r) => r.id));
      return changes.map((c) => c.order.merchant_id !== null && candidates.has(c.order.merchant_id));
    },
    async handle(tx, changes) {
      for (const change of changes) await notifyOrderStatus(tx, change, insertCallback, notifierFor);
    },
  };
}
