import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import pino from "pino";
import { parseAbi, parseEther, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { orderCallbacks } from "../../server/src/callbacks/order-callbacks.ts";
import { secretKey, type SweeperConfig } from "../../server/src/config/sweeper.ts";
import { depositsAbi } from "../../server/src/deposits/abi.ts";
import { txtNotifier } from "../../server/src/notify/order-status.ts";
import { createOrderEvents } from "../../server/src/orders/events.ts";
import { staticPriceSource } from "../../server/src/pricing/index.ts";
import { createSender, type Sender } from "../../server/src/sender/sender.ts";
import { recentSweeps } from "../../server/src/deposits/sweeps.ts";
import { createSweeper, type Sweeper } from "../../server/src/deposits/sweeper.ts";
import type { ChainIndexer } from "../../server/src/runtime/pipeline.ts";
import type { System } from "../../server/src/system.ts";
import type { TestDb } from "../support/db.ts";
import { catchUp } from "../support/indexing.ts";
import { startNodeChain } from "../support/node-chain.ts";
import {
  deployChainParts,
  startNodeSystem,
  type NodeChain,
  type NodeSystem,
} from "../support/node-system.ts";

/** Hardhat's dev account #9: the sweeper here (and under `npm start`). */
const SWEEPER_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6";
const ETH = "0x0000000000000000000000000000000000000000";
const CONFIRMATIONS = 3;
const processorAbi = parseAbi(["function balanceOf(address merchant, address token) view returns (uint256)"]);

interface OrderJson {
  id: number;
  reference: string;
  address: string;
  expected_amount: string;
  status: string;
  exception: string | null;
  transaction_id: string;
  sent_transaction: string;
  awaiting_sweep: boolean;
}

/**
 * Multicall3 is deployed from its artifact: its address goes in MULTICALL3_ADDRESS, so the runtime
 * never picks up a local Ignition deployment (from an earlier `npm start`) that this node does not have.
 */

function harness(getChain: () => NodeChain, getSystem: () => System) {
  return {
    async createOrder(): Promise<OrderJson & { expected: bigint; ref: Hex }> {
      const chain = getChain();
      const res = await getSystem().app.inject({
        method: "POST",
        url: "/order",
        payload: { amount: "2.00", address: chain.merchant, callback: "http://127.0.0.1:9/cb" },
      });
      assert.equal(res.statusCode, 200, res.body);
      const o = res.json() as OrderJson;
      return { ...o, expected: parseEther(o.expected_amount), ref: o.reference as Hex };
    },
    async get(id: number): Promise<OrderJson> {
      return (await getSystem().app.inject({ method: "GET", url: `/order/${id}` })).json() as OrderJson;
    },
    /** A plain transfer from the customer's account: 21,000 gas, no data. */
    async pay(to: string, value: bigint) {
      const chain = getChain();
      const hash = await chain.wallet.sendTransaction({
        account: chain.customer,
        to: to as `0x${string}`,
        value,
        chain: null,
      });
      const receipt = await chain.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
      assert.equal(receipt.status, "success");
      assert.equal(receipt.gasUsed, 21_000n);
      return receipt;
    },
    credited: () =>
      getChain().client.readContract({
        address: getChain().contract,
        abi: processorAbi,
        functionName: "balanceOf",
        args: [getChain().merchant, ETH],
      }),
  };
}

/**
 * The sweeper on a `hardhat node` process, stepped by the test (the indexer caught up, then one
 * sweeper tick): plain transfers → success → swept once confirmed → complete with
 * sent_transaction = the sweeper's transaction; batches; the interval and gas-share policy; a
 * deposit swept by a stranger first. (Stuck, dropped, replaced and reorged-out transactions are the
 * sender's: test/e2e/sender-node.test.ts.)
 */
describe("sweeper on a hardhat node: confirmed deposits swept in batches, tracked until confirmed", function () {
  this.timeout(180_000);
  let node: NodeSystem;
  let chain: NodeChain;
  let testDb: TestDb;
  let system: System;
  let indexer: ChainIndexer;
  let sender: Sender;
  const sweeperAddress = privateKeyToAccount(SWEEPER_KEY).address;
  const policy: SweeperConfig = {
    privateKey: secretKey(SWEEPER_KEY),
    intervalBlocks: 1,
    maxGasSharePpm: 50_000n,
    maxBatch: 50,
    stuckBlocks: 3,
  };
  const h = harness(
    () => chain,
    () => system,
  );

  const sweeper = (overrides: Partial<SweeperConfig> = {}): Sweeper =>
    createSweeper({
      db: testDb.db,
      client: chain.client,
      chainId: 31337n,
      contract: chain.contract,
      confirmations: CONFIRMATIONS,
      config: { ...policy, ...overrides },
      tokens: [],
      prices: staticPriceSource("1"),
      indexedBlock: () => indexer.status().indexedBlock,
      log: pino({ level: "silent" }),
      sender,
    });
  /** Index everything mined, then one sweeper tick. */
  async function step(s: Sweeper) {
    await catchUp(indexer);
    return s.tick();
  }
  async function order(id: number) {
    await catchUp(indexer);
    return h.get(id);
  }

  before(async function () {
    // ETH at $1: a $2.00 order is 2 ETH, so a sweep's gas is well within 5 % of it.
    node = await startNodeSystem({
      modules: ["multicall3"],
      env: { CONFIRMATIONS: String(CONFIRMATIONS), ETH_USD_PRICE: "1" },
      pipeline: {
        context: {
          orderEvents: createOrderEvents([orderCallbacks("http://pos.test"), txtNotifier()]),
          // No Multicall3 here: the balance reader falls back to a JSON-RPC batch of eth_getBalance.
          multicall3: undefined,
        },
      },
    });
    ({ chain, testDb, system } = node);
    indexer = node.indexer as ChainIndexer;
    sender = createSender({
      db: testDb.db,
      client: chain.client,
      chainId: 31337n,
      privateKey: policy.privateKey,
      stuckBlocks: policy.stuckBlocks,
      confirmations: CONFIRMATIONS,
      settledBlock: () => indexer.status().indexedBlock,
      log: pino({ level: "silent" }),
    });
  });

  after(async function () {
    await node?.close();
  });

  it("a 21,000-gas transfer → success → swept once confirmed → complete with sent_transaction = the sweep", async function () {
    const s = sweeper();
    const o = await h.createOrder();
    const before = await h.credited();
    const paid = await h.pay(o.address, o.expected);
    let now = await order(o.id);
    assert.equal(now.status, "success");
    assert.equal(now.transaction_id, paid.transactionHash);
    // Not yet CONFIRMATIONS: nothing to sweep.
    assert.deepEqual(await step(s), { kind: "nothing" });
    await chain.mine(CONFIRMATIONS - 1);
    const sent = await step(s);
    assert.equal(
      sent.kind,
      "sent",
      JSON.stringify(sent, (_, v) => (typeof v === "bigint" ? `${v}` : v)),
    );
    if (sent.kind !== "sent") return;
    assert.equal(sent.entries, 1);
    const tx = await chain.client.getTransaction({ hash: sent.txHash });
    assert.equal(tx.from.toLowerCase(), sweeperAddress.toLowerCase());
    assert.equal(tx.to?.toLowerCase(), chain.contract.toLowerCase());
    now = await order(o.id);
    assert.equal(now.status, "complete");
    assert.equal(now.sent_transaction, sent.txHash);
    assert.equal(now.transaction_id, paid.transactionHash);
    assert.equal(now.awaiting_sweep, false);
    assert.equal((await h.credited()) - before, o.expected, "the merchant is credited in the contract");

    // Tracked until confirmed.
    await step(s);
    let [row] = await recentSweeps(testDb.db, 31337n, 1);
    assert.equal(row?.state, "mined");
    assert.equal(row?.txHash, sent.txHash);
    assert.equal(row?.attempts, 1);
    assert.deepEqual(
      row?.deposits.map((d) => d.address),
      [o.address.toLowerCase()],
    );
    await chain.mine(CONFIRMATIONS);
    await step(s);
    [row] = await recentSweeps(testDb.db, 31337n, 1);
    assert.equal(row?.state, "confirmed");
    // Swept once: nothing left to sweep.
    assert.deepEqual(await step(s), { kind: "nothing" });
  });

  it("sweeps several deposits in one transaction", async function () {
    const s = sweeper();
    const orders = [await h.createOrder(), await h.createOrder(), await h.createOrder()];
    const before = await h.credited();
    for (const o of orders) await h.pay(o.address, o.expected);
    await chain.mine(CONFIRMATIONS);
    const sent = await step(s);
    assert.equal(sent.kind, "sent");
    if (sent.kind !== "sent") return;
    assert.equal(sent.entries, 3);
    for (const o of orders) {
      const now = await order(o.id);
      assert.equal(now.status, "complete");
      assert.equal(now.sent_transaction, sent.txHash);
    }
    const total = orders.reduce((sum, o) => sum + o.expected, 0n);
    assert.equal((await h.credited()) - before, total);
    const receipt = await chain.client.getTransactionReceipt({ hash: sent.txHash });
    assert.ok(receipt.gasUsed < 3n * 75_000n, `batched sweep used ${receipt.gasUsed} gas`);
  });

  it("policy: at most one sweep every SWEEP_INTERVAL_BLOCKS", async function () {
    const s = sweeper({ intervalBlocks: 8 });
    await chain.mine(8); // past the interval of the earlier tests' sweeps
    const first = await h.createOrder();
    await h.pay(first.address, first.expected);
    await chain.mine(CONFIRMATIONS);
    const sent = await step(s);
    assert.equal(sent.kind, "sent");
    const sentAt = await chain.client.getBlockNumber(); // automine: the sweep's own block
    const second = await h.createOrder();
    await h.pay(second.address, second.expected);
    await chain.mine(CONFIRMATIONS);
    const waiting = await step(s);
    assert.equal(waiting.kind, "interval");
    assert.equal((await order(second.id)).awaiting_sweep, true);
    const next = waiting.kind === "interval" ? waiting.nextBlock : 0n;
    assert.ok(next > (await chain.client.getBlockNumber()));
    assert.ok(next <= sentAt + 8n);
    await chain.mine(Number(next - (await chain.client.getBlockNumber())));
    const later = await step(s);
    assert.equal(later.kind, "sent");
    assert.equal((await order(second.id)).status, "complete");
  });

  it("policy: a tiny deposit is not swept while its gas would exceed SWEEP_MAX_GAS_SHARE", async function () {
    const s = sweeper();
    const tiny = await h.createOrder();
    await h.pay(tiny.address, 1_000_000n); // 0.000000000001 ETH
    await chain.mine(CONFIRMATIONS);
    const outcome = await step(s);
    assert.equal(outcome.kind, "uneconomic");
    if (outcome.kind === "uneconomic") assert.ok(outcome.costWei * 20n > outcome.valueWei);
    const count = (await recentSweeps(testDb.db, 31337n, 100)).length;
    await chain.mine(2);
    assert.equal((await step(s)).kind, "uneconomic", "still not worth it");
    assert.equal((await recentSweeps(testDb.db, 31337n, 100)).length, count, "nothing was sent");
    // With SWEEP_MAX_GAS_SHARE=1 it is still not worth it (gas > the whole deposit).
    assert.equal((await step(sweeper({ maxGasSharePpm: 1_000_000n }))).kind, "uneconomic");
    // Beside a large deposit the batch pays for itself: both are swept.
    const big = await h.createOrder();
    await h.pay(big.address, big.expected);
    await chain.mine(CONFIRMATIONS);
    const sent = await step(s);
    assert.equal(sent.kind, "sent");
    if (sent.kind === "sent") assert.equal(sent.entries, 2);
    assert.equal((await order(big.id)).status, "complete");
    assert.equal(await chain.client.getBalance({ address: tiny.address as `0x${string}` }), 0n);
  });

  it("a deposit swept by a stranger first is not swept again", async function () {
    const s = sweeper();
    const mine = await h.createOrder();
    const theirs = await h.createOrder();
    await h.pay(mine.address, mine.expected);
    await h.pay(theirs.address, theirs.expected);
    await chain.mine(CONFIRMATIONS);
    await catchUp(indexer);
    // A stranger sweeps one of them; the indexer has not seen it yet when the sweeper looks.
    const hash = await chain.wallet.writeContract({
      address: chain.contract,
      abi: depositsAbi,
      functionName: "sweepOrder",
      args: [chain.merchant, theirs.ref, ETH],
      account: chain.other,
      chain: null,
    });
    await chain.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    const sent = await s.tick();
    assert.equal(sent.kind, "sent");
    if (sent.kind !== "sent") return;
    assert.equal(sent.entries, 1, "only the deposit that still holds funds");
    const [row] = await recentSweeps(testDb.db, 31337n, 1);
    assert.deepEqual(
      row?.deposits.map((d) => d.address),
      [mine.address.toLowerCase()],
    );
    const a = await order(mine.id);
    const b = await order(theirs.id);
    assert.equal(a.sent_transaction, sent.txHash);
    assert.equal(b.status, "complete");
    assert.equal(b.sent_transaction, hash, "the stranger's sweep completed it");
    // And when the only deposit was swept by the stranger, nothing is sent at all.
    const only = await h.createOrder();
    await h.pay(only.address, only.expected);
    await chain.mine(CONFIRMATIONS);
    await catchUp(indexer);
    const strangers = await chain.wallet.writeContract({
      address: chain.contract,
      abi: depositsAbi,
      functionName: "sweepOrder",
      args: [chain.merchant, only.ref, ETH],
      account: chain.other,
      chain: null,
    });
    await chain.client.waitForTransactionReceipt({ hash: strangers, pollingInterval: 50 });
    await chain.mine(1);
    const idle = await s.tick();
    assert.equal(
      idle.kind,
      "nothing",
      JSON.stringify(idle, (_, v) => (typeof v === "bigint" ? `${v}` : v)),
    );
  });
});

/**
 * Wired by startSystem: with SWEEPER_PRIVATE_KEY the sweeper runs beside the indexer in the process
 * that leads the chain and a plain transfer reaches complete by itself; without it the order stays
 * success with awaiting_sweep (GET /order shows it).
 */
describe("sweeper wiring (startSystem, indexer leader)", function () {
  this.timeout(180_000);
  let chain: NodeChain;
  let multicall3: `0x${string}`;

  before(async function () {
    chain = await startNodeChain();
    ({ multicall3 } = (await deployChainParts(chain, ["multicall3"])) as { multicall3: `0x${string}` });
  });
  after(async function () {
    await chain?.stop();
  });

  async function run(
    env: Record<string, string>,
    check: (system: System, h: ReturnType<typeof harness>) => Promise<void>,
  ) {
    // The system's own indexer follows the chain (RUN_INDEXER and START_BLOCK as production has them).
    const node = await startNodeSystem({
      chain,
      env: {
        RUN_INDEXER: undefined,
        START_BLOCK: undefined,
        MULTICALL3_ADDRESS: multicall3,
        CONFIRMATIONS: String(CONFIRMATIONS),
        ETH_USD_PRICE: "1",
        POLL_INTERVAL_MS: "50",
        ...env,
      },
    });
    try {
      const s = node.system;
      await check(
        s,
        harness(
          () => chain,
          () => s,
        ),
      );
    } finally {
      await node.close();
    }
  }
  async function until(what: string, f: () => Promise<boolean>, ms = 30_000) {
    const end = Date.now() + ms;
    while (!(await f())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it("no sweeper key: the order stays success with awaiting_sweep true", async function () {
    await run({}, async (system, h) => {
      assert.equal(system.chains[0]?.sweeper, undefined);
      const o = await h.createOrder();
      await h.pay(o.address, o.expected);
      await chain.mine(CONFIRMATIONS + 2);
      await until("awaiting_sweep", async () => (await h.get(o.id)).awaiting_sweep);
      await new Promise((r) => setTimeout(r, 1_000));
      await chain.mine(2);
      await new Promise((r) => setTimeout(r, 500));
      const now = await h.get(o.id);
      assert.equal(now.status, "success");
      assert.equal(now.awaiting_sweep, true);
      assert.equal(now.sent_transaction, "");
      assert.ok(
        await chain.client.getBalance({ address: o.address as `0x${string}` }),
        "still at the deposit",
      );
    });
  });

  it("SWEEPER_PRIVATE_KEY: the leader sweeps, and the order reaches complete by itself", async function () {
    await run(
      { SWEEPER_PRIVATE_KEY: SWEEPER_KEY.slice(2), SWEEP_INTERVAL_BLOCKS: "1" },
      async (system, h) => {
        const sweeper = system.chains[0]?.sweeper;
        assert.equal(sweeper?.address, privateKeyToAccount(SWEEPER_KEY).address);
        const dump = JSON.stringify(system.config, (_, v: unknown) => (typeof v === "bigint" ? `${v}` : v));
        assert.doesNotMatch(dump, new RegExp(SWEEPER_KEY.slice(2), "i"));
        // The earlier test's deposit is still there; it is swept too.
        const o = await h.createOrder();
        const paid = await h.pay(o.address, o.expected);
        await until("success", async () => (await h.get(o.id)).status === "success");
        // The chain mines only on demand here: a block every 200 ms until the order is complete.
        const miner = setInterval(() => void chain.rpc("evm_mine").catch(() => {}), 200);
        try {
          await until("complete", async () => (await h.get(o.id)).status === "complete");
        } finally {
          clearInterval(miner);
        }
        const now = await h.get(o.id);
        assert.equal(now.transaction_id, paid.transactionHash);
        const tx = await chain.client.getTransaction({ hash: now.sent_transaction as `0x${string}` });
        assert.equal(tx.from.toLowerCase(), sweeper?.address.toLowerCase());
        // /health says how the leader watches the chain's deposit addresses: Hardhat offers no
        // block traces, so internal transfers are found by the rotating balance check.
        const watch = system.chains[0]?.moduleHealth().deposit_watch as {
          mode: string;
          internal_transfers: string;
        };
        assert.equal(watch.mode, "rotation");
        assert.match(watch.internal_transfers, /every open address read at least every 30 s/);
      },
    );
  });
});
