import { HDKey } from "@scure/bip32";
import { createBase58check } from "@scure/base";
import { sha256 } from "@noble/hashes/sha2.js";
import {
  EXTENDED_KEY_VERSIONS,
  STANDARD_VERSIONS,
  keyNetOf,
  type ExtendedKeyVersion,
  type KeyNet,
  type NetworkName,
  type ScriptType,
  type UtxoCurrency,
} from "./networks.ts";

export const base58check = createBase58check(sha256);

/** An extended public key that passed every check, ready for derivation. */
export interface ParsedExtendedKey {
  /** The prefix the operator configured (`xpub`, `zpub`, `drkp`…). */
  prefix: string;
  scriptType: ScriptType;
  /** BIP32 depth: 3 for an account-level key (m/purpose'/coin'/account'). */
  depth: number;
  /** The key in standard xpub/tpub form (Dash drkp/DRKP and SLIP-0132 versions swapped). */
  standard: string;
  /** Stable identifier of the key material: hex hash of chain code and public key. */
  keyId: string;
  hdKey: HDKey;
}

export class ExtendedKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExtendedKeyError";
  }
}

/** Public-key prefixes usable for a currency (on one kind of network), for messages that name the fix. */
const publicPrefixes = (currency: UtxoCurrency, keyNet?: KeyNet): string =>
  EXTENDED_KEY_VERSIONS.filter(
    (v) =>
      !v.isPrivate &&
      (keyNet === undefined || v.keyNet === keyNet) &&
      (!v.currencies || v.currencies.includes(currency)),
  )
    .map((v) => v.prefix)
    .join(", ");

const byVersion = new Map<number, ExtendedKeyVersion>(EXTENDED_KEY_VERSIONS.map((v) => [v.version, v]));

/**
 * Parses an account-level extended public key for one currency and network. It refuses, with a
 * message naming `label` (the environment variable), any private extended key, any key whose
 * version belongs to another network or currency, and anything that is not a valid key.
 * The server never holds a private key: this check runs at start-up.
 */
export function parseExtendedPublicKey(
  text: string,
  currency: UtxoCurrency,
  network: NetworkName,
  label = `XPUB_${currency}`,
): ParsedExtendedKey {
  const trimmed = text.trim();
  let raw: Uint8Array;
  try {
    raw = base58check.decode(trimmed);
  } catch {
    throw new ExtendedKeyError(
      `${label} is not a valid base58check extended key; paste the account-level extended public key (xpub…, tpub…) exactly as the wallet exports it`,
    );
  }
  if (raw.length !== 78) {
    throw new ExtendedKeyError(
      `${label} is not an extended key: ${raw.length} bytes instead of 78; paste the whole account-level extended public key`,
    );
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const version = view.getUint32(0, false);
  const known = byVersion.get(version);
  // Key data starting with 0x00 is a private key whatever the version bytes claim.
  if (raw[45] === 0 || known?.isPrivate) {
    throw new ExtendedKeyError(
      `${label} holds a PRIVATE extended key (${known?.prefix ?? trimmed.slice(0, 4)}…). ` +
        "Configure the account-level extended PUBLIC key (xpub/tpub/zpub/vpub…): this server must never hold a private key.",
    );
  }
  if (!known) {
    throw new ExtendedKeyError(
      `${label} has an unknown extended-key version 0x${version.toString(16).padStart(8, "0")} (${trimmed.slice(0, 4)}…); ` +
        `use one of ${publicPrefixes(currency)}`,
    );
  }
  if (known.currencies && !known.currencies.includes(currency)) {
    const why = currency === "DASH" && known.scriptType !== "p2pkh" ? " (Dash has no segwit)" : "";
    throw new ExtendedKeyError(
      `${label}: a ${known.prefix} key cannot be used for ${currency}${why}; ` +
        `export the account's ${currency} key as ${publicPrefixes(currency, known.keyNet)}`,
    );
  }
  const keyNet = keyNetOf(network);
  if (known.keyNet !== keyNet) {
    // Name the fix: the network setting that fits this key, or the key prefixes that fit the network.
    throw new ExtendedKeyError(
      `${label}: a ${known.prefix} key is for ${known.keyNet === "main" ? "mainnet" : "test networks"}, ` +
        `but ${currency}_NETWORK is ${network}; set ${currency}_NETWORK=` +
        (known.keyNet === "main" ? "mainnet" : "testnet (or regtest)") +
        `, or use a ${network} key (${publicPrefixes(currency, keyNet)})`,
    );
  }
  const standardVersions = STANDARD_VERSIONS[keyNet];
  const swapped = Uint8Array.from(raw);
  new DataView(swapped.buffer).setUint32(0, standardVersions.public, false);
  const standard = base58check.encode(swapped);
  let hdKey: HDKey;
  try {
    hdKey = HDKey.fromExtendedKey(standard, standardVersions);
  } catch (error) {
    throw new ExtendedKeyError(
      `${label} is not a valid extended public key: ${(error as Error).message}; export the account-level extended public key again`,
    );
  }
  // Chain code and public key identify the key material whatever version or depth it was exported with.
  const keyId = Buffer.from(sha256(raw.subarray(13)))
    .toString("hex")
    .slice(0, 16);
  return { prefix: known.prefix, scriptType: known.scriptType, depth: raw[4] ?? 0, standard, keyId, hdKey };
}
