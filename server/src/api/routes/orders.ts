import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@fastify/type-provider-typebox";
import { requireMerchant } from "../auth.ts";
import { terminalKeyOf } from "../session-auth.ts";
import type { AppDeps } from "../deps.ts";
import {
  CreateOrderBody,
  ErrorSchema,
  IdempotencyHeaders,
  ORDER_STATUSES,
  OrderIdParams,
  OrderListSchema,
  PageQuery,
  parseLimit,
} from "../schemas.ts";
import { orderToJson, type OrderRow } from "../../orders/serialize.ts";
import type { Merchant } from "../../merchants/service.ts";

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

export const orderRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const json = (row: OrderRow) => orderToJson(row, deps.config.publicUrl, deps.indexedBlock(row.chain_id));
  /** A keyed request's order is flagged when it pays out to an address the account has not proven. */
  const keyed = async (row: OrderRow, merchant: Merchant | null) => {
    if (!merchant || !deps.addresses) return json(row);
    return {
      ...json(row),
      payout_address_proven: await deps.addresses.isProven(merchant.id, row.merchant_address),
    };
  };
  const keyedList = async (rows: OrderRow[], merchant: Merchant) => {
    if (!deps.addresses) return rows.map(json);
    const proven = new Set((await deps.addresses.list(merchant.id)).map((a) => a.address.toLowerCase()));
    return rows.map((row) => ({
      ...json(row),
      payout_address_proven: proven.has(row.merchant_address.toLowerCase()),
    }));
  };

  /** An order's payment methods (`payment_methods`), when it has more than its default one. */
  const withMethods = async <T extends object>(row: OrderRow, body: T) => {
    const methods = deps.paymentMethods ? await deps.paymentMethods.describe(row) : [];
    return methods.length === 0 ? body : { ...body, payment_methods: methods };
  };

  app.post(
    "/order",
    {
      config: { idempotent: true },
      schema: {
        tags: ["orders"],
        summary: "Create a new order",
        description: "Orders below the anonymous limit ($5.00 by default) need no API key.",
        body: CreateOrderBody,
        headers: IdempotencyHeaders,
        response: { 200: Type.Ref("Order"), ...errors },
      },
    },
    async (request) => {
      const methods = deps.paymentMethods;
      if (!methods) return keyed(await deps.orders.create(request.body, request.merchant), request.merchant);
      const row = await methods.createOrder(request.body, request.merchant);
      return withMethods(row, await keyed(row, request.merchant));
    },
  );

  app.get(
    "/order/:id",
    {
      schema: {
        tags: ["orders"],
        summary: "Get order information",
        params: OrderIdParams,
        response: { 200: Type.Ref("Order"), ...errors },
      },
    },
    // A point-of-sale terminal reads only the orders its own key created.
    async (request) => {
      const row = await deps.orders.get(BigInt(request.params.id), request.merchant, terminalKeyOf(request));
      return withMethods(row, await keyed(row, request.merchant));
    },
  );

  app.get(
    "/history",
    {
      schema: {
        tags: ["history"],
        summary: "Show all orders, newest first",
        querystring: PageQuery,
        response: { 200: OrderListSchema, ...errors },
      },
    },
    async (request) => {
      const merchant = requireMerchant(request);
      const page = await deps.orders.list(
        merchant,
        undefined,
        parseLimit(request.query.limit),
        request.query.cursor,
      );
      return { orders: await keyedList(page.orders, merchant), next_cursor: page.nextCursor };
    },
  );

  app.get(
    "/history/:status",
    {
      schema: {
        tags: ["history"],
        summary: "Show orders with a status",
        params: Type.Object({
          // An enum (not a union of literals), so a wrong status is a 400 that lists the valid ones.
          status: Type.Unsafe<(typeof ORDER_STATUSES)[number]>({
            type: "string",
            enum: [...ORDER_STATUSES],
            description: "pending, success, complete, expired or refunded",
          }),
        }),
        querystring: PageQuery,
        response: { 200: OrderListSchema, ...errors },
      },
    },
    async (request) => {
      const merchant = requireMerchant(request);
      const page = await deps.orders.list(
        merchant,
        request.params.status,
        parseLimit(request.query.limit),
        request.query.cursor,
      );
      return { orders: await keyedList(page.orders, merchant), next_cursor: page.nextCursor };
    },
  );
};
