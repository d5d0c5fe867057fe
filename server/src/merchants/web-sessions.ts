import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { getAddress, verifyMessage } from "viem";
import { generateSiweNonce, parseSiweMessage, validateSiweMessage } from "viem/siwe";
import type { Db, Queryable } from "../db/types.ts";
import { badRequest, conflict, forbidden, unauthorized } from "../lib/errors.ts";
import { linkAddress, type AddressLinkedSubscriber } from "./addresses.ts";
import { findMerchantByKey, findMerchantById, type Merchant } from "./service.ts";

/**
 * Browser sessions for the merchant console and the point-of-sale terminal.
 *
 * - A console session is opened by Sign-In with Ethereum (EIP-4361) with a payout address the
 *   merchant has proven (merchant_addresses), or by the API key. Signed in, a merchant links a new
 *   wallet by signing in with it and re-authenticating (the API key again, or a fresh SIWE proof
 *   from a wallet already linked): a stolen session alone cannot add a wallet (R2-3).
 * - A terminal session is opened with a terminal key: it can create orders and read their status,
 *   nothing else (server/src/api/session-auth.ts enforces it).
 *
 * The cookie carries 32 random bytes; only their SHA-256 is stored, so a database leak opens no
 * session. A SIWE message must name the configured console (its domain, its origin as URI, a
 * configured chain, a recent issued-at: never what the request's Host says, R2-1), and carry a
 * single-use nonce of at most 10 minutes that was issued to the same browser (its pre-session
 * cookie), so a nonce fetched by anyone else is worthless.
 */

export type SessionKind = "console" | "terminal";

export interface WebSession {
  kind: SessionKind;
  merchant: Merchant;
  /** The payout address the wallet proved (SIWE), or null (API key, terminal). */
  address: `0x${string}` | null;
  expiresAt: Date;
  /**
   * A terminal's key (its orders are the only ones it reads) and fixed order settings; null for
   * console sessions.
   */
  terminal: { keyId: bigint; label: string; payoutAddress: `0x${string}`; callback: string } | null;
}

const NONCE_TTL_MS = 10 * 60 * 1000;
/** How far in the future a message's issued-at may be (clock skew between wallet and server). */
const ISSUED_AT_SKEW_MS = 60 * 1000;
export const CONSOLE_SESSION_MS = 12 * 3600 * 1000;
export const TERMINAL_SESSION_MS = 30 * 24 * 3600 * 1000;
/** How long a browser's pre-session cookie (the one its SIWE nonces are bound to) lives. */
export const SIWE_CLIENT_MS = NONCE_TTL_MS;
const TERMINAL_KEY = /^epos_term_([0-9a-f]{12})_([0-9a-f]{48})$/;
const CLIENT_TOKEN = /^[A-Za-z0-9_-]{43}$/;

const sha256 = (value: string) => createHash("sha256").update(value).digest("hex");

/** What a SIWE message must name; all of it from configuration, never from the request. */
export interface SiweSettings {
  /** The console's RFC 3986 authority (host[:port]) from CONSOLE_ORIGIN / PUBLIC_URL. */
  domain: string;
  /** The console's origin (scheme://host[:port]): the message's URI must be exactly this. */
  origin: string;
  /** The configured chains: the message's chain id must be one of them. */
  chainIds: readonly number[];
  /**
   * Checks the signature on the message's chain (viem's verifySiweMessage through the chain's
   * client: plain accounts, EIP-1271 contract wallets and EIP-6492 undeployed ones). Without it,
   * only plain accounts (ecrecover).
   */
  verify?: (
    chainId: number,
    input: { address: `0x${string}`; message: string; signature: `0x${string}` },
  ) => Promise<boolean>;
}

/** A signed SIWE message as the browser posts it. */
export interface SignedSiwe {
  message: string;
  signature: string;
}

/** A new pre-session token for a browser that asks for a nonce (its cookie value). */
export const newSiweClientToken = () => randomBytes(32).toString("base64url");

export function createWebSessionService(
  db: Db,
  options: { siwe: SiweSettings; onLinked: AddressLinkedSubscriber; now?: () => Date },
) {
  const now = options.now ?? (() => new Date());
  const { siwe, onLinked } = options;

  async function open(
    q: Queryable,
    kind: SessionKind,
    merchantId: bigint,
    address: string | null,
    ms: number,
    terminalKeyId: bigint | null = null,
  ) {
    const token = randomBytes(32).toString("base64url");
    const expiresAt = new Date(now().getTime() + ms);
    await q.query(
      `INSERT INTO web_sessions (token_hash, merchant_id, kind, address, expires_at, terminal_key_id)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [sha256(token), merchantId, kind, address?.toLowerCase() ?? null, expiresAt, terminalKeyId],
    );
    return { token, expiresAt };
  }

  /**
   * Checks one signed SIWE message against the configured console and consumes its nonce (bound
   * to `client`, the browser's pre-session token); returns the address that signed it.
   */
  async function verifySiwe(input: SignedSiwe, client: string | undefined): Promise<`0x${string}`> {
    const message = parseSiweMessage(input.message);
    if (!message.address || !message.nonce || message.version !== "1") {
      throw badRequest(
        "the message is not a Sign-In with Ethereum (EIP-4361) message",
        "invalid_siwe_message",
      );
    }
    if (message.domain !== siwe.domain) {
      throw badRequest(
        `the message is for ${message.domain ?? "no domain"}; sign one for ${siwe.domain}`,
        "invalid_siwe_domain",
      );
    }
    if (message.uri !== siwe.origin) {
      throw badRequest(`the message's URI must be ${siwe.origin}`, "invalid_siwe_uri");
    }
    if (message.chainId === undefined || !siwe.chainIds.includes(message.chainId)) {
      throw badRequest(
        `the message is for chain ${message.chainId ?? "none"}; sign one for chain ${siwe.chainIds.join(" or ")}`,
        "invalid_siwe_chain",
      );
    }
    const time = now();
    const issuedAt = message.issuedAt?.getTime();
    if (
      issuedAt === undefined ||
      Number.isNaN(issuedAt) ||
      issuedAt > time.getTime() + ISSUED_AT_SKEW_MS ||
      issuedAt < time.getTime() - NONCE_TTL_MS ||
      (message.expirationTime !== undefined && !(message.expirationTime.getTime() > time.getTime())) ||
      (message.notBefore !== undefined && !(message.notBefore.getTime() <= time.getTime()))
    ) {
      throw badRequest(
        "the message's issued-at must be within the last 10 minutes and it must not be expired or not yet valid; sign in again",
        "invalid_siwe_time",
      );
    }
    if (!validateSiweMessage({ message, domain: siwe.domain, time })) {
      throw badRequest("the message is not a valid Sign-In with Ethereum message", "invalid_siwe_message");
    }
    // The nonce is consumed first, so a message can never be replayed, right or wrong; only the
    // browser it was issued to can consume it.
    const { rowCount } = await db.query(
      `UPDATE siwe_nonces SET used_at = $2
        WHERE nonce = $1 AND client_hash = $3 AND used_at IS NULL AND expires_at > $2`,
      [message.nonce, time, client && CLIENT_TOKEN.test(client) ? sha256(client) : ""],
    );
    if (rowCount !== 1) {
      throw badRequest(
        "the nonce is unknown, expired, already used or was issued to another browser; sign in again",
        "invalid_siwe_nonce",
      );
    }
    const address = getAddress(message.address);
    const signature = input.signature as `0x${string}`;
    const valid =
      /^0x[0-9a-fA-F]+$/.test(input.signature) &&
      (await (
        siwe.verify
          ? siwe.verify(message.chainId, { address, message: input.message, signature })
          : verifyMessage({ address, message: input.message, signature })
      ).catch(() => false));
    if (!valid) throw unauthorized("the signature is not the message's address's signature");
    return address;
  }

  const linkedTo = async (merchantId: bigint, address: string) =>
    (
      await db.query("SELECT 1 FROM merchant_addresses WHERE merchant_id = $1 AND address = $2", [
        merchantId,
        address.toLowerCase(),
      ])
    ).rows.length > 0;

  return {
    /** A single-use SIWE nonce (EIP-4361: at least 8 alphanumerics) for the browser `client`. */
    async nonce(client: string): Promise<{ nonce: string; expiresAt: Date }> {
      if (!CLIENT_TOKEN.test(client)) throw badRequest("bad pre-session token", "invalid_siwe_client");
      const nonce = generateSiweNonce();
      const expiresAt = new Date(now().getTime() + NONCE_TTL_MS);
      await db.query("DELETE FROM siwe_nonces WHERE expires_at < $1", [now()]);
      await db.query("INSERT INTO siwe_nonces (nonce, expires_at, client_hash) VALUES ($1, $2, $3)", [
        nonce,
        expiresAt,
        sha256(client),
      ]);
      return { nonce, expiresAt };
    },

    /**
     * Checks a signed SIWE message and opens a console session. The merchant is the one whose
     * proven payout address signed. Signed in already (`current`, a console session), a wallet
     * not yet linked is linked to that merchant, but only with a re-authentication: `api_key`
     * (the account's API key again) or `reauth` (a SIWE message of its own, signed by a wallet
     * already linked to the account). The merchant is notified (account.address_linked).
     */
    async signInWithEthereum(
      input: SignedSiwe & { api_key?: string | undefined; reauth?: SignedSiwe | undefined },
      client: string | undefined,
      current: WebSession | null,
    ) {
      const address = await verifySiwe(input, client);
      if (current && current.kind === "console") {
        const merchantId = current.merchant.id;
        if (!(await linkedTo(merchantId, address))) {
          if (input.api_key !== undefined) {
            const byKey = await findMerchantByKey(db, input.api_key.trim());
            if (!byKey || byKey.id !== merchantId)
              throw unauthorized("that API key is not this account's API key");
          } else if (input.reauth !== undefined) {
            const prover = await verifySiwe(input.reauth, client);
            if (!(await linkedTo(merchantId, prover))) {
              throw forbidden(
                `${prover} is not linked to this account; re-authenticate with a wallet already linked, or with your API key`,
                "reauth_required",
              );
            }
          } else {
            throw forbidden(
              "linking a new wallet needs you to re-authenticate: send api_key (your API key) or reauth (a Sign-In with Ethereum message signed by a wallet already linked to this account)",
              "reauth_required",
            );
          }
        }
        const session = await db.transaction(async (tx) => {
          await linkAddress(tx, merchantId, address, "siwe", onLinked);
          return open(tx, "console", merchantId, address, CONSOLE_SESSION_MS);
        });
        return { ...session, address };
      }
      const { rows } = await db.query<{ merchant_id: bigint }>(
        "SELECT merchant_id FROM merchant_addresses WHERE address = $1 ORDER BY merchant_id LIMIT 2",
        [address.toLowerCase()],
      );
      if (rows.length === 0) {
        throw forbidden(
          `${address} is not a proven payout address of any merchant account; sign in once with your API key, then connect this wallet to link it`,
          "address_not_linked",
        );
      }
      if (rows.length > 1) {
        throw conflict(
          `${address} is a payout address of several merchant accounts; sign in with the API key of the one you mean, then connect this wallet`,
          "address_ambiguous",
        );
      }
      const merchantId = (rows[0] as { merchant_id: bigint }).merchant_id;
      const session = await open(db, "console", merchantId, address, CONSOLE_SESSION_MS);
      return { ...session, address };
    },

    /** A console session from the merchant's API key. */
    async signInWithApiKey(apiKey: string) {
      const merchant = await findMerchantByKey(db, apiKey.trim());
      if (!merchant) throw unauthorized("that API key is not valid");
      return open(db, "console", merchant.id, null, CONSOLE_SESSION_MS);
    },

    /** A terminal session from a terminal key. */
    async signInWithTerminalKey(key: string) {
      const match = TERMINAL_KEY.exec(key.trim());
      const { rows } = match
        ? await db.query<{ id: bigint; merchant_id: bigint; key_hash: string }>(
            "SELECT id, merchant_id, key_hash FROM terminal_keys WHERE key_prefix = $1 AND revoked_at IS NULL",
            [match[1]],
          )
        : { rows: [] };
      const row = rows[0];
      const valid =
        row !== undefined &&
        timingSafeEqual(Buffer.from(row.key_hash, "hex"), Buffer.from(sha256(key.trim()), "hex"));
      if (!row || !valid) throw unauthorized("that terminal key is not valid or was revoked");
      return open(db, "terminal", row.merchant_id, null, TERMINAL_SESSION_MS, row.id);
    },

    /** The session a cookie token names, if it is open. */
    async byToken(token: string): Promise<WebSession | undefined> {
      const { rows } = await db.query<{
        merchant_id: bigint;
        kind: SessionKind;
        address: string | null;
        expires_at: Date;
        terminal_key_id: bigint | null;
        label: string | null;
        payout_address: string | null;
        callback: string | null;
      }>(
        `SELECT s.merchant_id, s.kind, s.address, s.expires_at, s.terminal_key_id, k.label, k.payout_address, k.callback
           FROM web_sessions s LEFT JOIN terminal_keys k ON k.id = s.terminal_key_id
          WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2
            AND (s.kind = 'console' OR k.revoked_at IS NULL)`,
        [sha256(token), now()],
      );
      const row = rows[0];
      if (!row) return undefined;
      const merchant = await findMerchantById(db, row.merchant_id);
      if (!merchant) return undefined;
      return {
        kind: row.kind,
        merchant,
        address: row.address ? getAddress(row.address) : null,
        expiresAt: row.expires_at,
        terminal:
          row.kind === "terminal" && row.terminal_key_id !== null && row.payout_address && row.callback
            ? {
                keyId: row.terminal_key_id,
                label: row.label ?? "",
                payoutAddress: getAddress(row.payout_address),
                callback: row.callback,
              }
            : null,
      };
    },

    async signOut(token: string): Promise<void> {
      await db.query("UPDATE web_sessions SET revoked_at = $2 WHERE token_hash = $1", [sha256(token), now()]);
    },

    /** Ends every console session of the merchant ("sign out everywhere"); terminals stay. */
    async signOutEverywhere(merchantId: bigint): Promise<number> {
      const { rowCount } = await db.query(
        `UPDATE web_sessions SET revoked_at = $2
          WHERE merchant_id = $1 AND kind = 'console' AND revoked_at IS NULL AND expires_at > $2`,
        [merchantId, now()],
      );
      return rowCount;
    },

    /**
     * A new terminal key (shown once). Its orders pay `payoutAddress`, which must be one the
     * merchant has proven, and call back `callback` (already checked by the caller).
     */
    async createTerminalKey(
      merchantId: bigint,
      input: { label: string; payoutAddress: string; callback: string },
    ) {
      const label = input.label.trim();
      const payout = input.payoutAddress.toLowerCase();
      const { rows: proven } = await db.query(
        "SELECT 1 FROM merchant_addresses WHERE merchant_id = $1 AND address = $2",
        [merchantId, payout],
      );
      if (proven.length !== 1) {
        throw badRequest(
          `${input.payoutAddress} is not a proven payout address of this account; connect its wallet in the console first`,
          "address_not_proven",
        );
      }
      if (label.length < 1 || label.length > 80) {
        throw badRequest('label must be 1 to 80 characters, e.g. "Front counter"', "invalid_label");
      }
      const prefix = randomBytes(6).toString("hex");
      const key = `epos_term_${prefix}_${randomBytes(24).toString("hex")}`;
      const { rows } = await db.query<{ id: bigint; created_at: Date }>(
        `INSERT INTO terminal_keys (merchant_id, label, key_prefix, key_hash, payout_address, callback)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, created_at`,
        [merchantId, label, prefix, sha256(key), payout, input.callback],
      );
      const row = rows[0] as { id: bigint; created_at: Date };
      return { id: row.id, label, key, createdAt: row.created_at };
    },

    async listTerminalKeys(merchantId: bigint) {
      const { rows } = await db.query<{ id: bigint; label: string; key_prefix: string; created_at: Date }>(
        `SELECT id, label, key_prefix, created_at FROM terminal_keys
          WHERE merchant_id = $1 AND revoked_at IS NULL ORDER BY id`,
        [merchantId],
      );
      return rows.map((r) => ({ id: r.id, label: r.label, prefix: r.key_prefix, createdAt: r.created_at }));
    },

    /** Revokes a terminal key; the sessions it opened close with it (byToken checks the key). */
    async revokeTerminalKey(merchantId: bigint, id: bigint): Promise<boolean> {
      const { rowCount } = await db.query(
        "UPDATE terminal_keys SET revoked_at = $3 WHERE merchant_id = $1 AND id = $2 AND revoked_at IS NULL",
        [merchantId, id, now()],
      );
      return rowCount === 1;
    },
  };
}

export type WebSessionService = ReturnType<typeof createWebSessionService>;
