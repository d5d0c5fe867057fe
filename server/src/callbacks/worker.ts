import type { Db } from "../db/types.ts";
import type { CallbackConfig } from "../config/callbacks.ts";
import {
  EXCHANGE_RETENTION_DAYS,
  exchangeParams,
  pruneExchanges,
  requestExchange,
  responseExchange,
  type Exchange,
} from "./exchange.ts";
import { callbackRequestHeaders, postCallback, type PostResult } from "./http.ts";
import { CALLBACKS_CHANNEL } from "./outbox.ts";
import { nextRetry } from "./schedule.ts";
import { SMS_URL_PREFIX, type SmsProvider } from "./sms.ts";
import {
  resolveSecrets as defaultResolveSecrets,
  UnknownSecretError,
  type SecretResolver,
} from "./secrets.ts";
import { EVENT_ID_HEADER, SIGNATURE_HEADER, signatureHeader } from "./signing.ts";
import { CallbackTargetRefused, resolveCallbackTarget, type HostResolver } from "./ssrf.ts";

/** The pino subset the worker logs through (a pino or Fastify logger fits). */
export interface CallbackLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface CallbackWorkerOptions {
  db: Db;
  log: CallbackLogger;
  config: CallbackConfig;
  /** Default: `resolveSecrets(db, config)` from secrets.ts. */
  resolveSecrets?: SecretResolver;
  /** DNS for callback hosts; default: the system resolver. Tests inject one. */
  resolver?: HostResolver;
  /** The operator's SMS provider: rows whose URL is `sms:<number>` are texts sent through it. */
  sms?: SmsProvider;
  /** Days the delivery log keeps each attempt's request and response; default 30. */
  exchangeRetentionDays?: number;
}

export interface CallbackWorkerStats {
  claimed: number;
  delivered: number;
  retried: number;
  failed: number;
}

export interface CallbackWorker {
  /** Subscribes to NOTIFY, starts the poll timer and claims whatever is already due. */
  start(): Promise<void>;
  /** Stops claiming and waits for deliveries in flight (at most one timeout) to be recorded. */
  stop(): Promise<void>;
  /** Delivers everything due now, including what becomes eligible meanwhile; resolves when nothing due is left. */
  drain(): Promise<void>;
  readonly stats: Readonly<CallbackWorkerStats>;
}

interface ClaimedRow {
  id: bigint;
  event_id: string;
  kind: string;
  url: string;
  body: string;
  secret_ref: string;
  attempts: number;
  age_ms: number;
}

type Outcome =
  | { status: "delivered"; statusCode: number; note: string | null }
  | { status: "pending"; statusCode: number | null; error: string; retryAfterMs?: number | undefined }
  | { status: "failed"; statusCode: number | null; error: string };

/**
 * Claims due rows: the head of each stream only (no earlier row of the stream is still pending
 * or sending), oldest due first, skipping rows another worker has locked. A claimed row becomes
 * `sending` with a lease; `next_attempt_at` is set to the lease end, so if this process dies
 * mid-delivery the row falls due again for any worker once the lease runs out.
 * One autocommitted statement: no transaction stays open while the HTTP request runs.
 */
const CLAIM_SQL = `
WITH due AS (
  SELECT c.id
  FROM callbacks c
  WHERE c.status IN ('pending', 'sending')
    AND c.next_attempt_at <= now()
    AND NOT EXISTS (
      SELECT 1 FROM callbacks p
      WHERE p.stream = c.stream AND p.id < c.id AND p.status IN ('pending', 'sending')
    )
  ORDER BY c.next_attempt_at, c.id
  LIMIT $1
  FOR UPDATE OF c SKIP LOCKED
)
UPDATE callbacks AS c
SET status = 'sending',
    attempts = c.attempts + 1,
    lease_until = now() + $2::integer * interval '1 millisecond',
    next_attempt_at = now() + $2::integer * interval '1 millisecond'
FROM due
WHERE c.id = due.id
RETURNING c.id, c.event_id::text AS event_id, c.kind, c.url, c.body, c.secret_ref, c.attempts,
  round(extract(epoch FROM now() - c.created_at) * 1000)::float8 AS age_ms`;

/**
 * Records one attempt (with its exchange, when a request was made) and moves the row on, in one
 * statement. The update is fenced on (status 'sending', attempts): if the lease ran out and
 * another worker re-claimed the row, this worker's late result is logged as an attempt but does
 * not change the row.
 */
const RECORD_SQL = `
WITH attempt AS (
  INSERT INTO callback_attempts (callback_id, attempt, status_code, latency_ms, error, response_excerpt, remote_address)
  VALUES ($1, $2, $4, $6, $5, $7, $9)
  RETURNING id
),
exchange AS (
  INSERT INTO callback_exchanges (attempt_id, request_headers, request_body, request_body_bytes, request_truncated,
    response_status, response_headers, response_body, response_body_bytes, response_truncated)
  SELECT attempt.id, $10::jsonb, $11::text, $12::integer, $13::boolean, $14::integer, $15::jsonb, $16::text,
    $17::integer, $18::boolean
  FROM attempt WHERE $10::jsonb IS NOT NULL
)
UPDATE callbacks
SET status = $3::text,
    next_attempt_at = CASE WHEN $3::text = 'pending' THEN now() + $8::integer * interval '1 millisecond' ELSE now() END,
    lease_until = NULL,
    last_error = $5,
    last_status_code = $4,
    last_attempt_at = now(),
    delivered_at = CASE WHEN $3::text = 'delivered' THEN now() ELSE delivered_at END
WHERE id = $1 AND status = 'sending' AND attempts = $2
RETURNING id`;

const EXCERPT_CHARS = 256;
/** How often a running worker prunes the delivery log. */
const PRUNE_INTERVAL_MS = 60 * 60 * 1000;
const ERROR_CHARS = 500;

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const text =
      typeof code === "string" && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
    return text.slice(0, ERROR_CHARS);
  }
  return String(error).slice(0, ERROR_CHARS);
}

function classify(result: PostResult): Outcome {
  const code = result.statusCode;
  const note = result.truncated ? "response body truncated" : null;
  if (code >= 200 && code < 300) return { status: "delivered", statusCode: code, note };
  if (code === 408 || code === 429 || code >= 500) {
    return { status: "pending", statusCode: code, error: `HTTP ${code}`, retryAfterMs: result.retryAfterMs };
  }
  if (code >= 400) return { status: "failed", statusCode: code, error: `HTTP ${code} (not retried)` };
  // 1xx/3xx: redirects are not followed (they could lead anywhere); a receiver may fix this, so retry.
  return { status: "pending", statusCode: code, error: `HTTP ${code} (redirects are not followed)` };
}

/**
 * A delivery worker. Any number of them, in one process or many, may run against one database:
 * rows are claimed with FOR UPDATE SKIP LOCKED and a lease, and a stream's next row is never
 * claimed while an earlier one is pending or sending, so per-stream order holds across workers.
 */
export function createCallbackWorker(options: CallbackWorkerOptions): CallbackWorker {
  const { db, log, config } = options;
  const resolveSecrets = options.resolveSecrets ?? defaultResolveSecrets(db, config);
  const inflight = new Set<Promise<void>>();
  const stats: CallbackWorkerStats = { claimed: 0, delivered: 0, retried: 0, failed: 0 };

  let stopping = false;
  let running = false;
  let pumping: Promise<void> | undefined;
  let again = false;
  let lastClaimCount = -1;
  let lastClaimError: unknown;
  let pollTimer: NodeJS.Timeout | undefined;
  let pruneTimer: NodeJS.Timeout | undefined;
  let pruning: Promise<void> | undefined;
  let wakeTimer: NodeJS.Timeout | undefined;
  let wakeAt = Number.POSITIVE_INFINITY;
  let unlisten: (() => Promise<void>) | undefined;

  /** Keeps the delivery log bounded: exchanges older than the retention go (exchange.ts). */
  function prune(): Promise<void> {
    pruning ??= pruneOnce().finally(() => {
      pruning = undefined;
    });
    return pruning;
  }

  async function pruneOnce(): Promise<void> {
    try {
      const pruned = await pruneExchanges(db, options.exchangeRetentionDays ?? EXCHANGE_RETENTION_DAYS);
      if (pruned > 0) log.info({ pruned }, "callback exchanges past their retention deleted");
    } catch (error) {
      log.warn({ err: describeError(error) }, "callback exchanges could not be pruned; trying again later");
    }
  }

  /** Wakes the pump at `delayMs` from now (a retry this worker scheduled), unless it is due sooner anyway. */
  function wakeIn(delayMs: number) {
    if (!running) return;
    const at = Date.now() + delayMs;
    if (at >= wakeAt) return;
    clearTimeout(wakeTimer);
    wakeAt = at;
    // A few ms late, so the database clock has surely passed next_attempt_at.
    wakeTimer = setTimeout(() => {
      wakeAt = Number.POSITIVE_INFINITY;
      void pump();
    }, delayMs + 5);
    wakeTimer.unref();
  }

  /**
   * The claim commits without waiting for its WAL flush (synchronous_commit off): losing a claim
   * in a database crash only returns the row to its previous state, to be sent again, while
   * waiting for the flush would put a disk sync between every NOTIFY and its HTTP request.
   */
  async function claim(limit: number): Promise<ClaimedRow[]> {
    return db.transaction(async (tx) => {
      await tx.query("SET LOCAL synchronous_commit = off");
      const { rows } = await tx.query<ClaimedRow>(CLAIM_SQL, [limit, config.leaseMs]);
      return rows;
    });
  }

  async function runPump(): Promise<void> {
    lastClaimError = undefined;
    try {
      do {
        again = false;
        while (!stopping && inflight.size < config.workerConcurrency) {
          const limit = config.workerConcurrency - inflight.size;
          const rows = await claim(limit);
          lastClaimCount = rows.length;
          stats.claimed += rows.length;
          for (const row of rows) launch(row);
          // Fewer than asked for: nothing else is due now (new work arrives with a NOTIFY).
          if (rows.length < limit) break;
        }
      } while (again && !stopping);
    } catch (error) {
      lastClaimError = error;
      log.warn(
        { err: describeError(error) },
        "callback worker could not claim work; retrying on the next poll",
      );
    }
  }

  /**
   * Claims and launches due work until none is left or every slot is busy. Calls that arrive
   * while a pass runs (NOTIFY, a finished delivery, the poll) ask for one more pass rather than
   * running a second loop; a request that lands just as a pass ends starts a new pass.
   */
  function pump(): Promise<void> {
    if (pumping) {
      again = true;
      return pumping;
    }
    const run = runPump();
    pumping = run;
    void run.then(() => {
      if (pumping !== run) return;
      pumping = undefined;
      if (again && !stopping) void pump();
    });
    return run;
  }

  function launch(row: ClaimedRow) {
    const task = deliver(row)
      .catch((error: unknown) => {
        log.error(
          { callbackId: row.id.toString(), err: describeError(error) },
          "callback delivery could not be recorded",
        );
      })
      .finally(() => {
        inflight.delete(task);
        if (!stopping) void pump();
      });
    inflight.add(task);
  }

  /** A TXT Messaging text (notify/channel.ts): handed to the SMS provider, not POSTed. */
  async function attemptSms(row: ClaimedRow): Promise<{ outcome: Outcome; excerpt: string | null }> {
    if (!options.sms) {
      return {
        outcome: {
          status: "failed",
          statusCode: null,
          error: "a text message, but no SMS provider is configured (SMS_PROVIDER) (not retried)",
        },
        excerpt: null,
      };
    }
    const { text } = JSON.parse(row.body) as { text: string };
    const result = await options.sms.send({ to: row.url.slice(SMS_URL_PREFIX.length), text });
    switch (result.status) {
      case "sent":
        return {
          outcome: {
            status: "delivered",
            statusCode: result.statusCode,
            note: `sent by ${options.sms.name}${result.id ? ` as ${result.id}` : ""}`,
          },
          excerpt: result.excerpt,
        };
      case "retry":
        return {
          outcome: {
            status: "pending",
            statusCode: result.statusCode,
            error: result.error,
            retryAfterMs: result.retryAfterMs,
          },
          excerpt: result.excerpt,
        };
      case "refused":
        return {
          outcome: { status: "failed", statusCode: result.statusCode, error: result.error },
          excerpt: result.excerpt,
        };
    }
  }

  async function attempt(
    row: ClaimedRow,
  ): Promise<{ outcome: Outcome; excerpt: string | null; address?: string; exchange?: Exchange }> {
    if (row.url.startsWith(SMS_URL_PREFIX)) return attemptSms(row);
    // Set once the request is about to go out: the delivery log records it even if no answer comes.
    let sent: Exchange | undefined;
    try {
      const target = await resolveCallbackTarget(row.url, {
        allowPrivate: config.allowPrivateTargets,
        ...(options.resolver ? { resolver: options.resolver } : {}),
      });
      const secrets = await resolveSecrets(row.secret_ref);
      const headers = {
        [SIGNATURE_HEADER]: signatureHeader(secrets, row.body),
        [EVENT_ID_HEADER]: row.event_id,
      };
      sent = {
        request: requestExchange(callbackRequestHeaders(headers, row.body), row.body),
        response: null,
      };
      const result = await postCallback(target, headers, row.body, {
        timeoutMs: config.timeoutMs,
        maxResponseBytes: config.maxResponseBytes,
      });
      const excerpt = result.body.length > 0 ? result.body.toString("utf8").slice(0, EXCERPT_CHARS) : null;
      const exchange: Exchange = {
        request: sent.request,
        response: responseExchange(result.statusCode, result.headers, result.body, result.truncated),
      };
      return { outcome: classify(result), excerpt, address: target.address, exchange };
    } catch (error) {
      const message = describeError(error);
      if (error instanceof CallbackTargetRefused || error instanceof UnknownSecretError) {
        return {
          outcome: { status: "failed", statusCode: null, error: `${message} (not retried)` },
          excerpt: null,
        };
      }
      // Network errors, DNS failures, the timeout (CallbackTimeoutError) and database errors: retry.
      return {
        outcome: { status: "pending", statusCode: null, error: message },
        excerpt: null,
        ...(sent ? { exchange: sent } : {}),
      };
    }
  }

  async function deliver(row: ClaimedRow): Promise<void> {
    const started = performance.now();
    const tried = await attempt(row);
    let { outcome } = tried;
    const { excerpt } = tried;
    const latencyMs = Math.round(performance.now() - started);
    let delayMs = 0;
    if (outcome.status === "pending") {
      const decision = nextRetry(config.retry, {
        failedAttempts: row.attempts,
        ageMs: row.age_ms + latencyMs,
        retryAfterMs: outcome.retryAfterMs,
      });
      if (decision.retry) delayMs = decision.delayMs;
      else
        outcome = {
          status: "failed",
          statusCode: outcome.statusCode,
          error: `${outcome.error}; ${decision.reason}`,
        };
    }
    const error = outcome.status === "delivered" ? outcome.note : outcome.error;
    const { rowCount } = await db.query(RECORD_SQL, [
      row.id,
      row.attempts,
      outcome.status,
      outcome.statusCode,
      error,
      latencyMs,
      excerpt,
      Math.round(delayMs),
      tried.address ?? null,
      ...exchangeParams(tried.exchange),
    ]);
    stats[
      outcome.status === "delivered" ? "delivered" : outcome.status === "failed" ? "failed" : "retried"
    ]++;
    const entry = {
      callbackId: row.id.toString(),
      eventId: row.event_id,
      kind: row.kind,
      attempt: row.attempts,
      statusCode: outcome.statusCode,
      latencyMs,
      // Only an attempt that went wrong carries `error`; a delivery may carry a note (a truncated answer).
      ...(outcome.status === "delivered"
        ? outcome.note === null
          ? {}
          : { note: outcome.note }
        : { error: outcome.error }),
      outcome: outcome.status === "pending" ? "retry" : outcome.status,
      ...(outcome.status === "pending" ? { retryInMs: delayMs } : {}),
    };
    if (rowCount === 0)
      log.warn(entry, "callback lease was lost before the attempt was recorded; another worker owns it");
    else if (outcome.status === "delivered") log.info(entry, "callback delivered");
    else
      log.warn(
        entry,
        outcome.status === "failed" ? "callback failed" : "callback attempt failed; will retry",
      );
    if (outcome.status === "pending") wakeIn(delayMs);
  }

  return {
    stats,

    async start() {
      if (running) return;
      running = true;
      stopping = false;
      unlisten = await db.listen(CALLBACKS_CHANNEL, () => void pump());
      pollTimer = setInterval(() => void pump(), config.pollIntervalMs);
      pollTimer.unref();
      pruneTimer = setInterval(() => void prune(), PRUNE_INTERVAL_MS);
      pruneTimer.unref();
      void prune();
      await pump();
    },

    async stop() {
      stopping = true;
      running = false;
      clearInterval(pollTimer);
      clearInterval(pruneTimer);
      clearTimeout(wakeTimer);
      wakeAt = Number.POSITIVE_INFINITY;
      await unlisten?.().catch(() => {});
      unlisten = undefined;
      await pumping;
      await pruning;
      await Promise.allSettled([...inflight]);
    },

    async drain() {
      for (;;) {
        await pump();
        while (pumping) await pumping;
        if (lastClaimError !== undefined) throw lastClaimError;
        if (inflight.size === 0) {
          if (lastClaimCount === 0 || stopping) return;
          continue;
        }
        await Promise.allSettled([...inflight]);
      }
    },
  };
}
