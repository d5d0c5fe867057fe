import { mkdirSync, writeFileSync } from "node:fs";
import { ROOT } from "../scripts/lib/local-chain.ts";

export function writeResult(name: string, result: unknown): string {
  const dir = `${ROOT}bench/results`;
  mkdirSync(dir, { recursive: true });
  const file = `${dir}/${name}.json`;
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] as number;
}

export const verdict = (ok: boolean) => (ok ? "meets goal" : "MISSES goal");
export const progress = (message: string) => process.stderr.write(`${message}\n`);
