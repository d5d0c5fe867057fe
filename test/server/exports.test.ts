import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import Papa from "papaparse";
import { sweepsForExport } from "../../server/src/deposits/repository.ts";
import { ledgerEventsForExport } from "../../server/src/ledger/history.ts";
import { parseDecimal } from "../../server/src/lib/money.ts";
import { ALL_TIME } from "../../server/src/lib/range.ts";
import { createMerchant, setPlugins, type Merchant } from "../../server/src/merchants/service.ts";
import { merchantOrdersForExport } from "../../server/src/orders/queries.ts";
import { merchantPeriodsForExport } from "../../server/src/recurring/repository.ts";
import { proveAddress, startApiSystem, type ApiSystem } from "../support/api-system.ts";
import { onRealPostgres } from "../support/db.ts";
import { until } from "../support/until.ts";

const CONFIRMATIONS = 2;
const ZERO = "0x0000000000000000000000000000000000000000";
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const TX_HASH = /^0x[0-9a-f]{64}$/;
const INJECTION = '=HYPERLINK("http://evil.example","click")';

type Row = Record<string, string>;

/** Parses a CSV export with papaparse, an independent parser: no errors, a header row, every row full. */
function parseCsv(body: string): { fields: string[]; rows: Row[] } {
  const parsed = Papa.parse<Row>(body, { header: true, skipEmptyLines: true });
  assert.deepEqual(parsed.errors, [], "papaparse reads the export without errors");
  const fields = parsed.meta.fields ?? [];
  for (const row of parsed.data) assert.deepEqual(Object.keys(row), fields, "every row has every column");
  return { fields, rows: parsed.data };
}

/** Sums a column per chain and coin, exactly (decimal strings → token units). */
function sums(rows: Row[], decimals: Record<string, number>): Map<string, bigint> {
  const totals = new Map<string, bigint>();
  for (const row of rows) {
    const coin = row.coin as string;
    const key = `${row.chain_id}:${coin}`;
    const places = decimals[coin];
    assert.ok(places !== undefined, `a known coin: ${coin}`);
    totals.set(key, (totals.get(key) ?? 0n) + parseDecimal(row.amount as string, places));
  }
  return totals;
}

/**
 * Moves the chain's clock up to the wall clock's next second where it lags (the in-process chain's
 * block times may lag it by seconds): an order must be made before the block that pays it, as on a
 * live chain.
 */
async function chainClockToNow(api: ApiSystem): Promise<void> {
  const latest = await api.chain.client.getBlock();
  const now = BigInt(Math.ceil(Date.now() / 1000) + 1);
  if (latest.timestamp >= now) return;
  await api.chain.connection.provider.request({ method: "evm_setNextBlockTimestamp", params: [Number(now)] });
}

async function collect<T>(pages: AsyncGenerator<T[]>): Promise<T[]> {
  const all: T[] = [];
  for await (const page of pages) all.push(...page);
  return all;
}

/**
 * The accountant's CSV exports against real chain events: ETH and USDC orders paid on the
 * in-process chain (one through its deposit address and a sweep), a refund and a withdrawal,
 * followed by the indexer. Each export is read back with papaparse and reconciled with
 * GET /user/history, GET /history and the contract's own balances.
 */
describe(`CSV exports reconcile with /user/history and the chain (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  this.timeout(120_000);
  let api: ApiSystem;
  let key: string;
  let merchantRow: Merchant;
  const orders: Record<string, { id: number; expected_amount: string; reference: string; address: string }> =
    {};
  let subscriptionId: number;

  before(async function () {
    api = await startApiSystem({
      RUN_INDEXER: "true",
      CONFIRMATIONS: String(CONFIRMATIONS),
      FINALITY_BLOCKS: "16",
      POLL_INTERVAL_MS: "20",
      ETH_USD_PRICE: "2000.00",
      RATE_LIMIT_PER_MINUTE: "100000",
    });
    key = (await createMerchant(api.testDb.db, "books@example.com", "seller")).apiKey;
    merchantRow = await setPlugins(api.testDb.db, "books@example.com", { recurring_payments: true });
    await proveAddress(api.system, key, api.chain.merchant);

    const inject = (method: "GET" | "POST", url: string, payload?: object) =>
      api.system.app.inject({ method, url, payload, headers: { authorization: key } });
    async function order(name: string, amount: string, extra: object = {}) {
      const res = await inject("POST", "/order", {
        amount,
        address: api.chain.merchant.address,
        callback: "http://127.0.0.1:9/cb",
        ...extra,
      });
      assert.equal(res.statusCode, 200, res.body);
      orders[name] = res.json();
    }
    await order("ethA", "20.00"); // 0.01 ETH
    await order("ethB", "10.00"); // 0.005 ETH, refunded in full
    await order("usdc", "15.50", { token: "USDC" }); // 15.5 USDC
    await order("deposit", "5.00"); // 0.0025 ETH, a plain transfer to its deposit address, then swept
    await order("unpaid", "3.00", { item_title: INJECTION }); // never paid

    const sub = await inject("POST", "/recurring", {
      amount: "12.00",
      interval: "monthly",
      address: api.chain.merchant.address,
      callback: "http://127.0.0.1:9/recurring",
    });
    assert.equal(sub.statusCode, 200, sub.body);
    subscriptionId = sub.json().id;

    const { chain } = api;
    const processor = chain.processor;
    const merchant = chain.merchant.address;
    await chainClockToNow(api);
    const pay = async (name: string) => {
      const o = orders[name]!;
      await (
        await processor.connect(chain.customer).getFunction("pay")(merchant, o.reference as `0x${string}`, {
          value: parseDecimal(o.expected_amount, 18),
        })
      ).wait();
    };
    await pay("ethA");
    await pay("ethB");
    const usdc = orders.usdc!;
    const usdcUnits = parseDecimal(usdc.expected_amount, 6);
    await (
      await chain.stablecoin.connect(chain.customer).getFunction("mint")(chain.customer.address, usdcUnits)
    ).wait();
    await (
      await chain.stablecoin.connect(chain.customer).getFunction("approve")(chain.contractAddress, usdcUnits)
    ).wait();
    await (
      await processor.connect(chain.customer).getFunction("payToken")(
        chain.stablecoinAddress,
        usdcUnits,
        merchant,
        usdc.reference as `0x${string}`,
      )
    ).wait();
    const deposit = orders.deposit!;
    await (
      await chain.customer.sendTransaction({
        to: deposit.address,
        value: parseDecimal(deposit.expected_amount, 18),
      })
    ).wait();
    // Anyone may sweep a deposit address into the contract (here the customer).
    await (
      await processor.connect(chain.customer).getFunction("sweepOrder")(
        merchant,
        deposit.reference as `0x${string}`,
        ZERO,
      )
    ).wait();
    // The merchant withdraws 0.004 ETH and refunds order B in full, with its own key.
    await (
      await processor.connect(chain.merchant).getFunction("withdraw")(ZERO, 4_000_000_000_000_000n, merchant)
    ).wait();
    await (
      await processor.connect(chain.merchant).getFunction("refund")(
        ZERO,
        orders.ethB!.reference as `0x${string}`,
        chain.customer.address,
        5_000_000_000_000_000n,
      )
    ).wait();
    await chain.mine(CONFIRMATIONS);

    const statusOf = async (name: string) =>
      (await inject("GET", `/order/${orders[name]!.id}`)).json().status;
    await until(
      async () =>
        (await statusOf("ethA")) === "complete" &&
        (await statusOf("usdc")) === "complete" &&
        (await statusOf("deposit")) === "complete" &&
        (await statusOf("ethB")) === "refunded"
          ? true
          : undefined,
      60_000,
      "orders indexed",
    );
  });

  after(async function () {
    await api?.close();
  });

  const get = (url: string, authorization: string | null = key) =>
    api.system.app.inject({ method: "GET", url, headers: authorization ? { authorization } : {} });

  async function exportCsv(kind: string, query = "", authorization: string | null = key) {
    const res = await get(`/export/${kind}.csv${query}`, authorization);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.headers["content-type"], "text/csv; charset=utf-8");
    assert.match(String(res.headers["content-disposition"]), new RegExp(`^attachment; filename="${kind}_`));
    assert.ok(res.body.startsWith("\ufeff"), "a byte order mark, so spreadsheets read UTF-8");
    return { ...parseCsv(res.body), res };
  }

  const DECIMALS = { ETH: 18, USDC: 6 };

  it("payments, withdrawals and refunds add up to /user/history's ledger and the contract's balances", async function () {
    const history = (await get("/user/history")).json() as {
      income: { token: string; amount: string; chain_id: number }[];
      outgoing: { token: string; withdrawn: string; refunded: string; chain_id: number }[];
    };
    const payments = await exportCsv("payments");
    const withdrawals = await exportCsv("withdrawals");
    const refunds = await exportCsv("refunds");
    assert.equal(payments.rows.length, 4, "ETH A, ETH B, USDC and the swept deposit");
    assert.equal(withdrawals.rows.length, 1);
    assert.equal(refunds.rows.length, 1);

    const credited = sums(payments.rows, DECIMALS);
    const withdrawn = sums(withdrawals.rows, DECIMALS);
    const refunded = sums(refunds.rows, DECIMALS);
    for (const t of history.income) {
      const k = `${t.chain_id}:${t.token}`;
      const places = DECIMALS[t.token as keyof typeof DECIMALS];
      assert.equal(credited.get(k) ?? 0n, parseDecimal(t.amount, places), `credited ${k}`);
    }
    for (const t of history.outgoing) {
      const k = `${t.chain_id}:${t.token}`;
      const places = DECIMALS[t.token as keyof typeof DECIMALS];
      assert.equal(withdrawn.get(k) ?? 0n, parseDecimal(t.withdrawn, places), `withdrawn ${k}`);
      assert.equal(refunded.get(k) ?? 0n, parseDecimal(t.refunded, places), `refunded ${k}`);
    }
    assert.deepEqual(
      new Set(history.income.map((t) => `${t.chain_id}:${t.token}`)),
      new Set(credited.keys()),
      "the same chains and coins",
    );

    // The chain: the contract's balance is what was credited less what left.
    const merchant = api.chain.merchant.address;
    for (const [coin, token] of [
      ["ETH", ZERO],
      ["USDC", api.chain.stablecoinAddress],
    ] as const) {
      const k = `31337:${coin}`;
      const onChain = (await api.chain.processor.getFunction("balanceOf")(merchant, token)) as bigint;
      assert.equal(
        onChain,
        (credited.get(k) ?? 0n) - (withdrawn.get(k) ?? 0n) - (refunded.get(k) ?? 0n),
        `balanceOf ${coin}`,
      );
    }
    assert.equal(credited.get("31337:ETH"), 17_500_000_000_000_000n);
    assert.equal(credited.get("31337:USDC"), 15_500_000n);

    // Every row: its transaction, its chain, its coin, an ISO 8601 UTC date and a fiat value.
    for (const row of [...payments.rows, ...withdrawals.rows, ...refunds.rows]) {
      assert.match(row.transaction_hash!, TX_HASH);
      assert.equal(row.chain_id, "31337");
      assert.ok(row.chain_name, "a chain name");
      assert.match(row.date!, ISO_UTC);
      assert.equal(row.fiat_currency, "USD");
      assert.equal(row.payout_address, merchant);
    }
    // Payments of orders are valued at the order's locked rate.
    const byOrder = new Map(payments.rows.map((r) => [r.order_id, r]));
    const ethA = byOrder.get(String(orders.ethA!.id));
    assert.deepEqual(
      [ethA?.coin, ethA?.token_address, ethA?.amount, ethA?.fiat_value, ethA?.rate, ethA?.rate_source],
      ["ETH", ZERO, "0.01", "20.00", "2000.00", "locked"],
    );
    assert.equal(ethA?.payer, api.chain.customer.address);
    const usdc = byOrder.get(String(orders.usdc!.id));
    assert.deepEqual(
      [usdc?.coin, usdc?.token_address, usdc?.amount, usdc?.fiat_value, usdc?.rate_source],
      ["USDC", api.chain.stablecoinAddress, "15.5", "15.50", "locked"],
    );
    const swept = byOrder.get(String(orders.deposit!.id));
    assert.equal(swept?.payer, orders.deposit!.address, "a swept payment names the deposit address as payer");
    assert.equal(swept?.fiat_value, "5.00");

    // The refund: its order's locked rate.
    const refund = refunds.rows[0]!;
    assert.deepEqual(
      [refund.order_id, refund.amount, refund.fiat_value, refund.rate_source, refund.refunded_to],
      [String(orders.ethB!.id), "0.005", "10.00", "locked", api.chain.customer.address],
    );
    // The withdrawal has no order: the nearest earlier quote on its chain and token (the newest
    // ETH order made before it).
    const withdrawal = withdrawals.rows[0]!;
    assert.equal(withdrawal.amount, "0.004");
    assert.equal(withdrawal.fiat_value, "8.00");
    assert.equal(withdrawal.rate, "2000.00");
    assert.match(
      withdrawal.rate_source!,
      new RegExp(`^quote of order ${orders.unpaid!.id} at \\d{4}-\\d{2}-\\d{2}T[\\d:.]+Z$`),
    );
    assert.equal(withdrawal.withdrawn_to, merchant);
    assert.ok(!("order_id" in withdrawal), "withdrawals have no order columns");
  });

  it("sweeps list the deposit swept into the contract, valued at its order's locked rate", async function () {
    const { rows } = await exportCsv("sweeps");
    assert.equal(rows.length, 1);
    const sweep = rows[0]!;
    assert.deepEqual(
      [
        sweep.kind,
        sweep.deposit_address,
        sweep.order_id,
        sweep.order_reference,
        sweep.coin,
        sweep.amount,
        sweep.fiat_value,
        sweep.rate_source,
      ],
      [
        "credited",
        orders.deposit!.address,
        String(orders.deposit!.id),
        orders.deposit!.reference,
        "ETH",
        orders.deposit!.expected_amount,
        "5.00",
        "locked",
      ],
    );
    assert.match(sweep.transaction_hash!, TX_HASH);
    assert.match(sweep.date!, ISO_UTC);
  });

  it("orders.csv has every order /history lists, with the same amounts and transactions", async function () {
    const listed = (await get("/history?limit=100")).json().orders as {
      id: number;
      status: string;
      amount_paid: string;
      expected_amount: string;
      currency_amount: string;
      transaction_id: string;
      sent_transaction: string;
      created_at: string;
      token: string;
    }[];
    const { rows, fields } = await exportCsv("orders");
    assert.ok(
      fields.includes("transaction_hash") && fields.includes("fiat_value") && fields.includes("rate"),
    );
    assert.equal(rows.length, listed.length);
    assert.equal(rows.length, 5);
    const byId = new Map(rows.map((r) => [Number(r.order_id), r]));
    for (const o of listed) {
      const row = byId.get(o.id);
      assert.ok(row, `order ${o.id} is exported`);
      assert.deepEqual(
        [row.status, row.amount, row.expected_amount, row.order_fiat_amount, row.coin, row.transaction_hash],
        [o.status, o.amount_paid, o.expected_amount, o.currency_amount, o.token, o.transaction_id],
        `order ${o.id}`,
      );
      assert.equal(row.refund_transaction_hash, o.sent_transaction);
      // /history gives whole seconds; the export keeps the milliseconds.
      assert.equal(Math.floor(Date.parse(row.created_at!) / 1000) * 1000, Date.parse(o.created_at));
      assert.match(row.created_at!, ISO_UTC);
      assert.equal(row.rate_source, "locked");
    }
    // Oldest first.
    const created = rows.map((r) => Date.parse(r.created_at!));
    assert.deepEqual(
      created,
      [...created].sort((a, b) => a - b),
    );
    // Paid orders: the fiat value of what was paid at the locked rate.
    assert.equal(byId.get(orders.ethA!.id)?.fiat_value, "20.00");
    assert.equal(byId.get(orders.ethB!.id)?.amount_refunded, "0.005");
    assert.equal(byId.get(orders.unpaid!.id)?.fiat_value, "0.00");
    // CSV injection: a title that a spreadsheet would run as a formula is written with a leading quote.
    assert.equal(byId.get(orders.unpaid!.id)?.item_title, `'${INJECTION}`);
  });

  it("subscription-periods.csv lists the open period with its locked rate", async function () {
    const { rows } = await exportCsv("subscription-periods");
    assert.equal(rows.length, 1);
    const period = rows[0]!;
    assert.deepEqual(
      [
        period.subscription_id,
        period.period,
        period.period_fiat_amount,
        period.coin,
        period.rate,
        period.rate_source,
        period.amount,
        period.expected_amount,
      ],
      [String(subscriptionId), "0", "12.00", "ETH", "2000.00", "locked", "0", "0.006"],
    );
    assert.match(period.due_at!, ISO_UTC);
    assert.match(period.rate_locked_at!, ISO_UTC);
    assert.equal(period.paid_at, "");
  });

  it("filters by date range: from inclusive, to exclusive, a range with nothing gives only the header", async function () {
    const kinds = ["orders", "payments", "refunds", "withdrawals", "sweeps", "subscription-periods"];
    for (const kind of kinds) {
      const all = await exportCsv(kind);
      const empty = await exportCsv(kind, "?from=2001-01-01&to=2001-02-01");
      assert.deepEqual(empty.rows, [], `${kind}: nothing in January 2001`);
      assert.deepEqual(empty.fields, all.fields, `${kind}: the header row still comes`);
      assert.equal(empty.res.body.trim().split("\n").length, 1, `${kind}: the header row alone`);
      assert.equal(
        empty.res.headers["content-disposition"],
        `attachment; filename="${kind}_2001-01-01_2001-02-01.csv"`,
      );
      const later = await exportCsv(kind, "?from=2999-01-01T00:00:00Z");
      assert.deepEqual(later.rows, [], `${kind}: nothing after 2999`);
      const around = await exportCsv(kind, "?from=2001-01-01&to=2999-01-01");
      assert.deepEqual(around.rows, all.rows, `${kind}: everything between 2001 and 2999`);
    }
    // An exact bound: from a payment's own time includes it; to that time excludes it.
    const payments = (await exportCsv("payments")).rows;
    const first = payments[0]!;
    const at = first.date!;
    const from = await exportCsv("payments", `?from=${at}`);
    assert.ok(from.rows.some((r) => r.transaction_hash === first.transaction_hash));
    const to = await exportCsv("payments", `?to=${at}`);
    assert.ok(!to.rows.some((r) => r.transaction_hash === first.transaction_hash));
    assert.equal(from.rows.length + to.rows.length, payments.length);
  });

  it("answers a wrong range with a 400 that names the parameter and the accepted forms", async function () {
    const cases: [string, string, RegExp][] = [
      ["?from=yesterday", "invalid_from", /from must be a date \(2026-01-31\) or a date-time in UTC/],
      ["?from=2026-02-30", "invalid_from", /from must be/],
      ["?to=2026-01-01T25:00:00Z", "invalid_to", /to must be/],
      ["?to=2026-01-01T12:00:00+02:00", "invalid_to", /UTC/],
      ["?from=2026-02-01&to=2026-01-01", "invalid_range", /from \(2026-02-01T00:00:00.000Z\) is after to/],
    ];
    for (const [query, code, message] of cases) {
      const res = await get(`/export/payments.csv${query}`);
      assert.equal(res.statusCode, 400, query);
      assert.equal(res.json().error.code, code, query);
      assert.match(res.json().error.message, message, query);
    }
    assert.equal((await get("/export/payments.csv?since=2026-01-01")).statusCode, 400);
    assert.equal((await get("/export/payments.csv", null)).statusCode, 401);
    assert.equal((await get("/export/nothing.csv")).statusCode, 404);
  });

  it("never shows another merchant these rows", async function () {
    const other = (await createMerchant(api.testDb.db, "other-books@example.com", "seller")).apiKey;
    for (const kind of ["orders", "payments", "refunds", "withdrawals", "sweeps", "subscription-periods"]) {
      const { rows } = await exportCsv(kind, "", other);
      assert.deepEqual(rows, [], `${kind} of another merchant`);
    }
  });

  it("reads page by page: a page of one row gives the same rows as one page", async function () {
    const db = api.testDb.db;
    const merchants = [api.chain.merchant.address.toLowerCase()];
    for (const kind of ["payment", "withdrawal", "refund"] as const) {
      assert.deepEqual(
        await collect(ledgerEventsForExport(db, kind, [31337n], merchants, ALL_TIME, 1)),
        await collect(ledgerEventsForExport(db, kind, [31337n], merchants, ALL_TIME)),
        kind,
      );
    }
    assert.deepEqual(
      await collect(sweepsForExport(db, [31337n], merchants, ALL_TIME, 1)),
      await collect(sweepsForExport(db, [31337n], merchants, ALL_TIME)),
    );
    const ordersOnePage = await collect(merchantOrdersForExport(db, merchantRow.id, ALL_TIME, 1));
    assert.equal(ordersOnePage.length, 5);
    assert.deepEqual(
      ordersOnePage.map((o) => o.id),
      (await collect(merchantOrdersForExport(db, merchantRow.id, ALL_TIME))).map((o) => o.id),
    );
    assert.deepEqual(
      await collect(merchantPeriodsForExport(db, merchantRow.id, ALL_TIME, 1)),
      await collect(merchantPeriodsForExport(db, merchantRow.id, ALL_TIME)),
    );
  });

  it("values money without an order of the account at the nearest earlier quote, or at none, and shows no other account's order", async function () {
    const { chain } = api;
    // Another account makes an order that pays out to this merchant's address: the payment is this
    // merchant's money, but the order is not this merchant's, so neither its id nor its rate shows.
    const otherKey = (await createMerchant(api.testDb.db, "stranger-books@example.com", "seller")).apiKey;
    const made = await api.system.app.inject({
      method: "POST",
      url: "/order",
      headers: { authorization: otherKey },
      payload: { amount: "4.00", address: chain.merchant.address, callback: "http://127.0.0.1:9/cb" },
    });
    assert.equal(made.statusCode, 200, made.body);
    const foreign = made.json() as { id: number; expected_amount: string; reference: string };
    await chainClockToNow(api);
    const receipt = await (
      await chain.processor.connect(chain.customer).getFunction("pay")(
        chain.merchant.address,
        foreign.reference as `0x${string}`,
        { value: parseDecimal(foreign.expected_amount, 18) },
      )
    ).wait();
    await chain.mine(CONFIRMATIONS);
    const txHash = receipt!.hash.toLowerCase();
    const row = await until(
      async () => (await exportCsv("payments")).rows.find((r) => r.transaction_hash === txHash),
      30_000,
      "the payment indexed",
    );
    assert.equal(row.order_id, "");
    assert.equal(row.order_reference, foreign.reference);
    assert.equal(row.fiat_value, "4.00");
    assert.match(row.rate_source!, new RegExp(`^quote of order ${orders.unpaid!.id} at `));
    // The other account's own export lists its order, and none of this merchant's payments.
    const theirs = await exportCsv("orders", "", otherKey);
    assert.deepEqual(
      theirs.rows.map((r) => r.order_id),
      [String(foreign.id)],
    );
    assert.deepEqual((await exportCsv("payments", "", otherKey)).rows, []);

    // An account with no order at all has no quote: a withdrawal from its address is valued at none.
    const loneKey = (await createMerchant(api.testDb.db, "lone-books@example.com", "seller")).apiKey;
    await proveAddress(api.system, loneKey, chain.other);
    await api.testDb.db.query(
      `INSERT INTO contract_events (chain_id, block_number, tx_index, log_index, block_hash, block_timestamp,
          tx_hash, kind, merchant, counterparty, token, amount)
        VALUES (31337, 1, 0, 0, '0x' || repeat('c', 64), now(), '0x' || repeat('e', 64), 'withdrawal', $1, $1, $2, 7)`,
      [chain.other.address.toLowerCase(), ZERO],
    );
    const lone = await exportCsv("withdrawals", "", loneKey);
    assert.equal(lone.rows.length, 1);
    assert.deepEqual(
      [lone.rows[0]!.amount, lone.rows[0]!.fiat_value, lone.rows[0]!.rate, lone.rows[0]!.rate_source],
      ["0.000000000000000007", "", "", "none"],
    );
  });

  it("describes every export in the OpenAPI document", async function () {
    const docs = await get("/docs/json", null);
    assert.equal(docs.statusCode, 200);
    const paths = docs.json().paths as Record<string, unknown>;
    for (const kind of ["orders", "payments", "refunds", "withdrawals", "sweeps", "subscription-periods"]) {
      assert.ok(paths[`/export/${kind}.csv`], kind);
    }
  });

  it("streams an export of several pages through the route, every row once, oldest first", async function () {
    // 2,500 payments (three pages of 1,000) to the address of an account of its own.
    const key3 = (await createMerchant(api.testDb.db, "bulk-books@example.com", "seller")).apiKey;
    const bulk = await api.chain.ethers.Wallet.createRandom();
    await proveAddress(api.system, key3, bulk);
    await api.testDb.db.query(
      `INSERT INTO contract_events (chain_id, block_number, tx_index, log_index, block_hash, block_timestamp,
          tx_hash, kind, merchant, counterparty, token, amount)
        SELECT 31337, 1000 + i, 0, 0, '0x' || repeat('d', 64), timestamptz '2026-03-01T00:00:00Z' + i * interval '1 minute',
               '0x' || lpad(to_hex(i), 64, '0'), 'payment', $1, $1, $2, i
          FROM generate_series(1, 2500) AS i`,
      [bulk.address.toLowerCase(), ZERO],
    );
    const { rows } = await exportCsv("payments", "", key3);
    assert.equal(rows.length, 2500);
    assert.equal(new Set(rows.map((r) => r.transaction_hash)).size, 2500);
    const total = rows.reduce((sum, r) => sum + parseDecimal(r.amount!, 18), 0n);
    assert.equal(total, (2500n * 2501n) / 2n);
    const dates = rows.map((r) => r.date!);
    assert.deepEqual(dates, [...dates].sort());
    // A range inside it: from inclusive, to exclusive, across a page boundary.
    const part = await exportCsv("payments", "?from=2026-03-01T16:41:00Z&to=2026-03-01T16:51:00Z", key3);
    assert.deepEqual(
      part.rows.map((r) => BigInt(r.transaction_hash!)),
      Array.from({ length: 10 }, (_, k) => BigInt(1001 + k)),
    );
  });
});
