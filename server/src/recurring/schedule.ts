/**
 * The calendar of a subscription: where each period starts and ends, and when its invoice opens.
 * Pure UTC date arithmetic, always computed from the first due date (never from the previous
 * period), so month-end clamping never drifts:
 *  - monthly: the same day of the month as the start, clamped to the month's last day
 *    (start Jan 31 → Feb 28 (29 in a leap year) → Mar 31 → Apr 30 …), same time of day;
 *  - yearly: the same date each year (Feb 29 → Feb 28 in other years);
 *  - weekly: every 7 × 24 hours.
 * A token_pull subscription follows its on-chain schedule instead (`"seconds"`): period k is
 * [start + k·interval, start + (k+1)·interval) with the interval in whole seconds
 * (ON_CHAIN_INTERVAL_SECONDS: a "month" is 30 days, a "year" 365 days), as the Subscriptions
 * contract charges it.
 */
export const INTERVALS = ["weekly", "monthly", "yearly"] as const;
export type Interval = (typeof INTERVALS)[number];

const DAY_MS = 86_400_000;

/** Calendar periods (deposit subscriptions) or fixed lengths in seconds (token_pull, bound on chain). */
export type Schedule = "calendar" | "seconds";

/** The on-chain `interval` of a token_pull subscription: weekly 7 days, monthly 30 days, yearly 365 days. */
export const ON_CHAIN_INTERVAL_SECONDS: Readonly<Record<Interval, bigint>> = {
  weekly: 604_800n,
  monthly: 2_592_000n,
  yearly: 31_536_000n,
};

export const scheduleOf = (method: string): Schedule => (method === "token_pull" ? "seconds" : "calendar");
/** The reference's window: a payment is `upcoming` 10 days before it is due, `expired` over 10 days late. */
export const WINDOW_MS = 10 * DAY_MS;
/** Weekly subscriptions: 10 days is longer than a week (a paid-up one would never be `active`). */
export const WEEKLY_UPCOMING_MS = 3 * DAY_MS;

/**
 * How long before its due date a period is `upcoming` and its invoice opens (rate locked): the
 * reference's 10 days, or 3 days for weekly billing.
 */
export const upcomingWindowMs = (interval: Interval): number =>
  interval === "weekly" ? WEEKLY_UPCOMING_MS : WINDOW_MS;

export const isInterval = (value: string): value is Interval =>
  (INTERVALS as readonly string[]).includes(value);

function addMonths(start: Date, months: number): Date {
  const y = start.getUTCFullYear();
  const m = start.getUTCMonth() + months;
  const targetYear = y + Math.floor(m / 12);
  const targetMonth = ((m % 12) + 12) % 12;
  const lastDay = new Date(Date.UTC(targetYear, targetMonth + 1, 0)).getUTCDate();
  const day = Math.min(start.getUTCDate(), lastDay);
  return new Date(
    Date.UTC(
      targetYear,
      targetMonth,
      day,
      start.getUTCHours(),
      start.getUTCMinutes(),
      start.getUTCSeconds(),
      start.getUTCMilliseconds(),
    ),
  );
}

/** The due date of period `index` (period 0 is due at the start). */
export function periodStart(
  start: Date,
  interval: Interval,
  index: number,
  schedule: Schedule = "calendar",
): Date {
  if (schedule === "seconds")
    return new Date(start.getTime() + index * Number(ON_CHAIN_INTERVAL_SECONDS[interval]) * 1000);
  switch (interval) {
    case "weekly":
      return new Date(start.getTime() + index * 7 * DAY_MS);
    case "monthly":
      return addMonths(start, index);
    case "yearly":
      return addMonths(start, 12 * index);
  }
}

export interface PeriodBounds {
  index: number;
  /** Due date. */
  startsAt: Date;
  endsAt: Date;
  /** When its invoice opens and its rate is locked: 10 days before it is due (weekly: 3). */
  opensAt: Date;
}

export function periodBounds(
  start: Date,
  interval: Interval,
  index: number,
  schedule: Schedule = "calendar",
): PeriodBounds {
  const startsAt = periodStart(start, interval, index, schedule);
  return {
    index,
    startsAt,
    endsAt: periodStart(start, interval, index + 1, schedule),
    opensAt: new Date(startsAt.getTime() - upcomingWindowMs(interval)),
  };
}
