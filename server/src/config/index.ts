import { resolve } from "node:path";
import { readCallbackConfig, type CallbackConfig } from "./callbacks.ts";
import { readSmsConfig, type SmsConfig } from "./sms.ts";
import { readEletroPayConfig, type EletroPayConfig } from "./eletropay.ts";
import { readPaymentMethodsConfig, type PaymentMethodsConfig } from "./payment-methods.ts";
import { readChains, type ChainConfig, type TokenConfig } from "./chains.ts";
import { readRatesConfig, type RatesConfig } from "./rates.ts";
import { createEnvReader, type Env, type EnvReader } from "./env.ts";
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";

export type { ChainConfig, TokenConfig } from "./chains.ts";
export type { RatesConfig, RateSourceName } from "./rates.ts";
export { ConfigProblems } from "./errors.ts";
export type { Env } from "./env.ts";

export type AppEnv = "development" | "test" | "production";

export interface Config {
  env: AppEnv;
  host: string;
  port: number;
  /** Base URL used in payment_url and qr_code. */
  publicUrl: string;
  /**
   * The origin the merchant console is served from (CONSOLE_ORIGIN, else PUBLIC_URL's origin):
   * Sign-In with Ethereum messages must name it, state-changing console requests must come from
   * it, and on https the session cookie is `__Host-` and Secure. Never taken from a request.
   */
  consoleOrigin: string;
  logLevel: string;
  databaseUrl: string | undefined;
  dataDir: string;
  orderTtlSeconds: number;
  /** QUOTE_DECIMALS: an order's expected_amount is rounded up to this many decimals (default 8). */
  quoteDecimals: number;
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
  /** Failed authentications per client address per minute (AUTH_FAILURES_PER_MINUTE). */
  authFailuresPerMinute: number;
  /**
   * TRUST_PROXY: the reverse proxies whose X-Forwarded-For names the client, as a hop count or a
   * list of addresses and CIDR ranges; false (the default) uses the connection's address.
   */
  trustProxy: false | number | string[];
  /** Payment page event streams one client (an IPv4 address or IPv6 /64) may hold open (PAY_EVENTS_PER_CLIENT). */
  payEventsPerClient: number;
  /** Payment page event streams open at once per API process (PAY_EVENTS_TOTAL). */
  payEventsTotal: number;
  /**
   * METRICS_PORT: a listener of its own for GET /metrics, without a token (undefined: /metrics only
   * on the API, with ADMIN_TOKEN). Indexer processes (RUN_API=false) are seen only there.
   */
  metricsPort: number | undefined;
  /** METRICS_HOST: the metrics listener's address (default 127.0.0.1: only this machine). */
  metricsHost: string;

  /** Every chain to follow, in configuration order; the first is the default for new orders. */
  chains: ChainConfig[];
  callbacks: CallbackConfig;
  /** The SMS provider of TXT Messaging (SMS_PROVIDER); undefined: notifications go to webhooks only. */
  sms: SmsConfig | undefined;
  eletropay: EletroPayConfig;
  /** CURRENCIES and the rate sources (RATE_SOURCES, RATE_POLICY, RATE_MAX_SPREAD, …). */
  rates: RatesConfig;
  /** UTXO coins as payment methods of orders (PAY_<COIN>_RPC_URL, docs/payment-methods.md). */
  paymentMethods: PaymentMethodsConfig;
}

/**
 * Reads and validates the whole configuration once, at boot: core, chains, callbacks and
 * EletroPay. Every problem is collected and reported together in one ConfigError
 * (`ConfigProblems`, one line per problem, each naming the variable and the fix).
 * Nothing else reads the environment.
 */
export function loadConfig(env: Env = process.env, machine: Machine = {}): Config {
  const r = createEnvReader(env);
  const appEnv = r.oneOf("NODE_ENV", ["development", "test", "production"] as const, "development");
  const host = r.str("HOST", "127.0.0.1");
  const port = r.int("PORT", 3000, 1, 65_535);
  const publicUrl = (
    r.url("PUBLIC_URL", ["http:", "https:"]) ??
    defaultPublicUrl(r, host, port, machine.networkInterfaces ?? networkInterfaces)
  ).replace(/\/+$/, "");
  const core = {
    env: appEnv,
    host,
    port,
    publicUrl,
    consoleOrigin: readConsoleOrigin(r, publicUrl),
    logLevel: r.oneOf(
      "LOG_LEVEL",
      ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const,
      appEnv === "test" ? "silent" : "info",
    ),
    databaseUrl: r.url("DATABASE_URL", ["postgres:", "postgresql:"]),
    dataDir: resolve(r.str("DATA_DIR", ".data")),
    orderTtlSeconds: r.int("ORDER_TTL_SECONDS", 900, 30, 7 * 24 * 3600),
    quoteDecimals: r.int("QUOTE_DECIMALS", 8, 0, 18),
    anonymousMaxUsd: r.decimal("ANONYMOUS_MAX_USD", "5.00") ?? "5.00",
    adminToken: r.secret("ADMIN_TOKEN", 32, "openssl rand -hex 32"),
    runIndexer: r.bool("RUN_INDEXER", true),
    runCallbackWorker: r.bool("RUN_CALLBACK_WORKER", true),
    runApi: r.bool("RUN_API", true),
    rateLimitPerMinute: r.int("RATE_LIMIT_PER_MINUTE", 600, 1, 10_000_000),
    authFailuresPerMinute: r.int("AUTH_FAILURES_PER_MINUTE", 10, 1, 1_000_000),
    trustProxy: readTrustProxy(r),
    payEventsPerClient: r.int("PAY_EVENTS_PER_CLIENT", 20, 1, 100_000),
    payEventsTotal: r.int("PAY_EVENTS_TOTAL", 1000, 1, 1_000_000),
    metricsPort: r.optionalInt("METRICS_PORT", 1, 65_535),
    metricsHost: r.str("METRICS_HOST", "127.0.0.1"),
  };
  if (core.metricsPort !== undefined && core.metricsPort === port && core.runApi) {
    r.problem(
      `METRICS_PORT ${core.metricsPort} is the API's PORT; give the metrics listener a port of its own (e.g. 9464)`,
      "METRICS_PORT",
    );
  }
  const chains = readChains(r);
  const callbacks = readCallbackConfig(r, appEnv);
  const eletropay = readEletroPayConfig(r);
  const paymentMethods = readPaymentMethodsConfig(r);
  const sms = readSmsConfig(r);
  const rates = readRatesConfig(r);
  checkCurrencySources(r, rates, chains);
  r.finish();

  return {
    ...core,
    chains,
    callbacks,
    eletropay,
    paymentMethods,
    sms,
    rates,
  };
}

/**
 * Every enabled currency other than USD needs a source of its X/USD rate: an HTTP source that has
 * fiat rates, or (with chainlink in RATE_SOURCES) a FIAT_FEEDS entry on every chain.
 */
function checkCurrencySources(r: EnvReader, rates: RatesConfig, chains: readonly ChainConfig[]): void {
  if (r.failed("CURRENCIES", "RATE_SOURCES")) return;
  if (rates.sources.some((s) => s !== "chainlink")) return;
  const missing = rates.currencies.filter(
    (c) =>
      c !== "usd" &&
      !chains.every((chain) => (chain.fiatFeeds ?? []).some((f) => f.currency === c.toUpperCase())),
  );
  if (missing.length > 0) {
    r.problem(
      `CURRENCIES enables ${missing.join(", ")}, but no rate source has ${missing.map((c) => `${c.toUpperCase()}/USD`).join(", ")}: ` +
        `set FIAT_FEEDS (Chainlink fiat/USD feeds, e.g. FIAT_FEEDS=EUR:0x…:86400) on every chain, or add coinbase, kraken or frankfurter to RATE_SOURCES`,
      "CURRENCIES",
    );
  }
}

/** What the configuration may ask of the machine besides its environment (tests inject it). */
export interface Machine {
  networkInterfaces?: typeof networkInterfaces;
}

/**
 * The base of payment_url and qr_code when PUBLIC_URL is unset: http://HOST:PORT. A wildcard HOST
 * (0.0.0.0 or ::, listening on every interface) is no address a phone can open, so the machine's
 * first non-internal IPv4 address stands in for it; with none, PUBLIC_URL has to say.
 */
function defaultPublicUrl(
  r: EnvReader,
  host: string,
  port: number,
  interfaces: typeof networkInterfaces,
): string {
  if (host !== "0.0.0.0" && host !== "::" && host !== "[::]") {
    return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  }
  const lan = Object.values(interfaces())
    .flat()
    .find((i) => i !== undefined && i.family === "IPv4" && !i.internal);
  if (lan) return `http://${lan.address}:${port}`;
  r.problem(
    `HOST=${host} listens on every interface, but this machine has no non-internal IPv4 address ` +
      "to put in payment_url and qr_code: set PUBLIC_URL to the address customers open " +
      `(e.g. PUBLIC_URL=http://192.168.1.20:${port}, or https://pay.example.com behind a proxy)`,
    "PUBLIC_URL",
  );
  return `http://127.0.0.1:${port}`;
}

/** CONSOLE_ORIGIN: scheme, host and port only; default PUBLIC_URL's origin. */
function readConsoleOrigin(r: EnvReader, publicUrl: string): string {
  const value = r.url("CONSOLE_ORIGIN", ["http:", "https:"]);
  if (value === undefined) return new URL(publicUrl).origin;
  const url = new URL(value);
  if (url.origin !== value.replace(/\/+$/, "") || url.username || url.password) {
    r.problem(
      `CONSOLE_ORIGIN must be an origin (scheme, host and port, e.g. https://pos.example.com), with no path, got "${value}"`,
      "CONSOLE_ORIGIN",
    );
  }
  return url.origin;
}

/** TRUST_PROXY: unset or false, a hop count (1 = one proxy in front), or addresses and CIDR ranges. */
function readTrustProxy(r: EnvReader): false | number | string[] {
  const value = r.raw("TRUST_PROXY");
  if (value === undefined || value.toLowerCase() === "false") return false;
  if (value.toLowerCase() === "true") {
    r.problem(
      "TRUST_PROXY=true would trust any client's X-Forwarded-For (anyone could pick the address " +
        "they are rate-limited as); set the number of proxies in front (e.g. TRUST_PROXY=1) or " +
        "their addresses (e.g. TRUST_PROXY=10.0.0.0/8)",
      "TRUST_PROXY",
    );
    return false;
  }
  if (/^\d+$/.test(value)) return r.int("TRUST_PROXY", 0, 0, 64);
  const entries = value.split(",").map((entry) => entry.trim());
  const bad = entries.filter((entry) => {
    const [address = "", prefix, extra] = entry.split("/");
    const family = isIP(address);
    if (family === 0 || extra !== undefined) return true;
    if (prefix === undefined) return false;
    return !/^\d+$/.test(prefix) || Number(prefix) > (family === 4 ? 32 : 128);
  });
  if (bad.length > 0) {
    r.problem(
      `TRUST_PROXY must be a hop count (e.g. 1) or a comma-separated list of IP addresses and CIDR ranges ` +
        `(e.g. 10.0.0.0/8,127.0.0.1); these are not: ${bad.join(", ")}`,
      "TRUST_PROXY",
    );
    return false;
  }
  return entries;
}
