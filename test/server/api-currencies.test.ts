import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { Value } from "typebox/value";
import { OrderSchema } from "../../server/src/api/schemas.ts";
import { createMerchant, setPlugins } from "../../server/src/merchants/service.ts";
import { orderStatusText } from "../../server/src/notify/order-status.ts";
import { startSystem, type System } from "../../server/src/system.ts";
import { createTestChain } from "../support/chain.ts";
import { testConfig } from "../support/config.ts";
import { createTestDb, type TestDb } from "../support/db.ts";
import { proveAddress } from "../support/api-system.ts";
import { startRateApis, type RateApis } from "../support/rate-apis.ts";

const ADMIN_TOKEN = "admin-token-for-the-currency-tests-0123456789";

/**
 * Orders in another fiat currency through the API, on a real in-process chain: EUR/USD from a
 * Chainlink mock aggregator on the chain, and from local servers speaking the Coinbase and
 * Frankfurter APIs; ETH/USD from ETH_USD_PRICE (3000) and Coinbase.
 */
describe("REST API: orders in EUR and other fiat currencies", function () {
  let chain: Awaited<ReturnType<typeof createTestChain>>;
  let t: TestDb;
  let apis: RateApis;
  let system: System;
  let key: string;
  let keyFree: string;
  let eurFeed: `0x${string}`;

  const setEur = async (answer: bigint) => {
    const mock = await chain.ethers.getContractAt("MockV3Aggregator", eurFeed);
    const now = BigInt(Math.floor(Date.now() / 1000));
    await (await mock.getFunction("updateRoundData")(7n, answer, now, now)).wait();
  };
  const allAgree = () => {
    apis.set("coinbase", "ETH/USD", { rate: "3000.00" });
    apis.set("coinbase", "EUR/USD", { rate: "1.0825" });
    apis.set("frankfurter", "EUR/USD", { rate: "1.0825" });
    apis.set("coinbase", "BRL/USD", { rate: "0.2000" });
    apis.set("frankfurter", "BRL/USD", { rate: "0.2" });
  };

  before(async function () {
    chain = await createTestChain();
    t = await createTestDb();
    apis = await startRateApis();
    const mock = await chain.ethers.deployContract("MockV3Aggregator", [8, 1_0825_0000n]);
    eurFeed = (await mock.getAddress()) as `0x${string}`;
    await setEur(1_0825_0000n);
    allAgree();
    system = await startSystem(
      testConfig({
        START_BLOCK: undefined,
        FINALITY_BLOCKS: undefined,
        CONTRACT_ADDRESS: chain.contractAddress,
        TOKENS: `USDC:${chain.stablecoinAddress}:6`,
        ETH_USD_PRICE: "3000",
        ADMIN_TOKEN,
        CURRENCIES: "usd,eur,brl",
        RATE_SOURCES: "chainlink,coinbase,frankfurter",
        RATE_POLICY: "median",
        RATE_MAX_SPREAD: "0.02",
        FIAT_FEEDS: `EUR:${eurFeed}:3600`,
        FEED_CACHE_MS: "0",
        // The test changes the APIs' answers between orders.
        RATE_CACHE_MS: "0",
        COINBASE_API_URL: apis.url,
        KRAKEN_API_URL: apis.url,
        FRANKFURTER_API_URL: apis.url,
      }),
      { db: t.db, client: chain.client, listen: false },
    );
    key = (await createMerchant(t.db, "eur@example.com", "premium")).apiKey;
    keyFree = (await createMerchant(t.db, "eur-free@example.com", "free")).apiKey;
  });

  after(async function () {
    await system?.close();
    await apis?.close();
    await t?.drop();
    await chain?.close();
  });

  const post = (payload: object, auth?: string) =>
    system.app.inject({
      method: "POST",
      url: "/order",
      payload: { address: chain.merchant.address, callback: "http://127.0.0.1:9/cb", ...payload },
      headers: auth ? { authorization: auth } : {},
    });

  it("prices an EUR order at the locked EUR/USD rate, with exact arithmetic", async function () {
    allAgree();
    const res = await post({ amount: "13.54", currency: "eur" }, key);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.currency, "eur");
    assert.equal(body.currency_amount, "13.54");
    // 13.54 EUR × 1.0825 USD/EUR = 14.65705 USD; / 3000 USD/ETH = 0.004885683333… ETH, rounded up
    // to 8 decimals (QUOTE_DECIMALS): 0.00488569.
    assert.equal(body.expected_amount, "0.00488569");
    // 3000 / 1.0825 = 2771.362586605080…, shown in EUR to 8 decimals (rounded down).
    assert.equal(body.eth_price, "2771.3625866");
    // ETH/USD is the median of ETH_USD_PRICE and Coinbase: "rates".
    assert.equal(body.price_source, "rates");
    // The order keeps its currency and the rate it was locked at, exactly.
    const { rows } = await t.db.query<{
      currency: string;
      fiat_rate: string;
      fiat_rate_decimals: number;
      fiat_rate_source: string;
      usd_cents: string;
    }>(
      "SELECT currency, fiat_rate::text, fiat_rate_decimals, fiat_rate_source, usd_cents::text FROM orders WHERE id = $1",
      [body.id],
    );
    const row = rows[0];
    assert.ok(row);
    assert.equal(row.currency, "eur");
    // The three sources agree on 1.0825; the median at the finest of their decimals (18).
    assert.equal(row.fiat_rate, "1082500000000000000");
    assert.equal(row.fiat_rate_decimals, 18);
    assert.equal(row.fiat_rate_source, "median(chainlink,coinbase,frankfurter)");
    // $14.65705, to the cent half up.
    assert.equal(row.usd_cents, "1466");
    const read = await system.app.inject({
      method: "GET",
      url: `/order/${body.id}`,
      headers: { authorization: key },
    });
    assert.equal(read.json().currency, "eur");
    assert.equal(read.json().currency_amount, "13.54");
  });

  it("shows the order's currency on the payment page and in the TXT notification", async function () {
    allAgree();
    const res = await post({ amount: "13.54", currency: "eur" }, key);
    assert.equal(res.statusCode, 200, res.body);
    const page = await system.app.inject({ method: "GET", url: `/pay/${res.json().id}` });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /13\.54 EUR at 2,771\.3625866 EUR\/ETH/);
    const usd = await post({ amount: "3.00" }, key);
    const usdPage = await system.app.inject({ method: "GET", url: `/pay/${usd.json().id}` });
    assert.match(usdPage.body, /\$3\.00 USD at 3,000\.00 USD\/ETH/);
    assert.equal(
      orderStatusText("success", {
        id: 7,
        currency: "eur",
        currency_amount: "13.54",
        expected_amount: "0.00488569",
        token: "ETH",
      }),
      "Ethereum POS: order 7 paid, 13.54 EUR (0.00488569 ETH). Waiting for confirmations.",
    );
  });

  it("takes currency on POST /recurring, usd only for now", async function () {
    await setPlugins(t.db, "eur@example.com", { recurring_payments: true });
    const recurring = (currency: string) =>
      system.app.inject({
        method: "POST",
        url: "/recurring",
        payload: {
          amount: "9.99",
          currency,
          address: chain.merchant.address,
          callback: "http://127.0.0.1:9/r",
        },
        headers: { authorization: key },
      });
    const eur = await recurring("eur");
    assert.equal(eur.statusCode, 400, eur.body);
    assert.equal(eur.json().error.code, "unsupported_currency");
    assert.match(eur.json().error.message, /subscriptions are billed in usd/);
    const usd = await recurring("usd");
    assert.equal(usd.statusCode, 200, usd.body);
    assert.equal(usd.json().currency, "usd");
  });

  it("takes currency on POST /pos/order (a terminal's sale in EUR)", async function () {
    allAgree();
    const origin = system.config.consoleOrigin;
    await proveAddress(system, key, chain.merchant);
    const created = await system.app.inject({
      method: "POST",
      url: "/user/terminal-keys",
      headers: { authorization: key, origin },
      payload: { label: "Till EUR", address: chain.merchant.address, callback: "http://127.0.0.1:9/cb" },
    });
    assert.equal(created.statusCode, 200, created.body);
    const signin = await system.app.inject({
      method: "POST",
      url: "/console/session",
      headers: { origin },
      payload: { terminal_key: created.json().key },
    });
    assert.equal(signin.statusCode, 200, signin.body);
    const cookie = String(signin.headers["set-cookie"]).split(";")[0] as string;
    const sale = await system.app.inject({
      method: "POST",
      url: "/pos/order",
      headers: { cookie, origin },
      payload: { amount: "4.50", currency: "eur" },
    });
    assert.equal(sale.statusCode, 200, sale.body);
    assert.equal(sale.json().currency, "eur");
    // 4.50 × 1.0825 / 3000 = 0.00162375 ETH exactly.
    assert.equal(sale.json().expected_amount, "0.00162375");
    const refused = await system.app.inject({
      method: "POST",
      url: "/pos/order",
      headers: { cookie, origin },
      payload: { amount: "4.50", currency: "gbp" },
    });
    assert.equal(refused.statusCode, 400);
    assert.equal(refused.json().error.code, "unsupported_currency");
  });

  it("refuses to start with a FIAT_FEEDS entry that is no feed, naming the entry", async function () {
    await assert.rejects(
      startSystem(
        testConfig({
          START_BLOCK: "0",
          CONTRACT_ADDRESS: chain.contractAddress,
          CURRENCIES: "usd,eur",
          FIAT_FEEDS: "EUR:0x00000000000000000000000000000000000c0de0",
        }),
        { db: t.db, client: chain.client, listen: false },
      ),
      /FIAT_FEEDS entry EUR:0x00000000000000000000000000000000000c0de0 has no contract code on .*; set it to the chain's Chainlink EUR\/USD feed/,
    );
  });

  it("prices a token order in EUR: 10.00 EUR is 10.825 USDC at its $1 peg", async function () {
    const res = await post({ amount: "10.00", currency: "EUR", token: "USDC" }, key);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().expected_amount, "10.825");
    assert.equal(res.json().price_source, "peg");
    assert.equal(res.json().currency, "eur");
  });

  it("locks every payment method of an EUR order at the same EUR/USD rate", async function () {
    allAgree();
    const res = await post({ amount: "10.00", currency: "eur" }, key);
    assert.equal(res.statusCode, 200, res.body);
    const methods = res.json().payment_methods as { method: string; amount: string; default: boolean }[];
    assert.ok(methods, res.body);
    // 10.00 EUR × 1.0825 = $10.825: 10.825 / 3000 = 0.003608333… ETH → 0.00360834; 10.825 USDC.
    assert.equal(methods.find((m) => m.method === "ETH@31337")?.amount, "0.00360834");
    assert.equal(methods.find((m) => m.method.startsWith("USDC@"))?.amount, "10.825");
  });

  it("keeps USD the default, and USD orders as before", async function () {
    const res = await post({ amount: "30.00" }, key);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().currency, "usd");
    // 30 / 3000 (the median of 3000 and 3000.00).
    assert.equal(res.json().expected_amount, "0.01");
    assert.equal(res.json().eth_price, "3000.00");
  });

  it("checks the anonymous threshold and plan limits in USD at the locked rate", async function () {
    // 4.61 EUR = $4.990325: under $5.00. 4.62 EUR = $5.00115: needs a key.
    assert.equal((await post({ amount: "4.61", currency: "eur" })).statusCode, 200);
    const anon = await post({ amount: "4.62", currency: "eur" });
    assert.equal(anon.statusCode, 401);
    assert.match(anon.json().error.message, /\$5\.00 or more .*\(4\.62 EUR is \$5\.00 at the locked rate\)/);
    // Free: under $10.00. 9.23 EUR = $9.991475 passes; 9.24 EUR = $10.0023 does not.
    assert.equal((await post({ amount: "9.23", currency: "eur" }, keyFree)).statusCode, 200);
    const big = await post({ amount: "9.24", currency: "eur" }, keyFree);
    assert.equal(big.statusCode, 403);
    assert.equal(big.json().error.code, "plan_max_amount");
    assert.match(big.json().error.message, /9\.24 EUR is \$10\.00 at the locked rate/);
  });

  it("refuses a currency that is not enabled with a 400 listing the enabled ones", async function () {
    for (const currency of ["gbp", "jpy", "xx"]) {
      const res = await post({ amount: "1.00", currency }, key);
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().error.code, "unsupported_currency");
      assert.match(
        res.json().error.message,
        new RegExp(`currency ${currency} is not accepted here; use one of usd, eur, brl`),
      );
    }
    const bad = await post({ amount: "1.001", currency: "eur" }, key);
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().error.message, /EUR decimal string .* at most 2 decimals/);
  });

  it("still quotes with one source down, and shows its error in the admin /health", async function () {
    allAgree();
    apis.set("frankfurter", "EUR/USD", { status: 500 });
    const res = await post({ amount: "20.00", currency: "eur" }, key);
    assert.equal(res.statusCode, 200, res.body);
    // 20 × 1.0825 / 3000 = 0.0072166666… → 0.00721667.
    assert.equal(res.json().expected_amount, "0.00721667");
    const health = await system.app.inject({
      method: "GET",
      url: "/admin/health",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    // Each chain's section of the admin view has its rate sources; the public view has none.
    const chainRates = (
      health.json().chains as {
        rates: Record<string, Record<string, { age_seconds: number | null; last_error: string | null }>>;
      }[]
    )[0]?.rates;
    assert.ok(chainRates);
    assert.match(chainRates.frankfurter?.["EUR/USD"]?.last_error ?? "", /HTTP 500/);
    assert.equal(typeof chainRates.chainlink?.["EUR/USD"]?.age_seconds, "number");
    assert.equal(typeof chainRates.coinbase?.["ETH/USD"]?.age_seconds, "number");
    const publicView = await system.app.inject({ method: "GET", url: "/health" });
    assert.doesNotMatch(publicView.body, /rates|frankfurter/);
  });

  it("answers 503 rate_unavailable naming the pair when the sources disagree or are all stale", async function () {
    allAgree();
    apis.set("frankfurter", "EUR/USD", { rate: "1.2" });
    const spread = await post({ amount: "20.00", currency: "eur" }, key);
    assert.equal(spread.statusCode, 503, spread.body);
    assert.equal(spread.json().error.code, "rate_unavailable");
    assert.match(spread.json().error.message, /EUR\/USD rate sources disagree/);

    allAgree();
    // A fiat answer may be 36 h of FX market hours old (RATE_FIAT_MAX_AGE_SECONDS): ten days is stale.
    apis.set("coinbase", "BRL/USD", { rate: "0.2", ageSeconds: 10 * 86_400 });
    apis.set("frankfurter", "BRL/USD", { rate: "0.2", date: "2026-01-02" });
    const stale = await post({ amount: "20.00", currency: "brl" }, key);
    assert.equal(stale.statusCode, 503, stale.body);
    assert.equal(stale.json().error.code, "rate_unavailable");
    assert.match(
      stale.json().error.message,
      /no fresh BRL\/USD rate right now \(coinbase: .*stale.*; frankfurter: .*stale/,
    );

    allAgree();
    // BRL from the two HTTP sources alone: 50.00 BRL × 0.2 = $10.00 = 0.00333333… ETH → 0.00333334.
    const brl = await post({ amount: "50.00", currency: "brl" }, key);
    assert.equal(brl.statusCode, 200, brl.body);
    assert.equal(brl.json().expected_amount, "0.00333334");
  });

  it("follows the chain's EUR/USD feed: a new round moves the median", async function () {
    allAgree();
    await setEur(1_0900_0000n);
    apis.set("coinbase", "EUR/USD", { rate: "1.0900" });
    apis.set("frankfurter", "EUR/USD", { rate: "1.09" });
    const res = await post({ amount: "30.00", currency: "eur" }, key);
    assert.equal(res.statusCode, 200, res.body);
    // 30 × 1.09 / 3000 = 0.0109 exactly.
    assert.equal(res.json().expected_amount, "0.0109");
    await setEur(1_0825_0000n);
  });
});

describe("configuration: currencies need a rate source", function () {
  it("refuses CURRENCIES with a currency no source prices, naming the fix", function () {
    assert.throws(
      () => testConfig({ CURRENCIES: "usd,eur", RATE_SOURCES: "chainlink" }),
      /CURRENCIES enables eur, but no rate source has EUR\/USD: set FIAT_FEEDS .* or add coinbase, kraken or frankfurter to RATE_SOURCES/,
    );
    assert.throws(
      () => testConfig({ CURRENCIES: "usd,euro" }),
      /CURRENCIES must list ISO 4217 codes .*: euro/,
    );
    assert.throws(
      () => testConfig({ RATE_SOURCES: "chainlink,bitstamp" }),
      /RATE_SOURCES must list .*unknown: bitstamp/,
    );
    assert.throws(
      () => testConfig({ RATE_MAX_SPREAD: "2" }),
      /RATE_MAX_SPREAD must be a share like 2% or 0\.02/,
    );
    assert.throws(() => testConfig({ FIAT_FEEDS: "EUR:0x1234" }), /FIAT_FEEDS must list fiat\/USD feeds/);
  });

  it("defaults to USD orders priced by the chain's own feed or ETH_USD_PRICE", function () {
    const config = testConfig();
    assert.deepEqual(config.rates.currencies, ["usd"]);
    assert.deepEqual(config.rates.sources, ["chainlink"]);
    assert.equal(config.rates.policy, "median");
    assert.equal(config.rates.maxSpreadPpm, 20_000n);
    const eur = testConfig({
      CURRENCIES: "EUR,brl",
      RATE_SOURCES: "chainlink,coinbase",
      RATE_MAX_SPREAD: "1.5%",
    });
    assert.deepEqual(eur.rates.currencies, ["usd", "eur", "brl"]);
    assert.equal(eur.rates.maxSpreadPpm, 15_000n);
  });
});

describe("the seed's example orders against the API's Order schema", function () {
  // The seed's examples of POST /order, GET /order/<ID> and /history, verbatim.
  const examples = [
    {
      id: 716101402,
      address: "0x1679548078de9a5a9129d75719b5e442abd5b2e5",
      expected_amount: "0.4173",
      currency: "usd",
      currency_amount: "",
      payment_url: "https://ethereumpos.com/test_payment/716101402",
      status: "pending",
      eth_price: "69.98",
      qr_code:
        "http://chart.apis.google.com/chart?cht=qr&chs=500x500&chl=ethereum%3A0x1679548078de9a5a9129d75719b5e442abd5b2e5&chld=H|0",
      transaction_id: "",
      sent_transaction: "",
      created_at: "0001-01-01T00:00:00Z",
      return_to: "0x888a5fEFAA912778FdBf8eC222F299e96057c43b",
      paid: false,
      expired: false,
    },
    {
      id: 716101419,
      address: "0x2524e3c29bd8ed8a16344ae0da27898dbef08511",
      expected_amount: "0.2281",
      currency: "usd",
      currency_amount: "16.00",
      payment_url: "",
      status: "complete",
      eth_price: "70.15",
      qr_code: "",
      transaction_id: "0x8403bcf744da5862eef5d3dd2fef951b06a582938e4848940bf0e87889d09012",
      sent_transaction: "",
      created_at: "0001-01-01T00:00:00Z",
      return_to: "0x888a5fEFAA912778FdBf8eC222F299e96057c43b",
      paid: true,
      expired: false,
    },
  ];

  it("validates every seed field of every example, and an EUR order's currency", function () {
    const properties = OrderSchema.properties as unknown as Record<string, Parameters<typeof Value.Check>[0]>;
    for (const example of examples) {
      for (const [field, value] of Object.entries(example)) {
        const schema = properties[field];
        assert.ok(schema, `the Order schema has no ${field}`);
        assert.ok(Value.Check(schema, value), `${field}: ${JSON.stringify(value)} fails the schema`);
      }
    }
    assert.ok(Value.Check(properties.currency as never, "eur"));
    assert.equal(Value.Check(properties.currency as never, "EURO"), false);
  });
});
