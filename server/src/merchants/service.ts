import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Queryable } from "../db/types.ts";
import { badRequest, conflict, notFound } from "../lib/errors.ts";
import { isPlanName, PLAN_NAMES, type PlanName } from "./plans.ts";

export interface Merchant {
  id: bigint;
  email: string;
  plan: PlanName;
  plugins: Record<string, boolean>;
  createdAt: Date;
}

/**
 * API keys look like `epos_<prefix>_<secret>`: the prefix finds the row, and only a SHA-256 of
 * the whole key is stored, so a database leak reveals no usable key. Keys carry 192 bits of
 * randomness, so a fast hash is the right tool (a password hash adds nothing at that entropy).
 */
const KEY_PATTERN = /^epos_([0-9a-f]{12})_([0-9a-f]{48})$/;
const EMAIL_PATTERN =
  /^[^\s@<>()[\]\\,;:"]{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/i;

const sha256 = (value: string) => createHash("sha256").update(value).digest("hex");

function newKey(): { key: string; prefix: string; hash: string } {
  const prefix = randomBytes(6).toString("hex");
  const key = `epos_${prefix}_${randomBytes(24).toString("hex")}`;
  return { key, prefix, hash: sha256(key) };
}

export function validateEmail(email: string): string {
  const normalized = email.trim().toLowerCase();
  if (normalized.length > 254 || !EMAIL_PATTERN.test(normalized)) {
    throw badRequest(`"${email.slice(0, 80)}" is not a valid email address`, "invalid_email");
  }
  return normalized;
}

interface MerchantRow {
  id: bigint;
  email: string;
  plan: PlanName;
  plugins: Record<string, boolean>;
  created_at: Date;
  api_key_hash?: string | null;
}

const toMerchant = (row: MerchantRow): Merchant => ({
  id: row.id,
  email: row.email,
  plan: row.plan,
  plugins: row.plugins ?? {},
  createdAt: row.created_at,
});

/** Creates a merchant and returns it with its API key, which is shown this once only. */
export async function createMerchant(
  db: Queryable,
  emailInput: string,
  plan: string,
): Promise<{ merchant: Merchant; apiKey: string }> {
  const email = validateEmail(emailInput);
  if (!isPlanName(plan)) throw badRequest(`plan must be one of ${PLAN_NAMES.join(", ")}`, "invalid_plan");
  const { key, prefix, hash } = newKey();
  const { rows } = await db.query<MerchantRow>(
    `INSERT INTO merchants (email, plan, api_key_prefix, api_key_hash, callback_secret)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (email) DO NOTHING
     RETURNING id, email, plan, plugins, created_at`,
    [email, plan, prefix, hash, `whsec_${randomBytes(24).toString("hex")}`],
  );
  const row = rows[0];
  if (!row)
    throw conflict(
      `a merchant with email ${email} already exists; rotate its key instead`,
      "merchant_exists",
    );
  return { merchant: toMerchant(row), apiKey: key };
}

/** Replaces a merchant's API key; the old key stops working at once. */
export async function rotateApiKey(
  db: Queryable,
  emailInput: string,
): Promise<{ merchant: Merchant; apiKey: string }> {
  const email = validateEmail(emailInput);
  const { key, prefix, hash } = newKey();
  const { rows } = await db.query<MerchantRow>(
    `UPDATE merchants SET api_key_prefix = $2, api_key_hash = $3 WHERE email = $1
     RETURNING id, email, plan, plugins, created_at`,
    [email, prefix, hash],
  );
  const row = rows[0];
  if (!row) throw notFound(`no merchant with email ${email}`, "merchant_not_found");
  return { merchant: toMerchant(row), apiKey: key };
}

export async function setPlan(db: Queryable, emailInput: string, plan: string): Promise<Merchant> {
  const email = validateEmail(emailInput);
  if (!isPlanName(plan)) throw badRequest(`plan must be one of ${PLAN_NAMES.join(", ")}`, "invalid_plan");
  const { rows } = await db.query<MerchantRow>(
    "UPDATE merchants SET plan = $2 WHERE email = $1 RETURNING id, email, plan, plugins, created_at",
    [email, plan],
  );
  if (!rows[0]) throw notFound(`no merchant with email ${email}`, "merchant_not_found");
  return toMerchant(rows[0]);
}

/** Resolves an API key to its merchant, or undefined. Constant-time on the hash comparison. */
export async function findMerchantByKey(db: Queryable, key: string): Promise<Merchant | undefined> {
  const match = KEY_PATTERN.exec(key);
  if (!match) return undefined;
  const { rows } = await db.query<MerchantRow>(
    "SELECT id, email, plan, plugins, created_at, api_key_hash FROM merchants WHERE api_key_prefix = $1",
    [match[1]],
  );
  const row = rows[0];
  if (!row?.api_key_hash) return undefined;
  const expected = Buffer.from(row.api_key_hash, "hex");
  const actual = Buffer.from(sha256(key), "hex");
  return expected.length === actual.length && timingSafeEqual(expected, actual) ? toMerchant(row) : undefined;
}
