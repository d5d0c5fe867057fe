/**
 * Address derivation for DASH, LTC and BTC on every network, against
 * - published vectors: BIP84 (zpub and the first receive addresses of the BIP39 "abandon … about"
 *   mnemonic) and the BIP44 first receive addresses of the same mnemonic for Bitcoin and Dash;
 * - @dashevo/dashcore-lib as an independent implementation (elliptic/bn.js, its own base58):
 *   1,000 addresses per currency and network.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { HDKey } from "@scure/bip32";
import { bech32 } from "@scure/base";
import { pbkdf2 } from "@noble/hashes/pbkdf2.js";
import { sha512 } from "@noble/hashes/sha2.js";
import { createAddressDeriver, hash160 } from "../../server/src/utxo/derive.ts";
import {
  EXTENDED_KEY_VERSIONS,
  NETWORK_NAMES,
  UTXO_CURRENCIES,
  addressParams,
  type NetworkName,
  type UtxoCurrency,
} from "../../server/src/utxo/networks.ts";
import { base58check, parseExtendedPublicKey, ExtendedKeyError } from "../../server/src/utxo/xpub.ts";

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dashcore = require("@dashevo/dashcore-lib") as {
  HDPublicKey: new (key: string) => DashcoreHDPublicKey;
  Networks: { add(data: object): void; get(name: string): object };
};
interface DashcoreHDPublicKey {
  deriveChild(index: number): DashcoreHDPublicKey;
  publicKey: { toBuffer(): Buffer; toAddress(network: object | string): { toString(): string } };
}

const MNEMONIC =
  "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
const SEED = pbkdf2(sha512, new TextEncoder().encode(MNEMONIC), new TextEncoder().encode("mnemonic"), {
  c: 2048,
  dkLen: 64,
});

function withVersion(key: HDKey, version: number): string {
  const raw = base58check.decode(key.publicExtendedKey);
  new DataView(raw.buffer, raw.byteOffset).setUint32(0, version, false);
  return base58check.encode(raw);
}

const derive = (xpub: string, currency: UtxoCurrency, network: NetworkName, count: number, from = 0) => {
  const d = createAddressDeriver(
    parseExtendedPublicKey(xpub, currency, network),
    addressParams(currency, network),
  );
  return Array.from({ length: count }, (_, i) => d.address(from + i));
};

describe("EletroPay address derivation", function () {
  describe("published vectors", function () {
    it("BIP84: zpub of m/84'/0'/0' and its receive addresses bc1qcr8te4… and bc1qnjg0jd…", function () {
      const zpub =
        "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs";
      const account = HDKey.fromMasterSeed(SEED).derive("m/84'/0'/0'");
      assert.equal(withVersion(account, 0x04b24746), zpub);
      assert.deepEqual(derive(zpub, "BTC", "mainnet", 2), [
        "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
        "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g",
      ]);
    });

    it("BIP44 Bitcoin m/44'/0'/0'/0/0 = 1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA", function () {
      const xpub = HDKey.fromMasterSeed(SEED).derive("m/44'/0'/0'").publicExtendedKey;
      assert.equal(
        xpub,
        "xpub6BosfCnifzxcFwrSzQiqu2DBVTshkCXacvNsWGYJVVhhawA7d4R5WSWGFNbi8Aw6ZRc1brxMyWMzG3DSSSSoekkudhUd9yLb6qx39T9nMdj",
      );
      assert.equal(derive(xpub, "BTC", "mainnet", 1)[0], "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA");
    });

    it("BIP44 Dash m/44'/5'/0'/0/0 = XoJA8qE3N2Y3jMLEtZ3vcN42qseZ8LvFf5, also from the legacy drkp form", function () {
      const account = HDKey.fromMasterSeed(SEED).derive("m/44'/5'/0'");
      const xpub = account.publicExtendedKey;
      assert.equal(derive(xpub, "DASH", "mainnet", 1)[0], "XoJA8qE3N2Y3jMLEtZ3vcN42qseZ8LvFf5");
      assert.equal(
        new dashcore.HDPublicKey(xpub)
          .deriveChild(0)
          .deriveChild(0)
          .publicKey.toAddress("livenet")
          .toString(),
        "XoJA8qE3N2Y3jMLEtZ3vcN42qseZ8LvFf5",
      );
      const drkp = withVersion(account, 0x02fe52cc);
      assert.match(drkp, /^drkp/);
      const parsed = parseExtendedPublicKey(drkp, "DASH", "mainnet");
      assert.equal(parsed.standard, xpub);
      assert.deepEqual(derive(drkp, "DASH", "mainnet", 20), derive(xpub, "DASH", "mainnet", 20));
    });

    it("every extended-key version encodes to its documented four-letter prefix", function () {
      for (const v of EXTENDED_KEY_VERSIONS) {
        for (const fill of [0x00, 0xff]) {
          const raw = new Uint8Array(78).fill(fill);
          new DataView(raw.buffer).setUint32(0, v.version, false);
          assert.equal(base58check.encode(raw).slice(0, 4), v.prefix, `0x${v.version.toString(16)}`);
        }
      }
    });
  });

  describe("against @dashevo/dashcore-lib, 1,000 addresses per currency and network", function () {
    const COUNT = 1_000;
    // One mainnet and one test-network account key; dashcore-lib derives the child public keys once.
    const mainKey = HDKey.fromMasterSeed(SEED).derive("m/44'/0'/7'");
    const testKey = HDKey.fromMasterSeed(SEED, { public: 0x043587cf, private: 0x04358394 }).derive(
      "m/44'/1'/7'",
    );
    let oracle: Record<"main" | "test", Buffer[]>;

    before(function () {
      const children = (xpub: string) => {
        const external = new dashcore.HDPublicKey(xpub).deriveChild(0);
        return Array.from({ length: COUNT }, (_, i) => external.deriveChild(i).publicKey.toBuffer());
      };
      oracle = { main: children(mainKey.publicExtendedKey), test: children(testKey.publicExtendedKey) };
    });

    for (const currency of UTXO_CURRENCIES) {
      for (const network of NETWORK_NAMES) {
        it(`${currency} ${network}: P2PKH addresses match dashcore-lib`, function () {
          const params = addressParams(currency, network);
          const name = `ethpos-${currency}-${network}`;
          dashcore.Networks.add({
            name,
            alias: [],
            pubkeyhash: params.pubKeyHash,
            scripthash: params.scriptHash,
            privatekey: 0x80,
            // Unique dummy values so dashcore-lib's version lookups for real keys are unaffected.
            xpubkey: 0x7e000000 + params.pubKeyHash * 8 + NETWORK_NAMES.indexOf(network),
            xprivkey: 0x7f000000 + params.pubKeyHash * 8 + NETWORK_NAMES.indexOf(network),
            networkMagic: 0x7e7e0000 + params.pubKeyHash,
            port: 1,
            dnsSeeds: [],
          });
          const net = dashcore.Networks.get(name);
          const keyNet = network === "mainnet" ? "main" : "test";
          const xpub = (keyNet === "main" ? mainKey : testKey).publicExtendedKey;
          const ours = derive(xpub, currency, network, COUNT);
          const theirs = oracle[keyNet].map((pub) => {
            // dashcore-lib's PublicKey.toAddress with our registered network's version byte.
            return new (require("@dashevo/dashcore-lib").PublicKey)(pub).toAddress(net).toString() as string;
          });
          assert.deepEqual(ours, theirs);
          const first = ours[0]!;
          const prefix = {
            DASH: { mainnet: /^X/, testnet: /^y/, regtest: /^y/ },
            LTC: { mainnet: /^L/, testnet: /^[mn]/, regtest: /^[mn]/ },
            BTC: { mainnet: /^1/, testnet: /^[mn]/, regtest: /^[mn]/ },
          }[currency][network];
          assert.match(first, prefix);
        });
      }
    }

    for (const currency of ["LTC", "BTC"] as const) {
      for (const network of NETWORK_NAMES) {
        it(`${currency} ${network}: P2WPKH (zpub/vpub) and P2SH-P2WPKH (ypub/upub) commit to dashcore-lib's key hashes`, function () {
          const keyNet = network === "mainnet" ? "main" : "test";
          const key = keyNet === "main" ? mainKey : testKey;
          const params = addressParams(currency, network);
          const zpub = withVersion(key, keyNet === "main" ? 0x04b24746 : 0x045f1cf6);
          const ypub = withVersion(key, keyNet === "main" ? 0x049d7cb2 : 0x044a5262);
          const segwit = derive(zpub, currency, network, COUNT);
          const wrapped = derive(ypub, currency, network, COUNT);
          segwit.forEach((address, i) => {
            const decoded = bech32.decode(address as `${string}1${string}`);
            assert.equal(decoded.prefix, params.bech32);
            assert.equal(decoded.words[0], 0);
            const program = bech32.fromWords(decoded.words.slice(1));
            assert.deepEqual(Buffer.from(program), Buffer.from(hash160(oracle[keyNet][i]!)));
          });
          wrapped.forEach((address, i) => {
            const raw = base58check.decode(address);
            assert.equal(raw[0], params.scriptHash);
            const redeem = Buffer.concat([
              Buffer.from([0x00, 0x14]),
              Buffer.from(hash160(oracle[keyNet][i]!)),
            ]);
            assert.deepEqual(Buffer.from(raw.subarray(1)), Buffer.from(hash160(redeem)));
          });
          assert.ok(segwit[0]!.startsWith(`${params.bech32}1q`));
        });
      }
    }
  });

  describe("extended key checks at start-up", function () {
    const root = HDKey.fromMasterSeed(SEED).derive("m/44'/0'/0'");
    const testRoot = HDKey.fromMasterSeed(SEED, { public: 0x043587cf, private: 0x04358394 }).derive(
      "m/44'/1'/0'",
    );

    it("refuses every private extended key, naming the variable", function () {
      const xprv = root.privateExtendedKey;
      const tprv = testRoot.privateExtendedKey;
      const swap = (key: string, version: number) => {
        const raw = base58check.decode(key);
        new DataView(raw.buffer, raw.byteOffset).setUint32(0, version, false);
        return base58check.encode(raw);
      };
      const cases: Array<[string, UtxoCurrency, NetworkName]> = [
        [xprv, "BTC", "mainnet"],
        [tprv, "LTC", "regtest"],
        [swap(xprv, 0x04b2430c), "BTC", "mainnet"], // zprv
        [swap(xprv, 0x02fe52f8), "DASH", "mainnet"], // drkv
        [swap(xprv, 0x0488b21e), "BTC", "mainnet"], // private key data behind xpub version bytes
      ];
      for (const [key, currency, network] of cases) {
        assert.throws(
          () => parseExtendedPublicKey(key, currency, network, `XPUB_${currency}`),
          (e: unknown) =>
            e instanceof ExtendedKeyError &&
            e.message.includes(`XPUB_${currency}`) &&
            e.message.includes("PRIVATE"),
        );
      }
    });

    it("refuses keys for the wrong network or currency and malformed text", function () {
      const xpub = root.publicExtendedKey;
      const tpub = testRoot.publicExtendedKey;
      assert.throws(() => parseExtendedPublicKey(xpub, "LTC", "regtest"), /LTC_NETWORK is regtest/);
      assert.throws(() => parseExtendedPublicKey(tpub, "BTC", "mainnet"), /test networks/);
      assert.throws(
        () => parseExtendedPublicKey(withVersion(root, 0x04b24746), "DASH", "mainnet"),
        /Dash has no segwit/,
      );
      assert.throws(() => parseExtendedPublicKey("xpub123", "BTC", "mainnet"), /not a valid base58check/);
      assert.throws(
        () => parseExtendedPublicKey(xpub.slice(0, -1) + (xpub.endsWith("a") ? "b" : "a"), "BTC", "mainnet"),
        ExtendedKeyError,
      );
      assert.equal(parseExtendedPublicKey(` ${tpub}\n`, "DASH", "testnet").depth, 3);
    });

    it("accepts Litecoin's Ltub and ttub forms with the same addresses as xpub/tpub", function () {
      assert.deepEqual(
        derive(withVersion(root, 0x019da462), "LTC", "mainnet", 5),
        derive(root.publicExtendedKey, "LTC", "mainnet", 5),
      );
      assert.deepEqual(
        derive(withVersion(testRoot, 0x0436f6e1), "LTC", "testnet", 5),
        derive(testRoot.publicExtendedKey, "LTC", "testnet", 5),
      );
    });
  });
});
