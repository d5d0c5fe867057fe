import type { RateSource } from "../rates.ts";
import { coinbaseRateSource } from "./coinbase.ts";
import { frankfurterRateSource } from "./frankfurter.ts";
import type { HttpSourceOptions } from "./http.ts";
import { krakenRateSource } from "./kraken.ts";

export type HttpSourceName = "coinbase" | "kraken" | "frankfurter";

/** The HTTP ticker sources by name, each at its base URL (COINBASE_API_URL, …). */
export function httpRateSources(
  urls: Record<HttpSourceName, string>,
  options: Omit<HttpSourceOptions, "baseUrl">,
): Record<HttpSourceName, RateSource> {
  return {
    coinbase: coinbaseRateSource({ ...options, baseUrl: urls.coinbase }),
    kraken: krakenRateSource({ ...options, baseUrl: urls.kraken }),
    frankfurter: frankfurterRateSource({ ...options, baseUrl: urls.frankfurter }),
  };
}
