import assert from "node:assert/strict";
import { inspect } from "node:util";
import { describe, it } from "mocha";
import { ETH_TOKEN as ETH } from "../../server/src/chain/abi.ts";
import { loadConfig } from "../../server/src/config/index.ts";
import { bumped } from "../../server/src/sender/sender.ts";
import { entriesFrom } from "../../server/src/deposits/sweep-policy.ts";
import { gasWithinShare, tokenValueWei } from "../../server/src/sender/gas-share.ts";

const KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6";
const base = { NODE_ENV: "test", RPC_URL: "http://127.0.0.1:8545", ETH_USD_PRICE: "3000" };

describe("sweeper configuration", function () {
  it("reads the key and the policy, with defaults", function () {
    assert.equal(loadConfig(base).chains[0]?.sweeper, undefined, "no key: no sweeper");
    const defaults = loadConfig({ ...base, SWEEPER_PRIVATE_KEY: KEY }).chains[0]?.sweeper;
    assert.deepEqual(
      { ...defaults, privateKey: undefined },
      { privateKey: undefined, intervalBlocks: 1, maxGasSharePpm: 50_000n, maxBatch: 50, stuckBlocks: 10 },
    );
    const on = loadConfig({
      ...base,
      SWEEPER_PRIVATE_KEY: KEY.slice(2),
      SWEEP_INTERVAL_BLOCKS: "5",
      SWEEP_MAX_GAS_SHARE: "0.125",
      SWEEP_MAX_BATCH: "20",
      SWEEP_STUCK_BLOCKS: "4",
    }).chains[0]?.sweeper;
    assert.equal(on?.privateKey?.reveal(), KEY);
    assert.equal(on?.intervalBlocks, 5);
    assert.equal(on?.maxGasSharePpm, 125_000n);
    assert.equal(on?.maxBatch, 20);
    assert.equal(on?.stuckBlocks, 4);
  });

  it("never shows the key: JSON, string and inspect are redacted", function () {
    const config = loadConfig({ ...base, SWEEPER_PRIVATE_KEY: KEY });
    const key = KEY.slice(2);
    const json = JSON.stringify(config, (_, v: unknown) => (typeof v === "bigint" ? `${v}` : v));
    assert.doesNotMatch(json, new RegExp(key, "i"));
    assert.doesNotMatch(inspect(config, { depth: 10 }), new RegExp(key, "i"));
    assert.doesNotMatch(String(config.chains[0]?.sweeper?.privateKey), new RegExp(key, "i"));
  });

  it("reports bad values without echoing the key", function () {
    assert.throws(
      () => loadConfig({ ...base, SWEEPER_PRIVATE_KEY: "0xdeadbeefcafe", SWEEP_MAX_GAS_SHARE: "1.5" }),
      (error: Error) =>
        /SWEEPER_PRIVATE_KEY must be a private key of 32 bytes/.test(error.message) &&
        !error.message.includes("deadbeefcafe") &&
        /SWEEP_MAX_GAS_SHARE must be a share from 0 to 1/.test(error.message),
    );
  });

  it("is per chain with CHAINS, falling back to the global variable", function () {
    const config = loadConfig({
      NODE_ENV: "test",
      ETH_USD_PRICE: "3000",
      CHAINS: "ethereum,base",
      CHAIN_ETHEREUM_RPC_URL: "http://127.0.0.1:8545",
      CHAIN_BASE_RPC_URL: "http://127.0.0.1:8546",
      SWEEP_MAX_BATCH: "10",
      SWEEP_STUCK_BLOCKS: "7",
      CHAIN_BASE_SWEEPER_PRIVATE_KEY: KEY,
      CHAIN_BASE_SWEEP_MAX_BATCH: "30",
    });
    const [ethereum, baseChain] = config.chains;
    assert.equal(ethereum?.sweeper, undefined);
    assert.equal(baseChain?.sweeper?.privateKey.reveal(), KEY);
    assert.equal(baseChain?.sweeper?.maxBatch, 30);
    assert.equal(baseChain?.sweeper?.stuckBlocks, 7, "the global value");
  });
});

describe("sweeper policy", function () {
  const c = (address: string, token: string) => ({
    address,
    merchant: "0xm",
    orderRef: "0xr",
    token,
    amount: 1n,
    lastBlock: 1n,
  });

  it("one entry per address; an address with ETH and a token names the token (it sweeps both)", function () {
    const usdc = "0x00000000000000000000000000000000000000aa";
    const entries = entriesFrom(
      [c("0xa", ETH), c("0xa", usdc), c("0xb", ETH), c("0xc", ETH)],
      new Set(["0xc"]),
    );
    assert.deepEqual(
      entries.map((e) => [e.address, e.token]),
      [
        ["0xa", usdc],
        ["0xb", ETH],
      ],
    );
  });

  it("values tokens in wei with exact integers, and applies the gas share", function () {
    const price = { value: 3000_00000000n, decimals: 8, updatedAt: 0, source: "static" };
    const usdc = { address: "0xu", decimals: 6, usdPeg: "1" };
    assert.equal(tokenValueWei(3_000_000_000n, usdc, price), 10n ** 18n); // 3,000 USDC = 1 ETH at $3,000
    assert.equal(tokenValueWei(1n, undefined, price), undefined);
    assert.equal(gasWithinShare(50n, 1_000n, 50_000n), true); // exactly 5 %
    assert.equal(gasWithinShare(51n, 1_000n, 50_000n), false);
    assert.equal(gasWithinShare(51n, 0n, 50_000n, true), true, "an unpriced token skips the rule");
  });

  it("a fee bump is at least 12.5 % and at least today's fee", function () {
    assert.equal(bumped(800n, 0n), 901n);
    assert.equal(bumped(800n, 5_000n), 5_000n);
  });
});
