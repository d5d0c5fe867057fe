import type { PublicClient } from "viem";
import {
  chainlinkFeedReader,
  type FeedCache,
  type FeedReader,
  type Price,
  type PriceSource,
} from "../index.ts";
import { rateAge, type Pair, type Rate, type RateSource } from "../rates.ts";

/** A fiat currency's Chainlink X/USD feed on one chain (EUR/USD, BRL/USD, GBP/USD). */
export interface FiatFeed {
  /** ISO 4217 code, upper case. */
  currency: string;
  feed: `0x${string}`;
  /** An older answer is stale, counting FX market hours only (the feed's heartbeat + 10 % by default). */
  maxAgeSeconds: number;
}

const asRate = (pair: Pair, price: Price): Rate => ({
  pair,
  value: price.value,
  decimals: price.decimals,
  updatedAt: price.updatedAt,
  source: price.source,
});

/**
 * One chain's Chainlink feeds as a rate source: the native coin's USD rate and the tokens' USD feeds
 * from the chain's price source (`prices`; ETH_USD_PRICE makes that a static price), and fiat/USD
 * feeds, each judged against its own heartbeat. A fiat feed freezes while the FX market is closed
 * (Friday 17:00 to Sunday 17:00 New York time), so its age counts only the market's open hours.
 */
export function chainlinkRateSource(options: {
  /** The chain's native coin ("ETH", "POL"): its pair is `${native}/USD`. */
  native: string;
  prices: PriceSource;
  tokens: readonly { symbol: string; address: `0x${string}`; hasFeed: boolean }[];
  client?: PublicClient;
  fiatFeeds?: readonly FiatFeed[];
  cache?: FeedCache;
  now?: () => number;
}): RateSource & { warm(): Promise<void> } {
  const now = options.now ?? Date.now;
  const fiat = new Map<string, FeedReader>();
  for (const f of options.fiatFeeds ?? []) {
    if (!options.client) throw new Error("chainlinkRateSource: fiat feeds need a client");
    const pair: Pair = `${f.currency}/USD`;
    fiat.set(
      pair,
      chainlinkFeedReader(options.client, f.feed, pair, f.maxAgeSeconds, now, options.cache ?? {}, (at, ms) =>
        rateAge(pair, at, ms),
      ),
    );
  }
  const tokens = new Map(options.tokens.filter((t) => t.hasFeed).map((t) => [`${t.symbol}/USD`, t.address]));
  const nativePair = `${options.native.toUpperCase()}/USD`;
  return {
    name: "chainlink",
    supports: (pair) => pair === nativePair || tokens.has(pair) || fiat.has(pair),
    async rate(pair) {
      if (pair === nativePair) return asRate(pair, await options.prices.ethUsd());
      const reader = fiat.get(pair);
      if (reader) return asRate(pair, await reader());
      const token = tokens.get(pair);
      const price = token ? await options.prices.tokenUsd?.(token) : undefined;
      if (!price) throw new Error(`chainlink has no ${pair} feed here`);
      return asRate(pair, price);
    },
    async warm() {
      for (const reader of fiat.values()) await reader.warm();
    },
  };
}
