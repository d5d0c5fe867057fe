import { Type } from "@fastify/type-provider-typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { CallbackService, Delivery } from "../../callbacks/service.ts";
import { unauthorized } from "../../lib/errors.ts";
import { createErrorHandler, ErrorSchema } from "../errors.ts";

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
  Type.Union([schema, Type.Null()]);

const AttemptSchema = Type.Object({
  attempt: Nullable(Type.Integer()),
  at: Type.String({ format: "date-time" }),
  status_code: Nullable(Type.Integer({ description: "HTTP status, null when no response arrived" })),
  latency_ms: Type.Integer(),
  error: Nullable(Type.String()),
  response_excerpt: Nullable(Type.String({ description: "First 256 characters of the receiver's answer" })),
});

const DeliverySchema = Type.Object({
  id: Type.Integer({ description: "Callback id, for POST /callbacks/:id/redeliver" }),
  event_id: Type.String({ description: "X-EthPOS-Event-Id: the same on every attempt of this delivery" }),
  kind: Type.String({ description: "order.success, order.complete, order.expired, order.refunded" }),
  url: Type.String(),
  status: Type.Union([
    Type.Literal("pending"),
    Type.Literal("sending"),
    Type.Literal("delivered"),
    Type.Literal("failed"),
  ]),
  attempt_count: Type.Integer(),
  created_at: Type.String({ format: "date-time" }),
  next_attempt_at: Nullable(Type.String({ format: "date-time" })),
  delivered_at: Nullable(Type.String({ format: "date-time" })),
  last_error: Nullable(Type.String()),
  redelivery_of: Nullable(Type.Integer()),
  body: Type.String({ description: "The exact JSON text sent (and signed)" }),
  attempts: Type.Array(AttemptSchema),
});

const ListResponse = Type.Object({ order: Type.Integer(), deliveries: Type.Array(DeliverySchema) });

const RedeliverResponse = Type.Object({
  id: Type.Integer({ description: "The new callback's id" }),
  event_id: Type.String({ description: "A new event id (see docs/callbacks.md)" }),
  redelivery_of: Type.Integer(),
  status: Type.Literal("pending"),
});

function toJson(d: Delivery) {
  return {
    id: Number(d.id),
    event_id: d.eventId,
    kind: d.kind,
    url: d.url,
    status: d.status,
    attempt_count: d.attemptCount,
    created_at: d.createdAt.toISOString(),
    next_attempt_at: d.nextAttemptAt?.toISOString() ?? null,
    delivered_at: d.deliveredAt?.toISOString() ?? null,
    last_error: d.lastError,
    redelivery_of: d.redeliveryOf === null ? null : Number(d.redeliveryOf),
    body: d.body,
    attempts: d.attempts.map((a) => ({
      attempt: a.attempt,
      at: a.at.toISOString(),
      status_code: a.statusCode,
      latency_ms: a.latencyMs,
      error: a.error,
      response_excerpt: a.responseExcerpt,
    })),
  };
}

function merchantId(request: FastifyRequest): bigint {
  if (!request.merchant) throw unauthorized();
  return request.merchant.id;
}

/**
 * `GET /callbacks?order=<id>`: the deliveries of one of the merchant's own orders, with every
 * attempt. `POST /callbacks/:id/redeliver`: queue a delivered or failed callback again.
 * Both need the merchant's API key (request.merchant, set by the auth plugin).
 */
export async function callbackRoutes(
  app: FastifyInstance,
  opts: { callbacks: Pick<CallbackService, "list" | "redeliver"> },
): Promise<void> {
  const { callbacks } = opts;
  const errors = { 401: ErrorSchema, 404: ErrorSchema };
  // The shared mapper, so these routes answer the same inside the API or on their own.
  app.setErrorHandler(createErrorHandler());

  app.get(
    "/callbacks",
    {
      schema: {
        tags: ["callbacks"],
        summary: "Callback deliveries of one of your orders, with every attempt",
        security: [{ apiKey: [] }],
        querystring: Type.Object(
          { order: Type.String({ pattern: "^[0-9]{1,16}$", description: "Order id" }) },
          { additionalProperties: false },
        ),
        response: { 200: ListResponse, ...errors },
      },
    },
    async (request) => {
      const merchant = merchantId(request);
      const { order } = request.query as { order: string };
      const deliveries = await callbacks.list(merchant, BigInt(order));
      return { order: Number(order), deliveries: deliveries.map(toJson) };
    },
  );

  app.post(
    "/callbacks/:id/redeliver",
    {
      schema: {
        tags: ["callbacks"],
        summary: "Send a delivered or failed callback again (a new delivery with a new event id)",
        security: [{ apiKey: [] }],
        params: Type.Object({ id: Type.String({ pattern: "^[0-9]{1,16}$" }) }),
        response: { 202: RedeliverResponse, ...errors, 409: ErrorSchema },
      },
    },
    async (request, reply) => {
      const merchant = merchantId(request);
      const { id } = request.params as { id: string };
      const queued = await callbacks.redeliver(merchant, BigInt(id));
      return reply.code(202).send({
        id: Number(queued.id),
        event_id: queued.eventId,
        redelivery_of: Number(queued.redeliveryOf),
        status: "pending" as const,
      });
    },
  );
}
