import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { ROOT } from "../scripts/lib/local-chain.ts";

/**
 * Writes bench/results/<name>.json, with the machine's load when the run ended (1, 5 and 15
 * minute averages) and its CPU count beside the figures: on a shared machine they explain noise.
 */
export function writeResult(name: string, result: object): string {
  const dir = `${ROOT}bench/results`;
  mkdirSync(dir, { recursive: true });
  const file = `${dir}/${name}.json`;
  const machine = { cpus: availableParallelism(), loadAverage: loadavg().map((x) => Number(x.toFixed(2))) };
  writeFileSync(file, `${JSON.stringify({ ...result, machine }, null, 2)}\n`);
  progress(`machine: ${machine.cpus} CPUs, load average ${machine.loadAverage.join(", ")} (1, 5, 15 min)`);
  return file;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] as number;
}

export const verdict = (ok: boolean) => (ok ? "meets goal" : "MISSES goal");
export const progress = (message: string) => process.stderr.write(`${message}\n`);
