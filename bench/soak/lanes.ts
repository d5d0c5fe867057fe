/**
 * The lanes that run for the soak's minutes: the payment stream (lanes/stream.ts: orders paid every
 * way, refunds, subscription periods) and hostile HTTP (lanes/hostile.ts: the fuzz corpus, keyed
 * bursts against plan limits). Each ends its loop once `ctx.running` turns false.
 */
import { createMerchant } from "../../server/src/merchants/service.ts";
import { startClock, type SoakContext } from "./context.ts";
import { burstLane, fuzzLane } from "./lanes/hostile.ts";
import { streamLane } from "./lanes/stream.ts";
import { createRecurringMerchant } from "./lanes/subscriptions.ts";

/**
 * Makes the lanes' merchants (the fuzz's keyed requests; the subscriptions' merchant with the
 * Recurring Payments plugin), starts the profile's clock, and starts the lanes: the promises that
 * settle when each lane has ended.
 */
export async function startLanes(ctx: SoakContext): Promise<Promise<void>[]> {
  const fuzzKey = (await createMerchant(ctx.db, "soak-fuzz@example.com", "exclusive")).apiKey;
  // The profile's minutes count from here: start-up time is not soak time.
  startClock(ctx);
  const recurringKey = await createRecurringMerchant(ctx);
  return [streamLane(ctx, recurringKey), fuzzLane(ctx, fuzzKey), burstLane(ctx)];
}
