import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import pino from "pino";
import { recurringCallbacks } from "../../server/src/callbacks/recurring-callbacks.ts";
import { createMerchant, setPlugins, type Merchant } from "../../server/src/merchants/service.ts";
import { recurringTxtNotifier } from "../../server/src/notify/recurring.ts";
import { createRecurringEvents } from "../../server/src/recurring/events.ts";
import { createRecurringScheduler, type RecurringScheduler } from "../../server/src/recurring/scheduler.ts";
import { createRecurringService } from "../../server/src/recurring/service.ts";
import { DomainError } from "../../server/src/lib/errors.ts";
import { startApiSystem, type ApiSystem } from "../support/api-system.ts";
import { onRealPostgres } from "../support/db.ts";

const DAY = 86_400_000;
const MERCHANT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const SEED_FIELDS = [
  "id",
  "address",
  "confirmations",
  "currency",
  "currency_amount",
  "expected_amount",
  "payment_url",
  "status",
  "paid",
  "eth_price",
  "qr_code",
  "transaction_id",
  "item_title",
  "item_description",
  "item_image",
  "created_at",
];

/**
 * Recurring billing through the API on a real chain and database, with a controlled clock: plans
 * and plugin refusals naming the plan, validation, merchant isolation on every route, the clock's
 * status changes (upcoming → pending → expired) with their callbacks, cancel, the cap, the hosted
 * page. Payments by plain transfers are in test/e2e/recurring-node.test.ts.
 */
describe(`recurring billing API (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  this.timeout(60_000);
  let api: ApiSystem;
  let clock = Date.parse("2026-06-01T00:00:00Z");
  let scheduler: RecurringScheduler;
  let seller: string;
  let other: string;
  let basic: string;
  let sellerNoPlugin: string;
  let sellerMerchant: Merchant;

  before(async function () {
    api = await startApiSystem(
      { RATE_LIMIT_PER_MINUTE: "100000", PUBLIC_URL: "http://pos.test" },
      { now: () => clock },
    );
    const db = api.testDb.db;
    seller = (await createMerchant(db, "seller@example.com", "seller")).apiKey;
    other = (await createMerchant(db, "other@example.com", "premium")).apiKey;
    basic = (await createMerchant(db, "basic@example.com", "basic")).apiKey;
    sellerNoPlugin = (await createMerchant(db, "seller2@example.com", "seller")).apiKey;
    sellerMerchant = await setPlugins(db, "seller@example.com", {
      recurring_payments: true,
      txt_messaging: true,
      notify_url: "http://127.0.0.1:9/sms",
    });
    await setPlugins(db, "other@example.com", { recurring_payments: true });
    scheduler = createRecurringScheduler({
      db,
      chains: api.system.chains,
      events: createRecurringEvents([recurringCallbacks("http://pos.test"), recurringTxtNotifier()]),
      now: () => clock,
      indexedBlock: () => null,
      log: pino({ level: "silent" }),
    });
  });

  after(async function () {
    await api?.close();
  });

  const req = (method: "GET" | "POST", url: string, key: string | null, payload?: object) =>
    api.system.app.inject({
      method,
      url,
      ...(payload ? { payload } : {}),
      headers: key ? { authorization: key } : {},
    });
  const body = (extra: object = {}) => ({
    amount: "9.99",
    address: MERCHANT,
    callback: "http://127.0.0.1:9/recurring",
    item_title: "Gym",
    item_description: "Monthly membership",
    item_image: "https://example.com/gym.png",
    ...extra,
  });
  const outbox = async (id: number) =>
    (
      await api.testDb.db.query<{ kind: string; body: string }>(
        "SELECT kind, body FROM callbacks WHERE stream = $1 ORDER BY id",
        [`recurring:${id}`],
      )
    ).rows;

  it("refuses below Seller, without the plugin and without a key, naming the plan", async function () {
    const low = await req("POST", "/recurring", basic, body());
    assert.equal(low.statusCode, 403);
    assert.equal(low.json().error.code, "plan_no_recurring");
    assert.match(low.json().error.message, /Seller.*Basic/);
    const off = await req("GET", "/status/recurring/active", sellerNoPlugin);
    assert.equal(off.statusCode, 403);
    assert.equal(off.json().error.code, "plugin_recurring_payments_off");
    assert.match(off.json().error.message, /Seller plan/);
    assert.equal((await req("POST", "/recurring", null, body())).statusCode, 401);
    assert.equal((await req("GET", "/recurring", null)).statusCode, 401);
  });

  it("validates the request with errors that say what to fix", async function () {
    const cases: [object, number, string][] = [
      [{ interval: "daily" }, 400, "invalid_interval"],
      [{ method: "pull" }, 400, "invalid_method"],
      [{ method: "token_pull" }, 400, "token_required"],
      [{ method: "token_pull", token: "ETH" }, 400, "token_pull_no_eth"],
      [{ method: "token_pull", token: "USDC" }, 400, "token_pull_unavailable"],
      [{ start: "tomorrow" }, 400, "invalid_start"],
      [{ start: new Date(clock - 2 * DAY).toISOString() }, 400, "invalid_start"],
      [{ amount: "100.01" }, 403, "plan_max_amount"],
      [{ amount: "0" }, 400, "invalid_amount"],
      [{ token: "DOGE" }, 400, "unsupported_token"],
      [{ address: "0x123" }, 400, "invalid_address"],
    ];
    for (const [extra, code, error] of cases) {
      const res = await req("POST", "/recurring", seller, body(extra));
      assert.equal(res.statusCode, code, JSON.stringify(extra));
      assert.equal(res.json().error.code, error);
    }
    // token_pull's refusals say what to do: which tokens, why not ETH, which setting the chain lacks.
    const noToken = await req("POST", "/recurring", seller, body({ method: "token_pull" }));
    assert.match(noToken.json().error.message, /needs token: one of USDC/);
    const eth = await req("POST", "/recurring", seller, body({ method: "token_pull", token: "eth" }));
    assert.match(eth.json().error.message, /ETH cannot be pulled.*method deposit/);
    const noContract = await req("POST", "/recurring", seller, body({ method: "token_pull", token: "USDC" }));
    assert.match(
      noContract.json().error.message,
      /Subscriptions contract on \S+ \(chain 31337\).*SUBSCRIPTIONS_ADDRESS/,
    );
    const tooHigh = await req("POST", "/recurring", seller, body({ amount: "100.01" }));
    assert.match(tooHigh.json().error.message, /Seller plan/);
  });

  it("creates a subscription: upcoming before its first due date, the seed's fields, a locked rate", async function () {
    const start = new Date(clock + 20 * DAY).toISOString();
    const res = await req("POST", "/recurring", seller, body({ start }));
    assert.equal(res.statusCode, 200, res.body);
    const s = res.json();
    assert.equal(typeof s.id, "number");
    assert.equal(s.status, "upcoming");
    assert.equal(s.interval, "monthly");
    assert.equal(s.periods.length, 1);
    // $9.99 at 3000 USD/ETH, rounded up to the wei: 0.00333 ETH.
    assert.equal(s.periods[0].expected_amount, "0.00333");
    assert.equal(s.periods[0].eth_price, "3000.00");
    assert.match(s.address, /^0x[0-9a-fA-F]{40}$/);
    assert.notEqual(s.address.toLowerCase(), api.chain.contractAddress.toLowerCase());

    const list = await req("GET", "/status/recurring/upcoming", seller);
    assert.equal(list.statusCode, 200);
    const entry = list.json().orders.find((o: { id: number }) => o.id === s.id);
    assert.ok(entry, "listed as upcoming");
    for (const f of SEED_FIELDS) assert.ok(f in entry, `seed field ${f}`);
    assert.equal(entry.currency, "usd");
    assert.equal(entry.currency_amount, "9.99");
    assert.equal(entry.expected_amount, "0.00333");
    assert.equal(entry.paid, false);
    assert.equal(entry.item_title, "Gym");
    assert.equal(entry.subscription_id, s.id);
    assert.equal(entry.period_start, start.replace(/\.\d{3}Z$/, "Z"));
    assert.equal((await req("GET", "/status/recurring/active", seller)).json().orders.length, 0);

    // The reminder 10 days before the due date, once; then pending when due; expired after 10 days late.
    clock = Date.parse(start) - 9 * DAY;
    await scheduler.tick();
    await scheduler.tick();
    clock = Date.parse(start) + DAY;
    await scheduler.tick();
    assert.equal((await req("GET", `/recurring/${s.id}`, seller)).json().status, "pending");
    clock = Date.parse(start) + 9 * DAY;
    await scheduler.tick();
    assert.equal((await req("GET", `/recurring/${s.id}`, seller)).json().status, "pending");
    clock = Date.parse(start) + 11 * DAY;
    await scheduler.tick();
    const expired = (await req("GET", `/recurring/${s.id}`, seller)).json();
    assert.equal(expired.status, "expired");
    const kinds = (await outbox(s.id)).map((r) => r.kind);
    assert.deepEqual(kinds, ["recurring.upcoming", "recurring.status_changed", "recurring.status_changed"]);
    const last = JSON.parse((await outbox(s.id)).at(-1)?.body ?? "{}");
    assert.equal(last.previous_status, "pending");
    assert.equal(last.status, "expired");
    assert.equal(last.subscription.id, s.id);
    // The TXT notifier gets the same events.
    const texts = await api.testDb.db.query<{ kind: string; body: string }>(
      "SELECT kind, body FROM callbacks WHERE stream = $1 AND body LIKE $2 ORDER BY id",
      [`notify:${sellerMerchant.id}`, `%subscription ${s.id} %`],
    );
    assert.deepEqual(
      texts.rows.map((r) => r.kind),
      ["notify.recurring.upcoming", "notify.recurring.status_changed", "notify.recurring.status_changed"],
    );
    assert.match(JSON.parse(texts.rows.at(-1)?.body ?? "{}").text, /is now expired/);
    const entries = (await req("GET", "/status/recurring/expired", seller)).json().orders;
    assert.ok(entries.some((o: { id: number }) => o.id === s.id));
  });

  it("prices a token subscription at the token's USD peg", async function () {
    const res = await req("POST", "/recurring", seller, body({ token: "usdc", interval: "yearly" }));
    assert.equal(res.statusCode, 200, res.body);
    const s = res.json();
    assert.equal(s.token, "USDC");
    assert.equal(s.interval, "yearly");
    assert.equal(s.periods[0].expected_amount, "9.99");
    assert.equal(s.current.eth_price, "1.00");
    assert.equal(Date.parse(s.periods[0].ends_at) - Date.parse(s.periods[0].starts_at), 365 * DAY);
  });

  it("keeps every recurring route to its merchant (404 for another's)", async function () {
    const mine = (await req("POST", "/recurring", seller, body())).json();
    assert.equal((await req("GET", `/recurring/${mine.id}`, other)).statusCode, 404);
    const cancel = await req("POST", `/recurring/${mine.id}/cancel`, other);
    assert.equal(cancel.statusCode, 404);
    assert.equal(cancel.json().error.code, "subscription_not_found");
    assert.equal((await req("GET", "/recurring", other)).json().subscriptions.length, 0);
    for (const status of ["expired", "active", "pending", "upcoming"]) {
      const res = await req("GET", `/status/recurring/${status}`, other);
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().orders.length, 0, status);
    }
    assert.equal((await req("GET", `/recurring/${mine.id}`, seller)).statusCode, 200);
    assert.equal((await req("GET", `/recurring/${mine.id + 1000}`, seller)).statusCode, 404);
  });

  it("lists newest first with a cursor", async function () {
    const first = (await req("GET", "/recurring?limit=1", seller)).json();
    assert.equal(first.subscriptions.length, 1);
    assert.ok(first.next_cursor);
    const second = (await req("GET", `/recurring?limit=1&cursor=${first.next_cursor}`, seller)).json();
    assert.ok(second.subscriptions[0].id < first.subscriptions[0].id);
    assert.equal((await req("GET", "/recurring?cursor=abc", seller)).statusCode, 400);
  });

  it("cancels once: nothing more is owed; unpaid, it is expired at once", async function () {
    const s = (await req("POST", "/recurring", seller, body())).json();
    assert.equal(s.status, "pending", "due now, unpaid");
    const c = await req("POST", `/recurring/${s.id}/cancel`, seller);
    assert.equal(c.statusCode, 200);
    assert.equal(c.json().status, "expired");
    assert.ok(c.json().cancelled_at);
    const again = (await req("POST", `/recurring/${s.id}/cancel`, seller)).json();
    assert.equal(again.cancelled_at, c.json().cancelled_at);
    assert.deepEqual(
      (await outbox(s.id)).map((r) => r.kind),
      ["recurring.status_changed"],
    );
  });

  it("a subscription cancelled before its first due date says cancelled, keeps decimal fields and offers no QR", async function () {
    const start = new Date(clock + 30 * 86_400_000).toISOString();
    const s = (await req("POST", "/recurring", seller, body({ start }))).json();
    assert.equal(s.status, "upcoming");
    const c = await req("POST", `/recurring/${s.id}/cancel`, seller);
    assert.equal(c.statusCode, 200, c.body);
    assert.equal(c.json().status, "expired");
    const listed = (await req("GET", "/status/recurring/expired", seller)).json();
    const cancelled = listed.orders.find((o: { id: number }) => o.id === s.id);
    assert.ok(cancelled, "listed under expired, the seed's status for a subscription that owes nothing more");
    // Nothing is owed: the amounts are decimal strings, never empty.
    assert.match(cancelled.expected_amount, /^\d+(\.\d+)?$/, `expected_amount ${cancelled.expected_amount}`);
    assert.equal(Number(cancelled.expected_amount), 0);
    assert.match(cancelled.eth_price, /^\d+\.\d{2,}$/, `eth_price ${cancelled.eth_price}`);
    const path = new URL(s.payment_url).pathname;
    const page = await api.system.app.inject({ method: "GET", url: path });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /id="status"[^>]*>cancelled</);
    assert.doesNotMatch(page.body, /late/i);
    assert.doesNotMatch(page.body, /Paid through/, "nothing was paid: no paid-through date");
    assert.doesNotMatch(page.body, /class="qr"/);
    const qr = await api.system.app.inject({ method: "GET", url: `${path}/qr.svg` });
    assert.equal(qr.statusCode, 410, qr.body);
    assert.equal(qr.json().error.code, "subscription_cancelled");
  });

  it("serves the hosted page and its QR by an unguessable link only", async function () {
    const s = (await req("POST", "/recurring", seller, body())).json();
    const path = new URL(s.payment_url).pathname;
    assert.match(path, /^\/subscription\/[0-9a-f]{32}$/);
    const page = await api.system.app.inject({ method: "GET", url: path });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, new RegExp(s.address));
    assert.match(page.body, /Gym/);
    const qr = await api.system.app.inject({ method: "GET", url: `${path}/qr.svg` });
    assert.equal(qr.statusCode, 200);
    assert.match(String(qr.headers["content-type"]), /image\/svg\+xml/);
    assert.equal(
      (await api.system.app.inject({ method: "GET", url: `/subscription/${"0".repeat(32)}` })).statusCode,
      404,
    );
    assert.equal(
      (await api.system.app.inject({ method: "GET", url: `/subscription/${s.id}` })).statusCode,
      400,
    );
  });

  it("opens a period (locking its rate) when it becomes upcoming; a price outage delays it, never blocks the tick", async function () {
    const a = (await req("POST", "/recurring", seller, body({ amount: "1.00" }))).json();
    const b = (await req("POST", "/recurring", seller, body({ amount: "2.00" }))).json();
    const due1 = Date.parse(a.periods[0].ends_at);
    const down = createRecurringScheduler({
      db: api.testDb.db,
      chains: api.system.chains.map((c) => ({
        name: c.name,
        chainId: c.chainId,
        tokens: c.tokens,
        failure: () => null,
        prices: {
          ethUsd: async () => {
            throw new Error("price feed down");
          },
        },
      })),
      events: createRecurringEvents(),
      now: () => clock,
      indexedBlock: () => null,
      log: pino({ level: "silent" }),
      batch: 1,
    });
    clock = due1 - 10 * DAY;
    await down.tick();
    assert.equal(
      (await req("GET", `/recurring/${a.id}`, seller)).json().periods.length,
      1,
      "no rate: not opened",
    );
    await scheduler.tick();
    for (const s of [a, b]) {
      const now = (await req("GET", `/recurring/${s.id}`, seller)).json();
      assert.equal(now.periods.length, 2);
      assert.equal(
        now.periods[1].opens_at,
        new Date(due1 - 10 * DAY).toISOString().replace(/\.\d{3}Z$/, "Z"),
      );
      assert.equal(now.periods[1].eth_price, "3000.00");
    }
  });

  it("caps live subscriptions on the plugin, naming the plan and the plugin", async function () {
    const service = createRecurringService({
      db: api.testDb.db,
      chains: api.system.chains,
      events: createRecurringEvents(),
      now: () => clock,
      indexedBlock: () => null,
      allowPrivateCallbacks: true,
      maxLive: 1,
    });
    // Everything made earlier is expired by now (unpaid for weeks): one live subscription fills the cap.
    const live = await service.create(body(), sellerMerchant);
    assert.equal(live.subscription.status, "pending");
    await assert.rejects(
      service.create(body(), sellerMerchant),
      (e: unknown) =>
        e instanceof DomainError &&
        e.code === "plugin_recurring_payments_limit" &&
        /Recurring Payments plugin.*at most 1 live.*Seller plan/.test(e.message),
    );
  });
});
