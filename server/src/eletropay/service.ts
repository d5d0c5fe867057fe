import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import type { Db, Queryable } from "../db/types.ts";
import { badRequest, conflict, notFound } from "../lib/errors.ts";
import { createAddressDeriver, type AddressDeriver } from "../utxo/derive.ts";
import type { UtxoChainAdapter } from "../utxo/adapter.ts";
import { UTXO_CURRENCIES, type UtxoCurrency } from "../utxo/networks.ts";
import type { EletroPayConfig } from "../config/eletropay.ts";

export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

// ---------------------------------------------------------------------------------------------
// Input validation: every rejection says why.

const EMAIL_LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** Validates and normalises an email (trimmed, lowercased). Throws a 400 that says what is wrong. */
export function normalizeEmail(raw: unknown): string {
  if (typeof raw !== "string") throw badRequest("email must be a string", "invalid_email");
  const email = raw.trim().toLowerCase();
  if (email.length === 0) throw badRequest("email is empty", "invalid_email");
  if (email.length > 254) throw badRequest("email is longer than 254 characters", "invalid_email");
  const at = email.lastIndexOf("@");
  if (at < 0 || email.indexOf("@") !== at)
    throw badRequest("email must contain exactly one @", "invalid_email");
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (local.length === 0 || local.length > 64) {
    throw badRequest("the part before @ must be 1 to 64 characters", "invalid_email");
  }
  if (!EMAIL_LOCAL.test(local)) {
    throw badRequest("the part before @ has a character or dot that is not allowed", "invalid_email");
  }
  const labels = domain.split(".");
  if (labels.length < 2 || !labels.every((l) => DOMAIN_LABEL.test(l))) {
    throw badRequest("the domain after @ must be a valid host name such as example.com", "invalid_email");
  }
  if (!/^[a-z]{2,63}$/.test(labels.at(-1) ?? "")) {
    throw badRequest("the domain must end in a top-level domain of letters such as .com", "invalid_email");
  }
  return email;
}

export const TOKEN_PATTERN = /^[0-9a-f]{40}$/;

export function normalizeToken(raw: string): string {
  const token = raw.toLowerCase();
  if (!TOKEN_PATTERN.test(token))
    throw badRequest("token must be 40 hexadecimal characters", "invalid_token");
  return token;
}

/**
 * Upper-cases and checks a UTXO currency against the configured ones; `others` are the further
 * currencies served (ETH and token symbols with ELETROPAY_ETH), listed in the message.
 */
export function parseCurrency(
  raw: string,
  config: EletroPayConfig,
  others: readonly string[] = [],
): UtxoCurrency {
  const currency = raw.trim().toUpperCase();
  const supported = [...UTXO_CURRENCIES.filter((c) => config.currencies[c]), ...others];
  if (currency === "ETH") {
    throw badRequest(
      `ETH is not yet supported through this API on this server (the operator enables it with ELETROPAY_ETH=true); supported: ${supported.join(", ")}`,
      "currency_not_supported",
    );
  }
  if (!(supported as readonly string[]).includes(currency)) {
    const shown = currency.length > 12 ? `${currency.slice(0, 12)}…` : currency;
    throw badRequest(
      `currency "${shown}" is not supported; supported: ${supported.join(", ") || "none configured"}`,
      "currency_not_supported",
    );
  }
  return currency as UtxoCurrency;
}

// ---------------------------------------------------------------------------------------------
// Tokens at rest.

export const tokenHash = (token: string): string => createHash("sha256").update(token).digest("hex");

/**
 * Encrypts client tokens with AES-256-GCM under the key derived from ELETROPAY_TOKEN_KEY. The
 * email is authenticated data, so a ciphertext copied onto another client's row does not decrypt.
 */
export class TokenCipher {
  readonly keyId: string;
  readonly #key: Uint8Array;

  constructor(key: Uint8Array) {
    if (key.length !== 32) throw new Error("token key must be 32 bytes");
    this.#key = key;
    this.keyId = createHash("sha256").update("eletropay token key id").update(key).digest("hex").slice(0, 12);
  }

  encrypt(token: string, email: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv);
    cipher.setAAD(Buffer.from(email));
    const body = Buffer.concat([cipher.update(token, "utf8"), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64");
  }

  decrypt(stored: string, email: string, keyId: string): string {
    if (keyId !== this.keyId) {
      throw new Error(
        "client token was encrypted under another ELETROPAY_TOKEN_KEY; restore the previous key to recover tokens",
      );
    }
    const raw = Buffer.from(stored, "base64");
    const decipher = createDecipheriv("aes-256-gcm", this.#key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(email));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString(
      "utf8",
    );
  }
}

// ---------------------------------------------------------------------------------------------

export interface IssuedAddress {
  currency: UtxoCurrency;
  address: string;
  index: number;
  /** True when an old unpaid address was handed out again (ADDRESS_REISSUE_AFTER_SECONDS). */
  reissued: boolean;
}

/** A fresh ETH or token deposit address (./eth.ts). */
export interface IssuedDepositAddress {
  currency: string;
  address: string;
}

/** ETH and token addresses, when ELETROPAY_ETH is on (wired by ./index.ts from ./eth.ts). */
export interface EthIssuer {
  /** ETH and the token symbols served, upper case. */
  currencies: readonly string[];
  issue(clientId: bigint, currency: string): Promise<IssuedDepositAddress>;
}

export interface RegisterOptions {
  /**
   * Whether an already registered email gets its existing token back (the caller proved the
   * shared secret). Otherwise it is a conflict and the token is not decrypted at all.
   */
  revealExisting: boolean;
  /** The conflict's message: how this caller can get a token. */
  existsMessage?: string;
}

export interface EletroPayService {
  registerClient(email: unknown, options: RegisterOptions): Promise<{ token: string; created: boolean }>;
  issueAddress(token: string, currency: string): Promise<IssuedAddress | IssuedDepositAddress>;
  /** The :key for a client's callback URL: ELETROPAY_CALLBACK_KEY, else the client's token. */
  callbackKeyFor(tx: Queryable, clientId: bigint): Promise<string>;
}

export interface EletroPayServiceDeps {
  db: Db;
  config: EletroPayConfig;
  adapters: Partial<Record<UtxoCurrency, UtxoChainAdapter>>;
  eth?: EthIssuer | undefined;
  log?: Logger;
}

/** The :key for a client's callback URL: ELETROPAY_CALLBACK_KEY, else the client's token (decrypted). */
export function clientCallbackKeys(
  config: EletroPayConfig,
): (tx: Queryable, clientId: bigint) => Promise<string> {
  if (!config.tokenKey) throw new Error("EletroPay needs ELETROPAY_TOKEN_KEY");
  const cipher = new TokenCipher(config.tokenKey);
  return async (tx, clientId) => {
    if (config.callbackKey) return config.callbackKey;
    const { rows } = await tx.query<{ email: string; token_enc: string; token_key_id: string }>(
      "SELECT email, token_enc, token_key_id FROM eletropay_clients WHERE id = $1",
      [clientId],
    );
    const row = rows[0];
    if (!row) throw new Error(`unknown EletroPay client ${clientId}`);
    return cipher.decrypt(row.token_enc, row.email, row.token_key_id);
  };
}

export function createEletroPayService(deps: EletroPayServiceDeps): EletroPayService {
  const { db, config, adapters } = deps;
  const log = deps.log ?? silentLogger;
  if (!config.tokenKey) throw new Error("EletroPay needs ELETROPAY_TOKEN_KEY");
  const cipher = new TokenCipher(config.tokenKey);
  const derivers = new Map<UtxoCurrency, AddressDeriver>();
  for (const c of UTXO_CURRENCIES) {
    const cc = config.currencies[c];
    if (cc) derivers.set(c, createAddressDeriver(cc.key, cc.params));
  }

  async function registerClient(
    rawEmail: unknown,
    options: RegisterOptions,
  ): Promise<{ token: string; created: boolean }> {
    const email = normalizeEmail(rawEmail);
    const token = randomBytes(20).toString("hex");
    const inserted = await db.query<{ id: bigint }>(
      `INSERT INTO eletropay_clients (email, token_hash, token_enc, token_key_id)
       VALUES ($1, $2, $3, $4)
       ON CONFLICT (email) DO NOTHING
       RETURNING id`,
      [email, tokenHash(token), cipher.encrypt(token, email), cipher.keyId],
    );
    if (inserted.rows.length > 0) return { token, created: true };
    if (!options.revealExisting) {
      throw conflict(
        options.existsMessage ??
          "a client with this email is already registered; its token is not shown again",
        "client_exists",
      );
    }
    const { rows } = await db.query<{ token_enc: string; token_key_id: string }>(
      "SELECT token_enc, token_key_id FROM eletropay_clients WHERE email = $1",
      [email],
    );
    const row = rows[0];
    if (!row) throw new Error("client vanished between insert and select");
    return { token: cipher.decrypt(row.token_enc, email, row.token_key_id), created: false };
  }

  async function issueAddress(
    rawToken: string,
    rawCurrency: string,
  ): Promise<IssuedAddress | IssuedDepositAddress> {
    const eth = deps.eth;
    const asked = rawCurrency.trim().toUpperCase();
    if (eth?.currencies.includes(asked)) {
      const { rows } = await db.query<{ id: bigint }>(
        "SELECT id FROM eletropay_clients WHERE token_hash = $1",
        [tokenHash(normalizeToken(rawToken))],
      );
      if (!rows[0]) throw notFound("no client has this token", "unknown_token");
      return eth.issue(rows[0].id, asked);
    }
    const currency = parseCurrency(rawCurrency, config, eth?.currencies ?? []);
    const token = normalizeToken(rawToken);
    const cc = config.currencies[currency]!;
    const deriver = derivers.get(currency)!;
    const { rows: clients } = await db.query<{ id: bigint }>(
      "SELECT id FROM eletropay_clients WHERE token_hash = $1",
      [tokenHash(token)],
    );
    const client = clients[0];
    if (!client) throw notFound("no client has this token", "unknown_token");

    const issued = await db.transaction(async (tx): Promise<IssuedAddress> => {
      if (config.reissueAfterSeconds !== null) {
        // Re-issue policy: the same client's oldest-index address that was never paid and was last
        // handed out long enough ago. Filling low indexes keeps runs of unpaid addresses short.
        const { rows } = await tx.query<{ idx: bigint; address: string }>(
          `UPDATE eletropay_addresses SET last_issued_at = now(), reissue_count = reissue_count + 1
           WHERE (currency, key_id, idx) = (
             SELECT currency, key_id, idx FROM eletropay_addresses
             WHERE client_id = $1 AND currency = $2 AND key_id = $3 AND paid_at IS NULL
               AND last_issued_at < now() - make_interval(secs => $4)
             ORDER BY idx LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING idx, address`,
          [client.id, currency, cc.key.keyId, config.reissueAfterSeconds],
        );
        const reused = rows[0];
        if (reused) return { currency, address: reused.address, index: Number(reused.idx), reissued: true };
      }
      // The gap limit (security review 2, finding 12): a wallet restored from the seed stops at
      // GAP_LIMIT unused addresses in a row, so a client whose last GAP_LIMIT addresses are all
      // unpaid gets no new one (and the node imports nothing). The client's row lock makes
      // concurrent requests of one client count one after another.
      await tx.query("SELECT id FROM eletropay_clients WHERE id = $1 FOR UPDATE", [client.id]);
      const { rows: unpaid } = await tx.query<{ n: bigint }>(
        `SELECT count(*) AS n FROM eletropay_addresses
          WHERE client_id = $1 AND currency = $2 AND key_id = $3 AND paid_at IS NULL
            AND idx > COALESCE((SELECT max(idx) FROM eletropay_addresses
                                 WHERE client_id = $1 AND currency = $2 AND key_id = $3 AND paid_at IS NOT NULL), -1)`,
        [client.id, currency, cc.key.keyId],
      );
      const run = Number(unpaid[0]?.n ?? 0n);
      if (run >= config.gapLimit) {
        throw conflict(
          `this client's last ${run} ${currency} addresses are all unpaid (GAP_LIMIT ${config.gapLimit}): a wallet ` +
            "restored from the seed would not see a payment to a further one, so none is issued until one of " +
            "them is paid; show the customer one of those, or ask the operator to set ADDRESS_REISSUE_AFTER_SECONDS " +
            "(old unpaid addresses are handed out again) or to raise GAP_LIMIT together with the wallet's gap limit",
          "gap_limit_reached",
        );
      }
      // The row lock on the counter serialises concurrent allocations: each gets its own index.
      const { rows } = await tx.query<{ idx: bigint }>(
        `INSERT INTO eletropay_keys (currency, key_id, next_index) VALUES ($1, $2, 1)
         ON CONFLICT (currency, key_id) DO UPDATE SET next_index = eletropay_keys.next_index + 1
         RETURNING next_index - 1 AS idx`,
        [currency, cc.key.keyId],
      );
      const index = Number(rows[0]!.idx);
      const address = deriver.address(index);
      await tx.query(
        `INSERT INTO eletropay_addresses (currency, key_id, idx, address, client_id) VALUES ($1, $2, $3, $4, $5)`,
        [currency, cc.key.keyId, index, address, client.id],
      );
      return { currency, address, index, reissued: false };
    });

    if (!issued.reissued) {
      // Watch it before the POS shows it, so a mempool payment is seen at once. If the node is
      // unreachable the address is still returned: the watcher imports it (with a rescan from its
      // issue time) as soon as the node answers, so the payment is seen at the latest when mined.
      const adapter = adapters[currency];
      try {
        if (!adapter) throw new Error(`no chain adapter for ${currency}`);
        await adapter.importAddresses([
          { address: issued.address, since: "now", label: `eletropay:${client.id}` },
        ]);
        await db.query(
          "UPDATE eletropay_addresses SET imported_at = now() WHERE currency = $1 AND address = $2",
          [currency, issued.address],
        );
      } catch (error) {
        log.warn(
          { currency, address: issued.address, err: (error as Error).message },
          "watch-only import failed; the watcher will retry",
        );
      }
    }
    return issued;
  }

  const callbackKeyFor = clientCallbackKeys(config);

  return { registerClient, issueAddress, callbackKeyFor };
}

// ---------------------------------------------------------------------------------------------
// Gap-limit safety.

export interface GapLimitCurrencyStatus {
  currency: UtxoCurrency;
  keyId: string;
  issued: number;
  paid: number;
  /** Longest run of consecutive issued-but-unpaid indexes, between paid ones or after the last. */
  unpaidRun: number;
  gapLimit: number;
  /** Issued addresses not yet imported into the node wallet. */
  unimported: number;
  /** Payments that were reorged out and neither re-mined nor back in the mempool. */
  vanishedPayments: number;
  warning: string | undefined;
}

export interface GapLimitStatus {
  ok: boolean;
  warnings: string[];
  currencies: GapLimitCurrencyStatus[];
}

/**
 * A wallet restored from the seed scans addresses until it meets `gapLimit` unused ones in a
 * row, so a payment after a run of `gapLimit` (or more) unpaid addresses is invisible to it
 * (btcpayserver#1728). The lead's /health shows `warnings` when any run reaches the limit.
 */
export async function gapLimitStatus(db: Queryable, config: EletroPayConfig): Promise<GapLimitStatus> {
  const currencies: GapLimitCurrencyStatus[] = [];
  for (const currency of UTXO_CURRENCIES) {
    const cc = config.currencies[currency];
    if (!cc) continue;
    const keyId = cc.key.keyId;
    const { rows } = await db.query<{
      next_index: bigint | null;
      max_gap: bigint | null;
      last_paid: bigint | null;
      paid: bigint;
      unimported: bigint;
      vanished: bigint;
    }>(
      `WITH paid AS (
         SELECT idx, idx - lag(idx, 1, -1::bigint) OVER (ORDER BY idx) - 1 AS gap_before
         FROM eletropay_addresses WHERE currency = $1 AND key_id = $2 AND paid_at IS NOT NULL)
       SELECT (SELECT next_index FROM eletropay_keys WHERE currency = $1 AND key_id = $2) AS next_index,
              (SELECT max(gap_before) FROM paid) AS max_gap,
              (SELECT max(idx) FROM paid) AS last_paid,
              (SELECT count(*) FROM paid) AS paid,
              (SELECT count(*) FROM eletropay_addresses WHERE currency = $1 AND imported_at IS NULL) AS unimported,
              (SELECT count(*) FROM eletropay_payments WHERE currency = $1 AND state = 'vanished') AS vanished`,
      [currency, keyId],
    );
    const row = rows[0]!;
    const issued = Number(row.next_index ?? 0n);
    const trailing = issued - (Number(row.last_paid ?? -1n) + 1);
    const unpaidRun = Math.max(Number(row.max_gap ?? 0n), trailing);
    const warning =
      unpaidRun >= config.gapLimit
        ? `${currency}: ${unpaidRun} consecutive issued addresses are unpaid (gap limit ${config.gapLimit}); ` +
          "a wallet restored from the seed will miss payments beyond them — raise its gap limit or set ADDRESS_REISSUE_AFTER_SECONDS"
        : undefined;
    currencies.push({
      currency,
      keyId,
      issued,
      paid: Number(row.paid),
      unpaidRun,
      gapLimit: config.gapLimit,
      unimported: Number(row.unimported),
      vanishedPayments: Number(row.vanished),
      warning,
    });
  }
  const warnings = currencies.flatMap((c) => (c.warning ? [c.warning] : []));
  for (const c of currencies) {
    if (c.vanishedPayments > 0) {
      warnings.push(
        `${c.currency}: ${c.vanishedPayments} detected payment(s) vanished after a reorg (see eletropay_events)`,
      );
    }
  }
  return { ok: warnings.length === 0, warnings, currencies };
}
