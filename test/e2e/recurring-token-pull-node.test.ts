import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import pino from "pino";
import { getAddress, type Hex } from "viem";
import { orderCallbacks } from "../../server/src/callbacks/order-callbacks.ts";
import { recurringCallbacks } from "../../server/src/callbacks/recurring-callbacks.ts";
import { recurringTxtNotifier } from "../../server/src/notify/recurring.ts";
import { createOrderEvents } from "../../server/src/orders/events.ts";
import { createRecurringEvents } from "../../server/src/recurring/events.ts";
import { createRecurringScheduler, type RecurringScheduler } from "../../server/src/recurring/scheduler.ts";
import type { ChainIndexer } from "../../server/src/runtime/pipeline.ts";
import type { System } from "../../server/src/system.ts";
import { subscriptionsAbi } from "../../server/src/token-subscriptions/abi.ts";
import type { Collector } from "../../server/src/token-subscriptions/collector.ts";
import {
  collectionsByRef,
  tokenSubscriptionsByRef,
} from "../../server/src/token-subscriptions/repository.ts";
import type { TestDb } from "../support/db.ts";
import { catchUp } from "../support/indexing.ts";
import type { NodeChain } from "../support/node-system.ts";
import {
  startTokenSubscriptionSystem,
  tokenAbi,
  type TokenSubscriptionSystem,
} from "../support/token-subscriptions.ts";

const CHAIN = 31337n;
const MONTH_S = 2_592_000;
const PER_PERIOD = 9_990_000n; // 9.99 USD at USDC's peg of 1, 6 decimals
const SEED_SHAPE: Record<string, string> = {
  id: "number",
  address: "string",
  confirmations: "number",
  currency: "string",
  currency_amount: "string",
  expected_amount: "string",
  payment_url: "string",
  status: "string",
  paid: "boolean",
  eth_price: "string",
  qr_code: "string",
  transaction_id: "string",
  item_title: "string",
  item_description: "string",
  item_image: "string",
  created_at: "string",
};

interface TokenPullJson {
  contract: string;
  function: string;
  args: {
    merchant: string;
    token: string;
    amountPerPeriod: string;
    interval: string;
    start: string;
    ref: string;
  };
  approve: { token: string; spender: string; amount: string };
}

/**
 * Recurring billing by token pulls end to end on a `hardhat node` process: a Seller merchant with
 * the plugin creates a token_pull USDC subscription through the API; the customer approves and
 * subscribes with exactly the returned call; the collector (the sweeper's key) collects period 0
 * and, one on-chain interval (30 days) later, period 1; each collection pays its period, the API's
 * paid_through equals `paidThrough(id)` on chain, the callbacks are queued. A stranger's on-chain
 * subscription with the same ref but another amount is neither collected by this server's collector
 * (it collects only the terms asked for) nor credited.
 */
describe("recurring billing by token pulls on a hardhat node: the Subscriptions contract's collections pay the periods", function () {
  this.timeout(180_000);
  let chain: NodeChain;
  let testDb: TestDb;
  let system: System;
  let indexer: ChainIndexer;
  let scheduler: RecurringScheduler;
  let collector: Collector;
  let token: `0x${string}`;
  let subs: `0x${string}`;
  let key: string;
  let ts: TokenSubscriptionSystem;

  const send = (
    from: `0x${string}`,
    to: `0x${string}`,
    abi: readonly unknown[],
    functionName: string,
    args: readonly unknown[],
  ) => ts.send(from, to, abi, functionName, args);

  before(async function () {
    // The pipeline as runtime/chain.ts composes it: the order sink and the token-subscription sink,
    // then the recurring sink as a follower; stepped by the test.
    const recurringEvents = createRecurringEvents([
      recurringCallbacks("http://pos.test"),
      recurringTxtNotifier(),
    ]);
    ts = await startTokenSubscriptionSystem({
      env: {
        CONFIRMATIONS: "1",
        ETH_USD_PRICE: "2000",
        PUBLIC_URL: "http://pos.test",
        RATE_LIMIT_PER_MINUTE: "100000",
      },
      clockAtChain: true,
      pipeline: {
        context: {
          orderEvents: createOrderEvents([orderCallbacks("http://pos.test")]),
          recurringEvents,
          multicall3: undefined,
        },
      },
      holders: (chain) => [chain.customer, chain.other],
      mint: 100n * PER_PERIOD,
      // As npm start sets SWEEP_MAX_GAS_SHARE on its local chain: test fees, not the subject here.
      collector: { retryBlocks: 5, maxGasSharePpm: 1_000_000n, ethUsdPrice: "2000" },
      merchant: "club@example.com",
    });
    ({ chain, testDb, system, indexer, collector, token, subscriptions: subs, merchantKey: key } = ts);
    scheduler = createRecurringScheduler({
      db: testDb.db,
      chains: system.chains,
      events: recurringEvents,
      now: ts.clock.now,
      indexedBlock: () => indexer.status().indexedBlock,
      log: pino({ level: "silent" }),
    });
  });

  after(async function () {
    await ts?.close();
  });

  const get = async (url: string) => {
    await catchUp(indexer);
    const res = await system.app.inject({ method: "GET", url, headers: { authorization: key } });
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  };
  /** Moves the chain's clock and the server's together to `ms`, then runs the scheduler. */
  async function advanceTo(ms: number) {
    await ts.clock.advanceTo(Math.ceil(ms / 1000));
    ts.clock.set(ms);
    await catchUp(indexer);
    await scheduler.tick();
  }
  /** Indexes, then ticks the collector until it has nothing left to send; returns how many it sent. */
  async function collectAll(): Promise<number> {
    let sent = 0;
    for (let i = 0; i < 20; i++) {
      await catchUp(indexer);
      const outcome = await collector.tick();
      if (outcome.kind === "sent") sent++;
      else if (outcome.kind !== "in-flight") {
        await catchUp(indexer);
        return sent;
      }
    }
    throw new Error("the collector did not settle");
  }
  const paidThroughOnChain = (id: bigint) =>
    chain.client.readContract({
      address: subs,
      abi: subscriptionsAbi,
      functionName: "paidThrough",
      args: [id],
    });
  const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  const outboxKinds = async (id: number) =>
    (
      await testDb.db.query<{ kind: string }>("SELECT kind FROM callbacks WHERE stream = $1 ORDER BY id", [
        `recurring:${id}`,
      ])
    ).rows.map((r) => r.kind);

  it("API → approve + subscribe with the returned call → collector: period 0 then period 1 paid, paid_through = paidThrough(id); a stranger's other-amount subscription with the same ref credits nothing", async function () {
    const startS = Math.floor(ts.clock.now() / 1000) + 600;
    const created = await system.app.inject({
      method: "POST",
      url: "/recurring",
      headers: { authorization: key },
      payload: {
        method: "token_pull",
        token: "USDC",
        amount: "9.99",
        interval: "monthly",
        start: iso(startS),
        address: chain.merchant,
        callback: "http://127.0.0.1:9/recurring",
        item_title: "Climbing club",
        item_description: "Monthly, all walls",
        item_image: "https://example.com/club.svg",
      },
    });
    assert.equal(created.statusCode, 200, created.body);
    const sub = created.json();
    assert.equal(sub.method, "token_pull");
    assert.equal(sub.status, "upcoming");
    assert.equal(sub.token, "USDC");
    assert.equal(sub.periods[0].expected_amount, "9.99");
    assert.equal(sub.periods[0].eth_price, "1.00", "the locked price is the peg");
    assert.equal(sub.address, getAddress(chain.merchant), "nothing is paid to an address: the merchant's");
    const pull = sub.token_pull as TokenPullJson;
    assert.deepEqual(pull, {
      contract: getAddress(subs),
      function: "subscribe",
      args: {
        merchant: getAddress(chain.merchant),
        token: getAddress(token),
        amountPerPeriod: PER_PERIOD.toString(),
        interval: String(MONTH_S),
        start: String(startS),
        ref: pull.args.ref,
      },
      approve: { token: getAddress(token), spender: getAddress(subs), amount: (13n * PER_PERIOD).toString() },
    });
    assert.match(pull.args.ref, /^0x[0-9a-f]{64}$/);
    assert.deepEqual(await get(`/recurring/${sub.id}`).then((s) => s.token_pull), pull);

    // The hosted page shows the calls, never an address to pay to (and no QR code).
    const pagePath = new URL(sub.payment_url as string).pathname;
    const page = await system.app.inject({ method: "GET", url: pagePath });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /id="token-pull"/);
    assert.ok(page.body.includes(`subscribe(${pull.args.merchant}, ${pull.args.token}, ${PER_PERIOD}`));
    assert.doesNotMatch(page.body, /Pay every period to this address/);
    assert.equal((await system.app.inject({ method: "GET", url: `${pagePath}/qr.svg` })).statusCode, 404);

    // The customer's wallet: exactly the returned calls.
    await send(chain.customer, pull.approve.token as Hex, tokenAbi, "approve", [
      pull.approve.spender,
      BigInt(pull.approve.amount),
    ]);
    await send(chain.customer, pull.contract as Hex, subscriptionsAbi, "subscribe", [
      pull.args.merchant,
      pull.args.token,
      BigInt(pull.args.amountPerPeriod),
      BigInt(pull.args.interval),
      BigInt(pull.args.start),
      pull.args.ref,
    ]);
    // A stranger: the same ref, merchant, token, interval and start, one unit per period.
    await send(chain.other, token, tokenAbi, "approve", [subs, 100n]);
    await send(chain.other, subs, subscriptionsAbi, "subscribe", [
      chain.merchant,
      token,
      1n,
      BigInt(MONTH_S),
      BigInt(startS),
      pull.args.ref,
    ]);
    await catchUp(indexer);
    const onChain = await tokenSubscriptionsByRef(testDb.db, CHAIN, pull.args.ref);
    assert.equal(onChain.length, 2);
    const [mine, stranger] = onChain as [(typeof onChain)[0], (typeof onChain)[0]];
    assert.equal(mine.amountPerPeriod, PER_PERIOD);
    assert.equal(stranger.amountPerPeriod, 1n);

    // Nothing is due before the start: the collector sends nothing.
    assert.equal(await collectAll(), 0);
    assert.equal((await get(`/recurring/${sub.id}`)).status, "upcoming");

    // Period 0: due at the start; only ours is collected (the collector collects the terms asked
    // for, and nothing else), and only ours pays.
    await advanceTo(startS * 1000);
    assert.equal(await collectAll(), 1);
    const collected0 = await collectionsByRef(testDb.db, CHAIN, pull.args.ref);
    assert.deepEqual(
      collected0.map((c) => [c.id, c.period, c.amount]),
      [[mine.id, 0n, PER_PERIOD]],
    );
    // Anyone may still collect the stranger's on chain (collect is permissionless): it credits nothing.
    await send(chain.other, subs, subscriptionsAbi, "collect", [stranger.id]);
    const after0 = await get(`/recurring/${sub.id}`);
    assert.equal(after0.status, "active", "paid, the next payment 30 days away");
    assert.equal(after0.periods.length, 1);
    assert.equal(after0.periods[0].paid, true);
    assert.equal(after0.periods[0].amount_paid, "9.99");
    assert.equal(after0.credit, "0", "the stranger's unit is not credited");
    const ours0 = collected0.find((c) => c.id === mine.id);
    assert.equal(after0.periods[0].transaction_id, ours0?.txHash);
    assert.equal(after0.periods[0].ends_at, iso(startS + MONTH_S));
    assert.equal(after0.paid_through, iso(startS + MONTH_S));
    assert.equal(after0.paid_through, iso(Number(await paidThroughOnChain(mine.id))));
    const kinds0 = await outboxKinds(sub.id);
    assert.equal(kinds0.filter((k) => k === "recurring.period_paid").length, 1, kinds0.join());
    assert.ok(kinds0.includes("recurring.status_changed"), kinds0.join());

    // One on-chain interval later (30 days, not a calendar month): period 1 opens and is collected.
    await advanceTo((startS + MONTH_S) * 1000);
    assert.equal((await get(`/recurring/${sub.id}`)).status, "pending", "due now, not yet collected");
    assert.equal(await collectAll(), 1);
    const after1 = await get(`/recurring/${sub.id}`);
    assert.equal(after1.periods.length, 2);
    assert.equal(after1.periods[1].starts_at, iso(startS + MONTH_S));
    assert.equal(after1.periods[1].ends_at, iso(startS + 2 * MONTH_S));
    assert.equal(after1.periods[1].expected_amount, "9.99");
    assert.equal(after1.periods[1].paid, true);
    assert.equal(after1.status, "active");
    assert.equal(after1.credit, "0");
    assert.equal(after1.paid_through, iso(startS + 2 * MONTH_S));
    assert.equal(after1.paid_through, iso(Number(await paidThroughOnChain(mine.id))));
    assert.equal(
      (await outboxKinds(sub.id)).filter((k) => k === "recurring.period_paid").length,
      2,
      "one period_paid per collected period",
    );

    // Listed by status with the seed's fields.
    const listed = await get("/status/recurring/active");
    const entry = listed.orders.find((o: { id: number }) => o.id === sub.id);
    assert.ok(entry, "listed under active");
    for (const [field, type] of Object.entries(SEED_SHAPE))
      assert.equal(typeof entry[field], type, `${field} is a ${type}`);
    assert.equal(entry.status, "active");
    assert.equal(entry.paid, true);
    assert.equal(entry.expected_amount, "9.99");
    assert.equal(entry.method, "token_pull");
    assert.equal(entry.period_index, 1);
    assert.equal(entry.transaction_id, after1.periods[1].transaction_id);
    assert.equal(entry.item_title, "Climbing club");

    // Cancelled through the API: nothing more is owed, so the collector pulls nothing more, although
    // both on-chain subscriptions stay open (only the customer or the merchant can cancel them there).
    const cancelled = await system.app.inject({
      method: "POST",
      url: `/recurring/${sub.id}/cancel`,
      headers: { authorization: key },
    });
    assert.equal(cancelled.statusCode, 200, cancelled.body);
    // The answer says the customer's on-chain subscription is still open (anyone can collect it)
    // and what to call; the stranger's, with other terms, is not the customer's concern.
    const onChainCancel = cancelled.json().on_chain_cancel;
    assert.equal(onChainCancel.required, true);
    assert.deepEqual(onChainCancel.open, [{ id: mine.id.toString(), customer: getAddress(chain.customer) }]);
    assert.ok(
      onChainCancel.message.includes(`cancel(${mine.id}) on the Subscriptions contract ${getAddress(subs)}`),
    );
    await advanceTo((startS + 2 * MONTH_S) * 1000);
    assert.equal(await collectAll(), 0, "no collection after the cancel");
    assert.equal(await paidThroughOnChain(mine.id), BigInt(startS + 2 * MONTH_S), "on chain: not collected");
    assert.equal(
      (await collectionsByRef(testDb.db, CHAIN, pull.args.ref)).length,
      3,
      "periods 0 and 1 of ours, period 0 of the stranger's (collected by the stranger), nothing after",
    );
  });

  it("a subscription whose on-chain terms differ from the API's is not credited even when it is the only one", async function () {
    const startS = Math.floor(ts.clock.now() / 1000) + 600;
    const created = await system.app.inject({
      method: "POST",
      url: "/recurring",
      headers: { authorization: key },
      payload: {
        method: "token_pull",
        token: getAddress(token),
        amount: "5.00",
        interval: "weekly",
        start: iso(startS),
        address: chain.merchant,
        callback: "http://127.0.0.1:9/recurring",
      },
    });
    assert.equal(created.statusCode, 200, created.body);
    const pull = created.json().token_pull as TokenPullJson;
    assert.equal(pull.args.interval, "604800");
    assert.equal(pull.args.amountPerPeriod, "5000000");
    // Subscribed with a start one second later than asked: other terms.
    await send(chain.customer, subs, subscriptionsAbi, "subscribe", [
      pull.args.merchant,
      pull.args.token,
      BigInt(pull.args.amountPerPeriod),
      BigInt(pull.args.interval),
      BigInt(pull.args.start) + 1n,
      pull.args.ref,
    ]);
    await advanceTo((startS + 1) * 1000);
    assert.equal(await collectAll(), 0, "not the terms asked for: the collector does not collect it");
    // Anyone else may (collect is permissionless): it is not credited either.
    await send(chain.other, subs, subscriptionsAbi, "collect", [
      (await tokenSubscriptionsByRef(testDb.db, CHAIN, pull.args.ref))[0]?.id,
    ]);
    await catchUp(indexer);
    const view = await get(`/recurring/${created.json().id}`);
    assert.equal(view.periods[0].paid, false);
    assert.equal(view.periods[0].amount_paid, "0");
    assert.equal(view.status, "pending");
  });
});
