/**
 * The soak: a mixed payment stream against a multi-process deployment on real PostgreSQL and real
 * `hardhat node` chains, with seeded random faults, then checks that nothing was lost, doubled,
 * misattributed, falsely completed or left undelivered. See docs/soak.md.
 *
 *   npm run soak -- --profile short|medium|long [--seed N] [--minutes M]
 *
 * Figures go to bench/results/soak.json (bench/results/soak-<profile>.json for short and medium).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createPublicClient,
  createWalletClient,
  http,
  parseAbi,
  parseAbiItem,
  zeroAddress,
  type Hex,
  type PublicClient,
} from "viem";
import { paymentProcessorAbi } from "../../server/src/chain/abi.ts";
import { createDb, type Db } from "../../server/src/db/index.ts";
import { loadCursor } from "../../server/src/indexer/store.ts";
import { reconcile } from "../../server/src/ledger/reconcile.ts";
import { firstLine } from "../../server/src/lib/errors.ts";
import { createMerchant, setPlugins } from "../../server/src/merchants/service.ts";
import { PLANS } from "../../server/src/merchants/plans.ts";
import { indexerLockKey } from "../../server/src/runtime/chain.ts";
import { ROOT, setIntervalMining } from "../../scripts/lib/local-chain.ts";
import { FIELDS, METHODS, ROUTES, VALUES, rng } from "../../test/helpers/fuzz-corpus.ts";
import {
  copyOrdersAsCreated,
  copySubscriptionsAsCreated,
  indexedState,
  subscriptionState,
} from "../../test/helpers/indexing.ts";
import { freePort, startNodeChain } from "../../test/helpers/node-chain.ts";
import { startFaultProxy, type FaultProxy } from "./fault-proxy.ts";
import { createDatabase, startPgCluster, type PgCluster } from "./pg-cluster.ts";
import { startFaultyReceiver, type FaultyReceiver, type ReceiverMode } from "./receiver.ts";
import { createSupervisor, type Managed, type Supervisor } from "./supervisor.ts";

// ───────────────────────────── profiles and arguments ─────────────────────────────

type FaultKind = "reorg" | "kill9" | "pgRestart" | "pgPause" | "rpcOutage" | "rpcSlow" | "receiver";
const FAULT_KINDS: FaultKind[] = [
  "reorg",
  "kill9",
  "pgRestart",
  "pgPause",
  "rpcOutage",
  "rpcSlow",
  "receiver",
];

interface Profile {
  minutes: number;
  chains: number;
  confirmations: number;
  blockMs: number;
  /** Faults to inject (the figures to reach). */
  faults: Record<FaultKind, number>;
  malformed: number;
  bursts: number;
}

const PROFILES: Record<string, Profile> = {
  short: {
    minutes: 3,
    chains: 1,
    confirmations: 3,
    blockMs: 1_000,
    faults: { reorg: 5, kill9: 3, pgRestart: 1, pgPause: 1, rpcOutage: 2, rpcSlow: 1, receiver: 3 },
    malformed: 600,
    bursts: 2,
  },
  medium: {
    minutes: 12,
    chains: 2,
    confirmations: 3,
    blockMs: 1_500,
    faults: { reorg: 20, kill9: 10, pgRestart: 2, pgPause: 2, rpcOutage: 4, rpcSlow: 2, receiver: 5 },
    malformed: 2_000,
    bursts: 4,
  },
  long: {
    minutes: 55,
    chains: 2,
    confirmations: 3,
    blockMs: 1_500,
    faults: { reorg: 100, kill9: 50, pgRestart: 10, pgPause: 10, rpcOutage: 20, rpcSlow: 10, receiver: 20 },
    malformed: 10_000,
    bursts: 20,
  },
};

function parseArgs(argv: string[]) {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const profileName = get("profile") ?? "short";
  const base = PROFILES[profileName];
  if (!base) throw new Error(`--profile must be one of ${Object.keys(PROFILES).join(", ")}`);
  const seed = Number(get("seed") ?? Math.floor(Math.random() * 2 ** 31));
  if (!Number.isInteger(seed) || seed < 0) throw new Error("--seed must be a non-negative integer");
  const minutes = get("minutes") ? Number(get("minutes")) : base.minutes;
  // A deposit order dated otherwise by the reindex fails the run (the default since the backfill
  // dates each ETH inflow to its own block); --lenient-reindex only counts them. --strict-reindex
  // is accepted for older command lines.
  const strictReindex = !argv.includes("--lenient-reindex");
  return { profileName, profile: { ...base, minutes }, seed, strictReindex };
}

// ───────────────────────────── small utilities ─────────────────────────────

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const now = () => Date.now();
const ADMIN_TOKEN = "soak-admin-token-0123456789abcdef0123456789";
const CALLBACK_SECRET = "soak-callback-secret-0123456789abcdef";
/** Hardhat dev account #9: the sweeper's gas-only key. */
const SWEEPER_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6";
const ETH = zeroAddress;
const erc20 = parseAbi([
  "function mint(address to, uint256 amount)",
  "function approve(address spender, uint256 amount) returns (bool)",
  "function transfer(address to, uint256 amount) returns (bool)",
  "function balanceOf(address who) view returns (uint256)",
]);
const processorAbi = parseAbi([
  "function setTokenAllowed(address token, bool allowed)",
  "function pay(address merchant, bytes32 orderId) payable",
  "function payToken(address token, uint256 amount, address merchant, bytes32 orderId)",
  "function refund(address token, bytes32 orderId, address to, uint256 amount)",
]);
const paymentReceived = parseAbiItem(
  "event PaymentReceived(address indexed merchant, bytes32 indexed orderId, address indexed payer, address token, uint256 amount)",
);

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = now() + timeoutMs;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch {
      // a fault in progress: probe again
    }
    if (now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

class Stats {
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

// ───────────────────────────── the deployment ─────────────────────────────

interface SoakChain {
  name: string;
  chainId: bigint;
  node: Awaited<ReturnType<typeof startNodeChain>>;
  proxy: FaultProxy;
  usdc: `0x${string}`;
  /** The Subscriptions contract (token_pull recurring billing), bound to this chain's processor. */
  subscriptions: `0x${string}`;
  multicall3: `0x${string}`;
  customers: `0x${string}`[];
}

async function deployChain(index: number, blockMs: number): Promise<SoakChain> {
  const chainId = 31337n + BigInt(index);
  const node = await startNodeChain({ chainId: Number(chainId) });
  const { deploy } = node;
  const multicall3 = await deploy("mocks/Multicall3.sol/Multicall3.json");
  const usdc = await deploy("mocks/MockStablecoin.sol/MockStablecoin.json");
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
  const proxy = await startFaultProxy(node.port, await freePort());
  return { name: `c${index + 1}`, chainId, node, proxy, usdc, subscriptions, multicall3, customers };
}

/** Waits until the wall clock has reached the chain's latest block time. */
async function waitForWallClock(node: SoakChain["node"]): Promise<void> {
  const { timestamp } = await node.client.getBlock({ blockTag: "latest" });
  const aheadMs = Number(timestamp) * 1000 - now();
  if (aheadMs > 0) await sleep(aheadMs + 100);
}

function serverEnv(
  chains: SoakChain[],
  databaseUrl: string,
  profile: Profile,
  role: {
    name: string;
    api: boolean;
    indexer: boolean;
    worker: boolean;
    port?: number;
    directRpc?: boolean;
    finalityBlocks?: number;
  },
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

// ───────────────────────────── main ─────────────────────────────

async function main() {
  const { profileName, profile, seed, strictReindex } = parseArgs(process.argv.slice(2));
  const random = rng(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  console.log(
    `soak: profile ${profileName}, seed ${seed} (reproduce: npm run soak -- --profile ${profileName} --seed ${seed})`,
  );
  const started = now();
  const work = mkdtempSync(join(tmpdir(), "ethpos-soak-"));
  const logDir = join(ROOT, "bench", "results", "soak-logs");
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });

  const cleanups: (() => Promise<void> | void)[] = [];
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (error) {
        console.error(`soak: cleanup: ${(error as Error).message}`);
      }
    }
    rmSync(work, { recursive: true, force: true });
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => {
      console.error(`soak: ${signal}: tearing down`);
      void cleanup().then(() => process.exit(130));
    });

  try {
    return await soak();
  } finally {
    await cleanup();
  }

  async function soak(): Promise<boolean> {
    // PostgreSQL of our own, behind a fault proxy (pause) for the system; the soak reads it directly.
    const cluster: PgCluster = startPgCluster(await freePort());
    cleanups.push(() => cluster.stop());
    createDatabase(cluster, "soak");
    const pgProxy = await startFaultProxy(cluster.port, await freePort(), "postgres");
    cleanups.push(() => pgProxy.close());
    const systemDbUrl = `postgres://postgres@127.0.0.1:${pgProxy.port}/soak`;
    const db: Db = await createDb({ databaseUrl: cluster.url("soak"), dataDir: undefined });
    cleanups.push(() => db.close());

    const chains: SoakChain[] = [];
    for (let i = 0; i < profile.chains; i++) {
      const c = await deployChain(i, profile.blockMs);
      chains.push(c);
      cleanups.push(async () => {
        await c.proxy.close();
        await c.node.stop();
      });
    }
    const receivers: FaultyReceiver[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await startFaultyReceiver(await freePort(), 700);
      receivers.push(r);
      cleanups.push(() => r.close());
    }

    const supervisor: Supervisor = createSupervisor({
      node: `${ROOT}node_modules/.bin/node`,
      entry: `${ROOT}server/src/main.ts`,
      cwd: ROOT,
      logDir,
      restartDelayMs: 1_000,
    });
    cleanups.push(() => supervisor.stop());
    // The first process migrates the database; the others start once it has.
    const apis: Managed[] = [];
    const apiPort = await freePort();
    apis.push(
      supervisor.add(
        "api-1",
        "api",
        serverEnv(chains, systemDbUrl, profile, {
          name: "api-1",
          api: true,
          indexer: false,
          worker: false,
          port: apiPort,
        }),
        apiPort,
      ),
    );
    const apiUrl = (m: Managed) => `http://127.0.0.1:${m.port}`;
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
        serverEnv(chains, systemDbUrl, profile, {
          name: "api-2",
          api: true,
          indexer: false,
          worker: false,
          port: port2,
        }),
        port2,
      ),
    );
    // Two indexer-capable processes (each competes for every chain's lock, one leads per chain).
    for (const name of ["indexer-1", "indexer-2"])
      supervisor.add(
        name,
        "indexer",
        serverEnv(chains, systemDbUrl, profile, { name, api: false, indexer: true, worker: false }),
      );
    for (const name of ["worker-1", "worker-2"])
      supervisor.add(
        name,
        "worker",
        serverEnv(chains, systemDbUrl, profile, { name, api: false, indexer: false, worker: true }),
      );
    await until(
      async () => ((await fetch(`${apiUrl(apis[1] as Managed)}/health`)).status ? true : undefined),
      120_000,
      "api-2 up",
    );

    const lockHolder = async (chain: SoakChain): Promise<string | undefined> => {
      const key = indexerLockKey(chain.chainId);
      const { rows } = await db.query<{ name: string }>(
        `SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
            AND ((l.classid::int8 << 32) | l.objid::int8) = $1`,
        [key.toString()],
      );
      return rows[0]?.name;
    };
    const headOf = async (c: SoakChain) => c.node.client.getBlock({ blockTag: "latest" });
    /** The leader of the chain has applied the chain as it is now, at least up to `block`. */
    const caughtUp = async (c: SoakChain, block: bigint): Promise<boolean> => {
      const cursor = await loadCursor(db, c.chainId);
      if (!cursor || cursor.blockNumber < block) return false;
      const canonical = await c.node.client
        .getBlock({ blockNumber: cursor.blockNumber })
        .catch(() => undefined);
      return canonical?.hash === cursor.blockHash;
    };
    const apiAnswers = async (m: Managed) => {
      try {
        const res = await fetch(`${apiUrl(m)}/health`, { signal: AbortSignal.timeout(2_000) });
        return res.status < 500;
      } catch {
        return false;
      }
    };
    /** Every API answers healthy, every chain has a leader that has caught up with today's head. */
    let notSettled = "";
    const settled = async (): Promise<boolean> => {
      for (const m of apis)
        if (!(await apiAnswers(m))) {
          notSettled = `${m.name} does not answer`;
          return false;
        }
      for (const c of chains) {
        if (!(await lockHolder(c))) {
          notSettled = `${c.name} has no indexing leader`;
          return false;
        }
        const head = await headOf(c);
        if (!(await caughtUp(c, head.number - 1n))) {
          notSettled = `${c.name}'s cursor is behind its head ${head.number}`;
          return false;
        }
      }
      return true;
    };
    await until(async () => ((await settled()) ? true : undefined), 120_000, "the deployment to settle");
    console.log(
      `soak: up: ${chains.length} chain(s), 2 API, 2 indexer, 2 worker processes, PostgreSQL :${cluster.port} (${(now() - started) / 1000} s)`,
    );

    // Merchants: the fuzz's keyed requests, and one free-plan merchant per burst against its limit.
    const fuzzKey = (await createMerchant(db, "soak-fuzz@example.com", "exclusive")).apiKey;
    const merchantAddress = chains[0]?.node.merchant as `0x${string}`;

    const stats = new Stats();
    const durationMs = profile.minutes * 60_000;
    // The profile's minutes count from here: start-up time is not soak time.
    const t0 = now();
    const stopAt = t0 + durationMs;
    let running = true;
    /** Fault windows: 503s answered while a dependency is down are the documented answer, not a failure. */
    let degradedUntil = 0;
    const markDegraded = (ms: number) => {
      degradedUntil = Math.max(degradedUntil, now() + ms);
    };

    // ───────── the payment stream ─────────
    interface StreamOrder {
      id: number;
      chain: SoakChain;
      reference: Hex;
      address: `0x${string}`;
      token: "ETH" | "USDC";
      expected: bigint;
      createdAt: number;
      paid: boolean;
    }
    const orders: StreamOrder[] = [];
    const sent = new Map<string, number>();
    const count = (what: string) => sent.set(what, (sent.get(what) ?? 0) + 1);
    let callbackTurn = 0;

    /**
     * POSTs a JSON body to a random API process, then to each in turn until one answers 200 (the
     * others may be down or answering 503 during a fault): the parsed answer, or undefined.
     */
    const postToAnyApi = async <T>(
      path: string,
      body: unknown,
      what: string,
      headers: Record<string, string> = {},
    ): Promise<T | undefined> => {
      for (const m of [pick(apis), ...apis]) {
        try {
          const res = await fetch(`${apiUrl(m)}${path}`, {
            method: "POST",
            headers: { "content-type": "application/json", ...headers },
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(5_000),
          });
          if (res.status === 200) return (await res.json()) as T;
          count(`${what} http ${res.status}`);
        } catch {
          count(`${what} unreachable`);
        }
      }
      return undefined;
    };

    const postOrder = async (chain: SoakChain, token: "ETH" | "USDC"): Promise<StreamOrder | undefined> => {
      const amount = `${between(1, 4)}.${String(between(0, 99)).padStart(2, "0")}`;
      const receiver = receivers[callbackTurn++ % receivers.length] as FaultyReceiver;
      const o = await postToAnyApi<{ id: number; reference: Hex; address: `0x${string}` }>(
        "/order",
        {
          amount,
          address: merchantAddress,
          callback: receiver.url,
          chain: chain.name,
          ...(token === "USDC" ? { token: "USDC" } : {}),
        },
        "order",
      );
      if (!o) return undefined;
      const row = await db.query<{ expected_amount: string }>(
        "SELECT expected_amount FROM orders WHERE id = $1",
        [o.id],
      );
      const order: StreamOrder = {
        id: o.id,
        chain,
        reference: o.reference,
        address: o.address,
        token,
        expected: BigInt(row.rows[0]?.expected_amount ?? "0"),
        createdAt: now(),
        paid: false,
      };
      orders.push(order);
      return order;
    };

    /** A plain transfer from a random customer: ETH, or a USDC `transfer` (what an exchange sends). */
    const transferTo = async (chain: SoakChain, token: "ETH" | "USDC", to: `0x${string}`, amount: bigint) => {
      const from = pick(chain.customers);
      if (token === "ETH")
        await chain.node.wallet.sendTransaction({ to, value: amount, account: from, chain: null });
      else
        await chain.node.wallet.writeContract({
          address: chain.usdc,
          abi: erc20,
          functionName: "transfer",
          args: [to, amount],
          account: from,
          chain: null,
        });
    };

    const payContract = async (o: StreamOrder, amount: bigint) => {
      const from = pick(o.chain.customers);
      if (o.token === "ETH")
        await o.chain.node.wallet.writeContract({
          address: o.chain.node.contract,
          abi: processorAbi,
          functionName: "pay",
          args: [merchantAddress, o.reference],
          value: amount,
          account: from,
          chain: null,
        });
      else
        await o.chain.node.wallet.writeContract({
          address: o.chain.node.contract,
          abi: processorAbi,
          functionName: "payToken",
          args: [o.chain.usdc, amount, merchantAddress, o.reference],
          account: from,
          chain: null,
        });
    };
    const payDeposit = (o: StreamOrder, amount: bigint) => transferTo(o.chain, o.token, o.address, amount);

    // ───────── subscription periods (docs/recurring.md, docs/token-subscriptions.md) ─────────
    // Weekly subscriptions of a keyed merchant with the Recurring Payments plugin. Method deposit:
    // period 0 is due at creation and paid by plain transfers to the subscription's address (in
    // full, in part then topped up, or over, the excess kept as credit); later transfers to a
    // subscription already paid become credit. Method token_pull (USDC): the customer subscribes on
    // chain with exactly the terms the API returned, starting a few seconds ahead, and the collector
    // (the sweeper's gas-only key) collects period 0 when it comes due.
    interface StreamSubscription {
      id: number;
      chain: SoakChain;
      method: "deposit" | "token_pull";
      token: "ETH" | "USDC";
      reference: Hex;
      address: `0x${string}`;
      expected: bigint;
    }
    const subscriptions: StreamSubscription[] = [];
    const recurringKey = (await createMerchant(db, "soak-recurring@example.com", "exclusive")).apiKey;
    await setPlugins(db, "soak-recurring@example.com", { recurring_payments: true });
    const subscriptionsAbi = parseAbi([
      "function subscribe(address merchant, address token, uint256 amountPerPeriod, uint64 interval, uint64 start, bytes32 ref) returns (uint256)",
    ]);
    const postSubscription = async (
      chain: SoakChain,
      method: "deposit" | "token_pull",
      token: "ETH" | "USDC",
    ): Promise<{ sub: StreamSubscription; pull?: { args: Record<string, string> } } | undefined> => {
      const amount = `${between(1, 4)}.${String(between(0, 99)).padStart(2, "0")}`;
      const receiver = receivers[callbackTurn++ % receivers.length] as FaultyReceiver;
      // A token pull starts a little ahead: the contract refuses a start before the block's time
      // (which runs ahead of the wall clock after a reorg's re-mined branch), the API one before now.
      let start: Date | undefined;
      if (method === "token_pull") {
        const chainTime = Number((await chain.node.client.getBlock({ blockTag: "latest" })).timestamp);
        start = new Date((Math.max(chainTime, Math.ceil(now() / 1000)) + between(8, 20)) * 1000);
      }
      const body = await postToAnyApi<{ id: number; token_pull?: { args: Record<string, string> } }>(
        "/recurring",
        {
          amount,
          interval: "weekly",
          address: merchantAddress,
          callback: receiver.url,
          chain: chain.name,
          method,
          ...(token === "USDC" ? { token: "USDC" } : {}),
          ...(start ? { start: start.toISOString().replace(".000Z", "Z") } : {}),
        },
        "subscription",
        { authorization: recurringKey },
      );
      if (!body) return undefined;
      const { rows } = await db.query<{ reference: string; deposit_address: string; expected: string }>(
        `SELECT s.reference, s.deposit_address, p.expected_amount AS expected
           FROM subscriptions s JOIN subscription_periods p ON p.subscription_id = s.id AND p.index = 0
          WHERE s.id = $1`,
        [body.id],
      );
      const row = rows[0];
      if (!row) throw new Error(`subscription ${body.id} has no period 0`);
      const sub: StreamSubscription = {
        id: body.id,
        chain,
        method,
        token,
        reference: row.reference as Hex,
        address: row.deposit_address as `0x${string}`,
        expected: BigInt(row.expected),
      };
      subscriptions.push(sub);
      return { sub, ...(body.token_pull ? { pull: body.token_pull } : {}) };
    };
    const payToSubscription = (s: StreamSubscription, amount: bigint) =>
      transferTo(s.chain, s.token, s.address, amount);
    const subscriptionPeriod = async (chain: SoakChain): Promise<void> => {
      const existing = subscriptions.filter((s) => s.chain === chain && s.method === "deposit");
      if (existing.length && random() < 0.3) {
        // A later transfer to a subscription's address: it tops up period 0 or becomes credit.
        const s = pick(existing);
        await payToSubscription(s, random() < 0.5 ? s.expected : s.expected / 2n);
        count("subscription transfer");
        return;
      }
      if (random() < 0.3) {
        const created = await postSubscription(chain, "token_pull", "USDC");
        if (!created?.pull) return;
        const a = created.pull.args;
        await chain.node.wallet.writeContract({
          address: chain.subscriptions,
          abi: subscriptionsAbi,
          functionName: "subscribe",
          args: [
            a.merchant as `0x${string}`,
            a.token as `0x${string}`,
            BigInt(a.amountPerPeriod as string),
            BigInt(a.interval as string),
            BigInt(a.start as string),
            a.ref as Hex,
          ],
          account: pick(chain.customers),
          chain: null,
        });
        count("subscription token_pull");
        return;
      }
      const created = await postSubscription(chain, "deposit", random() < 0.7 ? "ETH" : "USDC");
      if (!created) return;
      const s = created.sub;
      const x = random();
      const amount = x < 0.6 ? s.expected : x < 0.8 ? s.expected / 2n : (s.expected * 3n) / 2n;
      await payToSubscription(s, amount);
      count("subscription deposit");
      if (amount < s.expected && random() < 0.5) {
        await sleep(between(200, 2_000));
        await payToSubscription(s, s.expected - amount);
        count("subscription top-up");
      }
    };

    type Action =
      | "contract"
      | "deposit"
      | "token"
      | "tokenDeposit"
      | "partial"
      | "over"
      | "late"
      | "refund"
      | "subscription";
    const WEIGHTS: [Action, number][] = [
      ["contract", 4],
      ["deposit", 2],
      ["token", 2],
      ["tokenDeposit", 1],
      ["partial", 1.5],
      ["over", 1],
      ["late", 1],
      ["refund", 1],
      ["subscription", 1.5],
    ];
    const totalWeight = WEIGHTS.reduce((s, [, w]) => s + w, 0);
    const chooseAction = (): Action => {
      let x = random() * totalWeight;
      for (const [a, w] of WEIGHTS) if ((x -= w) < 0) return a;
      return "contract";
    };
    const streamStep = async () => {
      const action = chooseAction();
      const chain = pick(chains);
      try {
        switch (action) {
          case "contract":
          case "token":
          case "partial":
          case "over": {
            const o = await postOrder(
              chain,
              action === "token" || (action !== "contract" && random() < 0.3) ? "USDC" : "ETH",
            );
            if (!o) return;
            const amount =
              action === "partial"
                ? o.expected / 2n
                : action === "over"
                  ? (o.expected * 3n) / 2n
                  : o.expected;
            if (random() < 0.5 || action === "token") await payContract(o, amount);
            else await payDeposit(o, amount);
            o.paid = action !== "partial";
            count(action);
            // Half of the partial payments are topped up a little later.
            if (action === "partial" && random() < 0.5) {
              await sleep(between(200, 2_000));
              await payContract(o, o.expected - amount);
              o.paid = true;
              count("top-up");
            }
            return;
          }
          case "deposit":
          case "tokenDeposit": {
            const o = await postOrder(chain, action === "tokenDeposit" ? "USDC" : "ETH");
            if (!o) return;
            await payDeposit(o, o.expected);
            o.paid = true;
            count(action);
            return;
          }
          case "late": {
            // An unpaid order past its 30 s lifetime: the payment arrives late.
            const candidates = orders.filter((o) => !o.paid && now() - o.createdAt > 33_000);
            const o = candidates.length ? pick(candidates) : undefined;
            if (!o) return;
            o.paid = true;
            if (random() < 0.5) await payContract(o, o.expected);
            else await payDeposit(o, o.expected);
            count("late");
            return;
          }
          case "refund": {
            const candidates = orders.filter(
              (o) => o.paid && o.token === "ETH" && now() - o.createdAt > 3_000,
            );
            const o = candidates.length ? pick(candidates) : undefined;
            if (!o) return;
            const amount = random() < 0.5 ? o.expected : o.expected / 3n;
            await o.chain.node.wallet.writeContract({
              address: o.chain.node.contract,
              abi: processorAbi,
              functionName: "refund",
              args: [ETH, o.reference, pick(o.chain.customers), amount],
              account: merchantAddress,
              chain: null,
            });
            count("refund");
            return;
          }
          case "subscription":
            await subscriptionPeriod(chain);
            return;
        }
      } catch (error) {
        // A reverted or dropped transaction (a reorg took the funds, a refund above the balance).
        count(`${action} failed`);
        if (process.env.SOAK_DEBUG) console.error(`stream ${action}: ${firstLine(error)}`);
      }
    };
    const streamLane = (async () => {
      while (running) {
        await streamStep();
        await sleep(between(100, 500));
      }
    })();

    // ───────── hostile HTTP: the fuzz corpus, and keyed bursts against plan limits ─────────
    const malformed = {
      sent: 0,
      fiveXx: 0,
      fiveXxDuringFaults: 0,
      unreachable: 0,
      byStatus: {} as Record<string, number>,
      examples: [] as string[],
    };
    const fuzzOne = async () => {
      const method = random() < 0.6 ? "POST" : pick(METHODS);
      const url = random() < 0.6 ? "/order" : pick(ROUTES);
      const headers: Record<string, string> = {};
      if (random() < 0.5)
        headers.authorization = pick([
          fuzzKey,
          `Bearer ${fuzzKey}`,
          "garbage",
          "Bearer ",
          "epos_x_y",
          "admin-token",
        ]);
      if (random() < 0.1)
        headers.accept = pick(["text/html", "application/xml", "*/*", "application/json;q=0"]);
      let body: string | undefined;
      if (method !== "GET" && method !== "OPTIONS") {
        if (random() < 0.1)
          body = pick(["{", "[]", "null", '"x"', '{"amount":', "\u0000", "x".repeat(70_000)]);
        else {
          const b: Record<string, unknown> = {};
          b.amount = random() < 0.5 ? pick(["1.00", "4.99", "13.54"]) : pick(VALUES);
          b.address = random() < 0.5 ? merchantAddress : pick(VALUES);
          // Accepted orders call back to the soak's receivers, so their callbacks are checked too.
          b.callback = random() < 0.8 ? (receivers[0] as FaultyReceiver).url : pick(VALUES);
          if (b.callback === "http://127.0.0.1:9/cb") b.callback = (receivers[1] as FaultyReceiver).url;
          // At least one hostile field: these requests are malformed on purpose.
          for (let k = 0, n = 1 + Math.floor(random() * 2); k < n; k++) b[pick(FIELDS)] = pick(VALUES);
          if (random() < 0.1) delete b[pick(["amount", "address", "callback"])];
          body = JSON.stringify(b);
        }
        headers["content-type"] =
          random() < 0.95
            ? "application/json"
            : pick(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]);
      }
      const live = apis.filter((m) => m.alive());
      const target = live.length ? pick(live) : pick(apis);
      try {
        const res = await fetch(`${apiUrl(target)}${url}`, {
          method,
          headers,
          ...(body !== undefined ? { body } : {}),
          signal: AbortSignal.timeout(10_000),
        });
        await res.arrayBuffer();
        malformed.sent++;
        malformed.byStatus[res.status] = (malformed.byStatus[res.status] ?? 0) + 1;
        if (res.status >= 500) {
          if (res.status === 503 && now() < degradedUntil) malformed.fiveXxDuringFaults++;
          else {
            malformed.fiveXx++;
            if (malformed.examples.length < 10)
              malformed.examples.push(`${method} ${url} ${body?.slice(0, 120)} → ${res.status}`);
          }
        }
      } catch {
        malformed.unreachable++; // a killed API process: connection refused, not an answer
      }
    };
    const fuzzLane = (async () => {
      const perMs = profile.malformed / durationMs;
      while (running) {
        const due = Math.min(profile.malformed, Math.ceil((now() - t0) * perMs));
        const batch: Promise<void>[] = [];
        while (malformed.sent + batch.length < due && batch.length < 8) batch.push(fuzzOne());
        if (batch.length === 0) await sleep(200);
        await Promise.all(batch);
        await sleep(50);
      }
    })();

    const bursts: { merchant: string; limit: number; accepted: number; plan: string }[] = [];
    const burstLane = (async () => {
      for (let i = 0; i < profile.bursts && running; i++) {
        await sleep(Math.max(0, t0 + ((i + 0.5) * durationMs) / profile.bursts - now()));
        if (!running) break;
        const plan = pick(["free", "basic"] as const);
        const email = `soak-burst-${i}@example.com`;
        const { apiKey } = await createMerchant(db, email, plan);
        const limit = PLANS[plan].dailyTransactions;
        const results = await Promise.all(
          Array.from({ length: limit * 3 }, (_, k) =>
            fetch(`${apiUrl(apis[k % apis.length] as Managed)}/order`, {
              method: "POST",
              headers: { "content-type": "application/json", authorization: apiKey },
              body: JSON.stringify({
                amount: "6.00",
                address: merchantAddress,
                callback: (receivers[k % 2] as FaultyReceiver).url,
              }),
              signal: AbortSignal.timeout(10_000),
            })
              .then(async (r) => {
                await r.arrayBuffer();
                return r.status;
              })
              .catch(() => 0),
          ),
        );
        bursts.push({ merchant: email, limit, plan, accepted: results.filter((s) => s === 200).length });
        for (const s of results) if (s >= 500 && !(s === 503 && now() < degradedUntil)) malformed.fiveXx++;
      }
    })();

    // ───────── faults ─────────
    const plan: FaultKind[] = [];
    for (const kind of FAULT_KINDS)
      if (kind !== "receiver") for (let i = 0; i < profile.faults[kind]; i++) plan.push(kind);
    for (let i = plan.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [plan[i], plan[j]] = [plan[j] as FaultKind, plan[i] as FaultKind];
    }
    console.log(
      `soak: fault plan (${plan.length} system faults + ${profile.faults.receiver} receiver faults): ${plan.join(" ")}`,
    );
    const log = (line: string) =>
      console.log(`[${((now() - started) / 1000).toFixed(1).padStart(7)} s] ${line}`);

    const recoverAll = async (kind: FaultKind, since: number, detail: string) => {
      await until(
        async () => ((await settled()) ? true : undefined),
        180_000,
        `recovery after ${kind} ${detail}`,
      );
      const ms = now() - since;
      stats.add(kind, detail, ms);
      log(`${kind} ${detail}: recovered in ${ms} ms${ms > 15_000 ? ` (waited on: ${notSettled})` : ""}`);
    };

    const reorg = async () => {
      const c = pick(chains);
      const depth = between(1, profile.confirmations + 3);
      const snapshot = await c.node.snapshot();
      const forkAt = (await headOf(c)).number;
      // The old branch grows by itself (interval mining, the stream's transactions).
      await until(
        async () =>
          (await c.node.client.getBlockNumber({ cacheTime: 0 })) >= forkAt + BigInt(depth) ? true : undefined,
        60_000,
        "the branch to be reorged",
      );
      const oldHead = await headOf(c);
      await c.node.revert(snapshot);
      // The new branch starts with a transaction of its own (so it differs) and outgrows the old one.
      await c.node.wallet.sendTransaction({
        to: c.node.owner,
        value: 1n,
        account: c.node.other,
        chain: null,
      });
      // The new branch keeps the chain's clock on the wall clock. `evm_mine` with a timestamp also
      // moves the node's clock offset, and re-mining at "a second after the newest" would put the
      // chain ahead by the depth at every reorg (and a 30 s order lifetime would date most payments
      // late). So interval mining pauses; the branch's blocks are dated a second apart from the fork
      // (the old branch's blocks were at least that far apart, there is room once the wall clock is
      // a second past what they need), and its last block is dated now, which sets the offset back to 0.
      await setIntervalMining(c.node.url, 0);
      const forkTime = (await c.node.client.getBlock({ blockNumber: forkAt })).timestamp;
      const blocks = oldHead.number + 1n - forkAt;
      await sleep(Math.max(0, Number(forkTime + blocks + 1n) * 1000 - now()));
      for (let k = 1n; k <= blocks; k++) {
        const wallClock = BigInt(Math.floor(now() / 1000));
        await c.node.rpc("evm_mine", [Number(k === blocks ? wallClock : forkTime + k)]);
      }
      await setIntervalMining(c.node.url, profile.blockMs);
      const since = now();
      const actualDepth = Number(oldHead.number - forkAt);
      await until(
        async () => ((await caughtUp(c, oldHead.number + 1n)) ? true : undefined),
        120_000,
        `indexer past reorg of depth ${actualDepth}`,
      );
      const ms = now() - since;
      stats.add("reorg", `depth ${Math.min(actualDepth, profile.confirmations + 3)}`, ms);
      log(`reorg on ${c.name} at ${forkAt}, depth ${actualDepth}: indexer on the new branch in ${ms} ms`);
    };

    const kill9 = async () => {
      const which = pick(["leader", "leader", "api", "worker"] as const);
      let target: Managed | undefined;
      if (which === "leader") {
        const name = await lockHolder(pick(chains));
        target = supervisor.all.find((m) => m.name === name);
      } else target = pick(supervisor.all.filter((m) => m.role === which));
      if (!target || !target.alive()) return kill9Fallback();
      const since = now();
      target.kill9();
      markDegraded(5_000);
      if (which === "worker") {
        const name = target.name;
        await until(
          async () => {
            const { rows } = await db.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1", [
              name,
            ]);
            return rows.length > 0 ? true : undefined;
          },
          120_000,
          `${name} back`,
        );
        await recoverAll("kill9", since, which);
      } else await recoverAll("kill9", since, which === "leader" ? "leading indexer" : "api");
    };
    const kill9Fallback = async () => {
      const target = pick(supervisor.all.filter((m) => m.alive()));
      if (!target) return;
      const since = now();
      target.kill9();
      await recoverAll("kill9", since, target.role === "indexer" ? "standby indexer" : target.role);
    };

    const pgRestart = async () => {
      markDegraded(30_000);
      await cluster.restart();
      await recoverAll("pgRestart", now(), "pg_ctl restart -m fast");
    };
    const pgPause = async () => {
      const ms = between(2_000, 6_000);
      markDegraded(ms + 15_000);
      pgProxy.pause();
      await sleep(ms);
      pgProxy.resume();
      await recoverAll("pgPause", now(), `${Math.round(ms / 1000)} s`);
    };
    const rpcOutage = async () => {
      const c = pick(chains);
      const ms = between(2_000, 8_000);
      markDegraded(ms + 15_000);
      await c.proxy.down();
      await sleep(ms);
      await c.proxy.up();
      await recoverAll("rpcOutage", now(), `${Math.round(ms / 1000)} s`);
    };
    const rpcSlow = async () => {
      const c = pick(chains);
      const ms = between(4_000, 10_000);
      c.proxy.slow(between(200, 1_500));
      await sleep(ms);
      c.proxy.slow(0);
      await recoverAll("rpcSlow", now(), "slow responses");
    };
    const run: Record<Exclude<FaultKind, "receiver">, () => Promise<void>> = {
      reorg,
      kill9,
      pgRestart,
      pgPause,
      rpcOutage,
      rpcSlow,
    };
    const faultFailures: string[] = [];
    const faultLane = (async () => {
      // Spread over the run, leaving the last tenth for the stream to go on unfaulted.
      const window = durationMs * 0.9;
      for (const [i, kind] of plan.entries()) {
        if (!running) break;
        await sleep(Math.max(0, t0 + 5_000 + (i * (window - 5_000)) / plan.length - now()));
        try {
          await run[kind as Exclude<FaultKind, "receiver">]();
        } catch (error) {
          faultFailures.push(`${kind}: ${(error as Error).message}`);
          log(`FAULT ${kind} did not recover: ${(error as Error).message}`);
        }
      }
    })();

    const receiverLane = (async () => {
      const n = profile.faults.receiver;
      for (let i = 0; i < n && running; i++) {
        await sleep(Math.max(0, t0 + 5_000 + (i * (durationMs * 0.85 - 5_000)) / n - now()));
        const r = pick(receivers);
        const mode = pick(["down", "error500", "slow", "timeout"] as ReceiverMode[]);
        const ms = between(3_000, 10_000);
        await r.setMode(mode);
        await sleep(ms);
        await r.setMode("ok");
        const since = now();
        // Recovered: every callback queued for this receiver before it came back is delivered.
        const cutoff = new Date();
        try {
          await until(
            async () => {
              const { rows } = await db.query<{ n: bigint }>(
                "SELECT count(*)::int8 AS n FROM callbacks WHERE url = $1 AND status <> 'delivered' AND created_at < $2",
                [r.url, cutoff],
              );
              return rows[0]?.n === 0n ? true : undefined;
            },
            180_000,
            `callbacks to the receiver after ${mode}`,
          );
          const recovered = now() - since;
          stats.add("receiver", mode, recovered);
          log(
            `receiver ${mode} for ${Math.round(ms / 1000)} s: backlog delivered ${recovered} ms after it came back`,
          );
        } catch (error) {
          faultFailures.push(`receiver ${mode}: ${(error as Error).message}`);
        }
      }
    })();

    // ───────── run, then settle ─────────
    // The run lasts its minutes, and longer if planned faults are still to come (at most 50% more).
    let faultsDone = false;
    void Promise.all([faultLane, receiverLane]).then(() => {
      faultsDone = true;
    });
    while (now() < stopAt || (!faultsDone && now() < stopAt + durationMs / 2)) {
      await sleep(1_000);
      if ((now() - t0) % 30_000 < 1_000)
        log(
          `orders ${orders.length}, malformed ${malformed.sent} (5xx ${malformed.fiveXx}), faults ${[
            ...stats.injected.entries(),
          ]
            .filter(([k]) => !k.includes(":"))
            .map(([k, v]) => `${k} ${v}`)
            .join(", ")}`,
        );
    }
    running = false;
    log("stream and faults stop; settling");
    await Promise.all([streamLane, fuzzLane, burstLane, faultLane, receiverLane]);
    for (const r of receivers) await r.setMode("ok");
    for (const c of chains) {
      await c.proxy.up();
      c.proxy.slow(0);
    }
    pgProxy.resume();
    // Let every payment reach its confirmations and every deposit be swept, then freeze the chains.
    const settleStart = now();
    for (const c of chains) {
      const target = (await headOf(c)).number + BigInt(profile.confirmations + 12);
      await until(
        async () => ((await c.node.client.getBlockNumber({ cacheTime: 0 })) >= target ? true : undefined),
        120_000,
        "settling blocks",
      );
    }
    // Every order made during the run has paid or expired (30 s lifetime) while blocks still come:
    // expiry is decided only once a block past it is indexed.
    const lastOrderAt = Math.max(0, ...orders.map((o) => o.createdAt));
    await sleep(Math.max(5_000, lastOrderAt + 36_000 - now()));
    for (const c of chains) await setIntervalMining(c.node.url, 0);
    for (const c of chains) await c.node.rpc("evm_mine");
    for (const c of chains) {
      const head = await headOf(c);
      await until(
        async () => ((await caughtUp(c, head.number)) ? true : undefined),
        120_000,
        `${c.name} indexed to its head`,
      );
    }
    const receiverUrls = receivers.map((r) => r.url);
    // Every callback delivered, and still so 3 s later (nothing new queued meanwhile).
    let quietSince = 0;
    await until(
      async () => {
        const { rows } = await db.query<{ n: bigint }>(
          "SELECT count(*)::int8 AS n FROM callbacks WHERE status IN ('pending', 'sending') AND url = ANY($1)",
          [receiverUrls],
        );
        if (rows[0]?.n !== 0n) quietSince = 0;
        else if (!quietSince) quietSince = now();
        return quietSince && now() - quietSince > 3_000 ? true : undefined;
      },
      180_000,
      "every callback delivered",
    ).catch(() => undefined);
    log(`settled in ${now() - settleStart} ms`);

    // ───────── checks ─────────
    const checks: Record<string, { ok: boolean; detail: string }> = {};
    const check = (name: string, ok: boolean, detail: string) => {
      checks[name] = { ok, detail };
      console.log(`${ok ? "PASS" : "FAIL"}  ${name}: ${detail}`);
    };

    // 1. Every on-chain event of the contract is in contract_events once, in chain order, with its amount.
    let onChainPayments = 0;
    let lost = 0;
    let duplicated = 0;
    let misattributed = 0;
    const problems: string[] = [];
    for (const c of chains) {
      const head = await headOf(c);
      const logs = await c.node.client.getLogs({
        address: c.node.contract,
        event: paymentReceived,
        fromBlock: 0n,
        toBlock: head.number,
      });
      logs.sort((x, y) =>
        x.blockNumber === y.blockNumber ? x.logIndex - y.logIndex : x.blockNumber < y.blockNumber ? -1 : 1,
      );
      onChainPayments += logs.length;
      const { rows } = await db.query<{
        tx_hash: string;
        log_index: number;
        block_number: string;
        order_ref: string | null;
        amount: string;
        token: string;
        merchant: string;
      }>(
        `SELECT tx_hash, log_index, block_number::text, order_ref, amount::text, token, merchant FROM contract_events
          WHERE chain_id = $1 AND kind = 'payment' ORDER BY contract_events.block_number, contract_events.log_index`,
        [c.chainId.toString()],
      );
      const key = (tx: string, i: number) => `${tx.toLowerCase()}:${i}`;
      const seen = new Map<string, number>();
      for (const r of rows)
        seen.set(key(r.tx_hash, r.log_index), (seen.get(key(r.tx_hash, r.log_index)) ?? 0) + 1);
      duplicated += [...seen.values()].filter((n) => n > 1).length;
      const byKey = new Map(rows.map((r) => [key(r.tx_hash, r.log_index), r]));
      for (const l of logs) {
        const r = byKey.get(key(l.transactionHash, l.logIndex));
        if (!r) {
          lost++;
          problems.push(`${c.name}: ${l.transactionHash}#${l.logIndex} on chain, not in the database`);
          continue;
        }
        if (
          BigInt(r.amount) !== l.args.amount ||
          r.order_ref?.toLowerCase() !== l.args.orderId?.toLowerCase() ||
          r.token.toLowerCase() !== l.args.token?.toLowerCase() ||
          r.merchant.toLowerCase() !== l.args.merchant?.toLowerCase() ||
          BigInt(r.block_number) !== l.blockNumber
        ) {
          misattributed++;
          problems.push(`${c.name}: ${l.transactionHash}#${l.logIndex} differs: ${JSON.stringify(r)}`);
        }
      }
      const chainKeys = new Set(logs.map((l) => key(l.transactionHash, l.logIndex)));
      for (const r of rows)
        if (!chainKeys.has(key(r.tx_hash, r.log_index))) {
          misattributed++;
          problems.push(`${c.name}: ${r.tx_hash}#${r.log_index} in the database, not on the chain`);
        }
      const order = rows.map((r) => key(r.tx_hash, r.log_index)).filter((k) => chainKeys.has(k));
      const chainOrder = logs.map((l) => key(l.transactionHash, l.logIndex)).filter((k) => byKey.has(k));
      const firstDiff = order.findIndex((k, i) => k !== chainOrder[i]);
      if (firstDiff >= 0)
        problems.push(
          `${c.name}: events out of chain order at ${firstDiff}: database ${order[firstDiff]}, chain ${chainOrder[firstDiff]}`,
        );
    }
    check(
      "every on-chain payment reflected once, in order, with its amount",
      lost + duplicated + misattributed === 0 && !problems.some((p) => p.includes("out of chain order")),
      `${onChainPayments} payments on chain; lost ${lost}, duplicated ${duplicated}, misattributed ${misattributed}${problems.length ? `; ${problems.slice(0, 5).join("; ")}` : ""}`,
    );

    /** The chain's PaymentReceived amounts summed per (reference, token), as the chain finally is. */
    const paidByReference = async (c: SoakChain): Promise<Map<string, bigint>> => {
      const logs = await c.node.client.getLogs({
        address: c.node.contract,
        event: paymentReceived,
        fromBlock: 0n,
      });
      const paid = new Map<string, bigint>();
      for (const l of logs) {
        const k = `${l.args.orderId?.toLowerCase()}:${l.args.token?.toLowerCase()}`;
        paid.set(k, (paid.get(k) ?? 0n) + (l.args.amount ?? 0n));
      }
      return paid;
    };
    /** What an address holds of a token (ETH: 0x0…0): money waiting in a deposit address, unswept. */
    const heldAt = (c: SoakChain, token: string, address: string): Promise<bigint> =>
      token === ETH
        ? c.node.client.getBalance({ address: address as `0x${string}` })
        : c.node.client.readContract({
            address: token as `0x${string}`,
            abi: erc20,
            functionName: "balanceOf",
            args: [address as `0x${string}`],
          });

    // Each order's paid amount is the sum of the canonical payments for its reference.
    const orderRows = (
      await db.query<{
        id: string;
        chain_id: string;
        reference: string;
        token: string;
        status: string;
        amount_paid: string;
        transaction_id: string | null;
        paid_block: string | null;
        deposit_address: string | null;
      }>(
        "SELECT id::text, chain_id::text, reference, token, status, amount_paid::text, transaction_id, paid_block::text, deposit_address FROM orders ORDER BY orders.id",
      )
    ).rows;
    {
      let wrong = 0;
      let unswept = 0;
      const examples: string[] = [];
      for (const c of chains) {
        const paid = await paidByReference(c);
        for (const o of orderRows.filter((r) => r.chain_id === c.chainId.toString())) {
          const expected = paid.get(`${o.reference.toLowerCase()}:${o.token.toLowerCase()}`) ?? 0n;
          if (BigInt(o.amount_paid) === expected) continue;
          // Money still sitting in the deposit address (not swept yet) is counted as paid, not as a payment event.
          if (o.deposit_address) {
            const waiting = await heldAt(c, o.token, o.deposit_address);
            if (waiting > 0n && BigInt(o.amount_paid) === expected + waiting) {
              unswept++;
              continue;
            }
          }
          wrong++;
          if (examples.length < 5)
            examples.push(`order ${o.id}: paid ${o.amount_paid}, chain says ${expected}`);
        }
      }
      check(
        "every order's amount is what the chain paid it",
        wrong === 0,
        `${orderRows.length} orders, ${wrong} wrong${unswept ? `, ${unswept} with a deposit not swept yet` : ""}${examples.length ? `; ${examples.join("; ")}` : ""}`,
      );
    }

    // 1b. Each subscription's receipts (its periods' paid amounts and its credit) are what the chain
    // paid its reference: the sweeps' and collections' PaymentReceived, plus what waits unswept.
    const subscriptionRows = (
      await db.query<{
        id: string;
        chain_id: string;
        method: string;
        token: string;
        reference: string;
        deposit_address: string;
        status: string;
        received: string;
      }>(
        `SELECT s.id::text, s.chain_id::text, s.method, s.token, s.reference, s.deposit_address, s.status,
                (s.credit + COALESCE((SELECT sum(p.paid_amount) FROM subscription_periods p WHERE p.subscription_id = s.id), 0))::text AS received
           FROM subscriptions s ORDER BY s.id`,
      )
    ).rows;
    {
      let wrong = 0;
      let unswept = 0;
      let paidSubscriptions = 0;
      const examples: string[] = [];
      for (const c of chains) {
        const paid = await paidByReference(c);
        for (const s of subscriptionRows.filter((r) => r.chain_id === c.chainId.toString())) {
          const swept = paid.get(`${s.reference.toLowerCase()}:${s.token.toLowerCase()}`) ?? 0n;
          const waiting = s.method === "deposit" ? await heldAt(c, s.token, s.deposit_address) : 0n;
          if (swept + waiting > 0n) paidSubscriptions++;
          if (waiting > 0n) unswept++;
          if (BigInt(s.received) === swept + waiting) continue;
          wrong++;
          if (examples.length < 5)
            examples.push(
              `subscription ${s.id} (${s.method}): received ${s.received}, chain says ${swept} swept or collected + ${waiting} waiting`,
            );
        }
      }
      check(
        "every subscription's receipts are what the chain paid it",
        wrong === 0,
        `${subscriptionRows.length} subscriptions (${subscriptionRows.filter((r) => r.method === "token_pull").length} token_pull), ${paidSubscriptions} paid, ${wrong} wrong${unswept ? `, ${unswept} with a deposit not swept yet` : ""}${examples.length ? `; ${examples.join("; ")}` : ""}`,
      );
    }

    // 2. No order shows complete for money that is not final.
    {
      let falseComplete = 0;
      const examples: string[] = [];
      for (const o of orderRows.filter((r) => r.status === "complete")) {
        const c = chains.find((x) => x.chainId.toString() === o.chain_id) as SoakChain;
        const head = (await headOf(c)).number;
        const receipt = o.transaction_id
          ? await c.node.client
              .getTransactionReceipt({ hash: o.transaction_id as Hex })
              .catch(() => undefined)
          : undefined;
        const ok =
          receipt !== undefined &&
          receipt.status === "success" &&
          head - receipt.blockNumber + 1n >= BigInt(profile.confirmations);
        if (!ok) {
          falseComplete++;
          if (examples.length < 5) examples.push(`order ${o.id} (${o.transaction_id})`);
        }
      }
      check(
        "no false complete",
        falseComplete === 0,
        `${orderRows.filter((r) => r.status === "complete").length} complete orders, ${falseComplete} not backed by a final payment${examples.length ? `: ${examples.join(", ")}` : ""}`,
      );
    }

    // 3. reconcile: the ledger equals balanceOf on every chain.
    {
      let mismatches = 0;
      let rowsChecked = 0;
      for (const c of chains) {
        const report = await reconcile(db, c.node.client as PublicClient, c.chainId, c.node.contract);
        mismatches += report.mismatches;
        rowsChecked += report.rows.length;
      }
      check(
        "reconcile: ledger equals balanceOf",
        mismatches === 0 && rowsChecked > 0,
        `${rowsChecked} balances, ${mismatches} mismatches`,
      );
    }

    // 4. Callbacks: every status change delivered at least once, stable event id, in order per order.
    const callbackFigures = {
      rows: 0,
      delivered: 0,
      undelivered: 0,
      unstable: 0,
      outOfOrder: 0,
      lastNotFinal: 0,
      deliveries: 0,
      duplicates: 0,
    };
    {
      const { rows } = await db.query<{
        id: string;
        event_id: string;
        order_id: string | null;
        url: string;
        body: string;
        status: string;
        stream: string;
      }>(
        "SELECT id::text, event_id::text, order_id::text, url, body, status, stream FROM callbacks WHERE url = ANY($1) ORDER BY callbacks.id",
        [receiverUrls],
      );
      callbackFigures.rows = rows.length;
      const accepted = new Map<string, { body: string; at: number }[]>();
      for (const r of receivers)
        for (const d of r.accepted) {
          const list = accepted.get(d.eventId) ?? [];
          list.push({ body: d.body, at: d.at });
          accepted.set(d.eventId, list);
          callbackFigures.deliveries++;
        }
      const examples: string[] = [];
      const byOrder = new Map<string, typeof rows>();
      // Delivery order is promised per stream: one per order, one per subscription (and receiver).
      const byStream = new Map<string, typeof rows>();
      for (const r of rows) {
        const got = accepted.get(r.event_id);
        if (!got || r.status !== "delivered") {
          callbackFigures.undelivered++;
          if (examples.length < 5) examples.push(`callback ${r.id} (${r.status}) not accepted`);
          continue;
        }
        callbackFigures.delivered++;
        if (got.length > 1) callbackFigures.duplicates += got.length - 1;
        if (got.some((g) => g.body !== r.body)) callbackFigures.unstable++;
        if (r.order_id) byOrder.set(r.order_id, [...(byOrder.get(r.order_id) ?? []), r]);
        const stream = `${r.stream} ${r.url}`;
        byStream.set(stream, [...(byStream.get(stream) ?? []), r]);
      }
      for (const list of byStream.values()) {
        const firsts = list.map((r) => Math.min(...(accepted.get(r.event_id) ?? []).map((g) => g.at)));
        for (let i = 1; i < firsts.length; i++)
          if ((firsts[i] as number) < (firsts[i - 1] as number)) callbackFigures.outOfOrder++;
      }
      const statusById = new Map(orderRows.map((o) => [o.id, o.status]));
      for (const [orderId, list] of byOrder) {
        const last = list[list.length - 1];
        const lastStatus = last ? (JSON.parse(last.body) as { status?: string }).status : undefined;
        if (lastStatus !== statusById.get(orderId)) {
          callbackFigures.lastNotFinal++;
          if (examples.length < 8)
            examples.push(`order ${orderId}: last callback ${lastStatus}, order ${statusById.get(orderId)}`);
        }
      }
      check(
        "every callback delivered, stable event id, in order per order and per subscription",
        callbackFigures.undelivered === 0 &&
          callbackFigures.unstable === 0 &&
          callbackFigures.outOfOrder === 0 &&
          rows.length > 0,
        `${rows.length} callbacks, ${callbackFigures.deliveries} deliveries accepted (${callbackFigures.duplicates} repeats), undelivered ${callbackFigures.undelivered}, unstable ${callbackFigures.unstable}, out of order ${callbackFigures.outOfOrder} (${byStream.size} streams)${examples.length ? `; ${examples.join("; ")}` : ""}`,
      );
      check(
        "each order's last callback carries its final status",
        callbackFigures.lastNotFinal === 0,
        `${byOrder.size} orders with callbacks, ${callbackFigures.lastNotFinal} whose last callback is not the final status`,
      );
    }

    // 5. Plan limits held under concurrent keyed bursts.
    {
      let exceeded = 0;
      const details: string[] = [];
      for (const b of bursts) {
        const { rows } = await db.query<{ n: bigint }>(
          "SELECT count(*)::int8 AS n FROM orders o JOIN merchants m ON m.id = o.merchant_id WHERE m.email = $1",
          [b.merchant],
        );
        const stored = Number(rows[0]?.n ?? 0n);
        if (stored > b.limit || b.accepted > b.limit) exceeded++;
        details.push(`${b.plan} ${b.accepted}/${b.limit} accepted, ${stored} stored`);
      }
      check(
        "no plan limit exceeded",
        exceeded === 0,
        `${bursts.length} bursts of 3× the daily limit: ${details.join("; ")}`,
      );
    }

    // 6. No 5xx to a malformed request.
    check(
      "no 5xx to malformed requests",
      malformed.fiveXx === 0 && malformed.sent > 0,
      `${malformed.sent} malformed requests, ${malformed.fiveXx} answered 5xx (${malformed.fiveXxDuringFaults} answered 503 during a database or RPC outage; ${malformed.unreachable} met a killed process)${malformed.examples.length ? `; ${malformed.examples.join("; ")}` : ""}`,
    );

    // 7. The database equals a fresh reindex into an empty database.
    let reindexDatedBySweep = 0;
    {
      createDatabase(cluster, "soak_reindex");
      const freshUrl = cluster.url("soak_reindex");
      const fresh = await createDb({ databaseUrl: freshUrl, dataDir: undefined });
      cleanups.push(() => fresh.close());
      const { migrate } = await import("../../server/src/db/index.ts");
      await migrate(fresh);
      await copyOrdersAsCreated(db, fresh);
      // The watched deposit addresses, as created (nothing observed yet): the reindex must find every deposit itself.
      const { rows: deposits } = await db.query<Record<string, unknown>>(
        "SELECT chain_id, address, merchant, order_ref, token, watch_until, created_at FROM deposit_addresses",
      );
      for (const d of deposits)
        await fresh.query(
          `INSERT INTO deposit_addresses (chain_id, address, merchant, order_ref, token, watch_until, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [d.chain_id, d.address, d.merchant, d.order_ref, d.token, d.watch_until, d.created_at],
        );
      // The subscriptions as created (their merchant, period 0 with its locked rate, nothing paid, no
      // credit): the reindex must find every transfer and collection itself.
      await copySubscriptionsAsCreated(db, fresh);
      const reindexer = supervisor.add(
        "reindex",
        "indexer",
        serverEnv(chains, freshUrl, profile, {
          name: "reindex",
          api: false,
          indexer: true,
          worker: false,
          directRpc: true,
          // The chain's usual finality: a historical backfill up to the final block (large ranges,
          // balances bisected inside them, docs/deposits.md), then block by block to the head.
        }),
      );
      try {
        for (const c of chains) {
          const head = await headOf(c);
          await until(
            async () => {
              const cursor = await loadCursor(fresh, c.chainId);
              return cursor?.blockNumber === head.number && cursor.blockHash === head.hash ? true : undefined;
            },
            300_000,
            `fresh reindex of ${c.name}`,
          );
        }
        const [a, b] = [
          { ...(await indexedState(db)), ...(await subscriptionState(db)) },
          { ...(await indexedState(fresh)), ...(await subscriptionState(fresh)) },
        ];
        const diff: string[] = [];
        // A plain ETH deposit order that the reindex dates otherwise (the former backfill dated a
        // deposit swept inside a chunk by its sweep: another transaction_id, paid block, maybe
        // status) is counted apart, and fails the run unless --lenient-reindex; any other
        // difference always fails.
        const datedBySweep: string[] = [];
        const liveOrders = new Map(a.orders.map((r) => [String(r.id), r]));
        const freshOrders = new Map(b.orders.map((r) => [String(r.id), r]));
        const isDatedBySweep = (id: string) => {
          const l = liveOrders.get(id);
          const f = freshOrders.get(id);
          if (!l || !f) return false;
          const keys = Object.keys(l).filter((k) => JSON.stringify(l[k]) !== JSON.stringify(f[k]));
          const allowed = new Set([
            "transaction_id",
            "paid_block",
            "status",
            "exception",
            "sent_transaction",
          ]);
          const plainTransfer = orderRows.find((o) => o.id === id)?.deposit_address;
          return (
            keys.length > 0 &&
            keys.every((k) => allowed.has(k)) &&
            Boolean(plainTransfer) &&
            f.amount_paid === l.amount_paid
          );
        };
        for (const part of ["events", "orders", "ledger", "subscriptions", "periods"] as const) {
          const left = a[part].map((r) => JSON.stringify(r));
          const right = b[part].map((r) => JSON.stringify(r));
          const rightSet = new Set(right);
          const leftSet = new Set(left);
          let onlyLive = left.filter((r) => !rightSet.has(r));
          let onlyFresh = right.filter((r) => !leftSet.has(r));
          if (part === "orders") {
            const dated = new Set(
              onlyLive
                .map((r) => String((JSON.parse(r) as { id: string }).id))
                .filter((id) => isDatedBySweep(id)),
            );
            datedBySweep.push(...dated);
            const keep = (r: string) => !dated.has(String((JSON.parse(r) as { id: string }).id));
            onlyLive = onlyLive.filter(keep);
            onlyFresh = onlyFresh.filter(keep);
          }
          if (onlyLive.length || onlyFresh.length || left.length !== right.length)
            diff.push(
              `${part}: ${left.length} live vs ${right.length} reindexed rows, ${onlyLive.length} differ; live ${onlyLive.slice(0, 3).join(" | ")} ; reindexed ${onlyFresh.slice(0, 3).join(" | ")}`,
            );
        }
        reindexDatedBySweep = datedBySweep.length;
        const flipped = datedBySweep.filter(
          (id) => liveOrders.get(id)?.status !== freshOrders.get(id)?.status,
        );
        check(
          "database equals a fresh reindex",
          diff.length === 0 && (!strictReindex || datedBySweep.length === 0),
          (diff.length
            ? diff.join("; ")
            : `${a.events.length} events, ${a.orders.length} orders, ${a.ledger.length} ledger rows, ${a.subscriptions.length} subscriptions, ${a.periods.length} periods identical`) +
            (datedBySweep.length
              ? `; ${datedBySweep.length} plain-ETH-deposit orders dated by their sweep in the reindex (see docs/soak.md; fails the run unless --lenient-reindex), ${flipped.length} of them with another status (${flipped
                  .slice(0, 3)
                  .map(
                    (id) =>
                      `${id}: ${liveOrders.get(id)?.status} live, ${freshOrders.get(id)?.status} reindexed`,
                  )
                  .join(", ")})`
              : ""),
        );
      } catch (error) {
        check("database equals a fresh reindex", false, (error as Error).message);
      } finally {
        reindexer.kill9();
      }
    }

    // Faults all injected and recovered.
    const injectedOf = (k: FaultKind) => stats.injected.get(k) ?? 0;
    const short = FAULT_KINDS.filter((k) => injectedOf(k) < profile.faults[k]);
    check(
      "every planned fault injected and recovered",
      short.length === 0 && faultFailures.length === 0,
      `${FAULT_KINDS.map((k) => `${k} ${injectedOf(k)}/${profile.faults[k]}`).join(", ")}${faultFailures.length ? `; ${faultFailures.join("; ")}` : ""}`,
    );

    const unexpected = supervisor.all.flatMap((m) =>
      m.unexpectedExits.map((e) => `${m.name} exit ${e.code ?? e.signal}`),
    );
    const results = {
      profile: profileName,
      seed,
      reproduce: `npm run soak -- --profile ${profileName} --seed ${seed}`,
      date: new Date().toISOString(),
      minutes: Math.round(((now() - started) / 60_000) * 10) / 10,
      deployment: {
        chains: chains.length,
        apiProcesses: 2,
        indexerProcesses: 2,
        workerProcesses: 2,
        confirmations: profile.confirmations,
        blockMs: profile.blockMs,
      },
      faults: Object.fromEntries(
        FAULT_KINDS.map((k) => {
          const r = stats.recovery.get(k) ?? [];
          return [
            k,
            {
              planned: profile.faults[k],
              injected: injectedOf(k),
              maxRecoveryMs: r.length ? Math.max(...r) : null,
              meanRecoveryMs: r.length ? Math.round(r.reduce((s, x) => s + x, 0) / r.length) : null,
              kinds: Object.fromEntries(
                [...stats.injected.entries()]
                  .filter(([key]) => key.startsWith(`${k}:`))
                  .map(([key, v]) => [key.slice(k.length + 1), v]),
              ),
            },
          ];
        }),
      ),
      payments: {
        onChain: onChainPayments,
        orders: orderRows.length,
        subscriptions: subscriptionRows.length,
        tokenPullSubscriptions: subscriptionRows.filter((r) => r.method === "token_pull").length,
        streamActions: Object.fromEntries(sent),
      },
      callbacks: callbackFigures,
      reindexDatedBySweep: reindexDatedBySweep,
      malformed,
      bursts,
      processRestarts: Object.fromEntries(supervisor.all.map((m) => [m.name, m.starts - 1])),
      unexpectedExits: unexpected,
      faultFailures,
      checks,
      ok: Object.values(checks).every((c) => c.ok),
    };
    const file = join(
      ROOT,
      "bench",
      "results",
      profileName === "long" ? "soak.json" : `soak-${profileName}.json`,
    );
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    console.log("\nfaults (injected/planned, max recovery):");
    for (const k of FAULT_KINDS) {
      const f = results.faults[k] as { injected: number; planned: number; maxRecoveryMs: number | null };
      console.log(
        `  ${k.padEnd(10)} ${String(f.injected).padStart(4)}/${f.planned}  max ${f.maxRecoveryMs ?? "-"} ms`,
      );
    }
    console.log(
      `payments on chain ${onChainPayments}, orders ${orderRows.length}, subscriptions ${subscriptionRows.length}, callbacks ${callbackFigures.rows}, malformed requests ${malformed.sent}`,
    );
    if (unexpected.length) console.log(`process exits the soak did not cause: ${unexpected.join(", ")}`);
    console.log(`${results.ok ? "SOAK PASSED" : "SOAK FAILED"} (seed ${seed}); figures in ${file}`);
    return results.ok;
  }
}

const ok = await main().catch((error: unknown) => {
  console.error(`soak: ${(error as Error).stack ?? String(error)}`);
  return false;
});
process.exit(ok ? 0 : 1);
