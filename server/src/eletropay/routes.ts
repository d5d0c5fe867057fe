import { createHash, timingSafeEqual } from "node:crypto";
import { BlockList, isIP } from "node:net";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
} from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { AppError, forbidden, unauthorized } from "../lib/errors.ts";
import type { EletroPayConfig } from "./config.ts";
import type { EletroPayService } from "./service.ts";

export interface EletroPayAppDeps {
  config: EletroPayConfig;
  service: EletroPayService;
  /** A pino logger for the listener; silent when omitted. */
  logger?: FastifyBaseLogger;
}

/** Header that must carry ELETROPAY_SHARED_SECRET when it is set. */
export const SHARED_SECRET_HEADER = "x-eletropay-secret";

const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() }),
});

const RegisterBody = Type.Object({ email: Type.String({ maxLength: 320 }) });
const RegisterReply = Type.Object({ token: Type.String({ pattern: "^[0-9a-f]{40}$" }) });
const AddressParams = Type.Object({
  token: Type.String({ maxLength: 64 }),
  currency: Type.String({ maxLength: 16 }),
});
const AddressReply = Type.Object({ address: Type.String() });

const errorReplies = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

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
    bodyLimit: config.bodyLimit,
    routerOptions: { maxParamLength: 200 },
    trustProxy: false,
    // No type coercion: `{"email": 42}` or `{"email": ["a@b.co"]}` is a 400, not a registration.
    ajv: { customOptions: { coerceTypes: false } },
    // Router-level rejections (malformed URL encoding, over-long path segments) get the same shape.
    frameworkErrors: (error, _request, reply) => {
      void (reply as FastifyReply)
        .code(400)
        .send({ error: { code: "invalid_request", message: error.message.slice(0, 200) } });
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const allowed = createIpAllowList(config.allowIps);
  const secret = config.sharedSecret ? digest(config.sharedSecret) : undefined;

  app.addHook("onRequest", async (request) => {
    if (!allowed(request.ip)) throw forbidden("this address may not use the EletroPay API", "ip_not_allowed");
    if (secret) {
      const given = request.headers[SHARED_SECRET_HEADER];
      if (typeof given !== "string" || !timingSafeEqual(digest(given), secret)) {
        throw unauthorized(`a valid ${SHARED_SECRET_HEADER} header is required`);
      }
    }
  });

  app.setErrorHandler((error: FastifyError | AppError, request, reply) => {
    if (error instanceof AppError) {
      if (error.headers) void reply.headers(error.headers);
      return reply.code(error.statusCode).send({ error: { code: error.code, message: error.message } });
    }
    if ("validation" in error && error.validation) {
      return reply.code(400).send({ error: { code: "invalid_request", message: error.message } });
    }
    const status = "statusCode" in error ? error.statusCode : undefined;
    if (status !== undefined && status >= 400 && status < 500) {
      const code = error.code === "FST_ERR_CTP_BODY_TOO_LARGE" ? "body_too_large" : "invalid_request";
      return reply.code(status).send({ error: { code, message: error.message } });
    }
    request.log.error({ err: error }, "EletroPay API error");
    return reply.code(500).send({ error: { code: "internal_error", message: "internal error" } });
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: { code: "not_found", message: `no route ${request.method} ${request.url.split("?")[0]}` },
    }),
  );

  app.post(
    "/v1/clients",
    { schema: { body: RegisterBody, response: { 200: RegisterReply, ...errorReplies, 413: ErrorBody } } },
    async (request) => {
      const { token } = await service.registerClient(request.body.email);
      return { token };
    },
  );

  app.get(
    "/v1/clients/:token/:currency",
    { schema: { params: AddressParams, response: { 200: AddressReply, ...errorReplies } } },
    async (request, reply) => {
      const { address } = await service.issueAddress(request.params.token, request.params.currency);
      void reply.header("cache-control", "no-store");
      return { address };
    },
  );

  await app.ready();
  return app;
}
