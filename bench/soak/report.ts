/**
 * The soak's figures: written to bench/results/soak.json (soak-<profile>.json for short and
 * medium), and a summary printed: the faults table, the counts, and SOAK PASSED or SOAK FAILED.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../../scripts/lib/local-chain.ts";
import { injectedOf, type CheckFigures } from "./checks.ts";
import { FAULT_KINDS, type FaultKind, type SoakContext } from "./context.ts";
import { now } from "./util.ts";

interface FaultFigures {
  planned: number;
  injected: number;
  maxRecoveryMs: number | null;
  meanRecoveryMs: number | null;
  kinds: Record<string, number>;
}

/** Writes and prints the figures; answers whether every check passed. */
export function report(ctx: SoakContext, figures: CheckFigures): boolean {
  const unexpected = ctx.supervisor.all.flatMap((m) =>
    m.unexpectedExits.map((e) => `${m.name} exit ${e.code ?? e.signal}`),
  );
  const results = resultsOf(ctx, figures, unexpected);
  const file = join(
    ROOT,
    "bench",
    "results",
    ctx.profileName === "long" ? "soak.json" : `soak-${ctx.profileName}.json`,
  );
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log("\nfaults (injected/planned, max recovery):");
  for (const k of FAULT_KINDS) {
    const f = results.faults[k] as FaultFigures;
    console.log(
      `  ${k.padEnd(10)} ${String(f.injected).padStart(4)}/${f.planned}  max ${f.maxRecoveryMs ?? "-"} ms`,
    );
  }
  console.log(
    `payments on chain ${figures.onChainPayments}, orders ${figures.orders}, subscriptions ${figures.subscriptions}, callbacks ${figures.callbacks.rows}, malformed requests ${ctx.malformed.sent}`,
  );
  if (unexpected.length) console.log(`process exits the soak did not cause: ${unexpected.join(", ")}`);
  console.log(`${results.ok ? "SOAK PASSED" : "SOAK FAILED"} (seed ${ctx.seed}); figures in ${file}`);
  return results.ok;
}

/** The figures as written to the results file (its keys in this order). */
function resultsOf(ctx: SoakContext, figures: CheckFigures, unexpected: string[]) {
  const { profileName, seed, profile, supervisor } = ctx;
  return {
    profile: profileName,
    seed,
    reproduce: `npm run soak -- --profile ${profileName} --seed ${seed}`,
    date: new Date().toISOString(),
    minutes: Math.round(((now() - ctx.started) / 60_000) * 10) / 10,
    deployment: {
      chains: ctx.chains.length,
      apiProcesses: 2,
      indexerProcesses: 2,
      workerProcesses: 2,
      confirmations: profile.confirmations,
      blockMs: profile.blockMs,
    },
    faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, faultFigures(ctx, k)])),
    payments: {
      onChain: figures.onChainPayments,
      orders: figures.orders,
      subscriptions: figures.subscriptions,
      tokenPullSubscriptions: figures.tokenPullSubscriptions,
      streamActions: Object.fromEntries(ctx.sent),
    },
    callbacks: figures.callbacks,
    reindexDatedBySweep: figures.reindexDatedBySweep,
    malformed: ctx.malformed,
    bursts: ctx.bursts,
    processRestarts: Object.fromEntries(supervisor.all.map((m) => [m.name, m.starts - 1])),
    unexpectedExits: unexpected,
    faultFailures: ctx.faultFailures,
    checks: figures.checks,
    ok: Object.values(figures.checks).every((c) => c.ok),
  };
}

function faultFigures(ctx: SoakContext, k: FaultKind): FaultFigures {
  const r = ctx.stats.recovery.get(k) ?? [];
  return {
    planned: ctx.profile.faults[k],
    injected: injectedOf(ctx, k),
    maxRecoveryMs: r.length ? Math.max(...r) : null,
    meanRecoveryMs: r.length ? Math.round(r.reduce((s, x) => s + x, 0) / r.length) : null,
    kinds: Object.fromEntries(
      [...ctx.stats.injected.entries()]
        .filter(([key]) => key.startsWith(`${k}:`))
        .map(([key, v]) => [key.slice(k.length + 1), v]),
    ),
  };
}
