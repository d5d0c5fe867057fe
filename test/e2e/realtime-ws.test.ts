import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import type { Indexer } from "../../server/src/indexer/index.ts";
import { createTestDb, type TestDb } from "../support/db.ts";
import { indexedState, testIndexer } from "../support/indexing.ts";
import { startNodeChain, startProxy } from "../support/node-chain.ts";
import { until } from "../support/until.ts";

/**
 * The realtime loop wakes on the node's `newHeads` WebSocket subscription (hardhat node serves
 * ws on its http port). With a 10 s poll interval, a payment is indexed within a couple of
 * seconds only through that subscription; an indexer without it is the control. The
 * subscription goes through a TCP proxy, so dropping the proxy is a real socket loss, after
 * which the indexer resubscribes by itself.
 */
describe("indexer: newHeads over WebSocket wakes the realtime loop", function () {
  this.timeout(90_000);
  const POLL_MS = 10_000;
  let chain: Awaited<ReturnType<typeof startNodeChain>>;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let withWs: TestDb;
  let control: TestDb;

  before(async function () {
    chain = await startNodeChain();
    proxy = await startProxy(chain.port);
    withWs = await createTestDb();
    control = await createTestDb();
  });

  after(async function () {
    await proxy?.down();
    await withWs?.drop();
    await control?.drop();
    await chain?.stop();
  });

  const indexer = (db: TestDb, newHeadsUrl: string | undefined): Indexer =>
    testIndexer(db.db, chain.client, chain.contract, {
      confirmations: 1,
      finalityBlocks: 8,
      pollIntervalMs: POLL_MS,
      newHeadsUrl,
    });

  let nextOrder = 5_000;
  const pay = () =>
    chain.wallet.writeContract({
      address: chain.contract,
      abi: chain.abi,
      functionName: "pay",
      args: [chain.merchant, `0x${(nextOrder++).toString(16).padStart(64, "0")}`],
      value: 1_000n,
      account: chain.customer,
      chain: null,
    });

  async function indexedWithin(i: Indexer, ms: number): Promise<number | undefined> {
    const head = await chain.client.getBlockNumber({ cacheTime: 0 });
    const started = performance.now();
    while (performance.now() - started < ms) {
      if (i.status().indexedBlock === head) return performance.now() - started;
      await new Promise((r) => setTimeout(r, 5));
    }
    return undefined;
  }

  it("indexes a payment within a couple of seconds despite a 10 s poll, and resubscribes after a drop", async function () {
    const fast = indexer(withWs, proxy.wsUrl);
    const slow = indexer(control, undefined);
    const stop = new AbortController();
    const runs = [fast.run(stop.signal), slow.run(stop.signal)];
    try {
      // Both index the deployment on their first step, then wait for the next poll (or a wake-up).
      const head = await chain.client.getBlockNumber({ cacheTime: 0 });
      await until(
        async () =>
          fast.status().indexedBlock === head && slow.status().indexedBlock === head ? true : undefined,
        10_000,
        "first steps",
      );
      await new Promise((r) => setTimeout(r, 300)); // the subscription is set up

      const latencies: number[] = [];
      for (let i = 0; i < 5; i++) {
        await pay();
        const took = await indexedWithin(fast, 2_000);
        assert.ok(took !== undefined, `payment ${i} indexed within 2 s through the subscription`);
        latencies.push(took);
      }
      // Without the subscription the same payments wait for the next 10 s poll.
      assert.notEqual(slow.status().indexedBlock, fast.status().indexedBlock, "control indexer still waits");

      // Drop the WebSocket (a real socket loss), then let it come back: it resubscribes.
      await proxy.down();
      await pay();
      await new Promise((r) => setTimeout(r, 300));
      await proxy.up();
      // While it was down, or until it resubscribed, polling is the fallback; give the
      // reconnect (500 ms, then 1 s backoff) time, then payments must be fast again.
      await new Promise((r) => setTimeout(r, 2_500));
      for (let i = 0; i < 3; i++) {
        await pay();
        const took = await indexedWithin(fast, 2_000);
        assert.ok(took !== undefined, `payment ${i} after the reconnect indexed within 2 s`);
        latencies.push(took);
      }
      assert.equal(fast.status().state, "following");
      const events = (await indexedState(withWs.db)).events;
      assert.equal(events.length, 9, "every payment exactly once");
      assert.ok(
        latencies.every((ms) => ms < 2_000),
        `wake-up latencies ${latencies.map((ms) => ms.toFixed(0)).join(", ")} ms`,
      );
    } finally {
      stop.abort();
      await Promise.all(runs);
    }
  });
});
