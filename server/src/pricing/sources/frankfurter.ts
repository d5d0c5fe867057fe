import { unavailable } from "../../lib/errors.ts";
import { isFiat } from "../currencies.ts";
import { checkFresh, type Pair, type Rate, type RateSource } from "../rates.ts";
import { getJson, HTTP_RATE_DECIMALS, parseRate, splitPair, type HttpSourceOptions } from "./http.ts";

/**
 * The European Central Bank's reference rates through Frankfurter (`GET /latest?from=EUR&to=USD`):
 * `{"amount": 1.0, "base": "EUR", "date": "2026-12-04", "rates": {"USD": 1.0825}}`, rates as JSON
 * numbers (read from their source text, never as floats). The ECB publishes once a working day at
 * about 16:00 CET; the answer counts as made at 14:00 UTC of its `date` (no later than that), and
 * is judged against RATE_FIAT_MAX_AGE_SECONDS of FX market hours. Fiat pairs only.
 */
export function frankfurterRateSource(options: HttpSourceOptions): RateSource {
  const now = options.now ?? Date.now;
  return {
    name: "frankfurter",
    supports: (pair) => {
      const [base, quote] = splitPair(pair);
      return quote === "USD" && base !== "USD" && isFiat(base);
    },
    async rate(pair: Pair): Promise<Rate> {
      const [base, quote] = splitPair(pair);
      const url = `${options.baseUrl.replace(/\/+$/, "")}/latest?from=${base}&to=${quote}`;
      const { body } = await getJson("frankfurter", url, options);
      const answer = body as { base?: string; date?: string; rates?: Record<string, unknown> };
      const day = /^\d{4}-\d{2}-\d{2}$/.test(answer.date ?? "")
        ? Date.parse(`${answer.date}T14:00:00Z`)
        : NaN;
      if (answer.base !== base || !answer.rates || !(quote in answer.rates) || !Number.isFinite(day)) {
        throw unavailable(`frankfurter's answer has no dated ${pair} rate`, "rate_source_failed");
      }
      const rate: Rate = {
        pair,
        value: parseRate("frankfurter", pair, answer.rates[quote]),
        decimals: HTTP_RATE_DECIMALS,
        updatedAt: Math.floor(day / 1000),
        source: "frankfurter",
      };
      return checkFresh(rate, options.fiatMaxAgeSeconds, now());
    },
  };
}
