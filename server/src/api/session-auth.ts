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

/**
 * The console's cookies, from the configured console origin (never from the request, R2-10 in
 * docs/security.md). On an https origin they are `__Host-` cookies: Secure (also behind a proxy
 * that ends TLS, where the request itself is plain http), Path=/ and no Domain, so a sibling
 * subdomain can neither set nor overwrite them. On a plain-http origin (a developer's
 * http://127.0.0.1:3000) browsers would drop Secure cookies, so they are plain.
 */
export interface CookiePolicy {
  /** The console's origin (scheme://host[:port]); state-changing browser requests must come from it. */
  origin: string;
  secure: boolean;
  /** The session cookie's name. */
  session: string;
  /** The pre-session cookie that SIWE nonces are bound to. */
  siwe: string;
}

export function cookiePolicy(consoleOrigin: string): CookiePolicy {
  const secure = consoleOrigin.startsWith("https:");
  return {
    origin: consoleOrigin,
    secure,
    session: secure ? "__Host-epos_session" : "epos_session",
    siwe: secure ? "__Host-epos_siwe" : "epos_siwe",
  };
}

/** What a terminal session may call: create an order (with its key's settings) and read one. */
// Not POST /order: its body names the payout address, which a terminal must not choose.
const TERMINAL_ROUTES = new Set(["POST /pos/order", "GET /order/:id"]);
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** The value of one cookie in the Cookie header, or undefined. */
export function cookieValue(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

function cookie(policy: CookiePolicy, name: string, value: string, maxAge: string) {
  return `${name}=${value}; Path=/; HttpOnly; SameSite=Strict; ${maxAge}${policy.secure ? "; Secure" : ""}`;
}

/** Adds a Set-Cookie header, keeping those already set on the reply. */
function addCookie(reply: FastifyReply, value: string) {
  const current = reply.getHeader("set-cookie");
  const list = current === undefined ? [] : Array.isArray(current) ? current.map(String) : [String(current)];
  reply.header("set-cookie", [...list, value]);
}

/**
 * Sets the session cookie: HttpOnly (scripts never see it), SameSite=Strict (no other site can
 * send it), `__Host-` and Secure on an https console origin, for the whole site.
 */
export function setSessionCookie(reply: FastifyReply, policy: CookiePolicy, token: string, expiresAt: Date) {
  addCookie(reply, cookie(policy, policy.session, token, `Expires=${expiresAt.toUTCString()}`));
}

export function clearSessionCookie(reply: FastifyReply, policy: CookiePolicy) {
  addCookie(reply, cookie(policy, policy.session, "", "Max-Age=0"));
}

/** The browser's pre-session token (its SIWE nonces are bound to it), if it has a well-formed one. */
export function siweClientToken(request: FastifyRequest, policy: CookiePolicy): string | undefined {
  const value = cookieValue(request, policy.siwe);
  return value && TOKEN.test(value) ? value : undefined;
}

export function setSiweClientCookie(reply: FastifyReply, policy: CookiePolicy, token: string, ms: number) {
  addCookie(reply, cookie(policy, policy.siwe, token, `Max-Age=${Math.floor(ms / 1000)}`));
}

/**
 * Whether a request must come from the console's origin: a state-changing request that a browser
 * could make with the session cookie, or a console sign-in (login CSRF). A request with an
 * Authorization header carries its own credential, and the cookie is not read for it.
 */
function needsSameOrigin(request: FastifyRequest, policy: CookiePolicy): boolean {
  if (SAFE_METHODS.has(request.method) || request.headers.authorization !== undefined) return false;
  const url = request.routeOptions.url ?? "";
  return (
    url.startsWith("/console") || url.startsWith("/pos") || cookieValue(request, policy.session) !== undefined
  );
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
  opts: { sessions: Pick<WebSessionService, "byToken">; cookies: CookiePolicy },
) {
  app.decorateRequest("webSession", null);
  app.decorateRequest("webSessionToken", null);
  app.decorateRequest("terminalDenied", false);
  // Before the body is read: SameSite alone does not stop a sibling subdomain (same site), so a
  // state-changing browser request must name the console's own origin (R2-10).
  app.addHook("onRequest", async (request) => {
    if (request.routeOptions.config.adminRoute || !needsSameOrigin(request, opts.cookies)) return;
    const origin = request.headers.origin;
    if (origin !== opts.cookies.origin) {
      throw forbidden(
        origin
          ? `requests from ${origin.slice(0, 200)} may not change anything here; use the console at ${opts.cookies.origin}, or send your API key in the Authorization header`
          : `the Origin header is missing; a browser sends it, any other client sends its API key in the Authorization header`,
        "origin_mismatch",
      );
    }
  });
  app.addHook("preHandler", async (request) => {
    if (request.routeOptions.config.adminRoute || request.merchant) return;
    const token = cookieValue(request, opts.cookies.session);
    if (!token || !TOKEN.test(token)) return;
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
