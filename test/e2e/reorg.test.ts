import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { reconcile } from "../../server/src/ledger/reconcile.ts";
import type { System } from "../../server/src/system.ts";
import { startInProcessSystem, type ApiSystem } from "../support/api-system.ts";
import { createTestDb, type TestDb } from "../support/db.ts";
import { catchUp, copyOrdersAsCreated, indexedState, testIndexer } from "../support/indexing.ts";

/**
 * Reorgs on a real EVM: snapshot, pay, mine, then revert to the snapshot and mine other blocks,
 * at every depth from 1 to CONFIRMATIONS + 2. No false success or complete may survive, and the
 * database must equal a fresh reindex of the final chain.
 */
describe("indexer: reorgs at depths 1 … CONFIRMATIONS + 2", function () {
  const CONFIRMATIONS = 3;
  const FINALITY = 16;
  let started: ApiSystem;
  let chain: ApiSystem["chain"];
  let testDb: TestDb;
  let system: System;

  before(async function () {
    // The test steps its own indexers; the system runs its callback worker, from the start block it finds.
    started = await startInProcessSystem({
      env: {
        RUN_CALLBACK_WORKER: "true",
        START_BLOCK: undefined,
        CONFIRMATIONS: String(CONFIRMATIONS),
        FINALITY_BLOCKS: String(FINALITY),
      },
    });
    ({ chain, testDb, system } = started);
  });

  after(async function () {
    await started?.close();
  });

  async function createOrder(amount: string) {
    const res = await system.app.inject({
      method: "POST",
      url: "/order",
      payload: { amount, address: chain.merchant.address, callback: "http://127.0.0.1:9/cb" },
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { id: number; expected_amount: string; reference: string };
  }

  async function status(id: number) {
    return (await system.app.inject({ method: "GET", url: `/order/${id}` })).json().status as string;
  }

  it("rolls back every orphaned payment and matches a fresh reindex", async function () {
    const indexer = testIndexer(testDb.db, chain.client, chain.contractAddress, {
      confirmations: CONFIRMATIONS,
      finalityBlocks: FINALITY,
    });
    // A payment that stays canonical throughout, so rollbacks must keep it.
    const kept = await createOrder("1.00");
    await (
      await chain.processor.connect(chain.customer).getFunction("pay")(
        chain.merchant.address,
        kept.reference as `0x${string}`,
        { value: 500000000000000n },
      )
    ).wait();
    await catchUp(indexer);

    for (let depth = 1; depth <= CONFIRMATIONS + 2; depth++) {
      const order = await createOrder("2.00"); // 0.001 ETH at $2000
      const snapshot = await chain.connection.provider.request({ method: "evm_snapshot", params: [] });
      await (
        await chain.processor.connect(chain.customer).getFunction("pay")(
          chain.merchant.address,
          order.reference as `0x${string}`,
          { value: 10n ** 15n },
        )
      ).wait();
      if (depth > 1) await chain.mine(depth - 1);
      await catchUp(indexer);
      assert.equal(
        await status(order.id),
        depth >= CONFIRMATIONS ? "complete" : "success",
        `depth ${depth} before the reorg`,
      );

      await chain.connection.provider.request({ method: "evm_revert", params: [snapshot] });
      await chain.mine(depth + 1); // a longer chain without the payment
      await catchUp(indexer);
      assert.equal(await status(order.id), "pending", `depth ${depth}: the orphaned payment must not count`);
      const { rows } = await testDb.db.query<{ n: bigint }>(
        "SELECT count(*)::int8 AS n FROM contract_events WHERE order_id = $1",
        [order.id],
      );
      assert.equal(rows[0]?.n, 0n, `depth ${depth}: orphaned events deleted`);
    }
    assert.equal(await status(kept.id), "complete");

    const report = await reconcile(testDb.db, chain.client, 31337n, chain.contractAddress);
    assert.equal(report.mismatches, 0);
    assert.ok(report.rows.length > 0);

    // A fresh reindex of the final chain gives the same database.
    const fresh = await createTestDb();
    try {
      await copyOrdersAsCreated(testDb.db, fresh.db);
      await catchUp(
        testIndexer(fresh.db, chain.client, chain.contractAddress, {
          confirmations: CONFIRMATIONS,
          finalityBlocks: FINALITY,
        }),
      );
      assert.deepEqual(await indexedState(testDb.db), await indexedState(fresh.db));
    } finally {
      await fresh.drop();
    }
  });

  it("stops loudly on a reorg deeper than the finality window", async function () {
    const db2 = await createTestDb();
    try {
      const indexer = testIndexer(db2.db, chain.client, chain.contractAddress, {
        confirmations: 2,
        finalityBlocks: 4,
      });
      const snapshot = await chain.connection.provider.request({ method: "evm_snapshot", params: [] });
      await chain.mine(10);
      await catchUp(indexer);
      await chain.connection.provider.request({ method: "evm_revert", params: [snapshot] });
      // A different first block on the new branch (empty blocks could come out identical).
      await (await chain.other.sendTransaction({ to: chain.customer.address, value: 1n })).wait();
      await chain.mine(12);
      await assert.rejects(catchUp(indexer), /reorg deeper than the finality window/);
    } finally {
      await db2.drop();
    }
  });
});
