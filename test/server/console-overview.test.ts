import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { addDecimals, createOverviewService } from "../../server/src/api/overview-service.ts";
import { createMerchant, type Merchant } from "../../server/src/merchants/service.ts";
import { staticPriceSource, type PriceSource } from "../../server/src/pricing/index.ts";
import { insertSubscription } from "../../server/src/recurring/repository.ts";
import { createTestDb, onRealPostgres, type TestDb } from "../support/db.ts";

const ETH = "0x0000000000000000000000000000000000000000";
const USDC = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
const DAY = 86_400_000;
/** Noon UTC, 7 December 2026: today is the 7th, this month started on the 1st. */
const NOW = new Date("2026-12-07T12:00:00Z");

/**
 * The console's overview sums on a real database: paid orders by UTC day and coin, as exact
 * decimals (sums of values no binary float holds exactly), today's and this month's totals, the
 * waiting orders and today's rates with their source.
 */
describe(`console overview sums (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let t: TestDb;
  let merchant: Merchant;
  let other: Merchant;
  let nextId = 3_000_000_001n;

  before(async function () {
    t = await createTestDb();
    merchant = (await createMerchant(t.db, "overview@example.com", "seller")).merchant;
    other = (await createMerchant(t.db, "other@example.com", "seller")).merchant;
  });
  after(async function () {
    await t?.drop();
  });

  async function order(
    who: Merchant,
    o: { at: Date; usd: string; status: string; token?: string; paid: bigint; expiresAt?: Date },
  ) {
    const id = nextId++;
    const usdc = o.token === USDC;
    await t.db.query(
      `INSERT INTO orders (id, merchant_id, chain_id, pay_to, merchant_address, token, token_symbol, token_decimals,
         currency_amount, usd_cents, expected_amount, price, price_decimals, callback, status, amount_paid,
         created_at, expires_at)
       VALUES ($1, $2, 31337, $3, $3, $4, $5, $6, $7, $8, $9, 1, 8, 'http://127.0.0.1:9/', $10, $11, $12, $13)`,
      [
        id,
        who.id,
        "0x00000000000000000000000000000000000000c0",
        usdc ? USDC : ETH,
        usdc ? "USDC" : "ETH",
        usdc ? 6 : 18,
        o.usd,
        BigInt(o.usd.replace(".", "")),
        o.paid,
        o.status,
        o.paid,
        o.at,
        o.expiresAt ?? new Date(o.at.getTime() + 15 * 60_000),
      ],
    );
    return id;
  }

  it("sums paid orders per UTC day and coin exactly; today, this month, waiting orders and rates", async function () {
    const today = new Date("2026-12-07T08:00:00Z");
    const yesterday = new Date("2026-12-06T23:59:59.999Z");
    // 0.1 + 0.2 in binary floats is 0.30000000000000004: the sums must say 0.30.
    await order(merchant, { at: today, usd: "0.10", status: "complete", paid: 40_000_000_000_000n });
    await order(merchant, { at: today, usd: "0.20", status: "success", paid: 80_000_000_000_000n });
    await order(merchant, { at: today, usd: "15.50", status: "complete", token: USDC, paid: 15_500_000n });
    await order(merchant, { at: yesterday, usd: "999999999.99", status: "complete", paid: 10n ** 24n + 1n });
    // Not income: expired, refunded, another merchant's, and older than 30 days.
    await order(merchant, { at: today, usd: "5.00", status: "expired", paid: 0n });
    await order(merchant, { at: today, usd: "7.00", status: "refunded", paid: 1n });
    await order(other, { at: today, usd: "3.00", status: "complete", paid: 3n });
    await order(merchant, {
      at: new Date(NOW.getTime() - 31 * DAY),
      usd: "1.00",
      status: "complete",
      paid: 1n,
    });
    // Waiting: pending and not expired (one pending order has expired already).
    const waiting = await order(merchant, {
      at: new Date(NOW.getTime() - 60_000),
      usd: "4.50",
      status: "pending",
      paid: 0n,
      expiresAt: new Date(NOW.getTime() + 600_000),
    });
    await order(merchant, {
      at: new Date(NOW.getTime() - 3_600_000),
      usd: "4.50",
      status: "pending",
      paid: 0n,
      expiresAt: new Date(NOW.getTime() - 60_000),
    });

    const refusing: PriceSource = {
      ethUsd: () => staticPriceSource("2500.5").ethUsd(),
      tokenUsd: async () => {
        throw new Error("The USDC/USD price feed is unreachable; try again shortly.");
      },
    };
    const service = createOverviewService({
      db: t.db,
      chains: [
        { chainId: 31337n, tokens: [{ address: USDC, symbol: "USDC", decimals: 6 }], prices: refusing },
      ],
      now: () => NOW,
    });
    const view = await service.overview(merchant);

    assert.equal(view.currency, "USD");
    assert.equal(view.from, "2026-11-08");
    assert.equal(view.through, "2026-12-07");
    assert.deepEqual(
      view.income.map((r) => [r.day, r.tokenSymbol, r.amount, r.value, r.orders]),
      [
        ["2026-12-06", "ETH", 10n ** 24n + 1n, "999999999.99", 1n],
        ["2026-12-07", "ETH", 120_000_000_000_000n, "0.30", 2n],
        ["2026-12-07", "USDC", 15_500_000n, "15.50", 1n],
      ],
    );
    assert.equal(view.days.length, 30);
    assert.equal(view.days[0]?.day, "2026-11-08");
    assert.deepEqual(view.days.slice(-2), [
      { day: "2026-12-06", value: "999999999.99" },
      { day: "2026-12-07", value: "15.80" },
    ]);
    assert.equal(view.days[10]?.value, "0.00");
    assert.deepEqual(view.today, { value: "15.80", orders: 3n });
    assert.deepEqual(view.month, { value: "1000000015.79", orders: 4n });
    assert.equal(view.waiting.count, 1n);
    assert.deepEqual(
      view.waiting.orders.map((o) => o.id),
      [waiting],
    );
    const [eth, usdc] = view.rates;
    assert.equal(eth?.value, "2500.5");
    assert.equal(eth?.source, "static");
    assert.ok(eth?.updatedAt instanceof Date);
    assert.equal(usdc?.value, null);
    assert.match(usdc?.error ?? "", /unreachable/);

    // Another merchant sees only its own.
    const theirs = await service.overview(other);
    assert.deepEqual(theirs.today, { value: "3.00", orders: 1n });
    assert.equal(theirs.waiting.count, 0n);
  });

  it("lists the subscriptions due soon: upcoming or pending, not cancelled, this merchant's, soonest first", async function () {
    let n = 0;
    async function subscription(who: Merchant, status: string, paidThrough: Date, cancelled = false) {
      n += 1;
      const row = await insertSubscription(t.db, {
        merchantId: who.id,
        chainId: 31337n,
        method: "deposit",
        token: ETH,
        tokenSymbol: "ETH",
        tokenDecimals: 18,
        usdCents: 999n,
        interval: "monthly",
        startsAt: paidThrough,
        merchantAddress: "0x00000000000000000000000000000000000000c0",
        callback: "http://127.0.0.1:9/recurring",
        itemTitle: `Plan ${n}`,
        itemDescription: null,
        itemImage: null,
        reference: `0x${n.toString(16).padStart(64, "0")}`,
        depositAddress: `0x${n.toString(16).padStart(40, "0")}`,
        pageToken: `page-${n}`,
        createdAt: NOW,
      });
      await t.db.query("UPDATE subscriptions SET status = $2, cancelled_at = $3 WHERE id = $1", [
        row.id,
        status,
        cancelled ? NOW : null,
      ]);
      return row.id;
    }
    const later = await subscription(merchant, "upcoming", new Date(NOW.getTime() + 5 * DAY));
    const late = await subscription(merchant, "pending", new Date(NOW.getTime() - DAY));
    await subscription(merchant, "active", new Date(NOW.getTime() + 20 * DAY));
    await subscription(merchant, "upcoming", new Date(NOW.getTime() + 2 * DAY), true);
    await subscription(other, "upcoming", new Date(NOW.getTime() + DAY));
    const service = createOverviewService({ db: t.db, chains: [], now: () => NOW });
    const view = await service.overview(merchant);
    assert.deepEqual(
      view.subscriptionsDue.map((s) => s.id),
      [late, later],
    );
  });

  it("adds decimal strings exactly", function () {
    assert.equal(addDecimals([]), "0.00");
    assert.equal(addDecimals(["0.1", "0.2"]), "0.30");
    assert.equal(
      addDecimals(["123456789012345678901234567890.125", "0.875"]),
      "123456789012345678901234567891.00",
    );
  });
});
