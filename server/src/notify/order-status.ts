import { insertCallback } from "../callbacks/outbox.ts";
import type { Queryable } from "../db/types.ts";
import { formatDecimal } from "../lib/money.ts";
import type { OrderEventSubscriber, OrderStatusChanged } from "../orders/events.ts";
import { sendTxt, txtMerchants, type TxtOptions } from "./channel.ts";
import type { Enqueue } from "./webhook.ts";

/** The text of an order status notification; short enough for one SMS. */
export function orderStatusText(
  status: string,
  order: { id: number; currency_amount: string; expected_amount: string; token: string; currency?: string },
): string {
  const currency = order.currency ?? "usd";
  const fiat =
    currency === "usd" ? `$${order.currency_amount}` : `${order.currency_amount} ${currency.toUpperCase()}`;
  const amount = `${fiat} (${order.expected_amount} ${order.token})`;
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
 * merchant has the plugin on, wants this event and is under its monthly limit: a text through the
 * operator's SMS provider, or a signed webhook to the merchant's notify URL (notify/channel.ts),
 * queued in the transaction of the change. Returns whether it sent.
 */
export async function notifyOrderStatus(
  tx: Queryable,
  change: OrderStatusChanged,
  options: TxtOptions = {},
  enqueue: Enqueue = insertCallback,
): Promise<boolean> {
  const { order, status } = change;
  if (order.merchant_id === null) return false;
  const merchant = (await txtMerchants(tx, [order.merchant_id], options)).get(order.merchant_id);
  if (!merchant) return false;
  return sendTxt(
    tx,
    merchant,
    {
      event: `order.${status}`,
      text: orderStatusText(status, {
        id: Number(order.id),
        currency_amount: order.currency_amount,
        currency: order.currency ?? "usd",
        expected_amount: formatDecimal(BigInt(order.expected_amount), order.token_decimals),
        token: order.token_symbol,
      }),
      orderId: order.id,
      status,
    },
    options,
    enqueue,
  );
}

/**
 * The TXT notifier as an order event subscriber (registered at start-up). One query selects the
 * changes whose merchant could be notified at all (plugin on, a phone or a notify URL); only those
 * go through notifyOrderStatus, one by one and in order (it counts the month's notifications as
 * it queues them).
 */
export function txtNotifier(options: TxtOptions = {}): OrderEventSubscriber {
  return {
    async select(tx, changes) {
      const merchantIds = new Set<bigint>();
      for (const change of changes)
        if (change.order.merchant_id !== null) merchantIds.add(change.order.merchant_id);
      const candidates = await txtMerchants(tx, [...merchantIds], options);
      return changes.map((c) => c.order.merchant_id !== null && candidates.has(c.order.merchant_id));
    },
    async handle(tx, changes) {
      for (const change of changes) await notifyOrderStatus(tx, change, options);
    },
  };
}
