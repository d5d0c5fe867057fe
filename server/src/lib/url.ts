import { badRequest } from "./errors.ts";
import { blockedHostReason } from "./ip.ts";

/** An absolute http(s) URL, normalized; `field` names the input in the error (code `invalid_<field>`). */
export function parseHttpUrl(value: string, field: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw badRequest(`${field} must be an absolute http(s) URL`, `invalid_${field}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw badRequest(`${field} must use http or https, got ${url.protocol}`, `invalid_${field}`);
  }
  return url.toString();
}

/**
 * A callback URL as POST /order accepts it: an absolute http(s) URL whose host is not a private,
 * loopback or link-local literal (nor `localhost`) unless `allowPrivate`. Names are resolved and
 * checked again on every delivery attempt (server/src/callbacks/ssrf.ts); this check tells the
 * merchant at once, with a 400 `invalid_callback` that says why.
 */
export function parseCallbackUrl(value: string, allowPrivate: boolean): string {
  const url = parseHttpUrl(value, "callback");
  if (!allowPrivate) {
    const hostname = new URL(url).hostname;
    const reason = blockedHostReason(hostname);
    if (reason) {
      throw badRequest(
        `callback host ${hostname} is a ${reason}; callbacks are delivered only to public addresses ` +
          "(the operator may allow private targets for local development with CALLBACK_ALLOW_PRIVATE=true)",
        "invalid_callback",
      );
    }
  }
  return url;
}
