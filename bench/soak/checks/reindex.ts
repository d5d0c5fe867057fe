/**
 * 7. The database equals a fresh reindex into an empty database: the orders, their deposit
 * addresses and the subscriptions are copied as created, a new indexer process indexes every chain
 * from block 0, and its events, orders, ledger, subscriptions and periods must equal the soak's.
 */
import { createDb, migrate, type Db } from "../../../server/src/db/index.ts";
import { loadCursor } from "../../../server/src/indexer/store.ts";
import {
  copyOrdersAsCreated,
  copySubscriptionsAsCreated,
  indexedState,
  subscriptionState,
} from "../../../test/support/indexing.ts";
import type { SoakContext } from "../context.ts";
import { createDatabase } from "../pg-cluster.ts";
import { headOf } from "../settle.ts";
import { serverEnv } from "../stack.ts";
import { until } from "../util.ts";
import type { OrderRow } from "./payments.ts";
import type { Checks } from "./record.ts";

const NAME = "database equals a fresh reindex";

type State = Awaited<ReturnType<typeof indexedState>> & Awaited<ReturnType<typeof subscriptionState>>;
type Row = State["orders"][number];

/** Runs the reindex and checks it; answers how many orders it dated by their sweep. */
export async function checkReindex(ctx: SoakContext, checks: Checks, orderRows: OrderRow[]): Promise<number> {
  const { fresh, freshUrl } = await prepareFreshDb(ctx);
  const reindexer = ctx.supervisor.add(
    "reindex",
    "indexer",
    serverEnv(ctx.chains, freshUrl, ctx.profile, {
      name: "reindex",
      api: false,
      indexer: true,
      worker: false,
      directRpc: true,
      // The chain's usual finality: a historical backfill up to the final block (large ranges,
      // balances bisected inside them, docs/deposits.md), then block by block to the head.
    }),
  );
  try {
    await untilReindexed(ctx, fresh);
    const live = { ...(await indexedState(ctx.db)), ...(await subscriptionState(ctx.db)) };
    const reindexed = { ...(await indexedState(fresh)), ...(await subscriptionState(fresh)) };
    return compare(ctx, checks, live, reindexed, orderRows);
  } catch (error) {
    checks.check(NAME, false, (error as Error).message);
    return 0;
  } finally {
    reindexer.kill9();
  }
}

/**
 * An empty database on the same cluster with the orders and their deposit addresses, and the
 * subscriptions, as created: the reindex must find every deposit, transfer and collection itself.
 */
async function prepareFreshDb(ctx: SoakContext): Promise<{ fresh: Db; freshUrl: string }> {
  createDatabase(ctx.cluster, "soak_reindex");
  const freshUrl = ctx.cluster.url("soak_reindex");
  const fresh = await createDb({ databaseUrl: freshUrl, dataDir: undefined });
  ctx.teardown.add(() => fresh.close());
  await migrate(fresh);
  await copyOrdersAsCreated(ctx.db, fresh);
  // The watched deposit addresses, as created (nothing observed yet): the reindex must find every deposit itself.
  const { rows: deposits } = await ctx.db.query<Record<string, unknown>>(
    "SELECT chain_id, address, merchant, order_ref, token, watch_until, created_at FROM deposit_addresses",
  );
  for (const d of deposits)
    await fresh.query(
      `INSERT INTO deposit_addresses (chain_id, address, merchant, order_ref, token, watch_until, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [d.chain_id, d.address, d.merchant, d.order_ref, d.token, d.watch_until, d.created_at],
    );
  // The subscriptions as created (their merchant, period 0 with its locked rate, nothing paid, no
  // credit): the reindex must find every transfer and collection itself.
  await copySubscriptionsAsCreated(ctx.db, fresh);
  return { fresh, freshUrl };
}

/** Waits until the reindexer's cursor is at each chain's head (300 s each at most). */
async function untilReindexed(ctx: SoakContext, fresh: Db): Promise<void> {
  for (const c of ctx.chains) {
    const head = await headOf(c);
    await until(
      async () => {
        const cursor = await loadCursor(fresh, c.chainId);
        return cursor?.blockNumber === head.number && cursor.blockHash === head.hash ? true : undefined;
      },
      300_000,
      `fresh reindex of ${c.name}`,
    );
  }
}

/**
 * Compares the live state with the reindexed one, part by part. A plain ETH deposit order that the
 * reindex dates otherwise (the former backfill dated a deposit swept inside a chunk by its sweep:
 * another transaction_id, paid block, maybe status) is counted apart, and fails the run unless
 * --lenient-reindex; any other difference always fails.
 */
function compare(ctx: SoakContext, checks: Checks, a: State, b: State, orderRows: OrderRow[]): number {
  const diff: string[] = [];
  const datedBySweep: string[] = [];
  const liveOrders = new Map(a.orders.map((r) => [String(r.id), r]));
  const freshOrders = new Map(b.orders.map((r) => [String(r.id), r]));
  const isDatedBySweep = (id: string) =>
    datedBySweepOnly(liveOrders.get(id), freshOrders.get(id), id, orderRows);
  for (const part of ["events", "orders", "ledger", "subscriptions", "periods"] as const) {
    const left = a[part].map((r) => JSON.stringify(r));
    const right = b[part].map((r) => JSON.stringify(r));
    const rightSet = new Set(right);
    const leftSet = new Set(left);
    let onlyLive = left.filter((r) => !rightSet.has(r));
    let onlyFresh = right.filter((r) => !leftSet.has(r));
    if (part === "orders") {
      const dated = new Set(
        onlyLive.map((r) => String((JSON.parse(r) as { id: string }).id)).filter((id) => isDatedBySweep(id)),
      );
      datedBySweep.push(...dated);
      const keep = (r: string) => !dated.has(String((JSON.parse(r) as { id: string }).id));
      onlyLive = onlyLive.filter(keep);
      onlyFresh = onlyFresh.filter(keep);
    }
    if (onlyLive.length || onlyFresh.length || left.length !== right.length)
      diff.push(
        `${part}: ${left.length} live vs ${right.length} reindexed rows, ${onlyLive.length} differ; live ${onlyLive.slice(0, 3).join(" | ")} ; reindexed ${onlyFresh.slice(0, 3).join(" | ")}`,
      );
  }
  const flipped = datedBySweep.filter((id) => liveOrders.get(id)?.status !== freshOrders.get(id)?.status);
  checks.check(
    NAME,
    diff.length === 0 && (!ctx.strictReindex || datedBySweep.length === 0),
    (diff.length
      ? diff.join("; ")
      : `${a.events.length} events, ${a.orders.length} orders, ${a.ledger.length} ledger rows, ${a.subscriptions.length} subscriptions, ${a.periods.length} periods identical`) +
      (datedBySweep.length
        ? `; ${datedBySweep.length} plain-ETH-deposit orders dated by their sweep in the reindex (see docs/soak.md; fails the run unless --lenient-reindex), ${flipped.length} of them with another status (${flipped
            .slice(0, 3)
            .map(
              (id) => `${id}: ${liveOrders.get(id)?.status} live, ${freshOrders.get(id)?.status} reindexed`,
            )
            .join(", ")})`
        : ""),
  );
  return datedBySweep.length;
}

/**
 * The live and reindexed rows of a plain-transfer deposit order differ only in how the payment is
 * dated (transaction, block, status), not in what was paid.
 */
function datedBySweepOnly(
  l: Row | undefined,
  f: Row | undefined,
  id: string,
  orderRows: OrderRow[],
): boolean {
  if (!l || !f) return false;
  const keys = Object.keys(l).filter((k) => JSON.stringify(l[k]) !== JSON.stringify(f[k]));
  const allowed = new Set(["transaction_id", "paid_block", "status", "exception", "sent_transaction"]);
  const plainTransfer = orderRows.find((o) => o.id === id)?.deposit_address;
  return (
    keys.length > 0 &&
    keys.every((k) => allowed.has(k)) &&
    Boolean(plainTransfer) &&
    f.amount_paid === l.amount_paid
  );
}
