import type { Queryable } from "../db/types.ts";
import type { IdleContext, Sink, Step } from "../indexer/types.ts";
import {
  insertEvents,
  orderEvents,
  rollbackEventsPast,
  type ContractEvent,
  type OrderEventRow,
} from "../ledger/contract-events.ts";
import type { OrderEvents, OrderStatusChanged } from "./events.ts";
import { bytes32ToOrderId } from "./ids.ts";
import { lockOrders, ordersDueForRefresh, ordersPaidAfter, saveOrderStates } from "./repository.ts";
import type { OrderRow } from "./serialize.ts";
import { callbackEventsFor, computeOrderState, type Clock, type OrderState } from "./state.ts";

export interface OrderSinkOptions {
  /** Blocks (the paying one included) after which a paid order is `complete`. */
  confirmations: number;
  /** Where status changes are published (merchant callback, TXT notifier). */
  events: OrderEvents;
  /** The wall clock (tests); default Date.now. */
  now?: () => number;
}

/**
 * How chain effects change orders: the indexer sink for PaymentProcessor events. Every step
 * recomputes the touched orders from their canonical events with the state machine
 * (./state.ts), writes any change and publishes each status change, all in the step's
 * transaction.
 *  - block: links events to orders, stores them in the ledger, recomputes the orders they touch
 *    and those whose confirmations or expiry came due;
 *  - reorg: drops the ledger's events past the ancestor and recomputes the orders that lost
 *    events or were made whole after it;
 *  - finalize: nothing to do (order state never depends on finality);
 *  - idle: recomputes orders that came due with time alone (expiry, confirmations).
 * Returns the published changes.
 */
export function createOrderSink(options: OrderSinkOptions): Sink<ContractEvent, OrderStatusChanged[]> {
  const now = options.now ?? Date.now;

  function clock(cursor: { number: bigint; timestamp: Date }, head: bigint): Clock {
    const atHead = cursor.number >= head;
    return {
      indexedBlock: cursor.number,
      confirmations: options.confirmations,
      // Expiry is decided once every block up to the expiry time is indexed (or we are at the head).
      canExpire: (expiresAt) =>
        now() >= expiresAt.getTime() && (atHead || cursor.timestamp.getTime() >= expiresAt.getTime()),
    };
  }

  const due = (tx: Queryable, chainId: bigint, c: Clock) =>
    ordersDueForRefresh(tx, chainId, c.indexedBlock - BigInt(c.confirmations) + 1n);

  async function apply(tx: Queryable, step: Step<ContractEvent>): Promise<OrderStatusChanged[]> {
    switch (step.type) {
      case "block": {
        const cursor = step.blocks.at(-1);
        if (!cursor) return [];
        const c = clock(cursor, step.head);
        // The orders the events name and those that came due, locked in one statement; the ones
        // that exist are linked to their events before the events are stored.
        const named = orderIdsNamed(step.events);
        const dueIds = await due(tx, step.chainId, c);
        const orders = await lockOrders(tx, [...new Set([...named.values(), ...dueIds])]);
        const existing = new Set(orders.map((o) => o.id));
        for (const e of step.events) {
          const id = e.orderRef ? named.get(e.orderRef) : undefined;
          if (id !== undefined && existing.has(id)) e.orderId = id;
        }
        await insertEvents(tx, step.events);
        return refreshLockedOrders(tx, c, orders, options.events);
      }
      case "reorg": {
        const ancestor = step.ancestor.number;
        const affected = new Set(await rollbackEventsPast(tx, step.chainId, ancestor));
        for (const id of await ordersPaidAfter(tx, step.chainId, ancestor)) affected.add(id);
        return refreshOrders(tx, clock(step.ancestor, step.head), [...affected], options.events);
      }
      case "finalize":
        return [];
    }
  }

  async function idle(tx: Queryable, at: IdleContext): Promise<OrderStatusChanged[]> {
    const c = clock(at.cursor, at.head);
    return refreshOrders(tx, c, await due(tx, at.chainId, c), options.events);
  }

  return { apply, idle };
}

/** The order ids the events' order refs name (whether or not such orders exist), by ref. */
function orderIdsNamed(events: readonly ContractEvent[]): Map<string, bigint> {
  const named = new Map<string, bigint>();
  for (const e of events) {
    if (!e.orderRef || named.has(e.orderRef)) continue;
    const id = bytes32ToOrderId(e.orderRef as `0x${string}`);
    if (id !== undefined) named.set(e.orderRef, id);
  }
  return named;
}

/**
 * Recomputes the state of the given orders from their canonical events and writes any change,
 * publishing each status change in the same transaction. Only events whose chain, merchant and
 * token match the order count toward it.
 */
export async function refreshOrders(
  tx: Queryable,
  clock: Clock,
  orderIds: readonly bigint[],
  events: OrderEvents,
): Promise<OrderStatusChanged[]> {
  if (orderIds.length === 0) return [];
  return refreshLockedOrders(tx, clock, await lockOrders(tx, orderIds), events);
}

/** refreshOrders for orders already locked by this transaction. */
async function refreshLockedOrders(
  tx: Queryable,
  clock: Clock,
  orders: readonly OrderRow[],
  events: OrderEvents,
): Promise<OrderStatusChanged[]> {
  if (orders.length === 0) return [];
  const orderIds = orders.map((o) => o.id);
  const byOrder = new Map<bigint, OrderEventRow[]>();
  for (const event of await orderEvents(tx, orderIds)) {
    const list = byOrder.get(event.orderId) ?? [];
    list.push(event);
    byOrder.set(event.orderId, list);
  }

  const updates: OrderRow[] = [];
  const published: OrderStatusChanged[] = [];
  for (const order of orders) {
    const related = (byOrder.get(order.id) ?? []).filter(
      (e) => e.chainId === order.chain_id && e.merchant === order.merchant_address && e.token === order.token,
    );
    const state = computeOrderState(
      { expectedAmount: BigInt(order.expected_amount), expiresAt: order.expires_at },
      related.filter((e) => e.kind === "payment"),
      related.filter((e) => e.kind === "refund"),
      clock,
    );
    if (!changed(order, state)) continue;
    const updated: OrderRow = {
      ...order,
      status: state.status,
      exception: state.exception,
      amount_paid: state.amountPaid.toString(),
      amount_refunded: state.amountRefunded.toString(),
      transaction_id: state.transactionId,
      paid_block: state.paidBlock,
      sent_transaction: state.sentTransaction,
    };
    updates.push(updated);
    let previous = order.status;
    for (const status of callbackEventsFor(order.status, state.status)) {
      published.push({
        type: "order.status_changed",
        order: { ...updated, status },
        previous,
        status,
        indexedBlock: clock.indexedBlock,
      });
      previous = status;
    }
  }
  // One statement for the updates and one publication for the changes, whatever their number: a
  // backfill chunk changes thousands of orders, and a round trip each would dominate the step.
  await saveOrderStates(tx, updates);
  await events.publish(tx, published);
  return published;
}

function changed(order: OrderRow, state: OrderState): boolean {
  return (
    order.status !== state.status ||
    order.exception !== state.exception ||
    BigInt(order.amount_paid) !== state.amountPaid ||
    BigInt(order.amount_refunded) !== state.amountRefunded ||
    order.transaction_id !== state.transactionId ||
    order.paid_block !== state.paidBlock ||
    order.sent_transaction !== state.sentTransaction
  );
}
