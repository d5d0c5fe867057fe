import { unavailable } from "../../lib/errors.ts";
import { isFiat } from "../currencies.ts";
import { checkFresh, type Pair, type Rate, type RateSource } from "../rates.ts";
import { getJson, HTTP_RATE_DECIMALS, parseRate, splitPair, type HttpSourceOptions } from "./http.ts";

/**
 * Coinbase's exchange rates (`GET /v2/exchange-rates?currency=ETH`): `data.rates` maps each
 * currency to how many of it one unit of `currency` buys, as decimal strings. It has crypto and
 * fiat bases; the X/USD rate is `rates.USD`.
 */
export function coinbaseRateSource(options: HttpSourceOptions): RateSource {
  const now = options.now ?? Date.now;
  return {
    name: "coinbase",
    supports: (pair) => splitPair(pair)[1] === "USD" && splitPair(pair)[0] !== "USD",
    async rate(pair: Pair): Promise<Rate> {
      const [base, quote] = splitPair(pair);
      const url = `${options.baseUrl.replace(/\/+$/, "")}/v2/exchange-rates?currency=${encodeURIComponent(base)}`;
      const { body, producedAt } = await getJson("coinbase", url, options);
      const data = (body as { data?: { currency?: string; rates?: Record<string, unknown> } }).data;
      if (data?.currency?.toUpperCase() !== base || !data.rates || !(quote in data.rates)) {
        throw unavailable(`coinbase's answer has no ${pair} rate`, "rate_source_failed");
      }
      const rate: Rate = {
        pair,
        value: parseRate("coinbase", pair, data.rates[quote]),
        decimals: HTTP_RATE_DECIMALS,
        updatedAt: producedAt,
        source: "coinbase",
      };
      return checkFresh(rate, isFiat(base) ? options.fiatMaxAgeSeconds : options.maxAgeSeconds, now());
    },
  };
}
