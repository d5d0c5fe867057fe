import assert from "node:assert/strict";
import { parseAbi, type Hex } from "viem";
import type { CallbackConfig } from "../../server/src/config/callbacks.ts";
import type { Config, Env } from "../../server/src/config/index.ts";
import type { Logger } from "../../server/src/lib/log.ts";
import type { ProductionContext } from "../../server/src/runtime/modules.ts";
import type { ChainIndexer, ChainIndexerOptions } from "../../server/src/runtime/pipeline.ts";
import { startSystem, type System } from "../../server/src/system.ts";
import { testConfig } from "./config.ts";
import { createTestDb, type TestDb } from "./db.ts";
import { catchUp, pipelineIndexer } from "./indexing.ts";
import { freePort, startNodeChain } from "./node-chain.ts";

export type NodeChain = Awaited<ReturnType<typeof startNodeChain>>;

/**
 * The contracts the chain modules need besides the payment contract, deployed from the compiled
 * artifacts before the system starts and configured for it:
 * - "usdc": a MockStablecoin allowed in the processor, TOKENS=USDC:<address>:6;
 * - "multicall3": Multicall3 for the deposits module's balance reads, MULTICALL3_ADDRESS;
 * - "subscriptions": the Subscriptions contract bound to the processor, SUBSCRIPTIONS_ADDRESS.
 * Which modules run is not a choice: the system builds every chain from the production list
 * (server/src/runtime/modules.ts), as `npm start` does.
 */
export type ChainPart = "usdc" | "multicall3" | "subscriptions";

/**
 * A wall clock the test holds: it reads Date.now until the test sets it, then stays where it was
 * set (the recurring billing clock of the system and of its pipeline).
 */
export interface TestClock {
  now(): number;
  /** Holds the clock at `ms`. */
  set(ms: number): void;
  /** Holds the clock at the chain's latest block time. */
  toChain(): Promise<number>;
  /** Moves the chain's time to `seconds` (if later than its head), mines a block and holds the clock there. */
  advanceTo(seconds: number): Promise<void>;
}

export interface NodeSystemOptions {
  /**
   * Configuration over the test defaults (test/support/config.ts) and what the harness sets:
   * RPC_URL and CONTRACT_ADDRESS of the chain, and the addresses of the `modules` it deployed.
   * A function gets the chain and those addresses (for variables that name them).
   */
  env?: Env | ((chain: NodeChain, deployed: Deployed) => Env);
  /** The chain modules' contracts to deploy (ChainPart). */
  modules?: readonly ChainPart[];
  /**
   * The `hardhat node` to use, or the chain id and network (e.g. "opLocal", an OP-stack chain) of
   * the one the harness starts. A node the test passes in stays the test's (several systems may
   * follow it in turn): close() stops only a node the harness started.
   */
  chain?: NodeChain | Parameters<typeof startNodeChain>[0];
  /** Runs after the contracts are deployed, before the database and the system start (mints, funding). */
  prepare?: (chain: NodeChain, deployed: Deployed) => Promise<void>;
  /** Holds the test clock at the chain's time from the start (recurring billing tests). */
  clockAtChain?: boolean;
  /**
   * Listens on a free loopback port, as a browser or another process needs (PUBLIC_URL is its URL
   * unless `env` sets it); otherwise the test uses app.inject.
   */
  listen?: boolean;
  log?: Logger;
  callbacks?: CallbackConfig;
  /**
   * The pipeline the test steps (RUN_INDEXER=false, the default): parts of the first chain's module
   * context to replace (the event subscribers, …) and indexer options.
   */
  pipeline?: { context?: Partial<ProductionContext> } & Partial<ChainIndexerOptions>;
}

export interface Deployed {
  usdc: Hex | undefined;
  multicall3: Hex | undefined;
  subscriptions: Hex | undefined;
}

export interface NodeSystem extends Deployed {
  chain: NodeChain;
  testDb: TestDb;
  config: Config;
  system: System;
  /** The API's URL when it listens (`listen`), else undefined. */
  baseUrl: string | undefined;
  clock: TestClock;
  /**
   * The production pipeline over the first chain, stepped by the test (undefined when the system
   * runs its own indexer, RUN_INDEXER=true).
   */
  indexer: ChainIndexer | undefined;
  /** Sends a contract call from one of the node's accounts and asserts it succeeded; its receipt. */
  send(
    from: Hex,
    to: Hex,
    abi: readonly unknown[],
    functionName: string,
    args: readonly unknown[],
  ): ReturnType<NodeChain["client"]["waitForTransactionReceipt"]>;
  /** Steps the test's pipeline to the chain's head. */
  catchUp(): Promise<void>;
  /** Stops the system, drops the database and stops the chain (when the harness started it). */
  close(): Promise<void>;
}

const processorAbi = parseAbi(["function setTokenAllowed(address token, bool allowed)"]);

/** Deploys the chain parts the system's modules need (see ChainPart). */
export async function deployChainParts(chain: NodeChain, parts: readonly ChainPart[]): Promise<Deployed> {
  const deployed: Deployed = { usdc: undefined, multicall3: undefined, subscriptions: undefined };
  if (parts.includes("multicall3"))
    deployed.multicall3 = await chain.deploy("mocks/Multicall3.sol/Multicall3.json");
  if (parts.includes("usdc")) {
    deployed.usdc = await chain.deploy("mocks/MockStablecoin.sol/MockStablecoin.json");
    await sendCall(chain, chain.owner, chain.contract, processorAbi, "setTokenAllowed", [
      deployed.usdc,
      true,
    ]);
  }
  if (parts.includes("subscriptions"))
    deployed.subscriptions = await chain.deploy("subscriptions/Subscriptions.sol/Subscriptions.json", [
      chain.contract,
    ]);
  return deployed;
}

async function sendCall(
  chain: NodeChain,
  from: Hex,
  to: Hex,
  abi: readonly unknown[],
  functionName: string,
  args: readonly unknown[],
) {
  const hash = await chain.wallet.writeContract({
    address: to,
    abi: abi as never,
    functionName: functionName as never,
    args: args as never,
    account: from,
    chain: null,
  });
  const receipt = await chain.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  assert.equal(receipt.status, "success");
  return receipt;
}

function testClock(chain: NodeChain): TestClock {
  let held: number | undefined;
  const clock: TestClock = {
    now: () => held ?? Date.now(),
    set(ms) {
      held = ms;
    },
    async toChain() {
      held = Number((await chain.client.getBlock()).timestamp) * 1000;
      return held;
    },
    async advanceTo(seconds) {
      const latest = await chain.client.getBlock();
      const by = seconds - Number(latest.timestamp);
      if (by > 0) await chain.rpc("evm_increaseTime", [by]);
      await chain.mine(1);
      held = seconds * 1000;
    },
  };
  return clock;
}

/**
 * A `hardhat node` process with the payment contract (and the contracts of `modules`), a fresh
 * database, and the system on them, started by startSystem as `npm start` starts it: every chain
 * built from the production modules by the production pipeline builder. The test holds the clock
 * and, with RUN_INDEXER=false (the test default), steps that pipeline itself.
 */
export async function startNodeSystem(options: NodeSystemOptions = {}): Promise<NodeSystem> {
  const given = options.chain && "deploy" in options.chain ? options.chain : undefined;
  const chain =
    given ?? (await startNodeChain(options.chain && !("deploy" in options.chain) ? options.chain : {}));
  let testDb: TestDb | undefined;
  let started: System | undefined;
  try {
    const deployed = await deployChainParts(chain, options.modules ?? []);
    await options.prepare?.(chain, deployed);
    const extra = typeof options.env === "function" ? options.env(chain, deployed) : (options.env ?? {});
    const port = options.listen ? await freePort() : undefined;
    const baseUrl = port === undefined ? undefined : `http://127.0.0.1:${port}`;
    const config = testConfig({
      ...(baseUrl ? { PUBLIC_URL: baseUrl } : {}),
      RPC_URL: chain.url,
      CONTRACT_ADDRESS: chain.contract,
      ...(deployed.usdc ? { TOKENS: `USDC:${deployed.usdc}:6` } : {}),
      ...(deployed.multicall3 ? { MULTICALL3_ADDRESS: deployed.multicall3 } : {}),
      ...(deployed.subscriptions ? { SUBSCRIPTIONS_ADDRESS: deployed.subscriptions } : {}),
      ...extra,
    });
    testDb = await createTestDb();
    const clock = testClock(chain);
    if (options.clockAtChain) await clock.toChain();
    const system = await startSystem(config, {
      db: testDb.db,
      listen: false,
      now: clock.now,
      ...(options.log ? { log: options.log } : {}),
      ...(options.callbacks ? { callbacks: options.callbacks } : {}),
    });
    started = system;
    if (port !== undefined) await system.app.listen({ host: "127.0.0.1", port });
    const { context, ...indexerOptions } = options.pipeline ?? {};
    const indexer = config.runIndexer
      ? undefined
      : pipelineIndexer(system.chains[0], {
          ...indexerOptions,
          context: { client: chain.client, now: clock.now, ...context },
        });
    const db = testDb;
    return {
      chain,
      testDb: db,
      config,
      system,
      baseUrl,
      clock,
      indexer,
      ...deployed,
      send: (from, to, abi, functionName, args) => sendCall(chain, from, to, abi, functionName, args),
      async catchUp() {
        if (!indexer) throw new Error("the system runs its own indexer (RUN_INDEXER=true)");
        await catchUp(indexer);
      },
      async close() {
        await system.close();
        await db.drop();
        if (!given) await chain.stop();
      },
    };
  } catch (error) {
    await started?.close();
    await testDb?.drop();
    if (!given) await chain.stop();
    throw error;
  }
}
