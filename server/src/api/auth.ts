import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { forbidden, unauthorized } from "../lib/errors.ts";
import type { Merchant } from "../merchants/service.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The merchant whose API key came with the request, or null for anonymous requests. */
    merchant: Merchant | null;
  }
}

/** Reads `Authorization: <key>` (as in the seed) or `Authorization: Bearer <key>`. */
export function apiKeyFrom(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization?.trim();
  if (!header) return undefined;
  return header.toLowerCase().startsWith("bearer ") ? header.slice(7).trim() : header;
}

/**
 * Resolves the API key once per request. A key that is present but wrong is a 401 at once, so a
 * typo never silently degrades into an anonymous request.
 */
export const authPlugin = fp(async function auth(
  app: FastifyInstance,
  opts: { merchants: { byApiKey(key: string): Promise<Merchant | undefined> } },
) {
  app.decorateRequest("merchant", null);
  app.addHook("preHandler", async (request) => {
    if (request.routeOptions.config.adminRoute) return;
    const key = apiKeyFrom(request);
    if (key === undefined) return;
    const merchant = await opts.merchants.byApiKey(key);
    if (!merchant) throw unauthorized("The API key in the Authorization header is not valid.");
    request.merchant = merchant;
  });
});

export function requireMerchant(request: FastifyRequest): Merchant {
  if (!request.merchant && request.terminalDenied) {
    throw forbidden(
      "a terminal key can only create orders and read their status; sign in to the console for anything else",
      "terminal_not_allowed",
    );
  }
  if (!request.merchant) throw unauthorized();
  return request.merchant;
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** Admin routes authenticate with ADMIN_TOKEN instead of a merchant key. */
    adminRoute?: boolean;
    /** Routes that answer with something other than JSON (HTML, SVG) skip the Accept check. */
    nonJson?: boolean;
    /** Routes that take credentials in the body (console sign-in): their 401s count in the throttle. */
    credentialsInBody?: boolean;
  }
}

const digest = (value: string) => createHash("sha256").update(value).digest();

/** Whether the request carries ADMIN_TOKEN (`Authorization: Bearer <token>`), compared in constant time. */
export function hasAdminToken(request: FastifyRequest, expected: string | undefined): boolean {
  const given = apiKeyFrom(request);
  return expected !== undefined && given !== undefined && timingSafeEqual(digest(given), digest(expected));
}
