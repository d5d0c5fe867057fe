import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { createMerchant } from "../../server/src/merchants/service.ts";
import { PLANS, type PlanName } from "../../server/src/merchants/plans.ts";
import { startApiSystem, type ApiSystem } from "../support/api-system.ts";
import { onRealPostgres } from "../support/db.ts";

/**
 * Security finding 7: every plan boundary as the seed's table states it. "Provides free
 * transaction forwarding with amounts under $10.00": Free refuses $10.00 exactly. The other plans'
 * "Max Amount" is inclusive. Daily transactions: the Nth order of the day is allowed, the N+1th is
 * refused. Anonymous orders: "does not require Authentication for amount under $5.00".
 */
describe(`security: plan boundaries from the seed's table (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let api: ApiSystem;
  this.timeout(120_000);

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

  it("Free: $10, $10.0 and $10.00 are all the same refused boundary; Basic accepts $30 written any way", async function () {
    const free = await createMerchant(api.testDb.db, "free-forms@example.com", "free");
    for (const amount of ["10", "10.0", "10.00"]) {
      const res = await order(amount, free.apiKey);
      assert.equal(res.statusCode, 403, `${amount}: ${res.body}`);
      assert.equal(res.json().error.code, "plan_max_amount");
    }
    const basic = await createMerchant(api.testDb.db, "basic-forms@example.com", "basic");
    for (const amount of ["30", "30.0", "30.00"]) {
      assert.equal((await order(amount, basic.apiKey)).statusCode, 200, amount);
    }
  });

  const daily: [PlanName, number][] = [
    ["free", 10],
    ["basic", 25],
    ["seller", 50],
    ["premium", 150],
    ["exclusive", 500],
  ];
  for (const [plan, perDay] of daily) {
    it(`${PLANS[plan].label}: ${perDay} orders a day are accepted and order ${perDay + 1} is refused`, async function () {
      this.timeout(120_000);
      assert.equal(PLANS[plan].dailyTransactions, perDay);
      const { apiKey } = await createMerchant(api.testDb.db, `${plan}-daily@example.com`, plan);
      for (let i = 0; i < perDay; i++) {
        const res = await order("1.00", apiKey);
        assert.equal(res.statusCode, 200, `order ${i + 1}: ${res.body}`);
      }
      const over = await order("1.00", apiKey);
      assert.equal(over.statusCode, 429, over.body);
      assert.equal(over.json().error.code, "plan_daily_limit");
      assert.match(
        over.json().error.message,
        new RegExp(`the ${PLANS[plan].label} plan allows ${perDay} orders per day`),
      );
    });
  }

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
    // Max Amount (USD): $10.00 (Free: "under $10.00", exclusive), $30.00, $100.00, $500.00, $1000.00.
    assert.deepEqual(
      Object.values(PLANS).map((p) => [p.label, p.maxAmountCents, p.maxAmountInclusive]),
      [
        ["Free", 1_000n, false],
        ["Basic", 3_000n, true],
        ["Seller", 10_000n, true],
        ["Premium", 50_000n, true],
        ["Exclusive", 100_000n, true],
      ],
    );
  });

  it("anonymous orders: $4.99 needs no key, $5.00 does", async function () {
    assert.equal((await order("4.99")).statusCode, 200);
    assert.equal((await order("5.00")).statusCode, 401);
  });
});
