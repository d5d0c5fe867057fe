/**
 * The payment stream: one action every 100–500 ms, chosen by weight, on a random chain, until the
 * run stops. A reverted or dropped transaction is counted, not retried.
 */
import { count, type SoakContext } from "../context.ts";
import { sleep } from "../util.ts";
import { payLate, payNewDeposit, payNewInternalDeposit, payNewOrder, refund } from "./orders.ts";
import { subscriptionPeriod } from "./subscriptions.ts";

type Action =
  | "contract"
  | "deposit"
  | "internalDeposit"
  | "token"
  | "tokenDeposit"
  | "partial"
  | "over"
  | "late"
  | "refund"
  | "subscription";

const WEIGHTS: [Action, number][] = [
  ["contract", 4],
  ["deposit", 2],
  ["internalDeposit", 1],
  ["token", 2],
  ["tokenDeposit", 1],
  ["partial", 1.5],
  ["over", 1],
  ["late", 1],
  ["refund", 1],
  ["subscription", 1.5],
];
const totalWeight = WEIGHTS.reduce((s, [, w]) => s + w, 0);

function chooseAction(ctx: SoakContext): Action {
  let x = ctx.random() * totalWeight;
  for (const [a, w] of WEIGHTS) if ((x -= w) < 0) return a;
  return "contract";
}

async function streamStep(ctx: SoakContext, recurringKey: string): Promise<void> {
  const action = chooseAction(ctx);
  const chain = ctx.pick(ctx.chains);
  try {
    switch (action) {
      case "contract":
      case "token":
      case "partial":
      case "over":
        return await payNewOrder(ctx, chain, action);
      case "deposit":
      case "tokenDeposit":
        return await payNewDeposit(ctx, chain, action);
      case "internalDeposit":
        return await payNewInternalDeposit(ctx, chain);
      case "late":
        return await payLate(ctx);
      case "refund":
        return await refund(ctx);
      case "subscription":
        return await subscriptionPeriod(ctx, recurringKey, chain);
      default: {
        const unhandled: never = action;
        throw new Error(`unhandled stream action ${String(unhandled)}`);
      }
    }
  } catch (error) {
    // A reverted or dropped transaction (a reorg took the funds, a refund above the balance).
    count(ctx, `${action} failed`);
    if (process.env.SOAK_DEBUG) console.error(`stream ${action}: ${(error as Error).message.split("\n")[0]}`);
  }
}

/** The stream lane: runs until `ctx.running` turns false. */
export async function streamLane(ctx: SoakContext, recurringKey: string): Promise<void> {
  while (ctx.running) {
    await streamStep(ctx, recurringKey);
    await sleep(ctx.between(100, 500));
  }
}
