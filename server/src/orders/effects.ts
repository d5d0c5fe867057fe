import { eventsByOwner, type ChainEvent } from "../chain/events.ts";
import type { Queryable } from "../db/types.ts";
import type { TouchedDeposits } from "../deposits/events.ts";
import { depositFlows } from "../deposits/flows.ts";
import { depositActivity } from "../deposits/repository.ts";
import type { IdleContext, Step } from "../indexer/types.ts";
import {
  insertEvents,
  orderEvents,
  rollbackEventsPast,
  type OrderEventRow,
} from "../ledger/contract-events.ts";
import type { MethodPayment, OrderEvents, OrderStatusChanged } from "./events.ts";
import { orderReference } from "./ids.ts";
import {
  lockOrders,
  ordersByDepositAddress,
  ordersDueForRefresh,
  ordersPaidAfter,
  saveOrderStates,
} from "./repository.ts";
import type { OrderRow } from "./serialize.ts";
import {
  callbackEventsFor,
  computeDepositOrderState,
  computeOrderState,
  type Clock,
  type DepositOrderState,
} from "./state.ts";

export interface OrderSinkOptions {
  /** Blocks (the paying one included) after which a paid order is `complete`. */
  confirmations: number;
  /** Where status changes are published (merchant callback, TXT notifier). */
  events: OrderEvents;
  /** The wall clock (tests); default Date.now. */
  now?: () => number;
  /** Computes the state of orders paid by several methods (server/src/payment-methods/). */
  provider?: OrderStateProvider | undefined;
}

/** An order's state as another module computed it, with the payments that count toward it. */
export interface ProvidedOrderState extends DepositOrderState {
  payments: readonly MethodPayment[];
}

/**
 * A module that owns how some orders are paid (payment methods: one order, several coins and
 * chains) computes their state itself; every other order is computed here. It returns states
 * only for the orders it takes over.
 */
export interface OrderStateProvider {
  /** `clock` is the chain's whose step (or idle call) recomputes the orders. */
  states(tx: Queryable, orders: readonly OrderRow[], clock: Clock): Promise<Map<bigint, ProvidedOrderState>>;
}

/** Makes each chain's OrderStateProvider (it knows the chain its clocks come from). */
export interface OrderStateProviders {
  forChain(chainId: bigint, confirmations: number): OrderStateProvider;
}

/** The order side of each step; `touched` is what the deposits module recorded on it, before. */
export interface OrderSink {
  apply(tx: Queryable, step: Step<ChainEvent>, touched: TouchedDeposits): Promise<OrderStatusChanged[]>;
  idle(tx: Queryable, at: IdleContext): Promise<OrderStatusChanged[]>;
}

/**
 * How chain effects change orders: the payments module's sink for PaymentProcessor events, after
 * the deposits module recorded the step's deposit observations and sweeps and said which deposit
 * addresses they touched. Every step recomputes the touched orders from their canonical events
 * with the state machine (./state.ts), writes any change and publishes each status change, all in
 * the step's transaction.
 *  - block: links events to orders, stores them in the ledger, recomputes the orders they touch,
 *    those of the touched deposit addresses, and those whose confirmations or expiry came due;
 *  - reorg: drops the ledger's events past the ancestor and recomputes the orders that lost
 *    events (their own, or their deposit address's, rolled back by the deposits module) or were
 *    made whole after it;
 *  - finalize: nothing to do (order state never depends on finality);
 *  - idle: recomputes orders that came due with time alone (expiry, confirmations).
 * Returns the published changes.
 */
export function createOrderSink(options: OrderSinkOptions): OrderSink {
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

  async function apply(
    tx: Queryable,
    step: Step<ChainEvent>,
    touched: TouchedDeposits,
  ): Promise<OrderStatusChanged[]> {
    switch (step.type) {
      case "block": {
        const cursor = step.blocks.at(-1);
        if (!cursor) return [];
        const { contract: contractEvents } = eventsByOwner(step.events);
        const c = clock(cursor, step.head);
        // The orders the events name (by their on-chain reference) and those that came due, locked
        // in one statement; the events are linked to the orders that exist before they are stored.
        const refs = [...new Set(contractEvents.flatMap((e) => (e.orderRef ? [e.orderRef] : [])))];
        const dueIds = await due(tx, step.chainId, c);
        const locked = await lockOrders(tx, dueIds, refs);
        const existing = new Set(locked.map((o) => o.id));
        const byRef = new Map(locked.map((o) => [orderReference(o).toLowerCase(), o.id]));
        for (const e of contractEvents) {
          const id = e.orderRef ? byRef.get(e.orderRef.toLowerCase()) : undefined;
          if (id !== undefined) e.orderId = id;
        }
        await insertEvents(tx, contractEvents);
        // Orders touched through their deposit address only (most steps have none).
        const byDeposit = [...(await ordersByDepositAddress(tx, step.chainId, touched.addresses)).values()];
        const more = byDeposit.filter((id) => !existing.has(id));
        const orders = more.length > 0 ? [...locked, ...(await lockOrders(tx, more))] : locked;
        return refreshLockedOrders(tx, c, orders, options.events, options.provider);
      }
      case "reorg": {
        const ancestor = step.ancestor.number;
        const affected = new Set(await rollbackEventsPast(tx, step.chainId, ancestor));
        for (const id of (await ordersByDepositAddress(tx, step.chainId, touched.addresses)).values())
          affected.add(id);
        for (const id of await ordersPaidAfter(tx, step.chainId, ancestor)) affected.add(id);
        return refreshOrders(
          tx,
          clock(step.ancestor, step.head),
          [...affected],
          options.events,
          options.provider,
        );
      }
      case "finalize":
        return [];
    }
  }

  async function idle(tx: Queryable, at: IdleContext): Promise<OrderStatusChanged[]> {
    const c = clock(at.cursor, at.head);
    return refreshOrders(tx, c, await due(tx, at.chainId, c), options.events, options.provider);
  }

  return { apply, idle };
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
  provider?: OrderStateProvider,
): Promise<OrderStatusChanged[]> {
  if (orderIds.length === 0) return [];
  return refreshLockedOrders(tx, clock, await lockOrders(tx, orderIds), events, provider);
}

/** refreshOrders for orders already locked by this transaction. */
async function refreshLockedOrders(
  tx: Queryable,
  clock: Clock,
  orders: readonly OrderRow[],
  events: OrderEvents,
  provider: OrderStateProvider | undefined,
): Promise<OrderStatusChanged[]> {
  if (orders.length === 0) return [];
  const provided = provider
    ? await provider.states(tx, orders, clock)
    : new Map<bigint, ProvidedOrderState>();
  const orderIds = orders.map((o) => o.id);
  const byOrder = new Map<bigint, OrderEventRow[]>();
  for (const event of await orderEvents(tx, orderIds)) {
    const list = byOrder.get(event.orderId) ?? [];
    list.push(event);
    byOrder.set(event.orderId, list);
  }

  // Deposit activity of the orders that have a deposit address, per chain.
  const activity = new Map<string, Awaited<ReturnType<typeof depositActivity>>>();
  for (const chainId of new Set(orders.filter((o) => o.deposit_address !== null).map((o) => o.chain_id))) {
    const addresses = orders.filter((o) => o.chain_id === chainId && o.deposit_address !== null);
    activity.set(
      chainId.toString(),
      await depositActivity(
        tx,
        chainId,
        addresses.map((o) => o.deposit_address as string),
      ),
    );
  }

  const updates: OrderRow[] = [];
  const published: OrderStatusChanged[] = [];
  for (const order of orders) {
    const related = (byOrder.get(order.id) ?? []).filter(
      (e) => e.chainId === order.chain_id && e.merchant === order.merchant_address && e.token === order.token,
    );
    const terms = { expectedAmount: BigInt(order.expected_amount), expiresAt: order.expires_at };
    const refunds = related.filter((e) => e.kind === "refund");
    let state: DepositOrderState;
    const taken = provided.get(order.id);
    if (taken) {
      state = taken;
    } else if (order.deposit_address === null) {
      state = {
        ...computeOrderState(
          terms,
          related.filter((e) => e.kind === "payment"),
          refunds,
          clock,
        ),
        awaitingSweep: false,
      };
    } else {
      // Sweeps are PaymentReceived events too: they count as the deposit's sweeps, not as payments.
      const deposit = order.deposit_address;
      const flows = depositFlows(activity.get(order.chain_id.toString())?.get(deposit), order.token);
      state = computeDepositOrderState(
        terms,
        related.filter((e) => e.kind === "payment" && e.counterparty !== deposit),
        flows.inflows,
        flows.sweeps,
        refunds,
        clock,
      );
    }
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
      awaiting_sweep: state.awaitingSweep,
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
        ...(taken ? { payments: taken.payments } : {}),
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

function changed(order: OrderRow, state: DepositOrderState): boolean {
  return (
    order.status !== state.status ||
    order.exception !== state.exception ||
    BigInt(order.amount_paid) !== state.amountPaid ||
    BigInt(order.amount_refunded) !== state.amountRefunded ||
    order.transaction_id !== state.transactionId ||
    order.paid_block !== state.paidBlock ||
    order.sent_transaction !== state.sentTransaction ||
    order.awaiting_sweep !== state.awaitingSweep
  );
}
