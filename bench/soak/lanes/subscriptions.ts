/**
 * The stream's subscription periods (docs/recurring.md, docs/token-subscriptions.md): weekly
 * subscriptions of a keyed merchant with the Recurring Payments plugin. Method deposit: period 0
 * is due at creation and paid by plain transfers to the subscription's address (in full, in part
 * then topped up, or over, the excess kept as credit); later transfers to a subscription already
 * paid become credit. Method token_pull (USDC): the customer subscribes on chain with exactly the
 * terms the API returned, starting a few seconds ahead, and the collector (the sweeper's gas-only
 * key) collects period 0 when it comes due.
 */
import type { Hex } from "viem";
import { createMerchant, setPlugins } from "../../../server/src/merchants/service.ts";
import { subscriptionsAbi } from "../abi.ts";
import { count, type SoakChain, type SoakContext, type StreamSubscription } from "../context.ts";
import { now, sleep } from "../util.ts";
import { nextReceiver, postToAnyApi, smallAmount } from "./api.ts";
import { transferTo } from "./orders.ts";

/** The keyed merchant with the Recurring Payments plugin: its API key. */
export async function createRecurringMerchant(ctx: SoakContext): Promise<string> {
  const { apiKey } = await createMerchant(ctx.db, "soak-recurring@example.com", "exclusive");
  await setPlugins(ctx.db, "soak-recurring@example.com", { recurring_payments: true });
  return apiKey;
}

interface Created {
  sub: StreamSubscription;
  /** The terms to subscribe with on chain (token_pull only). */
  pull?: { args: Record<string, string> };
}

async function postSubscription(
  ctx: SoakContext,
  recurringKey: string,
  chain: SoakChain,
  method: "deposit" | "token_pull",
  token: "ETH" | "USDC",
): Promise<Created | undefined> {
  const amount = smallAmount(ctx);
  const receiver = nextReceiver(ctx);
  // A token pull starts a little ahead: the contract refuses a start before the block's time
  // (which runs ahead of the wall clock after a reorg's re-mined branch), the API one before now.
  let start: Date | undefined;
  if (method === "token_pull") {
    const chainTime = Number((await chain.node.client.getBlock({ blockTag: "latest" })).timestamp);
    start = new Date((Math.max(chainTime, Math.ceil(now() / 1000)) + ctx.between(8, 20)) * 1000);
  }
  const body = await postToAnyApi<{ id: number; token_pull?: { args: Record<string, string> } }>(
    ctx,
    "/recurring",
    {
      amount,
      interval: "weekly",
      address: ctx.merchantAddress,
      callback: receiver.url,
      chain: chain.name,
      method,
      ...(token === "USDC" ? { token: "USDC" } : {}),
      ...(start ? { start: start.toISOString().replace(".000Z", "Z") } : {}),
    },
    "subscription",
    { authorization: recurringKey },
  );
  if (!body) return undefined;
  const sub = await streamSubscription(ctx, body.id, chain, method, token);
  ctx.subscriptions.push(sub);
  return { sub, ...(body.token_pull ? { pull: body.token_pull } : {}) };
}

/** The subscription as created: its reference, deposit address and period 0's expected amount. */
async function streamSubscription(
  ctx: SoakContext,
  id: number,
  chain: SoakChain,
  method: "deposit" | "token_pull",
  token: "ETH" | "USDC",
): Promise<StreamSubscription> {
  const { rows } = await ctx.db.query<{ reference: string; deposit_address: string; expected: string }>(
    `SELECT s.reference, s.deposit_address, p.expected_amount AS expected
       FROM subscriptions s JOIN subscription_periods p ON p.subscription_id = s.id AND p.index = 0
      WHERE s.id = $1`,
    [id],
  );
  const row = rows[0];
  if (!row) throw new Error(`subscription ${id} has no period 0`);
  return {
    id,
    chain,
    method,
    token,
    reference: row.reference as Hex,
    address: row.deposit_address as `0x${string}`,
    expected: BigInt(row.expected),
  };
}

const payToSubscription = (ctx: SoakContext, s: StreamSubscription, amount: bigint) =>
  transferTo(ctx, s.chain, s.token, s.address, amount);

/** One subscription action: a later transfer, a new token_pull subscription, or a new deposit one. */
export async function subscriptionPeriod(ctx: SoakContext, recurringKey: string, chain: SoakChain) {
  const existing = ctx.subscriptions.filter((s) => s.chain === chain && s.method === "deposit");
  if (existing.length && ctx.random() < 0.3) {
    // A later transfer to a subscription's address: it tops up period 0 or becomes credit.
    const s = ctx.pick(existing);
    await payToSubscription(ctx, s, ctx.random() < 0.5 ? s.expected : s.expected / 2n);
    count(ctx, "subscription transfer");
    return;
  }
  if (ctx.random() < 0.3) return subscribeTokenPull(ctx, recurringKey, chain);
  return subscribeDeposit(ctx, recurringKey, chain);
}

/** A token_pull subscription in USDC, subscribed on chain with exactly the API's terms. */
async function subscribeTokenPull(ctx: SoakContext, recurringKey: string, chain: SoakChain) {
  const created = await postSubscription(ctx, recurringKey, chain, "token_pull", "USDC");
  if (!created?.pull) return;
  const a = created.pull.args;
  await chain.node.wallet.writeContract({
    address: chain.subscriptions,
    abi: subscriptionsAbi,
    functionName: "subscribe",
    args: [
      a.merchant as `0x${string}`,
      a.token as `0x${string}`,
      BigInt(a.amountPerPeriod as string),
      BigInt(a.interval as string),
      BigInt(a.start as string),
      a.ref as Hex,
    ],
    account: ctx.pick(chain.customers),
    chain: null,
  });
  count(ctx, "subscription token_pull");
}

/** A deposit subscription (ETH or USDC) whose period 0 is paid in full, half (maybe topped up) or over. */
async function subscribeDeposit(ctx: SoakContext, recurringKey: string, chain: SoakChain) {
  const created = await postSubscription(
    ctx,
    recurringKey,
    chain,
    "deposit",
    ctx.random() < 0.7 ? "ETH" : "USDC",
  );
  if (!created) return;
  const s = created.sub;
  const x = ctx.random();
  const amount = x < 0.6 ? s.expected : x < 0.8 ? s.expected / 2n : (s.expected * 3n) / 2n;
  await payToSubscription(ctx, s, amount);
  count(ctx, "subscription deposit");
  if (amount < s.expected && ctx.random() < 0.5) {
    await sleep(ctx.between(200, 2_000));
    await payToSubscription(ctx, s, s.expected - amount);
    count(ctx, "subscription top-up");
  }
}
