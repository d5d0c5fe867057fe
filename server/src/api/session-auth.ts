import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { forbidden } from "../lib/errors.ts";
import type { WebSession, WebSessionService } from "../merchants/web-sessions.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The browser session the cookie names (console or terminal), or null. */
    webSession: WebSession | null;
    /** The cookie's raw token, to sign out. */
    webSessionToken: string | null;
    /** A terminal session asked for something a terminal may not do (requireMerchant says so). */
    terminalDenied: boolean;
  }
}

export const SESSION_COOKIE = "epos_session";

/** What a terminal session may call: create an order (with its key's settings) and read one. */
// Not POST /order: its body names the payout address, which a terminal must not choose.
const TERMINAL_ROUTES = new Set(["POST /pos/order", "GET /order/:id"]);

/** The value of one cookie in the Cookie header, or undefined. */
export function cookieValue(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

/**
 * Sets the session cookie: HttpOnly (scripts never see it), SameSite=Strict (no other site can
 * send it, which also stops cross-site request forgery), Secure on https, for the whole site.
 */
export function setSessionCookie(
  request: FastifyRequest,
  reply: FastifyReply,
  token: string,
  expiresAt: Date,
) {
  const secure = request.protocol === "https" ? "; Secure" : "";
  reply.header(
    "set-cookie",
    `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Expires=${expiresAt.toUTCString()}${secure}`,
  );
}

export function clearSessionCookie(reply: FastifyReply) {
  reply.header("set-cookie", `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
}

/**
 * The terminal key whose orders a request may read, or null when it is not a terminal session
 * (an API key or a console session reads every order of the account). A terminal session always
 * has its key; one without is refused rather than left unscoped.
 */
export function terminalKeyOf(request: FastifyRequest): bigint | null {
  const session = request.webSession;
  if (!session || session.kind !== "terminal") return null;
  if (!session.terminal) throw forbidden("this terminal session has no terminal key", "terminal_not_allowed");
  return session.terminal.keyId;
}

/**
 * Resolves the session cookie once per request, after the API key (a request with an API key
 * ignores the cookie). A console session stands for the merchant like its API key; a terminal
 * session only on the routes in TERMINAL_ROUTES.
 */
export const sessionAuthPlugin = fp(async function sessionAuth(
  app: FastifyInstance,
  opts: { sessions: Pick<WebSessionService, "byToken"> },
) {
  app.decorateRequest("webSession", null);
  app.decorateRequest("webSessionToken", null);
  app.decorateRequest("terminalDenied", false);
  app.addHook("preHandler", async (request) => {
    if (request.routeOptions.config.adminRoute || request.merchant) return;
    const token = cookieValue(request, SESSION_COOKIE);
    if (!token || !/^[A-Za-z0-9_-]{43}$/.test(token)) return;
    const session = await opts.sessions.byToken(token);
    if (!session) return;
    request.webSession = session;
    request.webSessionToken = token;
    if (session.kind === "console") {
      request.merchant = session.merchant;
    } else if (TERMINAL_ROUTES.has(`${request.method} ${request.routeOptions.url}`)) {
      request.merchant = session.merchant;
    } else if (request.method === "POST" && request.routeOptions.url === "/order") {
      throw forbidden(
        "a terminal creates orders with POST /pos/order, which uses its key's payout address",
        "terminal_not_allowed",
      );
    } else {
      request.terminalDenied = true;
    }
  });
});
