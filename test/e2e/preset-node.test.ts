import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { ConfigProblems } from "../../server/src/config/index.ts";
import { findPreset } from "../../server/src/config/presets.ts";
import { ONLY_GIVEN_CHAINS } from "../support/config.ts";
import {
  FEED,
  placeAt,
  placeFeed,
  setDescription,
  startNodeChain,
  type NodeChain as Node,
} from "../support/node-chain.ts";
import { startNodeSystem, type NodeSystem } from "../support/node-system.ts";

const ADMIN_TOKEN = "admin-token-for-the-preset-tests-0123456789";
const MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11";
const STABLECOIN = "mocks/MockStablecoin.sol/MockStablecoin.json";
/** A test system on `node`: nothing about chains but what `chain` gives. */
const startWith = (node: Node, chain: Record<string, string>) =>
  startNodeSystem({
    chain: node,
    env: { ...ONLY_GIVEN_CHAINS, ADMIN_TOKEN, PUBLIC_URL: "http://pos.test", ...chain },
  });

/** The problems start-up reports for `chain`; fails when it starts. */
async function startupProblems(node: Node, chain: Record<string, string>): Promise<readonly string[]> {
  let started: NodeSystem | undefined;
  try {
    started = await startWith(node, chain);
  } catch (error) {
    assert.ok(error instanceof ConfigProblems || error instanceof Error, String(error));
    return error instanceof ConfigProblems ? error.problems : [(error as Error).message];
  }
  await started.close();
  assert.fail("start-up accepted the configuration");
}

describe("chain presets against a node with the preset's chain id", function () {
  this.timeout(180_000);

  describe("base-sepolia (chain 84532)", function () {
    const preset = findPreset("base-sepolia")!;
    const usdc = preset.tokens[0]!.address;
    let node: Node;
    let feed: `0x${string}`;
    before(async function () {
      node = await startNodeChain({ chainId: 84_532 });
      await placeAt(node, STABLECOIN, usdc);
      await placeAt(node, "mocks/Multicall3.sol/Multicall3.json", MULTICALL3);
      feed = await node.deploy(FEED, [8, 3000_00000000n]);
    });
    after(async function () {
      await node?.stop();
    });

    it("starts with CHAINS=base-sepolia and its RPC URL: the preset supplies the chain", async function () {
      const chainVariables = {
        CHAINS: "base-sepolia",
        CHAIN_BASE_SEPOLIA_RPC_URL: node.url,
        // What the deployment made (`npm run deploy` prints it), not a description of the chain.
        CHAIN_BASE_SEPOLIA_CONTRACT_ADDRESS: node.contract,
        // The one value the preset does not ship: no Base Sepolia ETH/USD feed could be verified
        // (docs/chains.md, "Not shipped").
        CHAIN_BASE_SEPOLIA_PRICE_FEED_ADDRESS: feed,
      };
      const started = await startWith(node, chainVariables);
      const { system } = started;
      try {
        const [chain] = system.chains;
        assert.equal(chain?.name, "base-sepolia");
        assert.equal(chain?.chainId, 84_532n);
        assert.equal(chain?.confirmations, 5);
        assert.equal(chain?.multicall3, MULTICALL3);
        assert.deepEqual(
          chain?.tokens.map((token) => [token.symbol, token.address, token.decimals]),
          [["USDC", usdc, 6]],
        );
        const res = await system.app.inject({
          method: "POST",
          url: "/order",
          payload: {
            amount: "2.00",
            address: node.merchant,
            token: "USDC",
            callback: "http://127.0.0.1:9/callback",
          },
        });
        assert.equal(res.statusCode, 200, res.body);
        const order = res.json() as { chain_id: number; token: string; expected_amount: string };
        assert.equal(order.chain_id, 84_532);
        assert.equal(order.token, "USDC");
        assert.equal(order.expected_amount, "2");
      } finally {
        await started.close();
      }
    });

    it("without a price the one line names the variable to set and where to find the feed", async function () {
      const problems = await startupProblems(node, {
        CHAINS: "base-sepolia",
        CHAIN_BASE_SEPOLIA_RPC_URL: node.url,
        CHAIN_BASE_SEPOLIA_CONTRACT_ADDRESS: node.contract,
      });
      assert.deepEqual(problems, [
        "preset base-sepolia ships no ETH/USD feed for Base Sepolia (none could be verified for it; docs/chains.md): " +
          "set CHAIN_BASE_SEPOLIA_PRICE_FEED_ADDRESS (a Chainlink ETH/USD AggregatorV3 on chain 84532; " +
          "https://docs.chain.link/data-feeds/price-feeds/addresses) or CHAIN_BASE_SEPOLIA_ETH_USD_PRICE",
      ]);
    });

    it("a preset pointed at another chain is one line naming the preset", async function () {
      const problems = await startupProblems(node, { CHAINS: "base", CHAIN_BASE_RPC_URL: node.url });
      assert.deepEqual(problems, [
        "preset base: the node at CHAIN_BASE_RPC_URL reports chain 84532, not Base's 8453; point CHAIN_BASE_RPC_URL " +
          "at Base, or set CHAIN_BASE_CHAIN_ID to override (the preset's addresses are Base's)",
      ]);
    });
  });

  describe("base (chain 8453) with nothing at Base's USDC address", function () {
    let node: Node;
    before(async function () {
      node = await startNodeChain({ chainId: 8_453 });
      await placeAt(node, "mocks/Multicall3.sol/Multicall3.json", MULTICALL3);
    });
    after(async function () {
      await node?.stop();
    });

    it("is one line naming the preset, the value and the variable that overrides it", async function () {
      const problems = await startupProblems(node, {
        CHAINS: "base",
        CHAIN_BASE_RPC_URL: node.url,
        CHAIN_BASE_CONTRACT_ADDRESS: node.contract,
        CHAIN_BASE_ETH_USD_PRICE: "3000",
      });
      assert.deepEqual(problems, [
        "preset base: USDC 0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913 has no contract code on chain 8453 (base); " +
          "check that CHAIN_BASE_RPC_URL points at Base, or set CHAIN_BASE_TOKENS to override",
      ]);
    });
  });

  describe("ethereum (chain 1): feeds with their descriptions", function () {
    const preset = findPreset("ethereum")!;
    const [usdc, usdt] = preset.tokens as [(typeof preset.tokens)[number], (typeof preset.tokens)[number]];
    let node: Node;
    before(async function () {
      node = await startNodeChain({ chainId: 1 });
      await placeAt(node, STABLECOIN, usdc.address);
      await placeAt(node, STABLECOIN, usdt.address);
      await placeAt(node, "mocks/Multicall3.sol/Multicall3.json", MULTICALL3);
      await placeFeed(node, preset.nativeUsdFeed!.address, "ETH / USD");
      await placeFeed(node, usdc.feed!.address, "USDC / USD", 1_00000000n);
      await placeFeed(node, usdt.feed!.address, "USDT / USD", 1_00000000n);
    });
    after(async function () {
      await node?.stop();
    });

    it("starts with CHAINS=ethereum and its RPC URL, pricing ETH by the preset's feed", async function () {
      const started = await startWith(node, {
        CHAINS: "ethereum",
        CHAIN_ETHEREUM_RPC_URL: node.url,
        CHAIN_ETHEREUM_CONTRACT_ADDRESS: node.contract,
      });
      const { system } = started;
      try {
        const [chain] = system.chains;
        assert.equal(chain?.chainId, 1n);
        assert.deepEqual(
          chain?.tokens.map((token) => token.symbol),
          ["USDC", "USDT"],
        );
        const price = await chain!.prices.ethUsd();
        assert.equal(price.value, 3000_00000000n);
        assert.equal(price.source, `chainlink:${preset.nativeUsdFeed!.address}`);
      } finally {
        await started.close();
      }
    });

    it("a feed that describes another pair is one line naming the preset and the override", async function () {
      await setDescription(node, usdt.feed!.address, "BTC / USD");
      try {
        const problems = await startupProblems(node, {
          CHAINS: "ethereum",
          CHAIN_ETHEREUM_RPC_URL: node.url,
          CHAIN_ETHEREUM_CONTRACT_ADDRESS: node.contract,
        });
        assert.deepEqual(problems, [
          `preset ethereum: USDT/USD feed ${usdt.feed!.address} on chain 1 (ethereum) describes itself as "BTC / USD", ` +
            'not "USDT / USD": it is another feed; set CHAIN_ETHEREUM_TOKENS to override (an entry the preset does not list carries no feed)',
        ]);
      } finally {
        await setDescription(node, usdt.feed!.address, "USDT / USD");
      }
    });
  });
});
