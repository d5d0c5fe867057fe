import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@fastify/type-provider-typebox";
import type { AppDeps } from "../deps.ts";

/**
 * 200 when the database and the chain answer, 503 otherwise. Also shows indexer progress and
 * whatever the optional components report (callback receivers, address gap limits).
 */
export const healthRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.get(
    "/health",
    {
      schema: {
        tags: ["ops"],
        summary: "Liveness and readiness: database, chain, indexer lag",
        response: {
          200: Type.Object({}, { additionalProperties: true }),
          503: Type.Object({}, { additionalProperties: true }),
        },
      },
    },
    async (_request, reply) => {
      const report = await deps.health.check();
      return reply.code(report.ok ? 200 : 503).send(report.body);
    },
  );
};
