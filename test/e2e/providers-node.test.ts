import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { after, before, describe, it } from "mocha";
import pino from "pino";
import { parseAbi, parseEther, parseUnits, type Hex } from "viem";
import { depositsAbi } from "../../server/src/deposits/abi.ts";
import type { System } from "../../server/src/system.ts";
import type { TestDb } from "../support/db.ts";
import { startNodeSystem, type NodeChain, type NodeSystem } from "../support/node-system.ts";
import {
  PERSONALITIES,
  PLAIN,
  startProviderSim,
  type Personality,
  type ProviderSim,
} from "../support/provider-sim.ts";
import { until } from "../support/until.ts";

/**
 * The whole system behind a simulated hosted provider (test/support/provider-sim.ts) in front of a
 * `hardhat node` process: it starts through a burst of 429s, then a payment stream (payments
 * through the contract, ETH and USDC transfers to deposit addresses, their sweeps) runs through
 * each personality in turn: eth_getLogs range limits (Alchemy, QuickNode), a result cap (Infura), a
 * batch cap (geth/Bor), 429 bursts with and without Retry-After, slow answers, no `finalized` tag
 * and no reads by block hash, connection resets. Every order reaches its status, each callback is
 * queued once, and POST /order and GET /health keep answering through the bursts.
 */
describe("hosted providers as they are: a payment stream through each provider personality", function () {
  this.timeout(600_000);
  const CONFIRMATIONS = 2;
  /** Blocks read one by one behind the head (a realtime step asks for their headers at once). */
  const FINALITY = 16;
  const ADMIN_TOKEN = "admin-token-for-the-provider-tests-0123456789";
  let node: NodeSystem;
  let chain: NodeChain;
  let sim: ProviderSim;
  let testDb: TestDb;
  let system: System;
  let usdc: `0x${string}`;
  const lines: string[] = [];
  const erc20 = parseAbi([
    "function mint(address to, uint256 amount)",
    "function transfer(address to, uint256 amount) returns (bool)",
  ]);
  const ETH = "0x0000000000000000000000000000000000000000";

  before(async function () {
    const log = pino(
      { level: "info" },
      {
        write: (line: string) => {
          lines.push(line);
        },
      },
    );
    let feed: Hex | undefined;
    node = await startNodeSystem({
      modules: ["multicall3", "usdc"],
      prepare: async (chain, deployed) => {
        feed = await chain.deploy("mocks/MockV3Aggregator.sol/MockV3Aggregator.json", [
          8,
          2_000n * 10n ** 8n,
        ]);
        await chain.wallet.writeContract({
          address: deployed.usdc!,
          abi: erc20,
          functionName: "mint",
          args: [chain.customer, parseUnits("100000", 6)],
          account: chain.owner,
          chain: null,
        });
        // Start-up meets 429 bursts longer than the transport's own retries last.
        sim = await startProviderSim(chain.url, {
          name: "start-up: 8 s of 429s in every 10 s, no finalized tag",
          rateLimit: { periodMs: 10_000, burstMs: 8_000 },
          noFinalized: true,
        });
      },
      // The system reads the node through the simulator and runs its own indexer; prices come
      // from the feed (no ETH_USD_PRICE), indexing from block 0 without START_BLOCK.
      env: () => ({
        RPC_URL: sim.url,
        RUN_INDEXER: undefined,
        START_BLOCK: undefined,
        ETH_USD_PRICE: undefined,
        ADMIN_TOKEN,
        PRICE_FEED_ADDRESS: feed,
        PRICE_MAX_AGE_SECONDS: "86400",
        CONFIRMATIONS: String(CONFIRMATIONS),
        FINALITY_BLOCKS: String(FINALITY),
        POLL_INTERVAL_MS: "50",
        RPC_BATCH_SIZE: "50",
        PUBLIC_URL: "http://pos.test",
      }),
      log,
    });
    ({ chain, testDb, system } = node);
    usdc = node.usdc!;
    // The indexer asks for the `finalized` block once, on its first head; it must meet this
    // personality then (on a loaded machine that first head can come after start-up returns).
    await until(
      async () => (lines.join("").includes('serves no \\"finalized\\" block') ? true : undefined),
      60_000,
      "the indexer learnt that the provider serves no finalized block",
    );
  });

  after(async function () {
    if (process.env.PROVIDERS_TEST_LOG) writeFileSync(process.env.PROVIDERS_TEST_LOG, lines.join(""));
    await node?.close();
    await sim?.close();
  });

  interface OrderJson {
    id: number;
    reference: Hex;
    address: `0x${string}`;
    expected_amount: string;
    status: string;
    amount_paid: string;
  }
  interface Placed {
    id: number;
    kind: "contract" | "eth-deposit" | "usdc-deposit";
    ref: Hex;
    address: `0x${string}`;
    expected: bigint;
    personality: string;
  }
  const placed: Placed[] = [];

  async function createOrder(kind: Placed["kind"], personality: string): Promise<Placed> {
    const token = kind === "usdc-deposit" ? "USDC" : undefined;
    const res = await system.app.inject({
      method: "POST",
      url: "/order",
      payload: {
        amount: "3.00",
        address: chain.merchant,
        callback: "http://127.0.0.1:9/cb",
        ...(token ? { token } : {}),
      },
    });
    assert.equal(res.statusCode, 200, res.body);
    const o = res.json() as OrderJson;
    const expected = token ? parseUnits(o.expected_amount, 6) : parseEther(o.expected_amount);
    const p: Placed = { id: o.id, kind, ref: o.reference, address: o.address, expected, personality };
    placed.push(p);
    return p;
  }
  async function order(id: number): Promise<OrderJson> {
    return (await system.app.inject({ method: "GET", url: `/order/${id}` })).json() as OrderJson;
  }
  async function mined(hash: Hex) {
    const receipt = await chain.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    assert.equal(receipt.status, "success");
  }
  async function pay(p: Placed) {
    if (p.kind === "contract") {
      await mined(
        await chain.wallet.writeContract({
          address: chain.contract,
          abi: chain.abi,
          functionName: "pay",
          args: [chain.merchant, p.ref],
          value: p.expected,
          account: chain.customer,
          chain: null,
        }),
      );
    } else if (p.kind === "eth-deposit") {
      await mined(
        await chain.wallet.sendTransaction({
          account: chain.customer,
          to: p.address,
          value: p.expected,
          chain: null,
        }),
      );
    } else {
      await mined(
        await chain.wallet.writeContract({
          address: usdc,
          abi: erc20,
          functionName: "transfer",
          args: [p.address, p.expected],
          account: chain.customer,
          chain: null,
        }),
      );
    }
  }
  async function sweep(p: Placed) {
    // A stranger sweeps: the funds can only go to the merchant.
    await mined(
      await chain.wallet.writeContract({
        address: chain.contract,
        abi: depositsAbi,
        functionName: "sweepOrder",
        args: [chain.merchant, p.ref, p.kind === "usdc-deposit" ? usdc : ETH],
        account: chain.other,
        chain: null,
      }),
    );
  }
  const statusIs = (p: Placed, status: string) => async () =>
    (await order(p.id)).status === status ? true : undefined;

  it("starts through 429 bursts, saying what it waits for", async function () {
    assert.ok((sim.refused.rate_limited ?? 0) > 0, "start-up met the bursts");
    const health = await system.app.inject({ method: "GET", url: "/health" });
    assert.equal(health.statusCode, 200, health.body);
  });

  const phases: Personality[] = [PLAIN, ...Object.values(PERSONALITIES)];
  for (const personality of phases) {
    it(`${personality.name}: every order of the stream reaches its status`, async function () {
      const stream = [
        await createOrder("contract", personality.name),
        await createOrder("contract", personality.name),
        await createOrder("eth-deposit", personality.name),
        await createOrder("usdc-deposit", personality.name),
      ];
      // The provider stalls while the payments and more blocks are mined: the indexer then finds
      // the payments behind its reorg window (eth_getLogs over ranges, three logs in three blocks)
      // and FINALITY blocks to read one by one (their headers asked at once, in batches).
      sim.hold();
      try {
        for (const p of stream) await pay(p);
        await chain.mine(FINALITY + 12);
      } finally {
        sim.set(personality);
        sim.release();
      }
      const wait = 90_000;
      for (const p of stream)
        await until(
          statusIs(p, p.kind === "contract" ? "complete" : "success"),
          wait,
          `${p.kind} ${p.id} paid`,
        );
      if (personality.rateLimit) {
        // Through a burst: POST /order and GET /health answer from the recent price and head.
        for (let i = 0; i < 8; i++) {
          const health = await system.app.inject({ method: "GET", url: "/health" });
          assert.equal(health.statusCode, 200, `GET /health during the bursts: ${health.body}`);
          await createOrder("contract", `${personality.name} (unpaid)`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      for (const p of stream) if (p.kind !== "contract") await sweep(p);
      await chain.mine(CONFIRMATIONS + 1);
      for (const p of stream) await until(statusIs(p, "complete"), wait, `${p.kind} ${p.id} complete`);
    });
  }

  it("nothing lost, nothing doubled: amounts, callbacks once each, contract events once each", async function () {
    sim.set(PLAIN);
    for (const p of placed.filter((x) => !x.personality.endsWith("(unpaid)"))) {
      const o = await order(p.id);
      assert.equal(o.status, "complete", `${p.personality}: ${p.kind} ${p.id}: ${JSON.stringify(o)}`);
      const paid = p.kind === "usdc-deposit" ? parseUnits(o.amount_paid, 6) : parseEther(o.amount_paid);
      assert.equal(paid, p.expected, `${p.personality}: ${p.kind} ${p.id} paid exactly once`);
      const { rows } = await testDb.db.query<{ kind: string }>(
        "SELECT kind FROM callbacks WHERE order_id = $1 ORDER BY id",
        [p.id],
      );
      assert.deepEqual(
        rows.map((r) => r.kind),
        ["order.success", "order.complete"],
        `${p.personality}: ${p.kind} ${p.id}`,
      );
    }
    for (const p of placed.filter((x) => x.personality.endsWith("(unpaid)"))) {
      assert.equal((await order(p.id)).status, "pending");
    }
    const doubled = await testDb.db.query(
      "SELECT tx_hash, log_index FROM contract_events GROUP BY tx_hash, log_index HAVING count(*) > 1",
    );
    assert.deepEqual(doubled.rows, []);
  });

  it("met every refusal, and said once what it learnt about the provider", async function () {
    for (const reason of ["range", "results", "batch", "rate_limited", "finalized", "block_hash", "reset"]) {
      assert.ok(
        (sim.refused[reason] ?? 0) > 0,
        `the simulator refused for ${reason}: ${JSON.stringify(sim.refused)}`,
      );
    }
    assert.ok((system.chains[0]?.rpcBatchSize() ?? 50) <= 8, "batches now fit the cap of 8 calls");
    const text = lines.join("");
    assert.match(text, /start-up is waiting for /);
    assert.match(text, /the provider refused eth_getLogs over \d+ blocks/);
    assert.match(text, /the provider refused a batch of up to \d+ calls/);
    assert.match(text, /serves no \\"finalized\\" block/);
    assert.equal(text.match(/does not serve reads by block hash/g)?.length, 1, "one line");
  });
});
