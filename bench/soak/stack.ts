/**
 * Starts the deployment the soak runs against, and registers its teardown: a PostgreSQL cluster of
 * its own behind a fault proxy, `hardhat node` chains behind provider simulators behind fault
 * proxies, the callback receivers,
 * and the supervised API, indexer and callback worker processes.
 */
import { createDb, type Db } from "../../server/src/db/index.ts";
import { ROOT, setIntervalMining } from "../../scripts/lib/local-chain.ts";
import { freePort, startNodeChain } from "../../test/support/node-chain.ts";
import { startProviderSim } from "../../test/support/provider-sim.ts";
import { startReceiver, type Receiver } from "../../test/support/receiver.ts";
import { erc20, processorAbi } from "./abi.ts";
import { apiUrl, type Profile, type SoakBase, type SoakChain, type Stack } from "./context.ts";
import { startFaultProxy } from "./fault-proxy.ts";
import { createDatabase, startPgCluster } from "./pg-cluster.ts";
import { createSupervisor, type Managed, type Supervisor } from "./supervisor.ts";
import { now, sleep, until } from "./util.ts";

const ADMIN_TOKEN = "soak-admin-token-0123456789abcdef0123456789";
const CALLBACK_SECRET = "soak-callback-secret-0123456789abcdef";
/** Hardhat dev account #9: the sweeper's gas-only key. */
const SWEEPER_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6";

/** Starts the whole deployment; `base.teardown` stops it again. */
export async function startStack(base: SoakBase): Promise<Stack> {
  const { cluster, pgProxy, systemDbUrl, db } = await startDatabase(base);
  const chains: SoakChain[] = [];
  for (let i = 0; i < base.profile.chains; i++) {
    const c = await deployChain(i, base.profile.blockMs);
    chains.push(c);
    base.teardown.add(async () => {
      await c.proxy.close();
      await c.sim.close();
      await c.node.stop();
    });
  }
  const receivers: Receiver[] = [];
  for (let i = 0; i < 2; i++) {
    const r = await startReceiver({ path: "/callback" });
    receivers.push(r);
    base.teardown.add(() => r.close());
  }
  const supervisor: Supervisor = createSupervisor({
    node: `${ROOT}node_modules/.bin/node`,
    entry: `${ROOT}server/src/main.ts`,
    cwd: ROOT,
    logDir: base.logDir,
    restartDelayMs: 1_000,
  });
  base.teardown.add(() => supervisor.stop());
  const apis = await startProcesses(supervisor, (role) => serverEnv(chains, systemDbUrl, base.profile, role));
  return { cluster, pgProxy, db, chains, receivers, supervisor, apis };
}

/**
 * PostgreSQL of our own, behind a fault proxy (pause) for the system; the soak reads it directly.
 */
async function startDatabase(base: SoakBase) {
  const cluster = startPgCluster(await freePort());
  base.teardown.add(() => cluster.stop());
  createDatabase(cluster, "soak");
  const pgProxy = await startFaultProxy(cluster.port, await freePort(), "postgres");
  base.teardown.add(() => pgProxy.close());
  const systemDbUrl = `postgres://postgres@127.0.0.1:${pgProxy.port}/soak`;
  const db: Db = await createDb({ databaseUrl: cluster.url("soak"), dataDir: undefined });
  base.teardown.add(() => db.close());
  return { cluster, pgProxy, systemDbUrl, db };
}

/**
 * Two API processes, two indexer-capable processes (each competes for every chain's lock, one
 * leads per chain) and two callback workers. The first process migrates the database; the others
 * start once it has. Answers the API processes, once both answer.
 */
async function startProcesses(
  supervisor: Supervisor,
  envOf: (role: ServerRole) => Record<string, string>,
): Promise<Managed[]> {
  const apis: Managed[] = [];
  const apiPort = await freePort();
  apis.push(
    supervisor.add(
      "api-1",
      "api",
      envOf({ name: "api-1", api: true, indexer: false, worker: false, port: apiPort }),
      apiPort,
    ),
  );
  await until(
    async () => ((await fetch(`${apiUrl(apis[0] as Managed)}/health`)).status ? true : undefined),
    120_000,
    "api-1 up",
  );
  const port2 = await freePort();
  apis.push(
    supervisor.add(
      "api-2",
      "api",
      envOf({ name: "api-2", api: true, indexer: false, worker: false, port: port2 }),
      port2,
    ),
  );
  for (const name of ["indexer-1", "indexer-2"])
    supervisor.add(name, "indexer", envOf({ name, api: false, indexer: true, worker: false }));
  for (const name of ["worker-1", "worker-2"])
    supervisor.add(name, "worker", envOf({ name, api: false, indexer: false, worker: true }));
  await until(
    async () => ((await fetch(`${apiUrl(apis[1] as Managed)}/health`)).status ? true : undefined),
    120_000,
    "api-2 up",
  );
  return apis;
}

async function deployChain(index: number, blockMs: number): Promise<SoakChain> {
  const chainId = 31337n + BigInt(index);
  const node = await startNodeChain({ chainId: Number(chainId) });
  const { deploy } = node;
  const multicall3 = await deploy("mocks/Multicall3.sol/Multicall3.json");
  const usdc = await deploy("mocks/MockStablecoin.sol/MockStablecoin.json");
  // A contract wallet that passes ETH on inside its own call (internal transfers, as a Safe sends).
  const forwarder = await deploy("mocks/EthForwarder.sol/EthForwarder.json");
  const subscriptions = await deploy("subscriptions/Subscriptions.sol/Subscriptions.json", [node.contract]);
  await node.wallet.writeContract({
    address: node.contract,
    abi: processorAbi,
    functionName: "setTokenAllowed",
    args: [usdc, true],
    account: node.owner,
    chain: null,
  });
  const all = await node.wallet.getAddresses();
  // #0 owner, #2 merchant, #9 sweeper; the others are customers.
  const customers = [1, 3, 4, 5, 6, 7, 8].map((i) => all[i]).filter((a): a is `0x${string}` => Boolean(a));
  for (const c of customers) {
    await node.wallet.writeContract({
      address: usdc,
      abi: erc20,
      functionName: "mint",
      args: [c, 10n ** 15n],
      account: node.owner,
      chain: null,
    });
    for (const spender of [node.contract, subscriptions])
      await node.wallet.writeContract({
        address: usdc,
        abi: erc20,
        functionName: "approve",
        args: [spender, 2n ** 255n],
        account: c,
        chain: null,
      });
  }
  // Transactions wait for the next block, as on a real chain, and blocks come every blockMs. (With
  // a block per transaction as well, block timestamps, which must grow by at least 1 s per block,
  // would run ahead of the wall clock and every payment would end up late.)
  await node.rpc("evm_setAutomine", [false]);
  // The set-up above mined a block per transaction, each at least 1 s after the last, so the chain's
  // clock is ahead of the wall clock by about that many seconds. Interval blocks take the later of
  // the two, so with blocks every second it would never catch up, and with a 30 s order lifetime
  // most payments would be dated late. Wait until the wall clock has caught up.
  await waitForWallClock(node);
  await setIntervalMining(node.url, blockMs);
  // System → fault proxy (connection faults) → provider simulator (provider personalities) → node.
  const sim = await startProviderSim(node.url);
  const proxy = await startFaultProxy(Number(new URL(sim.url).port), await freePort());
  return {
    name: `c${index + 1}`,
    chainId,
    node,
    sim,
    proxy,
    usdc,
    subscriptions,
    multicall3,
    forwarder,
    customers,
  };
}

/** Waits until the wall clock has reached the chain's latest block time. */
async function waitForWallClock(node: SoakChain["node"]): Promise<void> {
  const { timestamp } = await node.client.getBlock({ blockTag: "latest" });
  const aheadMs = Number(timestamp) * 1000 - now();
  if (aheadMs > 0) await sleep(aheadMs + 100);
}

/** What a server process runs: which of its parts, and how it reaches the chains. */
export interface ServerRole {
  name: string;
  api: boolean;
  indexer: boolean;
  worker: boolean;
  port?: number;
  /** Straight to the nodes, not through the fault proxies (the reindex check). */
  directRpc?: boolean;
  finalityBlocks?: number;
}

/** The environment of one server process of the deployment. */
export function serverEnv(
  chains: SoakChain[],
  databaseUrl: string,
  profile: Profile,
  role: ServerRole,
): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    NODE_ENV: "test",
    CALLBACK_ALLOW_PRIVATE: "true", // the receivers are on loopback
    ADMIN_TOKEN,
    CALLBACK_SECRET,
    LOG_LEVEL: "warn",
    HOST: "127.0.0.1",
    // Only RUN_API listens; the others still need a valid PORT.
    PORT: String(role.port ?? 65_535),
    DATABASE_URL: databaseUrl,
    PGAPPNAME: role.name, // names the process in pg_stat_activity (who holds the indexer lock)
    CHAINS: chains.map((c) => c.name).join(","),
    START_BLOCK: "0",
    CONFIRMATIONS: String(profile.confirmations),
    FINALITY_BLOCKS: String(role.finalityBlocks ?? 4 * (profile.confirmations + 3)),
    POLL_INTERVAL_MS: "100",
    ETH_USD_PRICE: "2000",
    ORDER_TTL_SECONDS: "30",
    RATE_LIMIT_PER_MINUTE: "10000000",
    AUTH_FAILURES_PER_MINUTE: "1000000",
    CALLBACK_TIMEOUT_MS: "1500",
    CALLBACK_RETRY_BASE_MS: "250",
    CALLBACK_RETRY_MAX_DELAY_MS: "3000",
    CALLBACK_LEASE_MS: "5000",
    CALLBACK_POLL_INTERVAL_MS: "500",
    RUN_API: String(role.api),
    RUN_INDEXER: String(role.indexer),
    RUN_CALLBACK_WORKER: String(role.worker),
  };
  if (role.indexer && !role.directRpc) {
    env.SWEEPER_PRIVATE_KEY = SWEEPER_KEY;
    env.SWEEP_MAX_GAS_SHARE = "1";
    env.SWEEP_STUCK_BLOCKS = "4";
  }
  for (const c of chains) {
    const p = `CHAIN_${c.name.toUpperCase()}_`;
    env[`${p}RPC_URL`] = role.directRpc ? c.node.url : c.proxy.url;
    env[`${p}CHAIN_ID`] = c.chainId.toString();
    env[`${p}CONTRACT_ADDRESS`] = c.node.contract;
    env[`${p}MULTICALL3_ADDRESS`] = c.multicall3;
    env[`${p}TOKENS`] = `USDC:${c.usdc}:6`;
    env[`${p}SUBSCRIPTIONS_ADDRESS`] = c.subscriptions;
  }
  return env;
}
