import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, afterEach, before, describe, it } from "mocha";
import pino from "pino";
import { createCallbackWorker, type CallbackWorker } from "../../server/src/callbacks/worker.ts";
import { createTestDb, onRealPostgres, type TestDb } from "../support/db.ts";
import {
  attemptRows,
  callbackRow,
  enqueue,
  freePort,
  insertMerchant,
  insertOrder,
  memoryLog,
  orderEntry,
  percentile,
  startReceiver,
  testConfig,
  waitFor,
  type Receiver,
} from "./callbacks-support.ts";

describe(`callbacks: delivery and retries (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let t: TestDb;
  let merchantId: bigint;
  const workers: CallbackWorker[] = [];
  const receivers: Receiver[] = [];

  before(async function () {
    t = await createTestDb();
    merchantId = await insertMerchant(t.db, "delivery@example.com", "merchant-secret-0123456789abcdef");
  });
  afterEach(async function () {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });
  after(async function () {
    await t.drop();
  });

  function worker(overrides: Parameters<typeof testConfig>[0] = {}) {
    const log = memoryLog();
    const w = createCallbackWorker({ db: t.db, log, config: testConfig(overrides) });
    workers.push(w);
    return Object.assign(w, { log });
  }

  async function receiver(handler?: Parameters<typeof startReceiver>[0]) {
    const r = await startReceiver(handler);
    receivers.push(r);
    return r;
  }

  it("delivers once a receiver that was down comes back: one success, one event id on every attempt", async function () {
    const port = await freePort();
    const orderId = await insertOrder(t.db, merchantId, `http://127.0.0.1:${port}/hook`);
    const w = worker({
      retry: { baseDelayMs: 60, factor: 2, maxDelayMs: 300, maxAgeMs: 60_000, jitter: 0.2 },
    });
    await w.start();
    const { id, eventId } = await enqueue(
      t.db,
      orderEntry(orderId, merchantId, `http://127.0.0.1:${port}/hook`, "success"),
    );

    // Down: nothing listens, so the first attempts are refused connections.
    await waitFor(async () => (await attemptRows(t.db, id)).length >= 2, "two failed attempts");
    // Back up, on the same port; the first request it sees answers 503, then 200.
    const r = await startReceiver(
      (_req, res, index) => {
        res.statusCode = index === 0 ? 503 : 200;
        res.end(index === 0 ? "busy" : "OK");
      },
      { port },
    );
    receivers.push(r);

    await waitFor(async () => (await callbackRow(t.db, id)).status === "delivered", "delivery");
    const attempts = await attemptRows(t.db, id);
    const successes = attempts.filter(
      (a) => a.status_code !== null && a.status_code >= 200 && a.status_code < 300,
    );
    assert.equal(successes.length, 1, "exactly one success recorded");
    assert.ok(attempts.length >= 4, `at least 2 refused + 1 503 + 1 success, got ${attempts.length}`);
    assert.match(attempts[0]?.error ?? "", /ECONNREFUSED/);
    assert.ok(attempts.some((a) => a.status_code === 503 && a.error === "HTTP 503"));
    assert.deepEqual(
      attempts.map((a) => a.attempt),
      attempts.map((_, i) => i + 1),
    );
    for (const a of attempts) assert.ok(a.latency_ms >= 0 && a.attempted_at instanceof Date);
    assert.equal(r.received.length, 2);
    for (const req of r.received) assert.equal(req.headers["x-ethpos-event-id"], eventId);
    const row = await callbackRow(t.db, id);
    assert.equal(row.attempts, attempts.length);
    // Nothing is sent again after the success.
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(r.received.length, 2);
    // Every attempt was logged with its status code, latency and error.
    const logged = w.log.entries.filter(
      (e) => (e.obj as { callbackId?: string }).callbackId === id.toString(),
    );
    assert.equal(logged.length, attempts.length);
    assert.ok(logged.every((e) => "statusCode" in e.obj && "latencyMs" in e.obj));
    // Each failed attempt names its error; the delivery has none to name.
    assert.ok(logged.every((e) => (e.msg === "callback delivered") !== "error" in e.obj));
  });

  it("sends the order JSON as-is with the documented headers", async function () {
    const r = await receiver();
    const orderId = await insertOrder(t.db, merchantId, `${r.url}/cb?x=1`);
    const entry = orderEntry(orderId, merchantId, `${r.url}/cb?x=1`, "success");
    const { eventId } = await enqueue(t.db, entry);
    await worker().drain();
    assert.equal(r.received.length, 1);
    const req = r.received[0]!;
    assert.equal(req.method, "POST");
    assert.equal(req.path, "/cb?x=1");
    assert.equal(req.body.toString("utf8"), entry.body);
    assert.equal(req.headers["content-type"], "application/json");
    assert.equal(req.headers["user-agent"], "EthereumPOS-Callbacks/1");
    assert.equal(req.headers["x-ethpos-event-id"], eventId);
    assert.match(String(req.headers["x-ethpos-signature"]), /^t=\d+,v1=[0-9a-f]{64}$/);
    assert.equal(req.headers["content-length"], String(Buffer.byteLength(entry.body)));
  });

  it("logs a delivered callback without an error field, and a failed attempt with one (pino output)", async function () {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(
          ...chunk
            .toString("utf8")
            .split("\n")
            .filter((l) => l !== ""),
        );
        done();
      },
    });
    const log = pino({ level: "info" }, stream);
    const r = await receiver((_req, res, index) => {
      res.statusCode = index === 0 ? 503 : 200;
      res.end(index === 0 ? "busy" : "OK");
    });
    const orderId = await insertOrder(t.db, merchantId, `${r.url}/logged`);
    const { id } = await enqueue(t.db, orderEntry(orderId, merchantId, `${r.url}/logged`, "success"));
    const w = createCallbackWorker({ db: t.db, log, config: testConfig() });
    workers.push(w);
    await w.start();
    await waitFor(async () => (await callbackRow(t.db, id)).status === "delivered", "delivery");
    const entries = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => e.callbackId === id.toString());
    const delivered = entries.find((e) => e.msg === "callback delivered");
    const retried = entries.find((e) => e.msg === "callback attempt failed; will retry");
    assert.ok(delivered, lines.join("\n"));
    assert.ok(retried, lines.join("\n"));
    assert.equal(delivered.level, 30, "INFO");
    assert.equal(delivered.statusCode, 200);
    assert.ok(!("error" in delivered), `no error key on success: ${JSON.stringify(delivered)}`);
    assert.equal(retried.error, "HTTP 503");
  });

  it("posts the exact EletroPay body bytes to /v1/payments/:key/:currency/", async function () {
    const r = await receiver();
    const body =
      '{"amount":0.00028443,"confirmations":5,"address":"Xc5DnvSCAuB9PXU7p35Sp6FCAPHU7Ge6Cr","txid":"f23f2dfb3c842fe025c9127f26c51482e7565fd180d8e84fe803cdd4baed869"}';
    const key = "93144b288eb1fdccbe46d6fc0f241a51766ecd3d";
    await enqueue(t.db, {
      stream: `eletropay:${key}:DASH:f23f2dfb`,
      kind: "eletropay.payment",
      url: `${r.url}/v1/payments/${key}/DASH/`,
      body,
      secretRef: "eletropay",
    });
    await worker().drain();
    assert.equal(r.received.length, 1);
    const req = r.received[0]!;
    assert.equal(req.path, `/v1/payments/${key}/DASH/`);
    assert.equal(req.body.toString("utf8"), body, "byte for byte, amount kept as the exact decimal");
    assert.deepEqual(Object.keys(JSON.parse(req.body.toString("utf8"))), [
      "amount",
      "confirmations",
      "address",
      "txid",
    ]);
  });

  it("does not retry a 4xx other than 408 and 429", async function () {
    for (const code of [400, 404, 410, 422]) {
      const r = await receiver((_req, res) => {
        res.statusCode = code;
        res.end("no");
      });
      const { id } = await enqueue(
        t.db,
        orderEntry(await insertOrder(t.db, merchantId, r.url), merchantId, r.url, "success"),
      );
      await worker().drain();
      await new Promise((res) => setTimeout(res, 150));
      const row = await callbackRow(t.db, id);
      assert.equal(row.status, "failed", `HTTP ${code}`);
      assert.equal(row.attempts, 1);
      assert.equal(r.received.length, 1);
      const [attempt] = await attemptRows(t.db, id);
      assert.equal(attempt?.status_code, code);
      assert.match(attempt?.error ?? "", /not retried/);
    }
  });

  it("retries 408, 429, 500 and 503, honouring a short Retry-After", async function () {
    for (const code of [408, 429, 500, 503]) {
      const r = await receiver((_req, res, index) => {
        res.statusCode = index === 0 ? code : 204;
        if (code === 429) res.setHeader("retry-after", "0");
        res.end();
      });
      const { id } = await enqueue(
        t.db,
        orderEntry(await insertOrder(t.db, merchantId, r.url), merchantId, r.url, "success"),
      );
      const w = worker();
      await w.start();
      await waitFor(
        async () => (await callbackRow(t.db, id)).status === "delivered",
        `delivery after ${code}`,
      );
      assert.deepEqual(
        (await attemptRows(t.db, id)).map((a) => a.status_code),
        [code, 204],
      );
    }
  });

  it("times out a receiver that never answers and retries it", async function () {
    const r = await receiver((_req, res, index) => {
      if (index > 0) res.end("OK"); // the first request hangs forever
    });
    const { id } = await enqueue(
      t.db,
      orderEntry(await insertOrder(t.db, merchantId, r.url), merchantId, r.url, "success"),
    );
    const w = worker({ timeoutMs: 300, leaseMs: 2_000 });
    const started = Date.now();
    await w.start();
    await waitFor(
      async () => (await callbackRow(t.db, id)).status === "delivered",
      "delivery after a timeout",
    );
    const attempts = await attemptRows(t.db, id);
    assert.equal(attempts.length, 2);
    assert.equal(attempts[0]?.status_code, null);
    assert.match(attempts[0]?.error ?? "", /timed out after 300 ms/);
    assert.ok(
      attempts[0]!.latency_ms >= 290 && attempts[0]!.latency_ms < 1_000,
      `latency ${attempts[0]!.latency_ms}`,
    );
    assert.ok(Date.now() - started < 3_000);
  });

  it("reads at most maxResponseBytes of a response and still takes its status", async function () {
    // An endless 200 response: the worker must stop reading at the limit, not at the timeout.
    const r = await receiver((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      const chunk = Buffer.alloc(16 * 1024, "x");
      const pump = () => {
        while (res.write(chunk)) {
          /* fill the socket buffer */
        }
      };
      res.on("drain", pump);
      pump();
    });
    const { id } = await enqueue(
      t.db,
      orderEntry(await insertOrder(t.db, merchantId, r.url), merchantId, r.url, "success"),
    );
    const started = performance.now();
    await worker({ maxResponseBytes: 1024, timeoutMs: 5_000 }).drain();
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 2_000, `stopped reading quickly (${elapsed.toFixed(0)} ms)`);
    const row = await callbackRow(t.db, id);
    assert.equal(row.status, "delivered");
    const [attempt] = await attemptRows(t.db, id);
    assert.equal(attempt?.status_code, 200);
    assert.equal(attempt?.error, "response body truncated");
    const { rows } = await t.db.query<{ response_excerpt: string }>(
      "SELECT response_excerpt FROM callback_attempts WHERE callback_id = $1",
      [id],
    );
    assert.equal(rows[0]?.response_excerpt, "x".repeat(256));
  });

  it("gives up after maxAgeMs and marks the callback failed", async function () {
    const r = await receiver((_req, res) => {
      res.statusCode = 502;
      res.end();
    });
    const { id } = await enqueue(
      t.db,
      orderEntry(await insertOrder(t.db, merchantId, r.url), merchantId, r.url, "success"),
    );
    const w = worker({ retry: { baseDelayMs: 50, factor: 2, maxDelayMs: 100, maxAgeMs: 500, jitter: 0 } });
    await w.start();
    const row = await waitFor(async () => {
      const current = await callbackRow(t.db, id);
      return current.status === "failed" ? current : undefined;
    }, "giving up");
    assert.match(row.last_error ?? "", /gave up after/);
    const attempts = await attemptRows(t.db, id);
    assert.ok(attempts.length >= 4 && attempts.length <= 9, `${attempts.length} attempts in 500 ms`);
    const span = attempts.at(-1)!.attempted_at.getTime() - attempts[0]!.attempted_at.getTime();
    assert.ok(!w.log.entries.some((e) => e.level === "error"), "every attempt was recorded");
    assert.ok(span <= 700, `last attempt at the deadline (${span} ms)`);
  });

  it("keeps claiming after every slot was busy (concurrency 1, a burst of callbacks)", async function () {
    const r = await receiver(async (_req, res) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      res.end("OK");
    });
    const w = worker({ workerConcurrency: 1, pollIntervalMs: 60_000 });
    await w.start();
    const ids: bigint[] = [];
    for (let i = 0; i < 12; i++) {
      ids.push((await enqueue(t.db, { ...orderEntry(1n, null, r.url, "success"), stream: `burst:${i}` })).id);
    }
    // No poll in this window: only NOTIFY and finished deliveries drive the worker.
    await waitFor(() => r.received.length === 12, "all 12 callbacks", 5_000);
    for (const id of ids) {
      await waitFor(
        async () => (await callbackRow(t.db, id)).status === "delivered",
        `callback ${id} recorded`,
        2_000,
      );
    }
  });

  it("sends a committed callback within a few ms of the NOTIFY (enqueue → receiver latency)", async function () {
    const r = await receiver();
    const orderId = await insertOrder(t.db, merchantId, r.url);
    const w = worker();
    await w.start();
    const latencies: number[] = [];
    for (let i = 0; i < 40; i++) {
      const before = r.received.length;
      const started = performance.now();
      await enqueue(t.db, { ...orderEntry(orderId, merchantId, r.url, "success"), stream: `latency:${i}` });
      await waitFor(() => r.received.length > before, "callback", 5_000);
      latencies.push(r.received[before]!.at - started);
    }
    const p50 = percentile(latencies, 50);
    const p95 = percentile(latencies, 95);
    console.log(
      `      enqueue→receiver latency over 40 callbacks: p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms`,
    );
    assert.ok(p50 < 50, `p50 ${p50.toFixed(1)} ms`);
  });
});
