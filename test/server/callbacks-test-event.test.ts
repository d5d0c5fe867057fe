import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import Fastify, { type FastifyInstance } from "fastify";
import { after, before, describe, it } from "mocha";
import { callbackRoutes } from "../../server/src/api/routes/callbacks.ts";
import { EXCHANGE_BODY_BYTES, pruneExchanges, REDACTED } from "../../server/src/callbacks/exchange.ts";
import { createCallbackService } from "../../server/src/callbacks/service.ts";
import { createCallbackWorker } from "../../server/src/callbacks/worker.ts";
import { createTestDb, onRealPostgres, type TestDb } from "../support/db.ts";
import {
  insertMerchant,
  insertOrder,
  memoryLog,
  startReceiver,
  testConfig,
  waitFor,
  type Receiver,
} from "./callbacks-support.ts";

interface ExchangePart {
  headers: { name: string; value: string }[];
  body: string;
  body_bytes: number | null;
  truncated: boolean;
}
interface DeliveryJson {
  id: number;
  event_id: string;
  kind: string;
  url: string;
  status: string;
  body: string;
  attempts: {
    attempt: number;
    status_code: number | null;
    request: ExchangePart | null;
    response: (ExchangePart & { status: number }) | null;
  }[];
}

type Verifier = (header: unknown, raw: Buffer | string, secrets: string | string[]) => boolean;

/** The receiver's check exactly as docs/callbacks.md publishes it. */
async function documentedVerifier(): Promise<Verifier> {
  const doc = await readFile(new URL("../../docs/callbacks.md", import.meta.url), "utf8");
  const block = /<!-- verify-snippet:start -->\s*```js\n([\s\S]*?)```\s*<!-- verify-snippet:end -->/.exec(
    doc,
  )?.[1];
  assert.ok(block, "docs/callbacks.md has the verification snippet");
  const mod = (await import(`data:text/javascript,${encodeURIComponent(block)}`)) as {
    verifyEthposSignature: Verifier;
  };
  return mod.verifyEthposSignature;
}

const header = (part: ExchangePart | null | undefined, name: string) =>
  part?.headers.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value;

describe(`callbacks: test events and the delivery log (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  const SECRET = "alice-secret-0123456789abcdef";
  let t: TestDb;
  let app: FastifyInstance;
  let guarded: FastifyInstance;
  let alice: bigint;
  let bob: bigint;
  const receivers: Receiver[] = [];
  const drain = () => createCallbackWorker({ db: t.db, log: memoryLog(), config: testConfig() }).drain();

  async function build(allowPrivateTargets: boolean): Promise<FastifyInstance> {
    // The API's validator settings (server/src/app.ts): unknown fields are refused, not dropped.
    const server = Fastify({
      ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    });
    // Stand-in for the API's auth plugins: the merchant comes from a test header.
    server.decorateRequest("merchant", null);
    server.addHook("onRequest", async (request) => {
      const id = request.headers["x-test-merchant"];
      if (typeof id === "string") {
        request.merchant = {
          id: BigInt(id),
          email: `${id}@example.com`,
          plan: "free",
        } as typeof request.merchant;
      }
    });
    await server.register(callbackRoutes, {
      callbacks: createCallbackService(t.db, { allowPrivateTargets }),
    });
    await server.ready();
    return server;
  }

  const as = (merchant: bigint) => ({ "x-test-merchant": String(merchant) });
  async function delivery(id: number, merchant = alice): Promise<DeliveryJson> {
    const res = await app.inject({ method: "GET", url: `/callbacks/${id}`, headers: as(merchant) });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as DeliveryJson;
  }

  before(async function () {
    t = await createTestDb();
    alice = await insertMerchant(t.db, "alice@example.com", SECRET);
    bob = await insertMerchant(t.db, "bob@example.com", "bob-secret-0123456789abcdef00");
    app = await build(true);
    guarded = await build(false);
  });
  after(async function () {
    await app.close();
    await guarded.close();
    for (const r of receivers) await r.close();
    await t.drop();
  });

  it("delivers a signed test event that the documented procedure verifies", async function () {
    const r = await startReceiver();
    receivers.push(r);
    const sent = await app.inject({
      method: "POST",
      url: "/callbacks/test",
      headers: as(alice),
      payload: { url: `${r.url}/hook` },
    });
    assert.equal(sent.statusCode, 202, sent.body);
    const queued = sent.json() as { id: number; event_id: string; url: string; status: string };
    assert.equal(queued.status, "pending");
    assert.equal(queued.url, `${r.url}/hook`);
    assert.equal((await delivery(queued.id)).status, "pending");

    await drain();
    assert.equal(r.received.length, 1);
    const got = r.received[0];
    assert.ok(got);
    assert.equal(got.path, "/hook");
    assert.equal(got.headers["x-ethpos-event-id"], queued.event_id);
    const verify = await documentedVerifier();
    assert.equal(verify(got.headers["x-ethpos-signature"], got.body, SECRET), true);
    assert.equal(verify(got.headers["x-ethpos-signature"], got.body, "another-secret-0123456789"), false);
    const body = JSON.parse(got.body.toString("utf8")) as Record<string, unknown>;
    assert.equal(body.type, "test");
    assert.deepEqual(Object.keys(body).sort(), ["created_at", "message", "test_id", "type"]);

    const shown = await delivery(queued.id);
    assert.equal(shown.kind, "test");
    assert.equal(shown.status, "delivered");
    assert.equal(shown.body, got.body.toString("utf8"));
    assert.equal(shown.attempts.length, 1);
    const [attempt] = shown.attempts;
    assert.equal(attempt?.status_code, 200);
    // The log shows what the receiver really got: the same signature, event id and body.
    assert.equal(header(attempt?.request, "X-EthPOS-Signature"), got.headers["x-ethpos-signature"]);
    assert.equal(header(attempt?.request, "X-EthPOS-Event-Id"), queued.event_id);
    assert.equal(header(attempt?.request, "content-type"), "application/json");
    assert.equal(attempt?.request?.body, got.body.toString("utf8"));
    assert.equal(attempt?.request?.body_bytes, got.body.length);
    assert.equal(attempt?.request?.truncated, false);
    assert.equal(attempt?.response?.status, 200);
    assert.equal(attempt?.response?.body, "OK");
    // The secret itself is nowhere in what is stored.
    const { rows } = await t.db.query<{ row: string }>(
      "SELECT row_to_json(x)::text AS row FROM callback_exchanges x",
    );
    assert.ok(rows.length > 0);
    for (const row of rows) assert.ok(!row.row.includes(SECRET));

    const recent = await app.inject({ method: "GET", url: "/callbacks/recent?limit=5", headers: as(alice) });
    assert.equal(recent.statusCode, 200);
    assert.equal((recent.json() as { deliveries: DeliveryJson[] }).deliveries[0]?.id, queued.id);
    const bobs = await app.inject({ method: "GET", url: "/callbacks/recent", headers: as(bob) });
    assert.deepEqual((bobs.json() as { deliveries: DeliveryJson[] }).deliveries, []);
  });

  it("logs both attempts of a receiver that fails with 500, then answers 200, bodies cut at 4 KiB", async function () {
    const long = "x".repeat(10_000);
    const r = await startReceiver((_req, res, index) => {
      res.setHeader("set-cookie", "session=receiver-secret");
      if (index === 0) {
        res.statusCode = 500;
        res.end(`down for maintenance ${long}`);
      } else res.end("accepted");
    });
    receivers.push(r);
    const sent = await app.inject({
      method: "POST",
      url: "/callbacks/test",
      headers: as(alice),
      payload: { url: r.url },
    });
    assert.equal(sent.statusCode, 202, sent.body);
    const { id } = sent.json() as { id: number };
    const worker = createCallbackWorker({ db: t.db, log: memoryLog(), config: testConfig() });
    await worker.start();
    try {
      await waitFor(async () => (await delivery(id)).status === "delivered", "the retry delivered");
    } finally {
      await worker.stop();
    }
    const shown = await delivery(id);
    assert.equal(r.received.length, 2);
    assert.deepEqual(
      shown.attempts.map((a) => [a.attempt, a.status_code, a.response?.status]),
      [
        [1, 500, 500],
        [2, 200, 200],
      ],
    );
    const [failed, ok] = shown.attempts;
    const full = `down for maintenance ${long}`;
    assert.equal(failed?.response?.truncated, true);
    assert.equal(failed?.response?.body_bytes, Buffer.byteLength(full));
    assert.equal(Buffer.byteLength(failed?.response?.body ?? ""), EXCHANGE_BODY_BYTES);
    assert.ok(full.startsWith(failed?.response?.body ?? "?"));
    assert.equal(header(failed?.response, "set-cookie"), REDACTED);
    assert.equal(ok?.response?.body, "accepted");
    assert.equal(ok?.response?.truncated, false);
    assert.equal(ok?.response?.body_bytes, "accepted".length);
    // Each attempt was signed afresh and logged as it was sent.
    assert.equal(header(failed?.request, "X-EthPOS-Signature"), r.received[0]?.headers["x-ethpos-signature"]);
    assert.equal(header(ok?.request, "X-EthPOS-Signature"), r.received[1]?.headers["x-ethpos-signature"]);

    // Past the retention the exchange goes; the attempt's summary stays.
    await t.db.query(
      `UPDATE callback_exchanges SET recorded_at = now() - interval '31 days'
        WHERE attempt_id IN (SELECT a.id FROM callback_attempts a WHERE a.callback_id = $1 AND a.attempt = 1)`,
      [id],
    );
    assert.equal(await pruneExchanges(t.db, 30), 1);
    const pruned = await delivery(id);
    assert.equal(pruned.attempts[0]?.status_code, 500);
    assert.equal(pruned.attempts[0]?.request, null);
    assert.equal(pruned.attempts[0]?.response, null);
    assert.equal(pruned.attempts[1]?.response?.body, "accepted");
  });

  it("logs the request of an attempt that got no answer", async function () {
    const r = await startReceiver((_req, res) => res.destroy());
    receivers.push(r);
    const sent = await app.inject({
      method: "POST",
      url: "/callbacks/test",
      headers: as(bob),
      payload: { url: r.url },
    });
    const { id } = sent.json() as { id: number };
    // One attempt only: the worker retries later; stop after the first.
    await createCallbackWorker({
      db: t.db,
      log: memoryLog(),
      config: testConfig({
        retry: { baseDelayMs: 60_000, factor: 2, maxDelayMs: 60_000, maxAgeMs: 120_000, jitter: 0 },
      }),
    }).drain();
    const shown = await delivery(id, bob);
    assert.equal(shown.status, "pending");
    assert.equal(shown.attempts.length, 1);
    assert.equal(shown.attempts[0]?.status_code, null);
    assert.equal(shown.attempts[0]?.response, null);
    assert.equal(shown.attempts[0]?.request?.body, shown.body);
  });

  it("defaults to the latest order's callback URL, and refuses what it cannot send", async function () {
    const carol = await insertMerchant(t.db, "carol@example.com", "carol-secret-0123456789abcdef");
    const none = await app.inject({ method: "POST", url: "/callbacks/test", headers: as(carol) });
    assert.equal(none.statusCode, 400, none.body);
    assert.equal(none.json().error.code, "callback_url_missing");
    await insertOrder(t.db, carol, "https://shop.example/hooks/old");
    await insertOrder(t.db, carol, "https://shop.example/hooks/ethpos");
    const byDefault = await app.inject({ method: "POST", url: "/callbacks/test", headers: as(carol) });
    assert.equal(byDefault.statusCode, 202, byDefault.body);
    assert.equal(byDefault.json().url, "https://shop.example/hooks/ethpos");
    const empty = await app.inject({
      method: "POST",
      url: "/callbacks/test",
      headers: as(carol),
      payload: {},
    });
    assert.equal(empty.statusCode, 202, empty.body);
    // A few tests in flight per merchant: the sixth waits until one is delivered or failed.
    for (let i = 0; i < 3; i++) {
      const more = await app.inject({ method: "POST", url: "/callbacks/test", headers: as(carol) });
      assert.equal(more.statusCode, 202, more.body);
    }
    const sixth = await app.inject({ method: "POST", url: "/callbacks/test", headers: as(carol) });
    assert.equal(sixth.statusCode, 429, sixth.body);
    assert.equal(sixth.json().error.code, "tests_in_flight");
    await t.db.query("UPDATE callbacks SET status = 'failed' WHERE merchant_id = $1 AND kind = 'test'", [
      carol,
    ]);

    const loopback = await guarded.inject({
      method: "POST",
      url: "/callbacks/test",
      headers: as(carol),
      payload: { url: "http://127.0.0.1:9/hook" },
    });
    assert.equal(loopback.statusCode, 400);
    assert.equal(loopback.json().error.code, "invalid_callback");
    assert.match(loopback.json().error.message, /loopback/);
    const ftp = await app.inject({
      method: "POST",
      url: "/callbacks/test",
      headers: as(carol),
      payload: { url: "ftp://shop.example/" },
    });
    assert.equal(ftp.statusCode, 400);
    const extra = await app.inject({
      method: "POST",
      url: "/callbacks/test",
      headers: as(carol),
      payload: { url: "https://shop.example/", kind: "order.success" },
    });
    assert.equal(extra.statusCode, 400);
    const anonymous = await app.inject({ method: "POST", url: "/callbacks/test", payload: {} });
    assert.equal(anonymous.statusCode, 401);

    // Another merchant's delivery looks absent.
    const { id } = byDefault.json() as { id: number };
    const foreign = await app.inject({ method: "GET", url: `/callbacks/${id}`, headers: as(alice) });
    assert.equal(foreign.statusCode, 404);
    assert.equal(foreign.json().error.code, "callback_not_found");
  });
});
