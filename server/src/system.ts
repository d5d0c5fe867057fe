import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import { createPublicClient, http, webSocket, type PublicClient } from "viem";
import { createHealthService } from "./api/health-service.ts";
import { buildApp } from "./app.ts";
import type { CallbackConfig } from "./callbacks/config.ts";
import { callbackHealth, createCallbackService } from "./callbacks/service.ts";
import { createCallbackWorker, type CallbackWorker } from "./callbacks/worker.ts";
import { createEletroPay, gapLimitStatus, type EletroPay } from "./eletropay/index.ts";
import { ETH_TOKEN } from "./chain/abi.ts";
import { findDeploymentBlock, readIgnitionDeployment } from "./chain/deployment.ts";
import { ensureChainIdentity, readChainIdentity } from "./chain/identity.ts";
import { chainPrefix } from "./config/chains.ts";
import type { Config, TokenConfig } from "./config/index.ts";
import { createDb, migrate, type Db } from "./db/index.ts";
import { orderCallbacks } from "./callbacks/order-callbacks.ts";
import { createIndexer, type Indexer } from "./indexer/index.ts";
import { paymentProcessorSource } from "./ledger/payment-processor-source.ts";
import { txtNotifier } from "./notify/order-status.ts";
import { createOrderSink } from "./orders/effects.ts";
import { createOrderEvents, type OrderStatusChanged } from "./orders/events.ts";
import { loadCursor } from "./indexer/store.ts";
import { sleep } from "./indexer/rpc.ts";
import { ConfigError } from "./lib/errors.ts";
import { createLogger, type Logger } from "./lib/log.ts";
import { parseUsdCents } from "./lib/money.ts";
import { createAccountService } from "./merchants/account.ts";
import { createMerchantService } from "./merchants/service.ts";
import { createOrderReader } from "./orders/queries.ts";
import { createOrderService } from "./orders/service.ts";
import { chainlinkPriceSource, staticPriceSource, type PriceSource } from "./pricing/index.ts";

/** Advisory-lock key held by the one process that indexes ("ethpos:indexer"). */
const INDEXER_LOCK = 7_402_118_302n;
const LOCAL_CHAIN_IDS = new Set([31337n, 1337n]);

export interface System {
  app: FastifyInstance;
  db: Db;
  client: PublicClient;
  config: Config;
  chainId: bigint;
  contract: `0x${string}`;
  tokens: TokenConfig[];
  indexer: Indexer<OrderStatusChanged[]> | undefined;
  callbackWorker: CallbackWorker | undefined;
  /** The private EletroPay API and its UTXO watchers. */
  eletropay: EletroPay | undefined;
  log: Logger;
  /** Stops the indexer, workers and the HTTP listener, then closes the database. */
  close(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  /** Listen on config.host:config.port (false for tests that use app.inject). */
  listen?: boolean;
  /** An already-open database (tests). */
  db?: Db;
  /** Callback settings; default: config.callbacks. */
  callbacks?: CallbackConfig;
  client?: PublicClient;
}

export { createLogger };

function clientFor(rpcUrl: string): PublicClient {
  const transport = rpcUrl.startsWith("ws")
    ? webSocket(rpcUrl, { retryCount: 0 })
    : http(rpcUrl, { retryCount: 0, timeout: 15_000, batch: { batchSize: 100, wait: 0 } });
  return createPublicClient({ transport, pollingInterval: 250 });
}

/**
 * Wires the whole system from a validated config: database and migrations, chain identity,
 * price source, indexer (behind an advisory lock, so one process of many indexes), API.
 */
export async function startSystem(config: Config, options: StartOptions = {}): Promise<System> {
  const log = options.log ?? createLogger(config);
  if (!config.rpcUrl && !options.client) {
    throw new ConfigError(
      "RPC_URL is not set: `npm start` runs a local Hardhat chain for you, or set RPC_URL to a node",
    );
  }
  const client = options.client ?? clientFor(config.rpcUrl as string);
  let chainIdNumber: number;
  try {
    chainIdNumber = await client.getChainId();
  } catch (error) {
    throw new ConfigError(
      `RPC_URL ${config.rpcUrl} is unreachable: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  const chainId = BigInt(chainIdNumber);
  const first = config.chains[0];
  if (first?.expectedChainId !== undefined && first.expectedChainId !== chainId) {
    const v = first.name === undefined ? "" : chainPrefix(first.name);
    throw new ConfigError(
      `${v}CHAIN_ID is ${first.expectedChainId} but the node at ${v}RPC_URL reports chain ${chainId}; ` +
        `point ${v}RPC_URL at chain ${first.expectedChainId} or fix ${v}CHAIN_ID`,
    );
  }
  const deployment = readIgnitionDeployment(chainIdNumber);
  const contract = config.contractAddress ?? deployment.paymentProcessor;
  if (!contract) {
    throw new ConfigError(
      `CONTRACT_ADDRESS is not set and no Ignition deployment exists for chain ${chainId}; ` +
        "deploy with `npx hardhat ignition deploy ignition/modules/EthereumPos.ts --network <name>` or set CONTRACT_ADDRESS",
    );
  }
  const code = await client.getCode({ address: contract });
  if (!code || code === "0x")
    throw new ConfigError(`CONTRACT_ADDRESS ${contract} has no contract code on chain ${chainId}`);

  const db = options.db ?? (await createDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  const migration = await migrate(db);
  if (migration.applied.length > 0)
    log.info({ from: migration.from, to: migration.to }, `database migrated to version ${migration.to}`);

  const isLocal = LOCAL_CHAIN_IDS.has(chainId);
  await ensureChainIdentity(db, await readChainIdentity(client, contract), {
    resetOnMismatch: isLocal && config.env !== "production",
    log: (message) => log.warn(message),
  });

  const tokens = [...config.tokens];
  if (tokens.length === 0 && isLocal && deployment.stablecoin) {
    tokens.push({ symbol: "USDC", address: deployment.stablecoin, decimals: 6, usdPeg: "1" });
  }
  let prices: PriceSource;
  if (config.ethUsdPrice) prices = staticPriceSource(config.ethUsdPrice);
  else {
    const feed = config.priceFeedAddress ?? (isLocal ? deployment.priceFeed : undefined);
    if (!feed)
      throw new ConfigError("set PRICE_FEED_ADDRESS (a Chainlink ETH/USD AggregatorV3) or ETH_USD_PRICE");
    prices = chainlinkPriceSource(client, feed, config.priceMaxAgeSeconds);
  }

  let startBlock = config.startBlock;
  if (startBlock === undefined) {
    try {
      startBlock = await findDeploymentBlock(client, contract);
    } catch (error) {
      throw new ConfigError(
        `START_BLOCK is not set and the deployment block could not be found (${(error as Error).message}); set START_BLOCK`,
      );
    }
  }

  // Chain → indexer (PaymentProcessor events) → order effects → status events → callback, TXT.
  const orderEvents = createOrderEvents([orderCallbacks(config.publicUrl), txtNotifier()]);
  const indexer = config.runIndexer
    ? createIndexer({
        chain: { chainId, client },
        db,
        sources: [paymentProcessorSource(contract)],
        sink: createOrderSink({ confirmations: config.confirmations, events: orderEvents }),
        log: log.child({ component: "indexer" }),
        startBlock,
        finalityBlocks: config.finalityBlocks,
        pollIntervalMs: config.pollIntervalMs,
        newHeadsUrl: config.rpcWsUrl ?? (config.rpcUrl?.startsWith("ws") ? config.rpcUrl : undefined),
      })
    : undefined;

  const stop = new AbortController();
  let role: "leader" | "standby" | "disabled" = indexer ? "standby" : "disabled";
  let cachedCursor: bigint | null = null;
  const tasks: Promise<unknown>[] = [];

  if (indexer) {
    // Leader election: whoever holds the advisory lock indexes; the others retry every 5 s.
    tasks.push(
      (async () => {
        while (!stop.signal.aborted) {
          const ran = await db
            .withAdvisoryLock(INDEXER_LOCK, async (lost) => {
              role = "leader";
              log.info("indexer: this process is the indexing leader");
              const both = AbortSignal.any([stop.signal, lost]);
              await indexer.run(both);
              return true;
            })
            .catch((error: unknown) => {
              log.fatal({ err: error }, "indexer stopped");
              stop.abort();
              process.exitCode = 1;
              return true;
            });
          role = "standby";
          if (!ran) await sleep(5_000, stop.signal);
        }
      })(),
    );
  }
  // Processes that do not index read the cursor from the database.
  tasks.push(
    (async () => {
      while (!stop.signal.aborted) {
        cachedCursor = (await loadCursor(db, chainId).catch(() => undefined))?.blockNumber ?? cachedCursor;
        await sleep(1_000, stop.signal);
      }
    })(),
  );

  const callbackConfig = options.callbacks ?? config.callbacks;
  const callbackWorker = config.runCallbackWorker
    ? createCallbackWorker({ db, log: log.child({ component: "callbacks" }), config: callbackConfig })
    : undefined;
  await callbackWorker?.start();

  // The EletroPay private API runs when an xpub is configured (docs/eletropay.md).
  const eletropayConfig = config.eletropay;
  const eletropay = eletropayConfig.enabled
    ? await createEletroPay({
        db,
        config: eletropayConfig,
        logger: log.child({ component: "eletropay" }) as unknown as FastifyBaseLogger,
      })
    : undefined;

  const indexedBlock = () =>
    role === "leader" ? (indexer?.status().indexedBlock ?? cachedCursor) : cachedCursor;
  const chain = { client, chainId, contract };
  const app = await buildApp({
    config,
    log,
    orders: createOrderService({
      db,
      prices,
      chainId,
      contract,
      tokens,
      orderTtlSeconds: config.orderTtlSeconds,
      anonymousMaxCents: parseUsdCents(config.anonymousMaxUsd) ?? 500n,
    }),
    payPage: createOrderReader(db),
    merchants: createMerchantService(db),
    account: createAccountService({ db, chain, tokens: config.tokens }),
    callbacks: createCallbackService(db),
    health: createHealthService({
      db,
      chain,
      confirmations: config.confirmations,
      indexedBlock,
      indexerStatus: () => indexer?.status() ?? null,
      indexerRole: () => role,
      checks: {
        callbacks: () => callbackHealth(db),
        eletropay: async () => (eletropay ? gapLimitStatus(db, eletropayConfig) : { enabled: false }),
      },
    }),
    indexedBlock,
    rateLimitPerMinute: config.rateLimitPerMinute,
  });
  if (options.listen !== false) {
    await app.listen({ host: config.host, port: config.port });
  }
  if (eletropay) {
    if (options.listen !== false)
      await eletropay.app.listen({ host: eletropayConfig.host, port: eletropayConfig.port });
    eletropay.watcher.start();
  }

  return {
    app,
    db,
    client,
    config,
    chainId,
    contract,
    tokens,
    indexer,
    callbackWorker,
    eletropay,
    log,
    async close() {
      stop.abort();
      await app.close();
      await eletropay?.watcher.stop();
      await eletropay?.app.close();
      await Promise.allSettled(tasks);
      await callbackWorker?.stop();
      if (!options.db) await db.close();
    },
  };
}

export { ETH_TOKEN };
