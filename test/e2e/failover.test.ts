import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { after, before, describe, it } from "mocha";
import { parseEther } from "viem";
import { reconcile } from "../../server/src/ledger/reconcile.ts";
import { indexerLockKey } from "../../server/src/runtime/chain.ts";
import { createTestDb, onRealPostgres, type TestDb } from "../support/db.ts";
import { catchUp, copyOrdersAsCreated, indexedState, testIndexer } from "../support/indexing.ts";
import { freePort, startNodeChain } from "../support/node-chain.ts";
import { spawnServer } from "../support/server-process.ts";
import { until } from "../support/until.ts";

const ADMIN_TOKEN = "admin-token-for-the-e2e-tests-0123456789";
/** The advisory-lock key the indexing leader holds (server/src/system.ts, "ethpos:indexer"). */
const INDEXER_LOCK = indexerLockKey(31337n);

interface Health {
  chain: { head_block: number; indexed_block: number | null };
  indexer: { state: string; role: string };
}

/**
 * Leader failover across processes: two server processes against one PostgreSQL and one
 * `hardhat node`. Exactly one of them indexes at a time (it holds the advisory lock); when the
 * leader is SIGKILLed in the middle of a payment stream, the other takes over. Twice, so that each
 * process loses the lead once. The result must equal a fresh reindex, with every payment once.
 */
describe("indexer: leader failover between two server processes", function () {
  this.timeout(180_000);
  let chain: Awaited<ReturnType<typeof startNodeChain>>;
  /** A real token: start-up refuses a TOKENS entry with no code. */
  let usdc: `0x${string}`;
  let testDb: TestDb | undefined;
  const servers: { port: number; proc: ChildProcess }[] = [];

  before(async function () {
    if (!onRealPostgres()) {
      this.skip(); // PGlite lives inside one process: there is no second process to fail over to.
    }
    chain = await startNodeChain();
    usdc = await chain.deploy("mocks/MockStablecoin.sol/MockStablecoin.json");
    testDb = await createTestDb();
  });

  after(async function () {
    for (const s of servers) s.proc.kill("SIGKILL");
    await Promise.all(servers.map((s) => exited(s.proc)));
    await testDb?.drop();
    await chain?.stop();
  });

  const exited = (proc: ChildProcess) =>
    new Promise<void>((resolve) =>
      proc.exitCode !== null || proc.signalCode !== null ? resolve() : proc.once("exit", () => resolve()),
    );

  function startServer(port: number): ChildProcess {
    return spawnServer({
      ADMIN_TOKEN, // /health details need it
      LOG_LEVEL: "error",
      PORT: String(port),
      RPC_URL: chain.url,
      DATABASE_URL: testDb?.url,
      CONTRACT_ADDRESS: chain.contract,
      CONFIRMATIONS: "2",
      FINALITY_BLOCKS: "8",
      POLL_INTERVAL_MS: "20",
      TOKENS: `USDC:${usdc}:6`,
      RUN_CALLBACK_WORKER: "false",
    });
  }

  async function health(port: number): Promise<Health | undefined> {
    try {
      return (await (
        await fetch(`http://127.0.0.1:${port}/health`, {
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        })
      ).json()) as Health;
    } catch {
      return undefined;
    }
  }

  /** The backends holding the indexer lock, from PostgreSQL's own lock table. */
  async function lockHolders(): Promise<number> {
    const { rows } = await (testDb as TestDb).db.query<{ n: bigint }>(
      `SELECT count(*)::int8 AS n FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND ((classid::int8 << 32) | objid::int8) = $1 AND objsubid = 1`,
      [INDEXER_LOCK.toString()],
    );
    return Number(rows[0]?.n ?? 0n);
  }

  const isAlive = (s: { proc: ChildProcess }) => s.proc.exitCode === null && s.proc.signalCode === null;

  async function leader(): Promise<{ port: number; proc: ChildProcess }> {
    return until(
      async () => {
        const alive = servers.filter(isAlive);
        const roles = await Promise.all(alive.map(async (s) => (await health(s.port))?.indexer.role));
        const leaders = alive.filter((_, i) => roles[i] === "leader");
        assert.ok(leaders.length <= 1, `two leaders at once: ${roles.join(", ")}`);
        return leaders[0];
      },
      30_000,
      "an indexing leader",
    );
  }

  it("hands indexing over on kill -9 with no gaps or duplicates", async function () {
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      servers.push({ port, proc: startServer(port) });
    }
    for (const s of servers) await until(() => health(s.port), 60_000, `server on ${s.port} up`);
    const first = await leader();
    const standby = servers.find((s) => s !== first);
    assert.ok(standby);
    assert.equal((await health(standby.port))?.indexer.role, "standby");
    assert.equal(await lockHolders(), 1);

    // Sample the lock table and both roles throughout: never two holders.
    let sampling = true;
    let samples = 0;
    let mostHolders = 0;
    const sampler = (async () => {
      while (sampling) {
        mostHolders = Math.max(mostHolders, await lockHolders());
        samples++;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const payments: { id: number; value: bigint; hash: string }[] = [];
    const payOne = async (i: number) => {
      const alive = servers.filter(isAlive);
      const target = alive[i % alive.length];
      assert.ok(target, "a server to take the order");
      const res = await fetch(`http://127.0.0.1:${target.port}/order`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          amount: `${1 + (i % 3)}.00`,
          address: chain.merchant,
          callback: "http://127.0.0.1:9/",
        }),
      });
      assert.equal(res.status, 200);
      const order = (await res.json()) as { id: number; expected_amount: string; reference: string };
      const value = parseEther(order.expected_amount) / (i % 4 === 3 ? 2n : 1n);
      const hash = await chain.wallet.writeContract({
        address: chain.contract,
        abi: chain.abi,
        functionName: "pay",
        args: [chain.merchant, order.reference as `0x${string}`],
        value,
        account: chain.customer,
        chain: null,
      });
      payments.push({ id: order.id, value, hash });
      if (i % 2 === 0) await chain.mine(1);
    };

    try {
      let i = 0;
      for (; i < 8; i++) await payOne(i);
      // Kill the leader mid-stream; payments keep coming while nobody indexes.
      first.proc.kill("SIGKILL");
      await exited(first.proc);
      for (; i < 14; i++) await payOne(i);
      const second = await leader();
      assert.equal(second, standby, "the standby took over");

      // The killed process comes back as a standby; then the new leader dies too.
      const port = await freePort();
      const revived = { port, proc: startServer(port) };
      servers.push(revived);
      await until(() => health(port), 60_000, "revived server up");
      assert.equal((await health(port))?.indexer.role, "standby");
      for (; i < 20; i++) await payOne(i);
      second.proc.kill("SIGKILL");
      await exited(second.proc);
      for (; i < 26; i++) await payOne(i);
      const third = await leader();
      assert.equal(third, revived, "the revived process took over");

      await chain.mine(3);
      const head = Number(await chain.client.getBlockNumber({ cacheTime: 0 }));
      await until(
        async () => ((await health(third.port))?.chain.indexed_block === head ? true : undefined),
        60_000,
        "the last leader caught up",
      );
    } finally {
      sampling = false;
      await sampler;
    }
    assert.ok(samples > 10, `lock table sampled ${samples} times`);
    assert.equal(mostHolders, 1, "exactly one lock holder whenever anyone held it");
    for (const s of servers) s.proc.kill("SIGTERM");
    await Promise.all(servers.map((s) => exited(s.proc)));
    assert.equal(await lockHolders(), 0);

    const db = (testDb as TestDb).db;
    const { rows } = await db.query<{ tx_hash: string; n: bigint }>(
      "SELECT tx_hash, count(*)::int8 AS n FROM contract_events GROUP BY tx_hash",
    );
    assert.equal(rows.length, payments.length, "no gaps: every payment indexed");
    assert.ok(
      rows.every((r) => r.n === 1n),
      "no duplicates",
    );
    assert.deepEqual(new Set(rows.map((r) => r.tx_hash)), new Set(payments.map((p) => p.hash.toLowerCase())));
    const report = await reconcile(db, chain.client, 31337n, chain.contract);
    assert.equal(report.mismatches, 0);
    assert.ok(report.rows.length > 0);

    const fresh = await createTestDb();
    try {
      await copyOrdersAsCreated(db, fresh.db);
      await catchUp(
        testIndexer(fresh.db, chain.client, chain.contract, { confirmations: 2, finalityBlocks: 8 }),
      );
      assert.deepEqual(await indexedState(db), await indexedState(fresh.db));
    } finally {
      await fresh.drop();
    }
  });
});
