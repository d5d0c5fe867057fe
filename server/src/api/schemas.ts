import { Type } from "@fastify/type-provider-typebox";
import { badRequest } from "../lib/errors.ts";

export { ErrorSchema } from "./errors.ts";

/** The Idempotency-Key header of POST /order, POST /recurring and POST /pos/order (docs/api.md). */
export const IdempotencyHeaders = Type.Object({
  "idempotency-key": Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      description:
        "Optional. A retry with the same key and body returns the first answer (Idempotent-Replayed: true) instead of a second order; the same key with another body is 422 idempotency_key_reused. Kept 24 hours, per API key or terminal key.",
    }),
  ),
});

/** `currency` of POST /order, POST /recurring and POST /pos/order. */
export const CurrencyField = Type.String({
  minLength: 1,
  maxLength: 8,
  description:
    'The fiat currency of `amount` (ISO 4217, e.g. "usd", "eur", "brl", "gbp"); default usd. Only the currencies the operator enables (CURRENCIES) are accepted',
});

export const ORDER_STATUSES = ["pending", "success", "complete", "expired", "refunded"] as const;
export const OrderStatusSchema = Type.Union(ORDER_STATUSES.map((s) => Type.Literal(s)));

/** The seed's order object; fields after `expired` are additive. */
export const OrderSchema = Type.Object(
  {
    id: Type.Integer({ description: "Random, non-sequential order id" }),
    address: Type.String({
      description:
        "Where the customer pays: the order's deposit address, which a plain transfer pays (orders made before deposit addresses: the payment contract)",
    }),
    expected_amount: Type.String({ description: "Amount owed in ETH (or the token), exact decimal" }),
    currency: Type.String({
      pattern: "^[a-z]{3}$",
      description:
        'The fiat currency of currency_amount and eth_price (ISO 4217, lower case): "usd", "eur", …',
    }),
    currency_amount: Type.String({ description: "The order's amount in its currency" }),
    payment_url: Type.String(),
    status: OrderStatusSchema,
    eth_price: Type.String({
      description: "Locked price of one ETH (or token) for this order, in the order's currency",
    }),
    qr_code: Type.String({ description: "URL of an SVG QR code with the EIP-681 payment URI" }),
    transaction_id: Type.String(),
    sent_transaction: Type.String(),
    created_at: Type.String({ format: "date-time" }),
    return_to: Type.String({ description: "The merchant's payout address credited in the contract" }),
    paid: Type.Boolean(),
    expired: Type.Boolean(),
    item_title: Type.Optional(Type.String()),
    item_description: Type.Optional(Type.String()),
    item_image: Type.Optional(Type.String()),
    return_url: Type.Optional(
      Type.String({ description: "Where the payment page sends the customer once the order is paid" }),
    ),
    expires_at: Type.String({ format: "date-time" }),
    confirmations: Type.Integer(),
    token: Type.String(),
    exception: Type.Union([
      Type.Literal("paid_partial"),
      Type.Literal("paid_over"),
      Type.Literal("paid_late"),
      Type.Null(),
    ]),
    amount_paid: Type.String(),
    chain_id: Type.Integer({ description: "The chain the order is paid on" }),
    pay_to: Type.String({
      description: "The payment contract, for paying with `pay`/`payToken` (the browser-wallet button)",
    }),
    awaiting_sweep: Type.Boolean({
      description:
        "True while a covered, confirmed deposit waits to be swept into the contract: the order stays success until the sweep",
    }),
    reference: Type.String({
      description:
        "The order reference (bytes32) to pass to `pay`/`payToken`; random, so chain data never reveals the order id",
    }),
    price_source: Type.Union(
      [Type.Literal("feed"), Type.Literal("static"), Type.Literal("peg"), Type.Literal("rates"), Type.Null()],
      {
        description:
          'Where eth_price came from: "feed" (a Chainlink feed; for a stablecoin, its own USD feed, because it was off its peg by more than PEG_MAX_DEVIATION), "static" (ETH_USD_PRICE), "peg" (a token at its peg), "rates" (RATE_SOURCES: an exchange ticker or the median of several sources, docs/payment-methods.md); null for orders made before it was recorded',
      },
    ),
    payment_methods: Type.Optional(
      Type.Array(
        Type.Object({
          method: Type.String({
            description:
              'The method\'s id: COIN@chain id on an EVM chain ("USDC@8453"), the coin for a UTXO coin ("LTC")',
          }),
          chain_id: Type.Union([Type.Integer(), Type.Null()], {
            description: "The EVM chain; null for a UTXO coin",
          }),
          token: Type.String({ description: "ETH or the token's symbol" }),
          address: Type.String({ description: "Where a plain transfer pays the order by this method" }),
          amount: Type.String({ description: "The whole order in this method (decimal)" }),
          rate: Type.String({
            description: "The locked USD price of one coin, for this order until it expires",
          }),
          price_source: Type.String({ description: '"feed", "static" or "peg"' }),
          payment_uri: Type.String({
            description: "EIP-681 (EVM) or BIP21 (UTXO) URI of a plain transfer of the whole amount",
          }),
          qr_code: Type.String({ description: "URL of an SVG QR code with payment_uri" }),
          amount_paid: Type.String({ description: "What this method has received (decimal)" }),
          status: Type.Union([Type.Literal("unpaid"), Type.Literal("seen"), Type.Literal("final")], {
            description: "unpaid; seen (waiting for confirmations or the sweep); final",
          }),
          default: Type.Boolean({
            description:
              "The order's default method, which address, expected_amount, eth_price and qr_code describe",
          }),
        }),
        {
          description:
            "Every way to pay this order (GET /order/:id and POST /order): payments by any of them add up at their locked rates",
        },
      ),
    ),
    payout_address_proven: Type.Optional(
      Type.Boolean({
        description:
          "Keyed requests only: whether this account has proven (POST /user/addresses) the address the order pays out to. An unproven address's ledger stays out of /user/history",
      }),
    ),
  },
  { $id: "Order" },
);

export const OrderListSchema = Type.Object({
  orders: Type.Array(Type.Ref("Order")),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
});

export const CreateOrderBody = Type.Object(
  {
    amount: Type.String({
      minLength: 1,
      maxLength: 32,
      description: 'Amount in `currency` (default USD), e.g. "13.54"',
    }),
    currency: Type.Optional(CurrencyField),
    address: Type.String({
      minLength: 1,
      maxLength: 64,
      description: "Merchant payout address (EIP-55 or lowercase)",
    }),
    callback: Type.String({
      minLength: 1,
      maxLength: 2048,
      description: "http(s) URL that receives status callbacks",
    }),
    item_title: Type.Optional(Type.String({ maxLength: 200 })),
    item_description: Type.Optional(Type.String({ maxLength: 2000 })),
    item_image: Type.Optional(Type.String({ maxLength: 2048 })),
    return_url: Type.Optional(
      Type.String({
        maxLength: 2048,
        description: "http(s) URL the payment page sends the customer to once the order is paid",
      }),
    ),
    token: Type.Optional(
      Type.String({ minLength: 2, maxLength: 11, description: "Pay in an allowlisted token, e.g. USDC" }),
    ),
    chain: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 40,
        description:
          'The chain to pay on, by name ("base") or id ("8453"); default: the first configured chain',
      }),
    ),
    methods: Type.Optional(
      Type.Array(Type.String({ minLength: 2, maxLength: 60 }), {
        minItems: 1,
        maxItems: 50,
        description:
          'The payment methods the order accepts, as COIN@chain ("USDC@8453", "ETH@base"); default: every method offered. Without token and chain, the first is the default method',
      }),
    ),
  },
  { additionalProperties: false },
);

export const OrderIdParams = Type.Object({ id: Type.String({ pattern: "^[0-9]{1,16}$" }) });

/** `?limit&cursor` of the paginated lists (/history, /recurring). */
export const PageQuery = Type.Object(
  {
    limit: Type.Optional(Type.String({ pattern: "^[0-9]{1,3}$", description: "1 to 500, default 50" })),
    cursor: Type.Optional(Type.String({ maxLength: 200, description: "next_cursor from the previous page" })),
  },
  { additionalProperties: false },
);

/** A page size from `?limit`: 1 to 500, default 50. */
export function parseLimit(value: string | undefined): number {
  if (value === undefined) return 50;
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500)
    throw badRequest("limit must be between 1 and 500", "invalid_limit");
  return limit;
}
