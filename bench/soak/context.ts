/**
 * The soak's one context: the profile and seed, the seeded random source, the deployment (the
 * database, the chains, the receivers, the processes), the run's clock and flags, and the counters
 * that the lanes, the faults and the checks share. Every part of the soak takes it as its first
 * argument; nothing of the run lives in a closure.
 */
import type { Hex } from "viem";
import type { Db } from "../../server/src/db/index.ts";
import { rng } from "../../test/helpers/fuzz-corpus.ts";
import type { startNodeChain } from "../../test/support/node-chain.ts";
import type { FaultProxy } from "./fault-proxy.ts";
import type { PgCluster } from "./pg-cluster.ts";
import type { ProviderSim } from "../../test/support/provider-sim.ts";
import type { Receiver } from "../../test/support/receiver.ts";
import type { Managed, Supervisor } from "./supervisor.ts";
import { now } from "./util.ts";

// ───────────────────────────── profiles ─────────────────────────────

export type FaultKind =
  "reorg" | "kill9" | "pgRestart" | "pgPause" | "rpcOutage" | "rpcSlow" | "provider" | "receiver";
export const FAULT_KINDS: FaultKind[] = [
  "reorg",
  "kill9",
  "pgRestart",
  "pgPause",
  "rpcOutage",
  "rpcSlow",
  "provider",
  "receiver",
];

export interface Profile {
  minutes: number;
  chains: number;
  confirmations: number;
  blockMs: number;
  /** Faults to inject (the figures to reach). */
  faults: Record<FaultKind, number>;
  malformed: number;
  bursts: number;
}

export const PROFILES: Record<string, Profile> = {
  short: {
    minutes: 3,
    chains: 1,
    confirmations: 3,
    blockMs: 1_000,
    faults: {
      reorg: 5,
      kill9: 3,
      pgRestart: 1,
      pgPause: 1,
      rpcOutage: 2,
      rpcSlow: 1,
      provider: 2,
      receiver: 3,
    },
    malformed: 600,
    bursts: 2,
  },
  medium: {
    minutes: 12,
    chains: 2,
    confirmations: 3,
    blockMs: 1_500,
    faults: {
      reorg: 20,
      kill9: 10,
      pgRestart: 2,
      pgPause: 2,
      rpcOutage: 4,
      rpcSlow: 2,
      provider: 4,
      receiver: 5,
    },
    malformed: 2_000,
    bursts: 4,
  },
  long: {
    minutes: 55,
    chains: 2,
    confirmations: 3,
    blockMs: 1_500,
    faults: {
      reorg: 100,
      kill9: 50,
      pgRestart: 10,
      pgPause: 10,
      rpcOutage: 20,
      rpcSlow: 10,
      provider: 20,
      receiver: 20,
    },
    malformed: 10_000,
    bursts: 20,
  },
};

/** What the command line chose. */
export interface SoakOptions {
  profileName: string;
  profile: Profile;
  seed: number;
  /** A deposit order dated otherwise by the reindex fails the run (unless --lenient-reindex). */
  strictReindex: boolean;
}

// ───────────────────────────── the deployment ─────────────────────────────

export interface SoakChain {
  name: string;
  chainId: bigint;
  node: Awaited<ReturnType<typeof startNodeChain>>;
  /** The chain's hosted-provider simulator, in front of the node (the `provider` fault sets its personality). */
  sim: ProviderSim;
  /** The fault proxy in front of the simulator: what the system's processes are given as RPC_URL. */
  proxy: FaultProxy;
  usdc: `0x${string}`;
  /** The Subscriptions contract (token_pull recurring billing), bound to this chain's processor. */
  subscriptions: `0x${string}`;
  multicall3: `0x${string}`;
  /** EthForwarder: pays a deposit address with an internal transfer (no transaction to it). */
  forwarder: `0x${string}`;
  customers: `0x${string}`[];
}

/** What stack.ts starts: the database cluster and its proxy, the chains, the receivers, the processes. */
export interface Stack {
  cluster: PgCluster;
  /** The proxy in front of PostgreSQL that every server process goes through (pause). */
  pgProxy: FaultProxy;
  /** The soak's own connection, straight to the cluster (not through the proxy). */
  db: Db;
  chains: SoakChain[];
  receivers: Receiver[];
  supervisor: Supervisor;
  apis: Managed[];
}

/** Teardown steps, run last-in first-out, once. */
export class Teardown {
  private readonly steps: (() => Promise<void> | void)[] = [];
  private done = false;
  add(step: () => Promise<void> | void) {
    this.steps.push(step);
  }
  async run() {
    if (this.done) return;
    this.done = true;
    for (const step of this.steps.reverse()) {
      try {
        await step();
      } catch (error) {
        console.error(`soak: cleanup: ${(error as Error).message}`);
      }
    }
  }
}

/** What the soak has before its deployment: the options, the seeded random source, the teardown. */
export interface SoakBase extends SoakOptions {
  random: () => number;
  pick: <T>(list: readonly T[]) => T;
  between: (lo: number, hi: number) => number;
  /** When the soak started (start-up included): the log's time base and the figures' minutes. */
  started: number;
  /** Where each server process writes its log. */
  logDir: string;
  teardown: Teardown;
}

export function createBase(options: SoakOptions, logDir: string): SoakBase {
  const random = rng(options.seed);
  return {
    ...options,
    random,
    pick: <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T,
    between: (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1)),
    started: now(),
    logDir,
    teardown: new Teardown(),
  };
}

// ───────────────────────────── the run's counters ─────────────────────────────

export class Stats {
  readonly recovery = new Map<FaultKind, number[]>();
  readonly injected = new Map<string, number>();
  readonly notes: string[] = [];
  add(kind: FaultKind, detail: string, recoveryMs: number) {
    this.injected.set(kind, (this.injected.get(kind) ?? 0) + 1);
    this.injected.set(`${kind}:${detail}`, (this.injected.get(`${kind}:${detail}`) ?? 0) + 1);
    const list = this.recovery.get(kind) ?? [];
    list.push(recoveryMs);
    this.recovery.set(kind, list);
  }
}

/** An order the stream made, and what it means to pay it. */
export interface StreamOrder {
  id: number;
  chain: SoakChain;
  reference: Hex;
  address: `0x${string}`;
  token: "ETH" | "USDC";
  expected: bigint;
  createdAt: number;
  paid: boolean;
}

/** A subscription the stream made: its period 0 and where to pay it. */
export interface StreamSubscription {
  id: number;
  chain: SoakChain;
  method: "deposit" | "token_pull";
  token: "ETH" | "USDC";
  reference: Hex;
  address: `0x${string}`;
  expected: bigint;
}

/** The hostile requests and how they were answered. */
export interface Malformed {
  sent: number;
  fiveXx: number;
  fiveXxDuringFaults: number;
  unreachable: number;
  byStatus: Record<string, number>;
  examples: string[];
}

/** A keyed burst of 3× a plan's daily limit. */
export interface Burst {
  merchant: string;
  limit: number;
  accepted: number;
  plan: string;
}

export interface SoakContext extends SoakBase, Stack {
  /** The chains' merchant (Hardhat account #2), paid by every order. */
  merchantAddress: `0x${string}`;
  /** The profile's minutes, in ms. */
  durationMs: number;
  /** When the profile's minutes started counting (startClock): start-up time is not soak time. */
  t0: number;
  /** When the stream and the faults stop (t0 + durationMs; later while planned faults remain). */
  stopAt: number;
  /** False once the stream and the faults stop: every lane ends its loop. */
  running: boolean;
  /** Fault windows: 503s answered while a dependency is down are the documented answer, not a failure. */
  degradedUntil: number;
  /** What the last probe of `settled` found not settled (logged after a slow recovery). */
  notSettled: string;
  stats: Stats;
  faultFailures: string[];
  orders: StreamOrder[];
  subscriptions: StreamSubscription[];
  /** The stream's actions counted by kind (and failures, by answer). */
  sent: Map<string, number>;
  /** Orders and subscriptions call back to the receivers in turn. */
  callbackTurn: number;
  malformed: Malformed;
  bursts: Burst[];
}

export function createContext(base: SoakBase, stack: Stack): SoakContext {
  const durationMs = base.profile.minutes * 60_000;
  return {
    ...base,
    ...stack,
    merchantAddress: stack.chains[0]?.node.merchant as `0x${string}`,
    durationMs,
    t0: 0,
    stopAt: 0,
    running: true,
    degradedUntil: 0,
    notSettled: "",
    stats: new Stats(),
    faultFailures: [],
    orders: [],
    subscriptions: [],
    sent: new Map(),
    callbackTurn: 0,
    malformed: { sent: 0, fiveXx: 0, fiveXxDuringFaults: 0, unreachable: 0, byStatus: {}, examples: [] },
    bursts: [],
  };
}

/** The profile's minutes count from here. */
export function startClock(ctx: SoakContext) {
  ctx.t0 = now();
  ctx.stopAt = ctx.t0 + ctx.durationMs;
}

/** A line of the run's log, stamped with the seconds since the soak started. */
export function log(ctx: SoakBase, line: string) {
  console.log(`[${((now() - ctx.started) / 1000).toFixed(1).padStart(7)} s] ${line}`);
}

/** For `ms` from now, a 503 is the documented answer of a dependency that is down. */
export function markDegraded(ctx: SoakContext, ms: number) {
  ctx.degradedUntil = Math.max(ctx.degradedUntil, now() + ms);
}

/** Counts one of the stream's actions (or failures) by name. */
export function count(ctx: SoakContext, what: string) {
  ctx.sent.set(what, (ctx.sent.get(what) ?? 0) + 1);
}

export const apiUrl = (m: Managed) => `http://127.0.0.1:${m.port}`;
