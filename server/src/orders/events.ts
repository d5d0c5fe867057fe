import type { Queryable } from "../db/types.ts";
import type { OrderRow } from "./serialize.ts";
import type { OrderStatus } from "./state.ts";

/**
 * An order's status changed, as receivers see it. A jump that skips a status receivers expect
 * (pending → complete after downtime) is published as two changes: pending → success, then
 * success → complete.
 */
export interface OrderStatusChanged {
  type: "order.status_changed";
  /** The order row after the change, with `status` set to the status this change reports. */
  order: OrderRow;
  previous: OrderStatus;
  status: OrderStatus;
  /** The indexed block at the change: the order's confirmations count up to it. */
  indexedBlock: bigint;
}

/**
 * Called inside the transaction that changes the order, so whatever it writes (an outbox row)
 * exists if and only if the change commits. A throw rolls the whole step back.
 */
export type OrderEventSubscriber = (tx: Queryable, event: OrderStatusChanged) => Promise<void>;

export interface OrderEvents {
  /** Registers a subscriber (at start-up); subscribers run in registration order. */
  subscribe(subscriber: OrderEventSubscriber): () => void;
  publish(tx: Queryable, event: OrderStatusChanged): Promise<void>;
}

export function createOrderEvents(subscribers: readonly OrderEventSubscriber[] = []): OrderEvents {
  const list = [...subscribers];
  return {
    subscribe(subscriber) {
      list.push(subscriber);
      return () => {
        const at = list.indexOf(subscriber);
        if (at >= 0) list.splice(at, 1);
      };
    },
    async publish(tx, event) {
      for (const subscriber of list) await subscriber(tx, event);
    },
  };
}
