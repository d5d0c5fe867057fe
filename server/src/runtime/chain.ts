import { createPublicClient, http, webSocket, type PublicClient } from "viem";
import {
  findDeploymentBlock,
  ignitionDeploymentDir,
  LOCAL_CHAIN_IDS,
  readIgnitionDeployment,
} from "../chain/deployment.ts";
import { createRpcStats, observeTransport, type RpcStats } from "../chain/rpc-stats.ts";
import { ensureChainIdentity, readChainIdentity, type ChainReset } from "../chain/identity.ts";
import type { AppEnv, ChainConfig, TokenConfig } from "../config/index.ts";
import type { Db } from "../db/types.ts";
import { readDepositDerivation, type DepositDerivation } from "../deposits/address.ts";
import { probeDepositReuse } from "../deposits/probe.ts";
import { ConfigProblems } from "../config/errors.ts";
import { DEFAULT_DEPOSIT_WATCH_HOURS } from "../config/chains.ts";
import {
  chainIdMismatch,
  checkMulticall3,
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
import { FatalIndexerError, isRetryable } from "../indexer/rpc.ts";
import { sleep } from "../lib/sleep.ts";
import { clearFailure, loadCursor, loadFailure, recordFailure } from "../indexer/store.ts";
import { ConfigError, firstLine } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { chainlinkPriceSource, staticPriceSource, type PriceSource } from "../pricing/index.ts";
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
  /** The JSON-RPC calls of `client` by method and failure kind; undefined for a client given by a test. */
  readonly rpc: RpcStats | undefined;
  readonly contract: `0x${string}`;
  readonly tokens: readonly TokenConfig[];
  readonly prices: PriceSource;
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
}

/** A client of `rpcUrl`; with `stats`, each of its JSON-RPC calls is counted there (/metrics). */
export function clientFor(rpcUrl: string, stats?: RpcStats): PublicClient {
  const transport = rpcUrl.startsWith("ws")
    ? webSocket(rpcUrl, { retryCount: 0 })
    : http(rpcUrl, { retryCount: 0, timeout: 15_000, batch: { batchSize: 100, wait: 0 } });
  return createPublicClient({
    transport: stats ? observeTransport(transport, stats) : transport,
    pollingInterval: 250,
  });
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
  const client = deps.client ?? clientFor(config.rpcUrl as string, rpc);
  let chainIdNumber: number;
  try {
    chainIdNumber = await client.getChainId();
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
  const code = await client.getCode({ address: contract });
  if (!code || code === "0x") {
    throw new ConfigError(
      `${v("CONTRACT_ADDRESS")} ${contract} has no contract code on chain ${chainId} (${name}); ` +
        `check the address, or that ${v("RPC_URL")} points at the chain it was deployed on`,
    );
  }

  const modules = deps.modules ?? chainModules;
  const reset = await ensureChainIdentity(db, await readChainIdentity(client, contract), {
    resetOnMismatch: isLocal && deps.env !== "production",
    log: (message) => log.warn(message),
    deleteChainData: deleteChainDataOf(modules),
  });

  const tokens = [...config.tokens];
  if (tokens.length === 0 && isLocal && deployment.stablecoin) {
    tokens.push({ symbol: "USDC", address: deployment.stablecoin, decimals: 6, usdPeg: "1" });
  }
  // The feed, the tokens and Multicall3 must be what the variables say: every definite problem is
  // one line naming its variable, all reported at once; transport errors are waited out.
  const ctx: CheckContext = {
    client,
    v,
    where: `chain ${chainId} (${name})`,
    log,
    ...(deps.retryMs === undefined ? {} : { retryMs: deps.retryMs }),
    ...(config.preset ? { preset: config.preset } : {}),
  };
  const problems: string[] = [];
  let prices: PriceSource | undefined;
  if (config.ethUsdPrice) prices = staticPriceSource(config.ethUsdPrice);
  else {
    const feed = config.priceFeedAddress ?? (isLocal ? deployment.priceFeed : undefined);
    if (!feed) problems.push(missingPriceProblem(ctx, chainId));
    else {
      const problem = await checkPriceFeed(ctx, feed, config.priceMaxAgeSeconds, config.priceFeedExpected);
      if (problem) problems.push(problem);
      prices = chainlinkPriceSource(client, feed, config.priceMaxAgeSeconds);
    }
  }
  problems.push(...(await checkTokens(ctx, tokens, contract)));
  if (config.multicall3Address) {
    const problem = await checkMulticall3(ctx, config.multicall3Address);
    if (problem) problems.push(problem);
  }
  if (config.sequencerUptimeFeed) {
    const problem = await checkSequencerFeed(ctx, config.sequencerUptimeFeed);
    if (problem) problems.push(problem);
  }
  if (problems.length > 0 || !prices) throw new ConfigProblems(problems);

  let startBlock = config.startBlock;
  if (startBlock === undefined) {
    try {
      startBlock = await findDeploymentBlock(client, contract);
    } catch (error) {
      throw new ConfigError(
        `${v("START_BLOCK")} is not set and the deployment block could not be found (${(error as Error).message}); ` +
          `set ${v("START_BLOCK")} to the block the contract was deployed in`,
      );
    }
  }

  // Deposit addresses: derived off-chain; the init code hash must be the one this server knows.
  const derivation = await readDepositDerivation(client, contract, chainId, v("CONTRACT_ADDRESS"));
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
  const subscriptions = await findSubscriptions(
    client,
    contract,
    config.subscriptionsAddress,
    isLocal ? deployment.subscriptions : undefined,
    v,
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
    rpc,
    contract,
    tokens,
    prices,
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
    } catch {
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
