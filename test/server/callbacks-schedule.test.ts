import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "mocha";
import { DEFAULT_RETRY_POLICY, parseCallbackConfig } from "../../server/src/config/callbacks.ts";
import {
  formatScheduleTable,
  nextRetry,
  nominalDelayMs,
  retrySchedule,
} from "../../server/src/callbacks/schedule.ts";
import { ConfigError } from "../../server/src/lib/errors.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Table rows as trimmed cells, so Prettier's column alignment does not matter. */
const cells = (markdown: string) =>
  markdown
    .trim()
    .split("\n")
    .map((line) => line.split("|").map((c) => c.trim().replace(/^-+:?$|^:?-+:$/, "---")));

describe("callbacks: retry schedule", function () {
  it("doubles from 10 s, caps each wait at 6 h, and ends at exactly 3 days", function () {
    assert.equal(nominalDelayMs(DEFAULT_RETRY_POLICY, 1), 10_000);
    assert.equal(nominalDelayMs(DEFAULT_RETRY_POLICY, 2), 20_000);
    assert.equal(nominalDelayMs(DEFAULT_RETRY_POLICY, 5), 160_000);
    assert.equal(nominalDelayMs(DEFAULT_RETRY_POLICY, 40), 6 * HOUR);
    assert.equal(nominalDelayMs(DEFAULT_RETRY_POLICY, 5_000), 6 * HOUR, "no overflow to NaN");
    const schedule = retrySchedule(DEFAULT_RETRY_POLICY);
    assert.equal(schedule.at(-1)?.elapsedMs, 3 * DAY);
    assert.equal(schedule.length, 24);
  });

  it("keeps jitter within 80–100 % of the nominal delay and never schedules past the deadline", function () {
    for (const random of [0, 0.25, 0.5, 0.999]) {
      const d = nextRetry(DEFAULT_RETRY_POLICY, { failedAttempts: 3, ageMs: 30_000, random: () => random });
      assert.ok(d.retry && d.delayMs <= 40_000 && d.delayMs >= 32_000, JSON.stringify(d));
    }
    const nearEnd = nextRetry(DEFAULT_RETRY_POLICY, {
      failedAttempts: 30,
      ageMs: 3 * DAY - 5_000,
      random: () => 0,
    });
    assert.deepEqual(nearEnd, { retry: true, delayMs: 5_000 });
    const fractional = nextRetry(DEFAULT_RETRY_POLICY, {
      failedAttempts: 30,
      ageMs: 3 * DAY - 1_234.567,
      random: () => 0,
    });
    assert.deepEqual(
      fractional,
      { retry: true, delayMs: 1_235 },
      "whole milliseconds, as the database expects",
    );
    const past = nextRetry(DEFAULT_RETRY_POLICY, { failedAttempts: 31, ageMs: 3 * DAY });
    assert.equal(past.retry, false);
    assert.match((past as { reason: string }).reason, /gave up after 3d/);
  });

  it("honours Retry-After up to the cap", function () {
    const d = nextRetry(DEFAULT_RETRY_POLICY, {
      failedAttempts: 1,
      ageMs: 0,
      retryAfterMs: 120_000,
      random: () => 0,
    });
    assert.deepEqual(d, { retry: true, delayMs: 120_000 });
    const capped = nextRetry(DEFAULT_RETRY_POLICY, {
      failedAttempts: 1,
      ageMs: 0,
      retryAfterMs: 10 * DAY,
      random: () => 0,
    });
    assert.deepEqual(capped, { retry: true, delayMs: 6 * HOUR });
    const shorter = nextRetry(DEFAULT_RETRY_POLICY, {
      failedAttempts: 1,
      ageMs: 0,
      retryAfterMs: 1,
      random: () => 0,
    });
    assert.deepEqual(shorter, { retry: true, delayMs: 10_000 }, "Retry-After never shortens the backoff");
  });

  it("docs/callbacks.md shows the schedule computed from schedule.ts", function () {
    const doc = readFileSync(new URL("../../docs/callbacks.md", import.meta.url), "utf8");
    const table = /<!-- schedule-table:start -->([\s\S]*?)<!-- schedule-table:end -->/.exec(doc)?.[1];
    assert.ok(table, "the doc has the schedule table markers");
    assert.deepEqual(cells(table), cells(formatScheduleTable()));
  });
});

describe("callbacks: configuration", function () {
  it("has safe defaults in development and test (private targets refused)", function () {
    const config = parseCallbackConfig({});
    assert.equal(config.mode, "development");
    assert.equal(config.callbackSecret, undefined);
    assert.equal(config.allowPrivateTargets, false); // the SSRF guard is on in every mode
    assert.equal(config.timeoutMs, 10_000);
    assert.equal(config.leaseMs, 30_000);
    assert.deepEqual(config.retry, DEFAULT_RETRY_POLICY);
    assert.equal(parseCallbackConfig({ NODE_ENV: "test" }).allowPrivateTargets, false);
  });

  it("requires CALLBACK_SECRET and refuses private targets in production", function () {
    assert.throws(
      () => parseCallbackConfig({ NODE_ENV: "production" }),
      (e: Error) => e instanceof ConfigError && /CALLBACK_SECRET/.test(e.message),
    );
    const config = parseCallbackConfig({ NODE_ENV: "production", CALLBACK_SECRET: "x".repeat(32) });
    assert.equal(config.allowPrivateTargets, false);
    assert.equal(
      parseCallbackConfig({
        NODE_ENV: "production",
        CALLBACK_SECRET: "x".repeat(32),
        CALLBACK_ALLOW_PRIVATE: "true",
      }).allowPrivateTargets,
      true,
    );
    assert.throws(
      () =>
        parseCallbackConfig({
          NODE_ENV: "production",
          CALLBACK_SECRET: "x".repeat(32),
          ELETROPAY_CALLBACK_URL: "https://ep.example",
        }),
      /ELETROPAY_CALLBACK_SECRET is required/,
    );
  });

  it("names the variable in every error", function () {
    const cases: [Record<string, string>, RegExp][] = [
      [{ CALLBACK_SECRET: "short" }, /CALLBACK_SECRET must be at least 16/],
      [{ CALLBACK_ALLOW_PRIVATE: "maybe" }, /CALLBACK_ALLOW_PRIVATE must be true or false/],
      [{ CALLBACK_TIMEOUT_MS: "10s" }, /CALLBACK_TIMEOUT_MS must be a whole number/],
      [{ CALLBACK_WORKER_CONCURRENCY: "0" }, /CALLBACK_WORKER_CONCURRENCY must be between 1/],
      [
        { CALLBACK_TIMEOUT_MS: "20000", CALLBACK_LEASE_MS: "15000" },
        /CALLBACK_LEASE_MS .* must be greater than CALLBACK_TIMEOUT_MS/,
      ],
      [
        { CALLBACK_RETRY_BASE_MS: "5000", CALLBACK_RETRY_MAX_DELAY_MS: "1000" },
        /CALLBACK_RETRY_MAX_DELAY_MS/,
      ],
      [{ NODE_ENV: "staging" }, /NODE_ENV must be one of/],
    ];
    for (const [env, message] of cases) {
      assert.throws(
        () => parseCallbackConfig(env),
        (e: Error) => e instanceof ConfigError && message.test(e.message),
        JSON.stringify(env),
      );
    }
  });
});
