import { createEnvReader, type Env, type EnvReader } from "./env.ts";

/**
 * When to try a callback again (server/src/callbacks/schedule.ts computes the delays). Delays grow
 * exponentially from `baseDelayMs`, are capped at `maxDelayMs`, and carry jitter; nothing is retried
 * after `maxAgeMs` from the callback's creation.
 */
export interface RetryPolicy {
  /** Delay after the first failed attempt. */
  baseDelayMs: number;
  /** Growth per failed attempt. */
  factor: number;
  /** Cap on a single delay. */
  maxDelayMs: number;
  /** No attempt is scheduled later than this after the callback was created. */
  maxAgeMs: number;
  /** Fraction taken off at random: a delay is uniform in [nominal × (1 − jitter), nominal]. */
  jitter: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  baseDelayMs: 10 * SECOND,
  factor: 2,
  maxDelayMs: 6 * HOUR,
  maxAgeMs: 3 * DAY,
  jitter: 0.2,
});

export type CallbackEnvMode = "development" | "test" | "production";

export interface CallbackConfig {
  mode: CallbackEnvMode;
  /**
   * Signs callbacks of orders without a merchant account (`system`). When unset (allowed only
   * outside production) a random secret is generated once and kept in the `meta` table under
   * `callbacks.system_secret`, so it survives restarts and is shared by every process.
   */
  callbackSecret: string | undefined;
  /** Signs EletroPay callbacks; falls back to the system secret when unset. */
  eletropayCallbackSecret: string | undefined;
  /**
   * Deliver to private, loopback and link-local addresses. Off unless CALLBACK_ALLOW_PRIVATE=true,
   * in every NODE_ENV: only `npm start`'s dev stack (its loopback receiver) and tests turn it on.
   */
  allowPrivateTargets: boolean;
  /** Whole-request timeout: connect, send, response headers and the (capped) body. */
  timeoutMs: number;
  /** Response bytes read before the rest is discarded and the connection closed. */
  maxResponseBytes: number;
  /** Deliveries in flight per worker process. */
  workerConcurrency: number;
  /** Safety-net poll; LISTEN/NOTIFY wakes workers at once in the normal case. */
  pollIntervalMs: number;
  /** How long a claimed row stays `sending` before another worker may take it over (after a crash). */
  leaseMs: number;
  retry: RetryPolicy;
}

export type { Env } from "../config/env.ts";

const MIN_SECRET_LENGTH = 16;
const MAKE_SECRET = "openssl rand -hex 32";

/**
 * Reads the callback settings through the shared readers (problems are collected, not thrown).
 * Variables: CALLBACK_SECRET, ELETROPAY_CALLBACK_SECRET, CALLBACK_ALLOW_PRIVATE, CALLBACK_TIMEOUT_MS,
 * CALLBACK_MAX_RESPONSE_BYTES, CALLBACK_WORKER_CONCURRENCY, CALLBACK_POLL_INTERVAL_MS,
 * CALLBACK_LEASE_MS, CALLBACK_RETRY_BASE_MS, CALLBACK_RETRY_MAX_DELAY_MS, CALLBACK_RETRY_MAX_AGE_MS.
 */
export function readCallbackConfig(r: EnvReader, mode: CallbackEnvMode): CallbackConfig {
  const production = mode === "production";
  const timeoutMs = r.int("CALLBACK_TIMEOUT_MS", 10_000, 100, 120_000);
  const baseDelayMs = r.int("CALLBACK_RETRY_BASE_MS", DEFAULT_RETRY_POLICY.baseDelayMs, 1, 86_400_000);
  const maxDelayMs = r.int("CALLBACK_RETRY_MAX_DELAY_MS", DEFAULT_RETRY_POLICY.maxDelayMs, 1, 7 * 86_400_000);
  if (maxDelayMs < baseDelayMs && !r.failed("CALLBACK_RETRY_BASE_MS", "CALLBACK_RETRY_MAX_DELAY_MS")) {
    r.problem(
      `CALLBACK_RETRY_MAX_DELAY_MS (${maxDelayMs}) must not be below CALLBACK_RETRY_BASE_MS (${baseDelayMs}); ` +
        `raise CALLBACK_RETRY_MAX_DELAY_MS to at least ${baseDelayMs} or lower CALLBACK_RETRY_BASE_MS`,
      "CALLBACK_RETRY_MAX_DELAY_MS",
    );
  }
  const leaseMs = r.int("CALLBACK_LEASE_MS", timeoutMs + 20_000, 1, 3_600_000);
  if (leaseMs <= timeoutMs && !r.failed("CALLBACK_TIMEOUT_MS", "CALLBACK_LEASE_MS")) {
    r.problem(
      `CALLBACK_LEASE_MS (${leaseMs}) must be greater than CALLBACK_TIMEOUT_MS (${timeoutMs}); ` +
        `set CALLBACK_LEASE_MS to at least ${timeoutMs + 20_000} or leave it unset`,
      "CALLBACK_LEASE_MS",
    );
  }
  const callbackSecret = r.secret("CALLBACK_SECRET", MIN_SECRET_LENGTH, MAKE_SECRET);
  if (production && r.raw("CALLBACK_SECRET") === undefined) {
    r.required(
      "CALLBACK_SECRET",
      `when NODE_ENV=production: it signs the callbacks of orders without a merchant (e.g. \`${MAKE_SECRET}\`)`,
    );
  }
  const eletropayCallbackSecret = r.secret("ELETROPAY_CALLBACK_SECRET", MIN_SECRET_LENGTH, MAKE_SECRET);
  if (
    production &&
    r.raw("ELETROPAY_CALLBACK_URL") !== undefined &&
    r.raw("ELETROPAY_CALLBACK_SECRET") === undefined
  ) {
    r.required(
      "ELETROPAY_CALLBACK_SECRET",
      `when NODE_ENV=production and ELETROPAY_CALLBACK_URL is set: it signs EletroPay callbacks (e.g. \`${MAKE_SECRET}\`)`,
    );
  }
  return {
    mode,
    callbackSecret,
    eletropayCallbackSecret,
    allowPrivateTargets: r.bool("CALLBACK_ALLOW_PRIVATE", false),
    timeoutMs,
    maxResponseBytes: r.int("CALLBACK_MAX_RESPONSE_BYTES", 64 * 1024, 0, 16 * 1024 * 1024),
    workerConcurrency: r.int("CALLBACK_WORKER_CONCURRENCY", 16, 1, 1024),
    pollIntervalMs: r.int("CALLBACK_POLL_INTERVAL_MS", 1_000, 10, 600_000),
    leaseMs,
    retry: {
      ...DEFAULT_RETRY_POLICY,
      baseDelayMs,
      maxDelayMs,
      maxAgeMs: r.int("CALLBACK_RETRY_MAX_AGE_MS", DEFAULT_RETRY_POLICY.maxAgeMs, 1, 30 * 86_400_000),
    },
  };
}

/** The callback settings alone (tests, tools): every problem is reported at once in one ConfigError. */
export function parseCallbackConfig(env: Env): CallbackConfig {
  const r = createEnvReader(env);
  const mode = r.oneOf("NODE_ENV", ["development", "test", "production"] as const, "development");
  const config = readCallbackConfig(r, mode);
  r.finish();
  return config;
}
