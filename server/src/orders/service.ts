import { getAddress, isAddress } from "viem";
import { ETH_TOKEN } from "../chain/abi.ts";
import { selectChain } from "../chain/select.ts";
import type { TokenConfig } from "../config/index.ts";
import type { Db, Queryable } from "../db/types.ts";
import { depositAddress, type DepositDerivation } from "../deposits/address.ts";
import { registerDepositAddress } from "../deposits/repository.ts";
import {
  badRequest,
  forbidden,
  notFound,
  tooManyRequests,
  unauthorized,
  unavailable,
} from "../lib/errors.ts";
import { ceilDiv, formatUsdCents, parseDecimal, roundUpToPrecision } from "../lib/money.ts";
import { formatFiatAmount, minorUnits, parseFiatAmount } from "../pricing/currencies.ts";
import type { Rates } from "../pricing/rates.ts";
import { parseCallbackUrl, parseHttpUrl } from "../lib/url.ts";
import { planAllowsAmount, planAmountLimitText, PLANS } from "../merchants/plans.ts";
import type { Merchant } from "../merchants/service.ts";
import type { PriceSource } from "../pricing/index.ts";
import type { SequencerGate } from "../pricing/sequencer.ts";
import { newOrderId, newOrderReference } from "./ids.ts";
import {
  findOrder,
  findOrderByReference,
  insertOrder,
  insertOrderWithDailySlot,
  listMerchantOrders,
  type NewOrder,
} from "./repository.ts";
import type { OrderRow } from "./serialize.ts";
import type { OrderStatus } from "./state.ts";

export interface CreateOrderInput {
  amount: string;
  address: string;
  callback: string;
  item_title?: string | undefined;
  item_description?: string | undefined;
  item_image?: string | undefined;
  return_url?: string | undefined;
  token?: string | undefined;
  /** A configured chain's name or id; default: the first configured chain. */
  chain?: string | undefined;
  /** The fiat currency of `amount` (ISO 4217, any case); default usd. */
  currency?: string | undefined;
}

/** A chain orders can be paid on, as the order service sees it. */
export interface OrderChain {
  name: string;
  chainId: bigint;
  contract: `0x${string}`;
  tokens: readonly TokenConfig[];
  prices: PriceSource;
  /**
   * The chain's rates (RATE_SOURCES by RATE_POLICY): the native coin's and the fiat currencies' USD
   * rates. Unset (tests that build a chain by hand): `prices` alone, and USD orders only.
   */
  rates?: Rates | undefined;
  /** The native coin ("ETH", "POL"), whose `${native}/USD` rate prices native orders; default ETH. */
  nativeSymbol?: string | undefined;
  /** An L2's sequencer uptime gate: new orders wait while it is down and for a grace period after. */
  sequencer?: SequencerGate | undefined;
  /** PEG_MAX_DEVIATION and PEG_POLICY; default 2 % and "quote". */
  peg?: { maxDeviationPpm: bigint; policy: "quote" | "refuse" } | undefined;
  /** Why payments on this chain would not be seen now (its indexer stopped), or null. */
  failure(): string | null;
  /**
   * How the chain derives deposit addresses, and how long one stays watched after its order
   * expires. Unset: orders are paid through the contract only (no deposit address).
   */
  deposits?: { derivation: DepositDerivation; watchAfterExpirySeconds: number } | undefined;
}

export interface OrderServiceDeps {
  db: Db;
  /** The configured chains; the first is the default. */
  chains: readonly OrderChain[];
  orderTtlSeconds: number;
  anonymousMaxCents: bigint;
  /** CALLBACK_ALLOW_PRIVATE: accept callbacks to private hosts (local development, tests). */
  allowPrivateCallbacks?: boolean;
  /** QUOTE_DECIMALS: quotes are rounded up to this many decimals (default 8). */
  quoteDecimals?: number;
  /** CURRENCIES: the fiat currencies orders may be priced in (lower case); default usd only. */
  currencies?: readonly string[];
}

/** The fiat side of a quote: the amount in its currency's minor units and its locked USD rate. */
export interface FiatAmount {
  currency: string;
  /** The amount in minor units (cents) of `currency`. */
  minor: bigint;
  /** Digits of the minor unit (2 for EUR, 0 for JPY). */
  digits: number;
  /** USD per one unit of `currency`: rate / 10^rateDecimals (USD: 1, 0 decimals). */
  rate: bigint;
  rateDecimals: number;
  /** Where the rate came from; null for USD. */
  rateSource: string | null;
}

/**
 * The smallest units of a token owed for `fiat` at `price / 10^priceDecimals` USD per whole token:
 * ceil(minor × rate × 10^(tokenDecimals + priceDecimals) / (10^digits × 10^rateDecimals × price)),
 * one division, so the merchant never gets less than the amount at the locked rates.
 */
export function fiatQuoteAmount(
  fiat: FiatAmount,
  price: bigint,
  priceDecimals: number,
  tokenDecimals: number,
) {
  if (price <= 0n || fiat.rate <= 0n) throw new RangeError("rates must be positive");
  return ceilDiv(
    fiat.minor * fiat.rate * 10n ** BigInt(tokenDecimals + priceDecimals),
    10n ** BigInt(fiat.digits + fiat.rateDecimals) * price,
  );
}

/** An order's amount with the fiat rate it locked (a USD order: rate 1). */
export function orderFiatAmount(order: OrderRow): FiatAmount {
  const currency = order.currency ?? "usd";
  const minor = parseFiatAmount(order.currency_amount, currency);
  if (minor === undefined)
    throw new Error(`order ${order.id} has an unreadable amount ${order.currency_amount}`);
  return {
    currency,
    minor,
    digits: minorUnits(currency),
    rate: BigInt(order.fiat_rate ?? "1"),
    rateDecimals: order.fiat_rate_decimals ?? 0,
    rateSource: order.fiat_rate_source ?? null,
  };
}

/**
 * The USD value of `fiat` in cents, rounded down, up or half up. Limits compare exactly through
 * it: "under $5.00" holds when the value rounded down is under 500 cents, "up to $30.00" when the
 * value rounded up is at most 3000.
 */
export function fiatUsdCents(fiat: FiatAmount, rounding: "floor" | "ceil" | "half-up"): bigint {
  const numerator = fiat.minor * fiat.rate * 100n;
  const denominator = 10n ** BigInt(fiat.digits + fiat.rateDecimals);
  if (rounding === "floor") return numerator / denominator;
  if (rounding === "ceil") return ceilDiv(numerator, denominator);
  return (numerator * 2n + denominator) / (2n * denominator);
}

const PEG_DECIMALS = 8;
const DEFAULT_PEG = { maxDeviationPpm: 20_000n, policy: "quote" as const };

/**
 * Where an order's price came from (the order's `price_source`): "feed" (a Chainlink feed: ETH/USD,
 * or a stablecoin's own USD feed when it is off its peg by more than PEG_MAX_DEVIATION), "static"
 * (ETH_USD_PRICE), "peg" (a token at its peg: its feed, if it has one, within PEG_MAX_DEVIATION),
 * "rates" (RATE_SOURCES: an exchange ticker, or the median of several sources).
 */
export type PriceSourceKind = "feed" | "static" | "peg" | "rates";

/** The kind of a rate's source name ("static", "chainlink:0x…", "coinbase", "median(…)"). */
const kindOf = (source: string): PriceSourceKind =>
  source === "static" ? "static" : source.startsWith("chainlink") ? "feed" : "rates";

/** `value` at `from` decimals, at `to` decimals (rounded down). */
const rescale = (value: bigint, from: number, to: number): bigint =>
  to >= from ? value * 10n ** BigInt(to - from) : value / 10n ** BigInt(from - to);

/** "0.9700" from 97000000 at 8 decimals: a USD price for a message. */
const usd = (value: bigint, decimals: number): string => {
  const cents4 = rescale(value, decimals, 4);
  return `${cents4 / 10_000n}.${(cents4 % 10_000n).toString().padStart(4, "0")}`;
};

export function parseMerchantAddress(value: string): `0x${string}` {
  if (!/^0x[0-9a-fA-F]{40}$/.test(value)) {
    throw badRequest("address must be a 0x-prefixed Ethereum address of 40 hex digits", "invalid_address");
  }
  if (!isAddress(value, { strict: true })) {
    throw badRequest(
      `address ${value} has an invalid EIP-55 checksum: check it for typos, or send it all lowercase`,
      "invalid_address_checksum",
    );
  }
  const checksummed = getAddress(value);
  if (BigInt(checksummed) === 0n) throw badRequest("address must not be the zero address", "invalid_address");
  return checksummed;
}

export function createOrderService(deps: OrderServiceDeps) {
  const { db } = deps;
  const defaultChain = deps.chains[0];
  if (!defaultChain) throw new Error("createOrderService: no chain configured");
  const precision = deps.quoteDecimals ?? 8;

  /** A configured chain by name or id (the default when unset). */
  const chainOf = (wanted: string | undefined): OrderChain => selectChain(deps.chains, wanted);

  const currencies = deps.currencies ?? ["usd"];

  /** `currency` as enabled (CURRENCIES), lower case; a 400 listing the enabled ones otherwise. */
  function currencyOf(wanted: string | undefined): string {
    const currency = (wanted ?? "usd").toLowerCase();
    if (!currencies.includes(currency)) {
      throw badRequest(
        `currency ${wanted} is not accepted here; use one of ${currencies.join(", ")}`,
        "unsupported_currency",
      );
    }
    return currency;
  }

  /** The locked USD rate of `currency` from the chain's rate sources (503 rate_unavailable naming the pair). */
  async function fiatAmount(currency: string, minor: bigint, chain: OrderChain): Promise<FiatAmount> {
    const digits = minorUnits(currency);
    if (currency === "usd") return { currency, minor, digits, rate: 1n, rateDecimals: 0, rateSource: null };
    if (!chain.rates) {
      throw unavailable(
        `no rate source prices ${currency.toUpperCase()}/USD on ${chain.name}`,
        "rate_unavailable",
      );
    }
    const rate = await chain.rates.quote(`${currency.toUpperCase()}/USD`);
    return {
      currency,
      minor,
      digits,
      rate: rate.value,
      rateDecimals: rate.decimals,
      rateSource: rate.source,
    };
  }

  /** The native coin's USD price: the chain's rates when it has them, else its price source. */
  async function nativePrice(chain: OrderChain) {
    if (!chain.rates) return await chain.prices.ethUsd();
    return await chain.rates.quote(`${(chain.nativeSymbol ?? "ETH").toUpperCase()}/USD`);
  }

  async function quote(
    amount: FiatAmount,
    tokenSymbol: string | undefined,
    chain: OrderChain = defaultChain as OrderChain,
  ) {
    if (tokenSymbol === undefined || tokenSymbol.toUpperCase() === "ETH") {
      const price = await nativePrice(chain);
      return {
        token: ETH_TOKEN as string,
        symbol: "ETH",
        decimals: 18,
        price: price.value,
        priceDecimals: price.decimals,
        priceSource: kindOf(price.source),
        expected: roundUpToPrecision(fiatQuoteAmount(amount, price.value, price.decimals, 18), 18, precision),
      };
    }
    const token = chain.tokens.find((t) => t.symbol === tokenSymbol.toUpperCase());
    if (!token) {
      const known = ["ETH", ...chain.tokens.map((t) => t.symbol)].join(", ");
      const where = deps.chains.length > 1 ? `on ${chain.name}` : "here";
      throw badRequest(
        `token ${tokenSymbol} is not accepted ${where}; use one of ${known}`,
        "unsupported_token",
      );
    }
    const peg = parseDecimal(token.usdPeg, PEG_DECIMALS);
    let price = peg;
    let priceSource: PriceSourceKind = "peg";
    // A token with a USD feed (judged against its own heartbeat: stale or unreachable is a 503) is
    // quoted at its peg while the feed is within PEG_MAX_DEVIATION of it.
    const feed = await chain.prices.tokenUsd?.(token.address as `0x${string}`);
    if (feed) {
      const policy = chain.peg ?? DEFAULT_PEG;
      const market = rescale(feed.value, feed.decimals, PEG_DECIMALS);
      const gap = market > peg ? market - peg : peg - market;
      if (peg > 0n && gap * 1_000_000n > peg * policy.maxDeviationPpm) {
        const limit = `${Number(policy.maxDeviationPpm) / 10_000}%`;
        if (policy.policy === "refuse" || market <= 0n) {
          throw unavailable(
            `${token.symbol} is off its peg: its USD feed says $${usd(market, PEG_DECIMALS)}, more than PEG_MAX_DEVIATION (${limit}) from $${usd(peg, PEG_DECIMALS)}, ` +
              `so ${token.symbol} orders are refused (PEG_POLICY=refuse); pay in ETH or another token, or try again once it is back on its peg`,
            "token_off_peg",
          );
        }
        price = market;
        priceSource = "feed";
      }
    }
    return {
      token: token.address.toLowerCase(),
      symbol: token.symbol,
      decimals: token.decimals,
      price,
      priceDecimals: PEG_DECIMALS,
      priceSource,
      expected: roundUpToPrecision(
        fiatQuoteAmount(amount, price, PEG_DECIMALS, token.decimals),
        token.decimals,
        precision,
      ),
    };
  }

  /**
   * Creates an order; `terminalKeyId` records the point-of-sale terminal key that asked (its
   * session reads only such orders, see get).
   */
  async function create(
    input: CreateOrderInput,
    merchant: Merchant | null,
    terminalKeyId: bigint | null = null,
  ): Promise<OrderRow> {
    const currency = currencyOf(input.currency);
    const minor = parseFiatAmount(input.amount, currency);
    if (minor === undefined || minor <= 0n) {
      const digits = minorUnits(currency);
      const code = currency.toUpperCase();
      throw badRequest(
        digits === 0
          ? `amount must be a whole ${code} number greater than 0, like "1500"`
          : `amount must be a ${code} decimal string greater than 0 with at most ${digits} decimals, like "13.54"`,
        "invalid_amount",
      );
    }
    const merchantAddress = parseMerchantAddress(input.address);
    const callback = parseCallbackUrl(input.callback, deps.allowPrivateCallbacks ?? false);
    const itemImage =
      input.item_image === undefined ? undefined : parseHttpUrl(input.item_image, "item_image");
    const returnUrl =
      input.return_url === undefined ? undefined : parseHttpUrl(input.return_url, "return_url");
    // Plan limits and the anonymous threshold are in USD: another currency converts at the locked rate.
    const chain = chainOf(input.chain);
    const fiat = await fiatAmount(currency, minor, chain);
    const usdCents = fiatUsdCents(fiat, "half-up");
    const inUsd =
      currency === "usd"
        ? ""
        : ` (${input.amount} ${currency.toUpperCase()} is $${formatUsdCents(usdCents)} at the locked rate)`;
    if (!merchant && fiatUsdCents(fiat, "floor") >= deps.anonymousMaxCents) {
      throw unauthorized(
        `orders of $${formatUsdCents(deps.anonymousMaxCents)} or more need an API key in the Authorization header${inUsd}`,
      );
    }
    if (merchant) {
      const plan = PLANS[merchant.plan];
      if (!planAllowsAmount(plan, fiatUsdCents(fiat, plan.maxAmountInclusive ? "ceil" : "floor"))) {
        throw forbidden(
          `the ${plan.label} plan allows orders ${planAmountLimitText(plan)}${inUsd}; upgrade the plan for larger orders`,
          "plan_max_amount",
        );
      }
    }
    const failure = chain.failure();
    if (failure !== null) {
      throw unavailable(
        `payments on ${chain.name} (chain ${chain.chainId}) are not being followed right now (${failure}), ` +
          "so this order could never be seen paid; try again later or use another chain",
        "chain_unavailable",
      );
    }
    // An L2 whose sequencer is down (or only just back) could not include the payment in time.
    await chain.sequencer?.check();
    const q = await quote(fiat, input.token, chain);
    if (q.expected <= 0n) throw badRequest("amount is too small to price", "invalid_amount");

    const order: NewOrder = {
      id: 0n,
      merchantId: merchant?.id ?? null,
      chainId: chain.chainId,
      payTo: chain.contract.toLowerCase(),
      depositAddress: null,
      reference: "",
      merchantAddress: merchantAddress.toLowerCase(),
      token: q.token,
      tokenSymbol: q.symbol,
      tokenDecimals: q.decimals,
      currencyAmount: formatFiatAmount(minor, currency),
      usdCents,
      currency,
      fiatRate: fiat.rate,
      fiatRateDecimals: fiat.rateDecimals,
      fiatRateSource: fiat.rateSource,
      expectedAmount: q.expected,
      price: q.price,
      priceDecimals: q.priceDecimals,
      priceSource: q.priceSource,
      callback,
      itemTitle: input.item_title ?? null,
      itemDescription: input.item_description ?? null,
      itemImage: itemImage ?? null,
      returnUrl: returnUrl ?? null,
      terminalKeyId,
      ttlSeconds: deps.orderTtlSeconds,
    };
    // One statement, one round trip, no explicit transaction. Ids are random 53-bit numbers; a
    // collision is a unique violation that rolls the whole statement back (the daily slot too),
    // and we try again with a new id.
    // With a deposit address, the order and its watched address are written in one transaction.
    const deposits = chain.deposits;
    const insert = async (tx: Queryable): Promise<OrderRow> => {
      if (deposits) {
        await registerDepositAddress(tx, {
          chainId: chain.chainId,
          address: order.depositAddress as string,
          merchant: order.merchantAddress,
          orderRef: order.reference,
          token: q.token,
          watchSeconds: deps.orderTtlSeconds + deposits.watchAfterExpirySeconds,
        });
      }
      if (!merchant) return await insertOrder(tx, order);
      const plan = PLANS[merchant.plan];
      const row = await insertOrderWithDailySlot(
        tx,
        { ...order, merchantId: merchant.id },
        plan.dailyTransactions,
      );
      if (row) return row;
      throw tooManyRequests(
        `the ${plan.label} plan allows ${plan.dailyTransactions} orders per day (UTC); the limit resets at midnight UTC`,
        "plan_daily_limit",
      );
    };
    for (let attempt = 0; ; attempt++) {
      order.id = newOrderId();
      order.reference = newOrderReference();
      if (deposits) {
        order.depositAddress = depositAddress(
          deposits.derivation,
          order.merchantAddress,
          order.reference as `0x${string}`,
        );
      }
      try {
        return deposits ? await db.transaction(insert) : await insert(db);
      } catch (error) {
        const pg = error as { code?: string; constraint?: string };
        if (pg.code === "23505" && pg.constraint === "orders_pkey" && attempt < 5) continue;
        throw error;
      }
    }
  }

  /**
   * An order by id: a merchant sees only its own; anyone may read an anonymous order by id. A
   * point-of-sale terminal (`terminalKeyId`) sees only the orders its key created.
   */
  async function get(
    id: bigint,
    merchant: Merchant | null,
    terminalKeyId: bigint | null = null,
  ): Promise<OrderRow> {
    const row = await findOrder(db, id);
    if (
      !row ||
      (row.merchant_id !== null && row.merchant_id !== merchant?.id) ||
      (terminalKeyId !== null && row.terminal_key_id !== terminalKeyId)
    ) {
      throw notFound(`order ${id} was not found`, "order_not_found");
    }
    return row;
  }

  /**
   * One of the merchant's own orders by its on-chain reference (what `pay` and `refund` name). An
   * anonymous order is nobody's here: a reference is public chain data, and must not open an order.
   */
  async function getByReference(reference: string, merchant: Merchant): Promise<OrderRow> {
    const row = /^0x[0-9a-fA-F]{64}$/.test(reference) ? await findOrderByReference(db, reference) : undefined;
    if (!row || row.merchant_id !== merchant.id) {
      throw notFound(`no order of this account has the reference ${reference}`, "order_not_found");
    }
    return row;
  }

  /** Keyset pagination, newest first; the cursor is the last row's (created_at, id). */
  async function list(
    merchant: Merchant,
    status: OrderStatus | undefined,
    limit: number,
    cursor: string | undefined,
  ) {
    const rows = await listMerchantOrders(db, merchant.id, {
      status,
      limit: limit + 1,
      ...(cursor ? { before: decodeCursor(cursor) } : {}),
    });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const next = rows.length > limit && last ? encodeCursor(last.created_at, last.id) : null;
    return { orders: page, nextCursor: next };
  }

  return { create, get, getByReference, list, quote };
}

export type OrderService = ReturnType<typeof createOrderService>;

function encodeCursor(createdAt: Date, id: bigint): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`).toString("base64url");
}

function decodeCursor(cursor: string): { createdAt: string; id: string } {
  const text = Buffer.from(cursor, "base64url").toString("utf8");
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\|(\d{1,16})$/.exec(text);
  if (!match?.[1] || !match[2])
    throw badRequest("cursor is not valid; pass the next_cursor of the previous page", "invalid_cursor");
  return { createdAt: match[1], id: match[2] };
}
