import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import pino from "pino";
import { parseAbi, parseEther, type Hex } from "viem";
import { orderCallbacks } from "../../server/src/callbacks/order-callbacks.ts";
import { recurringCallbacks } from "../../server/src/callbacks/recurring-callbacks.ts";
import { depositsAbi } from "../../server/src/deposits/abi.ts";
import { depositsReadyToSweep } from "../../server/src/deposits/repository.ts";
import { createMerchant, setPlugins } from "../../server/src/merchants/service.ts";
import { txtNotifier } from "../../server/src/notify/order-status.ts";
import { recurringTxtNotifier } from "../../server/src/notify/recurring.ts";
import { createOrderEvents } from "../../server/src/orders/events.ts";
import { createRecurringEvents } from "../../server/src/recurring/events.ts";
import { createRecurringScheduler, type RecurringScheduler } from "../../server/src/recurring/scheduler.ts";
import { periodStart } from "../../server/src/recurring/schedule.ts";
import type { ChainIndexer } from "../../server/src/runtime/pipeline.ts";
import type { System } from "../../server/src/system.ts";
import type { TestDb } from "../support/db.ts";
import { catchUp } from "../support/indexing.ts";
import { startNodeSystem, type NodeChain, type NodeSystem } from "../support/node-system.ts";

const DAY = 86_400_000;
const ETH = "0x0000000000000000000000000000000000000000";
/** The seed's "Recurring Billing Status" entry: every field, with its JSON type. */
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

/**
 * Recurring billing end to end on a `hardhat node` process: a Seller merchant with the plugin
 * creates a subscription; the customer pays three periods by plain 21,000-gas transfers to its
 * dedicated address (a partial payment topped up later, then one overpayment that covers two
 * periods); the clock (the chain's time and the server's, moved together) opens periods, makes
 * the subscription upcoming, pending and, 11 days late, expired; paid again it is active. A
 * stranger's sweep moves the money into the contract for the merchant and changes nothing.
 */
describe("recurring billing on a hardhat node: plain transfers to the subscription's address", function () {
  this.timeout(180_000);
  const CONFIRMATIONS = 2;
  let node: NodeSystem;
  let chain: NodeChain;
  let testDb: TestDb;
  let system: System;
  let indexer: ChainIndexer;
  let scheduler: RecurringScheduler;
  let key: string;

  before(async function () {
    // The pipeline as system.ts wires it (order sink, then the recurring sink as a follower), stepped by the test.
    const recurringEvents = createRecurringEvents([
      recurringCallbacks("http://pos.test"),
      recurringTxtNotifier(),
    ]);
    node = await startNodeSystem({
      modules: ["multicall3"],
      env: {
        CONFIRMATIONS: String(CONFIRMATIONS),
        PUBLIC_URL: "http://pos.test",
        RATE_LIMIT_PER_MINUTE: "100000",
      },
      clockAtChain: true,
      pipeline: {
        context: {
          orderEvents: createOrderEvents([orderCallbacks("http://pos.test"), txtNotifier()]),
          recurringEvents,
        },
      },
    });
    ({ chain, testDb, system } = node);
    indexer = node.indexer as ChainIndexer;
    scheduler = createRecurringScheduler({
      db: testDb.db,
      chains: system.chains,
      events: recurringEvents,
      now: node.clock.now,
      indexedBlock: () => indexer.status().indexedBlock,
      log: pino({ level: "silent" }),
    });
    key = (await createMerchant(testDb.db, "gym@example.com", "seller")).apiKey;
    await setPlugins(testDb.db, "gym@example.com", { recurring_payments: true });
  });

  after(async function () {
    await node?.close();
  });

  const get = async (url: string) => {
    await catchUp(indexer);
    const res = await system.app.inject({ method: "GET", url, headers: { authorization: key } });
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  };
  /** Moves the chain's clock and the server's together to `ms`, then runs the scheduler. */
  async function advanceTo(ms: number) {
    await node.clock.advanceTo(Math.ceil(ms / 1000));
    node.clock.set(ms);
    await catchUp(indexer);
    await scheduler.tick();
  }
  async function pay(to: string, value: bigint) {
    const hash = await chain.wallet.sendTransaction({
      account: chain.customer,
      to: to as `0x${string}`,
      value,
      chain: null,
    });
    const receipt = await chain.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    assert.equal(receipt.status, "success");
    assert.equal(receipt.gasUsed, 21_000n, "a plain transfer");
    await catchUp(indexer);
    return hash;
  }
  function assertSeedShape(entry: Record<string, unknown>, status: string) {
    for (const [field, type] of Object.entries(SEED_SHAPE)) {
      assert.equal(typeof entry[field], type, `${status}: ${field} is a ${type}`);
    }
    assert.equal(entry.status, status);
    assert.equal(entry.currency, "usd");
    assert.match(entry.currency_amount as string, /^\d+\.\d{2}$/);
    assert.match(entry.expected_amount as string, /^\d+(\.\d+)?$/);
    assert.match(entry.eth_price as string, /^\d+\.\d{2,}$/);
    assert.match(entry.created_at as string, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    assert.equal(entry.item_title, "Gym membership");
    assert.equal(entry.item_description, "All clubs, monthly");
    assert.equal(entry.item_image, "https://example.com/gym.svg");
    for (const extra of ["subscription_id", "period_index", "period_start", "period_end", "interval"])
      assert.ok(extra in entry, `extra field ${extra}`);
  }
  async function listed(status: string, id: number) {
    const body = await get(`/status/recurring/${status}`);
    const entry = body.orders.find((o: { id: number }) => o.id === id);
    assert.ok(entry, `listed under ${status}`);
    assertSeedShape(entry, status);
    return entry;
  }

  it("three periods paid by plain transfers (partial + top-up, one overpayment for two), then 11 days late → expired, paid again → active", async function () {
    const start = node.clock.now();
    const created = await system.app.inject({
      method: "POST",
      url: "/recurring",
      headers: { authorization: key },
      payload: {
        amount: "10.00",
        address: chain.merchant,
        callback: "http://127.0.0.1:9/recurring",
        item_title: "Gym membership",
        item_description: "All clubs, monthly",
        item_image: "https://example.com/gym.svg",
      },
    });
    assert.equal(created.statusCode, 200, created.body);
    const s = created.json();
    const id = s.id as number;
    // $10.00 at 2000 USD/ETH: 0.005 ETH per period.
    const price = parseEther("0.005");
    assert.equal(s.periods[0].expected_amount, "0.005");
    assert.equal(s.status, "pending", "due at creation, not paid yet");
    const onChain = await chain.client.readContract({
      address: chain.contract,
      abi: depositsAbi,
      functionName: "depositAddressOf",
      args: [chain.merchant, (await reference(id)) as Hex],
    });
    assert.equal(s.address, onChain, "the contract's own CREATE2 address for (merchant, reference)");

    // Period 0: a partial payment, then the top-up.
    await pay(s.address, parseEther("0.002"));
    let now = await get(`/recurring/${id}`);
    assert.equal(now.status, "pending");
    assert.equal(now.periods[0].amount_paid, "0.002");
    assert.equal(now.periods[0].paid, false);
    // The hosted page asks for what the period still needs.
    const page = await system.app.inject({ method: "GET", url: new URL(s.payment_url).pathname });
    assert.match(page.body, /<strong id="amount">0\.003 ETH<\/strong>/);
    const topUp = await pay(s.address, parseEther("0.003"));
    now = await get(`/recurring/${id}`);
    assert.equal(now.status, "active");
    assert.equal(now.periods[0].paid, true);
    assert.equal(now.periods[0].transaction_id, topUp);
    const active0 = await listed("active", id);
    assert.equal(active0.paid, true);
    assert.equal(active0.transaction_id, topUp);
    assert.equal(active0.expected_amount, "0.005");
    assert.equal(active0.eth_price, "2000.00");

    // Period 1 opens 10 days before it is due (rate locked): upcoming, with the reminder.
    const due1 = periodStart(new Date(start), "monthly", 1).getTime();
    await advanceTo(due1 - 10 * DAY);
    now = await get(`/recurring/${id}`);
    assert.equal(now.periods.length, 2);
    assert.equal(now.status, "upcoming");
    const upcoming = await listed("upcoming", id);
    assert.equal(upcoming.period_index, 1);
    assert.equal(upcoming.paid, false);

    // One overpayment covers periods 1 and 2: the rest is carried until period 2 opens.
    await pay(s.address, 2n * price);
    now = await get(`/recurring/${id}`);
    assert.equal(now.status, "active");
    assert.equal(now.credit, "0.005");
    const due2 = periodStart(new Date(start), "monthly", 2).getTime();
    await advanceTo(due2 - 10 * DAY);
    now = await get(`/recurring/${id}`);
    assert.equal(now.periods.length, 3);
    assert.deepEqual(
      now.periods.map((p: { paid: boolean }) => p.paid),
      [true, true, true],
    );
    assert.equal(now.credit, "0");
    assert.equal(now.status, "active", "period 2 was paid in advance by the carried credit");
    const due3 = periodStart(new Date(start), "monthly", 3).getTime();
    assert.equal(now.paid_through, new Date(due3).toISOString().replace(/\.\d{3}Z$/, "Z"));
    const active = await listed("active", id);
    assert.equal(active.paid, true);

    // Nothing more: upcoming 10 days before period 3, pending 1 and 9 days late, expired at 11.
    await advanceTo(due3 - 10 * DAY);
    await listed("upcoming", id);
    await advanceTo(due3 + 1 * DAY);
    await listed("pending", id);
    await advanceTo(due3 + 9 * DAY);
    const pending = await listed("pending", id);
    assert.equal(pending.period_index, 3);
    await advanceTo(due3 + 11 * DAY);
    const expired = await listed("expired", id);
    assert.equal(expired.paid, false);
    assert.equal((await get("/status/recurring/pending")).orders.length, 0);

    // Paid again after expiry: the overdue period first, and active again.
    const back = await pay(s.address, price);
    const again = await listed("active", id);
    assert.equal(again.period_index, 3);
    assert.equal(again.transaction_id, back);

    // Callbacks: ordered per subscription, the payloads carry the seed's entry.
    const { rows } = await testDb.db.query<{ kind: string; body: string }>(
      "SELECT kind, body FROM callbacks WHERE stream = $1 ORDER BY id",
      [`recurring:${id}`],
    );
    const kinds = rows.map((r) => r.kind);
    const paidPeriods = rows
      .filter((r) => r.kind === "recurring.period_paid")
      .map((r) => JSON.parse(r.body).period.index);
    assert.deepEqual(paidPeriods, [0, 1, 2, 3]);
    const statuses = rows
      .filter((r) => r.kind === "recurring.status_changed")
      .map((r) => JSON.parse(r.body))
      .map((b) => `${b.previous_status}>${b.status}`);
    assert.deepEqual(statuses, [
      "pending>active",
      "active>upcoming",
      "upcoming>active",
      "active>upcoming",
      "upcoming>pending",
      "pending>expired",
      "expired>active",
    ]);
    assert.equal(kinds.filter((k) => k === "recurring.upcoming").length, 2, "a reminder for periods 1 and 3");
    const firstPaid = JSON.parse(rows.find((r) => r.kind === "recurring.period_paid")?.body ?? "{}");
    assert.ok(firstPaid.subscription.confirmations >= 1);
    assert.equal(firstPaid.subscription.transaction_id, topUp);
    // No order was touched by the subscription's money.
    const orders = await testDb.db.query("SELECT 1 FROM callbacks WHERE kind LIKE 'order.%'");
    assert.equal(orders.rows.length, 0);

    // The deposit is swept like an order's (sweepDeposits binds merchant + reference + chain):
    // the merchant is credited in the contract and the subscription is unchanged.
    await chain.mine(CONFIRMATIONS);
    await catchUp(indexer);
    const ready = await depositsReadyToSweep(testDb.db, 31337n, (await chain.client.getBlockNumber()) - 1n);
    const candidate = ready.find((d) => d.address === s.address.toLowerCase());
    assert.ok(candidate, "the sweeper sees the subscription's address");
    assert.equal(candidate.amount, 4n * price);
    const hash = await chain.wallet.writeContract({
      address: chain.contract,
      abi: depositsAbi,
      functionName: "sweepDeposits",
      args: [[{ merchant: chain.merchant, orderId: candidate.orderRef as Hex, token: ETH }]],
      account: chain.other,
      chain: null,
    });
    assert.equal(
      (await chain.client.waitForTransactionReceipt({ hash, pollingInterval: 50 })).status,
      "success",
    );
    const credited = await chain.client.readContract({
      address: chain.contract,
      abi: parseAbi(["function balanceOf(address merchant, address token) view returns (uint256)"]),
      functionName: "balanceOf",
      args: [chain.merchant, ETH],
    });
    assert.equal(credited, 4n * price);
    const swept = await get(`/recurring/${id}`);
    assert.equal(swept.status, "active");
    assert.deepEqual(
      swept.periods.map((p: { paid: boolean }) => p.paid),
      [true, true, true, true],
    );
    assert.equal(swept.credit, "0");
  });

  it("a reorg that removes the payment makes the period unpaid again (and says so)", async function () {
    const created = await system.app.inject({
      method: "POST",
      url: "/recurring",
      headers: { authorization: key },
      payload: {
        amount: "10.00",
        address: chain.merchant,
        callback: "http://127.0.0.1:9/recurring",
        interval: "weekly",
      },
    });
    assert.equal(created.statusCode, 200, created.body);
    const s = created.json();
    const snapshot = await chain.snapshot();
    await pay(s.address, parseEther("0.005"));
    await chain.mine(1);
    assert.equal((await get(`/recurring/${s.id}`)).status, "active");
    await chain.revert(snapshot);
    // A longer branch without the payment.
    await chain.wallet.sendTransaction({ account: chain.other, to: chain.owner, value: 1n, chain: null });
    await chain.mine(3);
    const now = await get(`/recurring/${s.id}`);
    assert.equal(now.status, "pending");
    assert.equal(now.periods[0].paid, false);
    assert.equal(now.periods[0].amount_paid, "0");
    const { rows } = await testDb.db.query<{ kind: string; body: string }>(
      "SELECT kind, body FROM callbacks WHERE stream = $1 ORDER BY id",
      [`recurring:${s.id}`],
    );
    assert.deepEqual(
      rows.filter((r) => r.kind === "recurring.status_changed").map((r) => JSON.parse(r.body).status),
      ["active", "pending"],
    );
  });

  async function reference(id: number): Promise<string> {
    const { rows } = await testDb.db.query<{ reference: string }>(
      "SELECT reference FROM subscriptions WHERE id = $1",
      [id],
    );
    return rows[0]?.reference ?? "";
  }
});
