import { parseAbi, type PublicClient } from "viem";
import { unavailable } from "../lib/errors.ts";
import { parseDecimal } from "../lib/money.ts";

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

/**
 * One Chainlink AggregatorV3 feed (`pair` names it in messages, e.g. "ETH/USD"). A non-positive
 * answer, a round older than `maxAgeSeconds` or an unreachable feed is an error (503), never a wrong
 * price.
 */
export function chainlinkFeedReader(
  client: PublicClient,
  feed: `0x${string}`,
  pair: string,
  maxAgeSeconds: number,
  now: () => number = Date.now,
): () => Promise<Price> {
  let decimals: number | undefined;
  return async () => {
    let answer: bigint;
    let updatedAt: bigint;
    try {
      decimals ??= await client.readContract({
        address: feed,
        abi: aggregatorV3Abi,
        functionName: "decimals",
      });
      [, answer, , updatedAt] = await client.readContract({
        address: feed,
        abi: aggregatorV3Abi,
        functionName: "latestRoundData",
      });
    } catch {
      throw unavailable(`The ${pair} price feed is unreachable; try again shortly.`, "price_unavailable");
    }
    if (answer <= 0n)
      throw unavailable(`The ${pair} price feed returned no valid price.`, "price_unavailable");
    const age = Math.floor(now() / 1000) - Number(updatedAt);
    if (age > maxAgeSeconds) {
      throw unavailable(
        `The ${pair} price is stale (last updated ${age} s ago, limit ${maxAgeSeconds} s for this feed); orders priced with it are paused until it updates.`,
        "price_stale",
      );
    }
    return { value: answer, decimals, updatedAt: Number(updatedAt), source: `chainlink:${feed}` };
  };
}

/** Chainlink ETH/USD reader: stale after `maxAgeSeconds` (PRICE_MAX_AGE_SECONDS, or the feed's heartbeat). */
export function chainlinkPriceSource(
  client: PublicClient,
  feed: `0x${string}`,
  maxAgeSeconds: number,
): PriceSource {
  return { ethUsd: chainlinkFeedReader(client, feed, "ETH/USD", maxAgeSeconds) };
}

/**
 * `prices` plus the tokens' own USD feeds, each judged against its own heartbeat (a USDC/USD feed
 * updates daily, ETH/USD hourly).
 */
export function withTokenFeeds(
  prices: PriceSource,
  client: PublicClient,
  feeds: readonly TokenFeed[],
  now: () => number = Date.now,
): PriceSource {
  if (feeds.length === 0) return prices;
  const readers = new Map(
    feeds.map((f) => [
      f.address.toLowerCase(),
      chainlinkFeedReader(client, f.feed, `${f.symbol}/USD`, f.maxAgeSeconds, now),
    ]),
  );
  return {
    ethUsd: () => prices.ethUsd(),
    tokenUsd: async (token) => readers.get(token.toLowerCase())?.(),
  };
}
