import type { Logger } from "pino";
import type { CallbackService } from "../callbacks/service.ts";
import type { Config } from "../config/index.ts";
import type { AccountService } from "../merchants/account.ts";
import type { AddressService } from "../merchants/addresses.ts";
import type { MerchantService } from "../merchants/service.ts";
import type { OrderRow } from "../orders/serialize.ts";
import type { OrderService } from "../orders/service.ts";
import type { RecurringService } from "../recurring/service.ts";
import type { HealthService } from "./health-service.ts";

/** The configuration the HTTP layer reads. */
export type AppConfig = Pick<Config, "publicUrl" | "adminToken" | "tokens">;

/**
 * What the public API needs: services, no database handle. Each route calls one of these; none
 * runs SQL. Tests can build the app from services on a test database and a static price source,
 * without a chain.
 */
export interface AppDeps {
  config: AppConfig;
  log: Logger;
  /** Create, read and list orders (POST /order, GET /order/:id, /history). */
  orders: Pick<OrderService, "create" | "get" | "list">;
  /** Recurring billing (POST/GET /recurring, /status/recurring/:status, the subscription page); optional for tests. */
  recurring?: Pick<RecurringService, "create" | "get" | "list" | "cancel" | "page">;
  /** An order by id for the public pay page and QR code (the id is the capability). */
  payPage: { order(id: bigint): Promise<OrderRow | undefined> };
  /** API-key lookup and the admin API. */
  merchants: MerchantService;
  /** GET /user and GET /user/history. */
  account: Pick<AccountService, "ordersToday" | "history">;
  /** Proven payout addresses (GET /user/addresses/nonce, POST and GET /user/addresses); optional for tests. */
  addresses?: AddressService;
  /** GET /callbacks and POST /callbacks/:id/redeliver. */
  callbacks: Pick<CallbackService, "list" | "redeliver">;
  health: HealthService;
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
  rateLimitPerMinute?: number;
  /** Failed authentications per client address per minute before its credentials go unchecked (429). */
  authFailuresPerMinute?: number;
  /** Fastify's trustProxy: false, a hop count, or the proxies' addresses and CIDR ranges (TRUST_PROXY). */
  trustProxy?: boolean | number | string[];
}
