import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@fastify/type-provider-typebox";
import { getAddress } from "viem";
import { formatDecimal } from "../../lib/money.ts";
import { subscriptionPageUrl } from "../../recurring/serialize.ts";
import { requireMerchant } from "../auth.ts";
import type { AppDeps } from "../deps.ts";
import type { CoinRate, OverviewService } from "../overview-service.ts";
import { subscriptionAmount } from "../overview-service.ts";
import { ErrorSchema } from "../schemas.ts";

const errors = { 401: ErrorSchema, 403: ErrorSchema };

const Decimal = (description: string) => Type.String({ pattern: "^-?[0-9]+(\\.[0-9]+)?$", description });

const RateSchema = Type.Object({
  chain_id: Type.Integer(),
  token: Type.String({ description: "Symbol" }),
  token_address: Type.String(),
  decimals: Type.Integer(),
  currency: Type.String({ description: "ISO 4217" }),
  value: Type.Union([Decimal("The currency per whole coin, exact"), Type.Null()], {
    description: "null while the price source refuses (error says why)",
  }),
  source: Type.Union([Type.String(), Type.Null()], {
    description: '"static" (ETH_USD_PRICE), "chainlink:<feed>" or "peg" (a token priced at its peg)',
  }),
  updated_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()], {
    description: "When the source last updated the rate",
  }),
  error: Type.Union([Type.String(), Type.Null()]),
});

const rateToJson = (r: CoinRate, currency: string) => ({
  chain_id: Number(r.chainId),
  token: r.symbol,
  token_address: getAddress(r.token),
  decimals: r.decimals,
  currency,
  value: r.value,
  source: r.source,
  updated_at: r.updatedAt?.toISOString() ?? null,
  error: r.error,
});

/** The console's overview (GET /user/overview) and today's rates (GET /user/rates). */
export const overviewRoutes: FastifyPluginAsyncTypebox<{
  deps: AppDeps;
  overview: Pick<OverviewService, "overview" | "rates" | "currency">;
}> = async (app, { deps, overview }) => {
  app.get(
    "/user/overview",
    {
      schema: {
        tags: ["user"],
        summary:
          "The console's overview: income per UTC day and coin over the last 30 days, today's and this month's totals, orders waiting for payment, subscriptions due soon, today's rates",
        response: {
          200: Type.Object({
            currency: Type.String({ description: "ISO 4217: the currency of every value" }),
            from: Type.String({ format: "date", description: "First UTC day of the income" }),
            through: Type.String({ format: "date", description: "Last UTC day (today)" }),
            income: Type.Array(
              Type.Object({
                day: Type.String({ format: "date" }),
                chain_id: Type.Integer(),
                token: Type.String({ description: "Symbol" }),
                token_address: Type.String(),
                amount: Decimal("Paid in the coin, exact"),
                value: Decimal("The orders' amounts in the currency, exact"),
                orders: Type.Integer(),
              }),
              { description: "Paid orders (success or complete) by the UTC day they were created, per coin" },
            ),
            days: Type.Array(
              Type.Object({ day: Type.String({ format: "date" }), value: Decimal("All coins") }),
              {
                description: "Every day of the range, oldest first, days without income too",
              },
            ),
            today: Type.Object({ value: Decimal("Paid today (UTC)"), orders: Type.Integer() }),
            month: Type.Object({ value: Decimal("Paid this month (UTC)"), orders: Type.Integer() }),
            waiting: Type.Object({
              count: Type.Integer({ description: "Orders pending and not expired" }),
              orders: Type.Array(
                Type.Object({
                  id: Type.Integer(),
                  created_at: Type.String({ format: "date-time" }),
                  expires_at: Type.String({ format: "date-time" }),
                  value: Decimal("The order's amount in the currency"),
                  expected_amount: Decimal("In the coin"),
                  token: Type.String(),
                  chain_id: Type.Integer(),
                  item_title: Type.Union([Type.String(), Type.Null()]),
                  payment_url: Type.String(),
                }),
                { description: "The newest 10" },
              ),
            }),
            subscriptions_due: Type.Array(
              Type.Object({
                id: Type.Integer(),
                item_title: Type.Union([Type.String(), Type.Null()]),
                value: Decimal("Per period, in the currency"),
                token: Type.String(),
                status: Type.String({ description: "upcoming (due within days) or pending (due, unpaid)" }),
                paid_through: Type.String({
                  format: "date-time",
                  description: "The next payment is due then",
                }),
                payment_url: Type.String(),
              }),
            ),
            rates: Type.Array(RateSchema),
          }),
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const merchant = requireMerchant(request);
      const view = await overview.overview(merchant);
      reply.header("cache-control", "no-store");
      const publicUrl = deps.config.publicUrl;
      return {
        currency: view.currency,
        from: view.from,
        through: view.through,
        income: view.income.map((r) => ({
          day: r.day,
          chain_id: Number(r.chainId),
          token: r.tokenSymbol,
          token_address: getAddress(r.token),
          amount: formatDecimal(r.amount, r.tokenDecimals),
          value: r.value,
          orders: Number(r.orders),
        })),
        days: view.days,
        today: { value: view.today.value, orders: Number(view.today.orders) },
        month: { value: view.month.value, orders: Number(view.month.orders) },
        waiting: {
          count: Number(view.waiting.count),
          orders: view.waiting.orders.map((o) => ({
            id: Number(o.id),
            created_at: o.created_at.toISOString(),
            expires_at: o.expires_at.toISOString(),
            value: o.currency_amount,
            expected_amount: formatDecimal(BigInt(o.expected_amount), o.token_decimals),
            token: o.token_symbol,
            chain_id: Number(o.chain_id),
            item_title: o.item_title,
            payment_url: `${publicUrl}/pay/${o.id}`,
          })),
        },
        subscriptions_due: view.subscriptionsDue.map((s) => ({
          id: Number(s.id),
          item_title: s.item_title,
          value: subscriptionAmount(s),
          token: s.token_symbol,
          status: s.status,
          paid_through: s.paid_through.toISOString(),
          payment_url: subscriptionPageUrl(s, publicUrl),
        })),
        rates: view.rates.map((r) => rateToJson(r, view.currency)),
      };
    },
  );

  app.get(
    "/user/rates",
    {
      schema: {
        tags: ["user"],
        summary: "Today's rate of every configured coin in your currency, with its source and age",
        response: {
          200: Type.Object({ currency: Type.String(), rates: Type.Array(RateSchema) }),
          ...errors,
        },
      },
    },
    async (request, reply) => {
      requireMerchant(request);
      reply.header("cache-control", "no-store");
      const currency = overview.currency;
      return { currency, rates: (await overview.rates()).map((r) => rateToJson(r, currency)) };
    },
  );
};
