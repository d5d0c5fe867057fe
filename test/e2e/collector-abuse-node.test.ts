import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "mocha";
import { type Hex } from "viem";
import { createOrderEvents } from "../../server/src/orders/events.ts";
import { createRecurringEvents } from "../../server/src/recurring/events.ts";
import type { ChainIndexer } from "../../server/src/runtime/pipeline.ts";
import type { System } from "../../server/src/system.ts";
import { subscriptionsAbi } from "../../server/src/token-subscriptions/abi.ts";
import type { Collector } from "../../server/src/token-subscriptions/collector.ts";
import { keeperState, tokenSubscriptionsByRef } from "../../server/src/token-subscriptions/repository.ts";
import type { TestDb } from "../support/db.ts";
import { catchUp } from "../support/indexing.ts";
import type { NodeChain } from "../support/node-system.ts";
import {
  startTokenSubscriptionSystem,
  tokenAbi,
  type TokenSubscriptionSystem,
} from "../support/token-subscriptions.ts";

const CHAIN = 31337n;
const RETRY_BLOCKS = 5;
/** SWEEP_MAX_GAS_SHARE's default, 0.05. */
const GAS_SHARE_PPM = 50_000n;
const WEEK_S = 604_800;
const MANY = 10n ** 15n;

interface Pull {
  id: number;
  token_pull: {
    contract: Hex;
    args: { merchant: Hex; token: Hex; amountPerPeriod: string; interval: string; start: string; ref: Hex };
  };
}

/**
 * Security review 2, finding R2-2, on a `hardhat node` process and a real database: the collector
 * collects only the on-chain subscriptions this server asked for (a token_pull subscription of one
 * of its merchants, with exactly its terms), each collect passes the gas-share rule, and the order is
 * fair (least recently attempted first, back-off per subscription), so a griefer's subscription, a
 * subscription many periods behind or one that keeps failing never starves the others.
 */
describe("R2-2: the token-subscription collector cannot be monopolised", function () {
  this.timeout(240_000);
  let chain: NodeChain;
  let testDb: TestDb;
  let system: System;
  let indexer: ChainIndexer;
  let collector: Collector;
  let token: Hex;
  let subs: Hex;
  let key: string;
  let attacker: Hex;
  let customers: Hex[];
  let ts: TokenSubscriptionSystem;

  const send = (from: Hex, to: Hex, abi: readonly unknown[], functionName: string, args: unknown[]) =>
    ts.send(from, to, abi, functionName, args);
  /** The on-chain id of the subscription a `subscribe` receipt created. */
  const subscribe = async (from: Hex, args: readonly [Hex, Hex, bigint, bigint, bigint, Hex]) => {
    await send(from, token, tokenAbi, "approve", [subs, MANY]);
    await send(from, subs, subscriptionsAbi, "subscribe", [...args]);
    return chain.client.readContract({
      address: subs,
      abi: subscriptionsAbi,
      functionName: "subscriptionCount",
    });
  };
  const paidThrough = (id: bigint) =>
    chain.client.readContract({
      address: subs,
      abi: subscriptionsAbi,
      functionName: "paidThrough",
      args: [id],
    });
  const keeperNonce = () => chain.client.getTransactionCount({ address: ts.keeper, blockTag: "latest" });
  const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  async function advanceTo(seconds: number) {
    await ts.clock.advanceTo(seconds);
    await catchUp(indexer);
  }
  /** `n` collector ticks (each indexed first); the ids of the collects it sent, in order. */
  async function rounds(n: number): Promise<bigint[]> {
    const sent: bigint[] = [];
    for (let i = 0; i < n; i++) {
      await catchUp(indexer);
      const outcome = await collector.tick();
      if (outcome.kind === "sent") sent.push(outcome.id);
      await chain.mine(1);
    }
    await catchUp(indexer);
    return sent;
  }
  /** A token_pull subscription through the API. */
  async function createPull(amount: string, interval: string, startS: number): Promise<Pull> {
    const res = await system.app.inject({
      method: "POST",
      url: "/recurring",
      headers: { authorization: key },
      payload: {
        method: "token_pull",
        token: "USDC",
        amount,
        interval,
        start: iso(startS),
        address: chain.merchant,
        callback: "http://127.0.0.1:9/recurring",
      },
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as Pull;
  }
  /** The customer subscribes with exactly the API's call; its on-chain id. */
  const subscribeAsAsked = (from: Hex, p: Pull, change: Partial<Pull["token_pull"]["args"]> = {}) => {
    const a = { ...p.token_pull.args, ...change };
    return subscribe(from, [
      a.merchant,
      a.token,
      BigInt(a.amountPerPeriod),
      BigInt(a.interval),
      BigInt(a.start),
      a.ref,
    ]);
  };

  before(async function () {
    ts = await startTokenSubscriptionSystem({
      env: {
        CONFIRMATIONS: "1",
        ETH_USD_PRICE: "1000",
        PUBLIC_URL: "http://pos.test",
        RATE_LIMIT_PER_MINUTE: "100000",
      },
      clockAtChain: true,
      pipeline: {
        context: {
          orderEvents: createOrderEvents([]),
          recurringEvents: createRecurringEvents([]),
          multicall3: undefined,
        },
      },
      holders: async (chain) => [
        chain.other,
        chain.customer,
        ...((await chain.wallet.getAddresses()).slice(4, 8) as Hex[]),
      ],
      mint: MANY,
      collector: { retryBlocks: RETRY_BLOCKS, maxGasSharePpm: GAS_SHARE_PPM, ethUsdPrice: "1000" },
      merchant: "gym@example.com",
    });
    ({ chain, testDb, system, indexer, collector, token, subscriptions: subs, merchantKey: key } = ts);
    const accounts = await chain.wallet.getAddresses();
    attacker = chain.other;
    customers = [chain.customer, ...(accounts.slice(4, 8) as Hex[])];
  });

  after(async function () {
    await ts?.close();
  });

  it("(a) an attacker's own subscription of 1 unit every second to itself is never collected; the merchant's real one is", async function () {
    const nowS = Math.floor(ts.clock.now() / 1000);
    const griefer = await subscribe(attacker, [
      attacker,
      token,
      1n,
      1n,
      0n,
      `0x${randomBytes(32).toString("hex")}`,
    ]);
    const real = await createPull("9.99", "monthly", nowS + 600);
    const realId = await subscribeAsAsked(customers[0] as Hex, real);
    const grieferStart = await paidThrough(griefer);
    await advanceTo(nowS + 600);
    const nonce = await keeperNonce();

    const sent = await rounds(12);
    assert.ok(sent.includes(realId), `the merchant's subscription is collected (sent: ${sent.join()})`);
    assert.ok(!sent.includes(griefer), `the griefer's never is (sent: ${sent.join()})`);
    assert.equal(await paidThrough(griefer), grieferStart, "on chain: not one period of it collected");
    assert.equal(await paidThrough(realId), BigInt(nowS + 600 + 2_592_000), "period 0 of the real one");
    assert.equal(BigInt(await keeperNonce()) - BigInt(nonce), BigInt(sent.length), "every send was counted");
    assert.equal(await keeperState(testDb.db, CHAIN, griefer), undefined, "never even simulated");
  });

  it("(b) an on-chain subscription whose terms differ from the server's record is not collected", async function () {
    const nowS = Math.floor(ts.clock.now() / 1000);
    const asked = await createPull("9.99", "monthly", nowS + 600);
    const a = asked.token_pull.args;
    const [c1, c2, c3, c4] = customers.slice(1) as [Hex, Hex, Hex, Hex];
    const variants = {
      "another payee (the attacker's own address)": await subscribeAsAsked(c1, asked, { merchant: attacker }),
      "another amount": await subscribeAsAsked(c2, asked, {
        amountPerPeriod: (BigInt(a.amountPerPeriod) - 1n).toString(),
      }),
      "another start": await subscribeAsAsked(c3, asked, { start: (BigInt(a.start) + 1n).toString() }),
      "another interval": await subscribeAsAsked(c4, asked, { interval: String(WEEK_S) }),
    };
    await advanceTo(nowS + 602);
    assert.equal((await tokenSubscriptionsByRef(testDb.db, CHAIN, a.ref)).length, 4, "all four indexed");
    const nonce = await keeperNonce();
    const sent = await rounds(6);
    for (const [what, id] of Object.entries(variants)) {
      assert.ok(!sent.includes(id), `${what}: not collected`);
      assert.equal(await paidThrough(id), BigInt(a.start) + (what === "another start" ? 1n : 0n), what);
    }
    assert.deepEqual(sent, [], "nothing was sent");
    assert.equal(await keeperNonce(), nonce);
  });

  it("(c) a collect whose gas costs more than SWEEP_MAX_GAS_SHARE of the period's value is not sent", async function () {
    const nowS = Math.floor(ts.clock.now() / 1000);
    const cheap = await createPull("0.01", "monthly", nowS + 600);
    const fair = await createPull("20.00", "monthly", nowS + 600);
    const cheapId = await subscribeAsAsked(customers[1] as Hex, cheap);
    const fairId = await subscribeAsAsked(customers[2] as Hex, fair);
    await advanceTo(nowS + 600);
    const nonce = await keeperNonce();
    const sent = await rounds(4);
    assert.deepEqual(sent, [fairId], "only the collect that pays for its gas");
    assert.equal(await keeperNonce(), nonce + 1);
    assert.equal(await paidThrough(cheapId), BigInt(nowS + 600), "the cheap one is not collected");
    const state = await keeperState(testDb.db, CHAIN, cheapId);
    assert.match(
      state?.lastError ?? "",
      /^gas share: the collect costs \d+ wei of gas, more than SWEEP_MAX_GAS_SHARE \(50000 ppm\) of the 10000000000000 wei it collects$/,
    );
    assert.ok((state?.failures ?? 0) >= 1, "backing off");
  });

  it("(d) fair order: a subscription many periods behind takes turns with the others; one whose collects revert on chain backs off and blocks nobody", async function () {
    const nowS = Math.floor(ts.clock.now() / 1000);
    // X starts now + 600 s; Y four weeks later. Five weeks on, X owes six periods and Y two.
    const x = await createPull("9.99", "weekly", nowS + 600);
    const y = await createPull("9.99", "weekly", nowS + 600 + 4 * WEEK_S);
    const xId = await subscribeAsAsked(customers[3] as Hex, x);
    const yId = await subscribeAsAsked(customers[4] as Hex, y);
    await advanceTo(nowS + 600 + 5 * WEEK_S);
    // Other subscriptions of the earlier cases are due again too; they take their turns as well.
    const sent = (await rounds(14)).filter((id) => id === xId || id === yId);
    assert.deepEqual(
      sent,
      [xId, yId, xId, yId, xId, xId, xId, xId],
      `round-robin, not the most overdue first (X = ${xId}, Y = ${yId}, sent: ${sent.join()})`,
    );
    assert.equal(await paidThrough(xId), BigInt(nowS + 600 + 6 * WEEK_S), "X is paid up, six periods");
    assert.equal(await paidThrough(yId), BigInt(nowS + 600 + 6 * WEEK_S), "Y is paid up, two periods");

    // Z's customer front-runs each collect with approve(0): the collect reverts on chain, costing gas.
    const z = await createPull("9.99", "weekly", Math.floor(ts.clock.now() / 1000) + 600);
    const w = await createPull("9.99", "weekly", Math.floor(ts.clock.now() / 1000) + 600);
    const zId = await subscribeAsAsked(customers[1] as Hex, z);
    const wId = await subscribeAsAsked(customers[2] as Hex, w);
    await advanceTo(Math.floor(ts.clock.now() / 1000) + 600);
    await chain.rpc("evm_setAutomine", [false]);
    let first;
    try {
      first = await collector.tick();
      assert.equal(first.kind, "sent");
      assert.equal(first.kind === "sent" && first.id, zId, "Z was never attempted, W neither: Z is older");
      // The front-run: a higher tip, mined first in the same block.
      await chain.wallet.writeContract({
        address: token,
        abi: tokenAbi,
        functionName: "approve",
        args: [subs, 0n],
        account: customers[1] as Hex,
        chain: null,
        maxPriorityFeePerGas: 50n * 10n ** 9n,
        maxFeePerGas: 500n * 10n ** 9n,
      });
      await chain.rpc("evm_mine");
    } finally {
      await chain.rpc("evm_setAutomine", [true]);
    }
    if (first.kind !== "sent") return;
    const receipt = await chain.client.getTransactionReceipt({ hash: first.txHash });
    assert.equal(receipt.status, "reverted", "the collect reverted on chain");
    await catchUp(indexer);
    const nonce = await keeperNonce();
    // The next tick follows the reverted collect, backs Z off, and moves on to W.
    const next = await collector.tick();
    assert.equal(next.kind === "sent" && next.id, wId, "W is collected at once");
    const head = await chain.client.getBlockNumber();
    const state = await keeperState(testDb.db, CHAIN, zId);
    assert.equal(state?.lastError, "collect reverted on chain");
    assert.equal(state?.failures, 1, "a reverted collect is a failure");
    assert.ok(
      (state?.retryBlock ?? 0n) >= head + BigInt(RETRY_BLOCKS) - 1n,
      `backing off for COLLECT_RETRY_BLOCKS (retry at ${state?.retryBlock}, head ${head})`,
    );
    assert.deepEqual(await rounds(RETRY_BLOCKS - 2), [], "Z is not tried again meanwhile");
    assert.equal(await keeperNonce(), nonce + 1, "one transaction: W's collect");
    assert.equal(await paidThrough(zId), BigInt(z.token_pull.args.start), "Z is not collected");
  });
});
