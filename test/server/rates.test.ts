import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { DomainError } from "../../server/src/lib/errors.ts";
import { staticPriceSource } from "../../server/src/pricing/index.ts";
import { fxMarketClosed, fxOpenSeconds } from "../../server/src/pricing/market-hours.ts";
import { createRates, type RateSource } from "../../server/src/pricing/rates.ts";
import { chainlinkRateSource } from "../../server/src/pricing/sources/chainlink.ts";
import { httpRateSources } from "../../server/src/pricing/sources/index.ts";
import { createTestChain } from "../support/chain.ts";
import { startRateApis, type RateApis } from "../support/rate-apis.ts";

const E18 = 10n ** 18n;

/** Asserts `promise` rejects with a DomainError of `code` whose message matches `message`. */
async function rejectsWith(promise: Promise<unknown>, code: string, message: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof DomainError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.message, message);
    return true;
  });
}

describe("rates: HTTP ticker sources against local Coinbase, Kraken and Frankfurter APIs", function () {
  let apis: RateApis;
  let sources: ReturnType<typeof httpRateSources>;

  before(async function () {
    apis = await startRateApis();
    const urls = { coinbase: apis.url, kraken: apis.url, frankfurter: apis.url };
    sources = httpRateSources(urls, { timeoutMs: 300, maxAgeSeconds: 300, fiatMaxAgeSeconds: 36 * 3600 });
  });

  after(async function () {
    await apis?.close();
  });

  it("parses each API's documented answer exactly (decimal strings and JSON numbers, never floats)", async function () {
    apis.set("coinbase", "ETH/USD", { rate: "3012.123456789012345678999" });
    apis.set("kraken", "ETH/USD", { rate: "3012.45000" });
    apis.set("frankfurter", "EUR/USD", { rate: "1.0825" });
    const coinbase = await sources.coinbase.rate("ETH/USD");
    // Digits past the 18th are dropped, the rest kept exactly.
    assert.equal(coinbase.value, 3012n * E18 + 123456789012345678n);
    assert.equal(coinbase.decimals, 18);
    assert.equal(coinbase.source, "coinbase");
    assert.equal((await sources.kraken.rate("ETH/USD")).value, 301245n * 10n ** 16n);
    // 1.0825 as a JSON number: as a float it is 1.08250000000000001776…; the source text is exact.
    assert.equal((await sources.frankfurter.rate("EUR/USD")).value, 10825n * 10n ** 14n);
    assert.ok(apis.requests.includes("kraken ETH/USD"));
  });

  it("reads error answers as failures that say what the API said", async function () {
    apis.set("coinbase", "LTC/USD", { status: 400 });
    apis.set("kraken", "LTC/USD", {});
    apis.set("frankfurter", "GBP/USD", { status: 404 });
    apis.set("kraken", "BTC/USD", { status: 503 });
    await rejectsWith(sources.coinbase.rate("LTC/USD"), "rate_source_failed", /HTTP 400: Invalid currency/);
    await rejectsWith(sources.kraken.rate("LTC/USD"), "rate_source_failed", /EQuery:Unknown asset pair/);
    await rejectsWith(sources.kraken.rate("BTC/USD"), "rate_source_failed", /HTTP 503: EService:Unavailable/);
    await rejectsWith(sources.frankfurter.rate("GBP/USD"), "rate_source_failed", /HTTP 404: not found/);
    // Kraken lists no BRL/USD and Frankfurter no crypto: they are skipped, not failing.
    assert.equal(sources.kraken.supports("BRL/USD"), false);
    assert.equal(sources.frankfurter.supports("ETH/USD"), false);
  });

  it("refuses stale answers: a cached ticker (Age header) and an old ECB date", async function () {
    apis.set("coinbase", "ETH/USD", { rate: "3000", ageSeconds: 900 });
    await rejectsWith(
      sources.coinbase.rate("ETH/USD"),
      "rate_stale",
      /coinbase's ETH\/USD rate is stale .*limit 300 s/,
    );
    apis.set("frankfurter", "EUR/USD", { rate: "1.08", date: "2026-01-02" });
    await rejectsWith(
      sources.frankfurter.rate("EUR/USD"),
      "rate_stale",
      /frankfurter's EUR\/USD rate is stale .* of FX market hours ago, limit 129600 s/,
    );
  });

  it("gives up on a source that does not answer within RATE_TIMEOUT_MS", async function () {
    apis.set("kraken", "ETH/USD", { rate: "3000", delayMs: 2_000 });
    const started = process.hrtime.bigint();
    await rejectsWith(sources.kraken.rate("ETH/USD"), "rate_source_failed", /no answer within 300 ms/);
    assert.ok(process.hrtime.bigint() - started < 1_500_000_000n, "waited for the slow answer");
  });

  it("quotes while one source is down, from the one that answers", async function () {
    apis.set("coinbase", "ETH/USD", { rate: "3001.50" });
    apis.set("kraken", "ETH/USD", { status: 500 });
    const rates = createRates({
      sources: [sources.coinbase, sources.kraken],
      policy: "median",
      maxSpreadPpm: 20_000n,
    });
    const quote = await rates.quote("ETH/USD");
    assert.equal(quote.value, 300150n * 10n ** 16n);
    assert.deepEqual(
      quote.answers.map((a) => a.source),
      ["coinbase"],
    );
    const health = rates.health();
    assert.equal(health.coinbase?.["ETH/USD"]?.last_error, null);
    assert.match(health.kraken?.["ETH/USD"]?.last_error ?? "", /HTTP 500/);
    assert.equal(health.kraken?.["ETH/USD"]?.age_seconds, null);
  });

  it("takes the median of the fresh sources (the mean of the middle two, exactly) or the first", async function () {
    apis.set("coinbase", "ETH/USD", { rate: "3000.01" });
    apis.set("kraken", "ETH/USD", { rate: "3000.02" });
    const both = [sources.coinbase, sources.kraken];
    const median = await createRates({ sources: both, policy: "median", maxSpreadPpm: 20_000n }).quote(
      "ETH/USD",
    );
    // (3000.01 + 3000.02) / 2 = 3000.015, one decimal more than the answers.
    assert.equal(median.decimals, 19);
    assert.equal(median.value, 3000015n * 10n ** 16n);
    const first = await createRates({ sources: both, policy: "first", maxSpreadPpm: 20_000n }).quote(
      "ETH/USD",
    );
    assert.equal(first.value, 300001n * 10n ** 16n);
    assert.equal(first.source, "coinbase");
  });

  it("answers 503 rate_unavailable naming the pair when every source is stale", async function () {
    apis.set("coinbase", "ETH/USD", { rate: "3000", ageSeconds: 3_600 });
    apis.set("kraken", "ETH/USD", { rate: "3000", ageSeconds: 3_600 });
    const rates = createRates({
      sources: [sources.coinbase, sources.kraken],
      policy: "median",
      maxSpreadPpm: 20_000n,
    });
    await rejectsWith(
      rates.quote("ETH/USD"),
      "rate_unavailable",
      /no fresh ETH\/USD rate right now \(coinbase: .*stale.*; kraken: .*stale/,
    );
  });

  it("refuses the quote (503) when the sources disagree by more than RATE_MAX_SPREAD", async function () {
    apis.set("coinbase", "ETH/USD", { rate: "3000" });
    apis.set("kraken", "ETH/USD", { rate: "3070" });
    const sourcesBoth = [sources.coinbase, sources.kraken];
    // 70 / 3000 = 2.33 % apart.
    await rejectsWith(
      createRates({ sources: sourcesBoth, policy: "median", maxSpreadPpm: 20_000n }).quote("ETH/USD"),
      "rate_unavailable",
      /the ETH\/USD rate sources disagree \(coinbase 3000, kraken 3070: 2\.3333% apart, RATE_MAX_SPREAD is 2%\)/,
    );
    // Within a 3 % limit they agree; "first" refuses on the spread as well.
    assert.equal(
      (await createRates({ sources: sourcesBoth, policy: "median", maxSpreadPpm: 30_000n }).quote("ETH/USD"))
        .value,
      30350n * 10n ** 18n,
    );
    await rejectsWith(
      createRates({ sources: sourcesBoth, policy: "first", maxSpreadPpm: 20_000n }).quote("ETH/USD"),
      "rate_unavailable",
      /disagree/,
    );
  });

  it("reuses an answer for RATE_CACHE_MS: a burst of quotes makes one call per pair", async function () {
    const urls = { coinbase: apis.url, kraken: apis.url, frankfurter: apis.url };
    const cached = httpRateSources(urls, {
      timeoutMs: 300,
      maxAgeSeconds: 300,
      fiatMaxAgeSeconds: 36 * 3600,
      cacheMs: 60_000,
    });
    apis.set("coinbase", "LTC/USD", { rate: "70.25" });
    const before = apis.requests.filter((r) => r === "coinbase LTC/USD").length;
    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => cached.coinbase.rate("LTC/USD")));
    assert.ok(answers.every((a) => a.value === 7025n * 10n ** 16n));
    apis.set("coinbase", "LTC/USD", { rate: "71" });
    assert.equal((await cached.coinbase.rate("LTC/USD")).value, 7025n * 10n ** 16n);
    assert.equal(apis.requests.filter((r) => r === "coinbase LTC/USD").length - before, 1);
    // A failed call is not kept: the next read asks again.
    apis.set("coinbase", "DASH/USD", { status: 500 });
    await rejectsWith(cached.coinbase.rate("DASH/USD"), "rate_source_failed", /HTTP 500/);
    apis.set("coinbase", "DASH/USD", { rate: "30" });
    assert.equal((await cached.coinbase.rate("DASH/USD")).value, 30n * E18);
  });

  it("names the pair when no configured source has it", async function () {
    const rates = createRates({ sources: [sources.kraken], policy: "median", maxSpreadPpm: 20_000n });
    await rejectsWith(
      rates.quote("BRL/USD"),
      "rate_unavailable",
      /no rate source configured here prices BRL\/USD/,
    );
  });
});

describe("rates: the FX market week", function () {
  const at = (iso: string) => Date.parse(iso) / 1000;

  it("closes Friday 17:00 to Sunday 17:00 New York time, daylight saving included", function () {
    // December: New York is UTC-5.
    assert.equal(fxMarketClosed(Date.parse("2026-12-04T21:59:59Z")), false);
    assert.equal(fxMarketClosed(Date.parse("2026-12-04T22:00:00Z")), true);
    assert.equal(fxMarketClosed(Date.parse("2026-12-06T21:59:59Z")), true);
    assert.equal(fxMarketClosed(Date.parse("2026-12-06T22:00:00Z")), false);
    // July: UTC-4.
    assert.equal(fxMarketClosed(Date.parse("2026-07-03T21:00:00Z")), true);
    assert.equal(fxMarketClosed(Date.parse("2026-07-03T20:59:59Z")), false);
  });

  it("counts only open hours: Friday 16:59 is one minute old on Saturday, and 16 h more on Monday 09:00", function () {
    const friday = at("2026-12-04T21:59:00Z");
    assert.equal(fxOpenSeconds(friday, at("2026-12-05T15:00:00Z")), 60);
    assert.equal(fxOpenSeconds(friday, at("2026-12-07T14:00:00Z")), 60 + 16 * 3600);
    // A week later: 5 × 24 h open.
    assert.equal(fxOpenSeconds(friday, at("2026-12-11T21:59:00Z")), 5 * 86_400);
  });
});

describe("rates: Chainlink feeds on a chain (mock aggregators)", function () {
  let chain: Awaited<ReturnType<typeof createTestChain>>;

  before(async function () {
    chain = await createTestChain();
  });

  after(async function () {
    await chain?.close();
  });

  const aggregator = async (answer: bigint, updatedAt: number) => {
    const mock = await chain.ethers.deployContract("MockV3Aggregator", [8, answer]);
    await (
      await mock.getFunction("updateRoundData")(2n, answer, BigInt(updatedAt), BigInt(updatedAt))
    ).wait();
    return (await mock.getAddress()) as `0x${string}`;
  };

  it("judges a fiat feed frozen over the weekend in market hours: fresh on Saturday, stale on Monday morning", async function () {
    // EUR/USD last updated Friday 2026-12-04 16:59 New York time; heartbeat 3600 s (limit 3960 s).
    const friday = Date.parse("2026-12-04T21:59:00Z") / 1000;
    const eurFeed = await aggregator(1_0825_0000n, friday);
    let now = 0;
    const source = chainlinkRateSource({
      native: "ETH",
      prices: { ethUsd: async () => ({ value: 3000n, decimals: 0, updatedAt: friday, source: "static" }) },
      tokens: [],
      client: chain.client,
      fiatFeeds: [{ currency: "EUR", feed: eurFeed, maxAgeSeconds: 3960 }],
      cache: { freshMs: 0 },
      now: () => now,
    });
    const rates = createRates({ sources: [source], policy: "median", maxSpreadPpm: 20_000n, now: () => now });

    now = Date.parse("2026-12-05T15:00:00Z"); // Saturday 10:00 New York: closed.
    const saturday = await rates.quote("EUR/USD");
    assert.equal(saturday.value, 1_0825_0000n);
    assert.equal(saturday.decimals, 8);
    assert.equal(rates.health().chainlink?.["EUR/USD"]?.age_seconds, 60);

    now = Date.parse("2026-12-06T21:30:00Z"); // Sunday 16:30: still closed.
    assert.equal((await rates.quote("EUR/USD")).value, 1_0825_0000n);

    now = Date.parse("2026-12-06T23:06:00Z"); // Sunday 18:06: open for 3960 s, plus Friday's 60 s.
    await rejectsWith(
      rates.quote("EUR/USD"),
      "price_stale",
      /EUR\/USD price is stale \(last updated 4020 s ago, limit 3960 s/,
    );

    now = Date.parse("2026-12-07T14:00:00Z"); // Monday 09:00 New York.
    await rejectsWith(
      rates.quote("EUR/USD"),
      "price_stale",
      /EUR\/USD price is stale \(last updated 57660 s ago/,
    );
    assert.match(rates.health().chainlink?.["EUR/USD"]?.last_error ?? "", /stale/);

    // The chain source has what it was given: the native coin's pair and its fiat feeds.
    assert.ok(source.supports("ETH/USD"));
    assert.equal(source.supports("GBP/USD"), false);
  });

  it("quotes from a second source while the chain's feed is stale, and names both when both are", async function () {
    const old = Math.floor(Date.now() / 1000) - 7 * 86_400;
    const eurFeed = await aggregator(1_0800_0000n, old);
    const chainlink = chainlinkRateSource({
      native: "ETH",
      prices: staticPriceSource("3000"),
      tokens: [],
      client: chain.client,
      fiatFeeds: [{ currency: "EUR", feed: eurFeed, maxAgeSeconds: 95_040 }],
      cache: { freshMs: 0 },
    });
    const fresh: RateSource = {
      name: "other",
      supports: () => true,
      rate: async (pair) => ({
        pair,
        value: 10810n,
        decimals: 4,
        updatedAt: Math.floor(Date.now() / 1000),
        source: "other",
      }),
    };
    const quote = await createRates({
      sources: [chainlink, fresh],
      policy: "median",
      maxSpreadPpm: 20_000n,
    }).quote("EUR/USD");
    assert.equal(quote.value, 10810n);
    assert.equal(quote.source, "other");
    const failing: RateSource = {
      ...fresh,
      rate: async () => Promise.reject(new Error("connection refused")),
    };
    await rejectsWith(
      createRates({ sources: [chainlink, failing], policy: "median", maxSpreadPpm: 20_000n }).quote(
        "EUR/USD",
      ),
      "rate_unavailable",
      /no fresh EUR\/USD rate right now \(chainlink: The EUR\/USD price is stale.*; other: connection refused\)/,
    );
  });
});
