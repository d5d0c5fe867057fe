import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import type { ChainEvent, ContractEvent, DepositEvent } from "../../server/src/chain/events.ts";
import { depositsReadyToSweep, registerDepositAddress } from "../../server/src/deposits/repository.ts";
import type { BlockRef, Step } from "../../server/src/indexer/types.ts";
import { createOrderEvents } from "../../server/src/orders/events.ts";
import { orderIdToBytes32 } from "../../server/src/orders/ids.ts";
import { insertOrder } from "../../server/src/orders/repository.ts";
import { createTestDb, type TestDb } from "../support/db.ts";
import { pipelineSink, testChainContext } from "../support/indexing.ts";
import { createPublicClient, http } from "viem";

/**
 * Stage test of deposit observations through the order sink (recorded steps, real database, no
 * chain): a balance change → success; confirmations without a sweep → success awaiting the sweep;
 * the sweep (a PaymentReceived paid by the deposit) → complete; a reorg of the sweep and one of the
 * deposit roll everything back.
 */
describe("order sink: deposit observations, sweeps and their reorgs", function () {
  const CHAIN = 31337n;
  const CONFIRMATIONS = 3;
  const MERCHANT = `0x${"aa".repeat(20)}`;
  const DEPOSIT = `0x${"de".repeat(20)}`;
  const ETH = `0x${"00".repeat(20)}`;
  const ID = 5_000_000_001n;
  const REF = orderIdToBytes32(ID).toLowerCase();
  const PAY_TX = `0x${"11".repeat(32)}`;
  const SWEEP_TX = `0x${"22".repeat(32)}`;
  let testDb: TestDb;
  let sink: ReturnType<typeof pipelineSink>;
  const block = (n: bigint, branch = "a"): BlockRef => ({
    number: n,
    hash: `0x${branch.repeat(2)}${n.toString(16).padStart(62, "0")}`,
    parentHash: `0x${branch.repeat(2)}${(n - 1n).toString(16).padStart(62, "0")}`,
    timestamp: new Date(Date.now() - 60_000 + Number(n) * 1000),
  });
  const step = (blocks: BlockRef[], events: ChainEvent[]): Step<ChainEvent> => ({
    type: "block",
    chainId: CHAIN,
    blocks,
    events,
    head: blocks.at(-1)?.number ?? 0n,
    historical: false,
  });
  const balance = (b: BlockRef, value: bigint, txHash: string | null): DepositEvent => ({
    kind: "deposit_balance",
    chainId: CHAIN,
    blockNumber: b.number,
    blockHash: b.hash,
    blockTimestamp: b.timestamp,
    address: DEPOSIT,
    balance: value,
    txHash,
  });
  const sweep = (b: BlockRef, amount: bigint): ContractEvent => ({
    chainId: CHAIN,
    blockNumber: b.number,
    blockHash: b.hash,
    blockTimestamp: b.timestamp,
    txIndex: 0,
    logIndex: 0,
    txHash: SWEEP_TX,
    kind: "payment",
    merchant: MERCHANT,
    orderRef: REF,
    orderId: null,
    counterparty: DEPOSIT,
    token: ETH,
    amount,
  });
  const apply = (s: Step<ChainEvent>) => testDb.db.transaction((tx) => sink.apply(tx, s));
  async function order() {
    const { rows } = await testDb.db.query<Record<string, unknown>>(
      "SELECT status, exception, amount_paid::text, transaction_id, sent_transaction, awaiting_sweep FROM orders WHERE id = $1",
      [ID],
    );
    return rows[0];
  }

  before(async function () {
    testDb = await createTestDb();
    // The production pipeline's sinks (deposits, payments, token subscriptions, ...), in list order.
    sink = pipelineSink(
      testChainContext(
        testDb.db,
        createPublicClient({ transport: http("http://127.0.0.1:1") }),
        `0x${"cc".repeat(20)}`,
        {
          confirmations: CONFIRMATIONS,
          chainId: CHAIN,
          orderEvents: createOrderEvents([]),
        },
      ),
    );
    await registerDepositAddress(testDb.db, {
      chainId: CHAIN,
      address: DEPOSIT,
      merchant: MERCHANT,
      orderRef: REF,
      token: ETH,
      watchSeconds: 3600,
    });
    await insertOrder(testDb.db, {
      id: ID,
      merchantId: null,
      chainId: CHAIN,
      payTo: `0x${"cc".repeat(20)}`,
      depositAddress: DEPOSIT,
      reference: REF,
      merchantAddress: MERCHANT,
      token: ETH,
      tokenSymbol: "ETH",
      tokenDecimals: 18,
      currencyAmount: "1.00",
      usdCents: 100n,
      expectedAmount: 1000n,
      price: 1n,
      priceDecimals: 0,
      callback: "http://merchant.test/cb",
      itemTitle: null,
      itemDescription: null,
      itemImage: null,
      ttlSeconds: 600,
    });
  });
  after(async () => testDb?.drop());

  it("a balance change → success; confirmed but unswept → awaiting the sweep; the sweep → complete", async function () {
    await apply(step([block(10n)], [balance(block(10n), 600n, `0x${"33".repeat(32)}`)]));
    assert.deepEqual(await order(), {
      status: "pending",
      exception: "paid_partial",
      amount_paid: "600",
      transaction_id: null,
      sent_transaction: null,
      awaiting_sweep: false,
    });
    await apply(step([block(11n)], [balance(block(11n), 1000n, PAY_TX)]));
    assert.equal((await order())?.status, "success");
    assert.equal((await order())?.transaction_id, PAY_TX);
    await apply(step([block(12n), block(13n)], []));
    assert.deepEqual(await order(), {
      status: "success",
      exception: null,
      amount_paid: "1000",
      transaction_id: PAY_TX,
      sent_transaction: null,
      awaiting_sweep: true,
    });
    const ready = await depositsReadyToSweep(testDb.db, CHAIN, 13n - BigInt(CONFIRMATIONS) + 1n);
    assert.deepEqual(
      ready.map((r) => [r.address, r.orderRef, r.token, r.amount]),
      [[DEPOSIT, REF, ETH, 1000n]],
    );
    // The sweep: the ledger credits it, the deposit's balance goes to 0, the amount is not doubled.
    await apply(step([block(14n)], [sweep(block(14n), 1000n), balance(block(14n), 0n, null)]));
    assert.deepEqual(await order(), {
      status: "complete",
      exception: null,
      amount_paid: "1000",
      transaction_id: PAY_TX,
      sent_transaction: SWEEP_TX,
      awaiting_sweep: false,
    });
    assert.deepEqual(await depositsReadyToSweep(testDb.db, CHAIN, 14n), []);
  });

  it("a reorg of the sweep: back to success awaiting the sweep; a reorg of the deposit: pending", async function () {
    await apply({
      type: "reorg",
      chainId: CHAIN,
      ancestor: block(13n),
      previous: { blockNumber: 14n, blockHash: block(14n).hash },
      head: 15n,
    });
    assert.deepEqual(await order(), {
      status: "success",
      exception: null,
      amount_paid: "1000",
      transaction_id: PAY_TX,
      sent_transaction: null,
      awaiting_sweep: true,
    });
    await apply({
      type: "reorg",
      chainId: CHAIN,
      ancestor: block(9n),
      previous: { blockNumber: 13n, blockHash: block(13n).hash },
      head: 15n,
    });
    assert.deepEqual(await order(), {
      status: "pending",
      exception: null,
      amount_paid: "0",
      transaction_id: null,
      sent_transaction: null,
      awaiting_sweep: false,
    });
    const { rows } = await testDb.db.query(
      "SELECT * FROM deposit_balances UNION ALL SELECT * FROM deposit_balances",
    );
    assert.equal(rows.length, 0);
  });
});
