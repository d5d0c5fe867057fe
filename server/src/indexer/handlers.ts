import { enqueueCallback } from "../callbacks/outbox.ts";
import type { Queryable } from "../db/types.ts";
import type { OrderRow } from "../orders/serialize.ts";
import { orderToJson } from "../orders/serialize.ts";
import { callbackEventsFor, computeOrderState, type Clock, type OrderState } from "../orders/state.ts";

export interface HandlerContext {
  chainId: bigint;
  publicUrl: string;
  clock: Clock;
}

export interface StatusChange {
  orderId: bigint;
  from: string;
  to: string;
}

interface EventRow {
  order_id: bigint;
  kind: "payment" | "refund";
  block_number: bigint;
  log_index: number;
  block_timestamp: Date;
  tx_hash: string;
  amount: string;
}

/**
 * Recomputes the state of the given orders from their canonical events and writes any change,
 * queuing each status change's callbacks in the same transaction. Only events whose merchant and
 * token match the order count toward it.
 */
export async function refreshOrders(
  tx: Queryable,
  ctx: HandlerContext,
  orderIds: readonly bigint[],
): Promise<StatusChange[]> {
  if (orderIds.length === 0) return [];
  const ids = orderIds.map(String);
  const { rows: orders } = await tx.query<OrderRow>(
    "SELECT * FROM orders WHERE id = ANY($1::int8[]) ORDER BY id FOR UPDATE",
    [ids],
  );
  const { rows: events } = await tx.query<EventRow>(
    `SELECT e.order_id, e.kind, e.block_number, e.log_index, e.block_timestamp, e.tx_hash, e.amount
       FROM contract_events e JOIN orders o ON o.id = e.order_id
      WHERE e.order_id = ANY($1::int8[]) AND e.kind IN ('payment', 'refund')
        AND e.chain_id = o.chain_id AND e.merchant = o.merchant_address AND e.token = o.token`,
    [ids],
  );
  const byOrder = new Map<bigint, EventRow[]>();
  for (const event of events) {
    const list = byOrder.get(event.order_id) ?? [];
    list.push(event);
    byOrder.set(event.order_id, list);
  }

  const changes: StatusChange[] = [];
  for (const order of orders) {
    const related = byOrder.get(order.id) ?? [];
    const toRecord = (e: EventRow) => ({
      amount: BigInt(e.amount),
      blockNumber: e.block_number,
      logIndex: e.log_index,
      blockTimestamp: e.block_timestamp,
      txHash: e.tx_hash,
    });
    const state = computeOrderState(
      { expectedAmount: BigInt(order.expected_amount), expiresAt: order.expires_at },
      related.filter((e) => e.kind === "payment").map(toRecord),
      related.filter((e) => e.kind === "refund").map(toRecord),
      ctx.clock,
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
    await tx.query(
      `UPDATE orders SET status = $2, exception = $3, amount_paid = $4, amount_refunded = $5, transaction_id = $6,
         paid_block = $7, sent_transaction = $8, updated_at = now() WHERE id = $1`,
      [
        order.id,
        updated.status,
        updated.exception,
        updated.amount_paid,
        updated.amount_refunded,
        updated.transaction_id,
        updated.paid_block,
        updated.sent_transaction,
      ],
    );
    for (const status of callbackEventsFor(order.status, state.status)) {
      const body = orderToJson({ ...updated, status }, ctx.publicUrl, ctx.clock.indexedBlock);
      await enqueueCallback(tx, {
        stream: `order:${order.id}`,
        kind: `order.${status}`,
        url: order.callback,
        body: JSON.stringify(body),
        secretRef: order.merchant_id === null ? "system" : `merchant:${order.merchant_id}`,
        orderId: order.id,
        merchantId: order.merchant_id,
      });
    }
    if (order.status !== state.status)
      changes.push({ orderId: order.id, from: order.status, to: state.status });
  }
  return changes;
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

/** Orders whose confirmations may have grown past the threshold, plus open orders past expiry. */
export async function ordersDueForRefresh(tx: Queryable, ctx: HandlerContext): Promise<bigint[]> {
  const threshold = ctx.clock.indexedBlock - BigInt(ctx.clock.confirmations) + 1n;
  const { rows } = await tx.query<{ id: bigint }>(
    `SELECT id FROM orders WHERE chain_id = $1 AND status = 'success' AND paid_block <= $2
     UNION ALL
     SELECT id FROM orders WHERE chain_id = $1 AND status = 'pending' AND expires_at < now()`,
    [ctx.chainId, threshold],
  );
  return rows.map((r) => r.id);
}
