/**
 * The one database surface the whole system uses. Two drivers implement it:
 * `pg` (a pool against real PostgreSQL) and PGlite (embedded Postgres in wasm).
 * Both parse int8 as bigint and numeric as string, so money never passes through a JS number.
 */
export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number;
}

export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>>;
}

export type DbKind = "pg" | "pglite";

export interface Db extends Queryable {
  readonly kind: DbKind;
  /** Runs `fn` in one transaction (READ COMMITTED); commits on success, rolls back on throw. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` while holding a session-level Postgres advisory lock on one dedicated connection,
   * or returns undefined at once when another session holds it. On PGlite (a single session)
   * the lock always succeeds: one process owns the data directory anyway.
   */
  withAdvisoryLock<T>(key: bigint, fn: (lost: AbortSignal) => Promise<T>): Promise<T | undefined>;
  /** Subscribes to NOTIFY on a channel. Returns an unsubscribe function. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  notify(channel: string, payload: string): Promise<void>;
  close(): Promise<void>;
}
