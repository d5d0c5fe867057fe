import { randomUUID } from "node:crypto";
import type { Db, Queryable } from "../db/types.ts";
import { blockedAddressReason } from "../lib/ip.ts";
import { badRequest, conflict, notFound, tooManyRequests } from "../lib/errors.ts";
import { latestCallbackUrl, orderOwner } from "../orders/queries.ts";
import { exchangeFromRow, type Exchange, type ExchangeRow } from "./exchange.ts";
import { insertCallback } from "./outbox.ts";
import { assertCallbackUrl, CallbackTargetRefused } from "./ssrf.ts";

export type CallbackStatus = "pending" | "sending" | "delivered" | "failed";

export interface DeliveryAttempt {
  attempt: number | null;
  at: Date;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  responseExcerpt: string | null;
  /**
   * What was sent and what came back (exchange.ts); undefined for attempts that made no request
   * (a refused target), texts, attempts recorded before the log existed, or pruned ones. The
   * response is null when none arrived, or when it came from a target the SSRF guard refuses.
   */
  exchange: Exchange | undefined;
}

export interface Delivery {
  id: bigint;
  eventId: string;
  kind: string;
  url: string;
  status: CallbackStatus;
  attemptCount: number;
  createdAt: Date;
  /** When the next attempt is due; null once delivered or failed. */
  nextAttemptAt: Date | null;
  deliveredAt: Date | null;
  lastError: string | null;
  redeliveryOf: bigint | null;
  /** The exact bytes that are (or were) sent. */
  body: string;
  attempts: DeliveryAttempt[];
}

interface DeliveryRow {
  id: bigint;
  event_id: string;
  kind: string;
  url: string;
  status: CallbackStatus;
  attempts: number;
  created_at: Date;
  next_attempt_at: Date;
  delivered_at: Date | null;
  last_error: string | null;
  redelivery_of: bigint | null;
  body: string;
}

interface AttemptRow extends ExchangeRow {
  callback_id: bigint;
  attempt: number | null;
  attempted_at: Date;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  response_excerpt: string | null;
  remote_address: string | null;
}

/**
 * Whether a stored response may be shown: only when the address it came from is one the SSRF
 * guard allows now. Attempts recorded before addresses were kept (null) count as refused unless
 * private targets are allowed, so an internal service's answer never reaches a merchant.
 */
function responseVisible(remoteAddress: string | null, allowPrivateTargets: boolean): boolean {
  if (allowPrivateTargets) return true;
  if (remoteAddress === null) return false;
  try {
    return blockedAddressReason(remoteAddress) === undefined;
  } catch {
    return false;
  }
}

/** Throws 404 unless the order exists and belongs to the merchant (another merchant's order looks absent). */
async function assertOwnOrder(db: Queryable, merchantId: bigint, orderId: bigint): Promise<void> {
  const owner = await orderOwner(db, orderId);
  if (owner?.merchantId !== merchantId) throw notFound("Order not found.", "order_not_found");
}

const DELIVERY_COLUMNS = `c.id, c.event_id::text AS event_id, c.kind, c.url, c.status, c.attempts, c.created_at,
  c.next_attempt_at, c.delivered_at, c.last_error, c.redelivery_of, c.body`;

/** The deliveries `where` selects (on `callbacks c`), in `order`, each with its attempts and exchanges. */
async function loadDeliveries(
  db: Queryable,
  where: string,
  params: unknown[],
  order: string,
  options: { allowPrivateTargets?: boolean },
): Promise<Delivery[]> {
  const { rows } = await db.query<DeliveryRow>(
    `SELECT ${DELIVERY_COLUMNS} FROM callbacks c WHERE ${where} ORDER BY ${order}`,
    params,
  );
  if (rows.length === 0) return [];
  const { rows: attempts } = await db.query<AttemptRow>(
    `SELECT a.callback_id, a.attempt, a.attempted_at, a.status_code, a.latency_ms, a.error, a.response_excerpt,
            a.remote_address, x.request_headers, x.request_body, x.request_body_bytes, x.request_truncated,
            x.response_status, x.response_headers, x.response_body, x.response_body_bytes, x.response_truncated
     FROM callback_attempts a LEFT JOIN callback_exchanges x ON x.attempt_id = a.id
     WHERE a.callback_id = ANY($1::int8[]) ORDER BY a.id`,
    [rows.map((r) => r.id.toString())],
  );
  const byCallback = new Map<bigint, DeliveryAttempt[]>();
  for (const a of attempts) {
    let list = byCallback.get(a.callback_id);
    if (!list) byCallback.set(a.callback_id, (list = []));
    const visible = responseVisible(a.remote_address, options.allowPrivateTargets ?? false);
    const exchange = exchangeFromRow(a);
    list.push({
      attempt: a.attempt,
      at: a.attempted_at,
      statusCode: a.status_code,
      latencyMs: a.latency_ms,
      error: a.error,
      responseExcerpt: visible ? a.response_excerpt : null,
      exchange: exchange && !visible ? { request: exchange.request, response: null } : exchange,
    });
  }
  return rows.map((r) => ({
    id: r.id,
    eventId: r.event_id,
    kind: r.kind,
    url: r.url,
    status: r.status,
    attemptCount: r.attempts,
    createdAt: r.created_at,
    nextAttemptAt: r.status === "pending" || r.status === "sending" ? r.next_attempt_at : null,
    deliveredAt: r.delivered_at,
    lastError: r.last_error,
    redeliveryOf: r.redelivery_of,
    body: r.body,
    attempts: byCallback.get(r.id) ?? [],
  }));
}

/**
 * Every callback of one of the merchant's orders, oldest first, each with its attempts. Responses
 * from targets the SSRF guard refuses (`allowPrivateTargets` false) are left out.
 */
export async function listDeliveries(
  db: Queryable,
  merchantId: bigint,
  orderId: bigint,
  options: { allowPrivateTargets?: boolean } = {},
): Promise<Delivery[]> {
  await assertOwnOrder(db, merchantId, orderId);
  return loadDeliveries(
    db,
    "c.order_id = $1 AND (c.merchant_id IS NULL OR c.merchant_id = $2)",
    [orderId, merchantId],
    "c.id",
    options,
  );
}

/** The merchant's latest deliveries of every kind (orders, subscriptions, notifications, tests), newest first. */
export async function recentDeliveries(
  db: Queryable,
  merchantId: bigint,
  limit: number,
  options: { allowPrivateTargets?: boolean } = {},
): Promise<Delivery[]> {
  return loadDeliveries(
    db,
    "c.merchant_id = $1",
    [merchantId],
    `c.id DESC LIMIT ${Math.trunc(limit)}`,
    options,
  );
}

/** One of the merchant's deliveries with its attempts; 404 for another merchant's (or none). */
export async function getDelivery(
  db: Queryable,
  merchantId: bigint,
  callbackId: bigint,
  options: { allowPrivateTargets?: boolean } = {},
): Promise<Delivery> {
  const [found] = await loadDeliveries(db, "c.id = $1", [callbackId], "c.id", options);
  const ours =
    found !== undefined &&
    (await db
      .query<{ merchant_id: bigint | null; order_id: bigint | null }>(
        "SELECT merchant_id, order_id FROM callbacks WHERE id = $1",
        [callbackId],
      )
      .then(async ({ rows }) => {
        const row = rows[0];
        if (!row) return false;
        if (row.merchant_id !== null) return row.merchant_id === merchantId;
        return row.order_id !== null && (await orderOwner(db, row.order_id))?.merchantId === merchantId;
      }));
  if (!found || !ours) throw notFound("Callback not found.", "callback_not_found");
  return found;
}

/** The body of a `test` event (docs/callbacks.md): it reports nothing; it proves the path works. */
export interface TestEventBody {
  type: "test";
  /** Identifies this test; a redelivery repeats it, with a new X-EthPOS-Event-Id. */
  test_id: string;
  message: string;
  created_at: string;
}

export function testEventBody(testId: string, createdAt: Date): TestEventBody {
  return {
    type: "test",
    test_id: testId,
    message:
      "A test event from Ethereum POS: your receiver got it. Check its X-EthPOS-Signature, then answer 2xx.",
    created_at: createdAt.toISOString(),
  };
}

/** Test events of one merchant still being delivered (pending or sending) at most; more answer 429. */
export const MAX_TESTS_IN_FLIGHT = 5;

export interface QueuedTest {
  id: bigint;
  eventId: string;
  url: string;
}

/**
 * Queues a signed `test` event for the merchant: to `url`, or to the callback URL of the
 * merchant's latest order. It goes through the outbox like every callback (same worker, same
 * signature with the merchant's secret, same headers, same retries and SSRF checks), in a stream
 * of its own, so a test waiting on a broken receiver never holds up another one.
 */
export async function sendTestEvent(
  db: Db,
  merchantId: bigint,
  url: string | undefined,
  options: { allowPrivateTargets?: boolean } = {},
): Promise<QueuedTest> {
  const target = url ?? (await latestCallbackUrl(db, merchantId));
  if (target === undefined) {
    throw badRequest(
      'no callback URL to test: none of your orders has one yet; send {"url": "https://…"}',
      "callback_url_missing",
    );
  }
  try {
    assertCallbackUrl(target, options.allowPrivateTargets ?? false);
  } catch (error) {
    if (error instanceof CallbackTargetRefused) throw badRequest(error.message, "invalid_callback");
    throw error;
  }
  const testId = randomUUID();
  const queued = await db.transaction(async (tx) => {
    // Tests are for trying a receiver, not for making this server send requests on demand: a
    // few at a time per merchant (each one still retries for up to 3 days against a dead URL).
    const { rows } = await tx.query<{ n: bigint }>(
      `SELECT count(*)::int8 AS n FROM callbacks
        WHERE merchant_id = $1 AND kind = 'test' AND status IN ('pending', 'sending')`,
      [merchantId],
    );
    if ((rows[0]?.n ?? 0n) >= BigInt(MAX_TESTS_IN_FLIGHT)) {
      throw tooManyRequests(
        `${MAX_TESTS_IN_FLIGHT} of your test events are still being delivered; wait until one is delivered or failed (GET /callbacks/recent shows them)`,
        "tests_in_flight",
      );
    }
    return insertCallback(tx, {
      stream: `test:${merchantId}:${testId}`,
      kind: "test",
      url: target,
      body: JSON.stringify(testEventBody(testId, new Date())),
      secretRef: `merchant:${merchantId}`,
      merchantId,
    });
  });
  return { ...queued, url: target };
}

export interface Redelivery {
  id: bigint;
  eventId: string;
  redeliveryOf: bigint;
}

/**
 * Sends a delivered or failed callback again. The original row and its attempts stay as they
 * were (an audit trail); a new row with the same stream, URL, kind and body bytes is queued, with
 * a NEW event id, because a merchant who asks for a redelivery wants it processed even if the
 * receiver already recorded the original event id. It is signed afresh with the current
 * secrets at send time and joins the back of its stream, so ordering still holds.
 * 404 for another merchant's callback; 409 while the callback is still pending or sending.
 */
export async function redeliver(db: Db, merchantId: bigint, callbackId: bigint): Promise<Redelivery> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{
      id: bigint;
      stream: string;
      kind: string;
      url: string;
      body: string;
      secret_ref: string;
      status: CallbackStatus;
      order_id: bigint | null;
      merchant_id: bigint | null;
    }>(
      `SELECT c.id, c.stream, c.kind, c.url, c.body, c.secret_ref, c.status, c.order_id, c.merchant_id
       FROM callbacks c WHERE c.id = $1 FOR UPDATE`,
      [callbackId],
    );
    const original = rows[0];
    // Merchant callbacks carry the merchant; order callbacks of keyed orders belong to the order's merchant.
    const ours =
      original !== undefined &&
      (original.merchant_id === merchantId ||
        (original.merchant_id === null &&
          original.order_id !== null &&
          (await orderOwner(tx, original.order_id))?.merchantId === merchantId));
    if (!original || !ours) throw notFound("Callback not found.", "callback_not_found");
    if (original.status === "pending" || original.status === "sending") {
      throw conflict(
        "This callback is still being delivered; it can be redelivered once it is delivered or failed.",
        "callback_in_progress",
      );
    }
    const queued = await insertCallback(tx, {
      stream: original.stream,
      kind: original.kind,
      url: original.url,
      body: original.body,
      secretRef: original.secret_ref,
      orderId: original.order_id,
      merchantId: original.merchant_id,
      redeliveryOf: original.id,
    });
    return { id: queued.id, eventId: queued.eventId, redeliveryOf: original.id };
  });
}

export interface FailingReceiver {
  /** scheme://host:port only: paths can carry tokens (EletroPay's key) and must not leak. */
  receiver: string;
  merchant_id: number | null;
  /** Callbacks that failed their last attempt and are waiting for a retry. */
  retrying: number;
  /** Callbacks given up on (4xx, refused target, or 3 days of failures) in the last 24 hours. */
  failed_24h: number;
  last_error: string | null;
  last_attempt_at: string | null;
  /** Creation time of the oldest callback still being retried. */
  oldest_pending_at: string | null;
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(invalid URL)";
  }
}

/** Receivers with callbacks being retried or recently failed, worst first: for /health and metrics. */
async function failingReceivers(db: Queryable, limit = 50): Promise<FailingReceiver[]> {
  const { rows } = await db.query<{
    url: string;
    merchant_id: bigint | null;
    retrying: bigint;
    failed: bigint;
    last_error: string | null;
    last_attempt_at: Date | null;
    oldest_pending_at: Date | null;
  }>(
    `SELECT url, merchant_id,
            count(*) FILTER (WHERE status IN ('pending', 'sending')) AS retrying,
            count(*) FILTER (WHERE status = 'failed') AS failed,
            (array_agg(last_error ORDER BY last_attempt_at DESC NULLS LAST))[1] AS last_error,
            max(last_attempt_at) AS last_attempt_at,
            min(created_at) FILTER (WHERE status IN ('pending', 'sending')) AS oldest_pending_at
     FROM callbacks
     WHERE (status IN ('pending', 'sending') AND attempts > 0 AND last_error IS NOT NULL)
        OR (status = 'failed' AND created_at > now() - interval '24 hours')
     GROUP BY url, merchant_id
     LIMIT 5000`,
  );
  const merged = new Map<string, FailingReceiver>();
  for (const r of rows) {
    const receiver = originOf(r.url);
    const merchantId = r.merchant_id === null ? null : Number(r.merchant_id);
    const key = `${receiver} ${merchantId}`;
    const at = r.last_attempt_at?.toISOString() ?? null;
    const oldest = r.oldest_pending_at?.toISOString() ?? null;
    const existing = merged.get(key);
    if (!existing) {
      merged.set(key, {
        receiver,
        merchant_id: merchantId,
        retrying: Number(r.retrying),
        failed_24h: Number(r.failed),
        last_error: r.last_error,
        last_attempt_at: at,
        oldest_pending_at: oldest,
      });
      continue;
    }
    existing.retrying += Number(r.retrying);
    existing.failed_24h += Number(r.failed);
    if (at && (!existing.last_attempt_at || at > existing.last_attempt_at)) {
      existing.last_attempt_at = at;
      existing.last_error = r.last_error;
    }
    if (oldest && (!existing.oldest_pending_at || oldest < existing.oldest_pending_at))
      existing.oldest_pending_at = oldest;
  }
  return [...merged.values()]
    .sort(
      (a, b) =>
        b.retrying + b.failed_24h - (a.retrying + a.failed_24h) || a.receiver.localeCompare(b.receiver),
    )
    .slice(0, limit);
}

export interface CallbackQueueStats {
  pending: number;
  sending: number;
  /** Pending rows whose time has come (a growing number means workers are not keeping up or not running). */
  due: number;
  /** Seconds the oldest due row has been waiting; 0 when none is due. */
  oldest_due_seconds: number;
}

async function callbackQueueStats(db: Queryable): Promise<CallbackQueueStats> {
  const { rows } = await db.query<{
    pending: bigint;
    sending: bigint;
    due: bigint;
    oldest_due_seconds: number | null;
  }>(
    `SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
            count(*) FILTER (WHERE status = 'sending') AS sending,
            count(*) FILTER (WHERE status = 'pending' AND next_attempt_at <= now()) AS due,
            extract(epoch FROM now() - min(next_attempt_at) FILTER (WHERE status = 'pending' AND next_attempt_at <= now()))::float8
              AS oldest_due_seconds
     FROM callbacks WHERE status IN ('pending', 'sending')`,
  );
  const r = rows[0];
  return {
    pending: Number(r?.pending ?? 0),
    sending: Number(r?.sending ?? 0),
    due: Number(r?.due ?? 0),
    oldest_due_seconds: Math.floor(r?.oldest_due_seconds ?? 0),
  };
}

/** The outbox as /metrics reports it: what is queued and how long it has waited. */
export interface OutboxStats {
  pending: bigint;
  sending: bigint;
  /** Pending callbacks whose time has come (a retry's backoff is over, or a new one). */
  due: bigint;
  /** Seconds since the oldest undelivered callback (pending or sending) was queued; 0 when none is. */
  oldestAgeSeconds: number;
  /** Seconds the oldest due callback has waited past its time (workers behind or stopped); 0 when none is. */
  oldestDueSeconds: number;
}

/** The callback outbox's depth and age, read at once (the operator's /metrics). */
export async function outboxStats(db: Queryable): Promise<OutboxStats> {
  const { rows } = await db.query<{
    pending: bigint;
    sending: bigint;
    due: bigint;
    oldest_age: number | null;
    oldest_due: number | null;
  }>(
    `SELECT count(*) FILTER (WHERE status = 'pending')::int8 AS pending,
            count(*) FILTER (WHERE status = 'sending')::int8 AS sending,
            count(*) FILTER (WHERE status = 'pending' AND next_attempt_at <= now())::int8 AS due,
            extract(epoch FROM now() - min(created_at))::float8 AS oldest_age,
            extract(epoch FROM now() - min(next_attempt_at) FILTER (WHERE status = 'pending' AND next_attempt_at <= now()))::float8
              AS oldest_due
     FROM callbacks WHERE status IN ('pending', 'sending')`,
  );
  const r = rows[0];
  return {
    pending: BigInt(r?.pending ?? 0),
    sending: BigInt(r?.sending ?? 0),
    due: BigInt(r?.due ?? 0),
    oldestAgeSeconds: Math.max(0, r?.oldest_age ?? 0),
    oldestDueSeconds: Math.max(0, r?.oldest_due ?? 0),
  };
}

/** The `callbacks` section of /health: `degraded` while any receiver is failing. */
export async function callbackHealth(
  db: Queryable,
): Promise<{ status: "ok" | "degraded"; queue: CallbackQueueStats; failing_receivers: FailingReceiver[] }> {
  const queue = await callbackQueueStats(db);
  const failing = await failingReceivers(db);
  return { status: failing.length > 0 ? "degraded" : "ok", queue, failing_receivers: failing };
}

/**
 * The callback operations the HTTP layer needs, bound to one database. `allowPrivateTargets` is
 * the SSRF guard's setting (CALLBACK_ALLOW_PRIVATE): stored responses are shown only for targets it allows.
 */
export function createCallbackService(db: Db, options: { allowPrivateTargets?: boolean } = {}) {
  return {
    list: (merchantId: bigint, orderId: bigint) => listDeliveries(db, merchantId, orderId, options),
    recent: (merchantId: bigint, limit: number) => recentDeliveries(db, merchantId, limit, options),
    get: (merchantId: bigint, callbackId: bigint) => getDelivery(db, merchantId, callbackId, options),
    sendTest: (merchantId: bigint, url?: string) => sendTestEvent(db, merchantId, url, options),
    redeliver: (merchantId: bigint, callbackId: bigint) => redeliver(db, merchantId, callbackId),
    health: () => callbackHealth(db),
  };
}

export type CallbackService = ReturnType<typeof createCallbackService>;
