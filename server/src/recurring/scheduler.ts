import type { Db, Queryable } from "../db/types.ts";
import { sleep } from "../lib/sleep.ts";
import type { Logger } from "../lib/log.ts";
import type { RecurringEvent, RecurringEvents } from "./events.ts";
import { currentRate, expectedFor, type LockedRate, type RecurringChain } from "./rates.ts";
import {
  chainsWithDueSubscriptions,
  insertPeriod,
  lockDueSubscriptions,
  periodsOf,
  type SubscriptionRow,
} from "./repository.ts";
import { refreshSubscriptions } from "./refresh.ts";
import { periodBounds, scheduleOf } from "./schedule.ts";

/** At most this many periods open per subscription in one tick (a clock far ahead catches up over ticks). */
const MAX_OPEN_PER_TICK = 24;

/**
 * Opens every period whose invoice is due by `now` (opens_at ≤ now; never one that would start
 * at or after a cancellation), locking the given rate. Returns how many it opened.
 */
export async function openDuePeriods(
  tx: Queryable,
  s: SubscriptionRow,
  openCount: number,
  now: Date,
  rate: LockedRate,
): Promise<number> {
  let opened = 0;
  for (let index = openCount; opened < MAX_OPEN_PER_TICK; index++) {
    const b = periodBounds(s.starts_at, s.interval, index, scheduleOf(s.method));
    if (b.opensAt.getTime() > now.getTime() && index > 0) break;
    if (s.cancelled_at !== null && b.startsAt.getTime() >= s.cancelled_at.getTime()) break;
    await insertPeriod(tx, s.id, {
      ...b,
      openedAt: now,
      price: rate.price,
      priceDecimals: rate.priceDecimals,
      expectedAmount: expectedFor(s.usd_cents, rate, s.token_decimals),
    });
    opened++;
  }
  return opened;
}

export interface RecurringSchedulerDeps {
  db: Db;
  chains: readonly RecurringChain[];
  events: RecurringEvents;
  /** The wall clock in ms (tests control it). */
  now: () => number;
  indexedBlock: (chainId: bigint) => bigint | null;
  log: Logger;
  intervalMs?: number;
  /** Subscriptions handled per transaction. */
  batch?: number;
}

/**
 * The effects of time alone on subscriptions: each tick takes the subscriptions whose
 * `next_check_at` has come (locked, SKIP LOCKED: any number of processes may tick), opens the
 * periods whose invoices are due (rate locked now: 10 days before the due date), and recomputes
 * them, publishing the clock's status changes (upcoming → pending → expired, active → upcoming)
 * and the `recurring.upcoming` reminders in the same transaction. Runs in every process that may
 * index (RUN_INDEXER), beside the chain runtimes.
 */
export function createRecurringScheduler(deps: RecurringSchedulerDeps) {
  const byId = new Map(deps.chains.map((c) => [c.chainId, c]));
  const batch = deps.batch ?? 200;

  /** One pass; returns the published events (tests call it after moving the clock). */
  async function tick(): Promise<RecurringEvent[]> {
    const at = new Date(deps.now());
    const chainIds = await chainsWithDueSubscriptions(deps.db, at);
    if (chainIds.length === 0) return [];
    // Rates are read before the transaction (a price feed call holds no row lock).
    const rates = new Map<string, LockedRate | null>();
    const rateOf = async (s: SubscriptionRow) => {
      const key = `${s.chain_id}:${s.token}`;
      if (!rates.has(key)) {
        const chain = byId.get(s.chain_id);
        const rate = chain
          ? await currentRate(chain, s.token).catch((error: unknown) => {
              deps.log.warn(
                { err: error, chainId: s.chain_id.toString() },
                "recurring: no rate to open periods with; retrying on the next tick",
              );
              return null;
            })
          : null;
        rates.set(key, rate);
      }
      return rates.get(key) ?? null;
    };
    const published: RecurringEvent[] = [];
    const handled: bigint[] = [];
    for (;;) {
      const events = await deps.db.transaction(async (tx) => {
        const subs = await lockDueSubscriptions(tx, at, batch, handled);
        handled.push(...subs.map((s) => s.id));
        if (subs.length === 0) return null;
        const periods = await periodsOf(
          tx,
          subs.map((s) => s.id),
        );
        for (const s of subs) {
          if (s.cancelled_at !== null) continue;
          const open = periods.get(s.id)?.length ?? 0;
          const next = periodBounds(s.starts_at, s.interval, open, scheduleOf(s.method));
          if (next.opensAt.getTime() > at.getTime()) continue;
          // A token_pull subscription's amount per period is bound on chain: every period keeps
          // the rate period 0 locked at creation (the token's peg), so its expected amount too.
          const first = periods.get(s.id)?.[0];
          const rate =
            s.method === "token_pull" && first
              ? { price: BigInt(first.price), priceDecimals: first.price_decimals }
              : await rateOf(s);
          if (rate) await openDuePeriods(tx, s, open, at, rate);
        }
        const out = await refreshSubscriptions(tx, subs, {
          now: at,
          indexedBlock: deps.indexedBlock,
          events: deps.events,
        });
        // A subscription whose period could not open stays due: the next tick retries it.
        return { out, more: subs.length === batch };
      });
      if (!events) break;
      published.push(...events.out);
      if (!events.more) break;
    }
    return published;
  }

  async function run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await tick().catch((error: unknown) =>
        deps.log.error({ err: error }, "recurring scheduler tick failed"),
      );
      await sleep(deps.intervalMs ?? 1_000, signal);
    }
  }

  return { tick, run };
}

export type RecurringScheduler = ReturnType<typeof createRecurringScheduler>;
