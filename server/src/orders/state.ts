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
  return evaluate(terms, payments, refunds, clock).state;
}

/** The state, and the payments up to the one that made the order whole (in chain order). */
function evaluate<P extends Omit<OrderPayment, "txHash"> & { txHash: string | null }>(
  terms: OrderTerms,
  payments: readonly P[],
  refunds: readonly OrderRefund[],
  clock: Clock,
): { state: OrderState; counted: P[]; completing: P | undefined } {
  const sorted = [...payments].sort(byChainOrder);
  const amountPaid = sorted.reduce((sum, p) => sum + p.amount, 0n);
  const amountRefunded = refunds.reduce((sum, r) => sum + r.amount, 0n);
  const late = sorted.some((p) => p.blockTimestamp.getTime() > terms.expiresAt.getTime());

  // Payments mined by the expiry time count toward the order, in chain order.
  let onTime = 0n;
  let completing: P | undefined;
  const counted: P[] = [];
  for (const payment of sorted) {
    if (payment.blockTimestamp.getTime() > terms.expiresAt.getTime()) continue;
    onTime += payment.amount;
    counted.push(payment);
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

  const state: OrderState = {
    status,
    exception,
    amountPaid,
    amountRefunded,
    transactionId: completing?.txHash ?? null,
    paidBlock: completing?.blockNumber ?? null,
    sentTransaction,
  };
  return { state, counted: completing ? counted : [], completing };
}

/** Money that arrived at an order's deposit address (see deposits/flows.ts), as the state reads it. */
export interface DepositPayment {
  amount: bigint;
  blockNumber: bigint;
  logIndex: number;
  blockTimestamp: Date;
  /** Null for an internal transfer (from a contract wallet): no transaction of its own. */
  txHash: string | null;
}

/** A sweep of the order's deposit address that credited the merchant in the contract. */
export interface DepositSweepCredit {
  amount: bigint;
  blockNumber: bigint;
  logIndex: number;
  txHash: string;
}

export interface DepositOrderState extends OrderState {
  /** Made whole and confirmed, but the deposit is not yet swept into the contract. */
  awaitingSweep: boolean;
}

/**
 * The state of an order with a deposit address. Money reaches it two ways: transfers to the
 * deposit address, and `pay`/`payToken` to the contract (the browser-wallet button). Both count, in
 * chain order, with the same partial, over and late rules as computeOrderState.
 *  - success: covered, with at least 1 confirmation (every indexed block has one);
 *  - complete: covered with CONFIRMATIONS, and the deposits that made it whole swept into the
 *    contract for the merchant; `sent_transaction` is the sweep that got there. Without that sweep
 *    the order stays `success` with `awaitingSweep`;
 *  - transaction_id: the payment that made it whole; for an internal transfer (no transaction of
 *    its own) the sweep's transaction once swept, else empty.
 * An order paid only through `pay` keeps today's meaning (complete at CONFIRMATIONS, no sweep).
 */
export function computeDepositOrderState(
  terms: OrderTerms,
  direct: readonly OrderPayment[],
  deposits: readonly DepositPayment[],
  sweeps: readonly DepositSweepCredit[],
  refunds: readonly OrderRefund[],
  clock: Clock,
): DepositOrderState {
  const payments = [
    ...direct.map((p) => ({ ...p, viaDeposit: false })),
    ...deposits.map((p) => ({ ...p, viaDeposit: true })),
  ];
  const { state, counted, completing } = evaluate(terms, payments, refunds, clock);
  const result: DepositOrderState = { ...state, awaitingSweep: false };
  if (!completing) return result;
  const needed = counted.filter((p) => p.viaDeposit).reduce((sum, p) => sum + p.amount, 0n);
  if (needed === 0n) return result; // paid through `pay`: no sweep involved
  let sweptTx: string | null = null;
  let swept = 0n;
  for (const s of [...sweeps].sort(byChainOrder)) {
    swept += s.amount;
    if (swept >= needed) {
      sweptTx = s.txHash;
      break;
    }
  }
  if (result.transactionId === null) result.transactionId = sweptTx;
  if (state.status === "complete") {
    if (sweptTx === null) {
      result.status = "success";
      result.awaitingSweep = true;
    } else {
      result.sentTransaction = sweptTx;
    }
  }
  return result;
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
