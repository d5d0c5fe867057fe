import assert from "node:assert/strict";
import type { FastifyInstance } from "fastify";
import { after, before, describe, it } from "mocha";
import pino from "pino";
import { createPublicClient, http } from "viem";
import { createAccountService } from "../../server/src/api/account-service.ts";
import { createHealthService } from "../../server/src/api/health-service.ts";
import { buildApp } from "../../server/src/app.ts";
import { createCallbackService } from "../../server/src/callbacks/service.ts";
import { merchantLanguage } from "../../server/src/merchants/profile.ts";
import { createMerchant, createMerchantService } from "../../server/src/merchants/service.ts";
import { createOrderReader } from "../../server/src/orders/queries.ts";
import { createOrderService } from "../../server/src/orders/service.ts";
import { staticPriceSource } from "../../server/src/pricing/index.ts";
import { createTestDb, onRealPostgres, type TestDb } from "../support/db.ts";

const CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const MERCHANT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

/**
 * The payment page's language from ?lang=, Accept-Language and the merchant's default
 * (PUT /user/language, stored by migration 180), through the app on a test database.
 */
describe(`page languages over HTTP (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let t: TestDb;
  let app: FastifyInstance;
  let apiKey: string;
  let payPath: string;

  before(async function () {
    t = await createTestDb();
    apiKey = (await createMerchant(t.db, "idioma@example.com", "seller")).apiKey;
    const chain = {
      client: createPublicClient({
        transport: http("http://127.0.0.1:9", { retryCount: 0, timeout: 1_000 }),
      }),
      chainId: 31337n,
      contract: CONTRACT as `0x${string}`,
    };
    app = await buildApp({
      config: {
        publicUrl: "http://pos.test",
        consoleOrigin: "http://pos.test",
        adminToken: "admin-token-0123456789abcdef",
      },
      log: pino({ level: "silent" }),
      orders: createOrderService({
        db: t.db,
        chains: [
          { ...chain, name: "hardhat", tokens: [], prices: staticPriceSource("2500"), failure: () => null },
        ],
        orderTtlSeconds: 900,
        anonymousMaxCents: 500n,
      }),
      payPage: { ...createOrderReader(t.db), merchantLanguage: (id) => merchantLanguage(t.db, id) },
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
    const order = await app.inject({
      method: "POST",
      url: "/order",
      headers: { authorization: apiKey },
      payload: { amount: "25.00", address: MERCHANT, callback: "https://shop.test/cb" },
    });
    assert.equal(order.statusCode, 200, order.body);
    payPath = new URL(order.json().payment_url).pathname;
  });
  after(async function () {
    await app?.close();
    await t?.drop();
  });

  const page = async (query: string, acceptLanguage?: string) => {
    const res = await app.inject({
      method: "GET",
      url: `${payPath}${query}`,
      headers: acceptLanguage ? { "accept-language": acceptLanguage } : {},
    });
    assert.equal(res.statusCode, 200, res.body);
    const lang = /<html lang="([^"]+)">/.exec(res.body)?.[1];
    assert.equal(res.headers["content-language"], lang);
    return { lang, body: res.body, vary: res.headers.vary };
  };
  const setLanguage = (language: unknown) =>
    app.inject({
      method: "PUT",
      url: "/user/language",
      headers: { authorization: apiKey },
      payload: { language },
    });

  it("?lang= first, then Accept-Language, then English; the picker links keep the page", async function () {
    assert.equal((await page("")).lang, "en");
    const pt = await page("?lang=pt-BR", "es");
    assert.equal(pt.lang, "pt-BR");
    assert.match(pt.body, /Aguardando pagamento/);
    assert.match(pt.body, /25,00 USD a 2\.500,00 USD\/ETH/);
    assert.match(pt.body, /na rede Hardhat \(local\)/);
    // The page's own text (its scripts' JSON carries the API's English state as well).
    assert.doesNotMatch(pt.body.replace(/<script[\s\S]*?<\/script>/g, ""), /local chain/);
    assert.match(pt.body, new RegExp(`href="${payPath}\\?lang=es"[^>]*>Español<`));
    const es = await page("", "es-AR,es;q=0.9,en;q=0.5");
    assert.equal(es.lang, "es");
    assert.match(es.body, /Esperando el pago/);
    assert.match(es.vary ?? "", /accept-language/i);
    assert.equal((await page("?lang=xx", "de")).lang, "en", "nothing we speak: English");
  });

  it("the merchant's default serves a browser that asks for none of ours, and is checked by the schema", async function () {
    const set = await setLanguage("es");
    assert.equal(set.statusCode, 200, set.body);
    assert.deepEqual(set.json(), { language: "es" });
    const user = await app.inject({ method: "GET", url: "/user", headers: { authorization: apiKey } });
    assert.equal(user.json().language, "es");
    assert.equal((await page("", "de-DE")).lang, "es");
    assert.equal((await page("")).lang, "es");
    assert.equal((await page("", "pt-BR")).lang, "pt-BR", "the browser's language comes first");
    assert.equal((await page("?lang=en")).lang, "en", "and the customer's pick before it");
    for (const wrong of ["de", "pt", "", 1]) {
      const res = await setLanguage(wrong);
      assert.equal(res.statusCode, 400, `${JSON.stringify(wrong)}: ${res.body}`);
    }
    const extra = await app.inject({
      method: "PUT",
      url: "/user/language",
      headers: { authorization: apiKey },
      payload: { language: "es", other: 1 },
    });
    assert.equal(extra.statusCode, 400);
    const cleared = await setLanguage(null);
    assert.deepEqual(cleared.json(), { language: null });
    assert.equal((await page("", "de-DE")).lang, "en");
    const anonymous = await app.inject({ method: "PUT", url: "/user/language", payload: { language: "es" } });
    assert.equal(anonymous.statusCode, 401);
  });
});
