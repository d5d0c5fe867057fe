import assert from "node:assert/strict";
import Fastify, { type FastifyInstance } from "fastify";
import { after, before, describe, it } from "mocha";
import { callbackRoutes } from "../../server/src/api/routes/callbacks.ts";
import { callbackHealth, createCallbackService } from "../../server/src/callbacks/service.ts";
import { createCallbackWorker } from "../../server/src/callbacks/worker.ts";
import { createTestDb, onRealPostgres, type TestDb } from "../support/db.ts";
import {
  enqueue,
  insertMerchant,
  insertOrder,
  memoryLog,
  orderEntry,
  startReceiver,
  testConfig,
  type Receiver,
} from "./callbacks-support.ts";

interface DeliveryJson {
  id: number;
  event_id: string;
  kind: string;
  status: string;
  attempt_count: number;
  body: string;
  redelivery_of: number | null;
  next_attempt_at: string | null;
  delivered_at: string | null;
  attempts: {
    attempt: number;
    status_code: number | null;
    latency_ms: number;
    error: string | null;
    at: string;
  }[];
}

describe(`callbacks: API and health (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let t: TestDb;
  let app: FastifyInstance;
  let r: Receiver;
  let alice: bigint;
  let bob: bigint;
  let aliceOrder: bigint;
  let bobOrder: bigint;
  const drain = () => createCallbackWorker({ db: t.db, log: memoryLog(), config: testConfig() }).drain();

  before(async function () {
    t = await createTestDb();
    alice = await insertMerchant(t.db, "alice@example.com", "alice-secret-0123456789abcdef");
    bob = await insertMerchant(t.db, "bob@example.com", "bob-secret-0123456789abcdef00");
    // The first attempt of every event fails with 503, later ones succeed.
    const seen = new Set<string>();
    r = await startReceiver((req, res) => {
      const id = String(req.headers["x-ethpos-event-id"]);
      res.statusCode = seen.has(id) ? 200 : 503;
      seen.add(id);
      res.end(res.statusCode === 200 ? "OK" : "try later");
    });
    aliceOrder = await insertOrder(t.db, alice, `${r.url}/alice`);
    bobOrder = await insertOrder(t.db, bob, `${r.url}/bob`);

    app = Fastify();
    // Stand-in for the API's auth plugin: the merchant comes from a test header.
    app.decorateRequest("merchant", null);
    app.addHook("onRequest", async (request) => {
      const id = request.headers["x-test-merchant"];
      if (typeof id === "string") {
        request.merchant = {
          id: BigInt(id),
          email: `${id}@example.com`,
          plan: "free",
        } as typeof request.merchant;
      }
    });
    await app.register(callbackRoutes, { callbacks: createCallbackService(t.db) });
    await app.ready();
  });
  after(async function () {
    await app.close();
    await r.close();
    await t.drop();
  });

  it("answers 401 without a merchant and 404 for another merchant's order", async function () {
    const anonymous = await app.inject({ method: "GET", url: `/callbacks?order=${aliceOrder}` });
    assert.equal(anonymous.statusCode, 401);
    assert.equal(anonymous.json().error.code, "unauthorized");
    assert.equal(typeof anonymous.json().error.message, "string");
    const foreign = await app.inject({
      method: "GET",
      url: `/callbacks?order=${bobOrder}`,
      headers: { "x-test-merchant": String(alice) },
    });
    assert.equal(foreign.statusCode, 404);
    assert.deepEqual(Object.keys(foreign.json().error), ["code", "message"]);
    const missing = await app.inject({
      method: "GET",
      url: "/callbacks?order=999999999999",
      headers: { "x-test-merchant": String(alice) },
    });
    assert.equal(missing.statusCode, 404);
    const bad = await app.inject({
      method: "GET",
      url: "/callbacks?order=abc",
      headers: { "x-test-merchant": String(alice) },
    });
    assert.equal(bad.statusCode, 400);
    const redeliverAnon = await app.inject({ method: "POST", url: "/callbacks/1/redeliver" });
    assert.equal(redeliverAnon.statusCode, 401);
  });

  it("lists the order's deliveries with every attempt", async function () {
    const success = await enqueue(t.db, orderEntry(aliceOrder, alice, `${r.url}/alice`, "success"));
    await enqueue(t.db, orderEntry(aliceOrder, alice, `${r.url}/alice`, "complete"));
    await enqueue(t.db, orderEntry(bobOrder, bob, `${r.url}/bob`, "success"));
    const config = testConfig();
    const w = createCallbackWorker({ db: t.db, log: memoryLog(), config });
    await w.start();
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { rows } = await t.db.query<{ n: bigint }>(
        "SELECT count(*) AS n FROM callbacks WHERE status = 'delivered'",
      );
      if (rows[0]?.n === 3n) break;
      assert.ok(Date.now() < deadline, "deliveries finished");
      await new Promise((res) => setTimeout(res, 20));
    }
    await w.stop();

    const res = await app.inject({
      method: "GET",
      url: `/callbacks?order=${aliceOrder}`,
      headers: { "x-test-merchant": String(alice) },
    });
    assert.equal(res.statusCode, 200);
    const json = res.json() as { order: number; deliveries: DeliveryJson[] };
    assert.equal(json.order, Number(aliceOrder));
    assert.deepEqual(
      json.deliveries.map((d) => d.kind),
      ["order.success", "order.complete"],
    );
    const [first] = json.deliveries;
    assert.equal(first?.event_id, success.eventId);
    assert.equal(first?.status, "delivered");
    assert.equal(first?.attempt_count, 2);
    assert.equal(first?.next_attempt_at, null);
    assert.ok(first?.delivered_at);
    assert.equal(first?.body, orderEntry(aliceOrder, alice, "", "success").body);
    assert.deepEqual(
      first?.attempts.map((a) => [a.attempt, a.status_code, a.error]),
      [
        [1, 503, "HTTP 503"],
        [2, 200, null],
      ],
    );
    for (const a of first?.attempts ?? []) assert.ok(a.latency_ms >= 0 && !Number.isNaN(Date.parse(a.at)));
    // Bob sees his own order only.
    const bobs = await app.inject({
      method: "GET",
      url: `/callbacks?order=${bobOrder}`,
      headers: { "x-test-merchant": String(bob) },
    });
    assert.deepEqual(
      (bobs.json() as { deliveries: DeliveryJson[] }).deliveries.map((d) => d.kind),
      ["order.success"],
    );
  });

  it("redelivers a delivered callback as a new delivery with a new event id", async function () {
    const list = async () =>
      (
        (
          await app.inject({
            method: "GET",
            url: `/callbacks?order=${aliceOrder}`,
            headers: { "x-test-merchant": String(alice) },
          })
        ).json() as {
          deliveries: DeliveryJson[];
        }
      ).deliveries;
    const original = (await list())[0]!;
    const foreign = await app.inject({
      method: "POST",
      url: `/callbacks/${original.id}/redeliver`,
      headers: { "x-test-merchant": String(bob) },
    });
    assert.equal(foreign.statusCode, 404);

    const res = await app.inject({
      method: "POST",
      url: `/callbacks/${original.id}/redeliver`,
      headers: { "x-test-merchant": String(alice) },
    });
    assert.equal(res.statusCode, 202);
    const queued = res.json() as { id: number; event_id: string; redelivery_of: number; status: string };
    assert.equal(queued.redelivery_of, original.id);
    assert.notEqual(queued.event_id, original.event_id);
    assert.equal(queued.status, "pending");

    const again = await app.inject({
      method: "POST",
      url: `/callbacks/${queued.id}/redeliver`,
      headers: { "x-test-merchant": String(alice) },
    });
    assert.equal(again.statusCode, 409, "a pending callback cannot be redelivered yet");

    const before = r.received.length;
    await drain(); // first attempt of the new event: 503
    await new Promise((res) => setTimeout(res, 100));
    await drain();
    const sent = r.received.slice(before).filter((q) => q.headers["x-ethpos-event-id"] === queued.event_id);
    assert.ok(sent.length >= 1);
    assert.equal(sent[0]?.body.toString("utf8"), original.body, "the same body bytes");
    const after = await list();
    assert.equal(after.length, 3);
    assert.equal(after[2]?.redelivery_of, original.id);
    assert.equal(after[0]?.attempt_count, 2, "the original is left as it was");
  });

  it("shows failing receivers (origin only) and the queue in the health summary", async function () {
    const failing = await startReceiver((_req, res) => {
      res.statusCode = 500;
      res.end();
    });
    const gone = await startReceiver((_req, res) => {
      res.statusCode = 410;
      res.end();
    });
    try {
      assert.equal((await callbackHealth(t.db)).status, "ok");
      const config = testConfig({
        retry: { baseDelayMs: 60_000, factor: 2, maxDelayMs: 60_000, maxAgeMs: 600_000, jitter: 0 },
      });
      await enqueue(t.db, {
        stream: "eletropay:tok:DASH:tx1",
        kind: "eletropay.payment",
        url: `${failing.url}/v1/payments/secret-client-token/DASH/`,
        body: "{}",
        secretRef: "eletropay",
      });
      await enqueue(t.db, orderEntry(bobOrder, bob, `${gone.url}/bob`, "expired"));
      await createCallbackWorker({ db: t.db, log: memoryLog(), config }).drain();

      const receivers = (await callbackHealth(t.db)).failing_receivers;
      const retrying = receivers.find((x) => x.receiver === failing.url);
      const failed = receivers.find((x) => x.receiver === gone.url);
      assert.ok(retrying && failed, JSON.stringify(receivers));
      assert.equal(retrying.retrying, 1);
      assert.equal(retrying.failed_24h, 0);
      assert.equal(retrying.merchant_id, null);
      assert.equal(retrying.last_error, "HTTP 500");
      assert.ok(retrying.last_attempt_at && retrying.oldest_pending_at);
      assert.equal(failed.failed_24h, 1);
      assert.equal(failed.merchant_id, Number(bob));
      assert.ok(!JSON.stringify(receivers).includes("secret-client-token"), "paths (tokens) never appear");

      const health = await callbackHealth(t.db);
      assert.equal(health.status, "degraded");
      assert.equal(health.queue.pending, 1);
      assert.equal(health.queue.due, 0);
    } finally {
      await failing.close();
      await gone.close();
    }
  });
});
