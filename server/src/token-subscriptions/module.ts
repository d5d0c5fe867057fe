import { eventsByOwner } from "../chain/events.ts";
import type { ChainModule } from "../chain/module.ts";
import { createCollector } from "./collector.ts";
import { deleteChainTokenSubscriptions } from "./repository.ts";
import { createTokenSubscriptionSink } from "./sink.ts";
import { subscriptionsSource } from "./sources.ts";

/**
 * Token subscriptions (recurring token pulls) of the Subscriptions contract, when the chain has
 * one: its events, and the collector of due periods.
 */
export const tokenSubscriptionsModule: ChainModule = {
  name: "token-subscriptions",
  sources: (ctx) => (ctx.subscriptions ? [subscriptionsSource(ctx.subscriptions)] : []),
  sink(ctx) {
    if (!ctx.subscriptions) return undefined;
    const sink = createTokenSubscriptionSink();
    return {
      async apply(tx, step) {
        await sink.apply(
          tx,
          step.type === "block" ? { ...step, events: eventsByOwner(step.events).tokenSubscriptions } : step,
        );
      },
    };
  },
  keeper(ctx, run) {
    if (!ctx.subscriptions) return undefined;
    if (!run.sender || !ctx.config.sweeper) {
      ctx.log.info(
        `no ${ctx.config.prefix}SWEEPER_PRIVATE_KEY: token subscriptions on ${ctx.name} are collected only by others (collect is permissionless)`,
      );
      return undefined;
    }
    return createCollector({
      db: ctx.db,
      client: ctx.client,
      chainId: ctx.chainId,
      subscriptions: ctx.subscriptions,
      sender: run.sender,
      retryBlocks: ctx.config.collectRetryBlocks,
      maxGasSharePpm: ctx.config.sweeper.maxGasSharePpm,
      tokens: ctx.tokens,
      prices: ctx.prices,
      indexedBlock: run.indexedBlock,
      log: ctx.log.child({ component: "collector" }),
    });
  },
  deleteChainData: deleteChainTokenSubscriptions,
};
