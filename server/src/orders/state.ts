/**
 * The order state machine, as a pure function of the order and the canonical events that touch
 * it. The indexer recomputes it whenever those inputs change (new block, reorg, expiry), so a
 * rollback needs no bookkeeping: delete the orphaned events and recompute.
 */
export type OrderStatus = "pending" | "success" | "complete" | "expired" | "refunded";
export type OrderException = "paid_partial" | "paid_over" | "paid_late";

export interface OrderTerms {
  expectedAmount: bigint;
  expiresAt: Date;
}

export interface OrderPayment {
  amount: bigint;
  blockNumber: bigint;
  logIndex: number;
  blockTimestamp: Date;
  txHash: string;
}

export interface OrderRefund {
  amount: bigint;
  blockNumber: bigint;
  logIndex: number;
  txHash: string;
}

export interface OrderState {
  status: OrderStatus;
  exception: OrderException | null;
  amountPaid: bigint;
  amountRefunded: bigint;
  /** The payment that made the order whole, and its block. */
  transactionId: string | null;
  paidBlock: bigint | null;
  /** The last refund's transaction, once refunded. */
  sentTransaction: string | null;
}

export interface Clock {
  /** The indexed head: the newest block whose effects are applied. */
  indexedBlock: bigint;
  /** Whether expiry may be decided: every block up to the expiry time has been indexed. */
  canExpire: (expiresAt: Date) => boolean;
  confirmations: number;
}

const byChainOrder = (
  a: { blockNumber: bigint; logIndex: number },
  b: { blockNumber: bigint; logIndex: number },
) => (a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1);

export function computeOrderState(
  terms: OrderTerms,
  payments: readonly OrderPayment[],
  refunds: readonly OrderRefund[],
  clock: Clock,
): OrderState {
  const sorted = [...payments].sort(byChainOrder);
  const amountPaid = sorted.reduce((sum, p) => sum + p.amount, 0n);
  const amountRefunded = refunds.reduce((sum, r) => sum + r.amount, 0n);
  const late = sorted.some((p) => p.blockTimestamp.getTime() > terms.expiresAt.getTime());

  // Payments mined by the expiry time count toward the order, in chain order.
  let onTime = 0n;
  let completing: OrderPayment | undefined;
  for (const payment of sorted) {
    if (payment.blockTimestamp.getTime() > terms.expiresAt.getTime()) continue;
    onTime += payment.amount;
    if (onTime >= terms.expectedAmount) {
      completing = payment;
      break;
    }
  }

  let status: OrderStatus;
  let exception: OrderException | null = null;
  if (completing) {
    const depth = clock.indexedBlock - completing.blockNumber + 1n;
    status = depth >= BigInt(clock.confirmations) ? "complete" : "success";
    if (amountPaid > terms.expectedAmount) exception = "paid_over";
  } else if (clock.canExpire(terms.expiresAt)) {
    status = "expired";
    if (late) exception = "paid_late";
    else if (amountPaid > 0n) exception = "paid_partial";
  } else {
    status = "pending";
    if (amountPaid > 0n) exception = late ? "paid_late" : "paid_partial";
  }

  let sentTransaction: string | null = null;
  if (amountRefunded > 0n && amountRefunded >= amountPaid) {
    status = "refunded";
    sentTransaction = [...refunds].sort(byChainOrder).at(-1)?.txHash ?? null;
  }

  return {
    status,
    exception,
    amountPaid,
    amountRefunded,
    transactionId: completing?.txHash ?? null,
    paidBlock: completing?.blockNumber ?? null,
    sentTransaction,
  };
}

/**
 * The callbacks a status change sends, in order. A jump from pending straight to complete (a
 * catch-up after downtime) still reports success first, so receivers always see both.
 */
export function callbackEventsFor(previous: OrderStatus, next: OrderStatus): OrderStatus[] {
  if (previous === next) return [];
  if (next === "complete" && previous !== "success") return ["success", "complete"];
  return [next];
}
