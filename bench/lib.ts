import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import type { Db, Queryable } from "../server/src/db/types.ts";
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

/** Time spent per kind of work (statement, RPC method): count and milliseconds. */
export type Times = Map<string, { n: number; ms: number }>;

export function record(times: Times, what: string, ms: number): void {
  const entry = times.get(what) ?? { n: 0, ms: 0 };
  entry.n++;
  entry.ms += ms;
  times.set(what, entry);
}

/** The database, timing every statement by its first words (where a step's time goes). */
export function profiled(db: Db, times: Times): Db {
  const timed = (q: Queryable): Queryable => ({
    async query(sql, params) {
      const t = performance.now();
      try {
        return await q.query(sql, params);
      } finally {
        record(times, sql.replace(/\s+/g, " ").trim().slice(0, 72), performance.now() - t);
      }
    },
  });
  return Object.assign(Object.create(db) as Db, {
    query: timed(db).query,
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) =>
      db.transaction(async (tx) => {
        const t = performance.now();
        try {
          return await fn(timed(tx));
        } finally {
          record(times, "(transactions, in all)", performance.now() - t);
        }
      }),
  });
}
