import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { createMerchant } from "../../server/src/merchants/service.ts";
import { PLANS, type PlanName } from "../../server/src/merchants/plans.ts";
import { startApiSystem, type ApiSystem } from "../helpers/api-system.ts";
import { onRealPostgres } from "../helpers/db.ts";

/**
 * Security finding 7: every plan boundary as the seed's table states it. "Provides free
 * transaction forwarding with amounts under $10.00": Free refuses $10.00 exactly. The other plans'
 * "Max Amount" is inclusive. Daily transactions: the Nth order of the day is allowed, the N+1th is
 * refused. Anonymous orders: "does not require Authentication for amount under $5.00".
 */
describe(`security: plan boundaries from the seed's table (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let api: ApiSystem;

  before(async function () {
    api = await startApiSystem({ RATE_LIMIT_PER_MINUTE: "100000" });
  });
  after(async function () {
    await api?.close();
  });

  const order = (amount: string, authorization?: string) =>
    api.system.app.inject({
      method: "POST",
      url: "/order",
      headers: authorization ? { authorization } : {},
      payload: { amount, address: api.chain.merchant.address, callback: "https://shop.example/cb" },
    });

  const boundaries: [PlanName, allowed: string, refused: string][] = [
    ["free", "9.99", "10.00"],
    ["basic", "30.00", "30.01"],
    ["seller", "100.00", "100.01"],
    ["premium", "500.00", "500.01"],
    ["exclusive", "1000.00", "1000.01"],
  ];

  for (const [plan, allowed, refused] of boundaries) {
    it(`${PLANS[plan].label}: $${allowed} is accepted and $${refused} refused`, async function () {
      const { apiKey } = await createMerchant(api.testDb.db, `${plan}-limit@example.com`, plan);
      const ok = await order(allowed, apiKey);
      assert.equal(ok.statusCode, 200, ok.body);
      const over = await order(refused, apiKey);
      assert.equal(over.statusCode, 403, over.body);
      assert.equal(over.json().error.code, "plan_max_amount");
      assert.match(over.json().error.message, new RegExp(`the ${PLANS[plan].label} plan allows orders`));
    });
  }

  it("Free: the message says under $10.00", async function () {
    const { apiKey } = await createMerchant(api.testDb.db, "free-message@example.com", "free");
    const over = await order("10.00", apiKey);
    assert.match(over.json().error.message, /allows orders up to \$10\.00, exclusive \(under \$10\.00\)/);
  });

  it("Free: 10 orders a day are accepted and the 11th is refused", async function () {
    const { apiKey } = await createMerchant(api.testDb.db, "free-daily@example.com", "free");
    for (let i = 0; i < PLANS.free.dailyTransactions; i++) {
      const res = await order("1.00", apiKey);
      assert.equal(res.statusCode, 200, `order ${i + 1}: ${res.body}`);
    }
    const eleventh = await order("1.00", apiKey);
    assert.equal(eleventh.statusCode, 429, eleventh.body);
    assert.equal(eleventh.json().error.code, "plan_daily_limit");
  });

  it("the table: daily transactions 10, 25, 50, 150, 500; max amounts $10.00 (exclusive), $30, $100, $500, $1000", function () {
    assert.deepEqual(
      Object.values(PLANS).map((p) => [p.label, p.monthlyPrice, p.dailyTransactions, p.recurring]),
      [
        ["Free", "0.00", 10, false],
        ["Basic", "5.00", 25, false],
        ["Seller", "12.00", 50, true],
        ["Premium", "20.00", 150, true],
        ["Exclusive", "contact us", 500, true],
      ],
    );
  });

  it("anonymous orders: $4.99 needs no key, $5.00 does", async function () {
    assert.equal((await order("4.99")).statusCode, 200);
    assert.equal((await order("5.00")).statusCode, 401);
  });
});
