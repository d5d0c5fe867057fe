import pino from "pino";
import type { PublicClient } from "viem";
import type { Db, Queryable } from "../../server/src/db/types.ts";
import { orderCallbacks } from "../../server/src/callbacks/order-callbacks.ts";
import { testConfig } from "./config.ts";
import type { Indexer } from "../../server/src/indexer/index.ts";
import { loadCursor } from "../../server/src/indexer/store.ts";
import { txtNotifier } from "../../server/src/notify/order-status.ts";
import { createOrderEvents } from "../../server/src/orders/events.ts";
import { staticPriceSource } from "../../server/src/pricing/index.ts";
import { createRecurringEvents } from "../../server/src/recurring/events.ts";
import type { ChainRuntime } from "../../server/src/runtime/chain.ts";
import { chainModules, type ProductionContext } from "../../server/src/runtime/modules.ts";
import {
  buildPipeline,
  createChainIndexer,
  type ChainIndexer,
  type ChainIndexerOptions,
} from "../../server/src/runtime/pipeline.ts";
import type { ChainEvent } from "../../server/src/chain/events.ts";
import type { IdleContext, Step } from "../../server/src/indexer/types.ts";
import { orderChanges } from "../../server/src/orders/module.ts";
import type { OrderStatusChanged } from "../../server/src/orders/events.ts";

export interface TestIndexerOptions {
  confirmations: number;
  finalityBlocks: number;
  chainId?: bigint;
  pollIntervalMs?: number;
  newHeadsUrl?: string | undefined;
  publicUrl?: string;
}

/**
 * The production modules' context on a bare chain with no system around it: no tokens, no
 * Multicall3, no Subscriptions contract unless given, the merchant callback and TXT notifier
 * subscribed to order status changes.
 */
export function testChainContext(
  db: Db,
  client: PublicClient,
  contract: `0x${string}`,
  options: { confirmations: number; chainId?: bigint; publicUrl?: string } & Partial<ProductionContext>,
): ProductionContext {
  const { confirmations, chainId = 31337n, publicUrl, ...rest } = options;
  const config = testConfig({
    // The chain's start block and finality as production defaults them (the indexer gets its own).
    START_BLOCK: undefined,
    FINALITY_BLOCKS: undefined,
    RPC_URL: "http://127.0.0.1:1",
    CONTRACT_ADDRESS: contract,
    CONFIRMATIONS: String(confirmations),
    ETH_USD_PRICE: "2000",
  }).chains[0];
  if (!config) throw new Error("no chain configured");
  return {
    name: `chain-${chainId}`,
    chainId,
    client,
    db,
    log: pino({ level: "silent" }),
    config,
    contract,
    tokens: [],
    prices: staticPriceSource("2000"),
    confirmations,
    multicall3: undefined,
    subscriptions: undefined,
    depositReuse: { state: "ok", how: "test" },
    orderEvents: createOrderEvents([orderCallbacks(publicUrl ?? "http://pos.test"), txtNotifier()]),
    recurringEvents: createRecurringEvents([]),
    now: Date.now,
    eletropay: undefined,
    ...rest,
  };
}

/** The production pipeline (server/src/runtime/modules.ts, built by runtime/pipeline.ts) on a bare chain. */
export function testIndexer(
  db: Db,
  client: PublicClient,
  contract: `0x${string}`,
  options: TestIndexerOptions,
): ChainIndexer {
  return createChainIndexer(
    chainModules,
    testChainContext(db, client, contract, {
      confirmations: options.confirmations,
      ...(options.chainId === undefined ? {} : { chainId: options.chainId }),
      ...(options.publicUrl === undefined ? {} : { publicUrl: options.publicUrl }),
    }),
    {
      startBlock: 0n,
      finalityBlocks: options.finalityBlocks,
      pollIntervalMs: options.pollIntervalMs ?? 20,
      newHeadsUrl: options.newHeadsUrl,
    },
  );
}

/**
 * The production pipeline's sink alone, for tests that hand it steps: every module's sink in list
 * order. `apply` and `idle` return the order status changes the step published.
 */
export function pipelineSink(context: ProductionContext) {
  const { sink } = buildPipeline(chainModules, context);
  return {
    apply: async (tx: Queryable, step: Step<ChainEvent>) => (await sink.apply(tx, step)).read(orderChanges),
    idle: async (tx: Queryable, at: IdleContext) =>
      ((await sink.idle?.(tx, at)) ?? noFacts).read(orderChanges),
  };
}
const noFacts = { read: () => [] as OrderStatusChanged[] };

/**
 * The production pipeline over one of a started system's chains (its module context, with
 * `context` overriding parts of it), stepped by the test: the system runs no indexer of its own
 * (RUN_INDEXER=false).
 */
export function pipelineIndexer(
  chain: ChainRuntime | undefined,
  options: Partial<ChainIndexerOptions> & { context?: Partial<ProductionContext> } = {},
): ChainIndexer {
  if (!chain) throw new Error("the system has no chain");
  const { context, ...rest } = options;
  return createChainIndexer(
    chainModules,
    { ...chain.context, log: pino({ level: "silent" }), ...context },
    { startBlock: 0n, finalityBlocks: 16, pollIntervalMs: 20, ...rest },
  );
}

/** Steps the indexer until it reports no progress (it has reached the head). */
export async function catchUp(indexer: Indexer, maxSteps = 10_000): Promise<void> {
  for (let i = 0; i < maxSteps; i++) if (!(await indexer.step())) return;
  throw new Error("indexer did not catch up");
}

/** The indexed state that must not depend on history: events, order outcomes and the ledger. */
export async function indexedState(db: Db) {
  const events = await db.query(
    `SELECT chain_id::text, block_number::text, block_hash, tx_hash, log_index, kind, merchant, order_ref, order_id::text,
            counterparty, token, amount FROM contract_events ORDER BY block_number, log_index`,
  );
  const orders = await db.query(
    `SELECT id::text, status, exception, amount_paid, amount_refunded, transaction_id, paid_block::text, sent_transaction
       FROM orders ORDER BY id`,
  );
  const ledger = await db.query(
    `SELECT chain_id::text, merchant, token, credited::text, withdrawn::text, refunded::text
       FROM merchant_ledger ORDER BY chain_id, merchant, token`,
  );
  return { events: events.rows, orders: orders.rows, ledger: ledger.rows };
}

/** Copies the orders as created (pending, unpaid) into another database, for a fresh reindex. */
export async function copyOrdersAsCreated(from: Db, to: Db): Promise<void> {
  const { rows } = await from.query<Record<string, unknown>>("SELECT * FROM orders ORDER BY id");
  for (const row of rows) {
    await to.query(
      `INSERT INTO orders (id, merchant_id, chain_id, pay_to, merchant_address, token, token_symbol, token_decimals,
         currency_amount, usd_cents, expected_amount, price, price_decimals, callback, expires_at, created_at,
         reference, deposit_address)
       VALUES ($1, NULL, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
      [
        row.id,
        row.chain_id,
        row.pay_to,
        row.merchant_address,
        row.token,
        row.token_symbol,
        row.token_decimals,
        row.currency_amount,
        row.usd_cents,
        row.expected_amount,
        row.price,
        row.price_decimals,
        row.callback,
        row.expires_at,
        row.created_at,
        row.reference,
        row.deposit_address,
      ],
    );
  }
}

/** Inserts one row as read from another database (every column, identity values kept). */
async function insertRow(to: Db, table: string, row: Record<string, unknown>): Promise<void> {
  const cols = Object.keys(row);
  await to.query(
    `INSERT INTO ${table} (${cols.map((c) => `"${c}"`).join(", ")}) OVERRIDING SYSTEM VALUE
     VALUES (${cols.map((_, i) => `$${i + 1}`).join(", ")})`,
    cols.map((c) => row[c]),
  );
}

/**
 * Copies the subscriptions as created into another database, for a fresh reindex: their merchants,
 * and each subscription with period 0 as opened (its rate locked), nothing paid and no credit. The
 * reindex must find every transfer to a subscription's address and every collection itself.
 */
export async function copySubscriptionsAsCreated(from: Db, to: Db): Promise<void> {
  const merchants = await from.query<Record<string, unknown>>(
    "SELECT * FROM merchants WHERE id IN (SELECT merchant_id FROM subscriptions) ORDER BY id",
  );
  for (const m of merchants.rows) await insertRow(to, "merchants", m);
  const subscriptions = await from.query<Record<string, unknown>>("SELECT * FROM subscriptions ORDER BY id");
  for (const s of subscriptions.rows)
    await insertRow(to, "subscriptions", {
      ...s,
      status: (s.starts_at as Date) > (s.created_at as Date) ? "upcoming" : "pending",
      paid_through: s.starts_at,
      shown_index: 0,
      credit: "0",
      credit_block: null,
      next_check_at: s.created_at,
    });
  const periods = await from.query<Record<string, unknown>>(
    "SELECT * FROM subscription_periods WHERE index = 0 ORDER BY subscription_id",
  );
  for (const p of periods.rows)
    await insertRow(to, "subscription_periods", {
      ...p,
      paid_amount: "0",
      paid_at: null,
      paid_block: null,
      transaction_id: null,
      reminded_at: null,
    });
}

/**
 * What each subscription's periods and credit received, and from which transaction: the part of
 * recurring billing that must not depend on history. The status is left out: it is the clock's as
 * much as the chain's (docs/recurring.md).
 */
export async function subscriptionState(db: Db) {
  const subscriptions = await db.query(
    "SELECT id::text, credit::text, paid_through FROM subscriptions ORDER BY id",
  );
  const periods = await db.query(
    `SELECT subscription_id::text, index, expected_amount::text, paid_amount::text, paid_at, paid_block::text, transaction_id
       FROM subscription_periods ORDER BY subscription_id, index`,
  );
  return { subscriptions: subscriptions.rows, periods: periods.rows };
}

/**
 * Waits until the indexer's cursor (in the database) is the chain's head, by number and hash: the
 * indexer has applied every block of the chain as it is now, reorgs included.
 */
export async function waitUntilIndexed(
  db: Db,
  client: PublicClient,
  options: { chainId?: bigint; timeoutMs?: number; indexer?: Indexer } = {},
): Promise<bigint> {
  const { chainId = 31337n, timeoutMs = 30_000, indexer } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = indexer?.status();
    if (state?.state === "failed") throw new Error(`indexer failed: ${state.lastError}`);
    const head = await client.getBlock({ blockTag: "latest" });
    const cursor = await loadCursor(db, chainId);
    if (cursor && cursor.blockNumber === head.number && cursor.blockHash === head.hash) return head.number;
    if (Date.now() > deadline)
      throw new Error(
        `indexer did not reach head ${head.number} (${head.hash}) within ${timeoutMs} ms; cursor ${cursor?.blockNumber}`,
      );
    await new Promise((r) => setTimeout(r, 20));
  }
}
