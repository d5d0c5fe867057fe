import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import type { PublicClient } from "viem";
import { createAccountService } from "./api/account-service.ts";
import { createOverviewService } from "./api/overview-service.ts";
import { createExportService } from "./api/export-service.ts";
import { createIdempotencyService } from "./idempotency/service.ts";
import { createHealthService } from "./api/health-service.ts";
import { buildApp, buildMetricsApp } from "./app.ts";
import type { CallbackConfig } from "./config/callbacks.ts";
import { addressLinkedCallback } from "./callbacks/account-callbacks.ts";
import { orderCallbacks } from "./callbacks/order-callbacks.ts";
import { callbackHealth, createCallbackService, outboxStats } from "./callbacks/service.ts";
import { createSmsProvider } from "./callbacks/sms.ts";
import { createCallbackWorker, type CallbackWorker } from "./callbacks/worker.ts";
import { ETH_TOKEN } from "./chain/abi.ts";
import type { Config, TokenConfig } from "./config/index.ts";
import { createDb, migrate, type Db } from "./db/index.ts";
import {
  clientCallbackKeys,
  createEletroPay,
  gapLimitStatus,
  linkEletroPayClient,
  type EletroPay,
} from "./eletropay/index.ts";
import { ConfigError } from "./lib/errors.ts";
import { createLogger, type Logger } from "./lib/log.ts";
import { parseUsdCents } from "./lib/money.ts";
import { createAddressService } from "./merchants/addresses.ts";
import { createMerchantService } from "./merchants/service.ts";
import { txtNotifier } from "./notify/order-status.ts";
import { createOrderEvents } from "./orders/events.ts";
import { merchantDisplayName, setDisplayName } from "./merchants/profile.ts";
import { merchantDepositsReadyToSweep } from "./deposits/repository.ts";
import { provenAddresses } from "./merchants/addresses.ts";
import { rotateCallbackSecret } from "./merchants/callback-secret.ts";
import { createWebSessionService } from "./merchants/web-sessions.ts";
import { chainName } from "./web/pay-view.ts";
import { createMetrics } from "./metrics/index.ts";
import { createOrderReader, orderCountsByStatus } from "./orders/queries.ts";
import { createOrderService } from "./orders/service.ts";
import { createOrderStateProviders } from "./payment-methods/provider.ts";
import { createPaymentMethods } from "./payment-methods/service.ts";
import { createUtxoMethods } from "./payment-methods/utxo.ts";
import { recurringCallbacks } from "./callbacks/recurring-callbacks.ts";
import { recurringTxtNotifier } from "./notify/recurring.ts";
import { createRecurringEvents } from "./recurring/events.ts";
import { createRecurringScheduler, type RecurringScheduler } from "./recurring/scheduler.ts";
import { createRecurringService } from "./recurring/service.ts";
import { openChainRuntime, type ChainRuntime } from "./runtime/chain.ts";
import { httpRateSources } from "./pricing/sources/index.ts";
import type { ChainIndexer } from "./runtime/pipeline.ts";

export interface System {
  app: FastifyInstance;
  /** The METRICS_PORT listener (GET /metrics without a token), when METRICS_PORT is set. */
  metricsApp: FastifyInstance | undefined;
  db: Db;
  config: Config;
  /** One runtime per configured chain; the first is the default chain of new orders. */
  chains: ChainRuntime[];
  /** The default chain's client, id, contract, tokens and indexer (single-chain shorthands). */
  client: PublicClient;
  chainId: bigint;
  contract: `0x${string}`;
  tokens: readonly TokenConfig[];
  indexer: ChainIndexer | undefined;
  callbackWorker: CallbackWorker | undefined;
  /**
   * The recurring billing scheduler (periods opening, the clock's status changes), running in
   * processes that may index (RUN_INDEXER); tests call its tick().
   */
  recurringScheduler: RecurringScheduler | undefined;
  /** The private EletroPay API and its UTXO watchers. */
  eletropay: EletroPay | undefined;
  log: Logger;
  /** Stops the indexers, workers and the HTTP listeners, then closes the database. */
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
  /** An already-made client for the first chain (tests). */
  client?: PublicClient;
  /** The wall clock in ms for recurring billing (tests control it); default Date.now. */
  now?: () => number;
}

/**
 * Wires the whole system from a validated config: database and migrations, one runtime per
 * configured chain (node, contract, identity, tokens, prices, indexer behind its own leader lock),
 * the order status subscribers, the callback workers, EletroPay and the API. Short and dull on
 * purpose: every component is made by its own factory.
 */
export async function startSystem(config: Config, options: StartOptions = {}): Promise<System> {
  const log = options.log ?? createLogger(config);
  const db = options.db ?? (await createDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  const chains: ChainRuntime[] = [];
  const now = options.now ?? Date.now;
  let recurringEvents = createRecurringEvents();
  // Orders paid by several methods: their state is the sum of every method's payments.
  const orderStates = createOrderStateProviders();
  // Order status changes reach the merchant's callback and the TXT notifier, in the indexer's transaction.
  const orderEvents = createOrderEvents([
    orderCallbacks(config.publicUrl),
    txtNotifier({ sms: config.sms !== undefined }),
  ]);
  try {
    const migration = await migrate(db);
    if (migration.applied.length > 0)
      log.info({ from: migration.from, to: migration.to }, `database migrated to version ${migration.to}`);

    // Subscription events reach the same two subscribers, from the recurring sink and scheduler.
    recurringEvents = createRecurringEvents([
      recurringCallbacks(config.publicUrl),
      recurringTxtNotifier({ sms: config.sms !== undefined }),
    ]);
    // EletroPay's ETH and token addresses live on the default chain; its indexer follows them.
    const eletropayEth = config.eletropay.eth
      ? {
          config: config.eletropay,
          confirmations: config.chains[0]?.confirmations ?? 1,
          callbackKeyFor: clientCallbackKeys(config.eletropay),
          log: log.child({ component: "eletropay" }),
        }
      : undefined;
    // The HTTP rate sources are shared by every chain; each chain adds its own Chainlink feeds.
    const rateSources = {
      config: config.rates,
      http: httpRateSources(config.rates.urls, {
        timeoutMs: config.rates.timeoutMs,
        cacheMs: config.rates.cacheMs,
        maxAgeSeconds: config.rates.maxAgeSeconds,
        fiatMaxAgeSeconds: config.rates.fiatMaxAgeSeconds,
        now,
      }),
    };
    for (const [i, chainConfig] of config.chains.entries()) {
      const chain = await openChainRuntime({
        rates: rateSources,
        config: chainConfig,
        env: config.env,
        runIndexer: config.runIndexer,
        db,
        log,
        services: {
          orderEvents,
          orderStates,
          recurringEvents,
          now,
          eletropay: i === 0 ? eletropayEth : undefined,
        },
        ...(i === 0 && options.client ? { client: options.client } : {}),
      });
      const other = chains.find((c) => c.chainId === chain.chainId || c.name === chain.name);
      if (other) {
        throw new ConfigError(
          `two configured chains are the same chain (${other.name} and ${chain.name}, chain ${chain.chainId}); ` +
            "list each chain once in CHAINS",
        );
      }
      chains.push(chain);
    }
  } catch (error) {
    if (!options.db) await db.close();
    throw error;
  }
  const [first] = chains;
  if (!first)
    throw new ConfigError("no chain is configured: set RPC_URL, or CHAINS and CHAIN_<NAME>_RPC_URL");
  for (const chain of chains) chain.start();

  const callbackConfig = options.callbacks ?? config.callbacks;
  const callbackWorker = config.runCallbackWorker
    ? createCallbackWorker({
        db,
        log: log.child({ component: "callbacks" }),
        config: callbackConfig,
        ...(config.sms ? { sms: createSmsProvider(config.sms) } : {}),
      })
    : undefined;
  await callbackWorker?.start();

  // The EletroPay private API runs when an xpub is configured (docs/eletropay.md).
  const eletropayConfig = config.eletropay;
  // EletroPay's ETH addresses are deposit addresses of the default chain: none where it refuses them.
  const firstDeposits = first.deposits;
  if (eletropayConfig.enabled && eletropayConfig.eth && !firstDeposits) {
    log.error(
      `EletroPay hands out no ETH or token addresses: ${first.name} (chain ${first.chainId}) refuses deposit addresses (see above)`,
    );
  }
  const eletropay = eletropayConfig.enabled
    ? await createEletroPay({
        db,
        config: eletropayConfig,
        logger: log.child({ component: "eletropay" }) as unknown as FastifyBaseLogger,
        ...(firstDeposits
          ? {
              eth: {
                chainId: first.chainId,
                derivation: firstDeposits.derivation,
                tokens: first.tokens,
                watchSeconds: firstDeposits.watchAfterExpirySeconds,
              },
            }
          : {}),
      })
    : undefined;

  const byId = new Map(chains.map((c) => [c.chainId, c]));
  const indexedBlock = (chainId: bigint) => byId.get(chainId)?.indexedBlock() ?? null;
  // Periods open and clock-driven statuses change in processes that may index (SKIP LOCKED: many may run).
  const recurringScheduler = config.runIndexer
    ? createRecurringScheduler({
        db,
        chains,
        events: recurringEvents,
        now,
        indexedBlock,
        log: log.child({ component: "recurring" }),
      })
    : undefined;
  const recurringStop = new AbortController();
  const recurringRun = recurringScheduler?.run(recurringStop.signal);
  const metrics = createMetrics({
    chains,
    orders: () => orderCountsByStatus(db),
    outbox: () => outboxStats(db),
    log: log.child({ component: "metrics" }),
  });
  const orders = createOrderService({
    db,
    chains,
    orderTtlSeconds: config.orderTtlSeconds,
    anonymousMaxCents: parseUsdCents(config.anonymousMaxUsd) ?? 500n,
    currencies: config.rates.currencies,
    allowPrivateCallbacks: callbackConfig.allowPrivateTargets,
    quoteDecimals: config.quoteDecimals,
  });
  for (const chain of chains) orderStates.setConfirmations(chain.chainId, chain.confirmations);
  // UTXO coins as payment methods (PAY_<COIN>_RPC_URL): a watcher per coin, on processes that index.
  const utxoMethods =
    config.paymentMethods.utxo.length > 0
      ? createUtxoMethods({
          db,
          coins: config.paymentMethods.utxo,
          events: orderEvents,
          provider: orderStates.standalone(),
          log: log.child({ component: "payment-methods" }),
          now,
        })
      : undefined;
  if (config.runIndexer) utxoMethods?.start();
  const app = await buildApp({
    config,
    log,
    orders,
    paymentMethods: createPaymentMethods({
      db,
      chains,
      orders,
      orderTtlSeconds: config.orderTtlSeconds,
      confirmations: orderStates.confirmations,
      publicUrl: config.publicUrl,
      utxo: utxoMethods,
      quoteDecimals: config.quoteDecimals,
    }),
    payPage: {
      ...createOrderReader(db),
      merchantName: (merchantId) => merchantDisplayName(db, merchantId),
      requiredConfirmations: (chainId) => byId.get(chainId)?.confirmations ?? 1,
      maxStreamsPerClient: config.payEventsPerClient,
      maxStreams: config.payEventsTotal,
    },
    recurring: createRecurringService({
      db,
      chains,
      events: recurringEvents,
      now,
      indexedBlock,
      allowPrivateCallbacks: callbackConfig.allowPrivateTargets,
    }),
    merchants: createMerchantService(db, { sms: config.sms !== undefined }),
    account: createAccountService({ db, chains }),
    exports: createExportService({ db, chains }),
    overview: createOverviewService({ db, chains }),
    addresses: createAddressService(db, {
      onLinked: addressLinkedCallback,
      // A plain key's signature verifies anywhere; a contract account's (EIP-1271, or EIP-6492 before
      // it is deployed) on the chain where it lives: any configured chain that accepts it.
      verify: async (input) => {
        for (const chain of chains) {
          if (await chain.client.verifyMessage(input).catch(() => false)) return true;
        }
        return false;
      },
    }),
    callbacks: createCallbackService(db, { allowPrivateTargets: callbackConfig.allowPrivateTargets }),
    idempotency: createIdempotencyService(db, { now }),
    health: createHealthService({
      db,
      chains,
      checks: {
        callbacks: () => callbackHealth(db),
        eletropay: async () => (eletropay ? gapLimitStatus(db, eletropayConfig) : { enabled: false }),
      },
    }),
    indexedBlock,
    metrics,
    web: {
      sessions: createWebSessionService(db, {
        onLinked: addressLinkedCallback,
        siwe: {
          domain: new URL(config.consoleOrigin).host,
          origin: config.consoleOrigin,
          chainIds: chains.map((c) => Number(c.chainId)),
          // Through the chain the message names: plain accounts, and contract wallets (EIP-1271,
          // EIP-6492) by their own code.
          verify: (chainId, input) => {
            const chain = byId.get(BigInt(chainId));
            return chain ? chain.client.verifySiweMessage(input) : Promise.resolve(false);
          },
        },
      }),
      chains: chains.map((c) => ({
        chainId: Number(c.chainId),
        name: chainName(Number(c.chainId)),
        contract: c.contract,
        tokens: c.tokens.map((t) => ({ symbol: t.symbol, address: t.address, decimals: t.decimals })),
      })),
      displayName: (merchantId) => merchantDisplayName(db, merchantId),
      setDisplayName: (merchantId, value) => setDisplayName(db, merchantId, value),
      rotateCallbackSecret: (merchantId, overlap) => rotateCallbackSecret(db, merchantId, overlap),
      depositsWaiting: async (merchantId) => {
        const proven = await provenAddresses(db, merchantId);
        const waiting = [];
        for (const chain of chains) {
          const head = chain.indexedBlock();
          if (head === null || proven.length === 0) continue;
          const confirmed = head - BigInt(chain.confirmations) + 1n;
          const ready = await merchantDepositsReadyToSweep(db, chain.chainId, confirmed, proven);
          waiting.push(...ready.map((d) => ({ ...d, chainId: chain.chainId })));
        }
        return waiting;
      },
    },
    ...(eletropay ? { eletropayLinks: { link: (input) => linkEletroPayClient(db, input) } } : {}),
    rateLimitPerMinute: config.rateLimitPerMinute,
    authFailuresPerMinute: config.authFailuresPerMinute,
    trustProxy: config.trustProxy,
  });
  if (options.listen !== false && config.runApi) {
    await app.listen({ host: config.host, port: config.port });
  }
  const metricsApp =
    config.metricsPort === undefined
      ? undefined
      : await buildMetricsApp({ metrics, log: log.child({ component: "metrics" }) });
  if (metricsApp && options.listen !== false) {
    await metricsApp.listen({ host: config.metricsHost, port: config.metricsPort });
  }
  if (eletropay) {
    if (options.listen !== false)
      await eletropay.app.listen({ host: eletropayConfig.host, port: eletropayConfig.port });
    eletropay.watcher.start();
  }

  return {
    app,
    metricsApp,
    db,
    config,
    chains,
    client: first.client,
    chainId: first.chainId,
    contract: first.contract,
    tokens: first.tokens,
    indexer: first.indexer,
    callbackWorker,
    recurringScheduler,
    eletropay,
    log,
    async close() {
      await app.close();
      await metricsApp?.close();
      recurringStop.abort();
      await recurringRun;
      await eletropay?.watcher.stop();
      await utxoMethods?.stop();
      await eletropay?.app.close();
      await Promise.allSettled(chains.map((c) => c.stop()));
      await callbackWorker?.stop();
      if (!options.db) await db.close();
    },
  };
}
