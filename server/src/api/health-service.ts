import type { PublicClient } from "viem";
import type { Queryable } from "../db/types.ts";
import { firstLine } from "../lib/errors.ts";

/** One configured chain as /health reports it (server/src/runtime's ChainRuntime is one). */
export interface ChainHealthSource {
  name: string;
  chainId: bigint;
  contract: `0x${string}`;
  client: PublicClient;
  /**
   * The node's head, read at most every second or so and, while the node refuses (a burst of
   * 429s), the last one read in the past half minute; default: a fresh eth_blockNumber.
   */
  head?(): Promise<bigint>;
  confirmations: number;
  /** The newest block whose effects are in the database, if known. */
  indexedBlock(): bigint | null;
  /** The indexer's state in this process, or null when this process does not index the chain. */
  indexerStatus(): { state: string; lastError: string | null } | null;
  role(): "leader" | "standby" | "disabled";
  /** Why payments on this chain would not be seen now (its indexer stopped), or null. */
  failure(): string | null;
  /**
   * The chain modules' own sections of the report (deposit addresses, token subscriptions), each
   * from its module's `health` (server/src/runtime/modules.ts lists them).
   */
  moduleHealth?(): Record<string, unknown>;
  /** The chain's rate sources: per source, per pair asked so far, the last answer's age and last error. */
  rates?: { health(): Record<string, Record<string, unknown>> };
}

export interface HealthServiceDeps {
  db: Queryable;
  /** The configured chains; the first is also reported as `chain` and `indexer`, as before. */
  chains: readonly ChainHealthSource[];
  /** Extra sections, e.g. failing callback receivers or address gap limits. */
  checks?: Record<string, () => Promise<unknown>>;
}

export type ComponentState = "up" | "down";

/** What anyone may see: up or down per component, nothing else (docs/security.md, finding 4). */
export interface HealthSummary {
  status: "ok" | "unavailable";
  database: ComponentState;
  /** Per configured chain, by name: its node answers and its indexer has not stopped. */
  chains: Record<string, ComponentState>;
  /** Every chain's indexer (where this process or another one runs it) has not failed. */
  indexer: ComponentState;
  /** Present for each extra check (callbacks, eletropay): its check answered. */
  [component: string]: unknown;
}

export interface HealthReport {
  /** Whether the process can serve: the database and the chain answer and the indexer has not failed. */
  ok: boolean;
  /** The detailed body: for the operator only (admin token). */
  body: Record<string, unknown>;
  /** The public body: up or down per component. */
  summary: HealthSummary;
}

export interface HealthService {
  check(): Promise<HealthReport>;
}

const withTimeout = <T>(promise: Promise<T>, ms: number) => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
};

/**
 * Database, chains and indexers readiness plus whatever the optional components report. 503 when
 * the database or any chain's node does not answer, or when any chain's indexer has stopped: the
 * body's `unavailable` names each such chain and why.
 */
export function createHealthService(deps: HealthServiceDeps): HealthService {
  async function chainReport(chain: ChainHealthSource) {
    const read = chain.head ? chain.head() : chain.client.getBlockNumber({ cacheTime: 0 });
    const head = await withTimeout(read, 3_000).then(
      (n) => n,
      () => null,
    );
    const indexer = chain.indexerStatus();
    const indexed = chain.indexedBlock();
    const failure =
      chain.failure() ?? (indexer?.state === "failed" ? (indexer.lastError ?? "indexer failed") : null);
    return {
      failure,
      head,
      body: {
        ok: head !== null,
        name: chain.name,
        chain_id: Number(chain.chainId),
        contract: chain.contract,
        head_block: head === null ? null : Number(head),
        indexed_block: indexed === null ? null : Number(indexed),
        lag_blocks: head === null || indexed === null ? null : Number(head - indexed),
        confirmations: chain.confirmations,
        ...chain.moduleHealth?.(),
        ...(chain.rates ? { rates: chain.rates.health() } : {}),
      },
      indexer: indexer
        ? { state: indexer.state, last_error: indexer.lastError, role: chain.role() }
        : failure
          ? { state: "failed", last_error: failure, role: chain.role() }
          : { state: "disabled", role: chain.role() },
    };
  }

  return {
    async check() {
      const database = await withTimeout(deps.db.query("SELECT 1"), 2_000).then(
        () => ({ ok: true as const }),
        (error: Error) => ({ ok: false as const, error: firstLine(error) }),
      );
      const chains = await Promise.all(deps.chains.map(chainReport));
      const extras: Record<string, unknown> = {};
      const extraStates: Record<string, ComponentState> = {};
      for (const [name, check] of Object.entries(deps.checks ?? {})) {
        extras[name] = await check().then(
          (value) => {
            extraStates[name] = "up";
            return value;
          },
          (error: Error) => {
            extraStates[name] = "down";
            return { ok: false, error: error.message };
          },
        );
      }
      const unavailable: string[] = [];
      for (const c of chains) {
        if (c.failure !== null) unavailable.push(`${c.body.name} (chain ${c.body.chain_id}): ${c.failure}`);
        else if (c.head === null)
          unavailable.push(`${c.body.name} (chain ${c.body.chain_id}): the node does not answer`);
      }
      const ok = database.ok && unavailable.length === 0;
      const first = chains[0];
      const summary: HealthSummary = {
        status: ok ? "ok" : "unavailable",
        database: database.ok ? "up" : "down",
        chains: Object.fromEntries(
          chains.map((c) => [c.body.name, c.head !== null && c.failure === null ? "up" : "down"]),
        ),
        indexer: chains.some((c) => c.failure !== null) ? "down" : "up",
        ...extraStates,
      };
      return {
        ok,
        summary,
        body: {
          status: ok ? "ok" : "unavailable",
          ...(unavailable.length > 0 ? { unavailable } : {}),
          database,
          chain: first?.body ?? null,
          indexer: first?.indexer ?? { state: "disabled", role: "disabled" },
          chains: chains.map((c) => ({ ...c.body, indexer: c.indexer })),
          ...extras,
        },
      };
    },
  };
}
