import { badRequest } from "./errors.ts";

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
