import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { isConnectionLoss } from "../../server/src/db/pg.ts";
import { isRetryable } from "../../server/src/indexer/rpc.ts";
import { DomainError, unavailable } from "../../server/src/lib/errors.ts";
import { createTestDb, onRealPostgres, type TestDb } from "../support/db.ts";

/**
 * Found by the soak (bench/soak): a PostgreSQL restart ended every server process. A client
 * checked out of the pool for a transaction has no error listener, so its connection dropping
 * was an unhandled 'error' event; requests that met the outage answered 500; and the indexer took
 * the database error for a non-retryable one and stopped its chain for good. Here at small scale:
 * the connection of one transaction is terminated by the server while the transaction is open.
 */
describe("database: a lost connection is temporary, not a crash", function () {
  let testDb: TestDb;

  before(async function () {
    if (!onRealPostgres()) this.skip(); // PGlite has no connection to lose
    testDb = await createTestDb();
  });

  after(async function () {
    await testDb?.drop();
  });

  it("rejects the transaction with database_unavailable, keeps the process up and the pool usable", async function () {
    const db = testDb.db;
    let caught: unknown;
    try {
      await db.transaction(async (tx) => {
        const { rows } = await tx.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
        // Another connection of the pool kills this one, as a server restart does.
        await db.query("SELECT pg_terminate_backend($1)", [rows[0]?.pid]);
        // The 'error' event arrives while the client is checked out and idle in the transaction.
        await new Promise((r) => setTimeout(r, 300));
        await tx.query("SELECT 1");
      });
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof DomainError, `a DomainError, got ${String(caught)}`);
    assert.equal(caught.kind, "unavailable");
    assert.equal(caught.code, "database_unavailable");
    assert.ok(isRetryable(caught), "the indexer retries it");
    // The broken client was discarded: the pool serves the next statements.
    for (let i = 0; i < 12; i++) {
      const { rows } = await db.query<{ one: number }>("SELECT 1 AS one");
      assert.equal(rows[0]?.one, 1);
    }
  });

  it("listens again after the LISTEN connection is lost", async function () {
    const db = testDb.db;
    const got: string[] = [];
    await db.listen("soak_test_channel", (payload) => got.push(payload));
    await db.notify("soak_test_channel", "before");
    const deadline = Date.now() + 5_000;
    while (!got.includes("before") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(got, ["before"]);
    // The server drops the listening connection, as a restart does.
    await db.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    );
    const until = Date.now() + 10_000;
    while (!got.includes("after") && Date.now() < until) {
      await db.notify("soak_test_channel", "after");
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(got.includes("after"), `notifications resume after the reconnect (got ${got.join(", ")})`);
  });

  it("tells connection failures from statement errors", function () {
    assert.ok(isConnectionLoss(Object.assign(new Error("terminating connection"), { code: "57P01" })));
    assert.ok(isConnectionLoss(Object.assign(new Error("x"), { code: "08006" })));
    assert.ok(isConnectionLoss(new Error("Connection terminated unexpectedly")));
    assert.ok(isConnectionLoss(Object.assign(new Error("connect"), { code: "ECONNREFUSED" })));
    assert.ok(!isConnectionLoss(Object.assign(new Error("duplicate key"), { code: "23505" })));
    assert.ok(!isConnectionLoss(new Error("syntax error at or near")));
    assert.ok(isRetryable(unavailable("db down", "database_unavailable")));
    assert.ok(!isRetryable(new DomainError("invalid", "bad_request", "no")));
  });
});
