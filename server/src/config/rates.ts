import { readShare, type EnvReader } from "./env.ts";

/** The rate sources RATE_SOURCES may list (docs/payment-methods.md, "Rates"). */
export const RATE_SOURCE_NAMES = ["chainlink", "coinbase", "kraken", "frankfurter"] as const;
export type RateSourceName = (typeof RATE_SOURCE_NAMES)[number];

/** ISO 4217 codes CURRENCIES may enable (any three letters; unknown ones get 2 decimals). */
const CURRENCY_CODE = /^[a-z]{3}$/;

export interface RatesConfig {
  /** CURRENCIES: the fiat currencies orders may be priced in, lower case; always includes "usd". */
  currencies: string[];
  /** RATE_SOURCES, in order (default: chainlink, i.e. the chain's ETH/USD feed or ETH_USD_PRICE). */
  sources: RateSourceName[];
  /** RATE_POLICY: median of the fresh sources (default) or the first fresh one. */
  policy: "median" | "first";
  /** RATE_MAX_SPREAD in millionths (default 20_000 = 2 %). */
  maxSpreadPpm: bigint;
  /** RATE_TIMEOUT_MS: one HTTP source's request (default 2000). */
  timeoutMs: number;
  /** RATE_CACHE_MS: an HTTP source's answer is reused this long (default 5000; 0: never). */
  cacheMs: number;
  /** RATE_MAX_AGE_SECONDS: an HTTP source's crypto answer older than this is stale (default 300). */
  maxAgeSeconds: number;
  /** RATE_FIAT_MAX_AGE_SECONDS: an HTTP source's fiat answer, counted in FX market hours (default 36 h). */
  fiatMaxAgeSeconds: number;
  /** COINBASE_API_URL, KRAKEN_API_URL, FRANKFURTER_API_URL. */
  urls: Record<Exclude<RateSourceName, "chainlink">, string>;
}

export const DEFAULT_RATE_URLS = {
  coinbase: "https://api.coinbase.com",
  kraken: "https://api.kraken.com",
  frankfurter: "https://api.frankfurter.app",
} as const;

/** CURRENCIES, RATE_SOURCES, RATE_POLICY, RATE_MAX_SPREAD, RATE_TIMEOUT_MS and the API URLs. */
export function readRatesConfig(r: EnvReader): RatesConfig {
  const currencies = list(r.raw("CURRENCIES") ?? "usd").map((c) => c.toLowerCase());
  const badCodes = currencies.filter((c) => !CURRENCY_CODE.test(c));
  if (badCodes.length > 0) {
    r.problem(
      `CURRENCIES must list ISO 4217 codes separated by commas (e.g. usd,eur,brl,gbp); these are not: ${badCodes.join(", ")}`,
      "CURRENCIES",
    );
  }
  const enabled = [...new Set(["usd", ...currencies.filter((c) => CURRENCY_CODE.test(c))])];

  const names = list(r.raw("RATE_SOURCES") ?? "chainlink").map((s) => s.toLowerCase());
  const unknown = names.filter((n) => !(RATE_SOURCE_NAMES as readonly string[]).includes(n));
  if (unknown.length > 0) {
    r.problem(
      `RATE_SOURCES must list sources from ${RATE_SOURCE_NAMES.join(", ")} in the order to ask them (e.g. chainlink,coinbase,kraken); unknown: ${unknown.join(", ")}`,
      "RATE_SOURCES",
    );
  }
  const sources = [...new Set(names.filter((n): n is RateSourceName => !unknown.includes(n)))];
  if (names.length > 0 && sources.length === 0) sources.push("chainlink");

  const url = (name: string, fallback: string) => r.url(name, ["http:", "https:"]) ?? fallback;
  return {
    currencies: enabled,
    sources,
    policy: r.oneOf("RATE_POLICY", ["median", "first"] as const, "median"),
    maxSpreadPpm: readShare(r, "RATE_MAX_SPREAD", 20_000n),
    timeoutMs: r.int("RATE_TIMEOUT_MS", 2_000, 50, 60_000),
    cacheMs: r.int("RATE_CACHE_MS", 5_000, 0, 600_000),
    maxAgeSeconds: r.int("RATE_MAX_AGE_SECONDS", 300, 1, 7 * 86_400),
    fiatMaxAgeSeconds: r.int("RATE_FIAT_MAX_AGE_SECONDS", 36 * 3_600, 60, 30 * 86_400),
    urls: {
      coinbase: url("COINBASE_API_URL", DEFAULT_RATE_URLS.coinbase),
      kraken: url("KRAKEN_API_URL", DEFAULT_RATE_URLS.kraken),
      frankfurter: url("FRANKFURTER_API_URL", DEFAULT_RATE_URLS.frankfurter),
    },
  };
}

const list = (value: string): string[] =>
  value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
