import { createHash, timingSafeEqual } from "node:crypto";
import { BlockList, isIP } from "node:net";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { ErrorSchema, frameworkErrors, installErrorHandling } from "../api/errors.ts";
import { installRequestLogging, quietRequestLogs } from "../api/request-log.ts";
import { forbidden, tooManyRequests, unauthorized } from "../lib/errors.ts";
import { clientKey } from "../lib/ip.ts";
import { createWindowLimiter, type WindowLimiter } from "../lib/rate-window.ts";
import { ELETROPAY_AUTH_FIX, allowListExcludesLoopback, type EletroPayConfig } from "../config/eletropay.ts";
import type { EletroPayService } from "./service.ts";

export interface EletroPayAppDeps {
  config: EletroPayConfig;
  service: EletroPayService;
  /** A pino logger for the listener; silent when omitted. */
  logger?: FastifyBaseLogger;
}

/** Header that must carry ELETROPAY_SHARED_SECRET when it is set. */
export const SHARED_SECRET_HEADER = "x-eletropay-secret";

const RegisterBody = Type.Object({ email: Type.String({ maxLength: 320 }) });
const RegisterReply = Type.Object({ token: Type.String({ pattern: "^[0-9a-f]{40}$" }) });
const AddressParams = Type.Object({
  token: Type.String({ maxLength: 64 }),
  currency: Type.String({ maxLength: 16 }),
});
const AddressReply = Type.Object({ address: Type.String() });

const errorReplies = {
  400: ErrorSchema,
  401: ErrorSchema,
  403: ErrorSchema,
  404: ErrorSchema,
  429: ErrorSchema,
};

/** The 409 of an unauthenticated re-registration: the token is never shown again without the secret. */
export const CLIENT_EXISTS_MESSAGE =
  "a client with this email is already registered, and its token is shown again only to a caller " +
  `that sends the shared secret in the ${SHARED_SECRET_HEADER} header (the operator sets ELETROPAY_SHARED_SECRET); ` +
  "without it, register another email";

/** Builds an allowlist from IPs and CIDR ranges; IPv4-mapped IPv6 peers are checked as IPv4. */
export function createIpAllowList(entries: readonly string[]): (ip: string) => boolean {
  const list = new BlockList();
  for (const entry of entries) {
    const [ip = "", prefix] = entry.split("/");
    const family = isIP(ip) === 6 ? "ipv6" : "ipv4";
    if (prefix === undefined) list.addAddress(ip, family);
    else list.addSubnet(ip, Number(prefix), family);
  }
  return (raw: string) => {
    const ip = raw.startsWith("::ffff:") && isIP(raw.slice(7)) === 4 ? raw.slice(7) : raw;
    const family = isIP(ip);
    if (!family) return false;
    return list.check(ip, family === 6 ? "ipv6" : "ipv4");
  };
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/**
 * The private EletroPay API as its own Fastify instance, for its own listener
 * (ELETROPAY_HOST:ELETROPAY_PORT). Every request passes the IP allowlist and, when configured,
 * the shared-secret header before any route runs. Errors are `{"error":{"code","message"}}`.
 */
export async function eletropayApp(deps: EletroPayAppDeps): Promise<FastifyInstance> {
  const { config, service } = deps;
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    // Request lines come from installRequestLogging, at debug level.
    logController: quietRequestLogs(),
    bodyLimit: config.bodyLimit,
    routerOptions: { maxParamLength: 200 },
    trustProxy: false,
    // No type coercion: `{"email": 42}` or `{"email": ["a@b.co"]}` is a 400, not a registration.
    ajv: { customOptions: { coerceTypes: false } },
    // Router-level rejections (malformed URL encoding, over-long path segments) get the same shape.
    frameworkErrors,
  }).withTypeProvider<TypeBoxTypeProvider>();
  // The API's error mapper; this listener's 500 body is its own, as EletroPay clients know it.
  installErrorHandling(app, { internal: { code: "internal_error", message: "internal error" } });
  installRequestLogging(app);

  const allowed = createIpAllowList(config.allowIps);
  const secret = config.sharedSecret ? digest(config.sharedSecret) : undefined;
  // Start-up refuses this configuration (finding 6); a listener built around it still serves no one.
  const authenticated = secret !== undefined || allowListExcludesLoopback(config.allowIps);

  // Rate limits (security review 2, finding 12): per client address before anything is checked
  // (so a wrong secret cannot be tried without end), and per token on address requests.
  const perIp = createWindowLimiter({ max: config.rateLimitPerIp, windowMs: 60_000 });
  const perToken = createWindowLimiter({ max: config.rateLimitPerToken, windowMs: 60_000 });
  const limit = (limiter: WindowLimiter, key: string, what: string, max: number, reply: FastifyReply) => {
    const waitMs = limiter.take(key);
    if (waitMs === 0) return;
    const seconds = Math.ceil(waitMs / 1000);
    void reply.header("retry-after", String(seconds));
    throw tooManyRequests(
      `too many requests ${what}: the limit is ${max} per minute; try again in ${seconds} s`,
      "rate_limited",
    );
  };

  app.addHook("onRequest", async (request, reply) => {
    limit(perIp, clientKey(request.ip), "from this address", config.rateLimitPerIp, reply);
    if (!authenticated) {
      throw forbidden(
        `the EletroPay API does not know who its callers are: ${ELETROPAY_AUTH_FIX}`,
        "eletropay_auth_not_configured",
      );
    }
    if (!allowed(request.ip)) throw forbidden("this address may not use the EletroPay API", "ip_not_allowed");
    if (secret) {
      const given = request.headers[SHARED_SECRET_HEADER];
      if (typeof given !== "string" || !timingSafeEqual(digest(given), secret)) {
        throw unauthorized(`a valid ${SHARED_SECRET_HEADER} header is required`);
      }
    }
  });

  app.post(
    "/v1/clients",
    {
      schema: {
        body: RegisterBody,
        response: { 200: RegisterReply, ...errorReplies, 409: ErrorSchema, 413: ErrorSchema },
      },
    },
    async (request) => {
      // Every request here passed the secret check when a secret is configured; with the allowlist
      // alone an existing client's token stays hidden (409).
      const { token } = await service.registerClient(request.body.email, {
        revealExisting: secret !== undefined,
        existsMessage: CLIENT_EXISTS_MESSAGE,
      });
      return { token };
    },
  );

  app.get(
    "/v1/clients/:token/:currency",
    {
      schema: {
        params: AddressParams,
        response: { 200: AddressReply, ...errorReplies, 409: ErrorSchema },
      },
    },
    async (request, reply) => {
      const token = request.params.token.toLowerCase();
      limit(
        perToken,
        digest(token).toString("base64url"),
        "with this token",
        config.rateLimitPerToken,
        reply,
      );
      const { address } = await service.issueAddress(token, request.params.currency);
      void reply.header("cache-control", "no-store");
      return { address };
    },
  );

  await app.ready();
  return app;
}
