import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ConfigProblems, loadConfig, type ChainConfig } from "../../server/src/config/index.ts";
import { chainNameForId, PRESETS } from "../../server/src/config/presets.ts";

const MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11";
/** Circle's native USDC, as docs/chains.md records it (Circle's "USDC contract addresses" page). */
const USDC: Record<string, [number, string]> = {
  ethereum: [1, "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"],
  sepolia: [11155111, "0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238"],
  base: [8453, "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"],
  "base-sepolia": [84532, "0x036CbD53842c5426634e7929541eC2318f3dCF7e"],
  arbitrum: [42161, "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"],
  "arbitrum-sepolia": [421614, "0x75faf114eafb1BDbe2F0316DF893fd58CE46AA4d"],
  optimism: [10, "0x0b2C639c533813f4Aa9D7837CAf62653d097Ff85"],
  "op-sepolia": [11155420, "0x5fd84259d66Cd46123540766Be93DFE6D43130D7"],
  polygon: [137, "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359"],
  "polygon-amoy": [80002, "0x41E94Eb019C0762f9Bfcf9Fb1E58725BfB0e7582"],
};
const ETH_USD = "0x5f4eC3Df9cbd43714FE2740f5E3616155c5b8419";
const USDC_USD = "0x8fFfFfd4AfB6115b954Bd326cbe7B4BA576818f6";
const USDT = "0xdAC17F958D2ee523a2206206994597C13D831ec7";
const USDT_USD = "0x3E7d1eAB13ad0104d2750B8863b489D65364e32D";
const OTHER = "0x00000000000000000000000000000000000000aa";
const OTHER_FEED = "0x00000000000000000000000000000000000000bb";

/** The one chain of `env` (CHAINS=<name>), with an RPC URL. */
function chainOf(name: string, env: Record<string, string> = {}): ChainConfig {
  const prefix = `CHAIN_${name.toUpperCase().replace(/-/g, "_")}_`;
  const config = loadConfig({ CHAINS: name, [`${prefix}RPC_URL`]: "https://rpc.example", ...env });
  assert.equal(config.chains.length, 1);
  return config.chains[0] as ChainConfig;
}

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigProblems, String(error));
    return error.problems;
  }
  assert.fail(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe("chain presets", function () {
  it("CHAINS=base and its RPC URL are a whole chain: the preset supplies the rest", function () {
    const chain = chainOf("base");
    assert.equal(chain.name, "base");
    assert.equal(chain.expectedChainId, 8453n);
    assert.equal(chain.multicall3Address, MULTICALL3);
    assert.deepEqual(chain.tokens, [{ symbol: "USDC", address: USDC.base?.[1], decimals: 6, usdPeg: "1" }]);
    assert.equal(chain.confirmations, 10);
    assert.equal(chain.finalityBlocks, 450);
    assert.equal(chain.blockTimeMs, 2_000);
    assert.equal(chain.pollIntervalMs, 1_000);
    // No Base ETH/USD feed or sequencer feed could be verified: none is shipped (docs/chains.md).
    assert.equal(chain.priceFeedAddress, undefined);
    assert.equal(chain.sequencerUptimeFeed, undefined);
    assert.equal(chain.priceMaxAgeSeconds, 3_600);
    assert.deepEqual(chain.preset, {
      name: "base",
      label: "Base",
      nativeSymbol: "ETH",
      l2: true,
      supplied: [
        "CONFIRMATIONS",
        "FINALITY_BLOCKS",
        "CHAIN_ID",
        "TOKENS",
        "POLL_INTERVAL_MS",
        "MULTICALL3_ADDRESS",
        "L1_DATA_FEE",
      ],
    });
    assert.equal(chain.l1DataFee, "op", "an OP-stack chain: the GasPriceOracle's L1 data fee");
  });

  it("CHAINS=ethereum: the ETH/USD feed with its heartbeat, USDC and USDT with theirs", function () {
    const chain = chainOf("ethereum");
    assert.equal(chain.expectedChainId, 1n);
    assert.equal(chain.priceFeedAddress, ETH_USD);
    assert.deepEqual(chain.priceFeedExpected, { description: "ETH / USD", heartbeatSeconds: 3_600 });
    assert.equal(chain.priceMaxAgeSeconds, 3_960, "one heartbeat and 10 %");
    assert.deepEqual(chain.tokens, [
      {
        symbol: "USDC",
        address: USDC.ethereum?.[1],
        decimals: 6,
        usdPeg: "1",
        feed: { address: USDC_USD, description: "USDC / USD", decimals: 8, heartbeatSeconds: 86_400 },
        feedMaxAgeSeconds: 95_040,
      },
      {
        symbol: "USDT",
        address: USDT,
        decimals: 6,
        usdPeg: "1",
        feed: { address: USDT_USD, description: "USDT / USD", decimals: 8, heartbeatSeconds: 86_400 },
        feedMaxAgeSeconds: 95_040,
      },
    ]);
    assert.equal(chain.confirmations, 12);
    assert.equal(chain.finalityBlocks, 64);
    assert.equal(chain.blockTimeMs, 12_000);
    assert.equal(chain.pollIntervalMs, 4_000, "a third of a 12 s block");
    assert.equal(chain.preset?.l2, false);
  });

  it("every preset: viem's chain id and name, Circle's USDC, Multicall3", function () {
    assert.deepEqual(
      PRESETS.map((p) => p.name),
      Object.keys(USDC),
    );
    for (const [name, [id, usdc]] of Object.entries(USDC)) {
      const chain = chainOf(name);
      assert.equal(chain.expectedChainId, BigInt(id), name);
      assert.equal(chain.tokens[0]?.symbol, "USDC", name);
      assert.equal(chain.tokens[0]?.address, usdc, name);
      assert.equal(chain.tokens[0]?.decimals, 6, name);
      assert.equal(chain.multicall3Address, MULTICALL3, name);
      assert.ok(chain.finalityBlocks > chain.confirmations, name);
      assert.equal(chainNameForId(BigInt(id)), name);
    }
    assert.equal(chainOf("polygon").preset?.nativeSymbol, "POL");
    assert.equal(chainOf("base-sepolia").preset?.label, "Base Sepolia");
    assert.equal(chainNameForId(31337n), "hardhat");
    assert.equal(chainNameForId(999_999n), undefined);
  });

  it("docs/chains.md records every address a preset ships", function () {
    const docs = readFileSync(new URL("../../docs/chains.md", import.meta.url), "utf8").toLowerCase();
    for (const preset of PRESETS) {
      const addresses = [
        preset.multicall3,
        preset.nativeUsdFeed?.address,
        preset.sequencerUptimeFeed,
        ...preset.tokens.flatMap((t) => [t.address, t.feed?.address]),
      ].filter((a) => a !== undefined);
      for (const address of addresses) {
        assert.ok(
          docs.includes(address.toLowerCase()),
          `${preset.name}: ${address} is not in docs/chains.md`,
        );
      }
    }
  });

  describe("every preset value can be overridden", function () {
    it("by the chain's own variable", function () {
      const chain = chainOf("ethereum", {
        CHAIN_ETHEREUM_CHAIN_ID: "31337",
        CHAIN_ETHEREUM_TOKENS: `EURC:${OTHER}:6`,
        CHAIN_ETHEREUM_PRICE_FEED_ADDRESS: OTHER_FEED,
        CHAIN_ETHEREUM_MULTICALL3_ADDRESS: OTHER,
        CHAIN_ETHEREUM_CONFIRMATIONS: "3",
        CHAIN_ETHEREUM_FINALITY_BLOCKS: "9",
        CHAIN_ETHEREUM_POLL_INTERVAL_MS: "250",
        CHAIN_ETHEREUM_SEQUENCER_UPTIME_FEED_ADDRESS: OTHER_FEED,
      });
      assert.equal(chain.expectedChainId, 31337n);
      assert.deepEqual(chain.tokens, [{ symbol: "EURC", address: OTHER, decimals: 6, usdPeg: "1" }]);
      assert.equal(chain.priceFeedAddress, OTHER_FEED);
      assert.equal(
        chain.priceFeedExpected,
        undefined,
        "another feed: the preset's description does not apply",
      );
      assert.equal(chain.priceMaxAgeSeconds, 3_600, "nor its heartbeat");
      assert.equal(chain.multicall3Address, OTHER);
      assert.equal(chain.confirmations, 3);
      assert.equal(chain.finalityBlocks, 9);
      assert.equal(chain.pollIntervalMs, 250);
      assert.equal(chain.sequencerUptimeFeed, OTHER_FEED);
      assert.deepEqual(chain.preset?.supplied, []);
    });

    it("by the global variable, and the chain's own beats both", function () {
      const chain = chainOf("ethereum", {
        CONFIRMATIONS: "20",
        PRICE_MAX_AGE_SECONDS: "7200",
        TOKENS: `USDC:${USDC.ethereum?.[1]}:6`,
        CHAIN_ETHEREUM_FINALITY_BLOCKS: "100",
        FINALITY_BLOCKS: "90",
      });
      assert.equal(chain.confirmations, 20);
      assert.equal(chain.finalityBlocks, 100);
      assert.equal(chain.priceMaxAgeSeconds, 7_200);
      assert.equal(chain.priceFeedAddress, ETH_USD, "not overridden: still the preset's");
      // The preset's own USDC, listed by hand, keeps its feed; USDT is no longer accepted.
      assert.deepEqual(
        chain.tokens.map((t) => [t.symbol, t.feed?.address]),
        [["USDC", USDC_USD]],
      );
      assert.deepEqual(chain.preset?.supplied, [
        "CHAIN_ID",
        "PRICE_FEED_ADDRESS",
        "POLL_INTERVAL_MS",
        "MULTICALL3_ADDRESS",
      ]);
    });

    it("ETH_USD_PRICE replaces the missing feed of a preset that ships none", function () {
      const chain = chainOf("base-sepolia", { CHAIN_BASE_SEPOLIA_ETH_USD_PRICE: "3000" });
      assert.equal(chain.ethUsdPrice, "3000");
    });
  });

  it("an unknown preset name is one line listing the presets", function () {
    const problems = problemsOf({ CHAINS: "bsae", CHAIN_BSAE_RPC_URL: "https://rpc.example" });
    assert.equal(problems.length, 1, problems.join("\n"));
    assert.equal(
      problems[0],
      'CHAINS lists "bsae", which is no preset (presets: ethereum, sepolia, base, base-sepolia, arbitrum, ' +
        "arbitrum-sepolia, optimism, op-sepolia, polygon, polygon-amoy); fix the name, or describe a chain of " +
        "your own by setting CHAIN_BSAE_CHAIN_ID with its RPC URL, contract, price and tokens",
    );
  });

  it("a chain of one's own is no preset: it says its chain id and gets no preset values", function () {
    const chain = chainOf("devnet", { CHAIN_DEVNET_CHAIN_ID: "31337" });
    assert.equal(chain.preset, undefined);
    assert.deepEqual(chain.tokens, []);
    assert.equal(chain.multicall3Address, undefined);
    assert.equal(chain.confirmations, 12);
    assert.equal(chain.pollIntervalMs, 1_000);
  });

  it("a preset's RPC URL is required, naming the chain it must reach", function () {
    const problems = problemsOf({ CHAINS: "base-sepolia" });
    assert.deepEqual(problems, [
      'CHAIN_BASE_SEPOLIA_RPC_URL is required for the chain "base-sepolia" listed in CHAINS: set it to a JSON-RPC endpoint of Base Sepolia (chain 84532; http(s):// or ws(s)://)',
    ]);
  });
});
