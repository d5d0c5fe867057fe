import { getAddress } from "viem";
import { ETH_TOKEN } from "../chain/abi.ts";
import type { Db } from "../db/types.ts";
import { depositAddress } from "../deposits/address.ts";
import { registerDepositAddress } from "../deposits/repository.ts";
import { badRequest, unavailable } from "../lib/errors.ts";
import { formatDecimal, parseDecimal, roundUpToPrecision } from "../lib/money.ts";
import type { Merchant } from "../merchants/service.ts";
import {
  fiatQuoteAmount,
  orderFiatAmount,
  type CreateOrderInput,
  type FiatAmount,
  type OrderChain,
  type OrderService,
} from "../orders/service.ts";
import type { OrderRow } from "../orders/serialize.ts";
import { cursorHeads, defaultMethodOf, seenPayments } from "./payments.ts";
import { insertOrderMethods, methodsOfOrders, type OrderMethodRow } from "./repository.ts";
import type { LockedRate } from "./state.ts";
import { utxoUri, type UtxoMethods } from "./utxo.ts";
import type { UtxoMethodConfig } from "../config/payment-methods.ts";
import { deleteMerchantXpub, merchantXpubs, saveMerchantXpub } from "./utxo-repository.ts";

/** A way to pay that the server offers: a coin on an EVM chain, or a UTXO coin. */
export type MethodSpec =
  | {
      kind: "evm";
      /** "ETH@31337", "USDC@8453". */
      id: string;
      chain: OrderChain;
      /** "ETH" or an allowlisted token's symbol. */
      symbol: string;
    }
  | {
      kind: "utxo";
      /** "LTC". */
      id: string;
      coin: UtxoMethodConfig;
      symbol: string;
    };

/** A method's rate, locked for one order, and what the whole order costs in it. */
export interface MethodQuote extends LockedRate {
  token: string;
  decimals: number;
  priceSource: string;
  /** The order's amount in this method, smallest units (rounded up to QUOTE_DECIMALS). */
  expected: bigint;
}

/** `POST /order`'s body with the methods it may be paid by. */
export interface CreateOrderWithMethods extends CreateOrderInput {
  /** Method ids ("USDC@31337", or "USDC@base" by chain name); default: every method offered. */
  methods?: string[] | undefined;
}

/** One method of an order as GET /order/:id lists it (`payment_methods`). */
export interface PaymentMethodJson {
  method: string;
  /** The EVM chain; null for a UTXO coin. */
  chain_id: number | null;
  token: string;
  address: string;
  /** The whole order in this method (decimal). */
  amount: string;
  /** The locked rate: USD per whole coin (decimal). */
  rate: string;
  price_source: string;
  payment_uri: string;
  qr_code: string;
  /** What this method has received (decimal). */
  amount_paid: string;
  /** "unpaid" (nothing seen), "seen" (waiting for confirmations or its sweep), "final". */
  status: "unpaid" | "seen" | "final";
  /** The order's default method: the seed's fields (address, expected_amount, eth_price, qr_code). */
  default: boolean;
}

export interface PaymentMethodsDeps {
  db: Db;
  /** The configured chains, the default first (as the order service has them). */
  chains: readonly OrderChain[];
  orders: Pick<OrderService, "create" | "quote">;
  orderTtlSeconds: number;
  /** Each chain's CONFIRMATIONS (the order state providers' registry). */
  confirmations: ReadonlyMap<bigint, number>;
  publicUrl: string;
  /** UTXO coins (PAY_<COIN>_RPC_URL), when any is configured. */
  utxo?: UtxoMethods | undefined;
  /** QUOTE_DECIMALS (default 8). */
  quoteDecimals?: number | undefined;
}

const methodId = (symbol: string, chainId: bigint) => `${symbol.toUpperCase()}@${chainId}`;

/**
 * One order, every way to pay: `createOrder` makes the order (its default method, as before) and
 * gives it each other method the server offers (or those asked for), each with its own address
 * and a rate locked now; `describe` lists them for GET /order/:id.
 */
export function createPaymentMethods(deps: PaymentMethodsDeps) {
  const { db } = deps;

  /**
   * Every method offered: ETH and each token on each chain that has deposit addresses, and each
   * configured UTXO coin for which the merchant registered an xpub.
   */
  async function available(merchantId: bigint | null): Promise<MethodSpec[]> {
    const evm = deps.chains
      .filter((c) => c.deposits !== undefined)
      .flatMap((chain) =>
        ["ETH", ...chain.tokens.map((t) => t.symbol)].map((symbol): MethodSpec => ({
          kind: "evm",
          id: methodId(symbol, chain.chainId),
          chain,
          symbol,
        })),
      );
    const coins = deps.utxo?.coins() ?? [];
    if (merchantId === null || coins.length === 0) return evm;
    const registered = new Set((await merchantXpubs(db, merchantId)).map((x) => x.coin));
    const utxo = coins
      .filter((c) => registered.has(c.coin))
      .map((coin): MethodSpec => ({ kind: "utxo", id: coin.coin, coin, symbol: coin.coin }));
    return [...evm, ...utxo];
  }

  /** The methods named by `ids` ("USDC@31337", "usdc@base"), in that order; 400 for one not offered. */
  async function resolve(ids: readonly string[], merchantId: bigint | null): Promise<MethodSpec[]> {
    const offered = await available(merchantId);
    const result: MethodSpec[] = [];
    for (const raw of ids) {
      const coin = offered.find((m) => m.kind === "utxo" && m.id === raw.trim().toUpperCase());
      if (coin) {
        if (!result.some((m) => m.id === coin.id)) result.push(coin);
        continue;
      }
      const match = /^([A-Za-z0-9.]{2,11})@([A-Za-z0-9_-]{1,40})$/.exec(raw.trim());
      const chain = match
        ? deps.chains.find((c) => c.chainId.toString() === match[2] || c.name === match[2]?.toLowerCase())
        : undefined;
      const spec =
        match && chain
          ? offered.find((m) => m.id === methodId(match[1] as string, chain.chainId))
          : undefined;
      if (!spec) {
        throw badRequest(
          `payment method ${raw} is not offered; use one of ${offered.map((m) => m.id).join(", ")} (COIN@chain id or name; ` +
            "a UTXO coin such as LTC once the merchant registered its xpub with PUT /user/xpubs/:coin)",
          "unsupported_method",
        );
      }
      if (!result.some((m) => m.id === spec.id)) result.push(spec);
    }
    return result;
  }

  /**
   * The rate of `method` for an order of `fiat` (its amount and locked fiat rate), locked now: the
   * chain's ETH/USD rate, or the token's peg (and feed), as the order service prices its own orders.
   */
  async function lockRate(method: MethodSpec, fiat: FiatAmount): Promise<MethodQuote> {
    if (method.kind === "utxo") {
      // PAY_<COIN>_USD_PRICE until the rate sources quote the coin's pair.
      const price = parseDecimal(method.coin.usdPrice, 8);
      return {
        token: method.coin.coin,
        decimals: 8,
        price,
        priceDecimals: 8,
        priceSource: "static",
        expected: roundUpToPrecision(fiatQuoteAmount(fiat, price, 8, 8), 8, deps.quoteDecimals ?? 8),
      };
    }
    const q = await deps.orders.quote(fiat, method.symbol, method.chain);
    return {
      token: q.token,
      decimals: q.decimals,
      price: q.price,
      priceDecimals: q.priceDecimals,
      priceSource: q.priceSource,
      expected: q.expected,
    };
  }

  async function createOrder(
    input: CreateOrderWithMethods,
    merchant: Merchant | null,
    terminalKeyId: bigint | null = null,
  ): Promise<OrderRow> {
    const { methods: ids, ...orderInput } = input;
    const merchantId = merchant?.id ?? null;
    const requested = ids === undefined ? undefined : await resolve(ids, merchantId);
    if (requested && requested.length === 0) {
      throw badRequest("methods must name at least one payment method, or be left out", "unsupported_method");
    }
    // Without token and chain, the first method asked for is the order's default.
    const first = requested?.find((m) => m.kind === "evm");
    if (first && orderInput.token === undefined && orderInput.chain === undefined) {
      orderInput.token = first.symbol;
      orderInput.chain = first.chain.chainId.toString();
    }
    if (requested) {
      const [wanted] = await resolve(
        [`${orderInput.token ?? "ETH"}@${orderInput.chain ?? deps.chains[0]?.chainId}`],
        merchantId,
      );
      if (wanted && !requested.some((m) => m.id === wanted.id)) {
        throw badRequest(
          `token and chain choose ${wanted.id}, which methods leaves out; add it to methods or drop token and chain`,
          "unsupported_method",
        );
      }
    }
    const order = await deps.orders.create(orderInput, merchant, terminalKeyId);
    await attach(order, requested);
    return order;
  }

  /** Gives a new order its other methods: an address and a locked rate each. */
  async function attach(order: OrderRow, requested: MethodSpec[] | undefined): Promise<void> {
    if (order.deposit_address === null || order.reference === null) return;
    // In the order's currency at the fiat rate it locked (an EUR order's methods use the same EUR/USD).
    const fiat = orderFiatAmount(order);
    const primary = defaultMethodOf(order, []);
    const rows: OrderMethodRow[] = [{ ...primary, method: methodId(order.token_symbol, order.chain_id) }];
    const addresses: { chainId: bigint; address: string }[] = [];
    for (const spec of requested ?? (await available(order.merchant_id))) {
      if (spec.id === rows[0]?.method) continue;
      if (spec.kind === "utxo") {
        if (order.merchant_id === null || !deps.utxo) continue;
        let address: string | undefined;
        let quote: MethodQuote;
        try {
          quote = await lockRate(spec, fiat);
          address = await deps.utxo.newAddress(order.merchant_id, spec.coin.coin);
        } catch (error) {
          // The coin's node is down: a method asked for by name must be there; one offered by default is left out.
          if (requested)
            throw unavailable(`${spec.id} cannot take payments right now (${(error as Error).message})`);
          continue;
        }
        if (address === undefined) continue;
        rows.push({
          orderId: order.id,
          method: spec.id,
          position: rows.length,
          chainId: null,
          token: spec.coin.coin,
          symbol: spec.symbol,
          decimals: quote.decimals,
          address,
          expectedAmount: quote.expected,
          price: quote.price,
          priceDecimals: quote.priceDecimals,
          priceSource: quote.priceSource,
        });
        continue;
      }
      const failure = spec.chain.failure();
      let quote: MethodQuote;
      try {
        if (failure !== null) throw unavailable(`${spec.chain.name} is not followed right now (${failure})`);
        quote = await lockRate(spec, fiat);
      } catch (error) {
        // A method asked for by name must be there; one offered by default is left out while it cannot be priced.
        if (requested) throw error;
        continue;
      }
      const derivation = spec.chain.deposits?.derivation;
      if (!derivation) continue;
      const address =
        spec.chain.chainId === order.chain_id
          ? order.deposit_address
          : depositAddress(derivation, order.merchant_address, order.reference as `0x${string}`);
      if (spec.chain.chainId !== order.chain_id && !addresses.some((a) => a.chainId === spec.chain.chainId)) {
        addresses.push({ chainId: spec.chain.chainId, address });
      }
      rows.push({
        orderId: order.id,
        method: spec.id,
        position: rows.length,
        chainId: spec.chain.chainId,
        token: quote.token,
        symbol: spec.symbol,
        decimals: quote.decimals,
        address,
        expectedAmount: quote.expected,
        price: quote.price,
        priceDecimals: quote.priceDecimals,
        priceSource: quote.priceSource,
      });
    }
    if (rows.length === 1) return;
    await db.transaction(async (tx) => {
      for (const a of addresses) {
        const chain = deps.chains.find((c) => c.chainId === a.chainId);
        await registerDepositAddress(tx, {
          chainId: a.chainId,
          address: a.address,
          merchant: order.merchant_address,
          orderRef: order.reference as string,
          token: ETH_TOKEN,
          watchSeconds: deps.orderTtlSeconds + (chain?.deposits?.watchAfterExpirySeconds ?? 0),
        });
      }
      await insertOrderMethods(tx, rows);
    });
  }

  /** The order's methods with what each has received, default first (none for an order without). */
  async function describe(order: OrderRow): Promise<PaymentMethodJson[]> {
    const methods = (await methodsOfOrders(db, [order.id])).get(order.id) ?? [];
    if (methods.length === 0) return [];
    const seen = (await seenPayments(db, methods, cursorHeads(deps.confirmations))).get(order.id) ?? [];
    return methods.map((m) => {
      const mine = seen.filter((p) => p.method === m.method);
      const paid = mine.reduce((sum, p) => sum + p.amount, 0n);
      return {
        method: m.method,
        chain_id: m.chainId === null ? null : Number(m.chainId),
        token: m.symbol,
        address: m.chainId === null ? m.address : getAddress(m.address),
        amount: formatDecimal(m.expectedAmount, m.decimals),
        rate: formatDecimal(m.price, m.priceDecimals, 2),
        price_source: m.priceSource,
        payment_uri: paymentUri(m),
        qr_code: `${deps.publicUrl}/order/${order.id}/methods/${encodeURIComponent(m.method)}/qr.svg`,
        amount_paid: formatDecimal(paid, m.decimals),
        status: mine.length === 0 ? "unpaid" : mine.every((p) => p.confirmed && p.swept) ? "final" : "seen",
        default: m.position === 0,
      };
    });
  }

  /** The payment URI of one of an order's methods (its QR code), or undefined when it has no such method. */
  async function qrUri(orderId: bigint, method: string): Promise<string | undefined> {
    const m = (await methodsOfOrders(db, [orderId])).get(orderId)?.find((x) => x.method === method);
    return m ? paymentUri(m) : undefined;
  }

  /** Registers (or replaces) the merchant's xpub for a UTXO coin, checked for the coin's network. */
  async function setXpub(merchantId: bigint, coin: string, xpub: string) {
    if (!deps.utxo) {
      throw badRequest(
        `${coin.toUpperCase()} is not a payment method here: the operator sets PAY_${coin.toUpperCase()}_RPC_URL to offer it`,
        "unsupported_method",
      );
    }
    const key = deps.utxo.validateXpub(coin, xpub);
    await saveMerchantXpub(db, merchantId, coin.toUpperCase(), key);
    const saved = (await merchantXpubs(db, merchantId)).find((x) => x.coin === coin.toUpperCase());
    return { coin: coin.toUpperCase(), xpub: key, next_index: saved?.nextIndex ?? 0 };
  }
  const xpubs = async (merchantId: bigint) =>
    (await merchantXpubs(db, merchantId)).map((x) => ({
      coin: x.coin,
      xpub: x.xpub,
      next_index: x.nextIndex,
    }));
  const deleteXpub = (merchantId: bigint, coin: string) =>
    deleteMerchantXpub(db, merchantId, coin.toUpperCase());

  return { available, resolve, lockRate, createOrder, describe, qrUri, setXpub, xpubs, deleteXpub };
}

export type PaymentMethodsService = ReturnType<typeof createPaymentMethods>;

/** What a wallet reads from a method's QR code: EIP-681 on an EVM chain, BIP21 for a UTXO coin. */
export function paymentUri(m: OrderMethodRow): string {
  if (m.chainId === null) return utxoUri(m.token, m.address, formatDecimal(m.expectedAmount, m.decimals));
  return transferUri(m);
}

/**
 * The EIP-681 plain transfer of the whole order in a method (as server/src/web/payment-uri.ts
 * writes the default method's):
 *   ETH:    ethereum:<address>@<chainId>?value=<wei>
 *   tokens: ethereum:<token>@<chainId>/transfer?address=<address>&uint256=<units>
 */
export function transferUri(
  m: Pick<OrderMethodRow, "address" | "chainId" | "token" | "expectedAmount">,
): string {
  const to = getAddress(m.address);
  if (BigInt(m.token) === 0n) return `ethereum:${to}@${m.chainId}?value=${m.expectedAmount}`;
  return `ethereum:${getAddress(m.token)}@${m.chainId}/transfer?address=${to}&uint256=${m.expectedAmount}`;
}
