import { createHash } from "node:crypto";
import type { Db } from "../db/types.ts";
import { badRequest, conflict, unprocessable } from "../lib/errors.ts";
import { sleep } from "../lib/sleep.ts";
import { claimKey, completeKey, findKey, purgeExpiredKeys, releaseKey, type KeyRef } from "./repository.ts";

/**
 * Safe retries with an Idempotency-Key, as Stripe's and Coinbase Commerce's APIs take one: the same
 * key with the same body returns the first answer without doing the work twice; the same key with
 * another body is refused (422 idempotency_key_reused); keys last 24 hours and are scoped to the
 * merchant or the terminal key that sent them.
 *
 * A request either claims its key (and then `finish` stores its answer, or `abandon` gives the key
 * back when it did not succeed) or meets a claim: a finished one is replayed; a running one (the
 * first of several concurrent retries) is waited for, then replayed.
 */
export interface IdempotencyService {
  begin(request: IdempotentRequest): Promise<Begun>;
  finish(claim: KeyRef, statusCode: number, response: string): Promise<void>;
  abandon(claim: KeyRef): Promise<void>;
}

export interface IdempotentRequest extends KeyRef {
  /** `POST /order`: a key belongs to one route. */
  route: string;
  /** The validated request body. */
  body: unknown;
}

export type Begun =
  { kind: "claimed"; claim: KeyRef } | { kind: "replay"; statusCode: number; response: string };

export interface IdempotencyOptions {
  /** How long a key is remembered, in seconds (default 24 hours). */
  ttlSeconds?: number;
  /** How long a request waits for a concurrent one with the same key to answer (default 10 s). */
  waitMs?: number;
  /** Between two looks at a running claim (default 25 ms). */
  pollMs?: number;
  now?: () => number;
}

/** Printable ASCII without spaces, 1 to 255 characters: UUIDs, ULIDs and the like. */
const KEY = /^[\x21-\x7e]{1,255}$/;

export function checkIdempotencyKey(value: string): string {
  if (!KEY.test(value)) {
    throw badRequest(
      "the Idempotency-Key header must be 1 to 255 printable ASCII characters without spaces, such as a UUID",
      "invalid_idempotency_key",
    );
  }
  return value;
}

/** JSON with object keys sorted, so two bodies that differ only in key order are the same request. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

export function requestFingerprint(route: string, body: unknown): string {
  return createHash("sha256").update(route).update("\n").update(canonical(body)).digest("hex");
}

export function createIdempotencyService(db: Db, options: IdempotencyOptions = {}): IdempotencyService {
  const ttlMs = (options.ttlSeconds ?? 24 * 3600) * 1000;
  const waitMs = options.waitMs ?? 10_000;
  const pollMs = options.pollMs ?? 25;
  const now = options.now ?? Date.now;

  async function begin(request: IdempotentRequest): Promise<Begun> {
    const ref = { scope: request.scope, key: checkIdempotencyKey(request.key) };
    const fingerprint = requestFingerprint(request.route, request.body);
    const at = now();
    // Expired keys go a few at a time, on the way (no separate job to run).
    await purgeExpiredKeys(db, new Date(at), 100);
    if (
      await claimKey(db, {
        ...ref,
        route: request.route,
        fingerprint,
        now: new Date(at),
        expiresAt: new Date(at + ttlMs),
      })
    ) {
      return { kind: "claimed", claim: ref };
    }
    const deadline = Date.now() + waitMs;
    for (;;) {
      const row = await findKey(db, ref);
      // Released between our claim attempt and this read (the first request failed): try again.
      if (!row) return begin(request);
      if (row.route !== request.route || row.fingerprint !== fingerprint) {
        throw unprocessable(
          `this Idempotency-Key was already used with ${row.route === request.route ? "a different body" : row.route}; ` +
            "send a new key for a new request, or repeat the first request exactly",
          "idempotency_key_reused",
        );
      }
      if (row.state === "done" && row.status_code !== null && row.response !== null) {
        return { kind: "replay", statusCode: row.status_code, response: row.response };
      }
      if (Date.now() >= deadline) {
        throw conflict(
          "a request with this Idempotency-Key is still being processed (or its server stopped before it answered); " +
            "retry in a few seconds; if this persists for a minute, look the order up with GET /history before sending a new key",
          "idempotency_key_in_use",
        );
      }
      await sleep(pollMs);
    }
  }

  return {
    begin,
    finish: (claim, statusCode, response) => completeKey(db, { ...claim, statusCode, response }),
    abandon: (claim) => releaseKey(db, claim),
  };
}
