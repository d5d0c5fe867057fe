import { getAddress } from "viem";
import { ETH_TOKEN } from "../chain/abi.ts";
import type { Db } from "../db/types.ts";
import { depositAddress } from "../deposits/address.ts";
import { registerDepositAddress } from "../deposits/repository.ts";
import { badRequest, unavailable } from "../lib/errors.ts";
import { formatDecimal, parseUsdCents } from "../lib/money.ts";
import type { Merchant } from "../merchants/service.ts";
import type { CreateOrderInput, OrderChain, OrderService } from "../orders/service.ts";
import type { OrderRow } from "../orders/serialize.ts";
import { cursorHeads, defaultMethodOf, seenPayments } from "./payments.ts";
import { insertOrderMethods, methodsOfOrders, type OrderMethodRow } from "./repository.ts";
import type { LockedRate } from "./state.ts";

/** A way to pay that the server offers: a coin on a chain. */
export interface MethodSpec {
  /** "ETH@31337", "USDC@8453". */
  id: string;
  chain: OrderChain;
  /** "ETH" or an allowlisted token's symbol. */
  symbol: string;
}

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
  chain_id: number;
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
}

const methodId = (symbol: string, chainId: bigint) => `${symbol.toUpperCase()}@${chainId}`;

/**
 * One order, every way to pay: `createOrder` makes the order (its default method, as before) and
 * gives it each other method the server offers (or those asked for), each with its own address
 * and a rate locked now; `describe` lists them for GET /order/:id.
 */
export function createPaymentMethods(deps: PaymentMethodsDeps) {
  const { db } = deps;

  /** Every method offered: ETH and each token on each chain that has deposit addresses. */
  function available(): MethodSpec[] {
    return deps.chains
      .filter((c) => c.deposits !== undefined)
      .flatMap((chain) =>
        ["ETH", ...chain.tokens.map((t) => t.symbol)].map((symbol) => ({
          id: methodId(symbol, chain.chainId),
          chain,
          symbol,
        })),
      );
  }

  /** The methods named by `ids` ("USDC@31337", "usdc@base"), in that order; 400 for one not offered. */
  function resolve(ids: readonly string[]): MethodSpec[] {
    const offered = available();
    const result: MethodSpec[] = [];
    for (const raw of ids) {
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
          `payment method ${raw} is not offered; use one of ${offered.map((m) => m.id).join(", ")} (COIN@chain id or name)`,
          "unsupported_method",
        );
      }
      if (!result.some((m) => m.id === spec.id)) result.push(spec);
    }
    return result;
  }

  /**
   * The rate of `method` for an order of `usdCents`, locked now: the chain's ETH/USD price source,
   * or the token's peg (and feed), as the order service prices its own orders.
   */
  async function lockRate(method: MethodSpec, usdCents: bigint): Promise<MethodQuote> {
    const q = await deps.orders.quote(usdCents, method.symbol, method.chain);
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
    const requested = ids === undefined ? undefined : resolve(ids);
    if (requested && requested.length === 0) {
      throw badRequest("methods must name at least one payment method, or be left out", "unsupported_method");
    }
    // Without token and chain, the first method asked for is the order's default.
    const first = requested?.[0];
    if (first && orderInput.token === undefined && orderInput.chain === undefined) {
      orderInput.token = first.symbol;
      orderInput.chain = first.chain.chainId.toString();
    }
    if (requested) {
      const wanted = resolve([
        `${orderInput.token ?? "ETH"}@${orderInput.chain ?? deps.chains[0]?.chainId}`,
      ])[0];
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
    const usdCents = parseUsdCents(order.currency_amount) ?? BigInt(order.usd_cents);
    const primary = defaultMethodOf(order, []);
    const rows: OrderMethodRow[] = [{ ...primary, method: methodId(order.token_symbol, order.chain_id) }];
    const addresses: { chainId: bigint; address: string }[] = [];
    for (const spec of requested ?? available()) {
      if (spec.id === rows[0]?.method) continue;
      const failure = spec.chain.failure();
      let quote: MethodQuote;
      try {
        if (failure !== null) throw unavailable(`${spec.chain.name} is not followed right now (${failure})`);
        quote = await lockRate(spec, usdCents);
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
        chain_id: Number(m.chainId),
        token: m.symbol,
        address: getAddress(m.address),
        amount: formatDecimal(m.expectedAmount, m.decimals),
        rate: formatDecimal(m.price, m.priceDecimals, 2),
        price_source: m.priceSource,
        payment_uri: transferUri(m),
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
    return m ? transferUri(m) : undefined;
  }

  return { available, resolve, lockRate, createOrder, describe, qrUri };
}

export type PaymentMethodsService = ReturnType<typeof createPaymentMethods>;

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
