import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import pino from "pino";
import { createPublicClient, custom, parseAbi, parseEther, type Hex, type PublicClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { secretKey } from "../../server/src/config/sweeper.ts";
import { createSerial } from "../../server/src/lib/serial.ts";
import { createOrderEvents } from "../../server/src/orders/events.ts";
import { staticPriceSource } from "../../server/src/pricing/index.ts";
import { createSweeper } from "../../server/src/deposits/sweeper.ts";
import type { ChainIndexer } from "../../server/src/runtime/pipeline.ts";
import type { System } from "../../server/src/system.ts";
import { subscriptionsAbi } from "../../server/src/token-subscriptions/abi.ts";
import {
  createCollector,
  revertReason,
  type Collector,
} from "../../server/src/token-subscriptions/collector.ts";
import {
  allowCollecting,
  collectionsByRef,
  collectionsOf,
  keeperState,
  tokenSubscriptionById,
} from "../../server/src/token-subscriptions/repository.ts";
import type { TestDb } from "../support/db.ts";
import { catchUp } from "../support/indexing.ts";
import { startNodeSystem, type NodeChain } from "../support/node-system.ts";
import {
  KEEPER_KEY,
  startTokenSubscriptionSystem,
  tokenAbi,
  type TokenSubscriptionSystem,
} from "../support/token-subscriptions.ts";

const CHAIN = 31337n;
const CONFIRMATIONS = 2;
const RETRY_BLOCKS = 5;
const AMOUNT = 9_990_000n; // 9.99 USDC per period
const INTERVAL = 3_600n;
const REF = `0x${"5e".repeat(32)}` as Hex;
const REF2 = `0x${"5f".repeat(32)}` as Hex;
const processorAbi = parseAbi([
  "function setTokenAllowed(address token, bool allowed)",
  "function balanceOf(address merchant, address token) view returns (uint256)",
]);
const gateAbi = parseAbi([
  "function hasAccess(uint256 id) view returns (bool)",
  "function enter(uint256 id)",
]);

/**
 * The token-pull path end to end on a `hardhat node` process: customers subscribe (approval, and a
 * permit), the collector (the sweeper's key) collects each due period once, `paidThrough(id)` on
 * chain equals the database and gates a merchant contract; a double collect, an early collect, a
 * collect after cancel and a reduced allowance are refused (the collector sends nothing and backs
 * off); the merchant's balance in the processor is the sum of the collections; a reorg of a
 * collection removes its row; the sweeper and the collector share the key without a nonce collision.
 * (Stuck, dropped, replaced and reorged-out transactions are the sender's:
 * test/e2e/sender-node.test.ts.)
 */
describe("token subscriptions on a hardhat node: collected once per period, paidThrough on chain", function () {
  this.timeout(180_000);
  let chain: NodeChain;
  let testDb: TestDb;
  let system: System;
  let indexer: ChainIndexer;
  let collector: Collector;
  let token: `0x${string}`;
  let subs: `0x${string}`;
  let gate: `0x${string}`;
  let customer2: `0x${string}`;
  let ts: TokenSubscriptionSystem;
  const serial = createSerial();
  const keeper = privateKeyToAccount(KEEPER_KEY).address;

  const send = (
    from: `0x${string}`,
    to: `0x${string}`,
    abi: readonly unknown[],
    functionName: string,
    args: readonly unknown[],
  ) => ts.send(from, to, abi, functionName, args);
  const paidThroughOnChain = (id: bigint) =>
    chain.client.readContract({
      address: subs,
      abi: subscriptionsAbi,
      functionName: "paidThrough",
      args: [id],
    });
  /** What a third party's `collect(id)` would do now: undefined when it would succeed, else the error. */
  const strangerCollect = (id: bigint) =>
    chain.client
      .simulateContract({
        address: subs,
        abi: subscriptionsAbi,
        functionName: "collect",
        args: [id],
        account: chain.other,
      })
      .then(
        () => undefined,
        (error: unknown) => revertReason(error),
      );
  const credited = () =>
    chain.client.readContract({
      address: chain.contract,
      abi: processorAbi,
      functionName: "balanceOf",
      args: [chain.merchant, token],
    });
  /** The key's sender over `client`; every sender of the key in this file shares one section. */
  const keySender = (client: PublicClient) => ts.keeperSender(client);
  const keeperNonce = () => chain.client.getTransactionCount({ address: keeper, blockTag: "pending" });
  /** Warps the chain clock by `seconds` and mines a block. */
  const warp = async (seconds: bigint) => {
    await chain.rpc("evm_increaseTime", [Number(seconds)]);
    await chain.mine(1);
  };
  /** Indexes everything, then ticks the collector until it has nothing to do; returns what it sent. */
  async function collectAll(): Promise<{ id: bigint; txHash: Hex }[]> {
    const sent: { id: bigint; txHash: Hex }[] = [];
    for (let i = 0; i < 20; i++) {
      await catchUp(indexer);
      const outcome = await collector.tick();
      if (outcome.kind === "sent") sent.push({ id: outcome.id, txHash: outcome.txHash });
      else if (outcome.kind !== "in-flight") return sent;
    }
    throw new Error("the collector did not settle");
  }
  /**
   * The collector collects only the subscriptions this server asked for (a token_pull subscription
   * created through the API records its terms): these test subscriptions are made directly on
   * chain, so their indexed terms are recorded as asked for.
   */
  async function askedFor(id: bigint) {
    await catchUp(indexer);
    const row = await tokenSubscriptionById(testDb.db, CHAIN, id);
    assert.ok(row, `subscription ${id} is indexed`);
    await allowCollecting(testDb.db, CHAIN, {
      ref: row.ref,
      merchant: row.merchant,
      token: row.token,
      amountPerPeriod: row.amountPerPeriod,
      interval: row.interval,
      start: row.start,
    });
  }
  async function sumOfCollections() {
    const rows = [
      ...(await collectionsByRef(testDb.db, CHAIN, REF)),
      ...(await collectionsByRef(testDb.db, CHAIN, REF2)),
    ];
    return rows.reduce((sum, c) => sum + c.amount, 0n);
  }

  before(async function () {
    // The API (orders with deposit addresses, for the shared-key case), with the chain runtime's
    // check of SUBSCRIPTIONS_ADDRESS; the test steps the indexer, the sweeper and the collector itself.
    ts = await startTokenSubscriptionSystem({
      // No TOKENS: the orders of this file are in ETH.
      env: { CONFIRMATIONS: String(CONFIRMATIONS), ETH_USD_PRICE: "1", TOKENS: undefined },
      pipeline: { context: { orderEvents: createOrderEvents([]), multicall3: undefined } },
      holders: async (chain) => [chain.customer, (await chain.wallet.getAddresses())[4] as Hex],
      mint: 1_000n * AMOUNT,
      collector: { retryBlocks: RETRY_BLOCKS, maxGasSharePpm: 50_000n, ethUsdPrice: "1", serial },
    });
    ({ chain, testDb, system, indexer, collector, token, subscriptions: subs } = ts);
    customer2 = (await chain.wallet.getAddresses())[4] as `0x${string}`;
    gate = await chain.deploy("mocks/SubscriptionGate.sol/SubscriptionGate.json", [
      subs,
      chain.merchant,
      token,
      AMOUNT,
      INTERVAL,
    ]);
  });

  after(async function () {
    await ts?.close();
  });

  it("the chain runtime takes SUBSCRIPTIONS_ADDRESS only for a Subscriptions bound to this chain's processor", async function () {
    assert.equal(system.chains[0]?.subscriptions, subs);
    // Over the same node, each start with its own database; start-up refuses both.
    const start = (subscriptions: Hex) =>
      startNodeSystem({ chain, env: { ETH_USD_PRICE: "1", SUBSCRIPTIONS_ADDRESS: subscriptions } });
    await assert.rejects(
      start(token),
      /SUBSCRIPTIONS_ADDRESS .* not a Subscriptions contract.*unset it to turn token subscriptions off/,
    );
    const other = await chain.deploy("subscriptions/Subscriptions.sol/Subscriptions.json", [chain.other]);
    await assert.rejects(start(other), /bound to the PaymentProcessor/);
  });

  it("approval and permit subscriptions: period 0 collected by the collector; paidThrough on chain = the database; the gate opens", async function () {
    // Customer 1: an approval of a year of periods, then subscribe.
    await send(chain.customer, token, tokenAbi, "approve", [subs, 12n * AMOUNT]);
    await send(chain.customer, subs, subscriptionsAbi, "subscribe", [
      chain.merchant,
      token,
      AMOUNT,
      INTERVAL,
      0n,
      REF,
    ]);
    // Customer 2: a permit signed off chain, given in the subscribe transaction (no approval first).
    const deadline = BigInt(Math.floor(Date.now() / 1000) + 3600);
    const nonce = await chain.client.readContract({
      address: token,
      abi: tokenAbi,
      functionName: "nonces",
      args: [customer2],
    });
    const signature = await chain.wallet.signTypedData({
      account: customer2,
      domain: { name: "USD Coin", version: "1", chainId: Number(CHAIN), verifyingContract: token },
      types: {
        Permit: [
          { name: "owner", type: "address" },
          { name: "spender", type: "address" },
          { name: "value", type: "uint256" },
          { name: "nonce", type: "uint256" },
          { name: "deadline", type: "uint256" },
        ],
      },
      primaryType: "Permit",
      message: { owner: customer2, spender: subs, value: 12n * AMOUNT, nonce, deadline },
    });
    const r = signature.slice(0, 66) as Hex;
    const s = `0x${signature.slice(66, 130)}` as Hex;
    const v = Number.parseInt(signature.slice(130, 132), 16);
    await send(customer2, subs, subscriptionsAbi, "subscribeWithPermit", [
      chain.merchant,
      token,
      AMOUNT,
      INTERVAL,
      0n,
      REF2,
      12n * AMOUNT,
      deadline,
      v,
      r,
      s,
    ]);
    assert.equal(
      await chain.client.readContract({
        address: token,
        abi: tokenAbi,
        functionName: "allowance",
        args: [customer2, subs],
      }),
      12n * AMOUNT,
    );
    assert.equal(
      await chain.client.readContract({ address: gate, abi: gateAbi, functionName: "hasAccess", args: [1n] }),
      false,
    );

    for (const id of [1n, 2n]) await askedFor(id);
    const sent = await collectAll();
    assert.deepEqual(
      sent.map((x) => x.id),
      [1n, 2n],
    );
    for (const x of sent) {
      const tx = await chain.client.getTransaction({ hash: x.txHash });
      assert.equal(tx.from.toLowerCase(), keeper.toLowerCase());
      assert.equal(tx.to?.toLowerCase(), subs.toLowerCase());
    }
    for (const id of [1n, 2n]) {
      const row = await tokenSubscriptionById(testDb.db, CHAIN, id);
      assert.ok(row);
      assert.equal(row.periodsCollected, 1);
      assert.equal(row.paidThrough, row.start + INTERVAL);
      assert.equal(row.paidThrough, await paidThroughOnChain(id), "paidThrough on chain = the database");
      assert.equal((await keeperState(testDb.db, CHAIN, id))?.txHash, null, "nothing in flight");
    }
    assert.equal((await tokenSubscriptionById(testDb.db, CHAIN, 2n))?.customer, customer2.toLowerCase());
    // A merchant's own contract gates access on paidThrough (and checks the terms).
    assert.equal(
      await chain.client.readContract({ address: gate, abi: gateAbi, functionName: "hasAccess", args: [1n] }),
      true,
    );
    await send(chain.other, gate, gateAbi, "enter", [1n]);
    assert.equal(await credited(), 2n * AMOUNT);
    assert.equal(await credited(), await sumOfCollections());
  });

  it("an early collect is refused on chain and the collector sends nothing", async function () {
    const nonce = await keeperNonce();
    assert.match((await strangerCollect(1n)) ?? "", /^SubscriptionsNotDue\(1, /);
    assert.deepEqual(await collectAll(), []);
    assert.equal(await keeperNonce(), nonce);
  });

  it("the next period: collected exactly once; a double collect by a third party reverts with SubscriptionsNotDue", async function () {
    await warp(INTERVAL);
    const sent = await collectAll();
    assert.deepEqual(
      sent.map((x) => x.id),
      [1n, 2n],
    );
    assert.match((await strangerCollect(1n)) ?? "", /^SubscriptionsNotDue\(1, /);
    assert.match((await strangerCollect(2n)) ?? "", /^SubscriptionsNotDue\(2, /);
    // A real transaction from the third party too: reverted, nothing charged.
    const before = await credited();
    // (Hardhat mines it and answers the sender with the revert.)
    const raw = await chain.wallet
      .writeContract({
        address: subs,
        abi: subscriptionsAbi,
        functionName: "collect",
        args: [1n],
        account: chain.other,
        chain: null,
        gas: 200_000n,
      })
      .catch((error: unknown) => error);
    if (typeof raw === "string") {
      const receipt = await chain.client.waitForTransactionReceipt({ hash: raw as Hex, pollingInterval: 50 });
      assert.equal(receipt.status, "reverted");
    }
    assert.equal(await credited(), before, "never charged twice");
    await catchUp(indexer);
    for (const id of [1n, 2n]) {
      assert.deepEqual(
        (await collectionsOf(testDb.db, CHAIN, id)).map((c) => c.period),
        [0n, 1n],
      );
      assert.equal(
        (await tokenSubscriptionById(testDb.db, CHAIN, id))?.paidThrough,
        await paidThroughOnChain(id),
      );
    }
    assert.equal(await credited(), await sumOfCollections());
  });

  it("a cancel by the customer: indexed as cancelled, the collector stops, a collect after cancel reverts", async function () {
    await send(customer2, subs, subscriptionsAbi, "cancel", [2n]);
    await warp(INTERVAL);
    const sent = await collectAll();
    assert.deepEqual(
      sent.map((x) => x.id),
      [1n],
      "only the open subscription is collected",
    );
    const row = await tokenSubscriptionById(testDb.db, CHAIN, 2n);
    assert.equal(row?.cancelled, true);
    assert.equal(row?.cancelledBy, customer2.toLowerCase());
    assert.equal(row?.paidThrough, await paidThroughOnChain(2n), "paid periods stay paid");
    assert.equal((await keeperState(testDb.db, CHAIN, 2n))?.lastError ?? null, null, "never even simulated");
    assert.equal(await strangerCollect(2n), "SubscriptionsCancelledAlready(2)");
    assert.equal(await credited(), await sumOfCollections());
  });

  it("an allowance reduced by the customer: the simulation fails, the error is recorded, no transaction, back-off; collected again once restored", async function () {
    await send(chain.customer, token, tokenAbi, "approve", [subs, AMOUNT - 1n]);
    await warp(INTERVAL);
    const nonce = await keeperNonce();
    await catchUp(indexer);
    const first = await collector.tick();
    assert.equal(first.kind, "nothing");
    if (first.kind !== "nothing") return;
    assert.deepEqual(
      first.refused.map((x) => x.id),
      [1n],
    );
    assert.match(
      first.refused[0]?.error ?? "",
      /^SubscriptionsInsufficientAllowance\(1, 9989999, 9990000\)$/,
    );
    let state = await keeperState(testDb.db, CHAIN, 1n);
    const head = await chain.client.getBlockNumber();
    assert.equal(state?.failures, 1);
    assert.equal(state?.retryBlock, head + BigInt(RETRY_BLOCKS));
    assert.match(state?.lastError ?? "", /InsufficientAllowance/);
    // Backing off: not even simulated again before the retry block.
    await chain.mine(2);
    await catchUp(indexer);
    assert.deepEqual(await collector.tick(), { kind: "nothing", refused: [] });
    await chain.mine(RETRY_BLOCKS);
    await catchUp(indexer);
    const second = await collector.tick();
    assert.equal(second.kind === "nothing" && second.refused.length, 1);
    state = await keeperState(testDb.db, CHAIN, 1n);
    assert.equal(state?.failures, 2);
    assert.equal(
      state?.retryBlock,
      (await chain.client.getBlockNumber()) + 2n * BigInt(RETRY_BLOCKS),
      "doubled",
    );
    assert.equal(await keeperNonce(), nonce, "no transaction was sent");
    assert.equal(await credited(), await sumOfCollections());

    // Restored: collected at the next attempt, and the error is cleared.
    await send(chain.customer, token, tokenAbi, "approve", [subs, 12n * AMOUNT]);
    await chain.mine(2 * RETRY_BLOCKS);
    const sent = await collectAll();
    assert.deepEqual(
      sent.map((x) => x.id),
      [1n],
    );
    state = await keeperState(testDb.db, CHAIN, 1n);
    assert.equal(state?.failures, 0);
    assert.equal(state?.lastError, null);
    assert.equal((await tokenSubscriptionById(testDb.db, CHAIN, 1n))?.periodsCollected, 4);
    assert.equal(await credited(), await sumOfCollections());
  });

  it("a reorg of a Collected event removes the collection row and paid-through goes back", async function () {
    const snapshot = await chain.snapshot();
    await warp(INTERVAL);
    const sent = await collectAll();
    assert.deepEqual(
      sent.map((x) => x.id),
      [1n],
    );
    assert.equal((await tokenSubscriptionById(testDb.db, CHAIN, 1n))?.periodsCollected, 5);
    const before = await tokenSubscriptionById(testDb.db, CHAIN, 1n);
    await chain.revert(snapshot);
    // The other branch grows past the old cursor without the collection.
    await chain.mine(4);
    await catchUp(indexer);
    const after = await tokenSubscriptionById(testDb.db, CHAIN, 1n);
    assert.equal(after?.periodsCollected, 4);
    assert.equal(after?.paidThrough, (before?.paidThrough ?? 0n) - INTERVAL);
    assert.equal(after?.paidThrough, await paidThroughOnChain(1n));
    assert.deepEqual(
      (await collectionsOf(testDb.db, CHAIN, 1n)).map((c) => c.period),
      [0n, 1n, 2n, 3n],
    );
    assert.equal(await credited(), await sumOfCollections());

    // The collector's own collect was on the removed branch: the sender follows it again (pending
    // once more, then the very same transaction broadcast again), and it collects the period on the
    // new branch (once due there too); the collector sends no second collect meanwhile.
    await warp(INTERVAL);
    const nonce = await keeperNonce();
    assert.deepEqual(await collectAll(), [], "no new collect");
    assert.equal(await keeperNonce(), nonce + 1, "one transaction: the reorged-out collect, again");
    const again = await tokenSubscriptionById(testDb.db, CHAIN, 1n);
    assert.equal(again?.periodsCollected, 5);
    assert.equal(again?.paidThrough, await paidThroughOnChain(1n));
    assert.equal(
      (await collectionsOf(testDb.db, CHAIN, 1n)).at(-1)?.txHash,
      sent[0]?.txHash,
      "the same transaction",
    );
    assert.equal(await credited(), await sumOfCollections());
  });

  it("the sweeper and the collector share the key: both send in the same block, no nonce collision", async function () {
    // Each reads the pending nonce through its own client. The collector's read waits until the
    // sweeper has read its own (or 3 s): without one section for both, they get the same nonce.
    let sweeperRead!: () => void;
    const read = new Promise<void>((resolve) => (sweeperRead = resolve));
    const through = (afterNonce: () => void, beforeNonce: () => Promise<unknown>) =>
      createPublicClient({
        pollingInterval: 50,
        transport: custom({
          async request({ method, params }) {
            if (method === "eth_getTransactionCount") await beforeNonce();
            const out = await chain.client.request({ method, params } as never);
            if (method === "eth_getTransactionCount") afterNonce();
            return out;
          },
        }),
      }) as PublicClient;
    const sweeperClient = through(sweeperRead, async () => undefined);
    const sweeper = createSweeper({
      db: testDb.db,
      client: sweeperClient,
      chainId: CHAIN,
      contract: chain.contract,
      confirmations: CONFIRMATIONS,
      config: {
        privateKey: secretKey(KEEPER_KEY),
        intervalBlocks: 1,
        maxGasSharePpm: 1_000_000n,
        maxBatch: 50,
        stuckBlocks: 100,
      },
      tokens: [],
      prices: staticPriceSource("1"),
      indexedBlock: () => indexer.status().indexedBlock,
      log: pino({ level: "silent" }),
      sender: keySender(sweeperClient),
    });
    const collectorClient = through(
      () => undefined,
      () => Promise.race([read, new Promise((resolve) => setTimeout(resolve, 3_000))]),
    );
    const sharing = createCollector({
      db: testDb.db,
      client: collectorClient,
      chainId: CHAIN,
      subscriptions: subs,
      sender: keySender(collectorClient),
      retryBlocks: RETRY_BLOCKS,
      maxGasSharePpm: 50_000n,
      tokens: [{ address: token, decimals: 6, usdPeg: "1" }],
      prices: staticPriceSource("1"),
      indexedBlock: () => indexer.status().indexedBlock,
      log: pino({ level: "silent" }),
    });
    const res = await system.app.inject({
      method: "POST",
      url: "/order",
      payload: { amount: "2.00", address: chain.merchant, callback: "http://127.0.0.1:9/cb" },
    });
    assert.equal(res.statusCode, 200, res.body);
    const order = res.json() as { address: `0x${string}`; expected_amount: string };
    await chain.wallet.sendTransaction({
      account: chain.customer,
      to: order.address,
      value: parseEther(order.expected_amount),
      chain: null,
    });
    await chain.mine(CONFIRMATIONS);
    await warp(INTERVAL);
    await catchUp(indexer);
    // Both wait in the pool until one block mines them.
    await chain.rpc("evm_setAutomine", [false]);
    let outcomes;
    try {
      outcomes = await Promise.all([sweeper.tick(), sharing.tick()]);
      await chain.rpc("evm_mine");
    } finally {
      await chain.rpc("evm_setAutomine", [true]);
    }
    const [swept, collected] = outcomes;
    const show = (x: unknown) => JSON.stringify(x, (_, v: unknown) => (typeof v === "bigint" ? `${v}` : v));
    assert.equal(swept.kind, "sent", show(swept));
    assert.equal(collected.kind, "sent", show(collected));
    if (swept.kind !== "sent" || collected.kind !== "sent") return;
    assert.notEqual(swept.nonce, collected.nonce);
    const a = await chain.client.getTransactionReceipt({ hash: swept.txHash });
    const b = await chain.client.getTransactionReceipt({ hash: collected.txHash });
    assert.equal(a.status, "success");
    assert.equal(b.status, "success");
    assert.equal(a.blockNumber, b.blockNumber, "mined in the same block");
    await collectAll();
    assert.equal(
      (await tokenSubscriptionById(testDb.db, CHAIN, 1n))?.paidThrough,
      await paidThroughOnChain(1n),
    );
    assert.equal(await credited(), await sumOfCollections());
  });
});
