import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, it } from "mocha";
import pino from "pino";
import { parseEther, type Hex } from "viem";
import { depositsAbi } from "../../server/src/deposits/abi.ts";
import type { Db } from "../../server/src/db/types.ts";
import { createOrderEvents } from "../../server/src/orders/events.ts";
import type { ChainIndexer } from "../../server/src/runtime/pipeline.ts";
import type { System } from "../../server/src/system.ts";
import { createTestDb, type TestDb } from "../support/db.ts";
import { catchUp, copyOrdersAsCreated, indexedState, pipelineIndexer } from "../support/indexing.ts";
import { startNodeSystem, type NodeChain, type NodeSystem } from "../support/node-system.ts";

/**
 * A fresh reindex (historical backfill in one large chunk, or a realtime catch-up in steps of many
 * blocks) equals the live indexer that went block by block, for plain ETH transfers to deposit
 * addresses: paid before expiry and swept after it (the money came and went inside the chunk, so
 * the chunk's last balance shows nothing), paid in two parts before one sweep, and paid and never
 * swept. Each inflow is dated to its own block, with its transaction.
 */
describe("deposit addresses: a historical reindex dates each plain ETH transfer like the live indexer", function () {
  this.timeout(180_000);
  const CONFIRMATIONS = 2;
  const ETH = "0x0000000000000000000000000000000000000000";
  let node: NodeSystem;
  let chain: NodeChain;
  let live: TestDb;
  let fresh: TestDb;
  let batched: TestDb;
  let system: System;
  let multicall3: `0x${string}`;
  let start: bigint;

  function indexer(
    db: Db,
    options: { finalityBlocks: number; realtimeBatch?: number; log?: pino.Logger },
  ): ChainIndexer {
    return pipelineIndexer(system.chains[0], {
      context: {
        client: chain.client,
        db,
        confirmations: CONFIRMATIONS,
        orderEvents: createOrderEvents([]),
        multicall3,
        ...(options.log ? { log: options.log } : {}),
      },
      startBlock: start,
      finalityBlocks: options.finalityBlocks,
      ...(options.realtimeBatch ? { realtimeBatch: options.realtimeBatch } : {}),
    });
  }

  before(async function () {
    node = await startNodeSystem({
      modules: ["multicall3"],
      // FINALITY_BLOCKS as production has it: the indexers here get theirs from the test.
      env: { CONFIRMATIONS: String(CONFIRMATIONS), FINALITY_BLOCKS: undefined },
    });
    ({ chain, system, testDb: live } = node);
    multicall3 = node.multicall3 as `0x${string}`;
    [fresh, batched] = [await createTestDb(), await createTestDb()];
  });

  after(async function () {
    await fresh?.drop();
    await batched?.drop();
    await node?.close();
  });

  it("gives every order the live status, exception, paid block, amount and transaction", async function () {
    const orders: { id: number; address: `0x${string}`; ref: Hex; expected: bigint }[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await system.app.inject({
        method: "POST",
        url: "/order",
        payload: { amount: "2.00", address: chain.merchant, callback: "http://127.0.0.1:9/cb" },
      });
      assert.equal(res.statusCode, 200, res.body);
      const o = res.json() as { id: number; address: `0x${string}`; reference: Hex; expected_amount: string };
      orders.push({
        id: o.id,
        address: o.address,
        ref: o.reference,
        expected: parseEther(o.expected_amount),
      });
    }
    const [onTime, inTwoParts, neverSwept] = orders as [
      (typeof orders)[0],
      (typeof orders)[0],
      (typeof orders)[0],
    ];
    // The reindex starts from the orders as they were created, nothing observed.
    for (const db of [fresh.db, batched.db]) {
      await copyOrdersAsCreated(live.db, db);
      const { rows: deposits } = await live.db.query<Record<string, unknown>>(
        "SELECT chain_id, address, merchant, order_ref, token, watch_until, created_at FROM deposit_addresses",
      );
      for (const d of deposits)
        await db.query(
          `INSERT INTO deposit_addresses (chain_id, address, merchant, order_ref, token, watch_until, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [d.chain_id, d.address, d.merchant, d.order_ref, d.token, d.watch_until, d.created_at],
        );
    }

    // The live indexer follows one block at a time, never historical.
    start = (await chain.client.getBlockNumber()) + 1n;
    const follower = indexer(live.db, { finalityBlocks: 100_000, realtimeBatch: 1 });
    const mine = async (n: number) => {
      for (let i = 0; i < n; i++) {
        await chain.mine(1);
        await catchUp(follower);
      }
    };
    const pay = async (to: `0x${string}`, value: bigint) => {
      const hash = await chain.wallet.sendTransaction({ account: chain.customer, to, value, chain: null });
      const receipt = await chain.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
      await catchUp(follower);
      return receipt;
    };
    const sweep = async (ref: Hex) => {
      const hash = await chain.wallet.writeContract({
        address: chain.contract,
        abi: depositsAbi,
        functionName: "sweepOrder",
        args: [chain.merchant, ref, ETH],
        account: chain.other,
        chain: null,
      });
      const receipt = await chain.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
      assert.equal(receipt.status, "success");
      await catchUp(follower);
      return receipt;
    };

    // Ten empty blocks: the backfill's first range (10 blocks, no logs) lets the next one grow to 40.
    await mine(10);
    const first = await pay(onTime.address, onTime.expected);
    await mine(3);
    const half = onTime.expected / 2n;
    const partA = await pay(inTwoParts.address, half);
    await mine(2);
    const partB = await pay(inTwoParts.address, inTwoParts.expected - half);
    const unswept = await pay(neverSwept.address, neverSwept.expected);
    await mine(2);
    // Past every order's expiry, then the sweeps.
    const { rows } = await live.db.query<{ expires_at: Date }>(
      "SELECT max(expires_at) AS expires_at FROM orders",
    );
    const now = Number((await chain.client.getBlock()).timestamp);
    const late = Math.ceil((rows[0] as { expires_at: Date }).expires_at.getTime() / 1000) - now + 600;
    await chain.rpc("evm_increaseTime", [late]);
    await mine(1);
    const sweepA = await sweep(onTime.ref);
    const sweepB = await sweep(inTwoParts.ref);
    await mine(5);

    // The live outcome, as the realtime indexer had it.
    const liveState = await indexedState(live.db);
    const byId = new Map(liveState.orders.map((r) => [String(r.id), r]));
    const expect = [
      [onTime, first, sweepA, "complete"],
      [inTwoParts, partB, sweepB, "complete"],
      [neverSwept, unswept, undefined, "success"],
    ] as const;
    for (const [o, paid, swept, status] of expect) {
      const r = byId.get(String(o.id));
      assert.equal(r?.status, status, `order ${o.id} live: ${JSON.stringify(r)}`);
      assert.equal(r?.exception, null);
      assert.equal(r?.paid_block, paid.blockNumber.toString());
      assert.equal(r?.transaction_id, paid.transactionHash);
      if (swept) assert.equal(r?.sent_transaction, swept.transactionHash);
    }
    assert.ok(partA.blockNumber < partB.blockNumber);

    // A fresh reindex: historical over everything but the last 2 blocks, in large ranges.
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const reindexer = indexer(fresh.db, { finalityBlocks: 2, log: pino({ level: "debug" }, sink) });
    await catchUp(reindexer);
    const ranges = lines
      .map((l) => JSON.parse(l) as { msg: string; from?: number; to?: number })
      .filter((l) => l.msg === "indexer: backfilled range");
    assert.ok(
      ranges.some(
        (r) => BigInt(r.from ?? -1) <= first.blockNumber && BigInt(r.to ?? -1) >= sweepB.blockNumber,
      ),
      `one backfilled range holds the payments and the sweeps: ${JSON.stringify(ranges)}`,
    );

    const freshState = await indexedState(fresh.db);
    assert.deepEqual(freshState.orders, liveState.orders);
    assert.deepEqual(freshState.events, liveState.events);
    assert.deepEqual(freshState.ledger, liveState.ledger);
    // The observations themselves: every balance change at its own block, with its transfer.
    const balances = (db: Db) =>
      db
        .query(
          `SELECT address, block_number::text, block_hash, balance::text, tx_hash FROM deposit_balances
            ORDER BY block_number, address`,
        )
        .then((r) => r.rows);
    const observed = await balances(fresh.db);
    assert.deepEqual(observed, await balances(live.db));
    assert.ok(
      observed.some(
        (r) => r.block_number === partA.blockNumber.toString() && r.tx_hash === partA.transactionHash,
      ),
      "the first of two parts is dated to its own block",
    );

    // A realtime catch-up in steps of up to 50 blocks (money in and swept within one step) too.
    await catchUp(indexer(batched.db, { finalityBlocks: 100_000 }));
    assert.deepEqual(await indexedState(batched.db), liveState);
    assert.deepEqual(await balances(batched.db), observed);
  });
});
