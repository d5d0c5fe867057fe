import pg from "pg";
import type { Db, QueryResult, Queryable } from "./types.ts";

const INT8_OID = 20;

/** Per-pool type parsers: int8 → bigint, numeric stays a string (the pg default). */
const types = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === INT8_OID) return (value: string) => BigInt(value);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

function wrap(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
      const result = await client.query(sql, params as unknown[] | undefined);
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
    },
  };
}

export interface PgDbOptions {
  connectionString: string;
  max?: number;
  applicationName?: string;
}

export function createPgDb(options: PgDbOptions): Db {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? "ethereum-pos",
    types,
  });
  // An idle client that loses its connection must not crash the process; the pool replaces it.
  pool.on("error", () => {});
  const base = wrap(pool);
  let listener: pg.Client | undefined;
  const handlers = new Map<string, Set<(payload: string) => void>>();

  return {
    kind: "pg",
    query: base.query,

    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const result = await fn(wrap(client));
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },

    async withAdvisoryLock(key, fn) {
      const client = new pg.Client({ connectionString: options.connectionString, types });
      const lost = new AbortController();
      client.on("error", (error) => lost.abort(error));
      client.on("end", () => lost.abort(new Error("advisory lock connection ended")));
      await client.connect();
      try {
        const { rows } = await client.query<{ locked: boolean }>(
          "SELECT pg_try_advisory_lock($1) AS locked",
          [key.toString()],
        );
        if (!rows[0]?.locked) return undefined;
        return await fn(lost.signal);
      } finally {
        await client.end().catch(() => {});
      }
    },

    async listen(channel, onNotify) {
      if (!listener) {
        listener = new pg.Client({ connectionString: options.connectionString });
        listener.on("error", () => {});
        listener.on("notification", (msg) => {
          for (const handler of handlers.get(msg.channel) ?? []) handler(msg.payload ?? "");
        });
        await listener.connect();
      }
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        await listener.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      }
      set.add(onNotify);
      return async () => {
        set.delete(onNotify);
      };
    },

    async notify(channel, payload) {
      await pool.query("SELECT pg_notify($1, $2)", [channel, payload]);
    },

    async close() {
      await listener?.end().catch(() => {});
      await pool.end();
    },
  };
}
