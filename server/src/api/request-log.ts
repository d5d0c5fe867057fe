import { LogController, type FastifyInstance } from "fastify";

/** For `Fastify({ logController })`: no built-in request lines (installRequestLogging writes them). */
export const quietRequestLogs = (): LogController => new LogController({ disableRequestLogging: true });

/**
 * Path segments that are secrets or capabilities, replaced by their route parameter's name:
 * EletroPay client tokens, subscription page tokens, and order ids (an order id opens its public
 * payment page, QR code and, for an anonymous order, its JSON). Matched on the raw path, so an
 * unknown route (a 404 with a token in it) or doubled slashes are redacted as well.
 */
const SECRET_SEGMENTS: readonly [pattern: RegExp, name: string][] = [
  [/^(\/+v1\/+clients\/+)[^/]+/i, ":token"],
  [/^(\/+subscription\/+)[^/]+/i, ":token"],
  [/^(\/+pay\/+)[^/]+/i, ":id"],
  [/^(\/+order\/+)[^/]+/i, ":id"],
  [/^(\/+console\/+orders\/+)[^/]+/i, ":id"],
];

/** Query parameters whose values are logged; any other value (e.g. `?order=<id>`) is redacted. */
const PLAIN_QUERY = new Set(["limit", "cursor", "status", "address", "due"]);

export const REDACTED = "[redacted]";

/** The request URL as the log shows it: secret path segments and unknown query values replaced. */
export function redactUrl(url: string): { path: string; url: string } {
  const q = url.indexOf("?");
  let path = q < 0 ? url : url.slice(0, q);
  for (const [pattern, name] of SECRET_SEGMENTS) {
    if (pattern.test(path)) {
      path = path.replace(pattern, `$1${name}`);
      break;
    }
  }
  if (q < 0) return { path, url: path };
  const query = url
    .slice(q + 1)
    .split("&")
    .filter(Boolean)
    .map((pair) => {
      const eq = pair.indexOf("=");
      const key = eq < 0 ? pair : pair.slice(0, eq);
      let plain = false;
      try {
        plain = PLAIN_QUERY.has(decodeURIComponent(key));
      } catch {
        // A malformed key is logged as redacted.
      }
      return plain || eq < 0 ? pair : `${key}=${REDACTED}`;
    })
    .join("&");
  return { path, url: query ? `${path}?${query}` : path };
}

/**
 * One debug line per answered request (method, url, status, milliseconds) instead of Fastify's
 * two info lines; build the listener with `logController: quietRequestLogs()`. The URL is
 * redacted (redactUrl): logs are read by more people than hold the secrets in them.
 */
export function installRequestLogging(app: FastifyInstance): void {
  app.addHook("onResponse", async (request, reply) => {
    const { path, url } = redactUrl(request.url);
    request.log.debug(
      {
        method: request.method,
        url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      `${request.method} ${path} ${reply.statusCode}`,
    );
  });
}
