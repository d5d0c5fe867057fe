import type { Queryable } from "../db/types.ts";

/**
 * The delivery log: what one attempt sent and what came back, as a merchant debugging a receiver
 * needs to see it (docs/callbacks.md, "The delivery log"). Bodies are kept up to
 * EXCHANGE_BODY_BYTES with a `truncated` flag and the full length; nothing secret is kept: the
 * request's only credential is the signature header (an HMAC of the body, which does not reveal
 * the secret), and the response's credential headers are redacted.
 */

/** Bytes of a request or response body kept per attempt. */
export const EXCHANGE_BODY_BYTES = 4096;
/** Response headers kept per attempt, and characters per header value. */
const MAX_HEADERS = 64;
const MAX_HEADER_CHARS = 1024;
/** How long exchanges are kept; the worker prunes older ones (the attempt summary stays). */
export const EXCHANGE_RETENTION_DAYS = 30;
/** Exchanges deleted per pruning statement, so one pass never holds a long lock. */
const PRUNE_BATCH = 5000;

/** Response headers whose values are credentials of the receiver's own: never stored. */
const REDACTED_HEADERS = new Set(["set-cookie", "authorization", "proxy-authorization", "cookie"]);
export const REDACTED = "[redacted]";

export interface ExchangeBody {
  /** The first EXCHANGE_BODY_BYTES bytes as UTF-8 text (invalid bytes and NUL as U+FFFD). */
  text: string;
  /** The whole body's length in bytes; null when the read stopped early and its size is unknown. */
  bytes: number | null;
  truncated: boolean;
}

export interface ExchangeRequest {
  headers: [string, string][];
  body: ExchangeBody;
}

export interface ExchangeResponse {
  status: number;
  headers: [string, string][];
  body: ExchangeBody;
}

export interface Exchange {
  request: ExchangeRequest;
  /** Null when no response arrived (refused connection, reset, timeout). */
  response: ExchangeResponse | null;
}

/** PostgreSQL text and jsonb cannot hold NUL. */
const clean = (text: string) => text.replaceAll("\u0000", "\uFFFD");

/**
 * The first `EXCHANGE_BODY_BYTES` of `raw` as text. A cut inside a multi-byte character leaves a
 * trailing U+FFFD, which is dropped. `knownBytes` is the full size when `raw` is only a prefix.
 */
export function keepBody(
  raw: Buffer,
  options: { knownBytes?: number | null; cut?: boolean } = {},
): ExchangeBody {
  const cutHere = raw.length > EXCHANGE_BODY_BYTES;
  let text = raw.subarray(0, EXCHANGE_BODY_BYTES).toString("utf8");
  if (cutHere) text = text.replace(/\uFFFD$/, "");
  const bytes = options.cut ? (options.knownBytes ?? null) : raw.length;
  return { text: clean(text), bytes, truncated: cutHere || options.cut === true };
}

/** The request as sent: its headers (the signature is an HMAC, not a secret) and body. */
export function requestExchange(headers: Record<string, string>, body: string): ExchangeRequest {
  return {
    headers: Object.entries(headers),
    body: keepBody(Buffer.from(body, "utf8")),
  };
}

/**
 * The response as received, credential headers redacted. `cut`: the read stopped at
 * CALLBACK_MAX_RESPONSE_BYTES; the full length is then Content-Length when the receiver sent one.
 */
export function responseExchange(
  status: number,
  headers: [string, string][],
  body: Buffer,
  cut: boolean,
): ExchangeResponse {
  const declared = headers.find(([name]) => name.toLowerCase() === "content-length")?.[1];
  const knownBytes = declared !== undefined && /^\d{1,12}$/.test(declared.trim()) ? Number(declared) : null;
  return {
    status,
    headers: headers
      .slice(0, MAX_HEADERS)
      .map(([name, value]) => [
        clean(name),
        REDACTED_HEADERS.has(name.toLowerCase()) ? REDACTED : clean(value.slice(0, MAX_HEADER_CHARS)),
      ]),
    body: keepBody(body, { cut, knownBytes }),
  };
}

/** The exchange's columns in callback_exchanges (migration 190), in insert order from $n. */
export function exchangeParams(exchange: Exchange | undefined): unknown[] {
  if (!exchange) return [null, null, null, null, null, null, null, null, null];
  const { request, response } = exchange;
  return [
    JSON.stringify(request.headers),
    request.body.text,
    request.body.bytes,
    request.body.truncated,
    response?.status ?? null,
    response ? JSON.stringify(response.headers) : null,
    response?.body.text ?? null,
    response?.body.bytes ?? null,
    response?.body.truncated ?? null,
  ];
}

/** A stored exchange row, as service.ts reads it. */
export interface ExchangeRow {
  request_headers: [string, string][] | null;
  request_body: string | null;
  request_body_bytes: number | null;
  request_truncated: boolean | null;
  response_status: number | null;
  response_headers: [string, string][] | null;
  response_body: string | null;
  response_body_bytes: number | null;
  response_truncated: boolean | null;
}

/** The exchange of a stored row; undefined when none was recorded or it was pruned. */
export function exchangeFromRow(row: ExchangeRow): Exchange | undefined {
  if (row.request_headers === null || row.request_body === null) return undefined;
  return {
    request: {
      headers: row.request_headers,
      body: {
        text: row.request_body,
        bytes: row.request_body_bytes,
        truncated: row.request_truncated ?? false,
      },
    },
    response:
      row.response_status === null
        ? null
        : {
            status: row.response_status,
            headers: row.response_headers ?? [],
            body: {
              text: row.response_body ?? "",
              bytes: row.response_body_bytes,
              truncated: row.response_truncated ?? false,
            },
          },
  };
}

/**
 * Deletes exchanges older than `retentionDays`, a batch at a time, and returns how many went.
 * The attempts themselves (status, latency, error, a 256-character excerpt) stay as long as
 * their callback does. Idempotent: any number of workers may run it.
 */
export async function pruneExchanges(
  db: Queryable,
  retentionDays = EXCHANGE_RETENTION_DAYS,
): Promise<number> {
  let total = 0;
  for (;;) {
    const { rowCount } = await db.query(
      `DELETE FROM callback_exchanges WHERE attempt_id IN (
         SELECT attempt_id FROM callback_exchanges
          WHERE recorded_at < now() - $1::integer * interval '1 day'
          ORDER BY recorded_at LIMIT $2)`,
      [retentionDays, PRUNE_BATCH],
    );
    total += rowCount ?? 0;
    if ((rowCount ?? 0) < PRUNE_BATCH) return total;
  }
}
