import assert from "node:assert/strict";
import type { FastifyInstance } from "fastify";
import { after, before, describe, it } from "mocha";
import pino from "pino";
import { createPublicClient, http } from "viem";
import { createHealthService } from "../../server/src/api/health-service.ts";
import { buildApp } from "../../server/src/app.ts";
import { createCallbackService } from "../../server/src/callbacks/service.ts";
import { createAccountService } from "../../server/src/api/account-service.ts";
import { createMerchant, createMerchantService } from "../../server/src/merchants/service.ts";
import { createOrderReader } from "../../server/src/orders/queries.ts";
import { createOrderService } from "../../server/src/orders/service.ts";
import { staticPriceSource } from "../../server/src/pricing/index.ts";
import { createTestDb, onRealPostgres, type TestDb } from "../support/db.ts";

const CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const MERCHANT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

const ADMIN_TOKEN = "admin-token-for-the-app-test-0123456789";
/**
 * buildApp takes services, not a database handle or a chain: the API answers from services on a
 * test database and a static ETH price, with no chain process. The chain client points at a
 * closed port, so /health must report the chain down while the database is up.
 */
describe(`API app without a chain (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let t: TestDb;
  let app: FastifyInstance;
  let apiKey: string;

  before(async function () {
    t = await createTestDb();
    const created = await createMerchant(t.db, "nochain@example.com", "basic");
    apiKey = created.apiKey;
    // Ledger views cover proven payout addresses only (POST /user/addresses): record MERCHANT as proven.
    await t.db.query("INSERT INTO merchant_addresses (merchant_id, address) VALUES ($1, $2)", [
      created.merchant.id,
      MERCHANT.toLowerCase(),
    ]);
    const chain = {
      client: createPublicClient({
        transport: http("http://127.0.0.1:9", { retryCount: 0, timeout: 1_000 }),
      }),
      chainId: 31337n,
      contract: CONTRACT as `0x${string}`,
    };
    app = await buildApp({
      config: { publicUrl: "http://pos.test", consoleOrigin: "http://pos.test", adminToken: ADMIN_TOKEN },
      log: pino({ level: "silent" }),
      orders: createOrderService({
        db: t.db,
        chains: [
          { ...chain, name: "hardhat", tokens: [], prices: staticPriceSource("2500"), failure: () => null },
        ],
        orderTtlSeconds: 900,
        anonymousMaxCents: 500n,
      }),
      payPage: createOrderReader(t.db),
      merchants: createMerchantService(t.db),
      account: createAccountService({ db: t.db, chains: [{ ...chain, tokens: [] }] }),
      callbacks: createCallbackService(t.db),
      health: createHealthService({
        db: t.db,
        chains: [
          {
            ...chain,
            name: "hardhat",
            confirmations: 12,
            indexedBlock: () => null,
            indexerStatus: () => null,
            role: () => "disabled",
            failure: () => null,
          },
        ],
      }),
      indexedBlock: () => null,
    });
    await app.ready();
  });
  after(async function () {
    await app?.close();
    await t?.drop();
  });

  const post = (payload: object, authorization?: string) =>
    app.inject({
      method: "POST",
      url: "/order",
      payload,
      headers: authorization ? { authorization } : {},
    });

  it("creates an order priced from the static source and reads it back", async function () {
    const created = await post({ amount: "2.50", address: MERCHANT, callback: "https://shop.test/cb" });
    assert.equal(created.statusCode, 200, created.body);
    const order = created.json();
    assert.equal(order.status, "pending");
    assert.equal(order.currency_amount, "2.50");
    assert.equal(order.expected_amount, "0.001");
    assert.equal(order.address, CONTRACT);
    assert.equal(order.payment_url, `http://pos.test/pay/${order.id}`);

    const read = await app.inject({ method: "GET", url: `/order/${order.id}` });
    assert.equal(read.statusCode, 200);
    assert.deepEqual(read.json(), order);
    const status = await app.inject({ method: "GET", url: `/pay/${order.id}/status` });
    assert.equal(status.statusCode, 200);
    assert.equal(status.json().status, "pending");
  });

  it("maps domain errors to the one error body", async function () {
    const invalid = await post({ amount: "-1", address: MERCHANT, callback: "https://shop.test/cb" });
    assert.equal(invalid.statusCode, 400);
    assert.equal(invalid.json().error.code, "invalid_amount");
    const schema = await post({ amount: "1.00", address: MERCHANT });
    assert.equal(schema.statusCode, 400);
    assert.deepEqual(schema.json(), {
      error: { code: "invalid_request", message: "body.callback must have required property 'callback'" },
    });
    const anonymousLimit = await post({
      amount: "5.00",
      address: MERCHANT,
      callback: "https://shop.test/cb",
    });
    assert.equal(anonymousLimit.statusCode, 401);
    assert.equal(anonymousLimit.json().error.code, "unauthorized");

    const missing = await app.inject({ method: "GET", url: "/order/123456789" });
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(missing.json(), {
      error: { code: "order_not_found", message: "order 123456789 was not found" },
    });
    const page = await app.inject({ method: "GET", url: "/pay/123456789" });
    assert.equal(page.statusCode, 404);
    assert.equal(page.json().error.code, "order_not_found");
    const callbacks = await app.inject({
      method: "GET",
      url: "/callbacks?order=1",
      headers: { authorization: apiKey },
    });
    assert.equal(callbacks.statusCode, 404);
    assert.equal(callbacks.json().error.code, "order_not_found");
  });

  it("refuses the NUL character in any text with a 400 naming the field, and writes nothing (the soak found a 500)", async function () {
    const count = async () =>
      (await t.db.query<{ n: bigint }>("SELECT count(*)::int8 AS n FROM orders")).rows[0]?.n ?? 0n;
    const before = await count();
    const cases = [
      {
        request: {
          method: "POST" as const,
          url: "/order",
          payload: {
            amount: "1.00",
            address: MERCHANT,
            callback: "https://shop.example/cb",
            item_title: "Tea\u0000",
          },
        },
        field: "body.item_title",
      },
      {
        request: {
          method: "POST" as const,
          url: "/order",
          payload: { amount: "1.00", address: MERCHANT, callback: "https://shop.example/cb\u0000" },
        },
        field: "body.callback",
      },
      {
        request: { method: "GET" as const, url: "/history/complete%00", headers: { authorization: apiKey } },
        field: "params.status",
      },
      {
        request: { method: "GET" as const, url: "/history?cursor=%00", headers: { authorization: apiKey } },
        field: "querystring.cursor",
      },
    ];
    for (const { request, field } of cases) {
      const res = await app.inject(request);
      assert.equal(res.statusCode, 400, `${request.method} ${request.url}: ${res.body}`);
      const error = res.json().error as { code: string; message: string };
      assert.equal(error.code, "invalid_request");
      assert.match(error.message, new RegExp(`^${field.replace(".", "\\.")} contains the NUL character`));
    }
    assert.equal(await count(), before, "no order written");
  });

  it("lists the valid statuses when /history/:status names an unknown one", async function () {
    const res = await app.inject({
      method: "GET",
      url: "/history/bogus",
      headers: { authorization: apiKey },
    });
    assert.equal(res.statusCode, 400);
    assert.deepEqual(res.json(), {
      error: {
        code: "invalid_request",
        message: "params.status must be one of pending, success, complete, expired, refunded",
      },
    });
  });

  it("answers GET /user from the services, counting today's orders", async function () {
    assert.equal(
      (await post({ amount: "7.00", address: MERCHANT, callback: "https://shop.test/cb" }, apiKey))
        .statusCode,
      200,
    );
    const res = await app.inject({ method: "GET", url: "/user", headers: { authorization: apiKey } });
    assert.equal(res.statusCode, 200, res.body);
    const user = res.json();
    assert.equal(user.email, "nochain@example.com");
    assert.equal(user.plan, "Basic");
    assert.equal(user.transactions_today, 1);
    // On-chain balances need the chain: a 503 with retry-after, not a 500.
    const history = await app.inject({
      method: "GET",
      url: "/user/history",
      headers: { authorization: apiKey },
    });
    assert.equal(history.statusCode, 503);
    assert.equal(history.headers["retry-after"], "30");
    assert.equal(history.json().error.code, "chain_unavailable");
  });

  it("reports the database up and the chain down on /health", async function () {
    // The details need the admin token (the public body says only up or down).
    const res = await app.inject({
      method: "GET",
      url: "/health",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(res.statusCode, 503);
    const health = res.json();
    assert.equal(health.status, "unavailable");
    assert.deepEqual(health.database, { ok: true });
    assert.equal(health.chain.ok, false);
    assert.equal(health.chain.chain_id, 31337);
    assert.deepEqual(health.indexer, { state: "disabled", role: "disabled" });
  });
});
