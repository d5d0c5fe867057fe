import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import type { CallbackTarget } from "./ssrf.ts";

export const USER_AGENT = "EthereumPOS-Callbacks/1";

export interface PostResult {
  statusCode: number;
  /** Up to `maxResponseBytes` of the response body. */
  body: Buffer;
  /** The body was longer than the limit; the rest was discarded and the connection closed. */
  truncated: boolean;
  /** From a Retry-After header (delta-seconds or HTTP date), in milliseconds. */
  retryAfterMs: number | undefined;
  /** The response headers as received: name (as the receiver spelled it), value. */
  headers: [string, string][];
}

/** A delivery that did not get a response in time. */
export class CallbackTimeoutError extends Error {
  constructor(ms: number) {
    super(`timed out after ${ms} ms`);
    this.name = "CallbackTimeoutError";
  }
}

function parseRetryAfter(headers: IncomingHttpHeaders, nowMs: number): number | undefined {
  const value = headers["retry-after"];
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

/**
 * The headers of a callback request: the caller's (signature, event id) and the fixed ones. The
 * delivery log records exactly these (server/src/callbacks/exchange.ts).
 */
export function callbackRequestHeaders(
  headers: Record<string, string>,
  body: string,
): Record<string, string> {
  return {
    ...headers,
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(body, "utf8")),
    "user-agent": USER_AGENT,
    connection: "close",
  };
}

/** rawHeaders' flat [name, value, name, value, …] as pairs. */
function headerPairs(raw: string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i] as string, raw[i + 1] as string]);
  return pairs;
}

/**
 * POSTs `body` to the pinned target with one deadline for the whole exchange (connect, request,
 * response headers, body). Redirects are not followed. The response body is read only up to
 * `maxResponseBytes`; a larger one is cut off, which does not change the outcome (the status
 * code decides). Every connection is fresh: no keep-alive socket can go stale between callbacks.
 */
export function postCallback(
  target: CallbackTarget,
  headers: Record<string, string>,
  body: string,
  options: { timeoutMs: number; maxResponseBytes: number },
): Promise<PostResult> {
  const payload = Buffer.from(body, "utf8");
  const send = target.url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise<PostResult>((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | undefined, result?: PostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(result as PostResult);
    };
    const req = send(target.url, {
      method: "POST",
      agent: false,
      lookup: target.lookup,
      headers: callbackRequestHeaders(headers, body),
    });
    const timer = setTimeout(() => {
      const error = new CallbackTimeoutError(options.timeoutMs);
      finish(error);
      req.destroy(error);
    }, options.timeoutMs);
    req.on("error", (error) => finish(error));
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      const done = () =>
        finish(undefined, {
          statusCode: res.statusCode ?? 0,
          body: Buffer.concat(chunks),
          truncated,
          retryAfterMs: parseRetryAfter(res.headers, Date.now()),
          headers: headerPairs(res.rawHeaders),
        });
      res.on("data", (chunk: Buffer) => {
        if (truncated) return;
        const room = options.maxResponseBytes - size;
        if (chunk.length > room) {
          if (room > 0) chunks.push(chunk.subarray(0, room));
          size += Math.max(0, room);
          truncated = true;
          done();
          res.destroy();
          return;
        }
        chunks.push(chunk);
        size += chunk.length;
      });
      res.on("end", done);
      // After headers arrived, a broken body still leaves a usable status code.
      res.on("error", done);
      res.on("aborted", done);
    });
    req.end(payload);
  });
}
