import { eventsByOwner } from "../chain/events.ts";
import { fact, type ChainModule } from "../chain/module.ts";
import { createCollector, type Collector } from "./collector.ts";
import { deleteChainTokenSubscriptions, refsOfTokenSubscriptions } from "./repository.ts";
import { createTokenSubscriptionSink } from "./sink.ts";
import { subscriptionsSource } from "./sources.ts";

/** The refs (bytes32, lowercase) of the on-chain subscriptions a step's events concern. */
export const touchedTokenSubscriptions = fact<{ readonly refs: readonly string[] }>(
  "touched token subscription refs",
);

/**
 * Token subscriptions (recurring token pulls) of the Subscriptions contract, when the chain has
 * one: its events, and the collector of due periods.
 */
export const tokenSubscriptionsModule: ChainModule = {
  name: "token-subscriptions",
  sources: (ctx) => (ctx.subscriptions ? [subscriptionsSource(ctx.subscriptions)] : []),
  sink(ctx) {
    const sink = ctx.subscriptions ? createTokenSubscriptionSink() : undefined;
    return {
      async apply(tx, step, facts) {
        if (step.type !== "block") {
          await sink?.apply(tx, step);
          facts.publish(touchedTokenSubscriptions, { refs: [] });
          return;
        }
        const events = eventsByOwner(step.events).tokenSubscriptions;
        await sink?.apply(tx, { ...step, events });
        const refs = new Set<string>();
        const ids: bigint[] = [];
        for (const e of events) {
          if (e.kind === "token_subscribed") refs.add(e.ref);
          else ids.push(e.id);
        }
        for (const ref of await refsOfTokenSubscriptions(tx, step.chainId, ids)) refs.add(ref);
        facts.publish(touchedTokenSubscriptions, { refs: [...refs] });
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
  health: (ctx, keeper) => ({
    token_subscriptions: ctx.subscriptions
      ? { contract: ctx.subscriptions, collector: (keeper as Collector | undefined)?.address ?? null }
      : "off",
  }),
};
