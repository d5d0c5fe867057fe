/**
 * Address and extended-key version bytes for the UTXO currencies EletroPay serves.
 *
 * Sources: Bitcoin Core / Litecoin Core / Dash Core `chainparams.cpp` (base58 prefixes and bech32
 * HRPs) and SLIP-0132 (extended-key version bytes). Regtest shares testnet's base58 prefixes in all
 * three projects; only the bech32 HRP differs (`bcrt`, `rltc`). Dash has no segwit.
 */

export const UTXO_CURRENCIES = ["DASH", "LTC", "BTC"] as const;
export type UtxoCurrency = (typeof UTXO_CURRENCIES)[number];

export const NETWORK_NAMES = ["mainnet", "testnet", "regtest"] as const;
export type NetworkName = (typeof NETWORK_NAMES)[number];

/** How an address is built from a derived public key. */
export type ScriptType = "p2pkh" | "p2sh-p2wpkh" | "p2wpkh";

export interface AddressParams {
  currency: UtxoCurrency;
  network: NetworkName;
  /** Base58 version byte of P2PKH addresses. */
  pubKeyHash: number;
  /** Base58 version byte of P2SH addresses. */
  scriptHash: number;
  /** Bech32 human-readable part, or null when the chain has no segwit (Dash). */
  bech32: string | null;
}

const PARAMS: Record<UtxoCurrency, Record<NetworkName, Omit<AddressParams, "currency" | "network">>> = {
  // X… / 7… on mainnet; y… / 8… on testnet, devnets and regtest.
  DASH: {
    mainnet: { pubKeyHash: 0x4c, scriptHash: 0x10, bech32: null },
    testnet: { pubKeyHash: 0x8c, scriptHash: 0x13, bech32: null },
    regtest: { pubKeyHash: 0x8c, scriptHash: 0x13, bech32: null },
  },
  // L… / M… / ltc1…; m… or n… / Q… / tltc1… on testnet; rltc1… on regtest.
  LTC: {
    mainnet: { pubKeyHash: 0x30, scriptHash: 0x32, bech32: "ltc" },
    testnet: { pubKeyHash: 0x6f, scriptHash: 0x3a, bech32: "tltc" },
    regtest: { pubKeyHash: 0x6f, scriptHash: 0x3a, bech32: "rltc" },
  },
  // 1… / 3… / bc1…; m… or n… / 2… / tb1… on testnet; bcrt1… on regtest.
  BTC: {
    mainnet: { pubKeyHash: 0x00, scriptHash: 0x05, bech32: "bc" },
    testnet: { pubKeyHash: 0x6f, scriptHash: 0xc4, bech32: "tb" },
    regtest: { pubKeyHash: 0x6f, scriptHash: 0xc4, bech32: "bcrt" },
  },
};

export function addressParams(currency: UtxoCurrency, network: NetworkName): AddressParams {
  return { currency, network, ...PARAMS[currency][network] };
}

/** Mainnet keys and test-network keys (testnet and regtest share their extended-key versions). */
export type KeyNet = "main" | "test";

export const keyNetOf = (network: NetworkName): KeyNet => (network === "mainnet" ? "main" : "test");

export interface ExtendedKeyVersion {
  /** The four-letter prefix the version produces in base58, e.g. `xpub`. */
  prefix: string;
  version: number;
  isPrivate: boolean;
  keyNet: KeyNet;
  /** Address type the wallet that exported this key uses; null for private keys. */
  scriptType: ScriptType;
  /** Currencies that use this version; undefined means any. */
  currencies?: readonly UtxoCurrency[];
}

/**
 * Every extended-key version we recognise. Public ones are accepted (when they fit the currency
 * and network); private ones are recognised only to refuse them with a clear message.
 */
export const EXTENDED_KEY_VERSIONS: readonly ExtendedKeyVersion[] = [
  // BIP32 / BIP44: P2PKH.
  { prefix: "xpub", version: 0x0488b21e, isPrivate: false, keyNet: "main", scriptType: "p2pkh" },
  { prefix: "xprv", version: 0x0488ade4, isPrivate: true, keyNet: "main", scriptType: "p2pkh" },
  { prefix: "tpub", version: 0x043587cf, isPrivate: false, keyNet: "test", scriptType: "p2pkh" },
  { prefix: "tprv", version: 0x04358394, isPrivate: true, keyNet: "test", scriptType: "p2pkh" },
  // BIP49 (SLIP-0132): P2SH-wrapped P2WPKH.
  {
    prefix: "ypub",
    version: 0x049d7cb2,
    isPrivate: false,
    keyNet: "main",
    scriptType: "p2sh-p2wpkh",
    currencies: ["BTC", "LTC"],
  },
  { prefix: "yprv", version: 0x049d7878, isPrivate: true, keyNet: "main", scriptType: "p2sh-p2wpkh" },
  {
    prefix: "upub",
    version: 0x044a5262,
    isPrivate: false,
    keyNet: "test",
    scriptType: "p2sh-p2wpkh",
    currencies: ["BTC", "LTC"],
  },
  { prefix: "uprv", version: 0x044a4e28, isPrivate: true, keyNet: "test", scriptType: "p2sh-p2wpkh" },
  // BIP84 (SLIP-0132): native P2WPKH.
  {
    prefix: "zpub",
    version: 0x04b24746,
    isPrivate: false,
    keyNet: "main",
    scriptType: "p2wpkh",
    currencies: ["BTC", "LTC"],
  },
  { prefix: "zprv", version: 0x04b2430c, isPrivate: true, keyNet: "main", scriptType: "p2wpkh" },
  {
    prefix: "vpub",
    version: 0x045f1cf6,
    isPrivate: false,
    keyNet: "test",
    scriptType: "p2wpkh",
    currencies: ["BTC", "LTC"],
  },
  { prefix: "vprv", version: 0x045f18bc, isPrivate: true, keyNet: "test", scriptType: "p2wpkh" },
  // Litecoin-specific (SLIP-0132).
  {
    prefix: "Ltub",
    version: 0x019da462,
    isPrivate: false,
    keyNet: "main",
    scriptType: "p2pkh",
    currencies: ["LTC"],
  },
  { prefix: "Ltpv", version: 0x019d9cfe, isPrivate: true, keyNet: "main", scriptType: "p2pkh" },
  {
    prefix: "Mtub",
    version: 0x01b26ef6,
    isPrivate: false,
    keyNet: "main",
    scriptType: "p2sh-p2wpkh",
    currencies: ["LTC"],
  },
  { prefix: "Mtpv", version: 0x01b26792, isPrivate: true, keyNet: "main", scriptType: "p2sh-p2wpkh" },
  {
    prefix: "ttub",
    version: 0x0436f6e1,
    isPrivate: false,
    keyNet: "test",
    scriptType: "p2pkh",
    currencies: ["LTC"],
  },
  { prefix: "ttpv", version: 0x0436ef7d, isPrivate: true, keyNet: "test", scriptType: "p2pkh" },
  // Legacy Dash (pre-0.12.1 wallets): same key material, Dash-specific versions.
  {
    prefix: "drkp",
    version: 0x02fe52cc,
    isPrivate: false,
    keyNet: "main",
    scriptType: "p2pkh",
    currencies: ["DASH"],
  },
  { prefix: "drkv", version: 0x02fe52f8, isPrivate: true, keyNet: "main", scriptType: "p2pkh" },
  {
    prefix: "DRKP",
    version: 0x3a805837,
    isPrivate: false,
    keyNet: "test",
    scriptType: "p2pkh",
    currencies: ["DASH"],
  },
  { prefix: "DRKV", version: 0x3a8061a0, isPrivate: true, keyNet: "test", scriptType: "p2pkh" },
];

/** Standard BIP32 versions that @scure/bip32 is given after a version swap. */
export const STANDARD_VERSIONS: Record<KeyNet, { public: number; private: number }> = {
  main: { public: 0x0488b21e, private: 0x0488ade4 },
  test: { public: 0x043587cf, private: 0x04358394 },
};
