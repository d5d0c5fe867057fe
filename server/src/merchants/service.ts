import { merchantLanguage, setMerchantLanguage } from "./profile.ts";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Db, Queryable } from "../db/types.ts";
import { badRequest, conflict, notFound } from "../lib/errors.ts";
import { parseHttpUrl } from "../lib/url.ts";
import { rotateCallbackSecret } from "./callback-secret.ts";
import { isPlanName, PLAN_NAMES, PLANS, type PlanName } from "./plans.ts";
import {
  NOTIFY_EVENTS,
  PHONE_PATTERN,
  type NotifyEvent,
  pluginFlags,
  TXT_MESSAGING_LIMITS,
  type NotificationSettings,
  type PluginFlags,
  type TxtMessagingLimit,
} from "./plugins.ts";

export interface Merchant {
  id: bigint;
  email: string;
  plan: PlanName;
  plugins: PluginFlags;
  notifications: NotificationSettings;
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

/**
 * Bumped before and after every change to a merchant's key, plan, plugins or notification
 * settings made by this process, so that API-key caches (createMerchantService) drop what they
 * hold and never keep a lookup that overlapped a change.
 */
let merchantsGeneration = 0;
async function changingMerchant<T>(change: () => Promise<T>): Promise<T> {
  merchantsGeneration++;
  try {
    return await change();
  } finally {
    merchantsGeneration++;
  }
}

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
  plugins: unknown;
  notify_url: string | null;
  notify_phone: string | null;
  notify_events: string[] | null;
  txt_messaging_monthly_limit: number;
  created_at: Date;
  api_key_hash?: string | null;
}

const COLUMNS =
  "id, email, plan, plugins, notify_url, notify_phone, notify_events, txt_messaging_monthly_limit, created_at";

const toMerchant = (row: MerchantRow): Merchant => ({
  id: row.id,
  email: row.email,
  plan: row.plan,
  plugins: pluginFlags(row.plugins),
  notifications: {
    url: row.notify_url,
    phone: row.notify_phone,
    monthlyLimit: row.txt_messaging_monthly_limit as TxtMessagingLimit,
    events: row.notify_events as NotifyEvent[] | null,
  },
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
     RETURNING ${COLUMNS}`,
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

/**
 * Replaces a merchant's API key; the old key stops working at once. Every console session of the
 * merchant ends with it (one opened with a leaked key, and any wallet session: R2-3 in
 * docs/security.md), and so do its terminal keys and their sessions, unless `keepTerminalKeys`.
 * One statement, so a rotation is never half done.
 */
export async function rotateApiKey(
  db: Queryable,
  emailInput: string,
  options: { keepTerminalKeys?: boolean } = {},
): Promise<{ merchant: Merchant; apiKey: string; sessionsEnded: number; terminalKeysRevoked: number }> {
  const email = validateEmail(emailInput);
  const { key, prefix, hash } = newKey();
  const keep = options.keepTerminalKeys === true;
  const { rows } = await changingMerchant(() =>
    db.query<MerchantRow & { sessions_ended: bigint; terminal_keys_revoked: bigint }>(
      `WITH m AS (
         UPDATE merchants SET api_key_prefix = $2, api_key_hash = $3 WHERE email = $1
         RETURNING ${COLUMNS}
       ),
       ended AS (
         UPDATE web_sessions s SET revoked_at = now()
           FROM m
          WHERE s.merchant_id = m.id AND s.revoked_at IS NULL AND s.expires_at > now()
            AND (s.kind = 'console' OR NOT $4::boolean)
         RETURNING 1
       ),
       revoked AS (
         UPDATE terminal_keys k SET revoked_at = now()
           FROM m
          WHERE k.merchant_id = m.id AND k.revoked_at IS NULL AND NOT $4::boolean
         RETURNING 1
       )
       SELECT m.*, (SELECT count(*) FROM ended)::int8 AS sessions_ended,
              (SELECT count(*) FROM revoked)::int8 AS terminal_keys_revoked
         FROM m`,
      [email, prefix, hash, keep],
    ),
  );
  const row = rows[0];
  if (!row) throw notFound(`no merchant with email ${email}`, "merchant_not_found");
  return {
    merchant: toMerchant(row),
    apiKey: key,
    sessionsEnded: Number(row.sessions_ended),
    terminalKeysRevoked: Number(row.terminal_keys_revoked),
  };
}

export async function setPlan(db: Queryable, emailInput: string, plan: string): Promise<Merchant> {
  const email = validateEmail(emailInput);
  if (!isPlanName(plan)) throw badRequest(`plan must be one of ${PLAN_NAMES.join(", ")}`, "invalid_plan");
  const { rows } = await changingMerchant(() =>
    db.query<MerchantRow>(`UPDATE merchants SET plan = $2 WHERE email = $1 RETURNING ${COLUMNS}`, [
      email,
      plan,
    ]),
  );
  if (!rows[0]) throw notFound(`no merchant with email ${email}`, "merchant_not_found");
  return toMerchant(rows[0]);
}

/** A merchant by email, or undefined (e.g. to link an EletroPay client to it). */
export async function findMerchantByEmail(db: Queryable, emailInput: string): Promise<Merchant | undefined> {
  const email = validateEmail(emailInput);
  const { rows } = await db.query<MerchantRow>(`SELECT ${COLUMNS} FROM merchants WHERE email = $1`, [email]);
  return rows[0] ? toMerchant(rows[0]) : undefined;
}

/** Resolves an API key to its merchant, or undefined. Constant-time on the hash comparison. */
/** A merchant by id (a browser session names its merchant by id). */
export async function findMerchantById(db: Queryable, id: bigint): Promise<Merchant | undefined> {
  const { rows } = await db.query<MerchantRow>(`SELECT ${COLUMNS} FROM merchants WHERE id = $1`, [id]);
  return rows[0] ? toMerchant(rows[0]) : undefined;
}

export async function findMerchantByKey(db: Queryable, key: string): Promise<Merchant | undefined> {
  const match = KEY_PATTERN.exec(key);
  if (!match) return undefined;
  const { rows } = await db.query<MerchantRow>(
    `SELECT ${COLUMNS}, api_key_hash FROM merchants WHERE api_key_prefix = $1`,
    [match[1]],
  );
  const row = rows[0];
  if (!row?.api_key_hash) return undefined;
  const expected = Buffer.from(row.api_key_hash, "hex");
  const actual = Buffer.from(sha256(key), "hex");
  return expected.length === actual.length && timingSafeEqual(expected, actual) ? toMerchant(row) : undefined;
}

export interface PluginChanges {
  txt_messaging?: boolean | undefined;
  recurring_payments?: boolean | undefined;
  /** null clears it. */
  notify_url?: string | null | undefined;
  notify_phone?: string | null | undefined;
  /** null: every event. */
  notify_events?: string[] | null | undefined;
  txt_messaging_limit?: number | undefined;
}

/** Where TXT Messaging goes: an SMS provider is the operator's (SMS_PROVIDER), a phone the merchant's. */
export interface TxtChannelOptions {
  /** The operator has an SMS provider. */
  sms?: boolean;
}

function parsePhone(phone: string | null | undefined): string | null | undefined {
  if (typeof phone === "string" && !PHONE_PATTERN.test(phone)) {
    throw badRequest(
      `notify_phone must be an E.164 phone number like +15551234567, got "${phone.slice(0, 40)}"`,
      "invalid_notify_phone",
    );
  }
  return phone;
}

function parseEvents(events: string[] | null | undefined): NotifyEvent[] | null | undefined {
  if (events === undefined || events === null) return events;
  const unknown = events.filter((e) => !(NOTIFY_EVENTS as readonly string[]).includes(e));
  if (unknown.length > 0) {
    throw badRequest(
      `unknown notify_events ${unknown.map((e) => `"${e.slice(0, 40)}"`).join(", ")}; use any of ${NOTIFY_EVENTS.join(", ")}, or null for every event`,
      "invalid_notify_events",
    );
  }
  return [...new Set(events)] as NotifyEvent[];
}

/** The channel TXT Messaging uses for these settings. */
export function txtChannel(
  settings: { url: string | null; phone: string | null },
  options: TxtChannelOptions,
): "sms" | "webhook" | "none" {
  if (options.sms === true && settings.phone !== null) return "sms";
  return settings.url !== null ? "webhook" : "none";
}

function needsChannel(options: TxtChannelOptions): string {
  return options.sms === true
    ? "txt_messaging needs a phone number (notify_phone) for text messages, or a notify_url for webhooks"
    : "txt_messaging needs a notify_url: the webhook that receives the messages (this server has no SMS provider: SMS_PROVIDER)";
}

function parseNotifyUrl(value: string | null | undefined): string | null | undefined {
  if (value === undefined || value === null) return value;
  if (value.length > 2048)
    throw badRequest("notify_url must be at most 2048 characters", "invalid_notify_url");
  return parseHttpUrl(value, "notify_url");
}

/**
 * Turns plugins on or off and sets the notification settings, in one transaction. Refuses a
 * combination that could not work: TXT Messaging without a webhook to send to, or Recurring
 * Payments below the Seller plan.
 */
export async function setPlugins(
  db: Db,
  emailInput: string,
  changes: PluginChanges,
  options: TxtChannelOptions = {},
): Promise<Merchant> {
  const email = validateEmail(emailInput);
  const url = parseNotifyUrl(changes.notify_url);
  const phone = parsePhone(changes.notify_phone);
  const events = parseEvents(changes.notify_events);
  const limit = changes.txt_messaging_limit;
  if (limit !== undefined && !(TXT_MESSAGING_LIMITS as readonly number[]).includes(limit)) {
    throw badRequest(
      `txt_messaging_limit must be ${TXT_MESSAGING_LIMITS.join(" or ")} (the TXT Messaging tiers)`,
      "invalid_txt_messaging_limit",
    );
  }

  return changingMerchant(() =>
    db.transaction(async (tx) => {
      const { rows } = await tx.query<MerchantRow>(
        `SELECT ${COLUMNS} FROM merchants WHERE email = $1 FOR UPDATE`,
        [email],
      );
      const row = rows[0];
      if (!row) throw notFound(`no merchant with email ${email}`, "merchant_not_found");
      const current = toMerchant(row);
      const flags: PluginFlags = {
        txt_messaging: changes.txt_messaging ?? current.plugins.txt_messaging,
        recurring_payments: changes.recurring_payments ?? current.plugins.recurring_payments,
      };
      const notifyUrl = url === undefined ? current.notifications.url : url;
      const notifyPhone = phone === undefined ? current.notifications.phone : phone;
      const notifyEvents = events === undefined ? current.notifications.events : events;
      if (flags.txt_messaging && txtChannel({ url: notifyUrl, phone: notifyPhone }, options) === "none") {
        throw badRequest(needsChannel(options), "plugin_needs_notify_url");
      }
      const plan = PLANS[current.plan];
      if (flags.recurring_payments && !plan.recurring) {
        throw badRequest(
          `recurring_payments needs the Seller plan or above; ${email} is on the ${plan.label} plan`,
          "plugin_needs_plan",
        );
      }
      const updated = await tx.query<MerchantRow>(
        `UPDATE merchants SET plugins = $2::jsonb, notify_url = $3, notify_phone = $4, txt_messaging_monthly_limit = $5,
                notify_events = $6::text[]
        WHERE id = $1 RETURNING ${COLUMNS}`,
        [
          current.id,
          JSON.stringify(flags),
          notifyUrl,
          notifyPhone,
          limit ?? current.notifications.monthlyLimit,
          notifyEvents,
        ],
      );
      return toMerchant(updated.rows[0] as MerchantRow);
    }),
  );
}

/** Notifications queued for a merchant this calendar month (UTC), counted against the TXT Messaging limit. */
export async function notificationsThisMonth(db: Queryable, merchantId: bigint): Promise<number> {
  const { rows } = await db.query<{ count: bigint }>(
    `SELECT count(*)::int8 AS count FROM callbacks
      WHERE merchant_id = $1 AND kind LIKE 'notify.%'
        AND created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`,
    [merchantId],
  );
  return Number(rows[0]?.count ?? 0n);
}

/** A merchant's notification settings as the API shows them (GET /user, the admin API, the CLI). */
export async function notificationsJson(
  db: Queryable,
  merchant: Merchant,
  options: TxtChannelOptions = {},
): Promise<{
  url: string | null;
  phone: string | null;
  events: string[] | null;
  channel: "sms" | "webhook" | "none";
  monthly_limit: number;
  sent_this_month: number;
}> {
  return {
    url: merchant.notifications.url,
    phone: merchant.notifications.phone,
    events: merchant.notifications.events,
    channel: txtChannel(merchant.notifications, options),
    monthly_limit: merchant.notifications.monthlyLimit,
    sent_this_month: await notificationsThisMonth(db, merchant.id),
  };
}

/** How long a verified API key stays cached in a process (see createMerchantService). */
export const API_KEY_CACHE_MS = 5_000;
/** Cached keys per process; past it the cache starts over (a bound, not an eviction policy). */
const API_KEY_CACHE_ENTRIES = 10_000;

export interface MerchantServiceOptions {
  /** How long a verified API key → merchant is kept in this process; 0 disables the cache. */
  apiKeyCacheMs?: number;
  /** The clock (tests); default Date.now. */
  now?: () => number;
  /** The operator has an SMS provider (SMS_PROVIDER): TXT Messaging can text a phone number. */
  sms?: boolean;
}

/**
 * The merchant operations the HTTP layer needs, bound to one database.
 *
 * `byApiKey` keeps verified keys for `apiKeyCacheMs` (default 5 s), so that a keyed request costs
 * no second database round trip. The cache is keyed by the SHA-256 of the key (keys stay hashed
 * in memory as in the database), holds only keys that matched (a wrong key always reaches the
 * database, and floods of random keys cannot fill it), and is dropped whenever this process
 * changes a merchant's key, plan, plugins or notification settings (also outside this service,
 * e.g. an admin route or a test calling the functions above). A change made by another process
 * (another API replica, `npm run merchant`) is seen within `apiKeyCacheMs`: for up to that long a
 * rotated key keeps working and a plan or plugin change is not yet applied on this process.
 */
export function createMerchantService(db: Db, options: MerchantServiceOptions = {}) {
  const ttl = options.apiKeyCacheMs ?? API_KEY_CACHE_MS;
  const channel: TxtChannelOptions = { sms: options.sms === true };
  const now = options.now ?? Date.now;
  const keys = new Map<string, { merchant: Merchant; until: number; generation: number }>();

  async function byApiKey(key: string): Promise<Merchant | undefined> {
    if (ttl <= 0 || !KEY_PATTERN.test(key)) return findMerchantByKey(db, key);
    const hash = sha256(key);
    const hit = keys.get(hash);
    if (hit && hit.generation === merchantsGeneration && hit.until > now()) return hit.merchant;
    const generation = merchantsGeneration;
    const merchant = await findMerchantByKey(db, key);
    if (merchant && generation === merchantsGeneration) {
      if (keys.size >= API_KEY_CACHE_ENTRIES) keys.clear();
      keys.set(hash, { merchant, until: now() + ttl, generation });
    } else {
      keys.delete(hash);
    }
    return merchant;
  }

  return {
    byApiKey,
    create: (email: string, plan: string) => createMerchant(db, email, plan),
    rotateApiKey: (email: string, options: { keepTerminalKeys?: boolean } = {}) =>
      rotateApiKey(db, email, options),
    setPlan: (email: string, plan: string) => setPlan(db, email, plan),
    setPlugins: (email: string, changes: PluginChanges) => setPlugins(db, email, changes, channel),
    notifications: (merchant: Merchant) => notificationsJson(db, merchant, channel),
    /** The default language of the merchant's customer pages (GET /user, PUT /user/language); null: English. */
    language: (merchant: Merchant) => merchantLanguage(db, merchant.id),
    setLanguage: (merchant: Merchant, language: string | null) =>
      setMerchantLanguage(db, merchant.id, language),
    /**
     * The merchant's own TXT Messaging settings (PUT /user/notifications): the phone number texts go
     * to and the events it wants. The plugin itself and its monthly tier are the operator's.
     */
    setNotifications: (merchant: Merchant, changes: { phone?: string | null; events?: string[] | null }) =>
      setPlugins(db, merchant.email, { notify_phone: changes.phone, notify_events: changes.events }, channel),
    /** Rotates the callback signing secret of the merchant with this email (the new one is shown once). */
    async rotateCallbackSecret(email: string, overlapSeconds: number) {
      const merchant = await findMerchantByEmail(db, email);
      if (!merchant) throw notFound(`no merchant with email ${email}`, "merchant_not_found");
      return { merchant, ...(await rotateCallbackSecret(db, merchant.id, overlapSeconds)) };
    },
  };
}

export type MerchantService = ReturnType<typeof createMerchantService>;
