import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { getAddress, recoverMessageAddress } from "viem";
import { generateSiweNonce, parseSiweMessage, validateSiweMessage } from "viem/siwe";
import type { Queryable } from "../db/types.ts";
import { badRequest, conflict, forbidden, unauthorized } from "../lib/errors.ts";
import { findMerchantByKey, findMerchantById, type Merchant } from "./service.ts";

/**
 * Browser sessions for the merchant console and the point-of-sale terminal.
 *
 * - A console session is opened by Sign-In with Ethereum (EIP-4361) with a payout address the
 *   merchant has proven (merchant_addresses), or by the API key. Signing in with a wallet while
 *   signed in by API key proves that address for the account (the SIWE message is the proof).
 * - A terminal session is opened with a terminal key: it can create orders and read their status,
 *   nothing else (server/src/api/session-auth.ts enforces it).
 *
 * The cookie carries 32 random bytes; only their SHA-256 is stored, so a database leak opens no
 * session. Nonces are single-use and expire after 10 minutes.
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
export const CONSOLE_SESSION_MS = 12 * 3600 * 1000;
export const TERMINAL_SESSION_MS = 30 * 24 * 3600 * 1000;
const TERMINAL_KEY = /^epos_term_([0-9a-f]{12})_([0-9a-f]{48})$/;

const sha256 = (value: string) => createHash("sha256").update(value).digest("hex");

export interface SiweExpectation {
  /** The host the browser talks to (RFC 4501 authority: host[:port]); the message must name it. */
  domain: string;
  /** The page's origin; the message's URI must be on it. */
  origin: string;
}

export function createWebSessionService(db: Queryable, now: () => Date = () => new Date()) {
  async function open(
    kind: SessionKind,
    merchantId: bigint,
    address: string | null,
    ms: number,
    terminalKeyId: bigint | null = null,
  ) {
    const token = randomBytes(32).toString("base64url");
    const expiresAt = new Date(now().getTime() + ms);
    await db.query(
      `INSERT INTO web_sessions (token_hash, merchant_id, kind, address, expires_at, terminal_key_id)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [sha256(token), merchantId, kind, address?.toLowerCase() ?? null, expiresAt, terminalKeyId],
    );
    return { token, expiresAt };
  }

  return {
    /** A single-use SIWE nonce (EIP-4361: at least 8 alphanumerics). */
    async nonce(): Promise<{ nonce: string; expiresAt: Date }> {
      const nonce = generateSiweNonce();
      const expiresAt = new Date(now().getTime() + NONCE_TTL_MS);
      await db.query("DELETE FROM siwe_nonces WHERE expires_at < $1", [now()]);
      await db.query("INSERT INTO siwe_nonces (nonce, expires_at) VALUES ($1, $2)", [nonce, expiresAt]);
      return { nonce, expiresAt };
    },

    /**
     * Checks a signed SIWE message and opens a console session. The merchant is the one whose
     * proven payout address signed; `current` (a session opened by API key) instead proves the
     * address for that merchant.
     */
    async signInWithEthereum(
      input: { message: string; signature: string },
      expect: SiweExpectation,
      current: WebSession | null,
    ) {
      const message = parseSiweMessage(input.message);
      if (!message.address || !message.nonce) {
        throw badRequest(
          "the message is not a Sign-In with Ethereum (EIP-4361) message",
          "invalid_siwe_message",
        );
      }
      if (message.domain !== expect.domain || !message.uri?.startsWith(expect.origin)) {
        throw badRequest(
          `the message is for ${message.domain ?? "no domain"}; sign one for ${expect.domain}`,
          "invalid_siwe_domain",
        );
      }
      if (!validateSiweMessage({ message, domain: expect.domain, time: now() })) {
        throw badRequest(
          "the message has expired or is not valid yet; sign in again",
          "invalid_siwe_message",
        );
      }
      // The nonce is consumed first, so a message can never be replayed, right or wrong.
      const { rowCount } = await db.query(
        "UPDATE siwe_nonces SET used_at = $2 WHERE nonce = $1 AND used_at IS NULL AND expires_at > $2",
        [message.nonce, now()],
      );
      if (rowCount !== 1) {
        throw badRequest(
          "the nonce is unknown, expired or already used; sign in again",
          "invalid_siwe_nonce",
        );
      }
      const signer =
        /^0x[0-9a-fA-F]+$/.test(input.signature) &&
        (await recoverMessageAddress({
          message: input.message,
          signature: input.signature as `0x${string}`,
        }).catch(() => undefined));
      const address = getAddress(message.address);
      if (!signer || getAddress(signer) !== address) {
        throw unauthorized("the signature is not the message's address's signature");
      }
      let merchantId: bigint;
      if (current && current.kind === "console") {
        merchantId = current.merchant.id;
        await db.query(
          `INSERT INTO merchant_addresses (merchant_id, address) VALUES ($1, $2)
           ON CONFLICT (merchant_id, address) DO NOTHING`,
          [merchantId, address.toLowerCase()],
        );
      } else {
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
        merchantId = (rows[0] as { merchant_id: bigint }).merchant_id;
      }
      const session = await open("console", merchantId, address, CONSOLE_SESSION_MS);
      return { ...session, address };
    },

    /** A console session from the merchant's API key. */
    async signInWithApiKey(apiKey: string) {
      const merchant = await findMerchantByKey(db, apiKey.trim());
      if (!merchant) throw unauthorized("that API key is not valid");
      return open("console", merchant.id, null, CONSOLE_SESSION_MS);
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
      return open("terminal", row.merchant_id, null, TERMINAL_SESSION_MS, row.id);
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
