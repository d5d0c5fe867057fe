import assert from "node:assert/strict";
import { HDKey } from "@scure/bip32";
import { callbackUrlFor, parseEletroPayConfig } from "../../server/src/config/eletropay.ts";
import { ConfigError } from "../../server/src/lib/errors.ts";

const SEED = Buffer.from("eletropay config test seed, not a real wallet");
const account = HDKey.fromMasterSeed(SEED).derive("m/44'/2'/0'");
const base = {
  XPUB_LTC: account.publicExtendedKey,
  LTC_RPC_URL: "http://u:p@127.0.0.1:9332/wallet/eletropay",
  ELETROPAY_TOKEN_KEY: "x".repeat(40),
  ELETROPAY_CALLBACK_URL: "https://eletropay.example",
  ELETROPAY_SHARED_SECRET: "config-test-shared-secret-0123456789",
};

const throwsNaming = (env: NodeJS.ProcessEnv, variable: string) =>
  assert.throws(
    () => parseEletroPayConfig(env),
    (e: unknown) => e instanceof ConfigError && e.message.includes(variable),
    variable,
  );

describe("EletroPay configuration", function () {
  it("is disabled without any XPUB and applies the documented defaults", function () {
    const off = parseEletroPayConfig({});
    assert.equal(off.enabled, false);
    assert.equal(off.host, "127.0.0.1");
    assert.equal(off.port, 3001);
    assert.deepEqual(off.allowIps, ["127.0.0.0/8", "::1"]);
    const on = parseEletroPayConfig(base);
    assert.equal(on.enabled, true);
    assert.equal(on.currencies.LTC?.confirmations, 6);
    assert.equal(on.currencies.LTC?.network, "mainnet");
    assert.equal(on.gapLimit, 20);
    assert.equal(on.reissueAfterSeconds, null);
    assert.equal(on.dashInstantSendAsConfirmed, false);
    assert.equal(on.currencies.DASH, undefined);
    const btc = parseEletroPayConfig({
      ...base,
      XPUB_BTC: account.publicExtendedKey,
      BTC_RPC_URL: "http://127.0.0.1:8332/",
    });
    assert.equal(btc.currencies.BTC?.confirmations, 3);
  });

  it("names the variable in every error", function () {
    throwsNaming({ ...base, XPUB_LTC: account.privateExtendedKey }, "XPUB_LTC");
    throwsNaming({ ...base, XPUB_LTC: "xpub-garbage" }, "XPUB_LTC");
    throwsNaming({ ...base, LTC_NETWORK: "signet" }, "LTC_NETWORK");
    throwsNaming({ ...base, LTC_NETWORK: "regtest" }, "XPUB_LTC");
    throwsNaming({ ...base, LTC_RPC_URL: "" }, "LTC_RPC_URL");
    throwsNaming({ ...base, LTC_RPC_URL: "ftp://x" }, "LTC_RPC_URL");
    throwsNaming({ ...base, LTC_CONFIRMATIONS: "0" }, "LTC_CONFIRMATIONS");
    throwsNaming({ ...base, GAP_LIMIT: "twenty" }, "GAP_LIMIT");
    throwsNaming({ ...base, ELETROPAY_PORT: "70000" }, "ELETROPAY_PORT");
    throwsNaming({ ...base, ELETROPAY_ALLOW_IPS: "10.0.0.0/33" }, "ELETROPAY_ALLOW_IPS");
    throwsNaming({ ...base, ELETROPAY_ALLOW_IPS: "localhost" }, "ELETROPAY_ALLOW_IPS");
    throwsNaming({ ...base, ELETROPAY_TOKEN_KEY: "" }, "ELETROPAY_TOKEN_KEY");
    throwsNaming({ ...base, ELETROPAY_TOKEN_KEY: "short" }, "ELETROPAY_TOKEN_KEY");
    throwsNaming({ ...base, ELETROPAY_CALLBACK_URL: "" }, "ELETROPAY_CALLBACK_URL");
    throwsNaming({ ...base, ELETROPAY_CALLBACK_URL: "not a url" }, "ELETROPAY_CALLBACK_URL");
    throwsNaming({ ...base, ELETROPAY_SHARED_SECRET: "short" }, "ELETROPAY_SHARED_SECRET");
    throwsNaming({ ...base, ELETROPAY_CALLBACK_KEY: "has space" }, "ELETROPAY_CALLBACK_KEY");
    throwsNaming({ ...base, DASH_INSTANTSEND_AS_CONFIRMED: "maybe" }, "DASH_INSTANTSEND_AS_CONFIRMED");
    throwsNaming({ ...base, ADDRESS_REISSUE_AFTER_SECONDS: "-5" }, "ADDRESS_REISSUE_AFTER_SECONDS");
  });

  it("builds callback URLs from a base URL or a template", function () {
    const plain = parseEletroPayConfig(base);
    assert.equal(
      callbackUrlFor(plain, "93144b288eb1fdccbe46d6fc0f241a51766ecd3d", "DASH"),
      "https://eletropay.example/v1/payments/93144b288eb1fdccbe46d6fc0f241a51766ecd3d/DASH/",
    );
    const template = parseEletroPayConfig({
      ...base,
      ELETROPAY_CALLBACK_URL: "https://ep.example/hooks/{currency}/{key}",
    });
    assert.equal(callbackUrlFor(template, "k", "LTC"), "https://ep.example/hooks/LTC/k");
    const colon = parseEletroPayConfig({
      ...base,
      ELETROPAY_CALLBACK_URL: "https://ep.example/v1/payments/:key/:currency/",
    });
    assert.equal(callbackUrlFor(colon, "abc", "BTC"), "https://ep.example/v1/payments/abc/BTC/");
  });
});
