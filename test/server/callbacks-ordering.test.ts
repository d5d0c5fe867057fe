import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { insertCallback } from "../../server/src/callbacks/outbox.ts";
import { createCallbackWorker, type CallbackWorker } from "../../server/src/callbacks/worker.ts";
import { createDb, type Db } from "../../server/src/db/index.ts";
import { createTestDb, onRealPostgres, type TestDb } from "../support/db.ts";
import {
  insertMerchant,
  insertOrder,
  memoryLog,
  orderEntry,
  sleep,
  startReceiver,
  testConfig,
  waitFor,
  type Receiver,
} from "./callbacks-support.ts";

const WORKERS = 5;
const ORDERS = 24;

describe(`callbacks: ordering under concurrent workers (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let t: TestDb;
  let merchantId: bigint;
  const extraDbs: Db[] = [];

  before(async function () {
    t = await createTestDb();
    merchantId = await insertMerchant(t.db, "ordering@example.com", "ordering-secret-0123456789abcdef");
  });
  after(async function () {
    await Promise.all(extraDbs.map((db) => db.close()));
    await t.drop();
  });

  it(`never delivers complete before success with ${WORKERS} workers, a slow receiver and failing first attempts`, async function () {
    // Per order: when the successful answer to each kind went out, and every arrival in order.
    const arrivals = new Map<
      string,
      { kind: string; status: number; at: number; respondedAt: number; eventId: string }[]
    >();
    const firstSeen = new Set<string>();
    let inFlight = 0;
    let maxInFlight = 0;
    const r: Receiver = await startReceiver(async (req, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const body = JSON.parse(req.body.toString("utf8")) as { id: number; status: string };
      const eventId = String(req.headers["x-ethpos-event-id"]);
      await sleep(5 + Math.floor(Math.random() * 30));
      // The first attempt of every success event of two orders in three fails: complete is then
      // committed and due long before success is delivered.
      const fail = body.status === "success" && body.id % 3 !== 0 && !firstSeen.has(eventId);
      firstSeen.add(eventId);
      const status = fail ? 503 : 200;
      const list = arrivals.get(String(body.id)) ?? [];
      list.push({ kind: body.status, status, at: req.at, respondedAt: performance.now(), eventId });
      arrivals.set(String(body.id), list);
      inFlight--;
      res.statusCode = status;
      res.end();
    });

    const orderIds: bigint[] = [];
    for (let i = 0; i < ORDERS; i++) orderIds.push(await insertOrder(t.db, merchantId, r.url));

    const workers: CallbackWorker[] = [];
    for (let i = 0; i < WORKERS; i++) {
      // On PostgreSQL each worker has its own pool and LISTEN connection, like separate machines.
      let db = t.db;
      if (t.url) {
        db = await createDb({ databaseUrl: t.url, dataDir: undefined });
        extraDbs.push(db);
      }
      workers.push(
        createCallbackWorker({
          db,
          log: memoryLog(),
          config: testConfig({ workerConcurrency: 4, pollIntervalMs: 50 }),
        }),
      );
    }
    await Promise.all(workers.map((w) => w.start()));

    // Half the orders get success and complete in one transaction (both in one block), the other
    // half in two; a quarter also get refunded afterwards.
    await Promise.all(
      orderIds.map(async (orderId, i) => {
        const kinds = i % 4 === 0 ? ["success", "complete", "refunded"] : ["success", "complete"];
        if (i % 2 === 0) {
          await t.db.transaction(async (tx) => {
            for (const kind of kinds) await insertCallback(tx, orderEntry(orderId, merchantId, r.url, kind));
          });
        } else {
          for (const kind of kinds) {
            await t.db.transaction((tx) => insertCallback(tx, orderEntry(orderId, merchantId, r.url, kind)));
            await sleep(Math.floor(Math.random() * 5));
          }
        }
      }),
    );

    const expected = orderIds.reduce((n, _, i) => n + (i % 4 === 0 ? 3 : 2), 0);
    try {
      await waitFor(
        async () => {
          const { rows } = await t.db.query<{ n: bigint }>(
            "SELECT count(*) AS n FROM callbacks WHERE status = 'delivered'",
          );
          return rows[0]?.n === BigInt(expected);
        },
        "every callback delivered",
        30_000,
      );
    } catch (error) {
      const { rows } = await t.db.query(
        "SELECT id, stream, kind, status, attempts, next_attempt_at, now() AS now, last_error FROM callbacks WHERE status <> 'delivered' ORDER BY id",
      );
      console.log(
        rows,
        workers.map((w) => w.stats),
      );
      throw error;
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await r.close();
    }

    for (const [i, orderId] of orderIds.entries()) {
      const list = arrivals.get(String(orderId)) ?? [];
      const kinds = i % 4 === 0 ? ["success", "complete", "refunded"] : ["success", "complete"];
      const delivered = list.filter((a) => a.status === 200);
      assert.deepEqual(
        delivered.map((a) => a.kind),
        kinds,
        `order ${orderId}: delivered in order`,
      );
      assert.equal(
        new Set(delivered.map((a) => a.eventId)).size,
        kinds.length,
        "each event delivered exactly once",
      );
      // Nothing of a later kind even arrived before the earlier kind's success answer went out.
      for (let k = 1; k < kinds.length; k++) {
        const previousOk = delivered[k - 1]!.respondedAt;
        for (const a of list.filter((x) => x.kind === kinds[k])) {
          assert.ok(
            a.at >= previousOk,
            `order ${orderId}: ${kinds[k]} arrived before ${kinds[k - 1]} was acknowledged`,
          );
        }
      }
    }
    const busy = workers.filter((w) => w.stats.claimed > 0).length;
    assert.ok(busy >= 2, `work was shared between workers (${busy} of ${WORKERS} claimed some)`);
    assert.ok(maxInFlight >= 4, `deliveries ran concurrently (max ${maxInFlight} at once)`);
    const retried = workers.reduce((n, w) => n + w.stats.retried, 0);
    assert.ok(retried >= ORDERS / 2, `first attempts failed and were retried (${retried})`);
  });

  it("serializes producers on one stream so ids follow commit order", async function () {
    if (!t.url) this.skip(); // PGlite runs one transaction at a time anyway
    const r = await startReceiver();
    const orderId = await insertOrder(t.db, merchantId, r.url);
    let released = false;
    let releaseFirst = () => {};
    let releaseThird = () => {};
    const holding = new Promise<void>((resolve) => (releaseFirst = resolve));
    try {
      const first = t.db.transaction(async (tx) => {
        const queued = await insertCallback(tx, orderEntry(orderId, merchantId, r.url, "success"));
        await holding;
        return queued;
      });
      await sleep(50);
      let insertedAfterRelease: boolean | undefined;
      const second = t.db.transaction(async (tx) => {
        const queued = await insertCallback(tx, orderEntry(orderId, merchantId, r.url, "complete"));
        insertedAfterRelease = released;
        return queued;
      });
      await sleep(150);
      assert.equal(insertedAfterRelease, undefined, "the second producer waits while the first is open");
      released = true;
      releaseFirst();
      const [a, b] = await Promise.all([first, second]);
      assert.equal(
        insertedAfterRelease,
        true,
        "the second producer inserted only after the first could commit",
      );
      assert.ok(a.id < b.id);

      // A different stream is not blocked by a held lock.
      const third = t.db.transaction(async (tx) => {
        await insertCallback(tx, orderEntry(orderId, merchantId, r.url, "expired"));
        await new Promise<void>((resolve) => (releaseThird = resolve));
      });
      await sleep(50);
      const other = await t.db.transaction((tx) =>
        insertCallback(tx, { ...orderEntry(orderId, merchantId, r.url, "x"), stream: "other" }),
      );
      assert.ok(other.id > 0n);
      releaseThird();
      await third;
    } finally {
      releaseFirst();
      releaseThird();
      await r.close();
    }
  });
});
