import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import type { BlockRef, Step } from "../../server/src/indexer/types.ts";
import type { ChainEvent, ContractEvent, TokenSubscriptionEvent } from "../../server/src/chain/events.ts";
import { orphanPayments } from "../../server/src/ledger/history.ts";
import { createOrderEvents } from "../../server/src/orders/events.ts";
import {
  collectionsByRef,
  collectionsOf,
  tokenSubscriptionById,
  tokenSubscriptionByRef,
  tokenSubscriptionsByRef,
} from "../../server/src/token-subscriptions/repository.ts";
import { formatAbiItem } from "viem/utils";
import type { AbiItem } from "viem";
import { subscriptionsAbi } from "../../server/src/token-subscriptions/abi.ts";
import { createTestDb, type TestDb } from "../support/db.ts";
import { pipelineSink, testChainContext } from "../support/indexing.ts";
import { createPublicClient, http } from "viem";
import { artifact } from "../support/node-chain.ts";

type E = ChainEvent | TokenSubscriptionEvent;

/**
 * Stage test of the token-subscription sink composed beside the order sink, as the chain runtime
 * composes them (recorded steps, real database, no chain): subscribed → period 0 and period 1
 * collected (the processor's PaymentReceived goes to the ledger, not counted as an orphan) → a
 * step applied twice changes nothing → a reorg of period 1 removes it and paid-through goes back →
 * a cancel, and its reorg reopens the subscription → a reorg past the subscription deletes it.
 */
describe("token-subscription sink: subscriptions, collections, cancels and their reorgs", function () {
  const CHAIN = 31337n;
  const SUBS = `0x${"5b".repeat(20)}`;
  const MERCHANT = `0x${"aa".repeat(20)}`;
  const CUSTOMER = `0x${"cc".repeat(20)}`;
  const TOKEN = `0x${"70".repeat(20)}`;
  const REF = `0x${"ef".repeat(32)}`;
  const START = 1_800_000_000n;
  const INTERVAL = 2_592_000n;
  const AMOUNT = 9_990_000n;
  let testDb: TestDb;
  let sink: ReturnType<typeof pipelineSink>;
  const block = (n: bigint, branch = "a"): BlockRef => ({
    number: n,
    hash: `0x${branch.repeat(2)}${n.toString(16).padStart(62, "0")}`,
    parentHash: `0x${branch.repeat(2)}${(n - 1n).toString(16).padStart(62, "0")}`,
    timestamp: new Date(Number(START) * 1000 + Number(n) * 1000),
  });
  const step = (blocks: BlockRef[], events: E[]): Step<E> => ({
    type: "block",
    chainId: CHAIN,
    blocks,
    events,
    head: blocks.at(-1)?.number ?? 0n,
    historical: false,
  });
  const reorg = (ancestor: bigint): Step<E> => ({
    type: "reorg",
    chainId: CHAIN,
    ancestor: block(ancestor),
    previous: { blockNumber: ancestor + 5n, blockHash: "0x" },
    head: ancestor + 5n,
  });
  const at = (b: BlockRef, logIndex: number, tx: string) => ({
    chainId: CHAIN,
    blockNumber: b.number,
    blockHash: b.hash,
    blockTimestamp: b.timestamp,
    txIndex: 0,
    logIndex,
    txHash: tx,
    id: 1n,
  });
  const subscribed = (b: BlockRef): TokenSubscriptionEvent => ({
    ...at(b, 0, `0x${"01".repeat(32)}`),
    kind: "token_subscribed",
    contract: SUBS,
    merchant: MERCHANT,
    ref: REF,
    customer: CUSTOMER,
    token: TOKEN,
    amountPerPeriod: AMOUNT,
    interval: INTERVAL,
    start: START,
  });
  /** Collected, then the processor's PaymentReceived (payer = the Subscriptions contract) in the same tx. */
  const collected = (b: BlockRef, period: bigint): E[] => {
    const tx = `0x${(0x10n + period).toString(16).padStart(2, "0").repeat(32)}`;
    const payment: ContractEvent = {
      chainId: CHAIN,
      blockNumber: b.number,
      blockHash: b.hash,
      blockTimestamp: b.timestamp,
      txIndex: 0,
      logIndex: 3,
      txHash: tx,
      kind: "payment",
      merchant: MERCHANT,
      orderRef: REF,
      orderId: null,
      counterparty: SUBS,
      token: TOKEN,
      amount: AMOUNT,
    };
    return [
      {
        ...at(b, 2, tx),
        kind: "token_collected",
        period,
        paidThrough: START + (period + 1n) * INTERVAL,
        amount: AMOUNT,
      },
      payment,
    ];
  };
  const cancelled = (b: BlockRef): TokenSubscriptionEvent => ({
    ...at(b, 0, `0x${"0c".repeat(32)}`),
    kind: "token_cancelled",
    by: CUSTOMER,
    paidThrough: START + 2n * INTERVAL,
  });
  const apply = (s: Step<E>) => testDb.db.transaction((tx) => sink.apply(tx, s));
  const sub = () => tokenSubscriptionById(testDb.db, CHAIN, 1n);
  const payments = async () =>
    (
      await testDb.db.query<{ n: string }>(
        "SELECT count(*)::text AS n FROM contract_events WHERE chain_id = $1 AND kind = 'payment'",
        [CHAIN],
      )
    ).rows[0]?.n;

  before(async function () {
    testDb = await createTestDb();
    // The production pipeline's sinks (deposits, payments, token subscriptions, ...), in list order.
    sink = pipelineSink(
      testChainContext(
        testDb.db,
        createPublicClient({ transport: http("http://127.0.0.1:1") }),
        `0x${"cc".repeat(20)}`,
        {
          confirmations: 3,
          chainId: CHAIN,
          orderEvents: createOrderEvents([]),
          subscriptions: SUBS as `0x${string}`,
        },
      ),
    );
  });
  after(async () => testDb?.drop());

  it("subscribed: the terms, paid through the start, nothing collected", async function () {
    await apply(step([block(10n)], [subscribed(block(10n))]));
    const s = await sub();
    assert.ok(s);
    assert.equal(s.ref, REF);
    assert.equal(s.merchant, MERCHANT);
    assert.equal(s.customer, CUSTOMER);
    assert.equal(s.amountPerPeriod, AMOUNT);
    assert.equal(s.interval, INTERVAL);
    assert.equal(s.paidThrough, START);
    assert.equal(s.periodsCollected, 0);
    assert.equal(s.cancelled, false);
    assert.equal(s.blockNumber, 10n);
    assert.equal((await tokenSubscriptionByRef(testDb.db, CHAIN, REF, { merchant: MERCHANT }))?.id, 1n);
    assert.equal(await tokenSubscriptionByRef(testDb.db, CHAIN, REF, { merchant: CUSTOMER }), undefined);
  });

  it("periods 0 and 1 collected: paid-through moves, the payments reach the ledger and are no orphans", async function () {
    await apply(step([block(11n)], collected(block(11n), 0n)));
    await apply(step([block(12n)], collected(block(12n), 1n)));
    const s = await sub();
    assert.equal(s?.paidThrough, START + 2n * INTERVAL);
    assert.equal(s?.periodsCollected, 2);
    const rows = await collectionsByRef(testDb.db, CHAIN, REF);
    assert.deepEqual(
      rows.map((c) => [c.period, c.amount, c.blockNumber]),
      [
        [0n, AMOUNT, 11n],
        [1n, AMOUNT, 12n],
      ],
    );
    assert.equal(await payments(), "2");
    // The order sink saw the payments; the orphan view knows the Subscriptions contract as a payer.
    assert.equal((await orphanPayments(testDb.db, CHAIN, [MERCHANT])).length, 2);
    assert.equal((await orphanPayments(testDb.db, CHAIN, [MERCHANT], { knownPayers: [SUBS] })).length, 0);
  });

  it("the same step applied again changes nothing (idempotent rows)", async function () {
    await apply(step([block(12n)], collected(block(12n), 1n)));
    assert.equal((await collectionsOf(testDb.db, CHAIN, 1n)).length, 2);
    assert.equal((await sub())?.periodsCollected, 2);
  });

  it("a reorg of period 1 removes its collection; paid-through goes back to the end of period 0", async function () {
    await apply(reorg(11n));
    assert.deepEqual(
      (await collectionsOf(testDb.db, CHAIN, 1n)).map((c) => c.period),
      [0n],
    );
    assert.equal((await sub())?.paidThrough, START + INTERVAL);
    assert.equal((await sub())?.periodsCollected, 1);
    assert.equal(await payments(), "1");
    // Collected again on the new branch.
    await apply(step([block(12n, "b")], collected(block(12n, "b"), 1n)));
    assert.equal((await sub())?.paidThrough, START + 2n * INTERVAL);
  });

  it("a cancel marks it; a reorg of the cancel reopens it, paid-through unchanged", async function () {
    await apply(step([block(13n)], [cancelled(block(13n))]));
    let s = await sub();
    assert.equal(s?.cancelled, true);
    assert.equal(s?.cancelledBy, CUSTOMER);
    assert.equal(s?.cancelledBlock, 13n);
    await apply(reorg(12n));
    s = await sub();
    assert.equal(s?.cancelled, false);
    assert.equal(s?.cancelledBy, null);
    assert.equal(s?.paidThrough, START + 2n * INTERVAL);
  });

  it("a reorg past the Subscribed event deletes the subscription and its collections", async function () {
    await apply(reorg(9n));
    assert.equal(await sub(), undefined);
    assert.deepEqual(await tokenSubscriptionsByRef(testDb.db, CHAIN, REF), []);
    assert.deepEqual(await collectionsByRef(testDb.db, CHAIN, REF), []);
    assert.equal(await payments(), "0");
  });
});

describe("token-subscription ABI slice", function () {
  it("matches the compiled ISubscriptions (and the PaymentProcessor for its errors)", function () {
    const compiled = [
      ...(artifact("interfaces/ISubscriptions.sol/ISubscriptions.json").abi as AbiItem[]),
      ...(artifact("payments/PaymentProcessor.sol/PaymentProcessor.json").abi as AbiItem[]),
    ];
    const signature = (item: AbiItem) => `${item.type} ${formatAbiItem(item as never)}`;
    const known = new Set(
      compiled
        .filter((i) => i.type === "function" || i.type === "event" || i.type === "error")
        .map(signature),
    );
    for (const item of subscriptionsAbi) {
      assert.ok(known.has(signature(item)), `${signature(item)} is not in the compiled interfaces`);
    }
  });
});
