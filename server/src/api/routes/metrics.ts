import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@fastify/type-provider-typebox";
import { notFound, unauthorized } from "../../lib/errors.ts";
import type { Metrics } from "../../metrics/index.ts";
import { hasAdminToken } from "../auth.ts";
import { ErrorSchema } from "../errors.ts";

export interface MetricsRouteOptions {
  metrics: Pick<Metrics, "contentType" | "render">;
  /**
   * `admin`: on the public API, only with ADMIN_TOKEN (`Authorization: Bearer <token>`), like
   * /admin; `open`: on METRICS_PORT, a listener of its own that the network guards.
   */
  access: { kind: "admin"; adminToken: string | undefined } | { kind: "open" };
}

/** GET /metrics: the operator's metrics in Prometheus text format (docs/operations.md, "Metrics"). */
export const metricsRoutes: FastifyPluginAsyncTypebox<MetricsRouteOptions> = async (app, options) => {
  const { metrics, access } = options;
  app.get(
    "/metrics",
    {
      config: { adminRoute: true, nonJson: true },
      schema: {
        tags: ["ops"],
        summary:
          "Metrics for Prometheus: per chain head, indexed block and lag, RPC calls, orders, outbox, gas key",
        description:
          "Prometheus text exposition format 0.0.4. On the API it needs the admin token (`Authorization: Bearer <ADMIN_TOKEN>`); with METRICS_PORT set it is also served there without one.",
        response: {
          200: Type.String({ description: "text/plain; version=0.0.4" }),
          401: ErrorSchema,
          404: ErrorSchema,
        },
      },
    },
    async (request, reply) => {
      if (access.kind === "admin") {
        if (!access.adminToken)
          throw notFound(
            "/metrics on the API is disabled without ADMIN_TOKEN; set ADMIN_TOKEN, or METRICS_PORT for a listener of its own",
          );
        if (!hasAdminToken(request, access.adminToken))
          throw unauthorized("a valid ADMIN_TOKEN is required: Authorization: Bearer <ADMIN_TOKEN>");
      }
      const text = await metrics.render();
      return reply.header("content-type", metrics.contentType).header("cache-control", "no-store").send(text);
    },
  );
};
