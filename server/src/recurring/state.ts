import { periodBounds, upcomingWindowMs, WINDOW_MS, type Interval, type Schedule } from "./schedule.ts";

/**
 * The reference's four statuses of a subscription, computed from its periods, what it received,
 * and the clock. Pure: no database, no chain. The rules (docs/recurring.md):
 *
 *  Let `due` be the first period not paid in full (periods are contiguous, so `due` is also the
 *  end of the last of the consecutive paid periods: the "end timestamp", `paidThrough`).
 *  - `upcoming`: nothing paid yet and the first period is not due yet, or the next period is due
 *    within the next 10 days: due − 10 days ≤ now < due (and it is not paid in advance); for
 *    weekly billing the window is 3 days (10 days would cover every whole week);
 *  - `active`:   paid in full till the end timestamp, and the next payment is more than 10 days
 *    away: now < due − 10 days;
 *  - `pending`:  due ≤ now ≤ due + 10 days: not paid yet and at most 10 days late (exactly
 *    10 days late is still `pending`);
 *  - `expired`:  now > due + 10 days: more than 10 days late.
 *  A cancelled subscription owes nothing more: it is `active` while now < paidThrough (what was
 *  paid runs to its end) and `expired` from then on.
 */
export const RECURRING_STATUSES = ["expired", "active", "pending", "upcoming"] as const;
export type RecurringStatus = (typeof RECURRING_STATUSES)[number];

export interface SubscriptionTerms {
  /** The first period's due date. */
  startsAt: Date;
  interval: Interval;
  cancelledAt: Date | null;
  /** Calendar periods (default) or the on-chain schedule of a token_pull subscription. */
  schedule?: Schedule;
}

/** An open period (its rate is locked): what it costs in the smallest unit. */
export interface OpenPeriod {
  index: number;
  startsAt: Date;
  endsAt: Date;
  expectedAmount: bigint;
}

/** Money received for the subscription, in chain order (a deposit inflow, or later a token pull). */
export interface RecurringCredit {
  amount: bigint;
  blockNumber: bigint;
  logIndex: number;
  blockTimestamp: Date;
  /** The transfer, when it has its own transaction (ETH from a contract wallet has none). */
  txHash: string | null;
}

export interface PeriodState {
  index: number;
  paidAmount: bigint;
  covered: boolean;
  /** Block time of the credit that completed it. */
  paidAt: Date | null;
  paidBlock: bigint | null;
  transactionId: string | null;
}

export interface SubscriptionState {
  status: RecurringStatus;
  /** One entry per owed open period, by index. */
  periods: PeriodState[];
  /** End of the last of the consecutive paid periods from the first (the start when none). */
  paidThrough: Date;
  /** Received and not owed by any open period: carried to the next period when it opens. */
  credit: bigint;
  /** The period the status is about (the one due, or the paid one running now). */
  shownIndex: number;
  /** The next instant at which the clock alone changes the state or a period must open; null: never. */
  nextCheckAt: Date | null;
  /** The newest block among the credits. */
  creditBlock: bigint | null;
}

/**
 * Allocates the credits to the owed periods oldest first (a credit larger than what a period
 * still needs flows on to the next; what is left after the last open period is `credit`), then
 * derives the status at `now`. Periods that started at or after a cancellation are not owed.
 */
export function computeSubscriptionState(
  terms: SubscriptionTerms,
  openPeriods: readonly OpenPeriod[],
  credits: readonly RecurringCredit[],
  now: Date,
): SubscriptionState {
  const cancelledAt = terms.cancelledAt;
  const owed = [...openPeriods]
    .filter((p) => cancelledAt === null || p.startsAt.getTime() < cancelledAt.getTime())
    .sort((a, b) => a.index - b.index);
  const periods: PeriodState[] = owed.map((p) => ({
    index: p.index,
    paidAmount: 0n,
    covered: false,
    paidAt: null,
    paidBlock: null,
    transactionId: null,
  }));
  const ordered = [...credits].sort((a, b) =>
    a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1,
  );
  let at = 0;
  let credit = 0n;
  let creditBlock: bigint | null = null;
  for (const c of ordered) {
    if (creditBlock === null || c.blockNumber > creditBlock) creditBlock = c.blockNumber;
    let amount = c.amount;
    while (amount > 0n && at < periods.length) {
      const period = periods[at] as PeriodState;
      const need = (owed[at] as OpenPeriod).expectedAmount - period.paidAmount;
      const take = amount < need ? amount : need;
      period.paidAmount += take;
      amount -= take;
      if (period.paidAmount >= (owed[at] as OpenPeriod).expectedAmount) {
        period.covered = true;
        period.paidAt = c.blockTimestamp;
        period.paidBlock = c.blockNumber;
        period.transactionId = c.txHash;
        at++;
      }
    }
    credit += amount;
  }

  // Periods are contiguous from the start: the first uncovered one is due when the paid ones end.
  const firstUncovered = at;
  const due = firstUncovered === 0 ? terms.startsAt : (owed[firstUncovered - 1] as OpenPeriod).endsAt;
  const t = now.getTime();
  const d = due.getTime();

  if (cancelledAt !== null) {
    const status: RecurringStatus = firstUncovered > 0 && t < d ? "active" : "expired";
    return {
      status,
      periods,
      paidThrough: due,
      credit,
      shownIndex: Math.max(0, firstUncovered - 1),
      nextCheckAt: status === "active" ? due : null,
      creditBlock,
    };
  }

  const window = upcomingWindowMs(terms.interval);
  let status: RecurringStatus;
  if (t < d) status = firstUncovered === 0 || t >= d - window ? "upcoming" : "active";
  else status = t - d <= WINDOW_MS ? "pending" : "expired";

  let shownIndex = firstUncovered;
  if (status === "active") {
    // The paid period running now (or the first one, when it is paid in advance).
    shownIndex = 0;
    for (let i = 0; i < firstUncovered; i++) {
      if ((owed[i] as OpenPeriod).startsAt.getTime() <= t) shownIndex = (owed[i] as OpenPeriod).index;
    }
  }

  // The clock changes the status at due − the upcoming window, at due, and just after due + 10
  // days; the scheduler opens the next period when it becomes upcoming.
  const nextToOpen = periodBounds(
    terms.startsAt,
    terms.interval,
    owed.length,
    terms.schedule,
  ).opensAt.getTime();
  // A period that should have opened already makes the check due now.
  const moments = [d - window, d, d + WINDOW_MS + 1].filter((m) => m > t);
  // A paid period that starts later becomes the one shown when it starts.
  const nextPaid = owed.find((p, i) => i < firstUncovered && p.startsAt.getTime() > t);
  if (status === "active" && nextPaid) moments.push(nextPaid.startsAt.getTime());
  const nextCheckAt = new Date(Math.min(...moments, Math.max(nextToOpen, t)));
  return { status, periods, paidThrough: due, credit, shownIndex, nextCheckAt, creditBlock };
}
