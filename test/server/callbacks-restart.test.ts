import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "mocha";
import { createCallbackWorker } from "../../server/src/callbacks/worker.ts";
import { createDb, migrate, type Db } from "../../server/src/db/index.ts";
import { createTestDb, onRealPostgres, type TestDb } from "../support/db.ts";
import {
  attemptRows,
  callbackRow,
  enqueue,
  insertMerchant,
  insertOrder,
  memoryLog,
  orderEntry,
  startReceiver,
  testConfig,
  waitFor,
} from "./callbacks-support.ts";

/** A separate Node process running one delivery worker until it is killed. */
const CHILD = `
const { createDb } = await import(process.env.CHILD_DB_MODULE);
const { createCallbackWorker } = await import(process.env.CHILD_WORKER_MODULE);
const db = await createDb({ databaseUrl: process.env.CHILD_DATABASE_URL || undefined, dataDir: process.env.CHILD_DATA_DIR || undefined });
const quiet = () => {};
const worker = createCallbackWorker({ db, log: { debug: quiet, info: quiet, warn: quiet, error: quiet }, config: JSON.parse(process.env.CHILD_CONFIG) });
await worker.start();
process.stdout.write("ready\\n");
setInterval(() => {}, 60_000);
`;

function spawnWorker(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ["--no-warnings", "--input-type=module", "-e", CHILD], {
    env: {
      ...process.env,
      CHILD_DB_MODULE: new URL("../../server/src/db/index.ts", import.meta.url).href,
      CHILD_WORKER_MODULE: new URL("../../server/src/callbacks/worker.ts", import.meta.url).href,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

const exited = (child: ChildProcess) =>
  new Promise<NodeJS.Signals | number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.signalCode ?? child.exitCode);
    else child.once("exit", (code, signal) => resolve(signal ?? code));
  });

describe(`callbacks: restarts (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let t: TestDb;
  let merchantId: bigint;

  before(async function () {
    t = await createTestDb();
    merchantId = await insertMerchant(t.db, "restart@example.com", "restart-secret-0123456789abcdef");
  });
  after(async function () {
    await t.drop();
  });

  it("a new worker delivers a retry that was pending when the old one stopped", async function () {
    const r = await startReceiver((_req, res, index) => {
      res.statusCode = index === 0 ? 503 : 200;
      res.end();
    });
    const orderId = await insertOrder(t.db, merchantId, r.url);
    const config = testConfig({
      retry: { baseDelayMs: 400, factor: 2, maxDelayMs: 1_000, maxAgeMs: 60_000, jitter: 0 },
    });
    const first = createCallbackWorker({ db: t.db, log: memoryLog(), config });
    await first.start();
    const { id, eventId } = await enqueue(t.db, orderEntry(orderId, merchantId, r.url, "success"));
    await waitFor(async () => (await attemptRows(t.db, id)).length === 1, "the first attempt");
    await first.stop(); // the process goes away with a retry pending in the database
    assert.equal((await callbackRow(t.db, id)).status, "pending");

    const second = createCallbackWorker({ db: t.db, log: memoryLog(), config });
    await second.start();
    await waitFor(
      async () => (await callbackRow(t.db, id)).status === "delivered",
      "delivery by the new worker",
    );
    await second.stop();
    await r.close();
    assert.equal(first.stats.delivered, 0);
    assert.equal(second.stats.delivered, 1);
    assert.deepEqual(
      r.received.map((q) => q.headers["x-ethpos-event-id"]),
      [eventId, eventId],
    );
    assert.deepEqual(
      (await attemptRows(t.db, id)).map((a) => a.status_code),
      [503, 200],
    );
  });

  it("a worker process killed (SIGKILL) in the middle of a delivery: another one sends it after the lease", async function () {
    // PGlite is owned by one process, so on PGlite the child gets its own data directory and the
    // parent opens it only after the kill; on PostgreSQL both use the test database at once.
    const dataDir = t.url ? undefined : mkdtempSync(join(tmpdir(), "ethpos-callbacks-"));
    let db: Db = t.db;
    let child: ChildProcess | undefined;
    const r = await startReceiver((_req, res, index) => {
      if (index === 0) {
        child?.kill("SIGKILL"); // the first request never gets an answer: its sender dies
        return;
      }
      res.end("OK");
    });
    try {
      if (dataDir) {
        db = await createDb({ databaseUrl: undefined, dataDir });
        await migrate(db);
      }
      const { id, eventId } = await enqueue(db, orderEntry(1n, null, `${r.url}/killed`, "success"));
      if (dataDir) await db.close();

      const config = testConfig({ timeoutMs: 1_000, leaseMs: 1_500 });
      child = spawnWorker({
        CHILD_DATABASE_URL: t.url ?? "",
        CHILD_DATA_DIR: dataDir ?? "",
        CHILD_CONFIG: JSON.stringify(config),
      });
      let stderr = "";
      child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
      const signal = await Promise.race([
        exited(child),
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error(`child did not deliver: ${stderr}`)), 30_000),
        ),
      ]);
      assert.equal(signal, "SIGKILL", stderr);
      assert.equal(r.received.length, 1);

      if (dataDir) db = await createDb({ databaseUrl: undefined, dataDir });
      // The claim commits without waiting for its WAL flush, so a kill may undo it (the row is
      // pending again); otherwise the dead worker's lease still holds the row.
      const claimed = await callbackRow(db, id);
      assert.ok(["sending", "pending"].includes(claimed.status), claimed.status);
      const started = Date.now();
      const survivor = createCallbackWorker({
        db,
        log: memoryLog(),
        config: testConfig({ pollIntervalMs: 100 }),
      });
      await survivor.start();
      await waitFor(
        async () => (await callbackRow(db, id)).status === "delivered",
        "delivery after the lease ran out",
      );
      await survivor.stop();
      assert.ok(Date.now() - started < 5_000);
      assert.equal(r.received.length, 2);
      assert.deepEqual(
        r.received.map((q) => q.headers["x-ethpos-event-id"]),
        [eventId, eventId],
      );
      const row = await callbackRow(db, id);
      assert.equal(
        row.attempts,
        claimed.status === "sending" ? 2 : 1,
        "the killed attempt is counted if its claim survived",
      );
      // The killed attempt never got a result, so only the successful one has an attempt row.
      assert.deepEqual(
        (await attemptRows(db, id)).map((a) => a.status_code),
        [200],
      );
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await r.close();
      if (dataDir) {
        await db.close().catch(() => {});
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  });
});
