import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { createPublicClient, http } from "viem";
import { eventsByOwner } from "../../server/src/chain/events.ts";
import type { ChainModule } from "../../server/src/chain/module.ts";
import { chainModules } from "../../server/src/runtime/modules.ts";
import { buildPipeline, createChainIndexer } from "../../server/src/runtime/pipeline.ts";
import { deleteChainDataOf } from "../../server/src/runtime/reset.ts";
import { startInProcessSystem } from "../support/api-system.ts";
import { createTestChain } from "../support/chain.ts";
import { createTestDb, type TestDb } from "../support/db.ts";
import { catchUp, pipelineIndexer, testChainContext, testIndexer } from "../support/indexing.ts";

const PRODUCTION = [
  "deposits",
  "payments",
  "payment-methods",
  "token-subscriptions",
  "recurring",
  "eletropay-eth",
];

/**
 * A capability plugs in as one module (its own folder) and one line of the module list: this
 * example records the contract's Withdrawn events in a table of its own, with nothing else wired.
 */
const exampleWithdrawals: ChainModule = {
  name: "example-withdrawals",
  // Withdrawn is decoded by the payments module's source; a module with new logs lists its sources here.
  sources: () => [],
  sink: () => ({
    async apply(tx, step) {
      switch (step.type) {
        case "block":
          for (const e of eventsByOwner(step.events).contract) {
            if (e.kind !== "withdrawal") continue;
            await tx.query(
              `INSERT INTO example_withdrawals (chain_id, block_number, log_index, merchant, amount)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
              [e.chainId, e.blockNumber, e.logIndex, e.merchant, e.amount.toString()],
            );
          }
          return;
        case "reorg":
          await tx.query("DELETE FROM example_withdrawals WHERE chain_id = $1 AND block_number > $2", [
            step.chainId,
            step.ancestor.number,
          ]);
          return;
        case "finalize":
          return;
      }
    },
  }),
  async deleteChainData(tx, chainId) {
    await tx.query("DELETE FROM example_withdrawals WHERE chain_id = $1", [chainId]);
  },
  health: () => ({ example_withdrawals: "on" }),
};

describe("chain modules: the pipeline is built from the module list", function () {
  this.timeout(60_000);
  let testDb: TestDb;
  let chain: Awaited<ReturnType<typeof createTestChain>>;

  before(async function () {
    testDb = await createTestDb();
    chain = await createTestChain();
    await testDb.db.query(
      `CREATE TABLE example_withdrawals (chain_id numeric(78,0), block_number numeric(78,0), log_index integer,
         merchant text, amount numeric(78,0), PRIMARY KEY (chain_id, block_number, log_index))`,
    );
  });
  after(async function () {
    await chain?.close();
    await testDb?.drop();
  });

  it("the tests' pipelines have every production module, in production's order", function () {
    assert.deepEqual(
      chainModules.map((m) => m.name),
      PRODUCTION,
    );
    const client = createPublicClient({ transport: http("http://127.0.0.1:1") });
    const indexer = testIndexer(testDb.db, client, `0x${"cc".repeat(20)}`, {
      confirmations: 1,
      finalityBlocks: 8,
    });
    assert.deepEqual(indexer.modules, PRODUCTION);
  });

  it("a system started by the harness runs every production module, and so does the pipeline its tests step", async function () {
    const started = await startInProcessSystem();
    try {
      const [runtime] = started.system.chains;
      assert.deepEqual(runtime?.modules, PRODUCTION);
      assert.deepEqual(pipelineIndexer(runtime).modules, PRODUCTION);
    } finally {
      await started.close();
    }
  });

  it("a module listed twice is refused", function () {
    const ctx = testChainContext(testDb.db, chain.client, chain.contractAddress, { confirmations: 1 });
    assert.throws(
      () => buildPipeline([...chainModules, chainModules[0] as ChainModule<never>], ctx),
      /listed twice/,
    );
  });

  it("an example module added by one line of the list records Withdrawn events, and dev reset forgets them", async function () {
    const modules = [...chainModules, exampleWithdrawals];
    const ctx = testChainContext(testDb.db, chain.client, chain.contractAddress, { confirmations: 1 });
    const indexer = createChainIndexer(modules, ctx, {
      startBlock: 0n,
      finalityBlocks: 8,
      pollIntervalMs: 20,
    });
    assert.deepEqual(indexer.modules, [...PRODUCTION, "example-withdrawals"]);

    const merchant = chain.merchant.address;
    const orderId = `0x${"ab".repeat(32)}`;
    await (
      await chain.processor.connect(chain.customer).getFunction("pay")(merchant, orderId, { value: 5_000n })
    ).wait();
    const eth = "0x0000000000000000000000000000000000000000";
    await (
      await chain.processor.connect(chain.merchant).getFunction("withdraw")(eth, 3_000n, merchant)
    ).wait();
    await catchUp(indexer);

    const { rows } = await testDb.db.query<{ merchant: string; amount: string }>(
      "SELECT merchant, amount::text FROM example_withdrawals",
    );
    assert.deepEqual(rows, [{ merchant: merchant.toLowerCase(), amount: "3000" }]);

    await testDb.db.transaction((tx) => deleteChainDataOf(modules)(tx, 31337n));
    const left = await testDb.db.query("SELECT 1 FROM example_withdrawals");
    assert.equal(left.rows.length, 0);
  });
});
