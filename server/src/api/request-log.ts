import { LogController, type FastifyInstance } from "fastify";

/** For `Fastify({ logController })`: no built-in request lines (installRequestLogging writes them). */
export const quietRequestLogs = (): LogController => new LogController({ disableRequestLogging: true });

/**
 * One debug line per answered request (method, url, status, milliseconds) instead of Fastify's
 * two info lines; build the listener with `logController: quietRequestLogs()`.
 */
export function installRequestLogging(app: FastifyInstance): void {
  app.addHook("onResponse", async (request, reply) => {
    request.log.debug(
      {
        method: request.method,
        url: request.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      `${request.method} ${request.url.split("?")[0]} ${reply.statusCode}`,
    );
  });
}
