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
  /** Each payment that counts toward an order paid by several methods (see OrderStateProvider). */
  payments?: readonly MethodPayment[];
}

/** One payment toward an order, by the payment method it used, as callbacks list it. */
export interface MethodPayment {
  /** The method's id, e.g. `USDC@31337`. */
  method: string;
  /** Decimal text in the method's unit (ETH, the token, LTC). */
  amount: string;
  /** The transaction that paid (empty for an internal transfer). */
  transaction: string;
}

/**
 * Registered at start-up; called inside the transaction that changes the orders, so whatever it
 * writes (outbox rows) exists if and only if the changes commit. A throw rolls the whole step
 * back.
 */
export interface OrderEventSubscriber {
  /**
   * Which of `changes` it acts on, e.g. from one query for the merchants concerned; every one
   * when absent. It must not write.
   */
  select?(tx: Queryable, changes: readonly OrderStatusChanged[]): Promise<readonly boolean[]>;
  /** Acts on consecutive selected changes, in order (one statement for many, where it can). */
  handle(tx: Queryable, changes: readonly OrderStatusChanged[]): Promise<void>;
}

export interface OrderEvents {
  /** Registers a subscriber (at start-up); subscribers run in registration order. */
  subscribe(subscriber: OrderEventSubscriber): () => void;
  /**
   * Hands the changes to the subscribers. Their writes happen in the order they would if each
   * change went to each subscriber in turn (change by change, subscribers in registration
   * order), but consecutive changes bound for one subscriber go to it at once: a backfill step
   * that completes thousands of orders costs one outbox statement, not thousands.
   */
  publish(tx: Queryable, changes: readonly OrderStatusChanged[]): Promise<void>;
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
    async publish(tx, changes) {
      if (changes.length === 0) return;
      const subs = [...list];
      const selected: (readonly boolean[] | undefined)[] = [];
      for (const sub of subs) selected.push(sub.select ? await sub.select(tx, changes) : undefined);
      let run: { sub: OrderEventSubscriber; changes: OrderStatusChanged[] } | undefined;
      for (const [i, change] of changes.entries()) {
        for (const [s, sub] of subs.entries()) {
          if (selected[s] && !selected[s][i]) continue;
          if (run?.sub === sub) {
            run.changes.push(change);
            continue;
          }
          if (run) await run.sub.handle(tx, run.changes);
          run = { sub, changes: [change] };
        }
      }
      if (run) await run.sub.handle(tx, run.changes);
    },
  };
}
