/**
 * When the deployment is settled (every API answers, every chain has a leader caught up with its
 * head), how long the run lasts, and the settling after it: the faults undone, the last payments
 * confirmed and swept, the chains frozen and indexed, every callback delivered.
 */
import type { Db } from "../../server/src/db/index.ts";
import { loadCursor } from "../../server/src/indexer/store.ts";
import { indexerLockKey } from "../../server/src/runtime/chain.ts";
import { setIntervalMining } from "../../scripts/lib/local-chain.ts";
import { apiUrl, log, type SoakChain, type SoakContext } from "./context.ts";
import type { Managed } from "./supervisor.ts";
import { now, sleep, until } from "./util.ts";

/** The process (its PGAPPNAME) that holds the chain's indexer lock: its indexing leader. */
export async function lockHolder(db: Db, chain: SoakChain): Promise<string | undefined> {
  const key = indexerLockKey(chain.chainId);
  const { rows } = await db.query<{ name: string }>(
    `SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
        AND ((l.classid::int8 << 32) | l.objid::int8) = $1`,
    [key.toString()],
  );
  return rows[0]?.name;
}

export const headOf = async (c: SoakChain) => c.node.client.getBlock({ blockTag: "latest" });

/** The leader of the chain has applied the chain as it is now, at least up to `block`. */
export async function caughtUp(db: Db, c: SoakChain, block: bigint): Promise<boolean> {
  const cursor = await loadCursor(db, c.chainId);
  if (!cursor || cursor.blockNumber < block) return false;
  const canonical = await c.node.client.getBlock({ blockNumber: cursor.blockNumber }).catch(() => undefined);
  return canonical?.hash === cursor.blockHash;
}

async function apiAnswers(m: Managed): Promise<boolean> {
  try {
    const res = await fetch(`${apiUrl(m)}/health`, { signal: AbortSignal.timeout(2_000) });
    return res.status < 500;
  } catch {
    return false;
  }
}

/**
 * Every API answers healthy, every chain has a leader that has caught up with today's head. What
 * is not is kept in `ctx.notSettled`.
 */
export async function settled(ctx: SoakContext): Promise<boolean> {
  for (const m of ctx.apis)
    if (!(await apiAnswers(m))) {
      ctx.notSettled = `${m.name} does not answer`;
      return false;
    }
  for (const c of ctx.chains) {
    if (!(await lockHolder(ctx.db, c))) {
      ctx.notSettled = `${c.name} has no indexing leader`;
      return false;
    }
    const head = await headOf(c);
    if (!(await caughtUp(ctx.db, c, head.number - 1n))) {
      ctx.notSettled = `${c.name}'s cursor is behind its head ${head.number}`;
      return false;
    }
  }
  return true;
}

/** Waits until the deployment has settled, or throws after `timeoutMs`. */
export async function untilSettled(ctx: SoakContext, timeoutMs: number, what: string): Promise<void> {
  await until(async () => ((await settled(ctx)) ? true : undefined), timeoutMs, what);
}

/** Waits for the deployment just started to settle, and says so. */
export async function waitForDeployment(ctx: SoakContext): Promise<void> {
  await untilSettled(ctx, 120_000, "the deployment to settle");
  console.log(
    `soak: up: ${ctx.chains.length} chain(s), 2 API, 2 indexer, 2 worker processes, PostgreSQL :${ctx.cluster.port} (${(now() - ctx.started) / 1000} s)`,
  );
}

/**
 * The run lasts its minutes, and longer if planned faults are still to come (at most 50% more),
 * with a line of progress every 30 s. Then the lanes are told to stop.
 */
export async function runUntilDue(ctx: SoakContext, faultLanes: Promise<void>[]): Promise<void> {
  let faultsDone = false;
  void Promise.all(faultLanes).then(() => {
    faultsDone = true;
  });
  while (now() < ctx.stopAt || (!faultsDone && now() < ctx.stopAt + ctx.durationMs / 2)) {
    await sleep(1_000);
    if ((now() - ctx.t0) % 30_000 < 1_000)
      log(
        ctx,
        `orders ${ctx.orders.length}, malformed ${ctx.malformed.sent} (5xx ${ctx.malformed.fiveXx}), faults ${[
          ...ctx.stats.injected.entries(),
        ]
          .filter(([k]) => !k.includes(":"))
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")}`,
      );
  }
  ctx.running = false;
  log(ctx, "stream and faults stop; settling");
}

/**
 * Once every lane has ended: undoes the faults still set, lets every payment reach its
 * confirmations and every deposit be swept, freezes the chains once every order has paid or
 * expired, and waits until the leaders have indexed them and every callback is delivered.
 */
export async function settle(ctx: SoakContext, lanes: Promise<void>[]): Promise<void> {
  await Promise.all(lanes);
  for (const r of ctx.receivers) await r.setMode("ok");
  for (const c of ctx.chains) {
    await c.proxy.up();
    c.proxy.slow(0);
  }
  ctx.pgProxy.resume();
  const settleStart = now();
  for (const c of ctx.chains) {
    const target = (await headOf(c)).number + BigInt(ctx.profile.confirmations + 12);
    await until(
      async () => ((await c.node.client.getBlockNumber({ cacheTime: 0 })) >= target ? true : undefined),
      120_000,
      "settling blocks",
    );
  }
  // Every order made during the run has paid or expired (30 s lifetime) while blocks still come:
  // expiry is decided only once a block past it is indexed.
  const lastOrderAt = Math.max(0, ...ctx.orders.map((o) => o.createdAt));
  await sleep(Math.max(5_000, lastOrderAt + 36_000 - now()));
  for (const c of ctx.chains) await setIntervalMining(c.node.url, 0);
  for (const c of ctx.chains) await c.node.rpc("evm_mine");
  for (const c of ctx.chains) {
    const head = await headOf(c);
    await until(
      async () => ((await caughtUp(ctx.db, c, head.number)) ? true : undefined),
      120_000,
      `${c.name} indexed to its head`,
    );
  }
  await callbacksDelivered(ctx);
  log(ctx, `settled in ${now() - settleStart} ms`);
}

/** Every callback delivered, and still so 3 s later (nothing new queued meanwhile); 180 s at most. */
async function callbacksDelivered(ctx: SoakContext): Promise<void> {
  const receiverUrls = ctx.receivers.map((r) => r.url);
  let quietSince = 0;
  await until(
    async () => {
      const { rows } = await ctx.db.query<{ n: bigint }>(
        "SELECT count(*)::int8 AS n FROM callbacks WHERE status IN ('pending', 'sending') AND url = ANY($1)",
        [receiverUrls],
      );
      if (rows[0]?.n !== 0n) quietSince = 0;
      else if (!quietSince) quietSince = now();
      return quietSince && now() - quietSince > 3_000 ? true : undefined;
    },
    180_000,
    "every callback delivered",
  ).catch(() => undefined);
}
