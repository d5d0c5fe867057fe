import { bool, int, optionalStr, type Env } from "../config/env.ts";
import { ConfigError } from "../lib/errors.ts";
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./schedule.ts";

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
  /** Deliver to private, loopback and link-local addresses (local development). */
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

const read = optionalStr;

function secret(env: Env, name: string, required: boolean, why: string): string | undefined {
  const value = read(env, name);
  if (value === undefined) {
    if (required) throw new ConfigError(`${name} is required ${why}`);
    return undefined;
  }
  if (value.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(`${name} must be at least ${MIN_SECRET_LENGTH} characters long`);
  }
  return value;
}

/**
 * Reads the callback settings once at boot. Variables:
 * CALLBACK_SECRET, ELETROPAY_CALLBACK_SECRET, CALLBACK_ALLOW_PRIVATE, CALLBACK_TIMEOUT_MS,
 * CALLBACK_MAX_RESPONSE_BYTES, CALLBACK_WORKER_CONCURRENCY, CALLBACK_POLL_INTERVAL_MS,
 * CALLBACK_LEASE_MS, CALLBACK_RETRY_BASE_MS, CALLBACK_RETRY_MAX_DELAY_MS, CALLBACK_RETRY_MAX_AGE_MS.
 */
export function parseCallbackConfig(env: Env = process.env): CallbackConfig {
  const nodeEnv = read(env, "NODE_ENV") ?? "development";
  if (nodeEnv !== "development" && nodeEnv !== "test" && nodeEnv !== "production") {
    throw new ConfigError(`NODE_ENV must be one of development, test, production, got "${nodeEnv}"`);
  }
  const production = nodeEnv === "production";
  const timeoutMs = int(env, "CALLBACK_TIMEOUT_MS", 10_000, 100, 120_000);
  const baseDelayMs = int(env, "CALLBACK_RETRY_BASE_MS", DEFAULT_RETRY_POLICY.baseDelayMs, 1, 86_400_000);
  const maxDelayMs = int(
    env,
    "CALLBACK_RETRY_MAX_DELAY_MS",
    DEFAULT_RETRY_POLICY.maxDelayMs,
    1,
    7 * 86_400_000,
  );
  if (maxDelayMs < baseDelayMs) {
    throw new ConfigError(
      `CALLBACK_RETRY_MAX_DELAY_MS (${maxDelayMs}) must not be below CALLBACK_RETRY_BASE_MS (${baseDelayMs})`,
    );
  }
  const leaseMs = int(env, "CALLBACK_LEASE_MS", timeoutMs + 20_000, 1, 3_600_000);
  if (leaseMs <= timeoutMs) {
    throw new ConfigError(
      `CALLBACK_LEASE_MS (${leaseMs}) must be greater than CALLBACK_TIMEOUT_MS (${timeoutMs})`,
    );
  }
  return {
    mode: nodeEnv,
    callbackSecret: secret(env, "CALLBACK_SECRET", production, "when NODE_ENV=production"),
    eletropayCallbackSecret: secret(
      env,
      "ELETROPAY_CALLBACK_SECRET",
      production && read(env, "ELETROPAY_CALLBACK_URL") !== undefined,
      "when NODE_ENV=production and ELETROPAY_CALLBACK_URL is set",
    ),
    allowPrivateTargets: bool(env, "CALLBACK_ALLOW_PRIVATE", !production),
    timeoutMs,
    maxResponseBytes: int(env, "CALLBACK_MAX_RESPONSE_BYTES", 64 * 1024, 0, 16 * 1024 * 1024),
    workerConcurrency: int(env, "CALLBACK_WORKER_CONCURRENCY", 16, 1, 1024),
    pollIntervalMs: int(env, "CALLBACK_POLL_INTERVAL_MS", 1_000, 10, 600_000),
    leaseMs,
    retry: {
      ...DEFAULT_RETRY_POLICY,
      baseDelayMs,
      maxDelayMs,
      maxAgeMs: int(env, "CALLBACK_RETRY_MAX_AGE_MS", DEFAULT_RETRY_POLICY.maxAgeMs, 1, 30 * 86_400_000),
    },
  };
}
