import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { IdempotencyService } from "../idempotency/service.ts";
import type { KeyRef } from "../idempotency/repository.ts";

declare module "fastify" {
  interface FastifyContextConfig {
    /** The route takes an Idempotency-Key header (POST /order, POST /recurring, POST /pos/order). */
    idempotent?: boolean;
  }
  interface FastifyRequest {
    /** The key this request claimed: its answer is stored when it is sent. */
    idempotencyClaim: KeyRef | null;
  }
}

/** The header, in the form Stripe and the IETF draft (draft-ietf-httpapi-idempotency-key-header) use. */
export const IDEMPOTENCY_HEADER = "idempotency-key";

/**
 * Idempotency-Key on the routes marked `config: { idempotent: true }`. Runs after the API key and
 * the session cookie are resolved (both are earlier preHandler hooks), so a key is scoped to the
 * terminal key, or the merchant, or to anonymous requests. A replayed answer carries
 * `Idempotent-Replayed: true`. Only 2xx answers are stored: after an error the key is given back
 * and a retry runs again.
 */
export const idempotencyPlugin = fp(async function idempotency(
  app: FastifyInstance,
  opts: { service: IdempotencyService },
) {
  app.decorateRequest("idempotencyClaim", null);

  app.addHook("preHandler", async (request, reply) => {
    if (!request.routeOptions.config.idempotent) return;
    const header = request.headers[IDEMPOTENCY_HEADER];
    if (header === undefined) return;
    const key = Array.isArray(header) ? header.join(",") : header;
    const terminal = request.webSession?.kind === "terminal" ? request.webSession.terminal : null;
    const scope = terminal
      ? `terminal:${terminal.keyId}`
      : request.merchant
        ? `merchant:${request.merchant.id}`
        : "anonymous";
    const begun = await opts.service.begin({
      scope,
      key,
      route: `${request.method} ${request.routeOptions.url}`,
      body: request.body,
    });
    if (begun.kind === "claimed") {
      request.idempotencyClaim = begun.claim;
      return;
    }
    return reply
      .code(begun.statusCode)
      .header("content-type", "application/json; charset=utf-8")
      .header("idempotent-replayed", "true")
      .send(begun.response);
  });

  app.addHook("onSend", async (request, reply, payload) => {
    const claim = request.idempotencyClaim;
    if (!claim) return payload;
    request.idempotencyClaim = null;
    if (reply.statusCode >= 200 && reply.statusCode < 300 && typeof payload === "string") {
      await opts.service.finish(claim, reply.statusCode, payload);
    } else {
      await opts.service.abandon(claim);
    }
    return payload;
  });
});
