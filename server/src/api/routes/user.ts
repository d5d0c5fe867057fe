import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@fastify/type-provider-typebox";
import { getAddress } from "viem";
import { forbidden } from "../../lib/errors.ts";
import { formatDecimal, formatUsdCents } from "../../lib/money.ts";
import { PLANS } from "../../merchants/plans.ts";
import { NOTIFY_EVENTS } from "../../merchants/plugins.ts";
import { LOCALES } from "../../web/i18n/index.ts";
import { requireMerchant } from "../auth.ts";
import type { AppDeps } from "../deps.ts";
import { ErrorSchema } from "../schemas.ts";

const errors = { 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 503: ErrorSchema };

const NotifyEventsSchema = Type.Union([Type.Array(Type.String()), Type.Null()], {
  description: `The events that send a message: any of ${NOTIFY_EVENTS.join(", ")}; null: every event`,
});
const ChannelSchema = Type.String({
  description:
    "sms: texts through the operator's SMS provider to the phone; webhook: signed POSTs to the notify URL; none: nowhere to send",
});

export const userRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
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
                  description: "Webhook that receives the messages when no text is sent",
                }),
                phone: Type.Union([Type.String(), Type.Null()], { description: "Recipient, E.164" }),
                events: NotifyEventsSchema,
                channel: ChannelSchema,
                monthly_limit: Type.Integer({
                  description: "TXT Messaging 150 or 500: messages per month (UTC)",
                }),
                sent_this_month: Type.Integer(),
              },
              { description: "TXT Messaging settings" },
            ),
            language: Type.Union([Type.String(), Type.Null()], {
              description:
                "The customer pages' default language (en, pt-BR, es) when the browser asks for none of them; null: English",
            }),
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
      const today = await deps.account.ordersToday(merchant);
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
        notifications: await deps.merchants.notifications(merchant),
        language: await deps.merchants.language(merchant),
        transactions_today: Number(today),
        created_at: merchant.createdAt.toISOString(),
      };
    },
  );

  app.put(
    "/user/notifications",
    {
      schema: {
        tags: ["user"],
        summary: "Set where TXT Messaging texts go and for which events",
        description:
          "The phone number (E.164) texts go to and the events that send one. Fields left out keep their value; null clears the phone, or means every event. Turning the plugin on and its monthly tier (150 or 500) are the operator's (POST /admin/merchants/plugins).",
        body: Type.Object(
          {
            phone: Type.Optional(Type.Union([Type.String({ maxLength: 32 }), Type.Null()])),
            events: Type.Optional(
              Type.Union([Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 }), Type.Null()]),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            url: Type.Union([Type.String(), Type.Null()]),
            phone: Type.Union([Type.String(), Type.Null()]),
            events: NotifyEventsSchema,
            channel: ChannelSchema,
            monthly_limit: Type.Integer(),
            sent_this_month: Type.Integer(),
          }),
          400: ErrorSchema,
          ...errors,
        },
      },
    },
    async (request) => {
      const merchant = requireMerchant(request);
      const updated = await deps.merchants.setNotifications(merchant, request.body);
      return deps.merchants.notifications(updated);
    },
  );

  app.put(
    "/user/language",
    {
      schema: {
        tags: ["user"],
        summary: "Set the default language of your customer pages (payment, subscription, point of sale)",
        description:
          "Used when the customer's browser asks for none of en, pt-BR, es (and no ?lang= is given); null goes back to English.",
        body: Type.Object(
          {
            language: Type.Union([Type.Union(LOCALES.map((l) => Type.Literal(l))), Type.Null()], {
              description: "en, pt-BR or es; null: English",
            }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ language: Type.Union([Type.String(), Type.Null()]) }),
          400: ErrorSchema,
          ...errors,
        },
      },
    },
    async (request) => {
      const merchant = requireMerchant(request);
      return { language: await deps.merchants.setLanguage(merchant, request.body.language) };
    },
  );

  const Amount = Type.Object({ token: Type.String(), amount: Type.String(), chain_id: Type.Integer() });
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
              Type.Object({
                token: Type.String(),
                withdrawn: Type.String(),
                refunded: Type.String(),
                chain_id: Type.Integer(),
              }),
            ),
            totals: Type.Object({
              orders: Type.Integer(),
              by_status: Type.Record(Type.String(), Type.Integer()),
              usd_complete: Type.String(),
            }),
            balances: Type.Array(
              Type.Object({
                address: Type.String(),
                token: Type.String(),
                balance: Type.String(),
                chain_id: Type.Integer(),
                token_address: Type.String({ description: "the token's contract (0x0…0 for ETH)" }),
              }),
            ),
            orphan_payments: Type.Array(
              Type.Object({
                tx_hash: Type.String(),
                order_ref: Type.String(),
                token: Type.String(),
                amount: Type.String(),
                address: Type.String(),
                chain_id: Type.Integer(),
              }),
            ),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const merchant = requireMerchant(request);
      const history = await deps.account.history(merchant);
      const fmt = (t: { decimals: number }, value: bigint) => formatDecimal(value, t.decimals);
      const byStatus: Record<string, number> = {};
      let orders = 0;
      for (const row of history.statusTotals) {
        byStatus[row.status] = Number(row.count);
        orders += Number(row.count);
      }
      const completeCents = history.statusTotals.find((r) => r.status === "complete")?.usdCents ?? 0n;
      return {
        income: history.ledger.map((t) => ({
          token: t.symbol,
          amount: fmt(t, t.credited),
          chain_id: Number(t.chainId),
        })),
        outgoing: history.ledger.map((t) => ({
          token: t.symbol,
          withdrawn: fmt(t, t.withdrawn),
          refunded: fmt(t, t.refunded),
          chain_id: Number(t.chainId),
        })),
        totals: { orders, by_status: byStatus, usd_complete: formatUsdCents(completeCents) },
        balances: history.balances.map((b) => ({
          address: getAddress(b.address),
          token: b.symbol,
          balance: fmt(b, b.balance),
          chain_id: Number(b.chainId),
          token_address: getAddress(b.token),
        })),
        orphan_payments: history.orphans.map((o) => ({
          tx_hash: o.txHash,
          order_ref: o.orderRef,
          token: o.symbol,
          amount: fmt(o, o.amount),
          address: getAddress(o.merchant),
          chain_id: Number(o.chainId),
        })),
      };
    },
  );

  const addresses = deps.addresses;
  if (addresses) {
    const Proven = Type.Object({ address: Type.String(), proven_at: Type.String({ format: "date-time" }) });
    const addressErrors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema };
    app.get(
      "/user/addresses/nonce",
      {
        schema: {
          tags: ["user"],
          summary: "A single-use challenge to prove a payout address (sign `message` with its key, EIP-191)",
          querystring: Type.Object({ address: Type.String({ maxLength: 64 }) }),
          response: {
            200: Type.Object({
              address: Type.String(),
              nonce: Type.String(),
              message: Type.String(),
              expires_at: Type.String({ format: "date-time" }),
            }),
            ...addressErrors,
          },
        },
      },
      async (request) => {
        const merchant = requireMerchant(request);
        const c = await addresses.challenge(merchant.id, request.query.address);
        return {
          address: c.address,
          nonce: c.nonce,
          message: c.message,
          expires_at: c.expiresAt.toISOString(),
        };
      },
    );
    app.post(
      "/user/addresses",
      {
        schema: {
          tags: ["user"],
          summary: "Prove a payout address: the challenge's nonce and the address's signature of its message",
          body: Type.Object(
            {
              address: Type.String({ maxLength: 64 }),
              nonce: Type.String({ maxLength: 64 }),
              signature: Type.String({ maxLength: 1024 }),
            },
            { additionalProperties: false },
          ),
          response: { 200: Proven, ...addressErrors },
        },
      },
      async (request) => {
        const merchant = requireMerchant(request);
        // A browser session alone links no wallet (R2-3): the API key is the re-authentication here,
        // and the console links by Sign-In with Ethereum with its own re-authentication.
        if (request.webSession) {
          throw forbidden(
            "linking an address from a browser session needs re-authentication: send this request with your API key in the Authorization header, or connect the wallet in the console",
            "reauth_required",
          );
        }
        const proven = await addresses.prove(merchant.id, request.body);
        return { address: proven.address, proven_at: proven.provenAt.toISOString() };
      },
    );
    app.get(
      "/user/addresses",
      {
        schema: {
          tags: ["user"],
          summary: "The payout addresses this account has proven (the ledger views cover only these)",
          response: { 200: Type.Object({ addresses: Type.Array(Proven) }), ...addressErrors },
        },
      },
      async (request) => {
        const merchant = requireMerchant(request);
        const list = await addresses.list(merchant.id);
        return { addresses: list.map((a) => ({ address: a.address, proven_at: a.provenAt.toISOString() })) };
      },
    );
    app.delete(
      "/user/addresses/:address",
      {
        schema: {
          tags: ["user"],
          summary:
            "Unlink a proven address: it signs in nobody, the ledger views drop it, its console sessions end and the terminal keys that pay it are revoked",
          params: Type.Object({ address: Type.String({ maxLength: 64 }) }),
          response: {
            200: Type.Object({
              address: Type.String(),
              unlinked: Type.Boolean(),
              terminal_keys_revoked: Type.Integer(),
            }),
            ...addressErrors,
          },
        },
      },
      async (request) => {
        const merchant = requireMerchant(request);
        const r = await addresses.unlink(merchant.id, request.params.address);
        return { address: r.address, unlinked: true, terminal_keys_revoked: r.terminalKeysRevoked };
      },
    );
  }
};
