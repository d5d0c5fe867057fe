import type { ChainEvent } from "../chain/events.ts";
import { createStepFacts, type ChainContext, type ChainModule, type StepFacts } from "../chain/module.ts";
import { createIndexer, type Indexer } from "../indexer/index.ts";
import type { BlockReader, Sink, Source } from "../indexer/types.ts";

/** A chain's indexing pipeline as its module list makes it. */
export interface ChainPipeline {
  /** The modules' names, in list order. */
  readonly modules: readonly string[];
  readonly sources: readonly Source<ChainEvent>[];
  readonly readers: readonly BlockReader<ChainEvent>[];
  /** Every module's sink in list order, in the step's transaction; the result is what they published. */
  readonly sink: Sink<ChainEvent, StepFacts>;
}

/**
 * Builds the pipeline from an ordered module list: their sources and readers feed the indexer,
 * and their sinks run in list order on each step, each reading the facts published before it.
 */
export function buildPipeline<Ctx>(modules: readonly ChainModule<Ctx>[], ctx: Ctx): ChainPipeline {
  const names = modules.map((m) => m.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw new Error(`the module ${twice} is listed twice`);
  const sinks = modules.flatMap((m) => {
    const sink = m.sink?.(ctx);
    return sink ? [sink] : [];
  });
  const idlers = sinks.filter((s) => s.idle !== undefined);
  return {
    modules: names,
    sources: modules.flatMap((m) => m.sources(ctx)),
    readers: modules.flatMap((m) => m.readers?.(ctx) ?? []),
    sink: {
      async apply(tx, step) {
        const facts = createStepFacts();
        for (const s of sinks) await s.apply(tx, step, facts);
        return facts;
      },
      ...(idlers.length > 0
        ? {
            async idle(tx, at) {
              const facts = createStepFacts();
              for (const s of idlers) await s.idle?.(tx, at, facts);
              return facts;
            },
          }
        : {}),
    },
  };
}

export interface ChainIndexerOptions {
  /** The first block to index when there is no cursor yet. */
  startBlock: bigint;
  finalityBlocks: number;
  pollIntervalMs: number;
  newHeadsUrl?: string | undefined;
  /** Whether to bound the reorg window by the node's `finalized` block (see ChainConnection). */
  finalizedTag?: boolean;
  maxLogRange?: number;
  realtimeBatch?: number;
}

/** A chain's indexer, and the names of the modules it was built from. */
export type ChainIndexer = Indexer<StepFacts> & { readonly modules: readonly string[] };

/**
 * The one way to build a chain's indexer: the pipeline of `modules` (production: chainModules,
 * ./modules.ts) over the chain of `ctx`.
 */
export function createChainIndexer<Ctx extends ChainContext>(
  modules: readonly ChainModule<Ctx>[],
  ctx: Ctx,
  options: ChainIndexerOptions,
): ChainIndexer {
  const pipeline = buildPipeline(modules, ctx);
  const indexer = createIndexer<ChainEvent, StepFacts>({
    chain: {
      chainId: ctx.chainId,
      client: ctx.client,
      ...(options.finalizedTag === undefined ? {} : { finalizedTag: options.finalizedTag }),
    },
    db: ctx.db,
    sources: pipeline.sources,
    readers: pipeline.readers,
    sink: pipeline.sink,
    log: ctx.log.child({ component: "indexer" }),
    startBlock: options.startBlock,
    finalityBlocks: options.finalityBlocks,
    pollIntervalMs: options.pollIntervalMs,
    newHeadsUrl: options.newHeadsUrl,
    ...(options.maxLogRange === undefined ? {} : { maxLogRange: options.maxLogRange }),
    ...(options.realtimeBatch === undefined ? {} : { realtimeBatch: options.realtimeBatch }),
  });
  return Object.assign(indexer, { modules: pipeline.modules });
}
