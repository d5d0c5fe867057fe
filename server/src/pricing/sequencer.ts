import type { PublicClient } from "viem";
import { recentValue } from "../lib/recent.ts";
import { unavailable } from "../lib/errors.ts";
import { aggregatorV3Abi } from "./index.ts";

/**
 * Chainlink's L2 sequencer uptime feed: answer 0 while the sequencer is up, 1 while it is down;
 * `startedAt` is when the status last changed (https://docs.chain.link/data-feeds/l2-sequencer-feeds).
 * While the sequencer is down, transactions reach the L2 only through L1 (customers could not pay
 * in time, and prices on it stop updating), and for a grace period after it is back the backlog
 * and the feeds catch up: new orders are refused over both.
 */
export interface SequencerGate {
  /** Resolves when new orders may be taken; throws 503 `sequencer_down` (or `sequencer_unknown`) otherwise. */
  check(): Promise<void>;
}

export type SequencerStatus =
  | { state: "up"; since: number }
  | { state: "down"; since: number }
  | { state: "grace"; since: number; remainingSeconds: number };

/** The status for a feed round (`answer`, `startedAt`) at `nowSeconds`; throws on an answer that is not 0 or 1. */
export function sequencerStatus(
  answer: bigint,
  startedAt: bigint,
  nowSeconds: number,
  graceSeconds: number,
): SequencerStatus {
  const since = Number(startedAt);
  if (answer === 1n) return { state: "down", since };
  if (answer !== 0n) throw new Error(`sequencer uptime feed answered ${answer}, not 0 (up) or 1 (down)`);
  const upFor = nowSeconds - since;
  return upFor < graceSeconds
    ? { state: "grace", since, remainingSeconds: graceSeconds - Math.max(upFor, 0) }
    : { state: "up", since };
}

export function chainlinkSequencerGate(options: {
  client: PublicClient;
  feed: `0x${string}`;
  /** The chain, for messages: "base (chain 8453)". */
  where: string;
  /** SEQUENCER_GRACE_SECONDS. */
  graceSeconds: number;
  /** How long an answer is reused (FEED_CACHE_MS, default 5 s). */
  cacheMs?: number;
  now?: () => number;
}): SequencerGate {
  const { client, feed, where, graceSeconds } = options;
  const now = options.now ?? Date.now;
  const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  // Read at most every `cacheMs`; while the provider refuses (429), the last round read within 30 s
  // stands, so a burst of refusals does not pause every new order.
  const round = recentValue(
    () => client.readContract({ address: feed, abi: aggregatorV3Abi, functionName: "latestRoundData" }),
    { freshMs: options.cacheMs ?? 5_000, graceMs: 30_000, patienceMs: 2_000 },
  );
  return {
    async check() {
      let answer: bigint;
      let startedAt: bigint;
      try {
        [, answer, startedAt] = await round.get();
      } catch {
        throw unavailable(
          `The sequencer uptime feed of ${where} is unreachable, so whether its sequencer is up is unknown; new orders on it are paused: try again shortly or use another chain.`,
          "sequencer_unknown",
        );
      }
      // Chainlink's own example refuses a round whose startedAt is 0 (not initialized yet).
      if (startedAt === 0n || (answer !== 0n && answer !== 1n)) {
        throw unavailable(
          `The sequencer uptime feed of ${where} has no valid round (answer ${answer}, startedAt ${startedAt}); new orders on it are paused: try again shortly or use another chain.`,
          "sequencer_unknown",
        );
      }
      const status = sequencerStatus(answer, startedAt, Math.floor(now() / 1000), graceSeconds);
      if (status.state === "down") {
        throw unavailable(
          `The sequencer of ${where} is down (since ${iso(status.since)}): a payment could not be included in time. New orders on it are paused until it has been back up for ${graceSeconds} s; try again later or use another chain.`,
          "sequencer_down",
        );
      }
      if (status.state === "grace") {
        throw unavailable(
          `The sequencer of ${where} came back up at ${iso(status.since)}; new orders on it resume after a grace period of ${graceSeconds} s, in ${status.remainingSeconds} s. Try again then or use another chain.`,
          "sequencer_down",
        );
      }
    },
  };
}
