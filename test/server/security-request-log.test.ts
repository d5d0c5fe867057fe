/**
 * Security review 2, finding 11: the request log wrote full URLs, with the secrets some of them
 * carry: EletroPay client tokens (`/v1/clients/<token>/<currency>`), subscription page tokens
 * (`/subscription/<token>`) and order ids, which open an order's public payment page. The log
 * lines are captured from a real pino logger at debug level and searched for each secret.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { HDKey } from "@scure/bip32";
import pino from "pino";
import { parseEletroPayConfig } from "../../server/src/config/eletropay.ts";
import { createEletroPay, type EletroPay } from "../../server/src/eletropay/index.ts";
import type { PollResult, UtxoChainAdapter } from "../../server/src/utxo/adapter.ts";
import { startApiSystem, type ApiSystem } from "../support/api-system.ts";
import { createTestDb, onRealPostgres, type TestDb } from "../support/db.ts";

/** A pino logger at debug level whose lines are kept in `lines`. */
function capturingLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      done();
    },
  });
  return { log: pino({ level: "debug" }, stream), lines };
}

/** The request lines (the ones with a status) of a captured log. */
const requestLines = (lines: string[]) =>
  lines.map((l) => JSON.parse(l) as { msg: string; url?: string; status?: number }).filter((l) => l.status);

describe(`security: the request log holds no secrets from URLs (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  describe("the public API", function () {
    let api: ApiSystem;
    const captured = capturingLogger();

    before(async function () {
      api = await startApiSystem({ RATE_LIMIT_PER_MINUTE: "100000" }, { log: captured.log });
    });
    after(async function () {
      await api?.close();
    });

    it("logs order ids, subscription tokens and unknown query values as redacted", async function () {
      const created = await api.system.app.inject({
        method: "POST",
        url: "/order",
        payload: { amount: "1.00", address: api.chain.merchant.address, callback: "https://shop.example/cb" },
      });
      assert.equal(created.statusCode, 200, created.body);
      const id = String(created.json().id);
      const token = randomBytes(24).toString("base64url");
      const urls = [
        `/pay/${id}`,
        `/pay/${id}/status`,
        `/order/${id}`,
        `/order/${id}/qr.svg?due=1`,
        `/console/orders/${id}`,
        `/callbacks?order=${id}&limit=5`,
        `/subscription/${token}`,
        `/subscription/${token}/qr.svg`,
        `//subscription/${token}/unknown`,
      ];
      for (const url of urls) await api.system.app.inject({ method: "GET", url });

      const lines = requestLines(captured.lines);
      assert.ok(lines.length >= urls.length, `every request was logged: ${JSON.stringify(lines)}`);
      const text = captured.lines.join("\n");
      assert.ok(!text.includes(id), `the order id ${id} is in the log:\n${text}`);
      assert.ok(!text.includes(token), `the subscription token is in the log:\n${text}`);
      // What is logged instead: the route's parameter names, the harmless query values.
      const logged = lines.map((l) => l.url);
      for (const expected of [
        "/pay/:id",
        "/pay/:id/status",
        "/order/:id",
        "/order/:id/qr.svg?due=1",
        "/console/orders/:id",
        "/callbacks?order=[redacted]&limit=5",
        "/subscription/:token",
        "/subscription/:token/qr.svg",
      ]) {
        assert.ok(logged.includes(expected), `${expected} not in ${JSON.stringify(logged)}`);
      }
      assert.ok(
        lines.some((l) => l.msg === "GET /pay/:id/status 200"),
        JSON.stringify(lines),
      );
    });
  });

  describe("the EletroPay listener", function () {
    let testDb: TestDb;
    let ep: EletroPay;
    const captured = capturingLogger();
    const secret = "request-log-test-secret-0123456789";

    before(async function () {
      testDb = await createTestDb();
      const ltc: UtxoChainAdapter = {
        currency: "LTC",
        async ensureReady() {},
        async importAddresses() {},
        async poll(): Promise<PollResult> {
          return { cursor: "00".repeat(32), tipHeight: 0, observations: [], cursorReset: false };
        },
      };
      const seed = Buffer.from("request log test seed, not a real wallet");
      const config = parseEletroPayConfig({
        XPUB_LTC: HDKey.fromMasterSeed(seed, { public: 0x043587cf, private: 0x04358394 }).derive(
          "m/44'/1'/0'",
        ).publicExtendedKey,
        LTC_NETWORK: "regtest",
        LTC_RPC_URL: "http://u:p@127.0.0.1:1/wallet/eletropay",
        ELETROPAY_TOKEN_KEY: "request-log-test-token-key-0123456789abcdef",
        ELETROPAY_CALLBACK_URL: "https://eletropay.example/v1/payments/{key}/{currency}/",
        ELETROPAY_SHARED_SECRET: secret,
      });
      ep = await createEletroPay({
        db: testDb.db,
        config,
        adapters: { LTC: ltc },
        logger: captured.log,
      });
    });
    after(async function () {
      await ep?.app.close();
      await testDb?.drop();
    });

    it("logs /v1/clients/:token/… instead of the client's token, on known and unknown routes", async function () {
      const headers = { "x-eletropay-secret": secret };
      const registered = await ep.app.inject({
        method: "POST",
        url: "/v1/clients",
        headers,
        payload: { email: "log@example.com" },
      });
      assert.equal(registered.statusCode, 200, registered.body);
      const token = registered.json().token as string;
      const issued = await ep.app.inject({ method: "GET", url: `/v1/clients/${token}/LTC`, headers });
      assert.equal(issued.statusCode, 200, issued.body);
      await ep.app.inject({ method: "GET", url: `/v1/clients/${token}/LTC/extra`, headers });
      await ep.app.inject({ method: "GET", url: `//V1/clients/${token}/ltc?token=${token}`, headers });

      const lines = requestLines(captured.lines);
      assert.equal(lines.length, 4, JSON.stringify(lines));
      const text = captured.lines.join("\n");
      assert.ok(!text.includes(token), `the client token is in the log:\n${text}`);
      assert.ok(!text.includes(secret), "the shared secret is in the log");
      assert.deepEqual(
        lines.map((l) => l.url),
        [
          "/v1/clients",
          "/v1/clients/:token/LTC",
          "/v1/clients/:token/LTC/extra",
          "//V1/clients/:token/ltc?token=[redacted]",
        ],
      );
    });
  });
});
