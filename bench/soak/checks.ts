/**
 * The end-state checks, once everything has settled (docs/soak.md, "Checks"), in order: payments
 * reflected once, order and subscription amounts, no false complete, reconcile, callbacks, plan
 * limits, no 5xx to malformed requests, the fresh reindex, and the faults. Each prints PASS or FAIL
 * as it runs; the figures go to the report.
 */
import { FAULT_KINDS, type FaultKind, type SoakContext } from "./context.ts";
import { checkCallbacks, type CallbackFigures } from "./checks/callbacks.ts";
import {
  checkNoFalseComplete,
  checkOrderAmounts,
  checkPaymentEvents,
  checkReconcile,
  checkSubscriptionAmounts,
  loadOrderRows,
  loadSubscriptionRows,
} from "./checks/payments.ts";
import { Checks, type CheckResults } from "./checks/record.ts";
import { checkReindex } from "./checks/reindex.ts";

export interface CheckFigures {
  checks: CheckResults;
  onChainPayments: number;
  orders: number;
  subscriptions: number;
  tokenPullSubscriptions: number;
  callbacks: CallbackFigures;
  reindexDatedBySweep: number;
}

export async function runChecks(ctx: SoakContext): Promise<CheckFigures> {
  const checks = new Checks();
  const onChainPayments = await checkPaymentEvents(ctx, checks);
  const orderRows = await loadOrderRows(ctx.db);
  await checkOrderAmounts(ctx, checks, orderRows);
  const subscriptionRows = await loadSubscriptionRows(ctx.db);
  await checkSubscriptionAmounts(ctx, checks, subscriptionRows);
  await checkNoFalseComplete(ctx, checks, orderRows);
  await checkReconcile(ctx, checks);
  const callbacks = await checkCallbacks(ctx, checks, orderRows);
  await checkPlanLimits(ctx, checks);
  checkMalformed(ctx, checks);
  const reindexDatedBySweep = await checkReindex(ctx, checks, orderRows);
  checkFaults(ctx, checks);
  return {
    checks: checks.results,
    onChainPayments,
    orders: orderRows.length,
    subscriptions: subscriptionRows.length,
    tokenPullSubscriptions: subscriptionRows.filter((r) => r.method === "token_pull").length,
    callbacks,
    reindexDatedBySweep,
  };
}

/** 5. Plan limits held under concurrent keyed bursts. */
async function checkPlanLimits(ctx: SoakContext, checks: Checks) {
  let exceeded = 0;
  const details: string[] = [];
  for (const b of ctx.bursts) {
    const { rows } = await ctx.db.query<{ n: bigint }>(
      "SELECT count(*)::int8 AS n FROM orders o JOIN merchants m ON m.id = o.merchant_id WHERE m.email = $1",
      [b.merchant],
    );
    const stored = Number(rows[0]?.n ?? 0n);
    if (stored > b.limit || b.accepted > b.limit) exceeded++;
    details.push(`${b.plan} ${b.accepted}/${b.limit} accepted, ${stored} stored`);
  }
  checks.check(
    "no plan limit exceeded",
    exceeded === 0,
    `${ctx.bursts.length} bursts of 3× the daily limit: ${details.join("; ")}`,
  );
}

/** 6. No 5xx to a malformed request. */
function checkMalformed(ctx: SoakContext, checks: Checks) {
  const { malformed } = ctx;
  checks.check(
    "no 5xx to malformed requests",
    malformed.fiveXx === 0 && malformed.sent > 0,
    `${malformed.sent} malformed requests, ${malformed.fiveXx} answered 5xx (${malformed.fiveXxDuringFaults} answered 503 during a database or RPC outage; ${malformed.unreachable} met a killed process)${malformed.examples.length ? `; ${malformed.examples.join("; ")}` : ""}`,
  );
}

export const injectedOf = (ctx: SoakContext, k: FaultKind) => ctx.stats.injected.get(k) ?? 0;

/** Faults all injected and recovered. */
function checkFaults(ctx: SoakContext, checks: Checks) {
  const { profile, faultFailures } = ctx;
  const short = FAULT_KINDS.filter((k) => injectedOf(ctx, k) < profile.faults[k]);
  checks.check(
    "every planned fault injected and recovered",
    short.length === 0 && faultFailures.length === 0,
    `${FAULT_KINDS.map((k) => `${k} ${injectedOf(ctx, k)}/${profile.faults[k]}`).join(", ")}${faultFailures.length ? `; ${faultFailures.join("; ")}` : ""}`,
  );
}
