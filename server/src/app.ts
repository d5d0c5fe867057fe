import helmet from "@fastify/helmet";
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { createHash } from "node:crypto";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from "fastify";
import { apiKeyFrom, authPlugin } from "./api/auth.ts";
import { idempotencyPlugin } from "./api/idempotency.ts";
import { createAuthThrottle } from "./api/auth-throttle.ts";
import { cookiePolicy, sessionAuthPlugin } from "./api/session-auth.ts";
import type { AppDeps } from "./api/deps.ts";
import { ErrorSchema, frameworkErrors, HttpError, installErrorHandling } from "./api/errors.ts";
import { installRequestLogging, quietRequestLogs } from "./api/request-log.ts";
import { adminRoutes } from "./api/routes/admin.ts";
import { callbackRoutes } from "./api/routes/callbacks.ts";
import { exportRoutes } from "./api/routes/exports.ts";
import { healthRoutes } from "./api/routes/health.ts";
import { metricsRoutes } from "./api/routes/metrics.ts";
import { orderRoutes } from "./api/routes/orders.ts";
import { overviewRoutes } from "./api/routes/overview.ts";
import { paymentMethodRoutes } from "./api/routes/payment-methods.ts";
import { recurringRoutes } from "./api/routes/recurring.ts";
import { userRoutes } from "./api/routes/user.ts";
import { OrderSchema } from "./api/schemas.ts";
import { consoleRoutes } from "./web/console-page.ts";
import { payPageRoutes } from "./web/pay-page.ts";
import { subscriptionPageRoutes } from "./web/subscription-page.ts";

/** Builds the public API as a Fastify instance; it does not listen (server/src/main.ts does). */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as unknown as FastifyBaseLogger,
    // Request lines come from installRequestLogging, at debug level.
    logController: quietRequestLogs(),
    frameworkErrors,
    bodyLimit: 64 * 1024,
    // TRUST_PROXY: the proxies whose X-Forwarded-For names the client (a hop count or addresses).
    // A hop count trusts the n nearest hops whatever their address (Fastify 5.12 ignores a bare
    // number, so it is a function here): only for a server that is reachable only through its proxies.
    trustProxy:
      typeof deps.trustProxy === "number"
        ? (
            (hops: number) => (_address: string, hop: number) =>
              hop < hops
          )(deps.trustProxy)
        : (deps.trustProxy ?? false),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });

  installErrorHandling(app);
  installRequestLogging(app);
  app.addSchema(ErrorSchema);
  app.addSchema(OrderSchema);

  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        "script-src": ["'self'"],
        "img-src": ["'self'", "data:", "https:"],
        "style-src": ["'self'", "'unsafe-inline'"],
        // Off: on a plain-http LAN address (http://shop.lan:3000/pay/…) the browser would rewrite
        // the page's own CSS, script and QR to https, and they would fail to load.
        "upgrade-insecure-requests": null,
      },
    },
  });
  // Cross-Origin-Opener-Policy and Origin-Agent-Cluster only apply on trustworthy origins (https,
  // localhost); a browser on plain http to a LAN name (http://shop.lan:3000/pay/…) ignores them
  // and reports a console error. Sent only where they take effect.
  app.addHook("onSend", async (request, reply) => {
    if (request.protocol === "https") return;
    const host = request.hostname.replace(/:\d+$/, "");
    if (host === "localhost" || host.endsWith(".localhost") || /^127\.|^\[::1\]$/.test(host)) return;
    reply.removeHeader("cross-origin-opener-policy");
    reply.removeHeader("origin-agent-cluster");
  });
  // Failed authentication is limited per client address, before any key or token is checked.
  const authThrottle = createAuthThrottle({
    maxFailures: deps.authFailuresPerMinute ?? 10,
    windowMs: 60_000,
  });
  // Credentials come in the Authorization header, or in the body of the console's sign-in routes
  // (an API key, a terminal key, a SIWE signature): both count against the same address (R2-9).
  const carriesCredentials = (request: FastifyRequest) =>
    request.headers.authorization !== undefined || request.routeOptions.config.credentialsInBody === true;
  app.addHook("onRequest", async (request, reply) => {
    if (!carriesCredentials(request)) return;
    const waitMs = authThrottle.retryAfterMs(request.ip);
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      reply.header("retry-after", String(seconds));
      throw new HttpError(
        429,
        "auth_rate_limited",
        `too many failed authentications from this address; try again in ${seconds} s`,
      );
    }
  });
  app.addHook("onResponse", async (request, reply) => {
    if (reply.statusCode === 401 && carriesCredentials(request)) authThrottle.failed(request.ip);
  });

  await app.register(rateLimit, {
    max: deps.rateLimitPerMinute ?? 600,
    timeWindow: "1 minute",
    // Per API key when one is sent (the whole key, hashed: knowing a key's prefix does not let
    // anyone drain its bucket), per client address otherwise. Wrong keys are held back above.
    keyGenerator: (request) => {
      const key = apiKeyFrom(request);
      return key ? `key:${createHash("sha256").update(key).digest("base64url")}` : `ip:${request.ip}`;
    },
    errorResponseBuilder: (_request, context) =>
      new HttpError(
        429,
        "rate_limited",
        `too many requests: the limit is ${context.max} per ${context.after}; slow down`,
      ),
  });
  await app.register(swagger, {
    openapi: {
      info: {
        title: "Ethereum POS API",
        version: "1.0.0",
        description: "Orders priced in USD, paid on chain to the Ethereum POS payment contract.",
      },
      components: { securitySchemes: { apiKey: { type: "apiKey", in: "header", name: "Authorization" } } },
      security: [{ apiKey: [] }],
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === "string" ? json.$id : `def-${i}`,
    },
  });
  await app.register(swaggerUi, { routePrefix: "/docs", uiConfig: { docExpansion: "list" } });

  // 406 for an Accept header that rules out JSON on JSON routes.
  app.addHook("onRequest", async (request) => {
    const accept = request.headers.accept;
    if (!accept || request.routeOptions.config.nonJson || request.url.startsWith("/docs")) return;
    if (!/(^|,|\s)(\*\/\*|application\/\*|application\/json)(\s*;|\s*,|\s*$)/i.test(accept)) {
      throw new HttpError(406, "not_acceptable", "this API answers in JSON; send Accept: application/json");
    }
  });

  await app.register(authPlugin, { merchants: deps.merchants });
  const cookies = cookiePolicy(deps.config.consoleOrigin);
  if (deps.web) await app.register(sessionAuthPlugin, { sessions: deps.web.sessions, cookies });
  // After both credentials are resolved: a key is scoped to the merchant or terminal that sent it.
  if (deps.idempotency) await app.register(idempotencyPlugin, { service: deps.idempotency });
  await app.register(healthRoutes, { deps });
  await app.register(orderRoutes, { deps });
  if (deps.paymentMethods) await app.register(paymentMethodRoutes, { methods: deps.paymentMethods });
  await app.register(userRoutes, { deps });
  await app.register(exportRoutes, { deps });
  if (deps.overview) await app.register(overviewRoutes, { deps, overview: deps.overview });
  await app.register(recurringRoutes, { deps });
  await app.register(adminRoutes, { deps });
  if (deps.metrics) {
    await app.register(metricsRoutes, {
      metrics: deps.metrics,
      access: { kind: "admin", adminToken: deps.config.adminToken },
    });
  }
  await app.register(payPageRoutes, { deps });
  await app.register(subscriptionPageRoutes, { deps });
  if (deps.web) await app.register(consoleRoutes, { deps, web: deps.web, cookies });
  await app.register(callbackRoutes, { callbacks: deps.callbacks });
  return app;
}

/**
 * The METRICS_PORT listener: GET /metrics only, without a token (the network guards it: bind
 * METRICS_HOST to loopback or a private interface). An indexer process (RUN_API=false) has no
 * other listener, and its indexer and gas key are seen only here.
 */
export async function buildMetricsApp(deps: {
  metrics: NonNullable<AppDeps["metrics"]>;
  log: AppDeps["log"];
}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as unknown as FastifyBaseLogger,
    logController: quietRequestLogs(),
    frameworkErrors,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });
  installErrorHandling(app);
  app.addSchema(ErrorSchema);
  await app.register(metricsRoutes, { metrics: deps.metrics, access: { kind: "open" } });
  return app;
}
