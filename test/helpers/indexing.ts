import pino from "pino";
import type { PublicClient } from "viem";
import type { Db } from "../../server/src/db/types.ts";
import { orderCallbacks } from "../../server/src/callbacks/order-callbacks.ts";
import { createIndexer, type Indexer } from "../../server/src/indexer/index.ts";
import { loadCursor } from "../../server/src/indexer/store.ts";
import { paymentProcessorSource } from "../../server/src/ledger/payment-processor-source.ts";
import { txtNotifier } from "../../server/src/notify/order-status.ts";
import { createOrderSink } from "../../server/src/orders/effects.ts";
import { createOrderEvents, type OrderStatusChanged } from "../../server/src/orders/events.ts";

export interface TestIndexerOptions {
  confirmations: number;
  finalityBlocks: number;
  chainId?: bigint;
  pollIntervalMs?: number;
  newHeadsUrl?: string | undefined;
  publicUrl?: string;
}

/**
 * The payment pipeline as system.ts wires it: the PaymentProcessor source, the order sink, and the
 * merchant callback and TXT notifier subscribed to order status changes.
 */
export function testIndexer(
  db: Db,
  client: PublicClient,
  contract: `0x${string}`,
  options: TestIndexerOptions,
): Indexer<OrderStatusChanged[]> {
  const events = createOrderEvents([orderCallbacks(options.publicUrl ?? "http://pos.test"), txtNotifier()]);
  return createIndexer({
    chain: { chainId: options.chainId ?? 31337n, client },
    db,
    sources: [paymentProcessorSource(contract)],
    sink: createOrderSink({ confirmations: options.confirmations, events }),
    log: pino({ level: "silent" }),
    startBlock: 0n,
    finalityBlocks: options.finalityBlocks,
    pollIntervalMs: options.pollIntervalMs ?? 20,
    newHeadsUrl: options.newHeadsUrl,
  });
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
