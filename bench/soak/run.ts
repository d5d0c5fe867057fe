/**
 * The soak: a mixed payment stream against a multi-process deployment on real PostgreSQL and real
 * `hardhat node` chains, with seeded random faults, then checks that nothing was lost, doubled,
 * misattributed, falsely completed or left undelivered. See docs/soak.md.
 *
 *   npm run soak -- --profile short|medium|long [--seed N] [--minutes M]
 *
 * Figures go to bench/results/soak.json (bench/results/soak-<profile>.json for short and medium).
 *
 * The parts, around one context (context.ts): stack.ts starts the deployment, lanes.ts the payment
 * stream and hostile HTTP, faults.ts the seeded faults; settle.ts decides when it is all over and
 * settled, checks.ts checks the end state, and report.ts writes and prints the figures.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../scripts/lib/local-chain.ts";
import { runChecks } from "./checks.ts";
import { createBase, createContext, PROFILES, type SoakBase, type SoakOptions } from "./context.ts";
import { startFaults } from "./faults.ts";
import { startLanes } from "./lanes.ts";
import { report } from "./report.ts";
import { runUntilDue, settle, waitForDeployment } from "./settle.ts";
import { startStack } from "./stack.ts";

function parseArgs(argv: string[]): SoakOptions {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const profileName = get("profile") ?? "short";
  const base = PROFILES[profileName];
  if (!base) throw new Error(`--profile must be one of ${Object.keys(PROFILES).join(", ")}`);
  const seed = Number(get("seed") ?? Math.floor(Math.random() * 2 ** 31));
  if (!Number.isInteger(seed) || seed < 0) throw new Error("--seed must be a non-negative integer");
  const minutes = get("minutes") ? Number(get("minutes")) : base.minutes;
  // A deposit order dated otherwise by the reindex fails the run (the default since the backfill
  // dates each ETH inflow to its own block); --lenient-reindex only counts them. --strict-reindex
  // is accepted for older command lines.
  const strictReindex = !argv.includes("--lenient-reindex");
  return { profileName, profile: { ...base, minutes }, seed, strictReindex };
}

/** The run: stack → lanes and faults → settle → checks → report. Answers whether it passed. */
async function soak(base: SoakBase): Promise<boolean> {
  const ctx = createContext(base, await startStack(base));
  await waitForDeployment(ctx);
  const lanes = await startLanes(ctx);
  const faults = startFaults(ctx);
  await runUntilDue(ctx, faults);
  await settle(ctx, [...lanes, ...faults]);
  return report(ctx, await runChecks(ctx));
}

async function main(): Promise<boolean> {
  const options = parseArgs(process.argv.slice(2));
  const { profileName, seed } = options;
  console.log(
    `soak: profile ${profileName}, seed ${seed} (reproduce: npm run soak -- --profile ${profileName} --seed ${seed})`,
  );
  const logDir = join(ROOT, "bench", "results", "soak-logs");
  const base = createBase(options, logDir);
  const work = mkdtempSync(join(tmpdir(), "ethpos-soak-"));
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  const cleanup = async () => {
    await base.teardown.run();
    rmSync(work, { recursive: true, force: true });
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => {
      console.error(`soak: ${signal}: tearing down`);
      void cleanup().then(() => process.exit(130));
    });
  try {
    return await soak(base);
  } finally {
    await cleanup();
  }
}

const ok = await main().catch((error: unknown) => {
  console.error(`soak: ${(error as Error).stack ?? String(error)}`);
  return false;
});
process.exit(ok ? 0 : 1);
