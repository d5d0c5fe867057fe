import type { OrderEventSubscriber } from "../orders/events.ts";
import { orderToJson } from "../orders/serialize.ts";
import { enqueueCallbacks } from "./outbox.ts";

/**
 * The merchant's order callback: each status change queues the order JSON (as GET /order/:id
 * shows it at that change) for the order's callback URL, signed with the merchant's secret (or
 * the system one for anonymous orders), in the order's own delivery stream. A step's changes are
 * queued in one statement.
 */
export function orderCallbacks(publicUrl: string): OrderEventSubscriber {
  return {
    handle: (tx, changes) =>
      enqueueCallbacks(
        tx,
        changes.map(({ order, status, indexedBlock, payments }) => ({
          stream: `order:${order.id}`,
          kind: `order.${status}`,
          url: order.callback,
          // An order paid by several methods adds each payment that counts (method, amount, transaction).
          body: JSON.stringify({
            ...orderToJson(order, publicUrl, indexedBlock),
            ...(payments ? { payments } : {}),
          }),
          secretRef: order.merchant_id === null ? "system" : `merchant:${order.merchant_id}`,
          orderId: order.id,
          merchantId: order.merchant_id,
        })),
      ),
  };
}
