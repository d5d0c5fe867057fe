import { createPublicClient, type PublicClient } from "viem";
import {
  findDeploymentBlock,
  ignitionDeploymentDir,
  LOCAL_CHAIN_IDS,
  readIgnitionDeployment,
} from "../chain/deployment.ts";
import { createRpcStats, type RpcStats } from "../chain/rpc-stats.ts";
import { providerTransport, type ProviderTransportState } from "../chain/transport.ts";
import { ensureChainIdentity, readChainIdentity, type ChainReset } from "../chain/identity.ts";
import type { AppEnv, ChainConfig, RateSourceName, RatesConfig, TokenConfig } from "../config/index.ts";
import type { Db } from "../db/types.ts";
import { readDepositDerivation, type DepositDerivation } from "../deposits/address.ts";
import { probeDepositReuse } from "../deposits/probe.ts";
import { ConfigProblems } from "../config/errors.ts";
import { DEFAULT_DEPOSIT_WATCH_HOURS } from "../config/chains.ts";
import {
  chainIdMismatch,
  checkL1DataFee,
  checkMulticall3,
  checkFiatFeed,
  checkPriceFeed,
  checkSequencerFeed,
  checkTokens,
  missingPriceProblem,
  untilAnswered,
  type CheckContext,
} from "./checks.ts";
import { chainNameForId } from "../config/presets.ts";
import type { ChainContext, ChainModule, DepositReuse } from "../chain/module.ts";
import type { IndexerStatus } from "../indexer/index.ts";
import {
  FatalIndexerError,
  isRetryable,
  isTransportFailure,
  reportProviderFindings,
} from "../indexer/rpc.ts";
import { recentValue } from "../lib/recent.ts";
import { sleep } from "../lib/sleep.ts";
import { clearFailure, loadCursor, loadFailure, recordFailure } from "../indexer/store.ts";
import { ConfigError, firstLine } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import {
  chainlinkPriceSource,
  staticPriceSource,
  withTokenFeeds,
  type PriceSource,
} from "../pricing/index.ts";
import { chainlinkSequencerGate, type SequencerGate } from "../pricing/sequencer.ts";
import { createRates, type RateSource, type Rates } from "../pricing/rates.ts";
import { chainlinkRateSource } from "../pricing/sources/chainlink.ts";
import { l1DataFeeFor } from "../sender/l1-fee.ts";
import type { PegConfig } from "../config/chains.ts";
import { createSender, type Sender } from "../sender/sender.ts";
import type { SendingPolicy } from "../sender/sender.ts";
import type { Sweeper } from "../deposits/sweeper.ts";
import { subscriptionsAbi } from "../token-subscriptions/abi.ts";
import type { Collector } from "../token-subscriptions/collector.ts";
import { chainModules, type ModuleServices, type ProductionContext } from "./modules.ts";
import { createChainIndexer, type ChainIndexer } from "./pipeline.ts";
import { deleteChainDataOf } from "./reset.ts";

/** Multicall3 at the same address on most public networks (https://www.multicall3.com). */
const CANONICAL_MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11";
/** A head read for /health is reused this long, and served this long while the node refuses. */
const HEAD_FRESH_MS = 1_000;
const HEAD_GRACE_MS = 30_000;
/** How long start-up waits for a node that does not answer at all before it calls RPC_URL wrong. */
const START_UNREACHABLE_MS = 30_000;

/**
 * Advisory-lock key of one chain's indexer ("ethpos:indexer" + chain id): one process per chain
 * indexes; the others stand by and take over if it dies.
 */
export const indexerLockKey = (chainId: bigint): bigint => (7_402_118_302n << 20n) + chainId;

export type IndexerRole = "leader" | "standby" | "disabled";

/** What every process knows about one configured chain, and the indexer it may run. */
export interface ChainRuntime {
  readonly name: string;
  readonly chainId: bigint;
  readonly client: PublicClient;
  /**
   * The node's head for readers that need a recent one (/health): one eth_blockNumber per
   * HEAD_FRESH_MS at most, and the last answer (up to HEAD_GRACE_MS old) while the node refuses.
   */
  head(): Promise<bigint>;
  /** The JSON-RPC calls of `client` by method and failure kind; undefined for a client given by a test. */
  readonly rpc: RpcStats | undefined;
  /** The JSON-RPC batch size in use (RPC_BATCH_SIZE, halved on refusals); undefined for a client given by a test. */
  rpcBatchSize(): number | undefined;
  readonly contract: `0x${string}`;
  readonly tokens: readonly TokenConfig[];
  readonly prices: PriceSource;
  /**
   * The rates orders are quoted with (RATE_SOURCES in order: this chain's Chainlink feeds, the HTTP
   * tickers), by RATE_POLICY and RATE_MAX_SPREAD: `rates.quote("ETH/USD")`, `rates.quote("EUR/USD")`.
   */
  readonly rates: Rates;
  /** The native coin's symbol ("ETH"; "POL" on Polygon): its USD pair prices native orders. */
  readonly nativeSymbol: string;
  /**
   * The L2 sequencer uptime feed's gate (SEQUENCER_UPTIME_FEED_ADDRESS set): new orders are refused
   * while the sequencer is down and SEQUENCER_GRACE_SECONDS after it is back. Undefined on a chain
   * without one.
   */
  readonly sequencer: SequencerGate | undefined;
  /** PEG_MAX_DEVIATION and PEG_POLICY: token orders whose USD feed is off the token's peg. */
  readonly peg: PegConfig;
  readonly confirmations: number;
  /**
   * How deposit addresses are derived here, and how long one stays watched after its order expires.
   * Undefined when the chain cannot sweep an address twice (EIP-6780, see deposits/probe.ts): orders
   * are then paid through the contract only.
   */
  readonly deposits: { derivation: DepositDerivation; watchAfterExpirySeconds: number } | undefined;
  /** What the start-up check of deposit address reuse found (the /health admin view shows it). */
  readonly depositReuse: DepositReuse;
  /** Multicall3 used for the balance reads, or undefined (a JSON-RPC batch of eth_getBalance). */
  readonly multicall3: `0x${string}` | undefined;
  /** What this chain's modules are built with (tests build a pipeline from it with createChainIndexer). */
  readonly context: ProductionContext;
  /** The modules this chain is built from, in list order. */
  readonly modules: readonly string[];
  /** The indexer of this chain, when this process may run it (it indexes only while it holds the lock). */
  readonly indexer: ChainIndexer | undefined;
  /**
   * The one transaction sender of this chain's gas-only key (SWEEPER_PRIVATE_KEY set and this process
   * may index): the sweeper and the collector send through it, and its loop runs them, only while
   * this process leads the chain's indexer.
   */
  readonly sender: Sender | undefined;
  /**
   * The modules' keepers (policies of the sender) by module name: they run only while this process
   * leads the chain's indexer, under the same advisory lock.
   */
  readonly keepers: ReadonlyMap<string, SendingPolicy>;
  /**
   * The sweeper of this chain's deposits (SWEEPER_PRIVATE_KEY set and this process may index): the
   * deposits module's keeper.
   */
  readonly sweeper: Sweeper | undefined;
  /**
   * The Subscriptions contract (recurring token pulls) bound to this chain's PaymentProcessor, or
   * undefined when the token-subscription path is off on this chain.
   */
  readonly subscriptions: `0x${string}` | undefined;
  /**
   * The collector of due token subscriptions (a Subscriptions contract and SWEEPER_PRIVATE_KEY, and
   * this process may index): the token-subscriptions module's keeper.
   */
  readonly collector: Collector | undefined;
  /** The modules' sections of this chain's /health report (each module's `health`). */
  moduleHealth(): Record<string, unknown>;
  /** Set when opening the chain deleted its dev data (a new local chain). */
  readonly reset: ChainReset | undefined;
  role(): IndexerRole;
  /** The newest block whose effects are in the database, as this process knows it. */
  indexedBlock(): bigint | null;
  /** This process's indexer state, or null when it does not index this chain. */
  indexerStatus(): IndexerStatus | null;
  /**
   * Why payments on this chain would not be seen now (its indexer stopped on a non-retryable
   * error, in this process or in the one that indexes it), or null.
   */
  failure(): string | null;
  /** Starts the leader election (when indexing) and the cursor and failure watch. */
  start(): void;
  stop(): Promise<void>;
}

export interface ChainRuntimeDeps {
  config: ChainConfig;
  env: AppEnv;
  runIndexer: boolean;
  db: Db;
  log: Logger;
  /** What the modules need besides the chain (order and subscription event subscribers, the clock, EletroPay). */
  services: ModuleServices;
  /** The modules the chain is built from; default: chainModules (./modules.ts). */
  modules?: readonly ChainModule<ProductionContext>[];
  /** An already-made client (tests); default: one for config.rpcUrl. */
  client?: PublicClient;
  /** First delay of the start-up checks' retries of transport errors (tests); default 1 s. */
  retryMs?: number;
  /**
   * RATE_SOURCES and how rates are chosen, with the HTTP sources (shared by every chain); default:
   * this chain's Chainlink feeds (or ETH_USD_PRICE) alone.
   */
  rates?: {
    config: Pick<RatesConfig, "sources" | "policy" | "maxSpreadPpm">;
    http: Partial<Record<RateSourceName, RateSource>>;
  };
}

/**
 * A client of `rpcUrl` through the provider transport (../chain/transport.ts): batches capped at
 * `batchSize` (RPC_BATCH_SIZE) and halved on a refusal, rate limits and gateway errors retried after
 * Retry-After or with backoff and jitter. With `stats`, each JSON-RPC call is counted there (/metrics).
 */
export function clientFor(
  rpcUrl: string,
  stats?: RpcStats,
  options: { batchSize?: number; log?: Logger } = {},
): PublicClient {
  return providerClient(rpcUrl, stats, options).client;
}

function providerClient(
  rpcUrl: string,
  stats: RpcStats | undefined,
  options: { batchSize?: number; log?: Logger },
): { client: PublicClient; state: ProviderTransportState } {
  const { transport, state } = providerTransport(rpcUrl, {
    stats,
    log: options.log,
    ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
  });
  return { client: createPublicClient({ transport, pollingInterval: 250 }), state };
}

/**
 * Opens one configured chain: checks the node and the contract, the chain's identity in the
 * database, resolves its tokens and price source, and builds its indexer (PaymentProcessor events →
 * order effects → order status events). Nothing runs until `start()`.
 */
export async function openChainRuntime(deps: ChainRuntimeDeps): Promise<ChainRuntime> {
  const { config, db, log: parentLog } = deps;
  const v = (setting: string) => `${config.prefix}${setting}`;
  if (!config.rpcUrl && !deps.client) {
    throw new ConfigError(
      `${v("RPC_URL")} is not set: \`npm start\` runs a local Hardhat chain for you, or set ${v("RPC_URL")} to a node`,
    );
  }
  const rpc = deps.client ? undefined : createRpcStats();
  const rpcLog = parentLog.child({ chain: config.name ?? "default" });
  const made = deps.client
    ? undefined
    : providerClient(config.rpcUrl as string, rpc, { batchSize: config.rpcBatchSize, log: rpcLog });
  const client = deps.client ?? (made as NonNullable<typeof made>).client;
  // Start-up waits out what is transient (a rate limit, a gateway error, a timeout), saying what it
  // waits for; a node that does not answer at all for START_UNREACHABLE_MS is a wrong URL.
  const retry = deps.retryMs === undefined ? {} : { retryMs: deps.retryMs };
  let chainIdNumber: number;
  try {
    chainIdNumber = await untilAnswered(
      { client, v, where: `${v("RPC_URL")}`, log: rpcLog, ...retry, unreachableMs: START_UNREACHABLE_MS },
      "the chain id",
      () => client.getChainId(),
    );
  } catch (error) {
    throw new ConfigError(
      `${v("RPC_URL")} ${config.rpcUrl ?? ""} is unreachable (${firstLine(error)}); ` +
        "check that the node runs and the URL is right",
    );
  }
  const chainId = BigInt(chainIdNumber);
  if (config.expectedChainId !== undefined && config.expectedChainId !== chainId) {
    throw new ConfigError(chainIdMismatch(config, chainId));
  }
  const name = config.name ?? chainNameForId(chainId) ?? `chain-${chainId}`;
  const log = parentLog.child({ chain: name });
  reportProviderFindings(client, (message) => log.warn(message));
  // The feed, the tokens and Multicall3 must be what the variables say: every definite problem is
  // one line naming its variable, all reported at once; transport errors are waited out.
  const ctx: CheckContext = {
    client,
    v,
    where: `chain ${chainId} (${name})`,
    log,
    ...retry,
    ...(config.preset ? { preset: config.preset } : {}),
  };
  const patiently = <T>(what: string, fn: () => Promise<T>) => untilAnswered(ctx, what, fn);
  const isLocal = LOCAL_CHAIN_IDS.has(chainId);
  const deployment = readIgnitionDeployment(
    ignitionDeploymentDir(chainId, config.ignitionDeploymentDir),
    config.ignitionDeploymentDir === undefined ? undefined : { setting: v("IGNITION_DEPLOYMENT_DIR") },
  );
  const contract = config.contractAddress ?? deployment.paymentProcessor;
  if (!contract) {
    throw new ConfigError(
      isLocal
        ? `${v("CONTRACT_ADDRESS")} is not set, and on a local chain (${chainId}) no Ignition deployment is read ` +
            `unless ${v("IGNITION_DEPLOYMENT_DIR")} names one (every local node has this chain id); ` +
            `set ${v("CONTRACT_ADDRESS")}, or ${v("IGNITION_DEPLOYMENT_DIR")}=ignition/deployments/chain-${chainId} ` +
            "after `npx hardhat ignition deploy ignition/modules/LocalDev.ts --network localhost`, or run `npm start`"
        : `${v("CONTRACT_ADDRESS")} is not set and no Ignition deployment exists for chain ${chainId} (${name}); ` +
            "deploy with `npx hardhat ignition deploy ignition/modules/EthereumPos.ts --network <name>` or set " +
            v("CONTRACT_ADDRESS"),
    );
  }
  const code = await patiently("the contract's code", () => client.getCode({ address: contract }));
  if (!code || code === "0x") {
    throw new ConfigError(
      `${v("CONTRACT_ADDRESS")} ${contract} has no contract code on chain ${chainId} (${name}); ` +
        `check the address, or that ${v("RPC_URL")} points at the chain it was deployed on`,
    );
  }

  const modules = deps.modules ?? chainModules;
  const identity = await patiently("the chain's genesis block", () => readChainIdentity(client, contract));
  const reset = await ensureChainIdentity(db, identity, {
    resetOnMismatch: isLocal && deps.env !== "production",
    log: (message) => log.warn(message),
    deleteChainData: deleteChainDataOf(modules),
  });

  const tokens = [...config.tokens];
  if (tokens.length === 0 && isLocal && deployment.stablecoin) {
    tokens.push({ symbol: "USDC", address: deployment.stablecoin, decimals: 6, usdPeg: "1" });
  }
  const problems: string[] = [];
  let prices: PriceSource | undefined;
  if (config.ethUsdPrice) prices = staticPriceSource(config.ethUsdPrice);
  else {
    const feed = config.priceFeedAddress ?? (isLocal ? deployment.priceFeed : undefined);
    if (!feed) problems.push(missingPriceProblem(ctx, chainId));
    else {
      const problem = await checkPriceFeed(ctx, feed, config.priceMaxAgeSeconds, config.priceFeedExpected);
      if (problem) problems.push(problem);
      prices = chainlinkPriceSource(client, feed, config.priceMaxAgeSeconds, { freshMs: config.feedCacheMs });
    }
  }
  // Each token's USD feed (a preset's), judged against its own heartbeat: read for the peg check.
  if (prices) {
    prices = withTokenFeeds(
      prices,
      client,
      { freshMs: config.feedCacheMs },
      tokens.flatMap((t) =>
        t.feed
          ? [
              {
                symbol: t.symbol,
                address: t.address,
                feed: t.feed.address,
                maxAgeSeconds: t.feedMaxAgeSeconds ?? t.feed.heartbeatSeconds,
              },
            ]
          : [],
      ),
    );
  }
  problems.push(...(await checkTokens(ctx, tokens, contract)));
  for (const fiatFeed of config.fiatFeeds ?? []) {
    const problem = await checkFiatFeed(ctx, fiatFeed);
    if (problem) problems.push(problem);
  }
  if (config.multicall3Address) {
    const problem = await checkMulticall3(ctx, config.multicall3Address);
    if (problem) problems.push(problem);
  }
  if (config.sequencerUptimeFeed) {
    const problem = await checkSequencerFeed(ctx, config.sequencerUptimeFeed);
    if (problem) problems.push(problem);
  }
  if (config.l1DataFee !== "none" && config.sweeper) {
    const problem = await checkL1DataFee(ctx, config.l1DataFee, contract);
    if (problem) problems.push(problem);
  }
  if (problems.length > 0 || !prices) throw new ConfigProblems(problems);
  // The first orders then have a feed round to fall back on while the provider refuses.
  const source = prices;
  if (source.warm) await patiently("the ETH/USD feed's latest round", () => source.warm?.() as Promise<void>);

  const nativeSymbol = config.preset?.nativeSymbol ?? "ETH";
  const chainlink = chainlinkRateSource({
    native: nativeSymbol,
    prices: source,
    tokens: tokens.map((t) => ({ symbol: t.symbol, address: t.address, hasFeed: t.feed !== undefined })),
    client,
    fiatFeeds: (config.fiatFeeds ?? []).map((f) => ({
      currency: f.currency,
      feed: f.address,
      maxAgeSeconds: f.maxAgeSeconds,
    })),
    cache: { freshMs: config.feedCacheMs },
  });
  const rateConfig = deps.rates?.config ?? {
    sources: ["chainlink"],
    policy: "median",
    maxSpreadPpm: 20_000n,
  };
  const rates = createRates({
    sources: rateConfig.sources.flatMap((n) => {
      const s = n === "chainlink" ? chainlink : deps.rates?.http[n];
      return s ? [s] : [];
    }),
    policy: rateConfig.policy,
    maxSpreadPpm: rateConfig.maxSpreadPpm,
  });

  let startBlock = config.startBlock;
  if (startBlock === undefined) {
    try {
      startBlock = await patiently(
        `the contract's deployment block (a search over eth_getCode; ${v("START_BLOCK")} skips it)`,
        () => findDeploymentBlock(client, contract),
      );
    } catch (error) {
      throw new ConfigError(
        `${v("START_BLOCK")} is not set and the deployment block could not be found (${(error as Error).message}); ` +
          `set ${v("START_BLOCK")} to the block the contract was deployed in`,
      );
    }
  }

  // Deposit addresses: derived off-chain; the init code hash must be the one this server knows.
  const derivation = await patiently("the contract's deposit init code hash", () =>
    readDepositDerivation(client, contract, chainId, v("CONTRACT_ADDRESS")),
  );
  // A deposit address is swept once per payment: it must be usable again after its sweep (EIP-6780).
  const depositReuse = await untilAnswered(ctx, "a simulation of two sweeps of one deposit address", () =>
    probeDepositReuse(client, derivation),
  );
  if (depositReuse.state === "broken") {
    log.error(
      `deposit addresses are refused on ${name} (chain ${chainId}): ${depositReuse.reason}. ` +
        `Orders on ${name} carry no deposit address and are paid through the contract only (pay / payToken); ` +
        'subscriptions paid by transfer are refused there (docs/contracts.md, "Chains without EIP-6780")',
    );
  } else if (depositReuse.state === "unknown") {
    log.warn(
      `could not check on ${name} (chain ${chainId}) that a deposit address can be swept more than once: ${depositReuse.reason}; deposit addresses stay on`,
    );
  }
  const multicall3 = await findMulticall3(ctx, config.multicall3Address, deployment.multicall3);
  if (!multicall3) {
    log.warn(
      `no Multicall3 on ${name}: deposit balances are read with a JSON-RPC batch of eth_getBalance (one call per address); set ${v("MULTICALL3_ADDRESS")}`,
    );
  }
  const watchHours = config.depositWatchHours ?? DEFAULT_DEPOSIT_WATCH_HOURS;
  const subscriptions = await patiently("the Subscriptions contract", () =>
    findSubscriptions(
      client,
      contract,
      config.subscriptionsAddress,
      isLocal ? deployment.subscriptions : undefined,
      v,
    ),
  );
  if (!subscriptions) {
    log.info(
      `no ${v("SUBSCRIPTIONS_ADDRESS")}: token subscriptions (recurring token pulls) are off on ${name}`,
    );
  }

  const context: ProductionContext = {
    name,
    chainId,
    client,
    db,
    log,
    config,
    contract,
    tokens,
    prices,
    confirmations: config.confirmations,
    multicall3,
    subscriptions,
    depositReuse,
    ...deps.services,
  } satisfies ChainContext & ModuleServices;
  // Chain → indexer (the modules' sources and readers) → the modules' sinks in list order.
  const wsUrl = config.rpcWsUrl ?? (config.rpcUrl?.startsWith("ws") ? config.rpcUrl : undefined);
  const indexer = deps.runIndexer
    ? createChainIndexer(modules, context, {
        startBlock,
        finalityBlocks: config.finalityBlocks,
        pollIntervalMs: config.pollIntervalMs,
        newHeadsUrl: wsUrl,
      })
    : undefined;

  // The keepers need the indexed state: they run beside the indexer, in the process that leads
  // it, through the one sender of the chain's gas-only key (nonces, fees, signing, recording,
  // following, fee bumps).
  const sender =
    indexer && config.sweeper
      ? createSender({
          db,
          client,
          chainId,
          privateKey: config.sweeper.privateKey,
          stuckBlocks: config.sweeper.stuckBlocks,
          confirmations: config.confirmations,
          settledBlock: () => indexer.status().indexedBlock,
          log: log.child({ component: "sender" }),
          ...optionalL1DataFee(l1DataFeeFor(config.l1DataFee, client)),
        })
      : undefined;
  const keepers = new Map<string, SendingPolicy>();
  if (indexer) {
    const run = { sender, indexedBlock: () => indexer.status().indexedBlock };
    for (const m of modules) {
      const keeper = m.keeper?.(context, run);
      if (keeper) keepers.set(m.name, keeper);
    }
  }
  // Typed views of two keepers (/health, the dev stack and tests read them).
  const sweeper = keepers.get("deposits") as Sweeper | undefined;
  const collector = keepers.get("token-subscriptions") as Collector | undefined;

  const recentHead = recentValue(() => client.getBlockNumber({ cacheTime: 0 }), {
    freshMs: HEAD_FRESH_MS,
    graceMs: HEAD_GRACE_MS,
    patienceMs: 1_500,
  });
  // The first /health then has a head to fall back on while the provider refuses.
  await patiently("the head block", () => recentHead.get());

  const stop = new AbortController();
  const tasks: Promise<unknown>[] = [];
  let role: IndexerRole = indexer ? "standby" : "disabled";
  let cachedCursor: bigint | null = null;
  let localFailure: string | null = null;
  let recordedFailure: string | null = null;

  function indexerFailure(): string | null {
    const status = indexer?.status();
    if (status?.state !== "failed") return null;
    return `indexer stopped: ${firstLine(status.lastError ?? "indexer failed")}`;
  }

  async function lead(runner: ChainIndexer) {
    // Leader election: whoever holds this chain's advisory lock indexes it; the others retry every 5 s.
    while (!stop.signal.aborted && localFailure === null) {
      const ran = await db
        .withAdvisoryLock(indexerLockKey(chainId), async (lost) => {
          role = "leader";
          log.info(`indexer: this process is the indexing leader of ${name} (chain ${chainId})`);
          // A new attempt: an earlier failure (of this or another process) no longer holds.
          await clearFailure(db, chainId);
          recordedFailure = null;
          const leading = new AbortController();
          const signal = AbortSignal.any([stop.signal, lost, leading.signal]);
          try {
            await Promise.all([
              runner.run(signal).finally(() => leading.abort()),
              sender?.run(signal, [...keepers.values()]),
            ]);
          } finally {
            leading.abort();
          }
          return true;
        })
        .catch(async (error: unknown) => {
          // The database or the node is away for a while (a restart, a dropped connection): not a
          // reason to stop the chain. Stand by and compete for the lock again once it is back.
          if (!(error instanceof FatalIndexerError) && isRetryable(error)) {
            log.warn(`indexer of ${name}: ${firstLine(error)}; retrying`);
            return false;
          }
          // A non-retryable error stops this chain only: its orders are refused, the others go on.
          localFailure = `indexer stopped: ${firstLine(error)}`;
          log.fatal({ err: error }, `indexer of ${name} stopped; new orders on it are refused`);
          await recordFailure(db, chainId, localFailure).catch((e: unknown) =>
            log.error({ err: e }, "could not record the indexer failure"),
          );
          return true;
        });
      role = indexer ? "standby" : "disabled";
      if (!ran) await sleep(5_000, stop.signal);
    }
  }

  async function watch() {
    // Every process, indexing or not, follows the cursor and the recorded failure of this chain.
    while (!stop.signal.aborted) {
      cachedCursor = (await loadCursor(db, chainId).catch(() => undefined))?.blockNumber ?? cachedCursor;
      const failure = await loadFailure(db, chainId).catch(() => undefined);
      recordedFailure = failure ? failure.message : null;
      await sleep(1_000, stop.signal);
    }
  }

  return {
    name,
    chainId,
    client,
    head: () => recentHead.get(),
    rpc,
    rpcBatchSize: () => made?.state.batchSize(),
    contract,
    tokens,
    prices,
    rates,
    nativeSymbol,
    sequencer: config.sequencerUptimeFeed
      ? chainlinkSequencerGate({
          client,
          feed: config.sequencerUptimeFeed,
          where: `${name} (chain ${chainId})`,
          graceSeconds: config.sequencerGraceSeconds,
          cacheMs: config.feedCacheMs,
        })
      : undefined,
    peg: config.peg,
    confirmations: config.confirmations,
    deposits:
      depositReuse.state === "broken"
        ? undefined
        : { derivation, watchAfterExpirySeconds: watchHours * 3600 },
    depositReuse,
    multicall3,
    context,
    modules: modules.map((m) => m.name),
    indexer,
    sender,
    keepers,
    sweeper,
    subscriptions,
    collector,
    reset,
    moduleHealth: () =>
      Object.assign({}, ...modules.map((m) => m.health?.(context, keepers.get(m.name)) ?? {})) as Record<
        string,
        unknown
      >,
    role: () => role,
    indexedBlock: () => (role === "leader" ? (indexer?.status().indexedBlock ?? cachedCursor) : cachedCursor),
    indexerStatus: () => indexer?.status() ?? null,
    // The indexer's own state first: it turns "failed" before the lock is released and the
    // failure recorded, and orders must be refused from that moment, as /health reports it.
    failure: () => localFailure ?? indexerFailure() ?? recordedFailure,
    start() {
      if (indexer) tasks.push(lead(indexer));
      tasks.push(watch());
    },
    async stop() {
      stop.abort();
      await Promise.allSettled(tasks);
    },
  };
}

const optionalL1DataFee = <T>(fee: T | undefined) => (fee === undefined ? {} : { l1DataFee: fee });

/**
 * The Multicall3 to read balances with: the configured one (which must have code), else the
 * canonical address when it has code there, else undefined.
 */
async function findMulticall3(
  ctx: CheckContext,
  /** MULTICALL3_ADDRESS, already checked (checks.ts). */
  configured: `0x${string}` | undefined,
  /** The chain's Ignition deployment's Multicall3, which may be left over from an earlier local chain. */
  deployed: `0x${string}` | undefined,
): Promise<`0x${string}` | undefined> {
  const hasCode = async (address: `0x${string}`) => {
    const code = await untilAnswered(ctx, "the code of Multicall3", () => ctx.client.getCode({ address }));
    return code !== undefined && code !== "0x";
  };
  if (configured) return configured;
  // A deployment record of a local chain outlives the chain (a node started anew): use it only
  // when its contract is there, else look further.
  if (deployed && (await hasCode(deployed))) return deployed;
  return (await hasCode(CANONICAL_MULTICALL3)) ? CANONICAL_MULTICALL3 : undefined;
}

/**
 * The Subscriptions contract of this chain: the configured one (which must be a Subscriptions bound
 * to this chain's PaymentProcessor), else the chain's Ignition deployment when it is there and bound
 * to it (a local chain's record may outlive the chain), else undefined (the feature is off).
 */
async function findSubscriptions(
  client: PublicClient,
  processor: `0x${string}`,
  configured: `0x${string}` | undefined,
  deployed: `0x${string}` | undefined,
  v: (setting: string) => string,
): Promise<`0x${string}` | undefined> {
  const boundProcessor = async (address: `0x${string}`) => {
    const code = await client.getCode({ address });
    if (!code || code === "0x") return "no contract code";
    try {
      const bound = await client.readContract({ address, abi: subscriptionsAbi, functionName: "processor" });
      return bound.toLowerCase() === processor.toLowerCase()
        ? null
        : `bound to the PaymentProcessor ${bound}`;
    } catch (error) {
      if (isTransportFailure(error)) throw error; // no answer yet: waited out
      return "not a Subscriptions contract (it has no processor())";
    }
  };
  if (configured) {
    const problem = await boundProcessor(configured);
    if (problem !== null) {
      throw new ConfigError(
        `${v("SUBSCRIPTIONS_ADDRESS")} ${configured} is ${problem === "no contract code" ? "no contract on this chain" : problem}; ` +
          `set it to the Subscriptions contract deployed with ${v("CONTRACT_ADDRESS")} ${processor} (Ignition future "EthereumPos#Subscriptions"), or unset it to turn token subscriptions off`,
      );
    }
    return configured;
  }
  if (deployed && (await boundProcessor(deployed)) === null) return deployed;
  return undefined;
}
