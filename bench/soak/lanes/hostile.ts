/**
 * Hostile HTTP throughout the run: the fuzz corpus of test/server/api-fuzz.test.ts replayed over
 * real HTTP to both API processes (every request has at least one hostile field), and keyed bursts
 * of 3× a plan's daily limit of `POST /order`, all at once, across both API processes.
 */
import { createMerchant } from "../../../server/src/merchants/service.ts";
import { PLANS } from "../../../server/src/merchants/plans.ts";
import { FIELDS, METHODS, ROUTES, VALUES } from "../../../test/helpers/fuzz-corpus.ts";
import { apiUrl, type SoakContext } from "../context.ts";
import type { Receiver } from "../../../test/support/receiver.ts";
import type { Managed } from "../supervisor.ts";
import { now, sleep } from "../util.ts";

interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** A request of the fuzz corpus, drawn from the seeded random source. */
function fuzzRequest(ctx: SoakContext, fuzzKey: string): FuzzRequest {
  const { random, pick } = ctx;
  const method = random() < 0.6 ? "POST" : pick(METHODS);
  const url = random() < 0.6 ? "/order" : pick(ROUTES);
  const headers: Record<string, string> = {};
  if (random() < 0.5)
    headers.authorization = pick([
      fuzzKey,
      `Bearer ${fuzzKey}`,
      "garbage",
      "Bearer ",
      "epos_x_y",
      "admin-token",
    ]);
  if (random() < 0.1) headers.accept = pick(["text/html", "application/xml", "*/*", "application/json;q=0"]);
  let body: string | undefined;
  if (method !== "GET" && method !== "OPTIONS") {
    if (random() < 0.1) body = pick(["{", "[]", "null", '"x"', '{"amount":', "\u0000", "x".repeat(70_000)]);
    else body = JSON.stringify(fuzzBody(ctx));
    headers["content-type"] =
      random() < 0.95
        ? "application/json"
        : pick(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]);
  }
  return { method, url, headers, body };
}

/** An order body with at least one hostile field: these requests are malformed on purpose. */
function fuzzBody(ctx: SoakContext): Record<string, unknown> {
  const { random, pick, receivers } = ctx;
  const b: Record<string, unknown> = {};
  b.amount = random() < 0.5 ? pick(["1.00", "4.99", "13.54"]) : pick(VALUES);
  b.address = random() < 0.5 ? ctx.merchantAddress : pick(VALUES);
  // Accepted orders call back to the soak's receivers, so their callbacks are checked too.
  b.callback = random() < 0.8 ? (receivers[0] as Receiver).url : pick(VALUES);
  if (b.callback === "http://127.0.0.1:9/cb") b.callback = (receivers[1] as Receiver).url;
  for (let k = 0, n = 1 + Math.floor(random() * 2); k < n; k++) b[pick(FIELDS)] = pick(VALUES);
  if (random() < 0.1) delete b[pick(["amount", "address", "callback"])];
  return b;
}

/** Sends one malformed request to a live API process and counts its answer. */
async function fuzzOne(ctx: SoakContext, fuzzKey: string): Promise<void> {
  const { method, url, headers, body } = fuzzRequest(ctx, fuzzKey);
  const { malformed } = ctx;
  const live = ctx.apis.filter((m) => m.alive());
  const target = live.length ? ctx.pick(live) : ctx.pick(ctx.apis);
  try {
    const res = await fetch(`${apiUrl(target)}${url}`, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
      signal: AbortSignal.timeout(10_000),
    });
    await res.arrayBuffer();
    malformed.sent++;
    malformed.byStatus[res.status] = (malformed.byStatus[res.status] ?? 0) + 1;
    if (res.status >= 500) {
      if (res.status === 503 && now() < ctx.degradedUntil) malformed.fiveXxDuringFaults++;
      else {
        malformed.fiveXx++;
        if (malformed.examples.length < 10)
          malformed.examples.push(`${method} ${url} ${body?.slice(0, 120)} → ${res.status}`);
      }
    }
  } catch {
    malformed.unreachable++; // a killed API process: connection refused, not an answer
  }
}

/** The fuzz lane: the profile's malformed requests, spread evenly over its minutes, 8 at a time at most. */
export async function fuzzLane(ctx: SoakContext, fuzzKey: string): Promise<void> {
  const { profile, malformed } = ctx;
  const perMs = profile.malformed / ctx.durationMs;
  while (ctx.running) {
    const due = Math.min(profile.malformed, Math.ceil((now() - ctx.t0) * perMs));
    const batch: Promise<void>[] = [];
    while (malformed.sent + batch.length < due && batch.length < 8) batch.push(fuzzOne(ctx, fuzzKey));
    if (batch.length === 0) await sleep(200);
    await Promise.all(batch);
    await sleep(50);
  }
}

/** The burst lane: the profile's bursts, spread evenly over its minutes. */
export async function burstLane(ctx: SoakContext): Promise<void> {
  const { profile } = ctx;
  for (let i = 0; i < profile.bursts && ctx.running; i++) {
    await sleep(Math.max(0, ctx.t0 + ((i + 0.5) * ctx.durationMs) / profile.bursts - now()));
    if (!ctx.running) break;
    await burst(ctx, i);
  }
}

/** A new Free or Basic merchant, then 3× its daily limit of `POST /order` at once. */
async function burst(ctx: SoakContext, i: number): Promise<void> {
  const plan = ctx.pick(["free", "basic"] as const);
  const email = `soak-burst-${i}@example.com`;
  const { apiKey } = await createMerchant(ctx.db, email, plan);
  const limit = PLANS[plan].dailyTransactions;
  const results = await Promise.all(
    Array.from({ length: limit * 3 }, (_, k) =>
      fetch(`${apiUrl(ctx.apis[k % ctx.apis.length] as Managed)}/order`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: apiKey },
        body: JSON.stringify({
          amount: "6.00",
          address: ctx.merchantAddress,
          callback: (ctx.receivers[k % 2] as Receiver).url,
        }),
        signal: AbortSignal.timeout(10_000),
      })
        .then(async (r) => {
          await r.arrayBuffer();
          return r.status;
        })
        .catch(() => 0),
    ),
  );
  ctx.bursts.push({ merchant: email, limit, plan, accepted: results.filter((s) => s === 200).length });
  for (const s of results) if (s >= 500 && !(s === 503 && now() < ctx.degradedUntil)) ctx.malformed.fiveXx++;
}
