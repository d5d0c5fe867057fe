import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { createPublicClient, http, type PublicClient } from "viem";
import { createTestDb, type TestDb } from "../support/db.ts";
import { catchUp, indexedState, testIndexer } from "../support/indexing.ts";
import { startNodeChain, startProxy } from "../support/node-chain.ts";
import { until } from "../support/until.ts";

describe("indexer: the RPC node goes away and comes back", function () {
  this.timeout(120_000);
  let chain: Awaited<ReturnType<typeof startNodeChain>>;
  let testDb: TestDb;

  before(async function () {
    chain = await startNodeChain();
    testDb = await createTestDb();
  });

  after(async function () {
    await testDb?.drop();
    await chain?.stop();
  });

  it("retries with backoff and recovers without gaps or duplicates", async function () {
    const proxy = await startProxy(chain.port);
    const client = createPublicClient({
      transport: http(proxy.url, { retryCount: 0, timeout: 2_000 }),
    }) as PublicClient;
    const indexer = testIndexer(testDb.db, client, chain.contract, { confirmations: 2, finalityBlocks: 8 });
    const stop = new AbortController();
    const running = indexer.run(stop.signal);
    const pay = async (n: number) => {
      for (let i = 0; i < n; i++) {
        await chain.wallet.writeContract({
          address: chain.contract,
          abi: chain.abi,
          functionName: "pay",
          args: [chain.merchant, `0x${(1000 + i).toString(16).padStart(64, "0")}`],
          value: 1_000n + BigInt(i),
          account: chain.customer,
          chain: null,
        });
      }
    };
    try {
      await pay(3);
      let head = await chain.client.getBlockNumber({ cacheTime: 0 });
      await until(
        async () => (indexer.status().indexedBlock === head ? true : undefined),
        20_000,
        "first payments indexed",
      );

      await proxy.down();
      await pay(4); // mined while the indexer cannot reach the node
      await until(
        async () => (indexer.status().state === "retrying" ? true : undefined),
        20_000,
        "indexer notices the outage",
      );
      assert.match(indexer.status().lastError ?? "", /.+/);

      await proxy.up();
      head = await chain.client.getBlockNumber({ cacheTime: 0 });
      await until(
        async () => (indexer.status().indexedBlock === head ? true : undefined),
        40_000,
        "indexer recovers",
      );
      assert.equal(indexer.status().state, "following");
    } finally {
      stop.abort();
      await running;
      await proxy.down();
    }

    const survived = await indexedState(testDb.db);
    assert.equal(survived.events.length, 7, "every payment exactly once");
    const fresh = await createTestDb();
    try {
      await catchUp(
        testIndexer(fresh.db, chain.client, chain.contract, { confirmations: 2, finalityBlocks: 8 }),
      );
      assert.deepEqual(survived.events, (await indexedState(fresh.db)).events);
    } finally {
      await fresh.drop();
    }
  });
});
