import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { PGlite, types as pgliteTypes } from "@electric-sql/pglite";
import type { Db, QueryResult, Queryable } from "./types.ts";

/**
 * Embedded PostgreSQL (PGlite). It is one session, so this driver serializes every
 * statement and transaction through one queue: a transaction in flight holds the queue,
 * and plain queries wait behind it exactly as they would behind a row lock.
 */
export async function createPgliteDb(dataDir: string | undefined): Promise<Db> {
  const releaseLock = dataDir ? lockDataDir(dataDir) : () => {};
  const pglite = await PGlite.create({
    ...(dataDir ? { dataDir } : {}),
    parsers: {
      [pgliteTypes.INT8]: (value: string) => BigInt(value),
      [pgliteTypes.NUMERIC]: (value: string) => value,
    },
  });

  let tail: Promise<unknown> = Promise.resolve();
  function serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = tail.then(task, task);
    tail = run.catch(() => {});
    return run;
  }

  async function rawQuery<Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
    const normalized = params?.map((p) => (typeof p === "bigint" ? p.toString() : p));
    if (!normalized?.length && sql.includes(";")) {
      // Multi-statement text (migrations): PGlite's exec runs it as one simple-protocol batch.
      const results = await pglite.exec(sql);
      const last = results.at(-1);
      return { rows: (last?.rows ?? []) as Row[], rowCount: last?.affectedRows ?? 0 };
    }
    const result = await pglite.query<Row>(sql, normalized as unknown[] | undefined);
    return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
  }

  const handlers = new Map<string, Set<(payload: string) => void>>();

  return {
    kind: "pglite",
    query: (sql, params) => serialize(() => rawQuery(sql, params)),

    transaction(fn) {
      return serialize(async () => {
        await rawQuery("BEGIN");
        const tx: Queryable = { query: rawQuery };
        try {
          const result = await fn(tx);
          await rawQuery("COMMIT");
          return result;
        } catch (error) {
          await rawQuery("ROLLBACK").catch(() => {});
          throw error;
        }
      });
    },

    async withAdvisoryLock(_key, fn) {
      // One process owns a PGlite data directory, so there is nobody to exclude.
      return fn(new AbortController().signal);
    },

    async listen(channel, onNotify) {
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        await serialize(() =>
          pglite.listen(channel, (payload) => {
            for (const handler of handlers.get(channel) ?? []) handler(payload);
          }),
        );
      }
      set.add(onNotify);
      return async () => {
        set.delete(onNotify);
      };
    },

    async notify(channel, payload) {
      await serialize(() => rawQuery("SELECT pg_notify($1, $2)", [channel, payload]));
    },

    async close() {
      await serialize(() => pglite.close());
      releaseLock();
    },
  };
}

/**
 * PGlite lives inside one process: a second process opening the same directory would corrupt it.
 * A pid file keeps others out and tells them who holds it; a stale one (dead pid) is taken over.
 */
function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const file = `${dataDir}/pglite.pid`;
  try {
    const pid = Number(readFileSync(file, "utf8"));
    if (pid && pid !== process.pid && isAlive(pid)) {
      throw new Error(
        `the embedded database in ${dataDir} is in use by process ${pid} (a running server?). ` +
          "Stop it, or go through its admin API, or use DATABASE_URL for a shared PostgreSQL.",
      );
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  writeFileSync(file, String(process.pid));
  return () => rmSync(file, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
