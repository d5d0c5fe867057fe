import type { HDKey } from "@scure/bip32";
import { bech32 } from "@scure/base";
import { ripemd160 } from "@noble/hashes/legacy.js";
import { sha256 } from "@noble/hashes/sha2.js";
import type { AddressParams, ScriptType } from "./networks.ts";
import { base58check, type ParsedExtendedKey } from "./xpub.ts";

/** The BIP32 limit on non-hardened child indexes. */
export const MAX_CHILD_INDEX = 0x7fffffff;

export const hash160 = (data: Uint8Array): Uint8Array => ripemd160(sha256(data));

/** Encodes the address of a compressed public key for one script type on one chain. */
export function encodeAddress(
  publicKey: Uint8Array,
  scriptType: ScriptType,
  params: AddressParams,
  keyHash: Uint8Array = hash160(publicKey),
): string {
  switch (scriptType) {
    case "p2pkh":
      return base58check.encode(Uint8Array.of(params.pubKeyHash, ...keyHash));
    case "p2sh-p2wpkh": {
      const redeemScript = Uint8Array.of(0x00, 0x14, ...keyHash);
      return base58check.encode(Uint8Array.of(params.scriptHash, ...hash160(redeemScript)));
    }
    case "p2wpkh": {
      if (!params.bech32) throw new Error(`${params.currency} has no segwit addresses`);
      return bech32.encode(params.bech32, [0, ...bech32.toWords(keyHash)]);
    }
  }
}

export interface AddressDeriver {
  readonly scriptType: ScriptType;
  /** The receive address at m/0/index below the configured account-level key. */
  address(index: number): string;
}

/**
 * Derives receive addresses on the external chain (m/0/i) of an account-level extended public
 * key. The external-chain node is derived once; each address then costs one public child
 * derivation, one hash160 and one encoding.
 */
export function createAddressDeriver(key: ParsedExtendedKey, params: AddressParams): AddressDeriver {
  const external: HDKey = key.hdKey.deriveChild(0);
  return {
    scriptType: key.scriptType,
    address(index: number): string {
      if (!Number.isSafeInteger(index) || index < 0 || index > MAX_CHILD_INDEX) {
        throw new RangeError(`address index out of range: ${index}`);
      }
      const child = external.deriveChild(index);
      if (!child.publicKey || !child.identifier) throw new Error("derived key has no public key");
      // `identifier` is hash160(publicKey), already computed by @scure/bip32.
      return encodeAddress(child.publicKey, key.scriptType, params, child.identifier);
    },
  };
}
