import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "mocha";
import { parseEther } from "viem";
import { createDb, migrate, type Db } from "../../server/src/db/index.ts";
import { reconcile } from "../../server/src/ledger/reconcile.ts";
import { createTestDb, onRealPostgres, type TestDb } from "../support/db.ts";
import { catchUp, copyOrdersAsCreated, indexedState, testIndexer } from "../support/indexing.ts";
import { freePort, startNodeChain } from "../support/node-chain.ts";
import { spawnServer } from "../support/server-process.ts";
import { until } from "../support/until.ts";

const ADMIN_TOKEN = "admin-token-for-the-e2e-tests-0123456789";
/**
 * Crash safety across processes: a real `hardhat node`, the real server process indexing into
 * PostgreSQL (or PGlite on disk), SIGKILLed at random points during a stream of payments and
 * restarted. The result must equal a fresh reindex, and the ledger must reconcile with the chain.
 */
describe("indexer: kill -9 during a payment stream, then restart", function () {
  this.timeout(240_000);
  let chain: Awaited<ReturnType<typeof startNodeChain>>;
  /** A real token: start-up refuses a TOKENS entry with no code. */
  let usdc: `0x${string}`;
  let testDb: TestDb | undefined;
  let dataDir: string | undefined;
  let port: number;
  let child: ChildProcess | undefined;

  before(async function () {
    chain = await startNodeChain();
    usdc = await chain.deploy("mocks/MockStablecoin.sol/MockStablecoin.json");
    port = await freePort();
    if (onRealPostgres()) testDb = await createTestDb();
    else dataDir = mkdtempSync(join(tmpdir(), "ethpos-crash-"));
  });

  after(async function () {
    child?.kill("SIGKILL");
    await testDb?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    await chain?.stop();
  });

  function startServer(): ChildProcess {
    return spawnServer({
      ADMIN_TOKEN, // /health details need it
      LOG_LEVEL: "error",
      PORT: String(port),
      RPC_URL: chain.url,
      CONTRACT_ADDRESS: chain.contract,
      CONFIRMATIONS: "2",
      FINALITY_BLOCKS: "8",
      POLL_INTERVAL_MS: "20",
      TOKENS: `USDC:${usdc}:6`,
      RUN_CALLBACK_WORKER: "false",
      ...(testDb?.url ? { DATABASE_URL: testDb.url } : { DATA_DIR: dataDir as string }),
    });
  }

  const api = `http://127.0.0.1:`;
  const health = async () => {
    try {
      const res = await fetch(`${api}${port}/health`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      return (await res.json()) as { chain: { head_block: number; indexed_block: number } };
    } catch {
      return undefined;
    }
  };
  const killed = (proc: ChildProcess) =>
    new Promise<void>((resolve) =>
      proc.exitCode !== null || proc.signalCode !== null ? resolve() : proc.once("exit", () => resolve()),
    );

  it("ends with the same database as an uninterrupted reindex", async function () {
    child = startServer();
    await until(health, 60_000, "server up");

    const orders: { id: number; reference: string; expected: bigint }[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`${api}${port}/order`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          amount: `${1 + (i % 4)}.00`,
          address: chain.merchant,
          callback: "http://127.0.0.1:9/",
        }),
      });
      assert.equal(res.status, 200);
      const order = (await res.json()) as { id: number; expected_amount: string; reference: string };
      // Some orders get the full amount, some a partial one, one an overpayment.
      const full = parseEther(order.expected_amount);
      orders.push({
        id: order.id,
        reference: order.reference,
        expected: i % 5 === 3 ? full / 2n : i % 7 === 6 ? full * 2n : full,
      });
    }

    // Stream the payments while killing and restarting the server at random moments.
    let kills = 0;
    const chaos = (async () => {
      for (let k = 0; k < 5; k++) {
        await new Promise((r) => setTimeout(r, 150 + Math.floor(Math.random() * 400)));
        const victim = child;
        victim?.kill("SIGKILL");
        if (victim) await killed(victim);
        kills++;
        child = startServer();
      }
    })();
    for (const [i, order] of orders.entries()) {
      await chain.wallet.writeContract({
        address: chain.contract,
        abi: chain.abi,
        functionName: "pay",
        args: [chain.merchant, order.reference as `0x${string}`],
        value: order.expected,
        account: chain.customer,
        chain: null,
      });
      if (i % 3 === 0) await chain.client.request({ method: "evm_mine" as never, params: [] as never });
      await new Promise((r) => setTimeout(r, 60));
    }
    await chaos;
    assert.equal(kills, 5);
    for (let i = 0; i < 3; i++)
      await chain.client.request({ method: "evm_mine" as never, params: [] as never });
    const head = Number(await chain.client.getBlockNumber({ cacheTime: 0 }));
    await until(
      async () => ((await health())?.chain.indexed_block === head ? true : undefined),
      90_000,
      "indexer caught up after the crashes",
    );
    child.kill("SIGTERM");
    await killed(child);

    const db: Db = testDb ? testDb.db : await createDb({ databaseUrl: undefined, dataDir });
    const fresh = await createTestDb();
    try {
      await migrate(db);
      const report = await reconcile(db, chain.client, 31337n, chain.contract);
      assert.equal(report.mismatches, 0);
      assert.ok(report.rows.length > 0);
      await copyOrdersAsCreated(db, fresh.db);
      await catchUp(
        testIndexer(fresh.db, chain.client, chain.contract, { confirmations: 2, finalityBlocks: 8 }),
      );
      const survived = await indexedState(db);
      assert.equal(survived.events.length, orders.length, "every payment counted exactly once");
      assert.deepEqual(survived, await indexedState(fresh.db));
    } finally {
      await fresh.drop();
      if (!testDb) await db.close();
    }
  });
});
