import { unavailable } from "../../lib/errors.ts";
import { isFiat } from "../currencies.ts";
import { checkFresh, type Pair, type Rate, type RateSource } from "../rates.ts";
import { getJson, HTTP_RATE_DECIMALS, parseRate, splitPair, type HttpSourceOptions } from "./http.ts";

/** Kraken's names of the X/USD pairs it lists (its legacy X…Z… names where it has them). */
export const KRAKEN_PAIRS: Readonly<Record<string, string>> = {
  "ETH/USD": "XETHZUSD",
  "BTC/USD": "XXBTZUSD",
  "LTC/USD": "XLTCZUSD",
  "DASH/USD": "DASHUSD",
  "POL/USD": "POLUSD",
  "USDC/USD": "USDCUSD",
  "USDT/USD": "USDTZUSD",
  "DAI/USD": "DAIUSD",
  "EUR/USD": "ZEURZUSD",
  "GBP/USD": "ZGBPZUSD",
};

/**
 * Kraken's public ticker (`GET /0/public/Ticker?pair=XETHZUSD`): `{"error": [], "result": {"XETHZUSD":
 * {"c": ["<last trade price>", "<lot volume>"], …}}}`; the rate is the last trade's price. An answer
 * with a non-empty `error` (e.g. "EQuery:Unknown asset pair") is a failure.
 */
export function krakenRateSource(options: HttpSourceOptions): RateSource {
  const now = options.now ?? Date.now;
  return {
    name: "kraken",
    supports: (pair) => pair in KRAKEN_PAIRS,
    async rate(pair: Pair): Promise<Rate> {
      const name = KRAKEN_PAIRS[pair] as string;
      const url = `${options.baseUrl.replace(/\/+$/, "")}/0/public/Ticker?pair=${name}`;
      const { body, producedAt } = await getJson("kraken", url, options);
      const answer = body as { error?: unknown; result?: Record<string, { c?: unknown[] }> };
      if (Array.isArray(answer.error) && answer.error.length > 0) {
        throw unavailable(`kraken refused ${pair}: ${answer.error.join("; ")}`, "rate_source_failed");
      }
      const ticker = answer.result?.[name] ?? Object.values(answer.result ?? {})[0];
      if (!ticker || !Array.isArray(ticker.c)) {
        throw unavailable(`kraken's answer has no ${name} ticker`, "rate_source_failed");
      }
      const rate: Rate = {
        pair,
        value: parseRate("kraken", pair, ticker.c[0]),
        decimals: HTTP_RATE_DECIMALS,
        updatedAt: producedAt,
        source: "kraken",
      };
      const fiat = isFiat(splitPair(pair)[0]);
      return checkFresh(rate, fiat ? options.fiatMaxAgeSeconds : options.maxAgeSeconds, now());
    },
  };
}
