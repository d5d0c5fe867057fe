import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@fastify/type-provider-typebox";
import { getAddress } from "viem";
import type { AppDeps } from "../../app.ts";
import { ETH_TOKEN, paymentProcessorAbi } from "../../chain/abi.ts";
import { forbidden, unavailable } from "../../lib/errors.ts";
import { formatDecimal, formatUsdCents } from "../../lib/money.ts";
import { PLANS } from "../../merchants/plans.ts";
import { notificationsJson } from "../../merchants/service.ts";
import { requireMerchant } from "../auth.ts";
import { ErrorSchema } from "../schemas.ts";

const errors = { 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 503: ErrorSchema };

export const userRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const tokenInfo = (token: string) => {
    if (token === ETH_TOKEN) return { symbol: "ETH", decimals: 18 };
    const known = deps.config.tokens.find((t) => t.address.toLowerCase() === token);
    return known ? { symbol: known.symbol, decimals: known.decimals } : { symbol: token, decimals: 0 };
  };

  app.get(
    "/user",
    {
      schema: {
        tags: ["user"],
        summary: "Show account information",
        response: {
          200: Type.Object({
            id: Type.Integer(),
            email: Type.String(),
            plan: Type.String(),
            limits: Type.Object({
              daily_transactions: Type.Integer(),
              max_amount: Type.String(),
              recurring_payments: Type.Boolean(),
            }),
            plugins: Type.Object(
              {
                txt_messaging: Type.Boolean({
                  description: "TXT Messaging: a text on every order status change",
                }),
                recurring_payments: Type.Boolean({
                  description: "Recurring Payments (Seller plan or above)",
                }),
              },
              { description: "The seed's plugin features, on or off for this account" },
            ),
            notifications: Type.Object(
              {
                url: Type.Union([Type.String(), Type.Null()], {
                  description: "Webhook that receives the messages (stands in for an SMS provider)",
                }),
                phone: Type.Union([Type.String(), Type.Null()], { description: "Recipient, E.164" }),
                monthly_limit: Type.Integer({
                  description: "TXT Messaging 150 or 500: messages per month (UTC)",
                }),
                sent_this_month: Type.Integer(),
              },
              { description: "TXT Messaging settings" },
            ),
            transactions_today: Type.Integer(),
            created_at: Type.String({ format: "date-time" }),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const merchant = requireMerchant(request);
      const plan = PLANS[merchant.plan];
      const { rows } = await deps.db.query<{ count: bigint }>(
        "SELECT count::int8 AS count FROM merchant_daily_orders WHERE merchant_id = $1 AND day = (now() AT TIME ZONE 'UTC')::date",
        [merchant.id],
      );
      return {
        id: Number(merchant.id),
        email: merchant.email,
        plan: plan.label,
        limits: {
          daily_transactions: plan.dailyTransactions,
          max_amount: formatUsdCents(plan.maxAmountCents),
          recurring_payments: plan.recurring,
        },
        plugins: merchant.plugins,
        notifications: await notificationsJson(deps.db, merchant),
        transactions_today: Number(rows[0]?.count ?? 0n),
        created_at: merchant.createdAt.toISOString(),
      };
    },
  );

  const Amount = Type.Object({ token: Type.String(), amount: Type.String() });
  app.get(
    "/user/history",
    {
      schema: {
        tags: ["user"],
        summary: "Account balance and history: income, outgoing, totals and on-chain balances",
        response: {
          200: Type.Object({
            income: Type.Array(Amount),
            outgoing: Type.Array(
              Type.Object({ token: Type.String(), withdrawn: Type.String(), refunded: Type.String() }),
            ),
            totals: Type.Object({
              orders: Type.Integer(),
              by_status: Type.Record(Type.String(), Type.Integer()),
              usd_complete: Type.String(),
            }),
            balances: Type.Array(
              Type.Object({ address: Type.String(), token: Type.String(), balance: Type.String() }),
            ),
            orphan_payments: Type.Array(
              Type.Object({
                tx_hash: Type.String(),
                order_ref: Type.String(),
                token: Type.String(),
                amount: Type.String(),
                address: Type.String(),
              }),
            ),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const merchant = requireMerchant(request);
      const { rows: addresses } = await deps.db.query<{ merchant_address: string }>(
        "SELECT DISTINCT merchant_address FROM orders WHERE merchant_id = $1",
        [merchant.id],
      );
      const list = addresses.map((a) => a.merchant_address);
      const { rows: ledger } = await deps.db.query<{
        merchant: string;
        token: string;
        credited: string;
        withdrawn: string;
        refunded: string;
      }>(
        "SELECT merchant, token, credited, withdrawn, refunded FROM merchant_ledger WHERE chain_id = $1 AND merchant = ANY($2::text[])",
        [deps.chain.chainId, list],
      );
      const { rows: statusRows } = await deps.db.query<{ status: string; count: bigint; cents: string }>(
        "SELECT status, count(*)::int8 AS count, COALESCE(sum(usd_cents), 0)::text AS cents FROM orders WHERE merchant_id = $1 GROUP BY status",
        [merchant.id],
      );
      const { rows: orphans } = await deps.db.query<{
        tx_hash: string;
        order_ref: string;
        token: string;
        amount: string;
        merchant: string;
      }>(
        `SELECT tx_hash, order_ref, token, amount, merchant FROM contract_events
          WHERE chain_id = $1 AND kind = 'payment' AND order_id IS NULL AND merchant = ANY($2::text[])
          ORDER BY block_number DESC, log_index DESC LIMIT 100`,
        [deps.chain.chainId, list],
      );

      const sum = new Map<string, { credited: bigint; withdrawn: bigint; refunded: bigint }>();
      for (const row of ledger) {
        const entry = sum.get(row.token) ?? { credited: 0n, withdrawn: 0n, refunded: 0n };
        entry.credited += BigInt(row.credited);
        entry.withdrawn += BigInt(row.withdrawn);
        entry.refunded += BigInt(row.refunded);
        sum.set(row.token, entry);
      }
      const fmt = (token: string, value: bigint) => formatDecimal(value, tokenInfo(token).decimals);

      const tokens = [ETH_TOKEN as string, ...deps.config.tokens.map((t) => t.address.toLowerCase())];
      const balances = [];
      for (const address of list) {
        for (const token of tokens) {
          let balance: bigint;
          try {
            balance = await deps.chain.client.readContract({
              address: deps.chain.contract,
              abi: paymentProcessorAbi,
              functionName: "balanceOf",
              args: [address as `0x${string}`, token as `0x${string}`],
            });
          } catch {
            throw unavailable(
              "on-chain balances are unavailable right now; try again shortly",
              "chain_unavailable",
            );
          }
          balances.push({
            address: getAddress(address),
            token: tokenInfo(token).symbol,
            balance: fmt(token, balance),
          });
        }
      }
      const byStatus: Record<string, number> = {};
      let orders = 0;
      for (const row of statusRows) {
        byStatus[row.status] = Number(row.count);
        orders += Number(row.count);
      }
      const completeCents = BigInt(statusRows.find((r) => r.status === "complete")?.cents ?? "0");
      return {
        income: [...sum].map(([token, v]) => ({
          token: tokenInfo(token).symbol,
          amount: fmt(token, v.credited),
        })),
        outgoing: [...sum].map(([token, v]) => ({
          token: tokenInfo(token).symbol,
          withdrawn: fmt(token, v.withdrawn),
          refunded: fmt(token, v.refunded),
        })),
        totals: { orders, by_status: byStatus, usd_complete: formatUsdCents(completeCents) },
        balances,
        orphan_payments: orphans.map((o) => ({
          tx_hash: o.tx_hash,
          order_ref: o.order_ref,
          token: tokenInfo(o.token).symbol,
          amount: fmt(o.token, BigInt(o.amount)),
          address: getAddress(o.merchant),
        })),
      };
    },
  );

  app.get(
    "/status/recurring/:status",
    {
      schema: {
        tags: ["recurring"],
        summary: "Orders attached to recurring billing, by status",
        description:
          "Needs the Seller plan or above and the Recurring Payments plugin. Recurring billing is not live yet, so the lists are empty.",
        params: Type.Object({
          status: Type.Union(["expired", "active", "pending", "upcoming"].map((s) => Type.Literal(s))),
        }),
        response: { 200: Type.Object({ orders: Type.Array(Type.Ref("Order")) }), ...errors },
      },
    },
    async (request) => {
      const merchant = requireMerchant(request);
      const plan = PLANS[merchant.plan];
      if (!plan.recurring) {
        throw forbidden(
          `recurring billing needs the Seller plan or above; this account is on ${plan.label}`,
          "plan_no_recurring",
        );
      }
      if (!merchant.plugins.recurring_payments) {
        throw forbidden(
          `recurring billing needs the Recurring Payments plugin, which is off for this account (${plan.label} plan); ask the operator to enable it`,
          "plugin_recurring_payments_off",
        );
      }
      return { orders: [] };
    },
  );
};
