import assert from "node:assert/strict";
import { createBase58check } from "@scure/base";
import { HDKey } from "@scure/bip32";
import { sha256 } from "@noble/hashes/sha2.js";
import { ConfigProblems, loadConfig, type Config } from "../../server/src/config/index.ts";
import { ConfigError } from "../../server/src/lib/errors.ts";
import { orderToJson, type OrderRow } from "../../server/src/orders/serialize.ts";

const ETH_USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48";
const BASE_USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
const CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

/** An order row as the database returns it, for the URLs orderToJson builds. */
function orderRow(): OrderRow {
  return {
    id: 123456789012n,
    merchant_id: null,
    chain_id: 31337n,
    pay_to: CONTRACT,
    deposit_address: null,
    reference: `0x${"00".repeat(16)}${"ab".repeat(16)}`,
    awaiting_sweep: false,
    merchant_address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    token: "0x0000000000000000000000000000000000000000",
    token_symbol: "ETH",
    token_decimals: 18,
    currency_amount: "1.00",
    usd_cents: 100n,
    expected_amount: "333333333333334",
    price: "300000000000",
    price_decimals: 8,
    callback: "http://127.0.0.1:3002/callback",
    item_title: null,
    item_description: null,
    item_image: null,
    status: "pending",
    exception: null,
    amount_paid: "0",
    amount_refunded: "0",
    transaction_id: null,
    paid_block: null,
    sent_transaction: null,
    created_at: new Date("2025-01-01T00:00:00Z"),
    expires_at: new Date("2025-01-01T00:15:00Z"),
  };
}

/** The problems loadConfig reports for `env`; fails the test when it loads. */
function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `a ConfigError, got ${String(error)}`);
    assert.ok(error instanceof ConfigProblems);
    return error.problems;
  }
  assert.fail(`loadConfig accepted ${JSON.stringify(env)}`);
}

/** Asserts exactly one problem, matching `pattern`. */
function oneProblem(env: Record<string, string>, pattern: RegExp): string {
  const problems = problemsOf(env);
  assert.equal(problems.length, 1, problems.join("\n"));
  assert.match(problems[0] as string, pattern);
  return problems[0] as string;
}

describe("configuration", function () {
  describe("one pass over everything", function () {
    it("reports every problem at once, one line each, naming each variable", function () {
      const env = {
        PORT: "eighty",
        NODE_ENV: "production",
        CONFIRMATIONS: "0",
        TOKENS: `USDC:${ETH_USDC}`,
        PRICE_FEED_ADDRESS: "0x1234",
        CALLBACK_TIMEOUT_MS: "10s",
        ELETROPAY_PORT: "70000",
        ADDRESS_REISSUE_AFTER_SECONDS: "-5",
      };
      let error: unknown;
      try {
        loadConfig(env);
      } catch (e) {
        error = e;
      }
      assert.ok(error instanceof ConfigProblems, String(error));
      const expected = [
        "PORT",
        "CONFIRMATIONS",
        "TOKENS",
        "PRICE_FEED_ADDRESS",
        "CALLBACK_TIMEOUT_MS",
        // NODE_ENV=production without CALLBACK_SECRET
        "CALLBACK_SECRET",
        "ELETROPAY_PORT",
        "ADDRESS_REISSUE_AFTER_SECONDS",
      ];
      assert.equal(error.problems.length, expected.length, error.message);
      for (const variable of expected) {
        assert.ok(
          error.problems.some((p) => p.startsWith(variable)),
          `${variable} is reported:\n${error.message}`,
        );
      }
      const lines = error.message.split("\n");
      assert.equal(lines[0], `${expected.length} problems in the configuration:`);
      assert.deepEqual(
        lines.slice(1),
        error.problems.map((p) => `  - ${p}`),
      );
    });

    it("keeps a single problem as exactly one line", function () {
      assert.throws(
        () => loadConfig({ PORT: "0" }),
        (e: unknown) => e instanceof ConfigError && e.message === "PORT must be between 1 and 65535, got 0",
      );
    });

    it("does not pile a combined check onto a value that is already wrong", function () {
      // FINALITY_BLOCKS is compared with CONFIRMATIONS only when both read well.
      oneProblem({ CONFIRMATIONS: "many", FINALITY_BLOCKS: "8" }, /^CONFIRMATIONS must be a whole number/);
      oneProblem(
        { CONFIRMATIONS: "12", FINALITY_BLOCKS: "8" },
        /^FINALITY_BLOCKS \(8\) must be greater than CONFIRMATIONS \(12\); set FINALITY_BLOCKS to at least 64/,
      );
    });

    it("includes callbacks and EletroPay, read from the same environment", function () {
      const config = loadConfig({
        NODE_ENV: "production",
        CALLBACK_SECRET: "s".repeat(32),
        CALLBACK_TIMEOUT_MS: "5000",
        ELETROPAY_PORT: "3101",
      });
      assert.equal(config.callbacks.mode, "production");
      assert.equal(config.callbacks.allowPrivateTargets, false);
      assert.equal(config.callbacks.timeoutMs, 5000);
      assert.equal(config.callbacks.leaseMs, 25_000);
      assert.equal(config.eletropay.enabled, false);
      assert.equal(config.eletropay.port, 3101);
    });
  });

  describe("messages name the fix", function () {
    const seed = Buffer.from("configuration test seed, not a real wallet");
    const testKey = HDKey.fromMasterSeed(seed).derive("m/84'/1'/0'");
    const b58 = createBase58check(sha256);
    // The same key material exported with vpub (BIP84 test network) version bytes.
    const raw = b58.decode(
      new HDKey({
        versions: { private: 0x04358394, public: 0x043587cf },
        publicKey: testKey.publicKey!,
        chainCode: testKey.chainCode!,
        depth: testKey.depth,
        index: testKey.index,
        parentFingerprint: testKey.parentFingerprint,
      }).publicExtendedKey,
    );
    new DataView(raw.buffer, raw.byteOffset).setUint32(0, 0x045f1cf6, false);
    const vpub = b58.encode(raw);
    const eletropay = {
      XPUB_LTC: vpub,
      LTC_RPC_URL: "http://u:p@127.0.0.1:9332/wallet/eletropay",
      ELETROPAY_TOKEN_KEY: "k".repeat(40),
      ELETROPAY_CALLBACK_URL: "https://eletropay.example",
      ELETROPAY_SHARED_SECRET: "s".repeat(32),
    };

    it("a test-network xpub on mainnet says which LTC_NETWORK to set or which keys fit", function () {
      assert.ok(vpub.startsWith("vpub"), vpub);
      const message = oneProblem({ ...eletropay, LTC_NETWORK: "mainnet" }, /^XPUB_LTC: a vpub key/);
      assert.match(message, /is for test networks, but LTC_NETWORK is mainnet/);
      assert.match(message, /set LTC_NETWORK=testnet \(or regtest\)/);
      assert.match(message, /or use a mainnet key \(xpub, ypub, zpub, Ltub, Mtub\)/);
      // And the fix works.
      const config = loadConfig({ ...eletropay, LTC_NETWORK: "testnet" });
      assert.equal(config.eletropay.currencies.LTC?.network, "testnet");
      assert.equal(config.eletropay.enabled, true);
    });

    it("a missing EletroPay setting says what to set", function () {
      const problems = problemsOf({ XPUB_LTC: vpub, LTC_NETWORK: "testnet" });
      assert.equal(problems.length, 4, problems.join("\n"));
      assert.match(problems[0] as string, /^LTC_RPC_URL is required .*set it to the node's JSON-RPC URL/);
      assert.match(problems[1] as string, /^ELETROPAY_TOKEN_KEY is required .*openssl rand -hex 32/);
      assert.match(problems[2] as string, /^ELETROPAY_CALLBACK_URL is required .*set the http\(s\):\/\/ URL/);
      assert.match(problems[3] as string, /set ELETROPAY_SHARED_SECRET .*or set ELETROPAY_ALLOW_IPS/);
    });

    it("says what a valid value looks like", function () {
      oneProblem(
        { CONFIRMATIONS: "twelve" },
        /^CONFIRMATIONS must be a whole number from 1 to 1000, got "twelve"/,
      );
      oneProblem(
        { RPC_URL: "ftp://node" },
        /^RPC_URL must be a URL starting with http:\/\/ or https:\/\/ or ws/,
      );
      oneProblem({ START_BLOCK: "-1" }, /^START_BLOCK must be a block number \(a whole number like 12345\)/);
      oneProblem(
        { CALLBACK_SECRET: "short" },
        /^CALLBACK_SECRET must be at least 16 characters long \(e\.g\./,
      );
      oneProblem(
        { CALLBACK_TIMEOUT_MS: "20000", CALLBACK_LEASE_MS: "15000" },
        /^CALLBACK_LEASE_MS \(15000\) must be greater than CALLBACK_TIMEOUT_MS \(20000\); set CALLBACK_LEASE_MS to at least 40000/,
      );
      oneProblem({ CHAIN_ETHEREUM_RPC_URL: "http://x" }, /CHAINS is not set; set CHAINS/);
    });
  });

  describe("LAN use (HOST=0.0.0.0)", function () {
    const lan = () => ({
      lo: [
        { address: "127.0.0.1", family: "IPv4", internal: true },
        { address: "::1", family: "IPv6", internal: true },
      ],
      docker0: [{ address: "fe80::42:acff:fe11:2", family: "IPv6", internal: false }],
      wlan0: [
        { address: "fe80::1c2d:3e4f:5a6b:7c8d", family: "IPv6", internal: false },
        { address: "192.168.1.23", family: "IPv4", internal: false },
      ],
      eth1: [{ address: "10.0.0.7", family: "IPv4", internal: false }],
    });

    it("links payment_url and qr_code to the first non-internal IPv4 address, not 0.0.0.0", function () {
      for (const HOST of ["0.0.0.0", "::"]) {
        const config = loadConfig({ HOST, PORT: "3100" }, { networkInterfaces: lan as never });
        assert.equal(config.host, HOST, "it still listens on every interface");
        assert.equal(config.publicUrl, "http://192.168.1.23:3100");
        const json = orderToJson(orderRow(), config.publicUrl, null);
        assert.equal(json.payment_url, `http://192.168.1.23:3100/pay/${orderRow().id}`);
        assert.equal(json.qr_code, `http://192.168.1.23:3100/order/${orderRow().id}/qr.svg`);
        assert.doesNotMatch(json.payment_url, /0\.0\.0\.0|\[::\]/);
      }
    });

    it("keeps PUBLIC_URL when it is set, and a specific HOST as it is", function () {
      const set = loadConfig(
        { HOST: "0.0.0.0", PUBLIC_URL: "https://pay.example.com/" },
        { networkInterfaces: lan as never },
      );
      assert.equal(set.publicUrl, "https://pay.example.com");
      const specific = loadConfig({ HOST: "192.168.1.23" }, { networkInterfaces: lan as never });
      assert.equal(specific.publicUrl, "http://192.168.1.23:3000");
    });

    it("refuses to start, naming PUBLIC_URL, when no interface has a LAN address", function () {
      const loopbackOnly = () => ({ lo: [{ address: "127.0.0.1", family: "IPv4", internal: true }] });
      let error: unknown;
      try {
        loadConfig({ HOST: "0.0.0.0" }, { networkInterfaces: loopbackOnly as never });
      } catch (e) {
        error = e;
      }
      assert.ok(error instanceof ConfigProblems, String(error));
      assert.equal(error.problems.length, 1, error.problems.join("\n"));
      assert.match(
        error.problems[0] as string,
        /^HOST=0\.0\.0\.0 .*no non-internal IPv4 address.*set PUBLIC_URL/,
      );
    });
  });

  describe("single chain", function () {
    it("reads RPC_URL and friends unchanged into one unnamed chain mirrored by the flat fields", function () {
      const config = loadConfig({
        RPC_URL: "https://eth.example/rpc",
        RPC_WS_URL: "wss://eth.example/ws",
        CONTRACT_ADDRESS: CONTRACT,
        START_BLOCK: "19000000",
        CONFIRMATIONS: "3",
        POLL_INTERVAL_MS: "250",
        ETH_USD_PRICE: "3000.00",
        PRICE_MAX_AGE_SECONDS: "600",
        TOKENS: `USDC:${ETH_USDC}:6,DAI:0x6B175474E89094C44Da98b954EedeAC495271d0F:18:1`,
      });
      assert.equal(config.chains.length, 1);
      const [chain] = config.chains as [Config["chains"][number]];
      assert.deepEqual(chain, {
        name: undefined,
        expectedChainId: undefined,
        feedCacheMs: 5000,
        rpcUrl: "https://eth.example/rpc",
        rpcWsUrl: "wss://eth.example/ws",
        rpcBatchSize: 50,
        contractAddress: CONTRACT,
        startBlock: 19_000_000n,
        confirmations: 3,
        finalityBlocks: 64,
        pollIntervalMs: 250,
        ethUsdPrice: "3000.00",
        priceFeedAddress: undefined,
        priceMaxAgeSeconds: 600,
        tokens: [
          { symbol: "USDC", address: ETH_USDC, decimals: 6, usdPeg: "1" },
          { symbol: "DAI", address: "0x6B175474E89094C44Da98b954EedeAC495271d0F", decimals: 18, usdPeg: "1" },
        ],
        collectRetryBlocks: 20,
        sequencerGraceSeconds: 3_600,
        l1DataFee: "none",
        peg: { maxDeviationPpm: 20_000n, policy: "quote" },
        watchFullCycleSeconds: 30,
        prefix: "",
      });
      assert.equal(config.chains.length, 1, "single-chain settings make one chain");
    });

    it("keeps the defaults without RPC_URL (npm start sets it) and takes CHAIN_NAME and CHAIN_ID", function () {
      const config = loadConfig({});
      const chain = config.chains[0];
      assert.equal(config.chains.length, 1);
      assert.equal(chain?.rpcUrl, undefined);
      assert.equal(chain?.confirmations, 12);
      assert.equal(chain?.finalityBlocks, 64);
      assert.equal(chain?.pollIntervalMs, 1000);
      assert.deepEqual(chain?.tokens, []);
      assert.equal(config.chains[0]?.name, undefined);
      const named = loadConfig({ RPC_URL: "http://127.0.0.1:8545", CHAIN_NAME: "local", CHAIN_ID: "31337" });
      assert.equal(named.chains[0]?.name, "local");
      assert.equal(named.chains[0]?.expectedChainId, 31337n);
      oneProblem({ CHAIN_NAME: "Main Net" }, /^CHAIN_NAME must use lowercase letters, digits and "-"/);
    });
  });

  describe("several chains", function () {
    const two = {
      CHAINS: "ethereum,base",
      CONFIRMATIONS: "12",
      ETH_USD_PRICE: "3000",
      CHAIN_ETHEREUM_RPC_URL: "https://eth.example/rpc",
      CHAIN_ETHEREUM_CHAIN_ID: "1",
      CHAIN_ETHEREUM_TOKENS: `USDC:${ETH_USDC}:6`,
      CHAIN_BASE_RPC_URL: "wss://base.example/ws",
      CHAIN_BASE_CHAIN_ID: "8453",
      CHAIN_BASE_CONFIRMATIONS: "3",
      CHAIN_BASE_CONTRACT_ADDRESS: CONTRACT,
      CHAIN_BASE_POLL_INTERVAL_MS: "200",
      CHAIN_BASE_TOKENS: `USDC:${BASE_USDC}:6`,
    };

    it("token subscriptions: SUBSCRIPTIONS_ADDRESS per chain (absent: off), COLLECT_RETRY_BLOCKS checked", function () {
      const config = loadConfig({
        ...two,
        CHAIN_BASE_SUBSCRIPTIONS_ADDRESS: BASE_USDC,
        CHAIN_BASE_COLLECT_RETRY_BLOCKS: "7",
      });
      const [ethereum, base] = config.chains as [Config["chains"][number], Config["chains"][number]];
      assert.equal(ethereum.subscriptionsAddress, undefined);
      assert.equal(ethereum.collectRetryBlocks, 20);
      assert.equal(base.subscriptionsAddress, BASE_USDC);
      assert.equal(base.collectRetryBlocks, 7);
      oneProblem({ ...two, CHAIN_BASE_SUBSCRIPTIONS_ADDRESS: "0x1234" }, /^CHAIN_BASE_SUBSCRIPTIONS_ADDRESS/);
      oneProblem({ ...two, COLLECT_RETRY_BLOCKS: "0" }, /^COLLECT_RETRY_BLOCKS/);
    });

    it("reads CHAIN_<NAME>_* with the global variables as defaults", function () {
      const config = loadConfig(two);
      assert.deepEqual(
        config.chains.map((c) => c.name),
        ["ethereum", "base"],
      );
      const [ethereum, base] = config.chains as [Config["chains"][number], Config["chains"][number]];
      assert.equal(ethereum.expectedChainId, 1n);
      assert.equal(ethereum.rpcUrl, "https://eth.example/rpc");
      assert.equal(ethereum.confirmations, 12); // global CONFIRMATIONS
      assert.equal(ethereum.finalityBlocks, 64);
      assert.equal(ethereum.pollIntervalMs, 4000); // the ethereum preset's (docs/chains.md)
      assert.equal(ethereum.contractAddress, undefined);
      // The ethereum preset's own USDC, listed by hand, keeps the preset's USDC/USD feed.
      const [usdc] = ethereum.tokens;
      assert.deepEqual(
        { ...usdc, feed: undefined },
        {
          symbol: "USDC",
          address: ETH_USDC,
          decimals: 6,
          usdPeg: "1",
          feed: undefined,
          feedMaxAgeSeconds: 95_040,
        },
      );
      assert.equal(usdc?.feed?.description, "USDC / USD");
      assert.equal(base.expectedChainId, 8453n);
      assert.equal(base.rpcUrl, "wss://base.example/ws");
      assert.equal(base.confirmations, 3); // overridden
      assert.equal(base.prefix, "CHAIN_BASE_");
      assert.equal(base.finalityBlocks, 450); // the base preset's
      assert.equal(base.pollIntervalMs, 200);
      assert.equal(base.contractAddress, CONTRACT);
      assert.deepEqual(base.tokens, [{ symbol: "USDC", address: BASE_USDC, decimals: 6, usdPeg: "1" }]);
      for (const chain of config.chains) assert.equal(chain.ethUsdPrice, "3000"); // global ETH_USD_PRICE
    });

    it("names per-chain variables in per-chain problems", function () {
      const problems = problemsOf({
        ...two,
        CHAIN_BASE_CONFIRMATIONS: "soon",
        CHAIN_ETHEREUM_FINALITY_BLOCKS: "10",
        CHAIN_BASE_TOKENS: "USDC",
      });
      assert.equal(problems.length, 3, problems.join("\n"));
      assert.match(
        problems[0] as string,
        /^CHAIN_ETHEREUM_FINALITY_BLOCKS \(10\) must be greater than CONFIRMATIONS \(12\)/,
      );
      assert.match(problems[1] as string, /^CHAIN_BASE_CONFIRMATIONS must be a whole number/);
      assert.match(problems[2] as string, /^CHAIN_BASE_TOKENS must look like/);
    });

    it("reports a bad global default once, not once per chain", function () {
      oneProblem({ ...two, PRICE_MAX_AGE_SECONDS: "0" }, /^PRICE_MAX_AGE_SECONDS must be between 1/);
    });

    it("refuses CHAINS together with RPC_URL, saying which to use", function () {
      oneProblem(
        { ...two, RPC_URL: "http://127.0.0.1:8545" },
        /^RPC_URL and CHAINS are both set; with CHAINS, set CHAIN_<NAME>_RPC_URL for each chain .* or remove CHAINS/,
      );
    });

    it("requires each chain's RPC URL", function () {
      const { CHAIN_BASE_RPC_URL: _, ...withoutBase } = two;
      oneProblem(
        withoutBase,
        /^CHAIN_BASE_RPC_URL is required for the chain "base" listed in CHAINS: set it/,
      );
    });

    it("refuses duplicate names, bad names and duplicate chain ids", function () {
      oneProblem({ ...two, CHAINS: "ethereum,base,ethereum" }, /^CHAINS lists "ethereum" twice/);
      oneProblem(
        { ...two, CHAINS: "ethereum,Base" },
        /^CHAINS must list chain names of lowercase letters.*got "Base"/,
      );
      oneProblem(
        { ...two, CHAIN_BASE_CHAIN_ID: "1" },
        /^CHAIN_BASE_CHAIN_ID and CHAIN_ETHEREUM_CHAIN_ID are both 1/,
      );
    });

    it("maps dashes to underscores and flags variables of unknown chains", function () {
      const config = loadConfig({
        CHAINS: "base-sepolia",
        CHAIN_BASE_SEPOLIA_RPC_URL: "https://sepolia.base.example",
      });
      assert.equal(config.chains[0]?.name, "base-sepolia");
      assert.equal(config.chains[0]?.rpcUrl, "https://sepolia.base.example");
      oneProblem(
        { ...two, CHAIN_BSAE_TOKENS: `USDC:${BASE_USDC}:6` },
        /^CHAIN_BSAE_TOKENS matches no chain in CHAINS \(ethereum, base\); add its chain to CHAINS/,
      );
      oneProblem(
        { ...two, CHAIN_BASE_CONFIRMATION: "3" },
        /^CHAIN_BASE_CONFIRMATION is not a per-chain setting; use CHAIN_BASE_<SETTING> with SETTING one of RPC_URL/,
      );
    });
  });
});
