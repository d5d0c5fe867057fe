import type { Queryable } from "../db/types.ts";
import { badRequest } from "../lib/errors.ts";

/**
 * The merchant's display name: what a customer reads on the payment page and a cashier on the
 * point-of-sale terminal. Optional; at most 80 characters, no control characters.
 */
export function parseDisplayName(value: string): string | null {
  const name = value.trim();
  if (name === "") return null;
  if (name.length > 80)
    throw badRequest("display_name must be at most 80 characters", "invalid_display_name");
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) {
    throw badRequest("display_name must not contain control characters", "invalid_display_name");
  }
  return name;
}

export async function merchantDisplayName(db: Queryable, merchantId: bigint): Promise<string | null> {
  const { rows } = await db.query<{ display_name: string | null }>(
    "SELECT display_name FROM merchants WHERE id = $1",
    [merchantId],
  );
  return rows[0]?.display_name ?? null;
}

export async function setDisplayName(
  db: Queryable,
  merchantId: bigint,
  value: string,
): Promise<string | null> {
  const name = parseDisplayName(value);
  await db.query("UPDATE merchants SET display_name = $2 WHERE id = $1", [merchantId, name]);
  return name;
}

/**
 * The merchant's default page language (migration 180): what the payment, subscription and
 * point-of-sale pages show when the customer's browser asks for none of ours. Null: English.
 */
export async function merchantLanguage(db: Queryable, merchantId: bigint): Promise<string | null> {
  const { rows } = await db.query<{ language: string | null }>(
    "SELECT language FROM merchants WHERE id = $1",
    [merchantId],
  );
  return rows[0]?.language ?? null;
}

/** Sets the default page language; `null` clears it (English). The route's schema checks the value. */
export async function setMerchantLanguage(
  db: Queryable,
  merchantId: bigint,
  language: string | null,
): Promise<string | null> {
  await db.query("UPDATE merchants SET language = $2 WHERE id = $1", [merchantId, language]);
  return language;
}
