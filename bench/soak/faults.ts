/**
 * The seeded fault plan and its injection. System faults run one at a time, spread evenly over 90%
 * of the run in an order shuffled by the seed; receiver faults run alongside them. Each waits for
 * its recovery and records how long it took (ctx.stats), or what did not recover (ctx.faultFailures).
 */
import { setIntervalMining } from "../../scripts/lib/local-chain.ts";
import { PERSONALITIES, PLAIN, type Personality } from "../../test/support/provider-sim.ts";
import type { ReceiverMode } from "../../test/support/receiver.ts";
import { FAULT_KINDS, log, markDegraded, type FaultKind, type SoakContext } from "./context.ts";
import { caughtUp, headOf, lockHolder, untilSettled } from "./settle.ts";
import type { Managed } from "./supervisor.ts";
import { now, sleep, until } from "./util.ts";

type SystemFault = Exclude<FaultKind, "receiver">;

/** The profile's system faults, in an order shuffled by the seed. */
function faultPlan(ctx: SoakContext): SystemFault[] {
  const plan: SystemFault[] = [];
  for (const kind of FAULT_KINDS)
    if (kind !== "receiver") for (let i = 0; i < ctx.profile.faults[kind]; i++) plan.push(kind);
  for (let i = plan.length - 1; i > 0; i--) {
    const j = Math.floor(ctx.random() * (i + 1));
    [plan[i], plan[j]] = [plan[j] as SystemFault, plan[i] as SystemFault];
  }
  return plan;
}

/** Prints the plan and starts the fault lanes: the promises that settle when each has ended. */
export function startFaults(ctx: SoakContext): Promise<void>[] {
  const plan = faultPlan(ctx);
  console.log(
    `soak: fault plan (${plan.length} system faults + ${ctx.profile.faults.receiver} receiver faults): ${plan.join(" ")}`,
  );
  return [faultLane(ctx, plan), receiverLane(ctx)];
}

/** The system faults of the plan, spread over the run, leaving the last tenth unfaulted. */
async function faultLane(ctx: SoakContext, plan: SystemFault[]): Promise<void> {
  const window = ctx.durationMs * 0.9;
  for (const [i, kind] of plan.entries()) {
    if (!ctx.running) break;
    await sleep(Math.max(0, ctx.t0 + 5_000 + (i * (window - 5_000)) / plan.length - now()));
    try {
      await INJECT[kind](ctx);
    } catch (error) {
      ctx.faultFailures.push(`${kind}: ${(error as Error).message}`);
      log(ctx, `FAULT ${kind} did not recover: ${(error as Error).message}`);
    }
  }
}

const INJECT: Record<SystemFault, (ctx: SoakContext) => Promise<void>> = {
  reorg,
  kill9,
  pgRestart,
  pgPause,
  rpcOutage,
  rpcSlow,
  provider,
};

/** Recovered: the deployment has settled again (within 180 s). Records the time since `since`. */
async function recoverAll(ctx: SoakContext, kind: FaultKind, since: number, detail: string) {
  await untilSettled(ctx, 180_000, `recovery after ${kind} ${detail}`);
  const ms = now() - since;
  ctx.stats.add(kind, detail, ms);
  log(ctx, `${kind} ${detail}: recovered in ${ms} ms${ms > 15_000 ? ` (waited on: ${ctx.notSettled})` : ""}`);
}

/**
 * A reorg of depth 1 to CONFIRMATIONS+3: snapshot, let the old branch grow, revert, then a new
 * branch that starts with a transaction of its own and outgrows the old one. Recovered when the
 * leader's cursor is on the new branch, past the old head.
 */
async function reorg(ctx: SoakContext): Promise<void> {
  const { profile } = ctx;
  const c = ctx.pick(ctx.chains);
  const depth = ctx.between(1, profile.confirmations + 3);
  const snapshot = await c.node.snapshot();
  const forkAt = (await headOf(c)).number;
  // The old branch grows by itself (interval mining, the stream's transactions).
  await until(
    async () =>
      (await c.node.client.getBlockNumber({ cacheTime: 0 })) >= forkAt + BigInt(depth) ? true : undefined,
    60_000,
    "the branch to be reorged",
  );
  const oldHead = await headOf(c);
  await c.node.revert(snapshot);
  // The new branch starts with a transaction of its own (so it differs) and outgrows the old one.
  await c.node.wallet.sendTransaction({
    to: c.node.owner,
    value: 1n,
    account: c.node.other,
    chain: null,
  });
  // The new branch keeps the chain's clock on the wall clock. `evm_mine` with a timestamp also
  // moves the node's clock offset, and re-mining at "a second after the newest" would put the
  // chain ahead by the depth at every reorg (and a 30 s order lifetime would date most payments
  // late). So interval mining pauses; the branch's blocks are dated a second apart from the fork
  // (the old branch's blocks were at least that far apart, there is room once the wall clock is
  // a second past what they need), and its last block is dated now, which sets the offset back to 0.
  await setIntervalMining(c.node.url, 0);
  const forkTime = (await c.node.client.getBlock({ blockNumber: forkAt })).timestamp;
  const blocks = oldHead.number + 1n - forkAt;
  await sleep(Math.max(0, Number(forkTime + blocks + 1n) * 1000 - now()));
  for (let k = 1n; k <= blocks; k++) {
    const wallClock = BigInt(Math.floor(now() / 1000));
    await c.node.rpc("evm_mine", [Number(k === blocks ? wallClock : forkTime + k)]);
  }
  await setIntervalMining(c.node.url, profile.blockMs);
  const since = now();
  const actualDepth = Number(oldHead.number - forkAt);
  await until(
    async () => ((await caughtUp(ctx.db, c, oldHead.number + 1n)) ? true : undefined),
    120_000,
    `indexer past reorg of depth ${actualDepth}`,
  );
  const ms = now() - since;
  ctx.stats.add("reorg", `depth ${Math.min(actualDepth, profile.confirmations + 3)}`, ms);
  log(ctx, `reorg on ${c.name} at ${forkAt}, depth ${actualDepth}: indexer on the new branch in ${ms} ms`);
}

/** kill -9 of a chain's leading indexer (half of the time), an API process, or a callback worker. */
async function kill9(ctx: SoakContext): Promise<void> {
  const { supervisor } = ctx;
  const which = ctx.pick(["leader", "leader", "api", "worker"] as const);
  let target: Managed | undefined;
  if (which === "leader") {
    const name = await lockHolder(ctx.db, ctx.pick(ctx.chains));
    target = supervisor.all.find((m) => m.name === name);
  } else target = ctx.pick(supervisor.all.filter((m) => m.role === which));
  if (!target || !target.alive()) return kill9Fallback(ctx);
  const since = now();
  target.kill9();
  markDegraded(ctx, 5_000);
  if (which === "worker") {
    const name = target.name;
    await until(
      async () => {
        const { rows } = await ctx.db.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1", [
          name,
        ]);
        return rows.length > 0 ? true : undefined;
      },
      120_000,
      `${name} back`,
    );
    await recoverAll(ctx, "kill9", since, which);
  } else await recoverAll(ctx, "kill9", since, which === "leader" ? "leading indexer" : "api");
}

/** No such process alive (a leader not elected yet): kill -9 of any live process instead. */
async function kill9Fallback(ctx: SoakContext): Promise<void> {
  const target = ctx.pick(ctx.supervisor.all.filter((m) => m.alive()));
  if (!target) return;
  const since = now();
  target.kill9();
  await recoverAll(ctx, "kill9", since, target.role === "indexer" ? "standby indexer" : target.role);
}

async function pgRestart(ctx: SoakContext): Promise<void> {
  markDegraded(ctx, 30_000);
  await ctx.cluster.restart();
  await recoverAll(ctx, "pgRestart", now(), "pg_ctl restart -m fast");
}

async function pgPause(ctx: SoakContext): Promise<void> {
  const ms = ctx.between(2_000, 6_000);
  markDegraded(ctx, ms + 15_000);
  ctx.pgProxy.pause();
  await sleep(ms);
  ctx.pgProxy.resume();
  await recoverAll(ctx, "pgPause", now(), `${Math.round(ms / 1000)} s`);
}

async function rpcOutage(ctx: SoakContext): Promise<void> {
  const c = ctx.pick(ctx.chains);
  const ms = ctx.between(2_000, 8_000);
  markDegraded(ctx, ms + 15_000);
  await c.proxy.down();
  await sleep(ms);
  await c.proxy.up();
  await recoverAll(ctx, "rpcOutage", now(), `${Math.round(ms / 1000)} s`);
}

async function rpcSlow(ctx: SoakContext): Promise<void> {
  const c = ctx.pick(ctx.chains);
  const ms = ctx.between(4_000, 10_000);
  c.proxy.slow(ctx.between(200, 1_500));
  await sleep(ms);
  c.proxy.slow(0);
  await recoverAll(ctx, "rpcSlow", now(), "slow responses");
}

/**
 * The personalities of the `provider` fault: the providers' limits and refusals
 * (test/support/provider-sim.ts), the result cap above what one block of the stream holds.
 */
const PROVIDER_FAULTS: Personality[] = [
  PERSONALITIES.alchemyFreeRange,
  PERSONALITIES.quicknodeRange,
  { ...PERSONALITIES.infuraResults, name: "Infura: result cap (40 logs here)", resultCap: 40 },
  PERSONALITIES.batchCap,
  PERSONALITIES.burstsRetryAfter,
  PERSONALITIES.burstsNoRetryAfter,
  { ...PERSONALITIES.slow, name: "slow answers (150 ms)", slowMs: 150 },
  PERSONALITIES.noTagsNoHash,
  PERSONALITIES.resets,
];

/**
 * A chain's provider changes personality for 8–20 s (a range or result cap, a batch cap, 429
 * bursts, slow answers, no finalized tag or block-hash reads, connection resets), then answers
 * plainly again. Recovered when the deployment has settled.
 */
async function provider(ctx: SoakContext): Promise<void> {
  const c = ctx.pick(ctx.chains);
  const personality = ctx.pick(PROVIDER_FAULTS);
  const ms = ctx.between(8_000, 20_000);
  markDegraded(ctx, ms + 15_000);
  log(ctx, `provider on ${c.name}: ${personality.name} for ${Math.round(ms / 1000)} s`);
  c.sim.set(personality);
  await sleep(ms);
  c.sim.set(PLAIN);
  await recoverAll(ctx, "provider", now(), personality.name);
}

/**
 * The receiver faults: one receiver down, answering 500, slow, or never answering, for 3–10 s.
 * Recovered when every callback queued for it before it came back is delivered.
 */
async function receiverLane(ctx: SoakContext): Promise<void> {
  const n = ctx.profile.faults.receiver;
  for (let i = 0; i < n && ctx.running; i++) {
    await sleep(Math.max(0, ctx.t0 + 5_000 + (i * (ctx.durationMs * 0.85 - 5_000)) / n - now()));
    await receiverFault(ctx);
  }
}

/** The receiver faults by the names the report gives them; slow stays under the worker's timeout. */
const RECEIVER_FAULTS: [string, ReceiverMode][] = [
  ["down", "down"],
  ["error500", 500],
  ["slow", { slowMs: 700 }],
  ["timeout", "timeout"],
];

async function receiverFault(ctx: SoakContext): Promise<void> {
  const r = ctx.pick(ctx.receivers);
  const [mode, how] = ctx.pick(RECEIVER_FAULTS);
  const ms = ctx.between(3_000, 10_000);
  await r.setMode(how);
  await sleep(ms);
  await r.setMode("ok");
  const since = now();
  const cutoff = new Date();
  try {
    await until(
      async () => {
        const { rows } = await ctx.db.query<{ n: bigint }>(
          "SELECT count(*)::int8 AS n FROM callbacks WHERE url = $1 AND status <> 'delivered' AND created_at < $2",
          [r.url, cutoff],
        );
        return rows[0]?.n === 0n ? true : undefined;
      },
      180_000,
      `callbacks to the receiver after ${mode}`,
    );
    const recovered = now() - since;
    ctx.stats.add("receiver", mode, recovered);
    log(
      ctx,
      `receiver ${mode} for ${Math.round(ms / 1000)} s: backlog delivered ${recovered} ms after it came back`,
    );
  } catch (error) {
    ctx.faultFailures.push(`receiver ${mode}: ${(error as Error).message}`);
  }
}
