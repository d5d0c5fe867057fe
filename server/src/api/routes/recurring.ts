import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@fastify/type-provider-typebox";
import { badRequest } from "../../lib/errors.ts";
import { entryToJson, subscriptionToJson } from "../../recurring/serialize.ts";
import type { SubscriptionView } from "../../recurring/service.ts";
import { RECURRING_STATUSES } from "../../recurring/state.ts";
import { requireMerchant } from "../auth.ts";
import type { AppDeps } from "../deps.ts";
import { CurrencyField, ErrorSchema, IdempotencyHeaders, PageQuery, parseLimit } from "../schemas.ts";

const errors = {
  400: ErrorSchema,
  401: ErrorSchema,
  403: ErrorSchema,
  404: ErrorSchema,
  409: ErrorSchema,
  422: ErrorSchema,
  429: ErrorSchema,
  503: ErrorSchema,
};

const Str = Type.String();
const NullableStr = Type.Union([Type.String(), Type.Null()]);

/** The seed's "Recurring Billing Status" entry, with the additive fields after it. */
export const RecurringEntrySchema = Type.Object(
  {
    id: Type.Integer({ description: "The subscription id (an integer, as in the seed)" }),
    address: Type.String({ description: "The subscription's dedicated deposit address (EIP-55)" }),
    confirmations: Type.Integer({ description: "Of the transfer that paid this period; 0 when unpaid" }),
    currency: Type.Literal("usd"),
    currency_amount: Type.String({ description: "USD per period, e.g. 9.99" }),
    expected_amount: Type.String({ description: "This period's amount in the token at its locked rate" }),
    payment_url: Type.String({ description: "The hosted subscription page (an unguessable link)" }),
    status: Type.Union(RECURRING_STATUSES.map((s) => Type.Literal(s))),
    paid: Type.Boolean({ description: "This period is paid in full" }),
    eth_price: Type.String({ description: "USD per token locked when this period opened" }),
    qr_code: Type.String(),
    transaction_id: Type.String({
      description: "The transfer that completed this period's payment, or empty",
    }),
    item_title: Str,
    item_description: Str,
    item_image: Str,
    created_at: Type.String({ format: "date-time" }),
    subscription_id: Type.Integer(),
    period_index: Type.Integer({ description: "The period the status is about (0 = the first)" }),
    period_start: Type.String({ format: "date-time", description: "Its due date" }),
    period_end: Type.String({ format: "date-time", description: "Its end timestamp" }),
    interval: Type.String(),
    paid_through: Type.String({
      format: "date-time",
      description: "End of the last of the consecutive paid periods (the start when none)",
    }),
    amount_paid: Type.String({ description: "Allocated to this period so far" }),
    credit: Type.String({ description: "Received and carried to the next period" }),
    token: Type.String(),
    chain_id: Type.Integer(),
    method: Type.String(),
    cancelled_at: NullableStr,
  },
  { $id: "RecurringEntry" },
);

const PeriodSchema = Type.Object({
  index: Type.Integer(),
  starts_at: Type.String({ format: "date-time" }),
  ends_at: Type.String({ format: "date-time" }),
  opens_at: Type.String({ format: "date-time" }),
  eth_price: Str,
  expected_amount: Str,
  amount_paid: Str,
  paid: Type.Boolean(),
  paid_at: NullableStr,
  transaction_id: Str,
});

const TokenPullSchema = Type.Object(
  {
    contract: Type.String({ description: "The chain's Subscriptions contract" }),
    function: Type.Literal("subscribe"),
    args: Type.Object({
      merchant: Str,
      token: Str,
      amountPerPeriod: Type.String({ description: "Token units per period (uint256, decimal)" }),
      interval: Type.String({
        description: "Seconds (uint64): weekly 604800, monthly 2592000, yearly 31536000",
      }),
      start: Type.String({ description: "Unix seconds (uint64); fixed, never 0" }),
      ref: Type.String({ description: "bytes32" }),
    }),
    approve: Type.Object({
      token: Str,
      spender: Str,
      amount: Type.String({ description: "A year of periods (any allowance of at least one period works)" }),
    }),
  },
  {
    description:
      "method token_pull: what the customer's wallet calls, approve(spender, amount) on the token then subscribe(merchant, token, amountPerPeriod, interval, start, ref); other terms are not credited",
  },
);

const OnChainCancelSchema = Type.Object(
  {
    required: Type.Boolean({
      description:
        "True while an on-chain subscription with the terms asked for is still open: anyone can still collect it",
    }),
    message: Type.String({ description: "What the customer must do, in words" }),
    contract: Type.String({ description: "The chain's Subscriptions contract" }),
    open: Type.Array(
      Type.Object({
        id: Type.String({ description: "The on-chain subscription id: call cancel(id) on the contract" }),
        customer: Type.String({
          description: "Who subscribed (cancel from this address, or the merchant's)",
        }),
      }),
    ),
    revoke: Type.Object(
      { token: Str, spender: Str, amount: Type.Literal("0") },
      { description: "The other way: approve(spender, 0) on the token, from the customer's address" },
    ),
  },
  {
    description:
      "method token_pull, once cancelled: cancelling here stops this server's collector, but the on-chain subscription stays open and collect is permissionless; the customer (or the merchant) must call cancel(id) on the contract, or the customer revokes the allowance",
  },
);

export const SubscriptionSchema = Type.Object(
  {
    id: Type.Integer(),
    status: Type.Union(RECURRING_STATUSES.map((s) => Type.Literal(s))),
    address: Str,
    currency: Type.Literal("usd"),
    currency_amount: Str,
    interval: Str,
    start: Type.String({ format: "date-time" }),
    token: Str,
    chain_id: Type.Integer(),
    method: Str,
    return_to: Str,
    callback: Str,
    item_title: Str,
    item_description: Str,
    item_image: Str,
    payment_url: Str,
    qr_code: Str,
    paid_through: Type.String({ format: "date-time" }),
    credit: Str,
    created_at: Type.String({ format: "date-time" }),
    cancelled_at: NullableStr,
    current: Type.Ref("RecurringEntry"),
    periods: Type.Array(PeriodSchema, { description: "The open periods (rates locked), oldest first" }),
    token_pull: Type.Optional(TokenPullSchema),
    on_chain_cancel: Type.Optional(OnChainCancelSchema),
  },
  { $id: "Subscription" },
);

const CreateBody = Type.Object(
  {
    amount: Type.String({ maxLength: 32, description: 'USD per period, e.g. "9.99"' }),
    currency: Type.Optional(CurrencyField),
    interval: Type.Optional(
      Type.String({ maxLength: 16, description: "weekly, monthly (default) or yearly" }),
    ),
    start: Type.Optional(
      Type.String({ maxLength: 40, description: "The first due date (RFC 3339); default now" }),
    ),
    address: Type.String({ maxLength: 64, description: "The merchant's payout address" }),
    callback: Type.String({ maxLength: 2048 }),
    item_title: Type.Optional(Type.String({ maxLength: 200 })),
    item_description: Type.Optional(Type.String({ maxLength: 2000 })),
    item_image: Type.Optional(Type.String({ maxLength: 2048 })),
    token: Type.Optional(
      Type.String({
        maxLength: 42,
        description:
          "ETH (default) or a configured token; token_pull: a configured token's symbol or address (required)",
      }),
    ),
    chain: Type.Optional(Type.String({ maxLength: 64, description: "A configured chain's name or id" })),
    method: Type.Optional(
      Type.String({
        maxLength: 16,
        description:
          "deposit (default): plain transfers to the address; token_pull: the customer subscribes on chain (Subscriptions contract) and each period is collected",
      }),
    ),
  },
  { additionalProperties: false },
);

const IdParams = Type.Object({ id: Type.String({ pattern: "^[0-9]{1,16}$" }) });

const NEEDS = "Needs an API key, the Seller plan or above and the Recurring Payments plugin.";

export const recurringRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const recurring = deps.recurring;
  if (!recurring) return;
  app.addSchema(RecurringEntrySchema);
  app.addSchema(SubscriptionSchema);
  const json = (v: SubscriptionView) => ({
    ...subscriptionToJson(
      v.subscription,
      v.periods,
      deps.config.publicUrl,
      deps.indexedBlock(v.subscription.chain_id),
    ),
    ...(v.tokenPull ? { token_pull: v.tokenPull } : {}),
    ...(v.onChainCancel ? { on_chain_cancel: v.onChainCancel } : {}),
  });

  app.post(
    "/recurring",
    {
      config: { idempotent: true },
      schema: {
        tags: ["recurring"],
        summary:
          "Create a subscription paid by plain transfers to its own deposit address, or by on-chain token pulls (method token_pull)",
        description: NEEDS,
        body: CreateBody,
        headers: IdempotencyHeaders,
        response: { 200: Type.Ref("Subscription"), ...errors },
      },
    },
    async (request) => json(await recurring.create(request.body, requireMerchant(request))),
  );

  app.get(
    "/recurring",
    {
      schema: {
        tags: ["recurring"],
        summary: "List this account's subscriptions, newest first",
        description: NEEDS,
        querystring: PageQuery,
        response: {
          200: Type.Object({
            subscriptions: Type.Array(Type.Ref("Subscription")),
            next_cursor: NullableStr,
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const page = await recurring.list(requireMerchant(request), {
        limit: parseLimit(request.query.limit),
        cursor: request.query.cursor,
      });
      return { subscriptions: page.items.map(json), next_cursor: page.nextCursor };
    },
  );

  app.get(
    "/recurring/:id",
    {
      schema: {
        tags: ["recurring"],
        summary: "A subscription with its open periods",
        description: NEEDS,
        params: IdParams,
        response: { 200: Type.Ref("Subscription"), ...errors },
      },
    },
    async (request) => json(await recurring.get(BigInt(request.params.id), requireMerchant(request))),
  );

  app.post(
    "/recurring/:id/cancel",
    {
      schema: {
        tags: ["recurring"],
        summary: "Cancel a subscription: nothing more is owed; what was paid runs to its end",
        description: `${NEEDS} A token_pull subscription stays open on chain, where anyone can still collect it: the answer's on_chain_cancel says what the customer must do (cancel(id) on the Subscriptions contract, or revoke the allowance).`,
        params: IdParams,
        response: { 200: Type.Ref("Subscription"), ...errors },
      },
    },
    async (request) => json(await recurring.cancel(BigInt(request.params.id), requireMerchant(request))),
  );

  app.get(
    "/status/recurring/:status",
    {
      schema: {
        tags: ["recurring"],
        summary: "Subscriptions by status: expired, active, pending, upcoming (the seed's shape per entry)",
        description: `${NEEDS} Each entry is the seed's "Recurring Billing Status" object for the period the status is about, with extra fields on top.`,
        params: Type.Object({
          status: Type.Union(RECURRING_STATUSES.map((s) => Type.Literal(s))),
        }),
        querystring: PageQuery,
        response: {
          200: Type.Object({
            orders: Type.Array(Type.Ref("RecurringEntry")),
            next_cursor: NullableStr,
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const page = await recurring.list(requireMerchant(request), {
        status: request.params.status,
        limit: parseLimit(request.query.limit),
        cursor: request.query.cursor,
      });
      return {
        orders: page.items.map((v) =>
          entryToJson(
            v.subscription,
            v.periods,
            deps.config.publicUrl,
            deps.indexedBlock(v.subscription.chain_id),
          ),
        ),
        next_cursor: page.nextCursor,
      };
    },
  );
};
