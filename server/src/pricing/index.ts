import { parseAbi, type PublicClient } from "viem";
import { unavailable } from "../lib/errors.ts";
import { recentValue } from "../lib/recent.ts";
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
   * Reads what later reads fall back on while the source refuses (start-up waits for it, retrying
   * transport errors); absent for a source without a remote read.
   */
  warm?(): Promise<void>;
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
 * Chainlink AggregatorV3 reader. A non-positive answer, a round older than `maxAgeSeconds` or an
 * unreachable feed is an error (503), never a wrong price.
 */
export function chainlinkPriceSource(
  client: PublicClient,
  feed: `0x${string}`,
  maxAgeSeconds: number,
  /**
   * The feed's answer is read at most once per `freshMs` (default 5 s), and when a read fails (a
   * rate-limited provider, or one that has not answered within 2 s) the last answer read within
   * `graceMs` (default 60 s) is used; the checks
   * below apply to it all the same, so a stale answer is never served.
   */
  cache: { freshMs?: number; graceMs?: number } = {},
): PriceSource {
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
  return {
    async warm() {
      await round.get();
    },
    async ethUsd() {
      let answer: bigint;
      let updatedAt: bigint;
      let decimals: number;
      try {
        ({ answer, updatedAt, decimals } = await round.get());
      } catch {
        throw unavailable("The ETH/USD price feed is unreachable; try again shortly.", "price_unavailable");
      }
      if (answer <= 0n)
        throw unavailable("The ETH/USD price feed returned no valid price.", "price_unavailable");
      const age = Math.floor(Date.now() / 1000) - Number(updatedAt);
      if (age > maxAgeSeconds) {
        throw unavailable(
          `The ETH/USD price is stale (last updated ${age} s ago, limit ${maxAgeSeconds} s); orders are paused until it updates.`,
          "price_stale",
        );
      }
      return { value: answer, decimals, updatedAt: Number(updatedAt), source: `chainlink:${feed}` };
    },
  };
}
