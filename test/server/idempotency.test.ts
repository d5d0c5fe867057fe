/**
 * Safe retries: an Idempotency-Key on POST /order, POST /recurring and POST /pos/order. A retried
 * request gets the first answer and makes no second order; another body under the same key is 422;
 * keys are scoped to the merchant or terminal key and last 24 hours; 20 concurrent requests with
 * one key make one order.
 */
import assert from "node:assert/strict";
import { createMerchant, setPlugins } from "../../server/src/merchants/service.ts";
import { proveAddress, startApiSystem, type ApiSystem } from "../support/api-system.ts";
import { onRealPostgres } from "../support/db.ts";

describe(`API: Idempotency-Key (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let api: ApiSystem;
  let keyA: string;
  let keyB: string;
  let clock = Date.now();

  before(async function () {
    api = await startApiSystem({ RATE_LIMIT_PER_MINUTE: "100000" }, { now: () => clock });
    keyA = (await createMerchant(api.testDb.db, "idem-a@example.com", "premium")).apiKey;
    keyB = (await createMerchant(api.testDb.db, "idem-b@example.com", "premium")).apiKey;
    await proveAddress(api.system, keyA, api.chain.merchant);
    await setPlugins(api.testDb.db, "idem-a@example.com", { recurring_payments: true });
  });
  after(async function () {
    await api?.close();
  });

  const body = (amount: string, extra: object = {}) => ({
    amount,
    address: api.chain.merchant.address,
    callback: "https://shop.example/cb",
    ...extra,
  });
  const post = (url: string, key: string, payload: object, idempotencyKey?: string, extra = {}) =>
    api.system.app.inject({
      method: "POST",
      url,
      headers: {
        authorization: key,
        ...(idempotencyKey === undefined ? {} : { "idempotency-key": idempotencyKey }),
        ...extra,
      },
      payload,
    });
  const emails = () =>
    new Map([
      [keyA, "idem-a@example.com"],
      [keyB, "idem-b@example.com"],
    ]);
  const ordersOf = async (apiKey: string) =>
    Number(
      (
        await api.testDb.db.query<{ n: string }>(
          "SELECT count(*)::text AS n FROM orders o JOIN merchants m ON m.id = o.merchant_id WHERE m.email = $1",
          [emails().get(apiKey)],
        )
      ).rows[0]?.n,
    );

  it("a retry with the same key and body returns the first order, marked as replayed, and makes no second", async function () {
    const before = await ordersOf(keyA);
    const first = await post("/order", keyA, body("12.00"), "retry-1");
    assert.equal(first.statusCode, 200, first.body);
    assert.equal(first.headers["idempotent-replayed"], undefined);
    const again = await post("/order", keyA, body("12.00"), "retry-1");
    assert.equal(again.statusCode, 200, again.body);
    assert.equal(again.headers["idempotent-replayed"], "true");
    assert.deepEqual(again.json(), first.json());
    assert.equal(await ordersOf(keyA), before + 1);
  });

  it("the same key with keys of the body in another order is the same request", async function () {
    const a = await post(
      "/order",
      keyA,
      { callback: "https://shop.example/cb", amount: "3.10", address: api.chain.merchant.address },
      "order-of-keys",
    );
    const b = await post("/order", keyA, body("3.10"), "order-of-keys");
    assert.equal(a.statusCode, 200, a.body);
    assert.equal(b.json().id, a.json().id);
  });

  it("the same key with a different body is 422 idempotency_key_reused, and no order is made", async function () {
    const first = await post("/order", keyA, body("7.00"), "reused");
    assert.equal(first.statusCode, 200, first.body);
    const before = await ordersOf(keyA);
    const other = await post("/order", keyA, body("7.01"), "reused");
    assert.equal(other.statusCode, 422, other.body);
    assert.equal(other.json().error.code, "idempotency_key_reused");
    assert.match(other.json().error.message, /different body/);
    assert.equal(await ordersOf(keyA), before);
    // The same key on another route names the route it was used on.
    const recurring = await post("/recurring", keyA, body("7.00", { interval: "monthly" }), "reused");
    assert.equal(recurring.statusCode, 422, recurring.body);
    assert.match(recurring.json().error.message, /POST \/order/);
  });

  it("keys are scoped to the merchant: another merchant's identical key makes its own order", async function () {
    const a = await post("/order", keyA, body("9.00"), "shared-key");
    const b = await post("/order", keyB, body("9.00"), "shared-key");
    assert.equal(a.statusCode, 200, a.body);
    assert.equal(b.statusCode, 200, b.body);
    assert.notEqual(b.json().id, a.json().id);
    assert.equal(b.headers["idempotent-replayed"], undefined);
  });

  it("a request that failed gives its key back: the corrected retry with the same key succeeds", async function () {
    const bad = await post("/order", keyA, body("-1"), "fix-and-retry");
    assert.equal(bad.statusCode, 400, bad.body);
    const good = await post("/order", keyA, body("1.00"), "fix-and-retry");
    assert.equal(good.statusCode, 200, good.body);
    const replay = await post("/order", keyA, body("1.00"), "fix-and-retry");
    assert.equal(replay.json().id, good.json().id);
  });

  it("20 concurrent requests with one key make one order, and all 20 get it", async function () {
    const before = await ordersOf(keyA);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => post("/order", keyA, body("15.00"), "burst-20")),
    );
    const ids = new Set(
      answers.map((r) => {
        assert.equal(r.statusCode, 200, r.body);
        return r.json().id as number;
      }),
    );
    assert.equal(ids.size, 1, `ids: ${[...ids].join(", ")}`);
    assert.equal(answers.filter((r) => r.headers["idempotent-replayed"] === "true").length, 19);
    assert.equal(await ordersOf(keyA), before + 1);
  });

  it("keys last 24 hours: after that the same key makes a new order", async function () {
    const first = await post("/order", keyA, body("2.00"), "day-old");
    clock += 23 * 3600_000;
    assert.equal((await post("/order", keyA, body("2.00"), "day-old")).json().id, first.json().id);
    clock += 3600_000 + 1000;
    const later = await post("/order", keyA, body("2.00"), "day-old");
    assert.equal(later.statusCode, 200, later.body);
    assert.notEqual(later.json().id, first.json().id);
    assert.equal(later.headers["idempotent-replayed"], undefined);
  });

  it("POST /recurring replays the first subscription", async function () {
    const payload = body("20.00", { interval: "monthly" });
    const first = await post("/recurring", keyA, payload, "sub-1");
    assert.equal(first.statusCode, 200, first.body);
    const again = await post("/recurring", keyA, payload, "sub-1");
    assert.equal(again.headers["idempotent-replayed"], "true");
    assert.equal(again.json().id, first.json().id);
    const { rows } = await api.testDb.db.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM subscriptions WHERE id = $1",
      [first.json().id],
    );
    assert.equal(rows[0]?.n, "1");
  });

  it("POST /pos/order: a terminal's key is its own; another terminal's identical key makes another order", async function () {
    const origin = api.system.config.consoleOrigin;
    async function terminal(label: string) {
      const created = await post(
        "/user/terminal-keys",
        keyA,
        { label, address: api.chain.merchant.address, callback: "http://127.0.0.1:9/cb" },
        undefined,
        { origin },
      );
      assert.equal(created.statusCode, 200, created.body);
      const signin = await api.system.app.inject({
        method: "POST",
        url: "/console/session",
        headers: { origin },
        payload: { terminal_key: created.json().key },
      });
      assert.equal(signin.statusCode, 200, signin.body);
      return String(signin.headers["set-cookie"]).split(";")[0] as string;
    }
    const charge = (cookie: string, amount: string) =>
      api.system.app.inject({
        method: "POST",
        url: "/pos/order",
        headers: { cookie, origin, "idempotency-key": "pos-sale-1" },
        payload: { amount },
      });
    const one = await terminal("Till 1");
    const two = await terminal("Till 2");
    const first = await charge(one, "4.50");
    assert.equal(first.statusCode, 200, first.body);
    const tapAgain = await charge(one, "4.50");
    assert.equal(tapAgain.json().id, first.json().id);
    assert.equal(tapAgain.headers["idempotent-replayed"], "true");
    const otherTill = await charge(two, "4.50");
    assert.equal(otherTill.statusCode, 200, otherTill.body);
    assert.notEqual(otherTill.json().id, first.json().id);
  });

  it("a key that is not printable ASCII is 400 invalid_idempotency_key; no header keeps today's behaviour", async function () {
    const bad = await post("/order", keyA, body("1.00"), "has space");
    assert.equal(bad.statusCode, 400, bad.body);
    assert.equal(bad.json().error.code, "invalid_idempotency_key");
    const one = await post("/order", keyA, body("1.00"));
    const two = await post("/order", keyA, body("1.00"));
    assert.notEqual(one.json().id, two.json().id);
  });
});
