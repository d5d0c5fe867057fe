import pg from "pg";
import { unavailable } from "../lib/errors.ts";
import type { Db, QueryResult, Queryable } from "./types.ts";

const INT8_OID = 20;

/** Per-pool type parsers: int8 → bigint, numeric stays a string (the pg default). */
const types = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === INT8_OID) return (value: string) => BigInt(value);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/** SQLSTATEs that mean the connection, not the statement, failed (class 08, shutdowns, too many). */
const CONNECTION_STATES = new Set(["57P01", "57P02", "57P03", "53300"]);
const CONNECTION_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ENOTCONN"]);

/**
 * Whether an error is the database being unreachable (a restart, a dropped or refused connection)
 * rather than something wrong with the statement: such failures are temporary.
 */
export function isConnectionLoss(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (
    typeof code === "string" &&
    (code.startsWith("08") || CONNECTION_STATES.has(code) || CONNECTION_CODES.has(code))
  )
    return true;
  return (
    error instanceof Error &&
    /Connection terminated|not queryable|Connection ended|connect ECONNREFUSED/i.test(error.message)
  );
}

/**
 * Turns a lost database connection into `unavailable` (503 at the HTTP edge, retried by the
 * indexer), keeping the driver's error as the cause; other errors pass through unchanged.
 */
function mapConnectionLoss(error: unknown): unknown {
  if (!isConnectionLoss(error)) return error;
  const mapped = unavailable(
    "The database cannot be reached right now; retry in a few seconds.",
    "database_unavailable",
  );
  (mapped as Error & { cause?: unknown }).cause = error;
  return mapped;
}

function wrap(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
      try {
        const result = await client.query(sql, params as unknown[] | undefined);
        return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
      } catch (error) {
        throw mapConnectionLoss(error);
      }
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
  let closed = false;
  const handlers = new Map<string, Set<(payload: string) => void>>();

  /**
   * The LISTEN connection, for every channel listened to. When it is lost (a database restart),
   * it is made again in the background and listens again, so notifications resume by themselves;
   * until then the listeners' own safety-net polls carry on.
   */
  async function connectListener(): Promise<void> {
    const client = new pg.Client({ connectionString: options.connectionString });
    let lostOnce = false;
    const lose = () => {
      if (lostOnce) return;
      lostOnce = true;
      if (listener === client) listener = undefined;
      void client.end().catch(() => {});
      if (!closed) setTimeout(() => void reconnect(), 1_000).unref();
    };
    client.on("error", lose);
    client.on("end", lose);
    client.on("notification", (msg) => {
      for (const handler of handlers.get(msg.channel) ?? []) handler(msg.payload ?? "");
    });
    listener = client;
    try {
      await client.connect();
      for (const channel of handlers.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (error) {
      lose();
      throw mapConnectionLoss(error);
    }
  }
  async function reconnect(): Promise<void> {
    if (closed || listener) return;
    await connectListener().catch(() => {});
  }

  return {
    kind: "pg",
    query: base.query,

    async transaction(fn) {
      const client = await pool.connect().catch((error: unknown) => {
        throw mapConnectionLoss(error);
      });
      // A checked-out client has no error listener of the pool's: without this one, the
      // connection dropping mid-transaction (a database restart) is an unhandled 'error' event
      // that ends the whole process. The failure reaches the caller through the pending query.
      let broken: Error | undefined;
      const onError = (error: Error) => {
        broken = error;
      };
      client.on("error", onError);
      try {
        await client.query("BEGIN");
        const result = await fn(wrap(client));
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        throw mapConnectionLoss(error);
      } finally {
        client.off("error", onError);
        // A broken connection is destroyed, not returned to the pool.
        client.release(broken ?? (client as unknown as { _queryable?: boolean })._queryable === false);
      }
    },

    async withAdvisoryLock(key, fn) {
      const client = new pg.Client({ connectionString: options.connectionString, types });
      const lost = new AbortController();
      client.on("error", (error) => lost.abort(error));
      client.on("end", () => lost.abort(new Error("advisory lock connection ended")));
      try {
        await client.connect();
      } catch (error) {
        throw mapConnectionLoss(error);
      }
      try {
        const { rows } = await wrap(client as unknown as pg.PoolClient).query<{ locked: boolean }>(
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
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        if (listener) await listener.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      }
      set.add(onNotify);
      if (!listener) await connectListener();
      return async () => {
        set.delete(onNotify);
      };
    },

    async notify(channel, payload) {
      await base.query("SELECT pg_notify($1, $2)", [channel, payload]);
    },

    async close() {
      closed = true;
      await listener?.end().catch(() => {});
      await pool.end();
    },
  };
}
