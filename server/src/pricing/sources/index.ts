import type { RateSource } from "../rates.ts";
import { coinbaseRateSource } from "./coinbase.ts";
import { frankfurterRateSource } from "./frankfurter.ts";
import type { HttpSourceOptions } from "./http.ts";
import { krakenRateSource } from "./kraken.ts";

export type HttpSourceName = "coinbase" | "kraken" | "frankfurter";

/** The HTTP ticker sources by name, each at its base URL (COINBASE_API_URL, …). */
export function httpRateSources(
  urls: Record<HttpSourceName, string>,
  options: Omit<HttpSourceOptions, "baseUrl" | "cache">,
): Record<HttpSourceName, RateSource> {
  // One cache for the three: each URL is its own entry.
  const shared: Omit<HttpSourceOptions, "baseUrl"> = { ...options, cache: new Map() };
  return {
    coinbase: coinbaseRateSource({ ...shared, baseUrl: urls.coinbase }),
    kraken: krakenRateSource({ ...shared, baseUrl: urls.kraken }),
    frankfurter: frankfurterRateSource({ ...shared, baseUrl: urls.frankfurter }),
  };
}
