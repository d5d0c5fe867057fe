/**
 * Shared fixtures for the callbacks-*.test.ts files: real HTTP receivers on loopback, a quick
 * retry configuration, and minimal merchant/order rows. Not a test file itself.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { CallbackConfig } from "../../server/src/config/callbacks.ts";
import { insertCallback, type OutboxEntry } from "../../server/src/callbacks/outbox.ts";
import type { CallbackLogger } from "../../server/src/callbacks/worker.ts";
import type { Db, Queryable } from "../../server/src/db/types.ts";

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** performance.now() when the body was complete. */
  at: number;
}

export type ReceiverHandler = (req: Received, res: ServerResponse, index: number) => unknown;

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  handler: ReceiverHandler;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 (or ::1) on an ephemeral port; answers 200 "OK" unless told otherwise. */
export async function startReceiver(
  handler: ReceiverHandler = (_req, res) => res.end("OK"),
  options: { host?: string; port?: number } = {},
): Promise<Receiver> {
  const received: Received[] = [];
  const receiver = { received, handler } as Receiver;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const entry: Received = {
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks),
        at: performance.now(),
      };
      const index = received.push(entry) - 1;
      void Promise.resolve(receiver.handler(entry, res, index)).catch(() => res.destroy());
    });
  });
  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  receiver.port = port;
  receiver.url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return receiver;
}

/** A port on 127.0.0.1 that nothing listens on (yet). */
export async function freePort(): Promise<number> {
  const r = await startReceiver();
  await r.close();
  return r.port;
}

/** Defaults for tests: fast retries (tens of ms), short timeout and lease, private targets allowed. */
export function testConfig(overrides: Partial<CallbackConfig> = {}): CallbackConfig {
  return {
    mode: "test",
    callbackSecret: "system-secret-for-tests-0123456789",
    eletropayCallbackSecret: "eletropay-secret-for-tests-0123456789",
    allowPrivateTargets: true,
    timeoutMs: 2_000,
    maxResponseBytes: 64 * 1024,
    workerConcurrency: 8,
    pollIntervalMs: 200,
    leaseMs: 5_000,
    retry: { baseDelayMs: 40, factor: 2, maxDelayMs: 200, maxAgeMs: 60_000, jitter: 0.2 },
    ...overrides,
  };
}

export interface LogEntry {
  level: string;
  obj: object;
  msg: string | undefined;
}

/** Collects log lines instead of printing them. */
export function memoryLog(): CallbackLogger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void entries.push({ level, obj, msg });
  return { entries, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function insertMerchant(
  db: Queryable,
  email: string,
  secret: string,
  previous: string | null = null,
): Promise<bigint> {
  const { rows } = await db.query<{ id: bigint }>(
    "INSERT INTO merchants (email, callback_secret, callback_secret_previous) VALUES ($1, $2, $3) RETURNING id",
    [email, secret, previous],
  );
  return (rows[0] as { id: bigint }).id;
}

let nextOrderId = 1_000_000_000n + BigInt(Math.floor(Math.random() * 1_000_000));
export async function insertOrder(
  db: Queryable,
  merchantId: bigint | null,
  callback: string,
): Promise<bigint> {
  const id = nextOrderId++;
  await db.query(
    `INSERT INTO orders (id, merchant_id, chain_id, pay_to, merchant_address, token, token_symbol, token_decimals,
       currency_amount, usd_cents, expected_amount, price, price_decimals, callback, expires_at)
     VALUES ($1, $2, 31337, '0x' || repeat('1', 40), '0x' || repeat('2', 40), '0x' || repeat('0', 40), 'ETH', 18,
       '13.54', 1354, 417300000000000000, 6998, 2, $3, now() + interval '15 minutes')`,
    [id, merchantId, callback],
  );
  return id;
}

export async function enqueue(db: Db, entry: OutboxEntry): Promise<{ id: bigint; eventId: string }> {
  return db.transaction((tx) => insertCallback(tx, entry));
}

export function orderEntry(
  orderId: bigint,
  merchantId: bigint | null,
  url: string,
  status: string,
): OutboxEntry {
  return {
    stream: `order:${orderId}`,
    kind: `order.${status}`,
    url,
    body: JSON.stringify({ id: Number(orderId), status, transaction_id: "0xabc" }),
    secretRef: merchantId === null ? "system" : `merchant:${merchantId}`,
    orderId,
    merchantId,
  };
}

export interface CallbackRow {
  id: bigint;
  event_id: string;
  status: string;
  attempts: number;
  last_error: string | null;
}

export async function callbackRow(db: Queryable, id: bigint): Promise<CallbackRow> {
  const { rows } = await db.query<CallbackRow>(
    "SELECT id, event_id::text AS event_id, status, attempts, last_error FROM callbacks WHERE id = $1",
    [id],
  );
  if (!rows[0]) throw new Error(`no callback ${id}`);
  return rows[0];
}

export async function attemptRows(
  db: Queryable,
  id: bigint,
): Promise<
  {
    attempt: number;
    status_code: number | null;
    latency_ms: number;
    error: string | null;
    attempted_at: Date;
  }[]
> {
  const { rows } = await db.query<{
    attempt: number;
    status_code: number | null;
    latency_ms: number;
    error: string | null;
    attempted_at: Date;
  }>(
    "SELECT attempt, status_code, latency_ms, error, attempted_at FROM callback_attempts WHERE callback_id = $1 ORDER BY id",
    [id],
  );
  return rows;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}
