import { DomainError, firstLine, unavailable } from "../lib/errors.ts";
import { formatDecimal } from "../lib/money.ts";
import { isFiat } from "./currencies.ts";
import { fxOpenSeconds } from "./market-hours.ts";

/**
 * Exchange rates from several sources (docs/payment-methods.md, "Rates"). A pair is "BASE/QUOTE"
 * in upper case ("ETH/USD", "EUR/USD", "USDC/USD", "LTC/USD"); every quote currency is USD today.
 */
export type Pair = `${string}/${string}`;

/** One source's answer for one pair: `value / 10^decimals` QUOTE per BASE, exactly. */
export interface Rate {
  pair: Pair;
  value: bigint;
  decimals: number;
  /** Unix seconds the source last updated it. */
  updatedAt: number;
  /** The source's name ("chainlink", "coinbase", …) or, for one feed, a more precise one. */
  source: string;
}

/**
 * Where a rate comes from. `rate` answers a fresh rate (judged against that source's own age limit
 * for the pair, see `isStale`) or throws; `supports` says which pairs it has at all, so a source
 * without, say, a BRL/USD feed is skipped rather than counted as failing.
 */
export interface RateSource {
  readonly name: string;
  supports(pair: Pair): boolean;
  rate(pair: Pair): Promise<Rate>;
}

/** RATE_POLICY: the median of the fresh sources, or the first fresh one in RATE_SOURCES order. */
export type RatePolicy = "median" | "first";

/** A quote: the rate used, and every fresh answer it was chosen from. */
export interface RateQuote extends Rate {
  /** The fresh answers (in source order) the rate was taken from. */
  answers: Rate[];
}

/** One source's state for one pair, as the admin /health shows it. */
export interface RateSourceHealth {
  /** Seconds since the last good answer's update (market-open seconds for fiat pairs); null: none yet. */
  age_seconds: number | null;
  updated_at: string | null;
  value: string | null;
  last_error: string | null;
  last_error_at: string | null;
}

export interface Rates {
  /** The rate of `pair` under the policy; 503 rate_unavailable (naming the pair) when there is none. */
  quote(pair: Pair): Promise<RateQuote>;
  /** Per source, per pair asked so far: the last answer's age and the last error. */
  health(): Record<string, Record<string, RateSourceHealth>>;
  readonly sources: readonly RateSource[];
}

export interface RatesOptions {
  sources: readonly RateSource[];
  policy: RatePolicy;
  /** RATE_MAX_SPREAD in millionths (20_000 = 2 %): fresh answers further apart refuse the quote. */
  maxSpreadPpm: bigint;
  now?: () => number;
}

/** How old `rate` is at `nowMs`, in seconds: for a fiat pair, only the hours the FX market was open. */
export function rateAge(pair: Pair, updatedAt: number, nowMs: number): number {
  const now = Math.floor(nowMs / 1000);
  return isFiat(pair.split("/")[0] as string) ? fxOpenSeconds(updatedAt, now) : now - updatedAt;
}

/**
 * Throws 503 rate_stale when `rate` is older than `maxAgeSeconds` (fiat pairs: counting only the
 * hours the FX market was open, so a feed frozen over the weekend stays fresh until the market has
 * been open again for `maxAgeSeconds`).
 */
export function checkFresh(rate: Rate, maxAgeSeconds: number, nowMs: number): Rate {
  const age = rateAge(rate.pair, rate.updatedAt, nowMs);
  if (age > maxAgeSeconds) {
    const market = isFiat(rate.pair.split("/")[0] as string) ? " of FX market hours" : "";
    throw unavailable(
      `${rate.source}'s ${rate.pair} rate is stale (last updated ${age} s${market} ago, limit ${maxAgeSeconds} s)`,
      "rate_stale",
    );
  }
  return rate;
}

/** `value` at `from` decimals, at `to` decimals (`to` >= `from`). */
const scale = (value: bigint, from: number, to: number): bigint => value * 10n ** BigInt(to - from);

/** "2.5%" from 25_000 ppm. */
const percent = (ppm: bigint): string => `${formatDecimal(ppm, 4)}%`;

/** Rates from `sources` in order, chosen by `policy`, refused when they disagree. */
export function createRates(options: RatesOptions): Rates {
  const now = options.now ?? Date.now;
  const state = new Map<string, Map<string, { ok?: Rate; error?: { message: string; at: number } }>>();
  const entry = (source: string, pair: string) => {
    let bySource = state.get(source);
    if (!bySource) state.set(source, (bySource = new Map()));
    let e = bySource.get(pair);
    if (!e) bySource.set(pair, (e = {}));
    return e;
  };

  async function quote(pair: Pair): Promise<RateQuote> {
    const candidates = options.sources.filter((s) => s.supports(pair));
    if (candidates.length === 0) {
      const names = options.sources.map((s) => s.name).join(", ");
      throw unavailable(
        `no rate source configured here prices ${pair} (RATE_SOURCES: ${names}); add a source that has it`,
        "rate_unavailable",
      );
    }
    // Every source is asked at once: a slow or failing one never holds up the others beyond its timeout.
    const settled = await Promise.allSettled(candidates.map((s) => s.rate(pair)));
    const answers: Rate[] = [];
    const failures: string[] = [];
    settled.forEach((result, i) => {
      const source = candidates[i] as RateSource;
      const e = entry(source.name, pair);
      if (result.status === "fulfilled") {
        e.ok = result.value;
        answers.push(result.value);
      } else {
        const message = firstLine(result.reason);
        e.error = { message, at: now() };
        failures.push(`${source.name}: ${message}`);
      }
    });
    if (answers.length === 0) {
      // One source: its own error says it best (price_stale, price_unavailable, …).
      const only = settled[0];
      if (candidates.length === 1 && only?.status === "rejected" && only.reason instanceof DomainError) {
        throw only.reason;
      }
      throw unavailable(
        `no fresh ${pair} rate right now (${failures.join("; ")}); orders priced in ${pair} are paused until a source answers`,
        "rate_unavailable",
      );
    }
    const decimals = Math.max(...answers.map((a) => a.decimals));
    const values = answers.map((a) => scale(a.value, a.decimals, decimals));
    const low = values.reduce((a, b) => (b < a ? b : a));
    const high = values.reduce((a, b) => (b > a ? b : a));
    if (low <= 0n || (high - low) * 1_000_000n > low * options.maxSpreadPpm) {
      const spreadPpm = low > 0n ? ((high - low) * 1_000_000n) / low : 0n;
      const listed = answers.map((a) => `${a.source} ${formatDecimal(a.value, a.decimals)}`).join(", ");
      throw unavailable(
        `the ${pair} rate sources disagree (${listed}: ${percent(spreadPpm)} apart, RATE_MAX_SPREAD is ${percent(options.maxSpreadPpm)}); ` +
          `orders priced in ${pair} are refused until they agree`,
        "rate_unavailable",
      );
    }
    if (options.policy === "first" || answers.length === 1) {
      return { ...(answers[0] as Rate), answers };
    }
    const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const mid = Math.floor(sorted.length / 2);
    // An even count takes the mean of the middle two, exactly: one more decimal holds the half.
    const median =
      sorted.length % 2 === 1
        ? { value: sorted[mid] as bigint, decimals }
        : { value: ((sorted[mid - 1] as bigint) + (sorted[mid] as bigint)) * 5n, decimals: decimals + 1 };
    return {
      pair,
      value: median.value,
      decimals: median.decimals,
      updatedAt: Math.min(...answers.map((a) => a.updatedAt)),
      source: `median(${answers.map((a) => a.source.split(":")[0]).join(",")})`,
      answers,
    };
  }

  function health(): Record<string, Record<string, RateSourceHealth>> {
    const out: Record<string, Record<string, RateSourceHealth>> = {};
    for (const source of options.sources) {
      const pairs: Record<string, RateSourceHealth> = {};
      for (const [pair, e] of state.get(source.name) ?? []) {
        pairs[pair] = {
          age_seconds: e.ok ? rateAge(pair as Pair, e.ok.updatedAt, now()) : null,
          updated_at: e.ok ? new Date(e.ok.updatedAt * 1000).toISOString() : null,
          value: e.ok ? formatDecimal(e.ok.value, e.ok.decimals) : null,
          last_error: e.error?.message ?? null,
          last_error_at: e.error ? new Date(e.error.at).toISOString() : null,
        };
      }
      out[source.name] = pairs;
    }
    return out;
  }

  return { quote, health, sources: options.sources };
}
