import type { PublicClient } from "viem";
import type { Queryable } from "../db/types.ts";

export interface HealthServiceDeps {
  db: Queryable;
  chain: { client: PublicClient; chainId: bigint; contract: `0x${string}` };
  confirmations: number;
  /** The newest block whose effects are in the database, if known. */
  indexedBlock: () => bigint | null;
  /** The indexer's state in this process, or null when this process does not index. */
  indexerStatus: () => { state: string; lastError: string | null } | null;
  indexerRole: () => "leader" | "standby" | "disabled";
  /** Extra sections, e.g. failing callback receivers or address gap limits. */
  checks?: Record<string, () => Promise<unknown>>;
}

export interface HealthReport {
  /** Whether the process can serve: the database and the chain answer and the indexer has not failed. */
  ok: boolean;
  /** The /health body. */
  body: Record<string, unknown>;
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

/** Database, chain and indexer readiness plus whatever the optional components report. */
export function createHealthService(deps: HealthServiceDeps): HealthService {
  return {
    async check() {
      const database = await withTimeout(deps.db.query("SELECT 1"), 2_000).then(
        () => ({ ok: true as const }),
        (error: Error) => ({ ok: false as const, error: error.message.split("\n")[0] }),
      );
      const head = await withTimeout(deps.chain.client.getBlockNumber({ cacheTime: 0 }), 3_000).then(
        (n) => n,
        () => null,
      );
      const indexer = deps.indexerStatus();
      const indexed = deps.indexedBlock();
      const chain = {
        ok: head !== null,
        chain_id: Number(deps.chain.chainId),
        contract: deps.chain.contract,
        head_block: head === null ? null : Number(head),
        indexed_block: indexed === null ? null : Number(indexed),
        lag_blocks: head === null || indexed === null ? null : Number(head - indexed),
        confirmations: deps.confirmations,
      };
      const extras: Record<string, unknown> = {};
      for (const [name, check] of Object.entries(deps.checks ?? {})) {
        extras[name] = await check().catch((error: Error) => ({ ok: false, error: error.message }));
      }
      const ok = database.ok && chain.ok && indexer?.state !== "failed";
      return {
        ok,
        body: {
          status: ok ? "ok" : "unavailable",
          database,
          chain,
          indexer: indexer
            ? { state: indexer.state, last_error: indexer.lastError, role: deps.indexerRole() }
            : { state: "disabled", role: deps.indexerRole() },
          ...extras,
        },
      };
    },
  };
}
