import type { FastifyError, FastifyInstance } from "fastify";
import { AppError } from "../lib/errors.ts";

export interface ErrorBody {
  error: { code: string; message: string };
}

const body = (code: string, message: string): ErrorBody => ({ error: { code, message } });

/**
 * The one place errors become HTTP. Domain errors keep their status and message; validation
 * and protocol errors become 4xx with a message that says what to fix; anything unexpected is
 * logged and answered with a bare 500 that leaks nothing.
 */
export function installErrorHandling(app: FastifyInstance): void {
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

  app.setErrorHandler((error: FastifyError | AppError, request, reply) => {
    if (error instanceof AppError) {
      if (error.headers) reply.headers(error.headers);
      return reply.code(error.statusCode).send(body(error.code, error.message));
    }
    if (error.validation) {
      const first = error.validation[0];
      const where = error.validationContext ?? "request";
      const field = first?.instancePath
        ? first.instancePath.replace(/^\//, "").replace(/\//g, ".")
        : (first?.params as { missingProperty?: string })?.missingProperty;
      const message = first
        ? `${where}${field ? `.${field}` : ""} ${first.message ?? "is invalid"}`
        : error.message;
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
    return reply.code(500).send(body("internal", "internal server error"));
  });
}
