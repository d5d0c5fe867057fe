import { resolve } from "node:path";
import { readCallbackConfig, type CallbackConfig } from "./callbacks.ts";
import { readEletroPayConfig, type EletroPayConfig } from "./eletropay.ts";
import { readChains, type ChainConfig, type TokenConfig } from "./chains.ts";
import { createEnvReader, type Env } from "./env.ts";

export type { ChainConfig, TokenConfig } from "./chains.ts";
export { ConfigProblems } from "./errors.ts";
export type { Env } from "./env.ts";

export type AppEnv = "development" | "test" | "production";

export interface Config {
  env: AppEnv;
  host: string;
  port: number;
  /** Base URL used in payment_url and qr_code. */
  publicUrl: string;
  logLevel: string;
  databaseUrl: string | undefined;
  dataDir: string;
  orderTtlSeconds: number;
  /** Orders below this USD amount need no API key (the seed: $5.00). */
  anonymousMaxUsd: string;
  adminToken: string | undefined;
  /** Run the indexer in this process (several API-only processes may share one database). */
  runIndexer: boolean;
  runCallbackWorker: boolean;
  /** Serve the public API on HOST:PORT (false: an indexer or worker process with no listener). */
  runApi: boolean;
  /** Requests per minute allowed per API key (or per client address without a key). */
  rateLimitPerMinute: number;

  /** Every chain to follow, in configuration order; the first is the default for new orders. */
  chains: ChainConfig[];
  callbacks: CallbackConfig;
  eletropay: EletroPayConfig;

  // The first chain's settings, kept flat for single-chain code (they mirror chains[0]).
  /** Unset: `npm start` runs a local Hardhat node; the server itself then gets its URL. */
  rpcUrl: string | undefined;
  /** ws(s) endpoint whose newHeads subscription wakes the indexer; default: RPC_URL when it is ws(s). */
  rpcWsUrl: string | undefined;
  contractAddress: `0x${string}` | undefined;
  /** First block to index; default: the contract's deployment block from Ignition, else 0. */
  startBlock: bigint | undefined;
  confirmations: number;
  /** Blocks kept for reorg handling; a deeper reorg stops the indexer. */
  finalityBlocks: number;
  pollIntervalMs: number;
  /** Static ETH/USD price (tests, demos); takes precedence over the feed when set. */
  ethUsdPrice: string | undefined;
  /** Chainlink AggregatorV3 ETH/USD feed; default on local chains: the Ignition mock. */
  priceFeedAddress: `0x${string}` | undefined;
  priceMaxAgeSeconds: number;
  tokens: TokenConfig[];
}

/**
 * Reads and validates the whole configuration once, at boot: core, chains, callbacks and
 * EletroPay. Every problem is collected and reported together in one ConfigError
 * (`ConfigProblems`, one line per problem, each naming the variable and the fix).
 * Nothing else reads the environment.
 */
export function loadConfig(env: Env = process.env): Config {
  const r = createEnvReader(env);
  const appEnv = r.oneOf("NODE_ENV", ["development", "test", "production"] as const, "development");
  const host = r.str("HOST", "127.0.0.1");
  const port = r.int("PORT", 3000, 1, 65_535);
  const publicUrl = (
    r.url("PUBLIC_URL", ["http:", "https:"]) ?? `http://${host.includes(":") ? `[${host}]` : host}:${port}`
  ).replace(/\/+$/, "");
  const core = {
    env: appEnv,
    host,
    port,
    publicUrl,
    logLevel: r.oneOf(
      "LOG_LEVEL",
      ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const,
      appEnv === "test" ? "silent" : "info",
    ),
    databaseUrl: r.url("DATABASE_URL", ["postgres:", "postgresql:"]),
    dataDir: resolve(r.str("DATA_DIR", ".data")),
    orderTtlSeconds: r.int("ORDER_TTL_SECONDS", 900, 30, 7 * 24 * 3600),
    anonymousMaxUsd: r.decimal("ANONYMOUS_MAX_USD", "5.00") ?? "5.00",
    adminToken: r.optionalStr("ADMIN_TOKEN"),
    runIndexer: r.bool("RUN_INDEXER", true),
    runCallbackWorker: r.bool("RUN_CALLBACK_WORKER", true),
    runApi: r.bool("RUN_API", true),
    rateLimitPerMinute: r.int("RATE_LIMIT_PER_MINUTE", 600, 1, 10_000_000),
  };
  const chains = readChains(r);
  const callbacks = readCallbackConfig(r, appEnv);
  const eletropay = readEletroPayConfig(r);
  r.finish();

  const first = chains[0] as ChainConfig;
  return {
    ...core,
    chains,
    callbacks,
    eletropay,
    rpcUrl: first.rpcUrl,
    rpcWsUrl: first.rpcWsUrl,
    contractAddress: first.contractAddress,
    startBlock: first.startBlock,
    confirmations: first.confirmations,
    finalityBlocks: first.finalityBlocks,
    pollIntervalMs: first.pollIntervalMs,
    ethUsdPrice: first.ethUsdPrice,
    priceFeedAddress: first.priceFeedAddress,
    priceMaxAgeSeconds: first.priceMaxAgeSeconds,
    tokens: first.tokens,
  };
}
