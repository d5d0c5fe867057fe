import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@fastify/type-provider-typebox";
import { unauthorized } from "../../lib/errors.ts";
import { hasAdminToken } from "../auth.ts";
import type { AppDeps } from "../deps.ts";

/**
 * 200 when the database and the chain answer, 503 otherwise. Anyone sees up or down per component
 * (database, each chain, indexer, callbacks, eletropay). With the admin token (`Authorization:
 * Bearer <ADMIN_TOKEN>`, on /health or /admin/health) the operator also sees indexer progress and
 * whatever the components report (failing callback receivers, address gap limits).
 */
export const healthRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const Details = Type.Object({}, { additionalProperties: true });

  app.get(
    "/admin/health",
    {
      config: { adminRoute: true },
      schema: {
        tags: ["admin"],
        summary: "Health with details: indexer progress, failing receivers, address gap limits",
        response: { 200: Details, 503: Details },
      },
    },
    async (request, reply) => {
      if (!hasAdminToken(request, deps.config.adminToken))
        throw unauthorized("a valid ADMIN_TOKEN is required");
      const report = await deps.health.check();
      return reply.code(report.ok ? 200 : 503).send(report.body);
    },
  );

  app.get(
    "/health",
    {
      // The credentials, if any, are the admin token (not a merchant key).
      config: { adminRoute: true },
      schema: {
        tags: ["ops"],
        summary: "Liveness and readiness: up or down per component (details with the admin token)",
        description:
          "Without credentials: the summary (status and up/down per component). With the admin token: the details.",
        response: { 200: Details, 503: Details },
      },
    },
    async (request, reply) => {
      const admin = request.headers.authorization !== undefined;
      if (admin && !hasAdminToken(request, deps.config.adminToken))
        throw unauthorized("the Authorization header on /health must carry ADMIN_TOKEN");
      const report = await deps.health.check();
      return reply.code(report.ok ? 200 : 503).send(admin ? report.body : report.summary);
    },
  );
};
