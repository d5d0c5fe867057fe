import { randomBytes } from "node:crypto";
import type { Queryable } from "../db/types.ts";
import { badRequest, notFound } from "../lib/errors.ts";

/** The longest overlap a rotation may ask for: one week. */
export const MAX_OVERLAP_SECONDS = 7 * 24 * 3600;

/**
 * Rotates a merchant's callback signing secret. The new secret is returned once (it is shown to
 * the merchant and never again); the previous one keeps signing beside it for `overlapSeconds`
 * (docs/callbacks.md: two `v1` values during a rotation), so the receiver can switch without
 * losing a callback. An overlap of 0 drops the previous secret at once.
 */
export async function rotateCallbackSecret(
  db: Queryable,
  merchantId: bigint,
  overlapSeconds: number,
): Promise<{ secret: string; previousValidUntil: Date | null }> {
  if (!Number.isInteger(overlapSeconds) || overlapSeconds < 0 || overlapSeconds > MAX_OVERLAP_SECONDS) {
    throw badRequest("overlap must be 0 to 168 hours", "invalid_overlap");
  }
  const secret = randomBytes(32).toString("hex");
  const { rows } = await db.query<{ callback_secret_previous_until: Date | null }>(
    `UPDATE merchants
        SET callback_secret_previous = CASE WHEN $3::int > 0 THEN callback_secret END,
            callback_secret_previous_until = CASE WHEN $3::int > 0 THEN now() + make_interval(secs => $3::int) END,
            callback_secret = $2
      WHERE id = $1
      RETURNING callback_secret_previous_until`,
    [merchantId, secret, overlapSeconds],
  );
  const row = rows[0];
  if (!row) throw notFound(`merchant ${merchantId} was not found`);
  return { secret, previousValidUntil: row.callback_secret_previous_until };
}
