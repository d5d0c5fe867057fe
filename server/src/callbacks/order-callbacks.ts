import type { OrderEventSubscriber } from "../orders/events.ts";
import { orderToJson, statusFields, type OrderJson, type OrderRow } from "../orders/serialize.ts";
import { enqueueCallbacks } from "./outbox.ts";

/** Whether two rows of one order differ in nothing but their status. */
function sameButStatus(a: OrderRow, b: OrderRow): boolean {
  for (const key of Object.keys(a) as (keyof OrderRow)[])
    if (key !== "status" && a[key] !== b[key]) return false;
  return Object.keys(a).length === Object.keys(b).length;
}

/**
 * The merchant's order callback: each status change queues the order JSON (as GET /order/:id
 * shows it at that change) for the order's callback URL, signed with the merchant's secret (or
 * the system one for anonymous orders), in the order's own delivery stream. A step's changes are
 * queued in one statement. An order that passes through several statuses in one step (a backfill:
 * success, then complete) is serialized once; each further change only sets its status fields.
 */
export function orderCallbacks(publicUrl: string): OrderEventSubscriber {
  return {
    handle: (tx, changes) => {
      const built = new Map<bigint, { row: OrderRow; indexedBlock: bigint | null; json: OrderJson }>();
      const orderJson = (order: OrderRow, indexedBlock: bigint | null): OrderJson => {
        const prior = built.get(order.id);
        if (prior && prior.indexedBlock === indexedBlock && sameButStatus(prior.row, order))
          return { ...prior.json, ...statusFields(order) };
        const json = orderToJson(order, publicUrl, indexedBlock);
        built.set(order.id, { row: order, indexedBlock, json });
        return json;
      };
      return enqueueCallbacks(
        tx,
        changes.map(({ order, status, indexedBlock, payments }) => ({
          stream: `order:${order.id}`,
          kind: `order.${status}`,
          url: order.callback,
          // An order paid by several methods adds each payment that counts (method, amount, transaction).
          body: JSON.stringify({
            ...orderJson(order, indexedBlock),
            ...(payments ? { payments } : {}),
          }),
          secretRef: order.merchant_id === null ? "system" : `merchant:${order.merchant_id}`,
          orderId: order.id,
          merchantId: order.merchant_id,
        })),
      );
    },
  };
}
