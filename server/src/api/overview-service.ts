import { ETH_TOKEN } from "../chain/abi.ts";
import type { Queryable } from "../db/types.ts";
import { formatDecimal, formatUsdCents, parseDecimal } from "../lib/money.ts";
import type { Merchant } from "../merchants/service.ts";
import {
  merchantIncomeByDay,
  merchantIncomeTotal,
  merchantWaitingOrders,
  type DailyIncome,
} from "../orders/queries.ts";
import type { OrderRow } from "../orders/serialize.ts";
import type { PriceSource } from "../pricing/index.ts";
import { subscriptionsDueSoon, type SubscriptionRow } from "../recurring/repository.ts";

/** A chain whose coins the overview prices: its tokens and its price source. */
export interface OverviewChain {
  chainId: bigint;
  tokens: readonly { address: string; symbol: string; decimals: number }[];
  prices: PriceSource;
}

export interface OverviewServiceDeps {
  db: Queryable;
  chains: readonly OverviewChain[];
  now?: () => Date;
  /**
   * The merchant's currency (ISO 4217). USD: orders are priced in USD and the price sources answer
   * in USD; when orders in other currencies come, this becomes the merchant's.
   */
  currency?: string;
}

/** Today's rate of one coin in the merchant's currency, or why there is none. */
export interface CoinRate {
  chainId: bigint;
  token: string;
  symbol: string;
  decimals: number;
  /** The currency per whole coin, an exact decimal string; null when the source refused. */
  value: string | null;
  /** "static", "chainlink:0x…" or "peg". */
  source: string | null;
  updatedAt: Date | null;
  error: string | null;
}

export interface Overview {
  /** The fiat currency of every value (ISO 4217): the orders' currency_amount is in it. */
  currency: string;
  /** The first and last UTC day the income covers, yyyy-mm-dd. */
  from: string;
  through: string;
  income: DailyIncome[];
  /** Each day's total over every coin, exact; every day of the range, zero days too. */
  days: { day: string; value: string }[];
  today: { value: string; orders: bigint };
  month: { value: string; orders: bigint };
  waiting: { count: bigint; orders: OrderRow[] };
  subscriptionsDue: SubscriptionRow[];
  rates: CoinRate[];
}

const DAY_MS = 86_400_000;
/** Currency sums are added at this scale: exact for any fiat's minor unit (USD 2, some 3, none more). */
const SUM_SCALE = 8;

const utcDay = (date: Date) => date.toISOString().slice(0, 10);
const startOfUtcDay = (date: Date) =>
  new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));

/** Exact sum of decimal strings, written with at least two fraction digits ("12.50"). */
export function addDecimals(values: readonly string[]): string {
  const total = values.reduce((sum, v) => sum + parseDecimal(v, SUM_SCALE), 0n);
  return formatDecimal(total, SUM_SCALE, 2);
}

/**
 * The merchant console's overview: income per UTC day and coin over the last `days` days,
 * today's and this month's totals (UTC), the orders still waiting for payment, the subscriptions
 * due soon, and today's rate of every coin with its source and age. Like the account service, it
 * lives with the API above the modules it reads; each module runs its own SQL.
 */
export function createOverviewService(deps: OverviewServiceDeps) {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());
  const currency = deps.currency ?? "USD";

  async function rateOf(
    chain: OverviewChain,
    token: { address: string; symbol: string; decimals: number },
  ): Promise<CoinRate> {
    const base = {
      chainId: chain.chainId,
      token: token.address.toLowerCase(),
      symbol: token.symbol,
      decimals: token.decimals,
    };
    try {
      const price =
        token.address === ETH_TOKEN
          ? await chain.prices.ethUsd()
          : await chain.prices.tokenUsd?.(token.address as `0x${string}`);
      // A token without a feed is priced at its peg (one unit of the currency), as orders are.
      if (!price) return { ...base, value: "1", source: "peg", updatedAt: null, error: null };
      return {
        ...base,
        value: formatDecimal(price.value, price.decimals),
        source: price.source,
        updatedAt: new Date(price.updatedAt * 1000),
        error: null,
      };
    } catch (error) {
      return {
        ...base,
        value: null,
        source: null,
        updatedAt: null,
        error: error instanceof Error ? error.message : String(error),
      };
    }
  }

  /** Today's rate of every configured coin (a source that refuses gives a rate with its error). */
  async function rates(): Promise<CoinRate[]> {
    return Promise.all(
      deps.chains.flatMap((chain) =>
        [{ address: ETH_TOKEN as string, symbol: "ETH", decimals: 18 }, ...chain.tokens].map((token) =>
          rateOf(chain, token),
        ),
      ),
    );
  }

  async function overview(merchant: Merchant, options: { days?: number } = {}): Promise<Overview> {
    const days = options.days ?? 30;
    const at = now();
    const tomorrow = new Date(startOfUtcDay(at).getTime() + DAY_MS);
    const first = new Date(tomorrow.getTime() - days * DAY_MS);
    const monthStart = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
    const [income, today, month, waiting, subscriptionsDue, coinRates] = await Promise.all([
      merchantIncomeByDay(db, merchant.id, first, tomorrow),
      merchantIncomeTotal(db, merchant.id, startOfUtcDay(at), tomorrow),
      merchantIncomeTotal(db, merchant.id, monthStart, tomorrow),
      merchantWaitingOrders(db, merchant.id, at, 10),
      subscriptionsDueSoon(db, merchant.id, 10),
      rates(),
    ]);
    const perDay = new Map<string, string[]>();
    for (const row of income) perDay.set(row.day, [...(perDay.get(row.day) ?? []), row.value]);
    const dayList = Array.from({ length: days }, (_, i) => {
      const day = utcDay(new Date(first.getTime() + i * DAY_MS));
      return { day, value: addDecimals(perDay.get(day) ?? []) };
    });
    return {
      currency,
      from: utcDay(first),
      through: utcDay(at),
      income,
      days: dayList,
      today: { ...today, value: addDecimals([today.value]) },
      month: { ...month, value: addDecimals([month.value]) },
      waiting,
      subscriptionsDue,
      rates: coinRates,
    };
  }

  return { overview, rates, currency };
}

export type OverviewService = ReturnType<typeof createOverviewService>;

/** A subscription's amount per period in its currency (USD cents today). */
export const subscriptionAmount = (s: SubscriptionRow) => formatUsdCents(s.usd_cents);
