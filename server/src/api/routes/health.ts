import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@fastify/type-provider-typebox";
import type { AppDeps } from "../../app.ts";

const withTimeout = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)),
  ]);

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
      const database = await withTimeout(deps.db.query("SELECT 1"), 2_000).then(
        () => ({ ok: true as const }),
        (error: Error) => ({ ok: false as const, error: error.message.split("\n")[0] }),
      );
      const head = await withTimeout(deps.chain.client.getBlockNumber({ cacheTime: 0 }), 3_000).then(
        (n) => n,
        () => null,
      );
      const indexer = deps.indexerStatus();
      const indexed = deps.indexedBlock();
      const chain = {
        ok: head !== null,
        chain_id: Number(deps.chain.chainId),
        contract: deps.chain.contract,
        head_block: head === null ? null : Number(head),
        indexed_block: indexed === null ? null : Number(indexed),
        lag_blocks: head === null || indexed === null ? null : Number(head - indexed),
        confirmations: deps.config.confirmations,
      };
      const extras: Record<string, unknown> = {};
      for (const [name, check] of Object.entries(deps.healthChecks)) {
        extras[name] = await check().catch((error: Error) => ({ ok: false, error: error.message }));
      }
      const ok = database.ok && chain.ok && indexer?.state !== "failed";
      return reply.code(ok ? 200 : 503).send({
        status: ok ? "ok" : "unavailable",
        database,
        chain,
        indexer: indexer
          ? { state: indexer.state, last_error: indexer.lastError, role: deps.indexerRole() }
          : { state: "disabled", role: deps.indexerRole() },
        ...extras,
      });
    },
  );
};
