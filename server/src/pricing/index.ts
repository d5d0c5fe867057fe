import { parseAbi, type PublicClient } from "viem";
import { unavailable } from "../lib/errors.ts";
import { parseDecimal } from "../lib/money.ts";
import { recentValue } from "../lib/recent.ts";

/** The Chainlink AggregatorV3 functions read for the ETH/USD rate (here and by the start-up check of the feed). */
export const aggregatorV3Abi = parseAbi([
  "function decimals() view returns (uint8)",
  "function description() view returns (string)",
  "function latestRoundData() view returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)",
]);

export interface Price {
  /** USD per whole ETH, scaled by 10^decimals. */
  value: bigint;
  decimals: number;
  /** Unix seconds the source last updated it. */
  updatedAt: number;
  source: string;
}

/** Where the ETH/USD rate comes from. A source either returns a fresh price or throws 503. */
export interface PriceSource {
  ethUsd(): Promise<Price>;
  /**
   * The USD price of one whole token from its own feed, judged against that feed's heartbeat (503
   * when stale or unreachable); undefined when the token has no feed (it is priced at its peg).
   */
  tokenUsd?(token: `0x${string}`): Promise<Price | undefined>;
  /**
   * Reads what later reads fall back on while the source refuses (start-up waits for it, retrying
   * transport errors); absent for a source without a remote read.
   */
  warm?(): Promise<void>;
}

/** A token with a Chainlink X/USD feed, and how old its answer may be. */
export interface TokenFeed {
  symbol: string;
  address: `0x${string}`;
  feed: `0x${string}`;
  maxAgeSeconds: number;
}

export const STATIC_PRICE_DECIMALS = 8;

export function staticPriceSource(ethUsd: string): PriceSource {
  const value = parseDecimal(ethUsd, STATIC_PRICE_DECIMALS);
  if (value <= 0n) throw new Error("ETH_USD_PRICE must be greater than 0");
  return {
    async ethUsd() {
      return {
        value,
        decimals: STATIC_PRICE_DECIMALS,
        updatedAt: Math.floor(Date.now() / 1000),
        source: "static",
      };
    },
  };
}

/** A feed's reader: a fresh price or a 503; `warm` reads what later reads fall back on. */
export interface FeedReader {
  (): Promise<Price>;
  warm(): Promise<void>;
}

/**
 * How a feed's answer is cached: read at most once per `freshMs` (default 5 s), and when a read
 * fails (a rate-limited provider, or one that has not answered within 2 s) the last answer read
 * within `graceMs` (default 60 s) is used. The checks apply to it all the same, so a stale answer is
 * never served.
 */
export interface FeedCache {
  freshMs?: number;
  graceMs?: number;
}

/**
 * One Chainlink AggregatorV3 feed (`pair` names it in messages, e.g. "ETH/USD"). A non-positive
 * answer, a round older than `maxAgeSeconds` or an unreachable feed is an error (503), never a wrong
 * price. `ageOf` measures a round's age in seconds (default: the seconds since `updatedAt`; a fiat
 * feed counts only FX market hours, see pricing/market-hours.ts).
 */
export function chainlinkFeedReader(
  client: PublicClient,
  feed: `0x${string}`,
  pair: string,
  maxAgeSeconds: number,
  now: () => number = Date.now,
  cache: FeedCache = {},
  ageOf: (updatedAt: number, nowMs: number) => number = (updatedAt, nowMs) =>
    Math.floor(nowMs / 1000) - updatedAt,
): FeedReader {
  let decimals: number | undefined;
  const round = recentValue(
    async () => {
      decimals ??= await client.readContract({
        address: feed,
        abi: aggregatorV3Abi,
        functionName: "decimals",
      });
      const [, answer, , updatedAt] = await client.readContract({
        address: feed,
        abi: aggregatorV3Abi,
        functionName: "latestRoundData",
      });
      return { answer, updatedAt, decimals };
    },
    { freshMs: cache.freshMs ?? 5_000, graceMs: cache.graceMs ?? 60_000, patienceMs: 2_000 },
  );
  const read = async (): Promise<Price> => {
    let answer: bigint;
    let updatedAt: bigint;
    let decimals: number;
    try {
      ({ answer, updatedAt, decimals } = await round.get());
    } catch {
      throw unavailable(`The ${pair} price feed is unreachable; try again shortly.`, "price_unavailable");
    }
    if (answer <= 0n)
      throw unavailable(`The ${pair} price feed returned no valid price.`, "price_unavailable");
    const age = ageOf(Number(updatedAt), now());
    if (age > maxAgeSeconds) {
      throw unavailable(
        `The ${pair} price is stale (last updated ${age} s ago, limit ${maxAgeSeconds} s for this feed); orders priced with it are paused until it updates.`,
        "price_stale",
      );
    }
    return { value: answer, decimals, updatedAt: Number(updatedAt), source: `chainlink:${feed}` };
  };
  return Object.assign(read, {
    warm: async () => {
      await round.get();
    },
  });
}

/** Chainlink ETH/USD reader: stale after `maxAgeSeconds` (PRICE_MAX_AGE_SECONDS, or the feed's heartbeat). */
export function chainlinkPriceSource(
  client: PublicClient,
  feed: `0x${string}`,
  maxAgeSeconds: number,
  cache: FeedCache = {},
): PriceSource {
  const read = chainlinkFeedReader(client, feed, "ETH/USD", maxAgeSeconds, Date.now, cache);
  return { ethUsd: read, warm: read.warm };
}

/**
 * `prices` plus the tokens' own USD feeds, each judged against its own heartbeat (a USDC/USD feed
 * updates daily, ETH/USD hourly).
 */
export function withTokenFeeds(
  prices: PriceSource,
  client: PublicClient,
  cache: FeedCache,
  feeds: readonly TokenFeed[],
  now: () => number = Date.now,
): PriceSource {
  if (feeds.length === 0) return prices;
  const readers = new Map(
    feeds.map((f) => [
      f.address.toLowerCase(),
      chainlinkFeedReader(client, f.feed, `${f.symbol}/USD`, f.maxAgeSeconds, now, cache),
    ]),
  );
  return {
    ethUsd: () => prices.ethUsd(),
    tokenUsd: async (token) => readers.get(token.toLowerCase())?.(),
    async warm() {
      await prices.warm?.();
      for (const read of readers.values()) await read.warm();
    },
  };
}
