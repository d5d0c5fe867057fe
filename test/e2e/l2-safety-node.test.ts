import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { parseEther, type Hex } from "viem";
import type { Env } from "../../server/src/config/index.ts";
import { findPreset } from "../../server/src/config/presets.ts";
import { createMerchant, setPlugins } from "../../server/src/merchants/service.ts";
import type { System } from "../../server/src/system.ts";
import { ONLY_GIVEN_CHAINS } from "../support/config.ts";
import type { TestDb } from "../support/db.ts";
import {
  FEED,
  placeAt,
  placeFeed,
  startNodeChain,
  writeMock,
  type NodeChain,
} from "../support/node-chain.ts";
import { startNodeSystem, type NodeSystem } from "../support/node-system.ts";
import { until } from "../support/until.ts";

const MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11";
const STABLECOIN = "mocks/MockStablecoin.sol/MockStablecoin.json";
const CONFIRMATIONS = 2;
const GRACE = 600;

interface OrderJson {
  id: number;
  address: Hex;
  expected_amount: string;
  eth_price: string;
  status: string;
  paid: boolean;
  confirmations: number;
  token: string;
  price_source: string | null;
}
interface ErrorJson {
  error: { code: string; message: string };
}

const nowSeconds = () => BigInt(Math.floor(Date.now() / 1000));

/** Writes a round of a mock feed: answer, updatedAt and startedAt (seconds). */
let round = 100n;
function setRound(node: NodeChain, feed: Hex, answer: bigint, updatedAt: bigint, startedAt = updatedAt) {
  round += 1n;
  return writeMock(node, feed, "updateRoundData", [round, answer, updatedAt, startedAt]);
}

async function postOrder(system: System, payload: Record<string, string>) {
  return system.app.inject({
    method: "POST",
    url: "/order",
    payload: { amount: "13.54", callback: "http://127.0.0.1:9/cb", ...payload },
  });
}

/**
 * An L2's sequencer uptime feed (Chainlink: answer 0 up, 1 down, startedAt = when that status
 * began) on a real `hardhat node`, through the API: new orders get 503 sequencer_down while the
 * sequencer is down and for SEQUENCER_GRACE_SECONDS after it is back; an order already paid goes
 * on counting its confirmations.
 */
describe("sequencer uptime feed: new orders wait out a down sequencer and its grace period", function () {
  this.timeout(180_000);
  let node: NodeChain;
  let t: TestDb;
  let system: System;
  let feed: Hex;
  let started: NodeSystem;

  before(async function () {
    started = await startNodeSystem({
      modules: ["multicall3"],
      prepare: async (chain) => {
        // A sequencer uptime feed: 0 decimals, answering 0 (up) since two hours ago.
        feed = await chain.deploy(FEED, [0, 0n]);
        await setRound(chain, feed, 0n, nowSeconds() - 7_200n);
      },
      env: () => ({
        // Orders without an API key up to $100,000 (the default needs one from $5.00).
        ANONYMOUS_MAX_USD: "100000",
        // The system runs its own indexer (the order below counts its confirmations).
        RUN_INDEXER: undefined,
        CONFIRMATIONS: String(CONFIRMATIONS),
        POLL_INTERVAL_MS: "100",
        ETH_USD_PRICE: "3000",
        SEQUENCER_UPTIME_FEED_ADDRESS: feed,
        SEQUENCER_GRACE_SECONDS: String(GRACE),
        // The test moves the feed and asks at once: every use reads it (the default reuses it 5 s).
        FEED_CACHE_MS: "0",
      }),
    });
    ({ chain: node, testDb: t, system } = started);
  });
  after(async function () {
    await started?.close();
  });

  let paid: OrderJson;

  it("takes orders while the sequencer has been up longer than the grace period", async function () {
    const res = await postOrder(system, { address: node.merchant });
    assert.equal(res.statusCode, 200, res.body);
    paid = res.json() as OrderJson;
    // Paid now, by a plain transfer to its deposit address.
    const hash = await node.wallet.sendTransaction({
      account: node.customer,
      to: paid.address,
      value: parseEther(paid.expected_amount),
      chain: null,
    });
    await node.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  });

  it("refuses new orders with 503 sequencer_down while the feed answers 1, saying what to do", async function () {
    await setRound(node, feed, 1n, nowSeconds());
    const res = await postOrder(system, { address: node.merchant });
    assert.equal(res.statusCode, 503, res.body);
    assert.equal(res.headers["retry-after"], "30");
    const body = res.json() as ErrorJson;
    assert.equal(body.error.code, "sequencer_down");
    assert.match(
      body.error.message,
      /^The sequencer of hardhat \(chain 31337\) is down \(since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\): a payment could not be included in time\. New orders on it are paused until it has been back up for 600 s; try again later or use another chain\.$/,
    );
  });

  it("a new subscription (its first period payable at once) is refused the same way", async function () {
    const key = (await createMerchant(t.db, "gym@example.com", "seller")).apiKey;
    await setPlugins(t.db, "gym@example.com", { recurring_payments: true });
    const res = await system.app.inject({
      method: "POST",
      url: "/recurring",
      headers: { authorization: key },
      payload: { amount: "10.00", address: node.merchant, callback: "http://127.0.0.1:9/recurring" },
    });
    assert.equal(res.statusCode, 503, res.body);
    assert.equal((res.json() as ErrorJson).error.code, "sequencer_down");
  });

  it("an order paid before goes on to its confirmations while new orders are refused", async function () {
    await node.mine(CONFIRMATIONS);
    const order = await until(
      async () => {
        const res = await system.app.inject({ method: "GET", url: `/order/${paid.id}` });
        assert.equal(res.statusCode, 200, res.body);
        const o = res.json() as OrderJson;
        return o.confirmations >= CONFIRMATIONS ? o : undefined;
      },
      60_000,
      `order ${paid.id} to reach ${CONFIRMATIONS} confirmations`,
    );
    assert.equal(order.status, "success");
    assert.equal(order.paid, true);
    assert.equal((await postOrder(system, { address: node.merchant })).statusCode, 503);
  });

  it("still refuses them for SEQUENCER_GRACE_SECONDS after it is back up, saying when they resume", async function () {
    await setRound(node, feed, 0n, nowSeconds() - 60n);
    const res = await postOrder(system, { address: node.merchant });
    assert.equal(res.statusCode, 503, res.body);
    const body = res.json() as ErrorJson;
    assert.equal(body.error.code, "sequencer_down");
    const remaining = Number(/in (\d+) s\./.exec(body.error.message)?.[1]);
    assert.ok(remaining > 500 && remaining <= 540, body.error.message);
    assert.match(body.error.message, /resume after a grace period of 600 s/);
  });

  it("takes orders again once the grace period is over", async function () {
    await setRound(node, feed, 0n, nowSeconds() - BigInt(GRACE) - 1n);
    const res = await postOrder(system, { address: node.merchant });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((res.json() as OrderJson).price_source, "static");
  });
});

/**
 * Per-feed staleness and the peg rule on a node posing as Ethereum (the preset's feeds at their
 * addresses): ETH/USD is stale after its 1 h heartbeat (+10 %), USDC/USD after its 24 h one; a
 * stablecoin whose feed is off its peg by more than PEG_MAX_DEVIATION is quoted at the feed's price
 * (PEG_POLICY=quote, the default) or refused (PEG_POLICY=refuse), and the order says which.
 */
describe("token feeds: each judged against its own heartbeat; a stablecoin off its peg", function () {
  this.timeout(240_000);
  const preset = findPreset("ethereum")!;
  const [usdc, usdt] = preset.tokens as [(typeof preset.tokens)[number], (typeof preset.tokens)[number]];
  const ethFeed = preset.nativeUsdFeed!.address;
  const usdcFeed = usdc.feed!.address;
  let node: NodeChain;
  let quote: NodeSystem;

  // Each system gets its own database; the node stays the test's.
  const start = (env: Env = {}) =>
    startNodeSystem({
      chain: node,
      env: {
        ...ONLY_GIVEN_CHAINS,
        // Orders without an API key up to $100,000 (the default needs one from $5.00).
        ANONYMOUS_MAX_USD: "100000",
        RUN_INDEXER: "false",
        CHAINS: "ethereum",
        CHAIN_ETHEREUM_RPC_URL: node.url,
        CHAIN_ETHEREUM_CONTRACT_ADDRESS: node.contract,
        // The test moves the feeds and asks at once: every use reads them (the default reuses them 5 s).
        FEED_CACHE_MS: "0",
        ...env,
      },
    });

  before(async function () {
    node = await startNodeChain({ chainId: 1 });
    await placeAt(node, STABLECOIN, usdc.address);
    await placeAt(node, STABLECOIN, usdt.address);
    await placeAt(node, "mocks/Multicall3.sol/Multicall3.json", MULTICALL3);
    await placeFeed(node, ethFeed, "ETH / USD");
    await placeFeed(node, usdcFeed, "USDC / USD", 1_00000000n);
    await placeFeed(node, usdt.feed!.address, "USDT / USD", 1_00000000n);
    quote = await start();
  });
  after(async function () {
    await quote?.close();
    await node?.stop();
  });

  it("a stablecoin on its peg is quoted at the peg (price_source peg); ETH at its feed (price_source feed)", async function () {
    await setRound(node, usdcFeed, 99_500000n, nowSeconds()); // $0.995: 0.5 % off, within 2 %
    const res = await postOrder(quote.system, { address: node.merchant, token: "USDC" });
    assert.equal(res.statusCode, 200, res.body);
    const o = res.json() as OrderJson;
    assert.equal(o.token, "USDC");
    assert.equal(o.expected_amount, "13.54");
    assert.equal(o.eth_price, "1.00");
    assert.equal(o.price_source, "peg");
    const eth = await postOrder(quote.system, { address: node.merchant });
    assert.equal(eth.statusCode, 200, eth.body);
    assert.equal((eth.json() as OrderJson).price_source, "feed");
  });

  it("off its peg by more than 2 %, it is quoted at the feed's price (PEG_POLICY=quote, the default)", async function () {
    await setRound(node, usdcFeed, 95_000000n, nowSeconds()); // $0.95: 5 % off
    const res = await postOrder(quote.system, { address: node.merchant, token: "USDC" });
    assert.equal(res.statusCode, 200, res.body);
    const o = res.json() as OrderJson;
    assert.equal(o.price_source, "feed");
    assert.equal(o.eth_price, "0.95");
    // 13.54 / 0.95 = 14.252631…, rounded up at the token's 6 decimals.
    assert.equal(o.expected_amount, "14.252632");
    const read = await quote.system.app.inject({ method: "GET", url: `/order/${o.id}` });
    assert.equal((read.json() as OrderJson).price_source, "feed", "the order keeps saying how it was priced");
  });

  it("with PEG_POLICY=refuse it is refused with 503 token_off_peg, saying what to do", async function () {
    const refuse = await start({ CHAIN_ETHEREUM_PEG_POLICY: "refuse" });
    try {
      const res = await postOrder(refuse.system, { address: node.merchant, token: "USDC" });
      assert.equal(res.statusCode, 503, res.body);
      assert.deepEqual(res.json(), {
        error: {
          code: "token_off_peg",
          message:
            "USDC is off its peg: its USD feed says $0.9500, more than PEG_MAX_DEVIATION (2%) from $1.0000, " +
            "so USDC orders are refused (PEG_POLICY=refuse); pay in ETH or another token, or try again once it is back on its peg",
        },
      });
      // USDT, on its peg, and ETH are still taken.
      assert.equal(
        (await postOrder(refuse.system, { address: node.merchant, token: "USDT" })).statusCode,
        200,
      );
      assert.equal((await postOrder(refuse.system, { address: node.merchant })).statusCode, 200);
    } finally {
      await refuse.close();
    }
  });

  it("two hours without an update: ETH/USD (1 h heartbeat) is stale, USDC/USD (24 h heartbeat) is not", async function () {
    const twoHoursAgo = nowSeconds() - 7_200n;
    await setRound(node, ethFeed, 3000_00000000n, twoHoursAgo);
    await setRound(node, usdcFeed, 1_00000000n, twoHoursAgo);
    const eth = await postOrder(quote.system, { address: node.merchant });
    assert.equal(eth.statusCode, 503, eth.body);
    const body = eth.json() as ErrorJson;
    assert.equal(body.error.code, "price_stale");
    assert.match(
      body.error.message,
      /^The ETH\/USD price is stale \(last updated \d+ s ago, limit 3960 s for this feed\)/,
    );
    const token = await postOrder(quote.system, { address: node.merchant, token: "USDC" });
    assert.equal(token.statusCode, 200, token.body);
    assert.equal((token.json() as OrderJson).price_source, "peg");
  });

  it("a USDC/USD feed past its own heartbeat refuses USDC orders as price_stale; TOKEN_PRICE_MAX_AGE_SECONDS overrides it", async function () {
    await setRound(node, ethFeed, 3000_00000000n, nowSeconds());
    await setRound(node, usdcFeed, 1_00000000n, nowSeconds() - 100_000n); // 27.8 h
    const res = await postOrder(quote.system, { address: node.merchant, token: "USDC" });
    assert.equal(res.statusCode, 503, res.body);
    const body = res.json() as ErrorJson;
    assert.equal(body.error.code, "price_stale");
    assert.match(
      body.error.message,
      /^The USDC\/USD price is stale \(last updated \d+ s ago, limit 95040 s for this feed\)/,
    );
    assert.equal(
      (await postOrder(quote.system, { address: node.merchant })).statusCode,
      200,
      "ETH orders go on",
    );
    const longer = await start({ CHAIN_ETHEREUM_TOKEN_PRICE_MAX_AGE_SECONDS: "USDC:172800" });
    try {
      const ok = await postOrder(longer.system, { address: node.merchant, token: "USDC" });
      assert.equal(ok.statusCode, 200, ok.body);
    } finally {
      await longer.close();
    }
  });
});
