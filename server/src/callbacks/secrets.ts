import { randomBytes } from "node:crypto";
import type { Queryable } from "../db/types.ts";
import type { CallbackConfig } from "../config/callbacks.ts";

/** Secrets that sign one callback, current first; a second one only during a rotation. */
export type SecretResolver = (secretRef: string) => Promise<string[]>;

/** A secret reference that names nothing we can sign with: the callback fails without retry. */
export class UnknownSecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnknownSecretError";
  }
}

/** `meta` key of the generated system secret (only when CALLBACK_SECRET is unset, never in production). */
export const SYSTEM_SECRET_META_KEY = "callbacks.system_secret";

/**
 * The system secret: CALLBACK_SECRET, or else one generated on first use and stored in `meta`.
 * `INSERT … ON CONFLICT DO NOTHING` makes concurrent first uses by several processes agree.
 */
export async function systemSecret(
  db: Queryable,
  config: Pick<CallbackConfig, "callbackSecret">,
): Promise<string> {
  if (config.callbackSecret) return config.callbackSecret;
  await db.query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", [
    SYSTEM_SECRET_META_KEY,
    randomBytes(32).toString("hex"),
  ]);
  const { rows } = await db.query<{ value: string }>("SELECT value FROM meta WHERE key = $1", [
    SYSTEM_SECRET_META_KEY,
  ]);
  const value = rows[0]?.value;
  if (!value) throw new Error("system callback secret missing from meta");
  return value;
}

/**
 * Resolves `merchant:<id>` (the merchant's current secret, then the previous one while a
 * rotation is under way), `system` (CALLBACK_SECRET) and `eletropay` (ELETROPAY_CALLBACK_SECRET,
 * else the system secret). Merchant secrets are read on every attempt so a rotation takes effect
 * at once; the system secret is read once per resolver.
 */
export function resolveSecrets(
  db: Queryable,
  config: Pick<CallbackConfig, "callbackSecret" | "eletropayCallbackSecret">,
): SecretResolver {
  let system: Promise<string> | undefined;
  const getSystem = () => {
    system ??= systemSecret(db, config).catch((error: unknown) => {
      system = undefined;
      throw error;
    });
    return system;
  };
  return async (secretRef) => {
    if (secretRef === "system") return [await getSystem()];
    if (secretRef === "eletropay") return [config.eletropayCallbackSecret ?? (await getSystem())];
    const match = /^merchant:(\d{1,19})$/.exec(secretRef);
    if (!match?.[1]) throw new UnknownSecretError(`unknown secret reference "${secretRef}"`);
    const { rows } = await db.query<{ callback_secret: string; callback_secret_previous: string | null }>(
      // The previous secret signs until its overlap window ends (migration 095; NULL: no end).
      `SELECT callback_secret,
              CASE WHEN callback_secret_previous_until IS NULL OR callback_secret_previous_until > now()
                   THEN callback_secret_previous END AS callback_secret_previous
         FROM merchants WHERE id = $1`,
      [match[1]],
    );
    const row = rows[0];
    if (!row) throw new UnknownSecretError(`merchant ${match[1]} no longer exists`);
    return row.callback_secret_previous
      ? [row.callback_secret, row.callback_secret_previous]
      : [row.callback_secret];
  };
}
