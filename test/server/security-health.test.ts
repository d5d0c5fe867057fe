import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { startApiSystem, type ApiSystem } from "../support/api-system.ts";
import { onRealPostgres } from "../support/db.ts";
import { enqueue, insertMerchant, insertOrder, orderEntry } from "./callbacks-support.ts";

/**
 * Security finding 4: /health was public and showed failing receivers (origin, merchant id, last
 * error), indexer internals and EletroPay counters. Anyone now sees up or down per component; the
 * details need the admin token.
 */
const ADMIN_TOKEN = "admin-token-for-the-health-test-0123456789";

describe(`security: public /health says only up or down (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let api: ApiSystem;

  before(async function () {
    api = await startApiSystem({ ADMIN_TOKEN });
    const db = api.testDb.db;
    const merchant = await insertMerchant(db, "internal@example.com", "internal-secret-0123456789abcdef");
    const url = "https://receiver.internal.example:8443/hook?token=abc";
    const order = await insertOrder(db, merchant, url);
    const { id } = await enqueue(db, orderEntry(order, merchant, url, "success"));
    await db.query(
      "UPDATE callbacks SET status = 'failed', attempts = 3, last_error = 'connect ECONNREFUSED 10.9.8.7:8443', last_attempt_at = now() WHERE id = $1",
      [id],
    );
  });
  after(async function () {
    await api?.close();
  });

  it("shows anyone the status and up/down per component, and nothing else", async function () {
    const res = await api.system.app.inject({ method: "GET", url: "/health" });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), {
      status: "ok",
      database: "up",
      chains: { hardhat: "up" },
      indexer: "up",
      callbacks: "up",
      eletropay: "up",
    });
    for (const secret of ["receiver.internal", "ECONNREFUSED", "failing_receivers", "contract", "block"])
      assert.doesNotMatch(res.body, new RegExp(secret), secret);
  });

  it("shows the operator the details with the admin token, on /health and /admin/health", async function () {
    for (const url of ["/health", "/admin/health"]) {
      const res = await api.system.app.inject({
        method: "GET",
        url,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.callbacks.status, "degraded");
      assert.equal(body.callbacks.failing_receivers[0].receiver, "https://receiver.internal.example:8443");
      assert.equal(typeof body.chain.head_block, "number");
    }
  });

  it("refuses a wrong token and anonymous /admin/health", async function () {
    const wrong = await api.system.app.inject({
      method: "GET",
      url: "/health",
      headers: { authorization: "Bearer not-the-admin-token-0123456789abcdef" },
    });
    assert.equal(wrong.statusCode, 401);
    assert.equal((await api.system.app.inject({ method: "GET", url: "/admin/health" })).statusCode, 401);
  });
});
