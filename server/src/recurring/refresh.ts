import type { Queryable } from "../db/types.ts";
import { creditsFor } from "./credits.ts";
import type { RecurringEvent, RecurringEvents } from "./events.ts";
import {
  markReminded,
  periodsOf,
  savePeriodStates,
  saveSubscriptionState,
  type PeriodRow,
  type SubscriptionRow,
} from "./repository.ts";
import { scheduleOf, upcomingWindowMs } from "./schedule.ts";
import { computeSubscriptionState } from "./state.ts";

export interface RefreshContext {
  now: Date;
  /** The indexed block of a chain (confirmations in the payloads), if known. */
  indexedBlock: (chainId: bigint) => bigint | null;
  events: RecurringEvents;
  /** A new subscription's first computation: its status is set, not changed (no status_changed). */
  initial?: boolean;
}

/**
 * Recomputes locked subscriptions from their open periods and credits (./state.ts), writes what
 * changed and publishes, in the caller's transaction: each period newly paid in full
 * (`recurring.period_paid`, oldest first), then the status change (`recurring.status_changed`),
 * then, once per period, the reminder that a payment is due within 10 days (`recurring.upcoming`).
 * Used by the indexer sink (credits arrived or were reorged away) and the scheduler (the clock).
 */
export async function refreshSubscriptions(
  tx: Queryable,
  subscriptions: readonly SubscriptionRow[],
  ctx: RefreshContext,
): Promise<RecurringEvent[]> {
  if (subscriptions.length === 0) return [];
  const periodsById = await periodsOf(
    tx,
    subscriptions.map((s) => s.id),
  );
  const credits = await creditsFor(tx, subscriptions, periodsById);
  const published: RecurringEvent[] = [];
  for (const s of subscriptions) {
    const before = periodsById.get(s.id) ?? [];
    const state = computeSubscriptionState(
      {
        startsAt: s.starts_at,
        interval: s.interval,
        cancelledAt: s.cancelled_at,
        schedule: scheduleOf(s.method),
      },
      before.map((p) => ({
        index: p.index,
        startsAt: p.starts_at,
        endsAt: p.ends_at,
        expectedAmount: BigInt(p.expected_amount),
      })),
      credits.get(s.id) ?? [],
      ctx.now,
    );
    const byIndex = new Map(state.periods.map((p) => [p.index, p]));
    const after: PeriodRow[] = before.map((p) => {
      const n = byIndex.get(p.index);
      if (!n) return p;
      return {
        ...p,
        paid_amount: n.paidAmount.toString(),
        paid_at: n.paidAt,
        paid_block: n.paidBlock,
        transaction_id: n.transactionId,
      };
    });
    const changedPeriods = state.periods.filter((n) => {
      const old = before.find((p) => p.index === n.index);
      return (
        !old ||
        BigInt(old.paid_amount) !== n.paidAmount ||
        old.paid_block !== n.paidBlock ||
        old.transaction_id !== n.transactionId ||
        old.paid_at?.getTime() !== n.paidAt?.getTime()
      );
    });
    await savePeriodStates(tx, s.id, changedPeriods);
    const updated: SubscriptionRow = {
      ...s,
      status: state.status,
      paid_through: state.paidThrough,
      shown_index: state.shownIndex,
      credit: state.credit.toString(),
      credit_block: state.creditBlock,
      next_check_at: state.nextCheckAt,
    };
    if (
      s.status !== updated.status ||
      s.paid_through.getTime() !== updated.paid_through.getTime() ||
      s.shown_index !== updated.shown_index ||
      s.credit !== updated.credit ||
      s.credit_block !== updated.credit_block ||
      s.next_check_at?.getTime() !== updated.next_check_at?.getTime()
    ) {
      await saveSubscriptionState(tx, s.id, {
        status: state.status,
        paidThrough: state.paidThrough,
        shownIndex: state.shownIndex,
        credit: state.credit,
        creditBlock: state.creditBlock,
        nextCheckAt: state.nextCheckAt,
      });
    }

    const base = {
      subscription: updated,
      periods: after,
      previous: s.status,
      status: state.status,
      indexedBlock: ctx.indexedBlock(s.chain_id),
    };
    for (const n of state.periods) {
      const old = before.find((p) => p.index === n.index);
      const wasCovered = old !== undefined && BigInt(old.paid_amount) >= BigInt(old.expected_amount);
      if (n.covered && !wasCovered)
        published.push({ ...base, type: "recurring.period_paid", periodIndex: n.index });
    }
    if (s.status !== state.status && !ctx.initial)
      published.push({ ...base, type: "recurring.status_changed", periodIndex: null });
    // The reminder: the period due within the next 10 days, open and not yet paid, once.
    const due = after.find((p) => p.index === state.shownIndex);
    if (
      state.status === "upcoming" &&
      due &&
      due.reminded_at === null &&
      BigInt(due.paid_amount) < BigInt(due.expected_amount) &&
      ctx.now.getTime() >= due.starts_at.getTime() - upcomingWindowMs(s.interval)
    ) {
      due.reminded_at = ctx.now;
      await markReminded(tx, s.id, due.index, ctx.now);
      published.push({ ...base, type: "recurring.upcoming", periodIndex: due.index });
    }
  }
  await ctx.events.publish(tx, published);
  return published;
}
