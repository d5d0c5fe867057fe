import assert from "node:assert/strict";
import { describe, it } from "mocha";
import { periodBounds, periodStart } from "../../server/src/recurring/schedule.ts";
import {
  computeSubscriptionState,
  type OpenPeriod,
  type RecurringCredit,
  type SubscriptionTerms,
} from "../../server/src/recurring/state.ts";

const DAY = 86_400_000;
const start = new Date("2026-03-01T12:00:00Z");
const terms: SubscriptionTerms = { startsAt: start, interval: "monthly", cancelledAt: null };
const PRICE = 1_000n;
const at = (ms: number) => new Date(start.getTime() + ms);
/** Open periods 0..n-1 (rates locked) at PRICE each. */
const open = (n: number, price = PRICE): OpenPeriod[] =>
  Array.from({ length: n }, (_, index) => {
    const b = periodBounds(start, "monthly", index);
    return { index, startsAt: b.startsAt, endsAt: b.endsAt, expectedAmount: price };
  });
let log = 0;
const credit = (amount: bigint, blockNumber: bigint): RecurringCredit => ({
  amount,
  blockNumber,
  logIndex: log++,
  blockTimestamp: new Date(start.getTime()),
  txHash: `0x${blockNumber.toString(16)}${log}`,
});
const status = (periods: OpenPeriod[], credits: RecurringCredit[], now: Date, t = terms) =>
  computeSubscriptionState(t, periods, credits, now).status;

describe("recurring schedule (calendar months, UTC)", function () {
  it("clamps month ends without drifting: Jan 31 → Feb 28 → Mar 31 → Apr 30; Feb 29 yearly → Feb 28", function () {
    const jan31 = new Date("2027-01-31T08:00:00Z");
    assert.deepEqual(
      [0, 1, 2, 3].map((k) => periodStart(jan31, "monthly", k).toISOString()),
      [
        "2027-01-31T08:00:00.000Z",
        "2027-02-28T08:00:00.000Z",
        "2027-03-31T08:00:00.000Z",
        "2027-04-30T08:00:00.000Z",
      ],
    );
    assert.equal(
      periodStart(new Date("2028-02-29T00:00:00Z"), "yearly", 1).toISOString(),
      "2029-02-28T00:00:00.000Z",
    );
    assert.equal(
      periodStart(new Date("2028-01-31T00:00:00Z"), "monthly", 1).toISOString(),
      "2028-02-29T00:00:00.000Z",
    );
    assert.equal(periodStart(start, "weekly", 2).getTime() - start.getTime(), 14 * DAY);
    const b = periodBounds(start, "monthly", 1);
    assert.equal(b.opensAt.getTime(), b.startsAt.getTime() - 10 * DAY);
    assert.equal(b.endsAt.toISOString(), "2026-05-01T12:00:00.000Z");
  });
});

describe("recurring state machine (controlled clock)", function () {
  it("is upcoming before the first due date, nothing paid (even more than 10 days ahead)", function () {
    assert.equal(status(open(1), [], at(-20 * DAY)), "upcoming");
    assert.equal(status(open(1), [], at(-1)), "upcoming");
  });

  it("is pending from the due date to exactly 10 days late (1 and 9 days late), expired after (11 days)", function () {
    assert.equal(status(open(1), [], at(0)), "pending");
    assert.equal(status(open(1), [], at(1 * DAY)), "pending");
    assert.equal(status(open(1), [], at(9 * DAY)), "pending");
    assert.equal(status(open(1), [], at(10 * DAY)), "pending", "exactly 10 days late is still pending");
    assert.equal(status(open(1), [], at(10 * DAY + 1)), "expired");
    assert.equal(status(open(1), [], at(11 * DAY)), "expired");
  });

  it("is active when paid, until 10 days before the end timestamp, then upcoming, then pending at the end", function () {
    const paid = [credit(PRICE, 10n)];
    const end = periodBounds(start, "monthly", 1).startsAt.getTime();
    const s = computeSubscriptionState(terms, open(1), paid, at(DAY));
    assert.equal(s.status, "active");
    assert.equal(s.paidThrough.getTime(), end);
    assert.equal(s.periods[0]?.covered, true);
    assert.equal(s.periods[0]?.transactionId, paid[0]?.txHash);
    assert.equal(status(open(1), paid, new Date(end - 10 * DAY - 1)), "active");
    assert.equal(status(open(1), paid, new Date(end - 10 * DAY)), "upcoming");
    // The next period opened (rate locked) and is not paid: upcoming, then pending at its due date.
    assert.equal(status(open(2), paid, new Date(end - 1)), "upcoming");
    assert.equal(status(open(2), paid, new Date(end)), "pending");
    assert.equal(status(open(2), paid, new Date(end + 11 * DAY)), "expired");
  });

  it("becomes active again when paid after expiry (the overdue period first)", function () {
    const late = [credit(PRICE, 50n)];
    assert.equal(status(open(1), [], at(11 * DAY)), "expired");
    const s = computeSubscriptionState(terms, open(1), late, at(11 * DAY));
    assert.equal(s.status, "active");
    assert.equal(s.shownIndex, 0);
  });

  it("a payment that lands while late pays the oldest unpaid period; a second late period stays owed", function () {
    const due1 = periodBounds(start, "monthly", 1).startsAt.getTime();
    // Two periods overdue, one payment: period 0 is paid, period 1 still owed and late.
    const s = computeSubscriptionState(terms, open(2), [credit(PRICE, 5n)], new Date(due1 + 5 * DAY));
    assert.equal(s.periods[0]?.covered, true);
    assert.equal(s.periods[1]?.covered, false);
    assert.equal(s.status, "pending");
    assert.equal(s.shownIndex, 1);
  });

  it("carries an overpayment to the next period (two periods in one transfer) and a partial is topped up", function () {
    const twice = computeSubscriptionState(terms, open(2), [credit(2n * PRICE + 7n, 1n)], at(DAY));
    assert.deepEqual(
      twice.periods.map((p) => [p.paidAmount, p.covered]),
      [
        [PRICE, true],
        [PRICE, true],
      ],
    );
    assert.equal(twice.credit, 7n);
    // Only period 0 open: the rest waits as credit and pays period 1 when it opens.
    const early = computeSubscriptionState(terms, open(1), [credit(2n * PRICE, 1n)], at(DAY));
    assert.equal(early.credit, PRICE);
    assert.equal(early.status, "active");
    const partial = computeSubscriptionState(terms, open(1), [credit(400n, 1n)], at(DAY));
    assert.equal(partial.status, "pending");
    assert.equal(partial.periods[0]?.paidAmount, 400n);
    const topped = computeSubscriptionState(terms, open(1), [credit(400n, 1n), credit(600n, 2n)], at(DAY));
    assert.equal(topped.status, "active");
    assert.equal(topped.periods[0]?.paidBlock, 2n);
  });

  it("allocates in chain order whatever order the credits come in", function () {
    const a = credit(600n, 9n);
    const b = credit(600n, 3n);
    const s = computeSubscriptionState(terms, open(2), [a, b], at(DAY));
    assert.equal(s.periods[0]?.transactionId, a.txHash, "block 3 + block 9 complete period 0 at block 9");
    assert.equal(s.periods[1]?.paidAmount, 200n);
  });

  it("cancelled: active while paid time runs, expired after; later periods are not owed", function () {
    const end = periodBounds(start, "monthly", 1).startsAt.getTime();
    const cancelled = { ...terms, cancelledAt: at(5 * DAY) };
    const paid = [credit(PRICE, 1n)];
    assert.equal(status(open(2), paid, at(6 * DAY), cancelled), "active");
    assert.equal(status(open(2), paid, new Date(end - DAY), cancelled), "active");
    assert.equal(status(open(2), paid, new Date(end), cancelled), "expired");
    const s = computeSubscriptionState(cancelled, open(2), [credit(3n * PRICE, 1n)], at(6 * DAY));
    assert.equal(s.periods.length, 1, "period 1 starts after the cancel: not owed");
    assert.equal(s.credit, 2n * PRICE);
    assert.equal(status(open(1), [], at(6 * DAY), cancelled), "expired", "cancelled unpaid: nothing runs");
  });

  it("weekly: upcoming 3 days before the due date (10 days would cover every week), late rules unchanged", function () {
    const weekly: SubscriptionTerms = { ...terms, interval: "weekly" };
    const b0 = periodBounds(start, "weekly", 0);
    const b1 = periodBounds(start, "weekly", 1);
    assert.equal(b1.startsAt.getTime() - b1.opensAt.getTime(), 3 * DAY);
    const periods = [b0, b1].map((b) => ({ ...b, expectedAmount: PRICE }));
    const paid = [credit(PRICE, 1n)];
    assert.equal(status(periods.slice(0, 1), paid, at(DAY), weekly), "active");
    assert.equal(status(periods.slice(0, 1), paid, at(4 * DAY - 1), weekly), "active");
    assert.equal(status(periods, paid, at(4 * DAY), weekly), "upcoming");
    assert.equal(status(periods, paid, at(7 * DAY + 10 * DAY), weekly), "pending");
    assert.equal(status(periods, paid, at(7 * DAY + 10 * DAY + 1), weekly), "expired");
  });

  it("schedules the next clock check at the next flip or period opening", function () {
    const s = computeSubscriptionState(terms, open(1), [], at(-20 * DAY));
    assert.equal(s.nextCheckAt?.getTime(), at(-10 * DAY).getTime());
    const p = computeSubscriptionState(terms, open(1), [], at(DAY));
    assert.equal(p.nextCheckAt?.getTime(), at(10 * DAY + 1).getTime());
    const a = computeSubscriptionState(terms, open(1), [credit(PRICE, 1n)], at(DAY));
    const next = periodBounds(start, "monthly", 1);
    assert.equal(a.nextCheckAt?.getTime(), next.opensAt.getTime());
    // A period that should have opened already: check now.
    const overdue = computeSubscriptionState(
      terms,
      open(1),
      [credit(PRICE, 1n)],
      new Date(next.opensAt.getTime() + DAY),
    );
    assert.equal(overdue.nextCheckAt?.getTime(), next.opensAt.getTime() + DAY);
  });
});
