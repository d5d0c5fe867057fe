import { randomBytes } from "node:crypto";
import { getAddress, isAddress, verifyMessage } from "viem";
import type { Db, Queryable } from "../db/types.ts";
import { badRequest, notFound, unauthorized } from "../lib/errors.ts";

/**
 * Payout addresses a merchant has proven it controls. The merchant asks for a challenge for one
 * address, signs its message with that address's key (EIP-191 personal_sign: any wallet, `cast
 * wallet sign`, viem's signMessage) and posts the signature. A challenge names the merchant id,
 * the address and an expiry, and is consumed by its first use, right or wrong. Ledger views
 * cover only proven addresses, so typing another merchant's address into an order reveals
 * nothing of its money.
 */

const CHALLENGE_TTL_MS = 10 * 60 * 1000;

export interface AddressChallenge {
  nonce: string;
  address: `0x${string}`;
  expiresAt: Date;
  /** The exact text to sign. */
  message: string;
}

export interface ProvenAddress {
  address: `0x${string}`;
  provenAt: Date;
}

export function challengeMessage(
  merchantId: bigint,
  address: string,
  nonce: string,
  expiresAt: Date,
): string {
  return [
    "Ethereum POS: I control this payout address and add it to my merchant account.",
    `Merchant: ${merchantId}`,
    `Address: ${getAddress(address)}`,
    `Nonce: ${nonce}`,
    `Expires: ${expiresAt.toISOString()}`,
  ].join("\n");
}

/** How an address came to be linked, as the `account.address_linked` notification says. */
export type LinkedVia = "signature" | "siwe";

/** An address newly linked to a merchant's account, published inside the linking transaction. */
export interface AddressLinked {
  merchantId: bigint;
  address: `0x${string}`;
  via: LinkedVia;
  linkedAt: Date;
  /** Where the merchant is told (operator-set, so a leaked API key cannot redirect it); null: nowhere. */
  notifyUrl: string | null;
  notifyPhone: string | null;
}

/**
 * Told of each newly linked address in the linking transaction, so what it queues commits with the
 * link or not at all. The system wires the `account.address_linked` callback
 * (callbacks/account-callbacks.ts).
 */
export type AddressLinkedSubscriber = (tx: Queryable, event: AddressLinked) => Promise<void>;

/**
 * Links a proven address to the merchant in `tx`. When it is new to the account, `onLinked` is
 * told at once, in the same transaction, so the merchant hears of it (docs/callbacks.md).
 * Returns when the address was first proven.
 */
export async function linkAddress(
  tx: Queryable,
  merchantId: bigint,
  address: `0x${string}`,
  via: LinkedVia,
  onLinked: AddressLinkedSubscriber,
): Promise<{ provenAt: Date; added: boolean }> {
  const { rows: added } = await tx.query<{ proven_at: Date }>(
    `INSERT INTO merchant_addresses (merchant_id, address) VALUES ($1, $2)
     ON CONFLICT (merchant_id, address) DO NOTHING RETURNING proven_at`,
    [merchantId, address.toLowerCase()],
  );
  const row = added[0];
  if (!row) {
    const { rows } = await tx.query<{ proven_at: Date }>(
      "SELECT proven_at FROM merchant_addresses WHERE merchant_id = $1 AND address = $2",
      [merchantId, address.toLowerCase()],
    );
    return { provenAt: (rows[0] as { proven_at: Date }).proven_at, added: false };
  }
  const { rows: merchant } = await tx.query<{ notify_url: string | null; notify_phone: string | null }>(
    "SELECT notify_url, notify_phone FROM merchants WHERE id = $1",
    [merchantId],
  );
  await onLinked(tx, {
    merchantId,
    address,
    via,
    linkedAt: row.proven_at,
    notifyUrl: merchant[0]?.notify_url ?? null,
    notifyPhone: merchant[0]?.notify_phone ?? null,
  });
  return { provenAt: row.proven_at, added: true };
}

/**
 * Unlinks a proven address: the ledger views stop covering it, it signs in nobody, the console
 * sessions signed in with it end, and the terminal keys whose orders pay it are revoked (with
 * their sessions). Returns how many terminal keys were revoked; 404 when it was not linked.
 */
export async function unlinkAddress(
  db: Db,
  merchantId: bigint,
  addressInput: string,
  now: Date = new Date(),
): Promise<{ address: `0x${string}`; terminalKeysRevoked: number }> {
  const address = parseAddress(addressInput);
  const lower = address.toLowerCase();
  return db.transaction(async (tx) => {
    const { rowCount } = await tx.query(
      "DELETE FROM merchant_addresses WHERE merchant_id = $1 AND address = $2",
      [merchantId, lower],
    );
    if (rowCount !== 1)
      throw notFound(`${address} is not a linked address of this account`, "address_not_linked");
    await tx.query(
      `UPDATE web_sessions SET revoked_at = $3
        WHERE merchant_id = $1 AND address = $2 AND revoked_at IS NULL`,
      [merchantId, lower, now],
    );
    const { rowCount: revoked } = await tx.query(
      `UPDATE terminal_keys SET revoked_at = $3
        WHERE merchant_id = $1 AND payout_address = $2 AND revoked_at IS NULL`,
      [merchantId, lower, now],
    );
    return { address, terminalKeysRevoked: revoked };
  });
}

function parseAddress(value: string): `0x${string}` {
  if (!isAddress(value, { strict: false }))
    throw badRequest("address must be a 0x-prefixed 20-byte Ethereum address", "invalid_address");
  return getAddress(value);
}

/** Whether `signature` is `address`'s signature of `message` (EIP-191; a contract account by EIP-1271). */
export type MessageVerifier = (input: {
  address: `0x${string}`;
  message: string;
  signature: `0x${string}`;
}) => Promise<boolean>;

export function createAddressService(
  db: Db,
  options: {
    onLinked: AddressLinkedSubscriber;
    now?: () => Date;
    /**
     * Checks a proof's signature. Default: a plain key's signature only (viem's verifyMessage). The
     * system passes one that asks the configured chains, so a smart-contract account (a Safe, any
     * EIP-1271 wallet) proves its address by its own code.
     */
    verify?: MessageVerifier;
  },
) {
  const verify: MessageVerifier = options.verify ?? ((input) => verifyMessage(input));
  const { onLinked, now = () => new Date() } = options;
  return {
    async challenge(merchantId: bigint, addressInput: string): Promise<AddressChallenge> {
      const address = parseAddress(addressInput);
      const nonce = randomBytes(16).toString("hex");
      const expiresAt = new Date(Math.floor((now().getTime() + CHALLENGE_TTL_MS) / 1000) * 1000);
      await db.query("DELETE FROM merchant_address_challenges WHERE expires_at < now() - interval '1 day'");
      await db.query(
        "INSERT INTO merchant_address_challenges (nonce, merchant_id, address, expires_at) VALUES ($1, $2, $3, $4)",
        [nonce, merchantId, address.toLowerCase(), expiresAt],
      );
      return { nonce, address, expiresAt, message: challengeMessage(merchantId, address, nonce, expiresAt) };
    },

    /** Consumes the challenge and records the address when the signature is the address's. */
    async prove(
      merchantId: bigint,
      input: { address: string; nonce: string; signature: string },
    ): Promise<ProvenAddress> {
      const address = parseAddress(input.address);
      const { rows } = await db.query<{ expires_at: Date }>(
        `UPDATE merchant_address_challenges SET used_at = now()
          WHERE nonce = $1 AND merchant_id = $2 AND address = $3 AND used_at IS NULL AND expires_at > $4
          RETURNING expires_at`,
        [input.nonce, merchantId, address.toLowerCase(), now()],
      );
      const challenge = rows[0];
      if (!challenge) {
        throw badRequest(
          "the challenge is unknown, expired, already used or for another address; get a new one from GET /user/addresses/nonce",
          "invalid_challenge",
        );
      }
      const message = challengeMessage(merchantId, address, input.nonce, challenge.expires_at);
      const valid =
        /^0x[0-9a-fA-F]+$/.test(input.signature) &&
        (await verify({ address, message, signature: input.signature as `0x${string}` }).catch(() => false));
      if (!valid)
        throw unauthorized("the signature is not this address's signature of the challenge message");
      const saved = await db.transaction((tx) => linkAddress(tx, merchantId, address, "signature", onLinked));
      return { address, provenAt: saved.provenAt };
    },

    /** Unlinks a proven address (see unlinkAddress). */
    unlink: (merchantId: bigint, address: string) => unlinkAddress(db, merchantId, address, now()),

    /** Whether the merchant has proven this address (flags keyed orders paid out to an unproven one). */
    async isProven(merchantId: bigint, address: string): Promise<boolean> {
      const { rows } = await db.query(
        "SELECT 1 FROM merchant_addresses WHERE merchant_id = $1 AND address = $2",
        [merchantId, address.toLowerCase()],
      );
      return rows.length > 0;
    },

    async list(merchantId: bigint): Promise<ProvenAddress[]> {
      const { rows } = await db.query<{ address: string; proven_at: Date }>(
        "SELECT address, proven_at FROM merchant_addresses WHERE merchant_id = $1 ORDER BY proven_at, address",
        [merchantId],
      );
      return rows.map((r) => ({ address: getAddress(r.address), provenAt: r.proven_at }));
    },
  };
}

/** The proven payout addresses of a merchant, lowercase (for ledger queries). */
export async function provenAddresses(db: Queryable, merchantId: bigint): Promise<string[]> {
  const { rows } = await db.query<{ address: string }>(
    "SELECT address FROM merchant_addresses WHERE merchant_id = $1 ORDER BY address",
    [merchantId],
  );
  return rows.map((r) => r.address);
}

export type AddressService = ReturnType<typeof createAddressService>;
