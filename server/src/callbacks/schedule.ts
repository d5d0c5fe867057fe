/**
 * When to try a callback again. Delays grow exponentially from `baseDelayMs`, are capped at
 * `maxDelayMs`, and carry jitter so that many callbacks failing together (a receiver outage)
 * do not come back as one wave. Nothing is retried after `maxAgeMs` from the callback's creation:
 * the last attempt lands at that deadline at the latest, and a failure then marks it `failed`.
 */
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "../config/callbacks.ts";

/** The delay before attempt `failedAttempts + 1`, without jitter (`failedAttempts` ≥ 1). */
export function nominalDelayMs(policy: RetryPolicy, failedAttempts: number): number {
  const exponent = Math.max(0, failedAttempts - 1);
  // factor^exponent overflows to Infinity long after it passes the cap; min() handles both.
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * policy.factor ** exponent);
}

export type RetryDecision = { retry: true; delayMs: number } | { retry: false; reason: string };

export interface RetryInput {
  /** Attempts made so far, including the one that just failed. */
  failedAttempts: number;
  /** Milliseconds since the callback was created (database clock). */
  ageMs: number;
  /** The receiver's Retry-After, when it sent one; honoured up to `maxDelayMs`. */
  retryAfterMs?: number | undefined;
  /** Uniform [0, 1); injectable for tests. */
  random?: () => number;
}

/** Decides whether a retryable failure is tried again, and after how long. */
export function nextRetry(policy: RetryPolicy, input: RetryInput): RetryDecision {
  const remainingMs = policy.maxAgeMs - input.ageMs;
  if (remainingMs <= 0) return { retry: false, reason: `gave up after ${formatDuration(policy.maxAgeMs)}` };
  const nominal = nominalDelayMs(policy, input.failedAttempts);
  const random = input.random ?? Math.random;
  let delayMs = Math.round(nominal * (1 - policy.jitter * random()));
  if (input.retryAfterMs !== undefined && input.retryAfterMs > delayMs) {
    delayMs = Math.min(input.retryAfterMs, policy.maxDelayMs);
  }
  return { retry: true, delayMs: Math.max(0, Math.ceil(Math.min(delayMs, remainingMs))) };
}

export interface ScheduleRow {
  /** The attempt this row describes (attempt 1 is the first delivery, sent at once). */
  attempt: number;
  /** Nominal delay after the previous attempt (before jitter). */
  delayMs: number;
  /** Nominal time from the event to this attempt. */
  elapsedMs: number;
}

/** The full nominal schedule: every attempt up to the `maxAgeMs` deadline. */
export function retrySchedule(policy: RetryPolicy): ScheduleRow[] {
  const rows: ScheduleRow[] = [{ attempt: 1, delayMs: 0, elapsedMs: 0 }];
  let elapsed = 0;
  for (let failed = 1; elapsed < policy.maxAgeMs; failed++) {
    const delay = Math.min(nominalDelayMs(policy, failed), policy.maxAgeMs - elapsed);
    elapsed += delay;
    rows.push({ attempt: failed + 1, delayMs: delay, elapsedMs: elapsed });
  }
  return rows;
}

/** "1d 2h 3m 4s" style, dropping zero units; used in docs and messages. */
export function formatDuration(ms: number): string {
  let seconds = Math.round(ms / 1000);
  if (seconds === 0) return ms === 0 ? "0s" : `${ms}ms`;
  const parts: string[] = [];
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3_600],
    ["m", 60],
    ["s", 1],
  ] as const) {
    const n = Math.floor(seconds / size);
    if (n > 0) parts.push(`${n}${unit}`);
    seconds -= n * size;
  }
  return parts.join(" ");
}

/** The Markdown table in docs/callbacks.md (a test keeps the two identical). */
export function formatScheduleTable(policy: RetryPolicy = DEFAULT_RETRY_POLICY): string {
  const lines = [
    "| Attempt | Delay after previous attempt | Time since the event |",
    "| ---: | ---: | ---: |",
  ];
  for (const row of retrySchedule(policy)) {
    const delay = row.attempt === 1 ? "immediately" : formatDuration(row.delayMs);
    lines.push(`| ${row.attempt} | ${delay} | ${formatDuration(row.elapsedMs)} |`);
  }
  return lines.join("\n");
}
