import type { OrderException, OrderStatus } from "../orders/state.ts";

/**
 * The state of an order paid by several methods, as a pure function of its terms and the payments
 * seen by every method. Each payment counts in its USD value at its method's rate, locked when the
 * order was made; values are exact integers in 10^-18 USD (rounded down, so a payment of exactly a
 * method's `expected_amount`, which is rounded up, always covers the order).
 */

/** USD values are kept in 10^-18 USD: an attodollar. */
export const USD_VALUE_DECIMALS = 18;

/** A method's locked rate: USD per whole coin, scaled by 10^priceDecimals. */
export interface LockedRate {
  price: bigint;
  priceDecimals: number;
}

/** The USD value (10^-18 USD, rounded down) of `amount` smallest units of a coin of `decimals`. */
export function usdValue(amount: bigint, decimals: number, rate: LockedRate): bigint {
  return (
    (amount * rate.price * 10n ** BigInt(USD_VALUE_DECIMALS)) / 10n ** BigInt(decimals + rate.priceDecimals)
  );
}

/** `value` (10^-18 USD) in smallest units of a coin of `decimals` at `rate` (rounded down). */
export function unitsOf(value: bigint, decimals: number, rate: LockedRate): bigint {
  if (rate.price <= 0n) return 0n;
  return (
    (value * 10n ** BigInt(decimals + rate.priceDecimals)) / (rate.price * 10n ** BigInt(USD_VALUE_DECIMALS))
  );
}

/** USD cents in 10^-18 USD. */
export const centsValue = (cents: bigint): bigint => cents * 10n ** BigInt(USD_VALUE_DECIMALS - 2);

/** One payment by one method, as its watcher saw it. */
export interface SeenPayment {
  method: string;
  /** In the method's smallest unit (wei, token units, litoshi). */
  amount: bigint;
  /** Its USD value at the method's locked rate (usdValue). */
  value: bigint;
  /** When its block was mined: payments of different chains are put in order by it. */
  at: Date;
  /** Ties between chains and within one: the chain, the block, the log. */
  chainKey: string;
  blockNumber: bigint;
  logIndex: number;
  /** Empty when the payment has no transaction of its own (an internal transfer). */
  txHash: string | null;
  /** It has the confirmations its chain or coin needs. */
  confirmed: boolean;
  /**
   * Nothing is left to do for it: for a deposit address, swept into the contract (its sweep is
   * `sweepTx`); a UTXO payment goes straight to the merchant's wallet and needs no sweep.
   */
  swept: boolean;
  sweepTx: string | null;
}

export interface MethodsState {
  status: OrderStatus;
  exception: OrderException | null;
  /** What arrived, in 10^-18 USD: every payment, late ones included. */
  valuePaid: bigint;
  /** The payment that made the order whole. */
  completing: SeenPayment | null;
  /** The payments up to the completing one, in order (empty while not covered). */
  counted: SeenPayment[];
  /** Covered and confirmed, but a deposit that counted waits for its sweep (the order stays success). */
  awaitingSweep: boolean;
  /** Once complete: the last sweep among the counted payments' (empty when none needed one). */
  sentTransaction: string | null;
}

const byTime = (a: SeenPayment, b: SeenPayment) => {
  const t = a.at.getTime() - b.at.getTime();
  if (t !== 0) return t;
  if (a.chainKey !== b.chainKey) return a.chainKey < b.chainKey ? -1 : 1;
  if (a.blockNumber !== b.blockNumber) return a.blockNumber < b.blockNumber ? -1 : 1;
  return a.logIndex - b.logIndex;
};

/**
 * The same rules as one method's (server/src/orders/state.ts), on the sum of every method's
 * payments in their USD value:
 *  - payments mined by the expiry count, in the order they were mined; the one that brings the
 *    sum to the order's amount makes it `success` (every indexed payment has 1 confirmation);
 *  - `complete` once each payment that counted has its chain's (or coin's) confirmations and, for
 *    a deposit address, its sweep into the contract; until the sweep it stays `success` with
 *    `awaitingSweep`;
 *  - paid_over when the sum passes the amount; past the expiry: `expired`, with paid_partial (some
 *    money came, not enough) or paid_late (some came after the expiry); before it, `pending` with
 *    the same exceptions.
 */
export function computeMethodsState(
  terms: { usdCents: bigint; expiresAt: Date },
  payments: readonly SeenPayment[],
  canExpire: boolean,
): MethodsState {
  const target = centsValue(terms.usdCents);
  const sorted = [...payments].sort(byTime);
  const valuePaid = sorted.reduce((sum, p) => sum + p.value, 0n);
  const isLate = (p: SeenPayment) => p.at.getTime() > terms.expiresAt.getTime();
  const late = sorted.some(isLate);

  let onTime = 0n;
  let completing: SeenPayment | null = null;
  const counted: SeenPayment[] = [];
  for (const p of sorted) {
    if (isLate(p)) continue;
    onTime += p.value;
    counted.push(p);
    if (onTime >= target) {
      completing = p;
      break;
    }
  }

  if (completing) {
    const confirmed = counted.every((p) => p.confirmed);
    const swept = counted.every((p) => p.swept);
    const complete = confirmed && swept;
    const sweeps = counted.flatMap((p) => (p.sweepTx ? [p.sweepTx] : []));
    return {
      status: complete ? "complete" : "success",
      exception: valuePaid > target ? "paid_over" : null,
      valuePaid,
      completing,
      counted,
      awaitingSweep: confirmed && !swept,
      sentTransaction: complete ? (sweeps.at(-1) ?? null) : null,
    };
  }
  let status: OrderStatus;
  let exception: OrderException | null = null;
  if (canExpire) {
    status = "expired";
    if (late) exception = "paid_late";
    else if (valuePaid > 0n) exception = "paid_partial";
  } else {
    status = "pending";
    if (valuePaid > 0n) exception = late ? "paid_late" : "paid_partial";
  }
  return {
    status,
    exception,
    valuePaid,
    completing: null,
    counted: [],
    awaitingSweep: false,
    sentTransaction: null,
  };
}
