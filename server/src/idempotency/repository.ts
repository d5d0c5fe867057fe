import type { Queryable } from "../db/types.ts";

/** One stored key (migration 170). */
export interface IdempotencyRow {
  route: string;
  fingerprint: string;
  state: "running" | "done";
  status_code: number | null;
  response: string | null;
  created_at: Date;
}

export interface KeyRef {
  scope: string;
  key: string;
}

/**
 * Claims (scope, key) for one request: true when this request is the first (or the key it found
 * had expired), false when a live row already holds it. One statement, so of several requests
 * racing with one key exactly one claims it (the primary key decides).
 */
export async function claimKey(
  db: Queryable,
  ref: KeyRef & { route: string; fingerprint: string; now: Date; expiresAt: Date },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO idempotency_keys (scope, key, route, fingerprint, state, created_at, expires_at)
     VALUES ($1, $2, $3, $4, 'running', $5, $6)
     ON CONFLICT (scope, key) DO UPDATE
       SET route = EXCLUDED.route, fingerprint = EXCLUDED.fingerprint, state = 'running',
           status_code = NULL, response = NULL, created_at = EXCLUDED.created_at,
           expires_at = EXCLUDED.expires_at
       WHERE idempotency_keys.expires_at <= $5`,
    [ref.scope, ref.key, ref.route, ref.fingerprint, ref.now, ref.expiresAt],
  );
  return rowCount === 1;
}

export async function findKey(db: Queryable, ref: KeyRef): Promise<IdempotencyRow | undefined> {
  const { rows } = await db.query<IdempotencyRow>(
    `SELECT route, fingerprint, state, status_code, response, created_at
       FROM idempotency_keys WHERE scope = $1 AND key = $2`,
    [ref.scope, ref.key],
  );
  return rows[0];
}

/** Stores the claimed request's answer: from now on it is replayed. */
export async function completeKey(
  db: Queryable,
  ref: KeyRef & { statusCode: number; response: string },
): Promise<void> {
  await db.query(
    `UPDATE idempotency_keys SET state = 'done', status_code = $3, response = $4
      WHERE scope = $1 AND key = $2 AND state = 'running'`,
    [ref.scope, ref.key, ref.statusCode, ref.response],
  );
}

/** Gives a claim back (its request did not succeed), so a retry with the key runs again. */
export async function releaseKey(db: Queryable, ref: KeyRef): Promise<void> {
  await db.query(`DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND state = 'running'`, [
    ref.scope,
    ref.key,
  ]);
}

/** Removes up to `limit` expired keys; returns how many. */
export async function purgeExpiredKeys(db: Queryable, now: Date, limit: number): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM idempotency_keys WHERE (scope, key) IN (
       SELECT scope, key FROM idempotency_keys WHERE expires_at <= $1 LIMIT $2)`,
    [now, limit],
  );
  return rowCount;
}
