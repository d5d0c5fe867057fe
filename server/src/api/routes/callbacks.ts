import { Type } from "@fastify/type-provider-typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { CallbackService, Delivery } from "../../callbacks/service.ts";
import { unauthorized } from "../../lib/errors.ts";
import { createErrorHandler, ErrorSchema } from "../errors.ts";

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
  Type.Union([schema, Type.Null()]);

const HeadersSchema = Type.Array(Type.Object({ name: Type.String(), value: Type.String() }), {
  description: "In the order sent or received",
});
const BodySchema = {
  body: Type.String({ description: "The first 4 KiB (4096 bytes) as UTF-8 text" }),
  body_bytes: Nullable(
    Type.Integer({
      description:
        "The whole body's length in bytes; null when the read stopped at CALLBACK_MAX_RESPONSE_BYTES with no Content-Length",
    }),
  ),
  truncated: Type.Boolean({ description: "The body is longer than what is shown" }),
};

const AttemptSchema = Type.Object({
  attempt: Nullable(Type.Integer()),
  at: Type.String({ format: "date-time" }),
  status_code: Nullable(Type.Integer({ description: "HTTP status, null when no response arrived" })),
  latency_ms: Type.Integer(),
  error: Nullable(Type.String()),
  response_excerpt: Nullable(Type.String({ description: "First 256 characters of the receiver's answer" })),
  request: Nullable(
    Type.Object(
      { headers: HeadersSchema, ...BodySchema },
      {
        description:
          "What this attempt sent; null when no request was made (refused target, a text message) or the log was pruned (30 days)",
      },
    ),
  ),
  response: Nullable(
    Type.Object(
      { status: Type.Integer(), headers: HeadersSchema, ...BodySchema },
      {
        description:
          "What came back (credential headers such as Set-Cookie redacted); null when no response arrived",
      },
    ),
  ),
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

const TestBody = Type.Object(
  {
    url: Type.Optional(
      Type.String({
        maxLength: 2048,
        description: "http(s) URL to send the test to; default: the callback URL of your latest order",
      }),
    ),
  },
  { additionalProperties: false },
);

const TestResponse = Type.Object({
  id: Type.Integer({ description: "The delivery's id: poll GET /callbacks/:id to see it delivered" }),
  event_id: Type.String({ description: "X-EthPOS-Event-Id of the test event" }),
  url: Type.String(),
  status: Type.Literal("pending"),
});

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
      request: a.exchange
        ? {
            headers: a.exchange.request.headers.map(([name, value]) => ({ name, value })),
            body: a.exchange.request.body.text,
            body_bytes: a.exchange.request.body.bytes,
            truncated: a.exchange.request.body.truncated,
          }
        : null,
      response: a.exchange?.response
        ? {
            status: a.exchange.response.status,
            headers: a.exchange.response.headers.map(([name, value]) => ({ name, value })),
            body: a.exchange.response.body.text,
            body_bytes: a.exchange.response.body.bytes,
            truncated: a.exchange.response.body.truncated,
          }
        : null,
    })),
  };
}

function merchantId(request: FastifyRequest): bigint {
  if (!request.merchant) throw unauthorized();
  return request.merchant.id;
}

/**
 * `GET /callbacks?order=<id>`: the deliveries of one of the merchant's own orders, with every
 * attempt. `GET /callbacks/recent`, `GET /callbacks/:id`: the latest deliveries, one delivery.
 * `POST /callbacks/:id/redeliver`: queue a delivered or failed callback again. `POST
 * /callbacks/test`: queue a signed test event. All need the merchant's API key or console
 * session (request.merchant, set by the auth plugins).
 */
export async function callbackRoutes(
  app: FastifyInstance,
  opts: { callbacks: Pick<CallbackService, "list" | "redeliver" | "recent" | "get" | "sendTest"> },
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

  app.get(
    "/callbacks/recent",
    {
      schema: {
        tags: ["callbacks"],
        summary:
          "Your latest callback deliveries of every kind (orders, subscriptions, notifications, tests), newest first, with every attempt",
        security: [{ apiKey: [] }],
        querystring: Type.Object(
          {
            limit: Type.Optional(
              Type.String({ pattern: "^(100|[1-9][0-9]?)$", description: "How many, 1 to 100 (default 20)" }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ deliveries: Type.Array(DeliverySchema) }), ...errors },
      },
    },
    async (request) => {
      const merchant = merchantId(request);
      const { limit } = request.query as { limit?: string };
      const deliveries = await callbacks.recent(merchant, limit === undefined ? 20 : Number(limit));
      return { deliveries: deliveries.map(toJson) };
    },
  );

  app.get(
    "/callbacks/:id",
    {
      schema: {
        tags: ["callbacks"],
        summary: "One of your callback deliveries, with every attempt's request and response",
        security: [{ apiKey: [] }],
        params: Type.Object({ id: Type.String({ pattern: "^[0-9]{1,16}$" }) }),
        response: { 200: DeliverySchema, ...errors },
      },
    },
    async (request) => {
      const merchant = merchantId(request);
      const { id } = request.params as { id: string };
      return toJson(await callbacks.get(merchant, BigInt(id)));
    },
  );

  app.post(
    "/callbacks/test",
    {
      schema: {
        tags: ["callbacks"],
        summary:
          "Send a signed test event (kind `test`) through the real delivery path: same signature, headers and retries",
        security: [{ apiKey: [] }],
        body: TestBody,
        response: { 202: TestResponse, 400: ErrorSchema, ...errors, 429: ErrorSchema },
      },
      // The body is optional: a POST without one tests the default URL.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request, reply) => {
      const merchant = merchantId(request);
      const { url } = request.body as { url?: string };
      const queued = await callbacks.sendTest(merchant, url);
      return reply.code(202).send({
        id: Number(queued.id),
        event_id: queued.eventId,
        url: queued.url,
        status: "pending" as const,
      });
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
