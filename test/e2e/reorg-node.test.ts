import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { parseEther } from "viem";
import { reconcile } from "../../server/src/ledger/reconcile.ts";
import { FatalIndexerError } from "../../server/src/indexer/rpc.ts";
import { loadCursor } from "../../server/src/indexer/store.ts";
import type { System } from "../../server/src/system.ts";
import { createTestDb, type TestDb } from "../support/db.ts";
import {
  catchUp,
  copyOrdersAsCreated,
  indexedState,
  testIndexer,
  waitUntilIndexed,
} from "../support/indexing.ts";
import { startNodeSystem, type NodeChain, type NodeSystem } from "../support/node-system.ts";

/**
 * Reorgs on a real chain process (`hardhat node`), with the indexer running its own loop against
 * it over HTTP: snapshot, pay, mine, then `evm_revert` to the snapshot and mine a longer branch
 * that starts with a different transaction (a real fork: empty blocks could come out identical),
 * at every depth from 1 to CONFIRMATIONS + 2. Three replacement branches per depth:
 *
 * - dropped: the payment is gone; the order must be pending again;
 * - partial: a half payment from someone else takes its place; pending with paid_partial;
 * - re-mined: the same payment lands again in the branch's last block; success, not complete.
 *
 * No false success or complete may survive, the last callback queued for each order must report
 * its final status, the database must equal a fresh reindex, and the ledger must reconcile.
 */
describe("indexer on a hardhat node: reorgs at depths 1 … CONFIRMATIONS + 2", function () {
  this.timeout(120_000);
  const CONFIRMATIONS = 3;
  const FINALITY = 16;
  let node: NodeSystem;
  let chain: NodeChain;
  /** A real token: start-up refuses a TOKENS entry with no code. */
  let usdc: `0x${string}`;
  let testDb: TestDb;
  let system: System;

  before(async function () {
    node = await startNodeSystem({
      async prepare(chain) {
        usdc = await chain.deploy("mocks/MockStablecoin.sol/MockStablecoin.json");
      },
      env: () => ({
        CONFIRMATIONS: String(CONFIRMATIONS),
        FINALITY_BLOCKS: String(FINALITY),
        TOKENS: `USDC:${usdc}:6`,
      }),
    });
    ({ chain, testDb, system } = node);
  });

  after(async function () {
    await node?.close();
  });

  async function createOrder() {
    const res = await system.app.inject({
      method: "POST",
      url: "/order",
      payload: { amount: "2.00", address: chain.merchant, callback: "http://127.0.0.1:9/cb" },
    });
    assert.equal(res.statusCode, 200, res.body);
    const order = res.json() as { id: number; expected_amount: string; reference: `0x${string}` };
    references.set(order.id, order.reference);
    return { id: order.id, expected: parseEther(order.expected_amount) };
  }
  /** Each order's on-chain reference, by id (what `pay` takes). */
  const references = new Map<number, `0x${string}`>();

  async function order(id: number) {
    const res = await system.app.inject({ method: "GET", url: `/order/${id}` });
    return res.json() as { status: string; exception?: string | null; amount_paid?: string };
  }

  const pay = (from: `0x${string}`, id: number, value: bigint) =>
    chain.wallet.writeContract({
      address: chain.contract,
      abi: chain.abi,
      functionName: "pay",
      args: [chain.merchant, references.get(id) as `0x${string}`],
      value,
      account: from,
      chain: null,
    });
  // A transaction that touches no order: it only makes the new branch differ from the old one.
  const transfer = () =>
    chain.wallet.sendTransaction({ to: chain.owner, value: 1n, account: chain.merchant, chain: null });

  async function eventsOf(id: number) {
    const { rows } = await testDb.db.query<{ block_hash: string; amount: string }>(
      "SELECT block_hash, amount FROM contract_events WHERE order_id = $1 ORDER BY block_number, log_index",
      [id],
    );
    return rows;
  }

  async function lastCallbackStatus(id: number): Promise<string | undefined> {
    const { rows } = await testDb.db.query<{ body: string }>(
      "SELECT body FROM callbacks WHERE order_id = $1 ORDER BY id DESC LIMIT 1",
      [id],
    );
    return rows[0] ? (JSON.parse(rows[0].body) as { status: string }).status : undefined;
  }

  it("rolls back every orphaned effect, keeps canonical ones, and matches a fresh reindex", async function () {
    const indexer = testIndexer(testDb.db, chain.client, chain.contract, {
      confirmations: CONFIRMATIONS,
      finalityBlocks: FINALITY,
    });
    const reorgs: number[] = [];
    const stop = new AbortController();
    // A failure surfaces through waitUntilIndexed (status "failed") and again after the loop.
    let failure: unknown;
    const running = indexer.run(stop.signal).catch((error: unknown) => {
      failure = error;
    });
    const indexed = () => waitUntilIndexed(testDb.db, chain.client, { indexer });
    const expectations: { id: number; status: string; exception: string | null; paid: bigint }[] = [];
    try {
      // A payment that stays canonical throughout: rollbacks must keep it.
      const kept = await createOrder();
      await pay(chain.customer, kept.id, kept.expected);
      await indexed();
      expectations.push({ id: kept.id, status: "complete", exception: null, paid: kept.expected });

      for (let depth = 1; depth <= CONFIRMATIONS + 2; depth++) {
        for (const variant of ["dropped", "partial", "re-mined"] as const) {
          const what = `depth ${depth}, ${variant}`;
          const o = await createOrder();
          const snapshot = await chain.snapshot();
          const forkPoint = await chain.client.getBlockNumber({ cacheTime: 0 });
          await pay(chain.customer, o.id, o.expected);
          await chain.mine(depth - 1);
          await indexed();
          const before = await order(o.id);
          assert.equal(
            before.status,
            depth >= CONFIRMATIONS ? "complete" : "success",
            `${what}: before the reorg`,
          );
          const [orphaned] = await eventsOf(o.id);
          assert.ok(orphaned, `${what}: payment indexed before the reorg`);

          await chain.revert(snapshot);
          // The new branch is one block longer than the old one (depth blocks past the fork point).
          if (variant === "partial") await pay(chain.other, o.id, o.expected / 2n);
          else await transfer();
          if (variant === "re-mined") {
            await chain.mine(depth - 1);
            await pay(chain.customer, o.id, o.expected);
          } else {
            await chain.mine(depth);
          }
          const head = await indexed();
          assert.equal(head, forkPoint + BigInt(depth) + 1n, `${what}: branch length`);
          reorgs.push(depth);

          const after = await order(o.id);
          const events = await eventsOf(o.id);
          assert.ok(
            events.every((e) => e.block_hash !== orphaned.block_hash),
            `${what}: no event from the orphaned block survives`,
          );
          if (variant === "dropped") {
            assert.equal(after.status, "pending", `${what}: the orphaned payment must not count`);
            assert.equal(events.length, 0, `${what}: orphaned events deleted`);
            expectations.push({ id: o.id, status: "pending", exception: null, paid: 0n });
          } else if (variant === "partial") {
            assert.equal(after.status, "pending", `${what}: half a payment is not a payment`);
            assert.equal(after.exception, "paid_partial", what);
            assert.deepEqual(
              events.map((e) => BigInt(e.amount)),
              [o.expected / 2n],
              what,
            );
            expectations.push({
              id: o.id,
              status: "pending",
              exception: "paid_partial",
              paid: o.expected / 2n,
            });
          } else {
            // One confirmation on the new branch: success, whatever the old branch had reached.
            assert.equal(after.status, "success", `${what}: re-mined`);
            assert.equal(events.length, 1, `${what}: counted once`);
            expectations.push({ id: o.id, status: "success", exception: null, paid: o.expected });
          }
          assert.equal(await lastCallbackStatus(o.id), after.status, `${what}: last callback`);
        }
      }
      // Everything still open reaches its final confirmations on the final chain.
      await chain.mine(CONFIRMATIONS);
      await indexed();
    } finally {
      stop.abort();
      await running;
    }
    assert.equal(failure, undefined);
    assert.equal(reorgs.length, 3 * (CONFIRMATIONS + 2));
    assert.notEqual(indexer.status().state, "failed", indexer.status().lastError ?? "");

    for (const e of expectations) {
      const final = await order(e.id);
      const status = e.status === "success" ? "complete" : e.status;
      assert.equal(final.status, status, `order ${e.id}: final status`);
      assert.equal(final.exception ?? null, e.exception, `order ${e.id}: final exception`);
      const { rows } = await testDb.db.query<{ amount_paid: string }>(
        "SELECT amount_paid FROM orders WHERE id = $1",
        [e.id],
      );
      assert.equal(BigInt(rows[0]?.amount_paid ?? -1), e.paid, `order ${e.id}: amount paid`);
      assert.equal(await lastCallbackStatus(e.id), status, `order ${e.id}: last callback`);
    }
    const { rows: stray } = await testDb.db.query<{ n: bigint }>(
      "SELECT count(*)::int8 AS n FROM orders WHERE status IN ('success', 'complete') AND amount_paid < expected_amount",
    );
    assert.equal(stray[0]?.n, 0n, "no success or complete without a full canonical payment");

    const report = await reconcile(testDb.db, chain.client, 31337n, chain.contract);
    assert.equal(
      report.mismatches,
      0,
      JSON.stringify(report.rows, (_, v) => (typeof v === "bigint" ? `${v}` : v)),
    );
    assert.ok(report.rows.length > 0);

    // A fresh reindex of the final chain into a new database gives the same database.
    const fresh = await createTestDb();
    try {
      await copyOrdersAsCreated(testDb.db, fresh.db);
      await catchUp(
        testIndexer(fresh.db, chain.client, chain.contract, {
          confirmations: CONFIRMATIONS,
          finalityBlocks: FINALITY,
        }),
      );
      assert.deepEqual(await indexedState(testDb.db), await indexedState(fresh.db));
      assert.deepEqual(await loadCursor(testDb.db, 31337n), await loadCursor(fresh.db, 31337n));
    } finally {
      await fresh.drop();
    }
  });

  it("stops loudly on a reorg deeper than the finality window", async function () {
    const db2 = await createTestDb();
    const indexer = testIndexer(db2.db, chain.client, chain.contract, {
      confirmations: 2,
      finalityBlocks: 4,
    });
    const stop = new AbortController();
    const outcome = indexer.run(stop.signal).then(
      () => new Error("the indexer stopped without an error"),
      (error: unknown) => error,
    );
    try {
      const snapshot = await chain.snapshot();
      await chain.mine(10);
      await waitUntilIndexed(db2.db, chain.client, { indexer });
      await chain.revert(snapshot);
      await transfer(); // a different first block on the new branch
      await chain.mine(12);
      const error = await outcome;
      assert.ok(error instanceof FatalIndexerError, String(error));
      assert.match(error.message, /reorg deeper than the finality window/);
      assert.equal(indexer.status().state, "failed");
    } finally {
      stop.abort();
      await outcome;
      await db2.drop();
    }
  });
});
