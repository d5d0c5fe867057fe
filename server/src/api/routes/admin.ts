import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@fastify/type-provider-typebox";
import { notFound, unauthorized } from "../../lib/errors.ts";
import { TXT_MESSAGING_LIMITS } from "../../merchants/plugins.ts";
import { PLAN_NAMES } from "../../merchants/plans.ts";
import { hasAdminToken } from "../auth.ts";
import type { AppDeps } from "../deps.ts";
import { ErrorSchema } from "../schemas.ts";

/**
 * Operator API, guarded by ADMIN_TOKEN (`Authorization: Bearer <token>`). Disabled when no token
 * is configured. `npm run merchant` uses it when the server owns an embedded database.
 */
export const adminRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.addHook("onRequest", async (request) => {
    const expected = deps.config.adminToken;
    if (!expected) throw notFound("the admin API is disabled; set ADMIN_TOKEN to enable it");
    if (!hasAdminToken(request, expected)) throw unauthorized("a valid ADMIN_TOKEN is required");
  });

  const MerchantKey = Type.Object({
    id: Type.Integer(),
    email: Type.String(),
    plan: Type.String(),
    api_key: Type.String({ description: "Shown once; only its hash is stored" }),
  });
  const errors = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema };
  const config = { adminRoute: true };

  app.post(
    "/admin/merchants",
    {
      config,
      schema: {
        tags: ["admin"],
        summary: "Create a merchant and return its API key",
        body: Type.Object(
          {
            email: Type.String({ maxLength: 254 }),
            plan: Type.Optional(Type.Union(PLAN_NAMES.map((p) => Type.Literal(p)))),
          },
          { additionalProperties: false },
        ),
        response: { 200: MerchantKey, ...errors },
      },
    },
    async (request) => {
      const { merchant, apiKey } = await deps.merchants.create(
        request.body.email,
        request.body.plan ?? "free",
      );
      return { id: Number(merchant.id), email: merchant.email, plan: merchant.plan, api_key: apiKey };
    },
  );

  app.post(
    "/admin/merchants/key",
    {
      config,
      schema: {
        tags: ["admin"],
        summary:
          "Rotate a merchant's API key: the old key stops working, every console session of the merchant ends, and its terminal keys are revoked unless keep_terminal_keys",
        body: Type.Object(
          {
            email: Type.String({ maxLength: 254 }),
            keep_terminal_keys: Type.Optional(
              Type.Boolean({ description: "Keep the point-of-sale terminal keys working (default false)" }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            ...MerchantKey.properties,
            sessions_ended: Type.Integer(),
            terminal_keys_revoked: Type.Integer(),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const r = await deps.merchants.rotateApiKey(request.body.email, {
        keepTerminalKeys: request.body.keep_terminal_keys ?? false,
      });
      return {
        id: Number(r.merchant.id),
        email: r.merchant.email,
        plan: r.merchant.plan,
        api_key: r.apiKey,
        sessions_ended: r.sessionsEnded,
        terminal_keys_revoked: r.terminalKeysRevoked,
      };
    },
  );

  app.post(
    "/admin/merchants/plan",
    {
      config,
      schema: {
        tags: ["admin"],
        summary: "Change a merchant's plan",
        body: Type.Object(
          {
            email: Type.String({ maxLength: 254 }),
            plan: Type.Union(PLAN_NAMES.map((p) => Type.Literal(p))),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ id: Type.Integer(), email: Type.String(), plan: Type.String() }),
          ...errors,
        },
      },
    },
    async (request) => {
      const merchant = await deps.merchants.setPlan(request.body.email, request.body.plan);
      return { id: Number(merchant.id), email: merchant.email, plan: merchant.plan };
    },
  );

  app.post(
    "/admin/eletropay/links",
    {
      config,
      schema: {
        tags: ["admin"],
        summary: "Link an EletroPay client to a merchant account and payout address (ETH and tokens)",
        description:
          "Addresses the client asks for in ETH or a token are deposit addresses bound to this payout address; linking again applies to addresses issued afterwards.",
        body: Type.Object(
          {
            email: Type.String({ maxLength: 254, description: "The merchant's email" }),
            client: Type.String({
              maxLength: 320,
              description: "The client's registered email or its token",
            }),
            payout_address: Type.String({ maxLength: 64 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            client: Type.String(),
            merchant_id: Type.Integer(),
            merchant: Type.String(),
            payout_address: Type.String(),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      if (!deps.eletropayLinks)
        throw notFound("EletroPay is not enabled on this server", "eletropay_disabled");
      const link = await deps.eletropayLinks.link({
        merchantEmail: request.body.email,
        client: request.body.client,
        payoutAddress: request.body.payout_address,
      });
      return {
        client: link.clientEmail,
        merchant_id: Number(link.merchantId),
        merchant: link.merchantEmail,
        payout_address: link.payoutAddress,
      };
    },
  );

  const nullable = (schema: ReturnType<typeof Type.String>) => Type.Union([schema, Type.Null()]);
  app.post(
    "/admin/merchants/plugins",
    {
      config,
      schema: {
        tags: ["admin"],
        summary: "Turn a merchant's plugins on or off and set its notification settings",
        description:
          "Fields left out keep their value; null clears notify_url or notify_phone. txt_messaging needs a notify_url; recurring_payments needs the Seller plan or above.",
        body: Type.Object(
          {
            email: Type.String({ maxLength: 254 }),
            txt_messaging: Type.Optional(Type.Boolean()),
            recurring_payments: Type.Optional(Type.Boolean()),
            notify_url: Type.Optional(nullable(Type.String({ maxLength: 2048 }))),
            notify_phone: Type.Optional(nullable(Type.String({ maxLength: 32 }))),
            notify_events: Type.Optional(
              Type.Union([Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 }), Type.Null()]),
            ),
            txt_messaging_limit: Type.Optional(Type.Union(TXT_MESSAGING_LIMITS.map((n) => Type.Literal(n)))),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            id: Type.Integer(),
            email: Type.String(),
            plan: Type.String(),
            plugins: Type.Object({ txt_messaging: Type.Boolean(), recurring_payments: Type.Boolean() }),
            notifications: Type.Object({
              url: Type.Union([Type.String(), Type.Null()]),
              phone: Type.Union([Type.String(), Type.Null()]),
              events: Type.Union([Type.Array(Type.String()), Type.Null()]),
              channel: Type.String(),
              monthly_limit: Type.Integer(),
              sent_this_month: Type.Integer(),
            }),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const { email, ...changes } = request.body;
      const merchant = await deps.merchants.setPlugins(email, changes);
      return {
        id: Number(merchant.id),
        email: merchant.email,
        plan: merchant.plan,
        plugins: merchant.plugins,
        notifications: await deps.merchants.notifications(merchant),
      };
    },
  );

  app.post(
    "/admin/merchants/callback-secret",
    {
      config,
      schema: {
        tags: ["admin"],
        summary: "Rotate a merchant's callback signing secret and show the new one once",
        description:
          "The previous secret keeps signing beside the new one for overlap_hours (0 to 168, default 24), so the merchant's receiver can switch without losing a callback (docs/callbacks.md).",
        body: Type.Object(
          {
            email: Type.String({ maxLength: 254 }),
            overlap_hours: Type.Optional(Type.Integer({ minimum: 0, maximum: 168 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            id: Type.Integer(),
            email: Type.String(),
            plan: Type.String(),
            callback_secret: Type.String({ description: "Shown once; store it with the receiver" }),
            previous_valid_until: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const hours = request.body.overlap_hours ?? 24;
      const r = await deps.merchants.rotateCallbackSecret(request.body.email, hours * 3600);
      return {
        id: Number(r.merchant.id),
        email: r.merchant.email,
        plan: r.merchant.plan,
        callback_secret: r.secret,
        previous_valid_until: r.previousValidUntil ? r.previousValidUntil.toISOString() : null,
      };
    },
  );
};
