import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { parseDecimal } from "../../server/src/lib/money.ts";
import { createMerchant, setPlugins } from "../../server/src/merchants/service.ts";
import { startApiSystem, type ApiSystem } from "../support/api-system.ts";

/** The seed's order example: every field name and JSON type must match. */
const SEED_ORDER = {
  id: 716101402,
  address: "0x1679548078de9a5a9129d75719b5e442abd5b2e5",
  expected_amount: "0.4173",
  currency: "usd",
  currency_amount: "29.20",
  payment_url: "https://ethereumpos.com/test_payment/716101402",
  status: "complete",
  eth_price: "69.98",
  qr_code: "http://chart.apis.google.com/chart",
  transaction_id: "0x8586",
  sent_transaction: "0x4746",
  created_at: "0001-01-01T00:00:00Z",
  return_to: "0x888a5fEFAA912778FdBf8eC222F299e96057c43b",
  paid: true,
  expired: false,
};

describe("REST API: orders, history, isolation, plans", function () {
  let api: ApiSystem;
  let chain: ApiSystem["chain"];
  let testDb: ApiSystem["testDb"];
  let system: ApiSystem["system"];
  let keyA: string;
  let keyB: string;
  let keyFree: string;

  before(async function () {
    api = await startApiSystem({ ETH_USD_PRICE: "69.98", PUBLIC_URL: "http://pos.test" });
    ({ chain, testDb, system } = api);
    keyA = (await createMerchant(testDb.db, "a@example.com", "premium")).apiKey;
    keyB = (await createMerchant(testDb.db, "b@example.com", "premium")).apiKey;
    keyFree = (await createMerchant(testDb.db, "free@example.com", "free")).apiKey;
  });

  after(async function () {
    await api?.close();
  });

  const post = (payload: unknown, key?: string) =>
    system.app.inject({
      method: "POST",
      url: "/order",
      payload: payload as object,
      headers: key ? { authorization: key } : {},
    });
  const order = (amount: string, extra: object = {}) => ({
    amount,
    address: chain.merchant.address,
    callback: "http://127.0.0.1:9/cb",
    ...extra,
  });

  it("answers POST /order with every seed field, of the seed's JSON type", async function () {
    const res = await post(order("29.20", { item_title: "Coffee" }), keyA);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    for (const [field, example] of Object.entries(SEED_ORDER)) {
      assert.ok(field in body, `missing ${field}`);
      assert.equal(typeof body[field], typeof example, `${field} type`);
    }
    assert.match(body.created_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    assert.equal(body.currency_amount, "29.20");
    assert.equal(body.eth_price, "69.98");
    // 29.20 / 69.98 ETH = 0.417262074878536725…, rounded up to 8 decimals (QUOTE_DECIMALS).
    assert.equal(body.expected_amount, "0.41726208");
    assert.equal(body.item_title, "Coffee");
    assert.equal(body.payment_url, `http://pos.test/pay/${body.id}`);
    assert.equal(body.qr_code, `http://pos.test/order/${body.id}/qr.svg`);
    assert.ok(Number.isSafeInteger(body.id) && body.id >= 1e9);
  });

  it("prices token orders exactly in the token's units", async function () {
    const res = await post(order("13.54", { token: "usdc" }), keyA);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().expected_amount, "13.54");
    assert.equal(res.json().token, "USDC");
    const bad = await post(order("1.00", { token: "DOGE" }));
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().error.message, /ETH, USDC/);
  });

  it("rejects bad input with a 400 that says what to fix", async function () {
    const cases: [object, RegExp][] = [
      [order("0"), /greater than 0/],
      [order("1.234"), /at most 2 decimals/],
      [order("abc"), /amount/],
      [{ ...order("1.00"), address: "0x70997970c51812dc3A010C7d01b50e0d17dc79C8" }, /checksum/],
      [{ ...order("1.00"), address: "0x1234" }, /40 hex digits/],
      [{ ...order("1.00"), callback: "ftp://x" }, /http or https/],
      [{ amount: "1.00" }, /address|callback/],
      [{ ...order("1.00"), extra: 1 }, /additional/],
      [{ ...order("1.00"), amount: 1 }, /amount/],
    ];
    for (const [payload, message] of cases) {
      const res = await post(payload);
      assert.equal(res.statusCode, 400, JSON.stringify(payload));
      assert.match(res.json().error.message, message, JSON.stringify(payload));
    }
  });

  it("needs a key from $5.00 up, and refuses a wrong key", async function () {
    assert.equal((await post(order("4.99"))).statusCode, 200);
    const res = await post(order("5.00"));
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().error.code, "unauthorized");
    assert.equal((await post(order("1.00"), "epos_000000000000_" + "0".repeat(48))).statusCode, 401);
    assert.equal((await post(order("5.00"), `Bearer ${keyA}`)).statusCode, 200);
  });

  it("enforces the plan's maximum amount (403) and daily count (429), naming the plan", async function () {
    const tooBig = await post(order("10.01"), keyFree);
    assert.equal(tooBig.statusCode, 403);
    assert.match(tooBig.json().error.message, /Free plan allows orders up to \$10\.00/);
    for (let i = 0; i < 10; i++) assert.equal((await post(order("1.00"), keyFree)).statusCode, 200);
    const over = await post(order("1.00"), keyFree);
    assert.equal(over.statusCode, 429);
    assert.match(over.json().error.message, /Free plan allows 10 orders per day/);
  });

  it("holds the daily count under concurrent creation: exactly the limit succeeds", async function () {
    const { apiKey } = await createMerchant(testDb.db, "burst@example.com", "basic");
    const results = await Promise.all(Array.from({ length: 60 }, () => post(order("2.00"), apiKey)));
    const codes = results.map((r) => r.statusCode);
    assert.equal(codes.filter((c) => c === 200).length, 25, JSON.stringify(codes));
    assert.equal(codes.filter((c) => c === 429).length, 35);
    const { rows } = await testDb.db.query<{ orders: bigint; slots: number }>(
      `SELECT (SELECT count(*) FROM orders o JOIN merchants m ON m.id = o.merchant_id WHERE m.email = $1)::int8 AS orders,
              (SELECT d.count FROM merchant_daily_orders d JOIN merchants m ON m.id = d.merchant_id WHERE m.email = $1) AS slots`,
      ["burst@example.com"],
    );
    assert.deepEqual(rows[0], { orders: 25n, slots: 25 });
    const user = await system.app.inject({ method: "GET", url: "/user", headers: { authorization: apiKey } });
    assert.equal(user.json().transactions_today, 25);
  });

  it("isolates merchants: B can neither read nor list A's orders", async function () {
    const mine = (await post(order("7.00"), keyA)).json();
    const asB = await system.app.inject({
      method: "GET",
      url: `/order/${mine.id}`,
      headers: { authorization: keyB },
    });
    assert.equal(asB.statusCode, 404);
    const anon = await system.app.inject({ method: "GET", url: `/order/${mine.id}` });
    assert.equal(anon.statusCode, 404);
    const asA = await system.app.inject({
      method: "GET",
      url: `/order/${mine.id}`,
      headers: { authorization: keyA },
    });
    assert.equal(asA.statusCode, 200);
    const listB = (
      await system.app.inject({ method: "GET", url: "/history", headers: { authorization: keyB } })
    ).json();
    assert.equal(listB.orders.length, 0);
    const listA = (
      await system.app.inject({ method: "GET", url: "/history/pending", headers: { authorization: keyA } })
    ).json();
    assert.ok(listA.orders.some((o: { id: number }) => o.id === mine.id));
  });

  it("pages history with a keyset cursor, newest first, without gaps or repeats", async function () {
    const { apiKey } = await createMerchant(testDb.db, "pages@example.com", "premium");
    const ids: number[] = [];
    for (let i = 0; i < 7; i++) ids.push((await post(order("1.00"), apiKey)).json().id);
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/history?limit=3${cursor ? `&cursor=${cursor}` : ""}`;
      const page = (
        await system.app.inject({ method: "GET", url, headers: { authorization: apiKey } })
      ).json();
      assert.ok(page.orders.length <= 3);
      seen.push(...page.orders.map((o: { id: number }) => o.id));
      cursor = page.next_cursor;
    } while (cursor);
    assert.deepEqual(seen, [...ids].reverse());
    const bad = await system.app.inject({
      method: "GET",
      url: "/history?cursor=zzz",
      headers: { authorization: apiKey },
    });
    assert.equal(bad.statusCode, 400);
  });

  it("maps protocol errors: 404, 405, 406, and unknown statuses", async function () {
    assert.equal((await system.app.inject({ method: "GET", url: "/nope" })).statusCode, 404);
    const wrong = await system.app.inject({ method: "PUT", url: "/order" });
    assert.equal(wrong.statusCode, 405);
    assert.match(String(wrong.headers.allow), /POST/);
    const html = await system.app.inject({
      method: "GET",
      url: "/history",
      headers: { accept: "text/html", authorization: keyA },
    });
    assert.equal(html.statusCode, 406);
    const status = await system.app.inject({
      method: "GET",
      url: "/history/paid",
      headers: { authorization: keyA },
    });
    assert.equal(status.statusCode, 400);
    const recurringFree = await system.app.inject({
      method: "GET",
      url: "/status/recurring/active",
      headers: { authorization: keyFree },
    });
    assert.equal(recurringFree.statusCode, 403);
    // Seller or above and the Recurring Payments plugin (test/server/api-plugins.test.ts covers the 403s).
    await setPlugins(testDb.db, "a@example.com", { recurring_payments: true });
    // Recurring billing is live (test/server/api-recurring.test.ts, test/e2e/recurring-node.test.ts):
    // a subscription due now and unpaid is listed as pending.
    const created = await system.app.inject({
      method: "POST",
      url: "/recurring",
      payload: {
        amount: "5.00",
        address: "0x1679548078de9a5a9129d75719b5e442abd5b2e5",
        callback: "http://127.0.0.1:9/cb",
      },
      headers: { authorization: keyA },
    });
    assert.equal(created.statusCode, 200, created.body);
    const recurring = await system.app.inject({
      method: "GET",
      url: "/status/recurring/pending",
      headers: { authorization: keyA },
    });
    assert.equal(recurring.statusCode, 200);
    assert.deepEqual(
      recurring.json().orders.map((o: { id: number; status: string }) => [o.id, o.status]),
      [[created.json().id, "pending"]],
    );
  });

  it("serves a QR code with the EIP-681 plain-transfer URI, the pay page and the OpenAPI document", async function () {
    const created = (await post(order("1.00"))).json();
    const qr = await system.app.inject({ method: "GET", url: `/order/${created.id}/qr.svg` });
    assert.equal(qr.statusCode, 200);
    assert.match(String(qr.headers["content-type"]), /image\/svg\+xml/);
    assert.match(qr.body, /^<svg/);
    const page = await system.app.inject({ method: "GET", url: `/pay/${created.id}` });
    assert.equal(page.statusCode, 200);
    assert.match(
      page.body,
      new RegExp(`ethereum:${created.address}@31337\\?value=${parseDecimal(created.expected_amount, 18)}<`),
    );
    const docs = await system.app.inject({ method: "GET", url: "/docs/json" });
    assert.equal(docs.statusCode, 200);
    assert.ok(docs.json().paths["/order"]);
  });
});
