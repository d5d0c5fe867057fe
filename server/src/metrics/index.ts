import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import type { PublicClient } from "viem";
import type { OutboxStats } from "../callbacks/service.ts";
import type { RpcStats } from "../chain/rpc-stats.ts";
import { firstLine } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { ORDER_STATUSES, type ChainStatusCount } from "../orders/queries.ts";
import { OPEN_STATES } from "../sender/repository.ts";
import type { SenderStats } from "../sender/sender.ts";

/** One configured chain as /metrics reads it (server/src/runtime's ChainRuntime is one). */
export interface MetricsChain {
  name: string;
  chainId: bigint;
  client: Pick<PublicClient, "getBlockNumber" | "getBalance">;
  /** Its client's JSON-RPC calls, when they are counted. */
  rpc: RpcStats | undefined;
  /** The JSON-RPC batch size its client sends now, when known (RPC_BATCH_SIZE, halved on refusals). */
  rpcBatchSize?(): number | undefined;
  role(): "leader" | "standby" | "disabled";
  indexedBlock(): bigint | null;
  /** The indexer's state in this process, or null when this process does not index the chain. */
  indexerStatus(): { logRange: bigint } | null;
  failure(): string | null;
  /** The gas key's sender (the sweeper's and the collector's), in processes that may index the chain. */
  sender: { address: `0x${string}`; stats(): Promise<SenderStats> } | undefined;
}

export interface MetricsDeps {
  chains: readonly MetricsChain[];
  /** Orders per chain and status (server/src/orders). */
  orders(): Promise<ChainStatusCount[]>;
  /** The callback outbox's depth and age (server/src/callbacks). */
  outbox(): Promise<OutboxStats>;
  log: Logger;
  /** How long a key balance read from the node is reused, so a scrape storm does not hammer the node (default 5 s). */
  balanceCacheMs?: number;
  /** How long one read from the node may take before the scrape goes on without it (default 3 s). */
  nodeTimeoutMs?: number;
}

export interface Metrics {
  /** The Content-Type of `render()`'s text: Prometheus text exposition format 0.0.4. */
  readonly contentType: string;
  /** Reads the chains, the database and the counters now, and renders every metric as text. */
  render(): Promise<string>;
}

let processRegistry: Registry | undefined;
/**
 * The process's own metrics (CPU, memory, event loop lag, GC), once per process: they describe the
 * process, and each registration would add a GC observer for good.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

const withTimeout = <T>(promise: Promise<T>, ms: number): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
};

/** `read`, reused for `ms` after it answered (and shared while it runs); a failure is not kept. */
function cachedFor<T>(ms: number, read: () => Promise<T>): () => Promise<T> {
  let kept: { at: number; value: Promise<T> } | undefined;
  return () => {
    const now = performance.now();
    if (kept && now - kept.at < ms) return kept.value;
    const value = read();
    const entry = { at: now, value };
    kept = entry;
    value.catch(() => {
      if (kept === entry) kept = undefined;
    });
    return value;
  };
}

/**
 * The operator's metrics in their own registry (tests start several systems in one process). Every
 * value is read when scraped: heads and key balances from each chain's node (balances cached for a
 * few seconds), the indexers' state from this process, orders and the callback outbox from the
 * database through their modules. Docs: docs/operations.md, "Metrics".
 *
 * Sample values are float64, as Prometheus stores them: a balance in wei is exact to about 16
 * significant digits, enough to alert on, never to account with.
 */
export function createMetrics(deps: MetricsDeps): Metrics {
  const registry = new Registry();
  // The database's values, rendered only when the database answered (an unlabelled gauge would
  // otherwise read 0: "nothing queued" while nothing could be read).
  const fromDatabase = new Registry();
  const registers = [registry];
  const nodeTimeoutMs = deps.nodeTimeoutMs ?? 3_000;
  const gauge = (name: string, help: string, labelNames: string[] = [], into = registry) =>
    new Gauge({ name, help, labelNames, registers: [into] });
  const counter = (name: string, help: string, labelNames: string[]) =>
    new Counter({ name, help, labelNames, registers });

  const chainInfo = gauge("ethpos_chain_info", "A configured chain: its name, chain id (always 1)", [
    "chain",
    "chain_id",
  ]);
  const nodeUp = gauge(
    "ethpos_chain_node_up",
    "1 when the chain's node answered eth_blockNumber in this scrape",
    ["chain"],
  );
  const head = gauge("ethpos_chain_head_block", "The chain's head block, as its node reports it now", [
    "chain",
  ]);
  const indexed = gauge(
    "ethpos_indexer_indexed_block",
    "The newest block whose effects are in the database (the indexer's cursor)",
    ["chain"],
  );
  const lag = gauge("ethpos_indexer_lag_blocks", "Head block minus indexed block", ["chain"]);
  const leader = gauge("ethpos_indexer_leader", "1 when this process leads (runs) the chain's indexer", [
    "chain",
  ]);
  const failed = gauge(
    "ethpos_indexer_failed",
    "1 when the chain's indexer stopped on a non-retryable error (new orders on it are refused)",
    ["chain"],
  );
  const logRange = gauge(
    "ethpos_indexer_log_range_blocks",
    "Blocks per eth_getLogs request of the backfill now (adapts to the node's limits); set in the leading process",
    ["chain"],
  );
  const batchSize = gauge(
    "ethpos_rpc_batch_size",
    "JSON-RPC calls per HTTP batch now (RPC_BATCH_SIZE, halved when the provider refuses a batch for its size)",
    ["chain"],
  );
  const rpcCalls = counter(
    "ethpos_rpc_requests_total",
    "JSON-RPC calls made to the chain's node, by method",
    ["chain", "method"],
  );
  const rpcSeconds = counter(
    "ethpos_rpc_request_seconds_total",
    "Seconds spent waiting for the node's answers, by method",
    ["chain", "method"],
  );
  const rpcErrors = counter(
    "ethpos_rpc_errors_total",
    "JSON-RPC calls that failed, by method and kind (timeout, rate_limited, range_too_large, batch_too_large, reverted, rpc, http, network, other)",
    ["chain", "method", "kind"],
  );
  const orders = gauge("ethpos_orders", "Orders in each status", ["chain", "status"], fromDatabase);
  const outboxDepth = gauge(
    "ethpos_callbacks_outbox_depth",
    "Callbacks not yet delivered, by status",
    ["status"],
    fromDatabase,
  );
  const outboxDue = gauge(
    "ethpos_callbacks_outbox_due",
    "Pending callbacks whose time to be sent has come",
    [],
    fromDatabase,
  );
  const outboxAge = gauge(
    "ethpos_callbacks_outbox_oldest_age_seconds",
    "Seconds since the oldest undelivered callback was queued (0 when none is)",
    [],
    fromDatabase,
  );
  const outboxDueAge = gauge(
    "ethpos_callbacks_outbox_oldest_due_seconds",
    "Seconds the oldest due callback has waited past its time: workers behind or stopped (0 when none is)",
    [],
    fromDatabase,
  );
  const keyBalance = gauge(
    "ethpos_gas_key_balance_wei",
    "Balance of the gas key (SWEEPER_PRIVATE_KEY: the sweeper and the collector), in wei",
    ["chain", "address"],
  );
  const keyPending = gauge(
    "ethpos_gas_key_pending_transactions",
    "The gas key's transactions not settled yet, by purpose (sweep, collect) and state (sent, mined)",
    ["chain", "purpose", "state"],
  );
  const keyFeeCap = gauge(
    "ethpos_gas_key_newest_fee_cap_wei",
    "The most the newest transaction of each purpose could cost (gas limit × max fee per gas), in wei",
    ["chain", "purpose"],
  );
  const databaseUp = gauge("ethpos_database_up", "1 when the database answered this scrape's reads");

  const balances = new Map<MetricsChain, () => Promise<bigint>>();
  for (const c of deps.chains) {
    const address = c.sender?.address;
    if (address)
      balances.set(
        c,
        cachedFor(deps.balanceCacheMs ?? 5_000, () =>
          withTimeout(c.client.getBalance({ address }), nodeTimeoutMs),
        ),
      );
  }

  const warn = (what: string, error: unknown) => deps.log.warn(`metrics: ${what}: ${firstLine(error)}`);

  async function readChain(chain: MetricsChain) {
    const labels = { chain: chain.name };
    chainInfo.set({ chain: chain.name, chain_id: chain.chainId.toString() }, 1);
    leader.set(labels, chain.role() === "leader" ? 1 : 0);
    failed.set(labels, chain.failure() === null ? 0 : 1);
    const status = chain.indexerStatus();
    if (status && chain.role() === "leader") logRange.set(labels, Number(status.logRange));
    const batch = chain.rpcBatchSize?.();
    if (batch !== undefined) batchSize.set(labels, batch);
    const indexedBlock = chain.indexedBlock();
    if (indexedBlock !== null) indexed.set(labels, Number(indexedBlock));
    const headBlock = await withTimeout(chain.client.getBlockNumber(), nodeTimeoutMs).catch(
      (error: unknown) => {
        warn(`${chain.name}: head`, error);
        return null;
      },
    );
    nodeUp.set(labels, headBlock === null ? 0 : 1);
    if (headBlock !== null) {
      head.set(labels, Number(headBlock));
      if (indexedBlock !== null) lag.set(labels, Number(headBlock - indexedBlock));
    }

    for (const s of chain.rpc?.snapshot() ?? []) {
      rpcCalls.inc({ ...labels, method: s.method }, s.calls);
      rpcSeconds.inc({ ...labels, method: s.method }, s.seconds);
      for (const [kind, n] of Object.entries(s.errors))
        rpcErrors.inc({ ...labels, method: s.method, kind }, n);
    }

    const sender = chain.sender;
    const balance = balances.get(chain);
    if (!sender || !balance) return;
    const [wei, stats] = await Promise.all([
      balance().catch((error: unknown) => {
        warn(`${chain.name}: gas key balance`, error);
        return null;
      }),
      sender.stats().catch((error: unknown) => {
        warn(`${chain.name}: gas key transactions`, error);
        return null;
      }),
    ]);
    // Number() only here, at the Prometheus edge: a sample value is a float64 by the text format,
    // read by alerts ("balance below N sweeps"), never by money code, which keeps these as bigint.
    if (wei !== null) keyBalance.set({ ...labels, address: sender.address }, Number(wei));
    // Every purpose the key has sent for has both open states, 0 included (an alert sees no gap).
    for (const f of stats?.newestFeeCap ?? [])
      for (const state of OPEN_STATES) keyPending.set({ ...labels, purpose: f.purpose, state }, 0);
    for (const o of stats?.open ?? [])
      keyPending.set({ ...labels, purpose: o.purpose, state: o.state }, Number(o.count));
    for (const f of stats?.newestFeeCap ?? [])
      keyFeeCap.set({ ...labels, purpose: f.purpose }, Number(f.wei));
  }

  async function readDatabase(): Promise<boolean> {
    const [counts, outbox] = await Promise.all([deps.orders(), deps.outbox()]);
    const names = new Map(deps.chains.map((c) => [c.chainId, c.name]));
    // Every status of every configured chain has a value, 0 included: an alert on it never sees "no data".
    for (const c of deps.chains)
      for (const status of ORDER_STATUSES) orders.set({ chain: c.name, status }, 0);
    for (const r of counts) {
      orders.set({ chain: names.get(r.chainId) ?? `chain-${r.chainId}`, status: r.status }, Number(r.count));
    }
    outboxDepth.set({ status: "pending" }, Number(outbox.pending));
    outboxDepth.set({ status: "sending" }, Number(outbox.sending));
    outboxDue.set(Number(outbox.due));
    outboxAge.set(outbox.oldestAgeSeconds);
    outboxDueAge.set(outbox.oldestDueSeconds);
    return true;
  }

  async function render(): Promise<string> {
    // Each scrape starts from nothing: a value that cannot be read now is absent, never stale.
    registry.resetMetrics();
    fromDatabase.resetMetrics();
    const [database] = await Promise.all([
      readDatabase().catch((error: unknown) => {
        warn("database", error);
        return false;
      }),
      ...deps.chains.map(readChain),
    ]);
    databaseUp.set(database ? 1 : 0);
    const parts = [processMetrics(), ...(database ? [fromDatabase] : []), registry];
    let text = "";
    for (const part of parts) text += await part.metrics();
    return text;
  }

  // One scrape at a time: a second one waits, so neither renders the other's half-filled values.
  let tail: Promise<unknown> = Promise.resolve();
  return {
    contentType: registry.contentType,
    render() {
      const run = tail.then(render, render);
      tail = run.catch(() => undefined);
      return run;
    },
  };
}
