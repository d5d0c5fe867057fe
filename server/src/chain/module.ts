import type { PublicClient } from "viem";
import type { ChainConfig, TokenConfig } from "../config/chains.ts";
import type { Db, Queryable } from "../db/types.ts";
import type { BlockReader, IdleContext, Source, Step } from "../indexer/types.ts";
import type { Logger } from "../lib/log.ts";
import type { PriceSource } from "../pricing/index.ts";
import type { Sender, SendingPolicy } from "../sender/sender.ts";
import type { ChainEvent } from "./events.ts";

/**
 * Whether a deposit address can be used again after its sweep on this chain:
 * - `ok`: a second sweep of the same address, in a later transaction, worked (`how` says how it was seen);
 * - `broken`: a definite no (the second sweep failed, the account outlived its sweep, or the contract
 *   derives other addresses than this server): deposit addresses must not be handed out here;
 * - `unknown`: the node offers no way to simulate two transactions; deposit addresses stay on.
 */
export type DepositReuse =
  { state: "ok"; how: string } | { state: "broken"; reason: string } | { state: "unknown"; reason: string };

/**
 * What a chain module is built with: the chain as its runtime opened and checked it (node,
 * contracts, tokens, prices). A module that needs more (the order status subscribers, a clock)
 * says so in its own context type, and the module list's context is the sum of them.
 */
export interface ChainContext {
  readonly name: string;
  readonly chainId: bigint;
  readonly client: PublicClient;
  readonly db: Db;
  readonly log: Logger;
  /** The chain's settings (CONFIRMATIONS, the sweeper's key and policy, COLLECT_RETRY_BLOCKS, ...). */
  readonly config: ChainConfig;
  /** The PaymentProcessor. */
  readonly contract: `0x${string}`;
  readonly tokens: readonly TokenConfig[];
  readonly prices: PriceSource;
  readonly confirmations: number;
  /** Multicall3 for the balance reads, or undefined (a JSON-RPC batch of eth_getBalance). */
  readonly multicall3: `0x${string}` | undefined;
  /** The Subscriptions contract bound to the PaymentProcessor, or undefined (token subscriptions off). */
  readonly subscriptions: `0x${string}` | undefined;
  /** What the start-up check of deposit address reuse (EIP-6780) found. */
  readonly depositReuse: DepositReuse;
}

/** What a keeper runs with, on the process that leads the chain's indexer. */
export interface KeeperContext {
  /** The chain's one transaction sender (its gas-only key), or undefined when no key is set. */
  readonly sender: Sender | undefined;
  /** The newest block whose effects are in the database. */
  indexedBlock(): bigint | null;
}

/**
 * A typed result a module publishes for the modules after it in the list, on one step (e.g. the
 * deposit addresses the step touched). Made once, by the module that owns it, with `fact`.
 */
export interface Fact<T> {
  readonly name: string;
  /** Type only: the value's type. */
  readonly value?: T;
}

export const fact = <T>(name: string): Fact<T> => ({ name });

/** The facts published on one step, in the order the modules ran. */
export interface StepFacts {
  publish<T>(fact: Fact<T>, value: T): void;
  /** The fact's value; throws when no module before this one published it (a wrong module order). */
  read<T>(fact: Fact<T>): T;
  /** The fact's value, or undefined when no module published it. */
  find<T>(fact: Fact<T>): T | undefined;
}

export function createStepFacts(): StepFacts {
  const values = new Map<string, unknown>();
  return {
    publish(f, value) {
      if (values.has(f.name)) throw new Error(`the fact ${f.name} was published twice on one step`);
      values.set(f.name, value);
    },
    read<T>(f: Fact<T>): T {
      if (!values.has(f.name)) {
        throw new Error(
          `no module published ${f.name} before this one: put the module that owns it earlier in the module list`,
        );
      }
      return values.get(f.name) as T;
    },
    find: <T>(f: Fact<T>) => values.get(f.name) as T | undefined,
  };
}

/**
 * A module's side of each step, applied in the cursor's transaction after the modules before it
 * in the list: it reads what they published (`facts.read`) and publishes its own.
 */
export interface ModuleSink {
  apply(tx: Queryable, step: Step<ChainEvent>, facts: StepFacts): Promise<void>;
  /** Effects of time alone, at the head with nothing new (order expiry). */
  idle?(tx: Queryable, at: IdleContext, facts: StepFacts): Promise<void>;
}

/**
 * One chain capability (payments, deposits, token subscriptions, recurring, EletroPay's ETH), in
 * its own folder, plugged in by one line of the module list (server/src/runtime/modules.ts):
 *  - `sources` and `readers`: what the indexer follows for it (logs; state read per block);
 *  - `sink`: how a step changes its tables, in the cursor's transaction;
 *  - `keeper`: what it sends through the chain's transaction sender, beside the indexer, on the
 *    process that leads it (the sweeper, the collector);
 *  - `deleteChainData`: forgets the chain's rows of its tables (dev reset of a new local chain);
 *  - `health`: its sections of the chain's /health report.
 */
export interface ChainModule<Ctx = ChainContext> {
  readonly name: string;
  sources(ctx: Ctx): readonly Source<ChainEvent>[];
  readers?(ctx: Ctx): readonly BlockReader<ChainEvent>[];
  sink?(ctx: Ctx): ModuleSink | undefined;
  keeper?(ctx: Ctx, run: KeeperContext): SendingPolicy | undefined;
  deleteChainData(tx: Queryable, chainId: bigint): Promise<void>;
  health?(ctx: Ctx, keeper: SendingPolicy | undefined): Record<string, unknown>;
}
