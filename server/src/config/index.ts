import { resolve } from "node:path";
import { ConfigError } from "../lib/errors.ts";
import { address, bool, decimal, int, oneOf, optionalStr, str, url, type Env } from "./env.ts";

export type AppEnv = "development" | "test" | "production";

export interface TokenConfig {
  symbol: string;
  address: `0x${string}`;
  decimals: number;
  /** USD value of one whole token, as an exact decimal (stablecoins: "1"). */
  usdPeg: string;
}

export interface Config {
  env: AppEnv;
  host: string;
  port: number;
  /** Base URL used in payment_url and qr_code. */
  publicUrl: string;
  logLevel: string;
  databaseUrl: string | undefined;
  dataDir: string;
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
  orderTtlSeconds: number;
  /** Static ETH/USD price (tests, demos); takes precedence over the feed when set. */
  ethUsdPrice: string | undefined;
  /** Chainlink AggregatorV3 ETH/USD feed; default on local chains: the Ignition mock. */
  priceFeedAddress: `0x${string}` | undefined;
  priceMaxAgeSeconds: number;
  tokens: TokenConfig[];
  /** Orders below this USD amount need no API key (the seed: $5.00). */
  anonymousMaxUsd: string;
  adminToken: string | undefined;
  /** Run the indexer in this process (several API-only processes may share one database). */
  runIndexer: boolean;
  runCallbackWorker: boolean;
  /** Requests per minute allowed per API key (or per client address without a key). */
  rateLimitPerMinute: number;
}

function parseTokens(value: string | undefined): TokenConfig[] {
  if (!value) return [];
  return value.split(",").map((entry) => {
    const [symbol, addr, decimals, usdPeg = "1"] = entry.trim().split(":");
    if (
      !symbol ||
      !/^[A-Z0-9]{2,11}$/.test(symbol) ||
      !addr ||
      !/^0x[0-9a-fA-F]{40}$/.test(addr) ||
      !decimals ||
      !/^\d{1,2}$/.test(decimals) ||
      !/^\d+(\.\d+)?$/.test(usdPeg)
    ) {
      throw new ConfigError(
        `TOKENS must look like "USDC:0x…40 hex…:6[:1]" entries separated by commas, got "${entry}"`,
      );
    }
    return { symbol, address: addr as `0x${string}`, decimals: Number(decimals), usdPeg };
  });
}

export function loadConfig(env: Env = process.env): Config {
  const appEnv = oneOf(env, "NODE_ENV", ["development", "test", "production"] as const, "development");
  const host = str(env, "HOST", "127.0.0.1");
  const port = int(env, "PORT", 3000, 1, 65_535);
  const confirmations = int(env, "CONFIRMATIONS", 12, 1, 1_000);
  const finalityBlocks = int(env, "FINALITY_BLOCKS", Math.max(64, confirmations * 2), 1, 100_000);
  if (finalityBlocks <= confirmations) {
    throw new ConfigError(
      `FINALITY_BLOCKS (${finalityBlocks}) must be greater than CONFIRMATIONS (${confirmations})`,
    );
  }
  const startBlock = optionalStr(env, "START_BLOCK");
  if (startBlock !== undefined && !/^\d+$/.test(startBlock)) {
    throw new ConfigError(`START_BLOCK must be a block number, got "${startBlock}"`);
  }
  const anonymousMaxUsd = decimal(env, "ANONYMOUS_MAX_USD", "5.00") as string;
  return {
    env: appEnv,
    host,
    port,
    publicUrl: (
      url(env, "PUBLIC_URL", ["http:", "https:"]) ??
      `http://${host.includes(":") ? `[${host}]` : host}:${port}`
    ).replace(/\/+$/, ""),
    logLevel: oneOf(
      env,
      "LOG_LEVEL",
      ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const,
      appEnv === "test" ? "silent" : "info",
    ),
    databaseUrl: url(env, "DATABASE_URL", ["postgres:", "postgresql:"]),
    dataDir: resolve(str(env, "DATA_DIR", ".data")),
    rpcUrl: url(env, "RPC_URL", ["http:", "https:", "ws:", "wss:"]),
    rpcWsUrl: url(env, "RPC_WS_URL", ["ws:", "wss:"]),
    contractAddress: address(env, "CONTRACT_ADDRESS"),
    startBlock: startBlock === undefined ? undefined : BigInt(startBlock),
    confirmations,
    finalityBlocks,
    pollIntervalMs: int(env, "POLL_INTERVAL_MS", 1_000, 10, 600_000),
    orderTtlSeconds: int(env, "ORDER_TTL_SECONDS", 900, 30, 7 * 24 * 3600),
    ethUsdPrice: decimal(env, "ETH_USD_PRICE", undefined),
    priceFeedAddress: address(env, "PRICE_FEED_ADDRESS"),
    priceMaxAgeSeconds: int(env, "PRICE_MAX_AGE_SECONDS", 3_600, 1, 30 * 24 * 3600),
    tokens: parseTokens(optionalStr(env, "TOKENS")),
    anonymousMaxUsd,
    adminToken: optionalStr(env, "ADMIN_TOKEN"),
    runIndexer: bool(env, "RUN_INDEXER", true),
    runCallbackWorker: bool(env, "RUN_CALLBACK_WORKER", true),
    rateLimitPerMinute: int(env, "RATE_LIMIT_PER_MINUTE", 600, 1, 10_000_000),
  };
}
