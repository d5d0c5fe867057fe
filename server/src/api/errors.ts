import { Type } from "@fastify/type-provider-typebox";
import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifyServerOptions,
} from "fastify";
import { DomainError, type ErrorKind } from "../lib/errors.ts";

/**
 * The one error body of every listener (the public API, the callbacks routes, EletroPay):
 * `{"error":{"code","message"}}`.
 */
export const ErrorSchema = Type.Object(
  { error: Type.Object({ code: Type.String(), message: Type.String() }) },
  { $id: "Error", description: 'Every error: {"error":{"code","message"}}' },
);

export interface ErrorBody {
  error: { code: string; message: string };
}

const body = (code: string, message: string): ErrorBody => ({ error: { code, message } });

/** How each kind of domain error is answered over HTTP. */
const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unprocessable: 422,
  gone: 410,
  limit: 429,
  unavailable: 503,
};
/** Seconds a client should wait before retrying an `unavailable` error. */
const RETRY_AFTER_SECONDS = "30";

/** A protocol-level refusal that has no domain meaning (406 for an Accept header, 429 from the rate limiter). */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly code: string;

  constructor(statusCode: number, code: string, message: string) {
    super(message);
    this.name = "HttpError";
    this.statusCode = statusCode;
    this.code = code;
  }
}

export interface ErrorHandlingOptions {
  /** The body of a 500 (it never carries details). */
  internal?: { code: string; message: string };
}

const DEFAULT_INTERNAL = { code: "internal", message: "internal server error" };

/**
 * The one mapper from errors to HTTP, for every listener. Domain errors get the status of their
 * kind; validation and protocol errors become 4xx with a message that says what to fix; anything
 * unexpected is logged and answered with a bare 500 that leaks nothing.
 */
export function createErrorHandler(options: ErrorHandlingOptions = {}) {
  const internal = options.internal ?? DEFAULT_INTERNAL;
  return function handleError(
    error: FastifyError | DomainError | HttpError,
    request: FastifyRequest,
    reply: FastifyReply,
  ): FastifyReply {
    if (error instanceof DomainError) {
      if (error.kind === "unavailable") void reply.header("retry-after", RETRY_AFTER_SECONDS);
      return reply.code(STATUS[error.kind]).send(body(error.code, error.message));
    }
    if (error instanceof HttpError) return reply.code(error.statusCode).send(body(error.code, error.message));
    if (error.validation) {
      const first = error.validation[0];
      const where = error.validationContext ?? "request";
      const field = first?.instancePath
        ? first.instancePath.replace(/^\//, "").replace(/\//g, ".")
        : (first?.params as { missingProperty?: string })?.missingProperty;
      const allowed = (first?.params as { allowedValues?: unknown[] } | undefined)?.allowedValues;
      const what =
        first?.keyword === "enum" && allowed ? `must be one of ${allowed.join(", ")}` : first?.message;
      const message = first ? `${where}${field ? `.${field}` : ""} ${what ?? "is invalid"}` : error.message;
      return reply.code(400).send(body("invalid_request", message));
    }
    const status = error.statusCode ?? 500;
    if (status === 429) return reply.code(429).send(body("rate_limited", error.message));
    if (status >= 400 && status < 500) {
      const code =
        status === 413 ? "payload_too_large" : status === 415 ? "unsupported_media_type" : "bad_request";
      const message =
        error.code === "FST_ERR_CTP_INVALID_JSON_BODY" || error instanceof SyntaxError
          ? "the request body is not valid JSON"
          : error.code === "FST_ERR_CTP_EMPTY_JSON_BODY"
            ? "the request body is empty; send a JSON object"
            : error.message;
      return reply.code(status).send(body(code, message));
    }
    request.log.error({ err: error }, "unhandled error");
    return reply.code(500).send(body(internal.code, internal.message));
  };
}

/**
 * Router-level rejections (malformed URL encoding, over-long path segments) in the same shape;
 * pass to `Fastify({ frameworkErrors })`.
 */
export const frameworkErrors: FastifyServerOptions["frameworkErrors"] = (error, _request, reply) => {
  void (reply as FastifyReply).code(400).send(body("invalid_request", error.message.slice(0, 200)));
};

/**
 * Where the first text holding U+0000 is in a parsed request part (`body.item_title`,
 * `params.id`), or undefined. PostgreSQL's text cannot store that character: without this check such a
 * field, valid by every schema, reached the database and failed there (a 500).
 */
export function findNulCharacter(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === "string") return value.includes("\u0000") ? path : undefined;
  if (value === null || typeof value !== "object" || depth > 32) return undefined;
  for (const [key, inner] of Object.entries(value)) {
    const at = Array.isArray(value) ? `${path}[${key}]` : `${path}.${key.replaceAll("\u0000", "\\u0000")}`;
    if (key.includes("\u0000")) return at;
    const found = findNulCharacter(inner, at, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * Installs the error mapper and the 404/405 handler on a listener, and refuses text that PostgreSQL
 * cannot store (U+0000 in a path parameter, the query string or the body) with a 400 naming the field. A path that exists under
 * another method is a 405 with an Allow header, so a wrong method never looks like a typo.
 */
export function installErrorHandling(app: FastifyInstance, options: ErrorHandlingOptions = {}): void {
  const routes: { method: string; pattern: RegExp }[] = [];
  app.addHook("onRoute", (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const pattern = new RegExp(
      `^${route.url.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/:[A-Za-z_]+/g, "[^/]+")}/?$`,
    );
    for (const method of methods) routes.push({ method, pattern });
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0] ?? "/";
    const allowed = [...new Set(routes.filter((r) => r.pattern.test(path)).map((r) => r.method))];
    if (allowed.length > 0) {
      return reply
        .code(405)
        .header("allow", allowed.join(", "))
        .send(
          body(
            "method_not_allowed",
            `${request.method} is not allowed on ${path}; use ${allowed.join(" or ")}`,
          ),
        );
    }
    return reply.code(404).send(body("not_found", `no route ${request.method} ${path}`));
  });

  app.addHook("preValidation", async (request) => {
    const parts = [
      ["params", request.params],
      ["querystring", request.query],
      ["body", request.body],
    ] as const;
    for (const [where, value] of parts) {
      const at = findNulCharacter(value, where);
      if (at)
        throw new HttpError(
          400,
          "invalid_request",
          `${at} contains the NUL character (U+0000), which no text field can hold; remove it`,
        );
    }
  });

  app.setErrorHandler(createErrorHandler(options));
}
