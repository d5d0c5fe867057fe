import type { Logger } from "pino";
import type { CallbackService } from "../callbacks/service.ts";
import type { Config } from "../config/index.ts";
import type { AddressService } from "../merchants/addresses.ts";
import type { MerchantService } from "../merchants/service.ts";
import type { Metrics } from "../metrics/index.ts";
import type { WebSessionService } from "../merchants/web-sessions.ts";
import type { OrderService } from "../orders/service.ts";
import type { PaymentMethodsService } from "../payment-methods/service.ts";
import type { RecurringService } from "../recurring/service.ts";
import type { OrderRow } from "../orders/serialize.ts";
import type { IdempotencyService } from "../idempotency/service.ts";
import type { AccountService } from "./account-service.ts";
import type { ExportService } from "./export-service.ts";
import type { HealthService } from "./health-service.ts";
import type { OverviewService } from "./overview-service.ts";

/** What the payment page needs beyond an order: the shop's name and the chain's confirmations. */
export interface PayPageDeps {
  order(id: bigint): Promise<OrderRow | undefined>;
  /** The merchant's display name (migration 095), or null. */
  merchantName?(merchantId: bigint): Promise<string | null>;
  /** CONFIRMATIONS of the chain (for "1 of 12 confirmations"); 1 when unknown. */
  requiredConfirmations?(chainId: bigint): number;
  /** How often an order with open event streams is read, in ms (default 500); once for all its streams. */
  pushIntervalMs?: number;
  /** How long one event stream stays open before the browser reconnects, in ms (default 5 min). */
  pushMaxMs?: number;
  /** Event streams one client (an IPv4 address or IPv6 /64) may hold open (PAY_EVENTS_PER_CLIENT, default 20). */
  maxStreamsPerClient?: number;
  /** Event streams open at once in this process (PAY_EVENTS_TOTAL, default 1000). */
  maxStreams?: number;
}

/** A chain as the browser pages (console, point of sale) see it. */
export interface WebChain {
  chainId: number;
  name: string;
  contract: `0x${string}`;
  tokens: { symbol: string; address: `0x${string}`; decimals: number }[];
}

/** The merchant console and point-of-sale terminal (server/src/web/console-page.ts). */
export interface WebDeps {
  sessions: WebSessionService;
  chains: WebChain[];
  displayName(merchantId: bigint): Promise<string | null>;
  setDisplayName(merchantId: bigint, value: string): Promise<string | null>;
  /** Deposits of the merchant's proven addresses on every chain, confirmed and not yet swept. */
  depositsWaiting(merchantId: bigint): Promise<
    {
      chainId: bigint;
      address: string;
      merchant: string;
      orderRef: string;
      token: string;
      amount: bigint;
    }[]
  >;
  /** Rotates the callback signing secret; the new one is returned once. */
  rotateCallbackSecret(
    merchantId: bigint,
    overlapSeconds: number,
  ): Promise<{ secret: string; previousValidUntil: Date | null }>;
}

/** The configuration the HTTP layer reads. */
export type AppConfig = Pick<Config, "publicUrl" | "adminToken" | "consoleOrigin">;

/**
 * What the public API needs: services, no database handle. Each route calls one of these; none
 * runs SQL. Tests can build the app from services on a test database and a static price source,
 * without a chain.
 */
export interface AppDeps {
  config: AppConfig;
  log: Logger;
  /** Orders payable by several methods (POST /order's `methods`, GET /order/:id's `payment_methods`). */
  paymentMethods?:
    | Pick<PaymentMethodsService, "createOrder" | "describe" | "qrUri" | "setXpub" | "xpubs" | "deleteXpub">
    | undefined;
  /** Create, read and list orders (POST /order, GET /order/:id, /history; the console also by reference). */
  orders: Pick<OrderService, "create" | "get" | "getByReference" | "list">;
  /** Recurring billing (POST/GET /recurring, /status/recurring/:status, the subscription page); optional for tests. */
  recurring?: Pick<RecurringService, "create" | "get" | "list" | "cancel" | "page">;
  /** An order by id for the public pay page and QR code (the id is the capability). */
  payPage: PayPageDeps;
  /** API-key lookup and the admin API. */
  merchants: MerchantService;
  /** GET /user and GET /user/history. */
  account: Pick<AccountService, "ordersToday" | "history">;
  /** GET /user/overview and GET /user/rates (the console's overview); no routes when absent. */
  overview?: Pick<OverviewService, "overview" | "rates" | "currency">;
  /** GET /export/<kind>.csv, the accountant's CSV exports (docs/exports.md); no routes when absent. */
  exports?: Pick<ExportService, "columns" | "pages">;
  /** Proven payout addresses (GET /user/addresses/nonce, POST and GET /user/addresses); optional for tests. */
  addresses?: AddressService;
  /** GET /callbacks and POST /callbacks/:id/redeliver. */
  callbacks: Pick<CallbackService, "list" | "redeliver" | "recent" | "get" | "sendTest">;
  health: HealthService;
  /** Idempotency-Key on POST /order, POST /recurring and POST /pos/order; absent: the header is ignored. */
  idempotency?: IdempotencyService;
  /** GET /metrics (with the admin token); absent: no /metrics route. */
  metrics?: Pick<Metrics, "contentType" | "render">;
  /** The operator's EletroPay link (client → merchant + payout address), when EletroPay runs. */
  eletropayLinks?: {
    link(input: { merchantEmail: string; client: string; payoutAddress: string }): Promise<{
      clientEmail: string;
      merchantId: bigint;
      merchantEmail: string;
      payoutAddress: string;
    }>;
  };
  /** The newest block of a chain whose effects are in the database (for confirmations), if known. */
  indexedBlock: (chainId: bigint) => bigint | null;
  /** The merchant console and point-of-sale pages, with their browser sessions; off when absent. */
  web?: WebDeps;
  rateLimitPerMinute?: number;
  /** Failed authentications per client address per minute before its credentials go unchecked (429). */
  authFailuresPerMinute?: number;
  /** Fastify's trustProxy: false, a hop count, or the proxies' addresses and CIDR ranges (TRUST_PROXY). */
  trustProxy?: boolean | number | string[];
}
