import { getAddress, isAddress } from "viem";
import { ETH_TOKEN } from "../chain/abi.ts";
import type { TokenConfig } from "../config/index.ts";
import type { Db } from "../db/types.ts";
import { badRequest, forbidden, notFound, tooManyRequests, unauthorized } from "../lib/errors.ts";
import { formatUsdCents, parseDecimal, parseUsdCents, quoteAmount } from "../lib/money.ts";
import { parseHttpUrl } from "../lib/url.ts";
import { PLANS } from "../merchants/plans.ts";
import type { Merchant } from "../merchants/service.ts";
import type { PriceSource } from "../pricing/index.ts";
import { newOrderId } from "./ids.ts";
import type { OrderRow } from "./serialize.ts";
import type { OrderStatus } from "./state.ts";

export interface CreateOrderInput {
  amount: string;
  address: string;
  callback: string;
  item_title?: string | undefined;
  item_description?: string | undefined;
  item_image?: string | undefined;
  token?: string | undefined;
}

export interface OrderServiceDeps {
  db: Db;
  prices: PriceSource;
  chainId: bigint;
  contract: `0x${string}`;
  tokens: readonly TokenConfig[];
  orderTtlSeconds: number;
  anonymousMaxCents: bigint;
}

const PEG_DECIMALS = 8;

const INSERT_ORDER = `INSERT INTO orders (id, merchant_id, chain_id, pay_to, merchant_address, token, token_symbol,
  token_decimals, currency_amount, usd_cents, expected_amount, price, price_decimals, callback, item_title,
  item_description, item_image, expires_at)`;
const ORDER_VALUES = `$1::int8, $2::int8, $3::int8, $4::text, $5::text, $6::text, $7::text, $8::int4, $9::text,
  $10::int8, $11::numeric, $12::numeric, $13::int4, $14::text, $15::text, $16::text, $17::text,
  now() + make_interval(secs => $18::float8)`;

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

  async function quote(usdCents: bigint, tokenSymbol: string | undefined) {
    if (tokenSymbol === undefined || tokenSymbol.toUpperCase() === "ETH") {
      const price = await deps.prices.ethUsd();
      return {
        token: ETH_TOKEN as string,
        symbol: "ETH",
        decimals: 18,
        price: price.value,
        priceDecimals: price.decimals,
        expected: quoteAmount(usdCents, price.value, price.decimals, 18),
      };
    }
    const token = deps.tokens.find((t) => t.symbol === tokenSymbol.toUpperCase());
    if (!token) {
      const known = ["ETH", ...deps.tokens.map((t) => t.symbol)].join(", ");
      throw badRequest(`token ${tokenSymbol} is not accepted here; use one of ${known}`, "unsupported_token");
    }
    const peg = parseDecimal(token.usdPeg, PEG_DECIMALS);
    return {
      token: token.address.toLowerCase(),
      symbol: token.symbol,
      decimals: token.decimals,
      price: peg,
      priceDecimals: PEG_DECIMALS,
      expected: quoteAmount(usdCents, peg, PEG_DECIMALS, token.decimals),
    };
  }

  async function create(input: CreateOrderInput, merchant: Merchant | null): Promise<OrderRow> {
    const usdCents = parseUsdCents(input.amount);
    if (usdCents === undefined || usdCents <= 0n) {
      throw badRequest(
        'amount must be a USD decimal string greater than 0 with at most 2 decimals, like "13.54"',
        "invalid_amount",
      );
    }
    const merchantAddress = parseMerchantAddress(input.address);
    const callback = parseHttpUrl(input.callback, "callback");
    const itemImage =
      input.item_image === undefined ? undefined : parseHttpUrl(input.item_image, "item_image");
    if (!merchant && usdCents >= deps.anonymousMaxCents) {
      throw unauthorized(
        `orders of $${formatUsdCents(deps.anonymousMaxCents)} or more need an API key in the Authorization header`,
      );
    }
    if (merchant) {
      const plan = PLANS[merchant.plan];
      if (usdCents > plan.maxAmountCents) {
        throw forbidden(
          `the ${plan.label} plan allows orders up to $${formatUsdCents(plan.maxAmountCents)}; upgrade the plan for larger orders`,
          "plan_max_amount",
        );
      }
    }
    const q = await quote(usdCents, input.token);
    if (q.expected <= 0n) throw badRequest("amount is too small to price", "invalid_amount");

    const params = [
      merchant?.id ?? null,
      deps.chainId,
      deps.contract.toLowerCase(),
      merchantAddress.toLowerCase(),
      q.token,
      q.symbol,
      q.decimals,
      formatUsdCents(usdCents),
      usdCents,
      q.expected.toString(),
      q.price.toString(),
      q.priceDecimals,
      callback,
      input.item_title ?? null,
      input.item_description ?? null,
      itemImage ?? null,
      deps.orderTtlSeconds,
    ];
    // One statement, one round trip, no explicit transaction. Ids are random 53-bit numbers; a
    // collision is a unique violation that rolls the whole statement back (the daily slot too),
    // and we try again with a new id.
    for (let attempt = 0; ; attempt++) {
      const id = newOrderId();
      try {
        if (!merchant) {
          const { rows } = await db.query<OrderRow>(`${INSERT_ORDER} VALUES (${ORDER_VALUES}) RETURNING *`, [
            id,
            ...params,
          ]);
          return rows[0] as OrderRow;
        }
        const plan = PLANS[merchant.plan];
        const { rows } = await db.query<OrderRow>(
          `WITH slot AS (
             INSERT INTO merchant_daily_orders AS d (merchant_id, day, count)
             VALUES ($2, (now() AT TIME ZONE 'UTC')::date, 1)
             ON CONFLICT (merchant_id, day) DO UPDATE SET count = d.count + 1 WHERE d.count < $19
             RETURNING 1
           )
           ${INSERT_ORDER} SELECT ${ORDER_VALUES} FROM slot RETURNING *`,
          [id, ...params, plan.dailyTransactions],
        );
        if (rows[0]) return rows[0];
        throw tooManyRequests(
          `the ${plan.label} plan allows ${plan.dailyTransactions} orders per day (UTC); the limit resets at midnight UTC`,
          "plan_daily_limit",
        );
      } catch (error) {
        const pg = error as { code?: string; constraint?: string };
        if (pg.code === "23505" && pg.constraint === "orders_pkey" && attempt < 5) continue;
        throw error;
      }
    }
  }

  /** An order by id: a merchant sees only its own; anyone may read an anonymous order by id. */
  async function get(id: bigint, merchant: Merchant | null): Promise<OrderRow> {
    const { rows } = await db.query<OrderRow>("SELECT * FROM orders WHERE id = $1", [id]);
    const row = rows[0];
    if (!row || (row.merchant_id !== null && row.merchant_id !== merchant?.id)) {
      throw notFound(`order ${id} was not found`, "order_not_found");
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
    const params: unknown[] = [merchant.id, limit + 1];
    let where = "merchant_id = $1";
    if (status) {
      params.push(status);
      where += ` AND status = $${params.length}`;
    }
    if (cursor) {
      const decoded = decodeCursor(cursor);
      params.push(decoded.createdAt, decoded.id);
      where += ` AND (created_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::int8)`;
    }
    const { rows } = await db.query<OrderRow>(
      `SELECT * FROM orders WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT $2`,
      params,
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const next = rows.length > limit && last ? encodeCursor(last.created_at, last.id) : null;
    return { orders: page, nextCursor: next };
  }

  return { create, get, list, quote };
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
