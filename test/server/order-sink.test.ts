import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import type { BlockRef, Step } from "../../server/src/indexer/types.ts";
import type { ContractEvent } from "../../server/src/chain/events.ts";
import { type OrderStatusChanged } from "../../server/src/orders/events.ts";
import { orderIdToBytes32 } from "../../server/src/orders/ids.ts";
import { insertOrder } from "../../server/src/orders/repository.ts";
import { createTestDb, type TestDb } from "../support/db.ts";
import { pipelineSink, testChainContext } from "../support/indexing.ts";
import { createPublicClient, http } from "viem";

/**
 * Stage test of the order sink: recorded indexer steps (blocks with payment events, more blocks
 * for confirmations, a reorg, finalize, time passing at the head) applied to a real database with
 * no chain process, checking the orders and the outbox rows they leave, exactly.
 */
describe("order sink: recorded steps → orders and outbox rows", function () {
  const CHAIN = 31337n;
  const CONFIRMATIONS = 3;
  const CONTRACT = `0x${"cc".repeat(20)}`;
  const MERCHANT = `0x${"aa".repeat(20)}`;
  const PAYER = `0x${"bb".repeat(20)}`;
  const ETH = `0x${"00".repeat(20)}`;
  // Order ids as POST /order would draw them; A is anonymous, B expires, C's merchant texts.
  const A = 4_000_000_001n;
  const B = 4_000_000_002n;
  const C = 4_000_000_003n;
  let testDb: TestDb;
  let merchantId: bigint;
  let sink: ReturnType<typeof pipelineSink>;

  // Recorded blocks: a first branch (x) and the branch that replaced it from block 10 (y).
  const at = (n: bigint) => new Date(Date.UTC(2024, 0, 1, 0, 0, Number(n) * 12));
  const block = (n: bigint, branch: string): BlockRef => ({
    number: n,
    hash: `0x${branch.repeat(2)}${n.toString(16).padStart(62, "0")}`,
    parentHash: `0x${n < 10n ? "00" : branch.repeat(2)}${(n - 1n).toString(16).padStart(62, "0")}`,
    timestamp: at(n),
  });
  const payment = (b: BlockRef, orderId: bigint, amount: bigint, logIndex = 0): ContractEvent => ({
    chainId: CHAIN,
    blockNumber: b.number,
    blockHash: b.hash,
    blockTimestamp: b.timestamp,
    txIndex: 0,
    logIndex,
    txHash: `0x${b.hash.slice(2, 10)}${orderId.toString(16).padStart(56, "0")}`,
    kind: "payment",
    merchant: MERCHANT,
    orderRef: orderIdToBytes32(orderId).toLowerCase(),
    orderId: null,
    counterparty: PAYER,
    token: ETH,
    amount,
  });
  const blockStep = (blocks: BlockRef[], events: ContractEvent[], head: bigint): Step<ContractEvent> => ({
    type: "block",
    chainId: CHAIN,
    blocks,
    events,
    head,
    historical: false,
  });
  const apply = (step: Step<ContractEvent>) => testDb.db.transaction((tx) => sink.apply(tx, step));
  const summary = (changes: OrderStatusChanged[]) =>
    changes.map((c) => `${c.order.id}:${c.previous}→${c.status}`);

  async function orders() {
    const { rows } = await testDb.db.query<Record<string, unknown>>(
      `SELECT id::text, status, exception, amount_paid, transaction_id, paid_block::text FROM orders ORDER BY id`,
    );
    return rows;
  }
  async function outbox() {
    const { rows } = await testDb.db.query<{
      stream: string;
      kind: string;
      url: string;
      secret_ref: string;
      order_id: string | null;
      body: string;
    }>("SELECT stream, kind, url, secret_ref, order_id::text, body FROM callbacks ORDER BY id");
    return rows.map((r) => {
      const body = JSON.parse(r.body) as Record<string, unknown>;
      return {
        stream: r.stream,
        kind: r.kind,
        url: r.url,
        secret: r.secret_ref,
        order: r.order_id,
        // The fields a receiver acts on: an order callback's status and confirmations, or a text.
        ...(body.type === "notification"
          ? { text: body.text, to: body.to }
          : { status: body.status, confirmations: body.confirmations, paid: body.paid }),
      };
    });
  }
  const order = (id: bigint, status: string, paid: string, paidBlock: string | null, tx: string | null) => ({
    id: id.toString(),
    status,
    exception: null,
    amount_paid: paid,
    transaction_id: tx,
    paid_block: paidBlock,
  });

  before(async function () {
    testDb = await createTestDb();
    // The production pipeline's sinks (deposits, payments, token subscriptions, ...), in list order.
    sink = pipelineSink(
      testChainContext(
        testDb.db,
        createPublicClient({ transport: http("http://127.0.0.1:1") }),
        CONTRACT as `0x${string}`,
        {
          confirmations: CONFIRMATIONS,
          chainId: CHAIN,
        },
      ),
    );
    const { rows } = await testDb.db.query<{ id: bigint }>(
      `INSERT INTO merchants (email, callback_secret, plugins, notify_url, notify_phone)
       VALUES ('sink@example.com', 's3cret', '{"txt_messaging": true}', 'http://sms.test/n', '+15551234567')
       RETURNING id`,
    );
    merchantId = (rows[0] as { id: bigint }).id;
    const base = {
      chainId: CHAIN,
      payTo: CONTRACT,
      merchantAddress: MERCHANT,
      token: ETH,
      tokenSymbol: "ETH",
      tokenDecimals: 18,
      currencyAmount: "1.00",
      usdCents: 100n,
      price: 300000n,
      priceDecimals: 2,
      itemTitle: null,
      itemDescription: null,
      itemImage: null,
    };
    await insertOrder(testDb.db, {
      ...base,
      id: A,
      reference: orderIdToBytes32(A),
      merchantId: null,
      expectedAmount: 1000n,
      callback: "http://shop.test/a",
      ttlSeconds: 900,
    });
    await insertOrder(testDb.db, {
      ...base,
      id: B,
      reference: orderIdToBytes32(B),
      merchantId: null,
      expectedAmount: 500n,
      callback: "http://shop.test/b",
      ttlSeconds: -60,
    });
    await insertOrder(testDb.db, {
      ...base,
      id: C,
      reference: orderIdToBytes32(C),
      merchantId,
      expectedAmount: 700n,
      callback: "http://shop.test/c",
      ttlSeconds: 900,
    });
  });

  after(async function () {
    await testDb?.drop();
  });

  const x10 = block(10n, "x");
  const x11 = block(11n, "x");
  const x12 = block(12n, "x");
  const y10 = block(10n, "y");
  const txA = payment(x10, A, 1000n).txHash;

  it("a block with a payment makes its order success at 1 confirmation; an unknown order id stays an orphan", async function () {
    // The head is far ahead and the blocks are old: B's expiry cannot be decided yet.
    const changes = await apply(
      blockStep([x10], [payment(x10, A, 1000n, 0), payment(x10, 999n, 5n, 1)], 100n),
    );
    assert.deepEqual(summary(changes), [`${A}:pending→success`]);
    assert.deepEqual(await orders(), [
      order(A, "success", "1000", "10", txA),
      order(B, "pending", "0", null, null),
      order(C, "pending", "0", null, null),
    ]);
    const { rows } = await testDb.db.query(
      "SELECT order_ref, order_id::text FROM contract_events ORDER BY log_index",
    );
    assert.deepEqual(
      rows.map((r) => r.order_id),
      [A.toString(), null],
    );
  });

  it("stays success until exactly CONFIRMATIONS blocks, then completes", async function () {
    assert.deepEqual(summary(await apply(blockStep([x11], [], 100n))), []);
    assert.deepEqual((await orders())[0], order(A, "success", "1000", "10", txA));
    assert.deepEqual(summary(await apply(blockStep([x12], [payment(x12, C, 700n)], 100n))), [
      `${A}:success→complete`,
      `${C}:pending→success`,
    ]);
    assert.deepEqual(await orders(), [
      order(A, "complete", "1000", "10", txA),
      order(B, "pending", "0", null, null),
      order(C, "success", "700", "12", payment(x12, C, 700n).txHash),
    ]);
  });

  it("a reorg to block 9 rolls both payments back: the orders are pending again", async function () {
    const changes = await apply({
      type: "reorg",
      chainId: CHAIN,
      ancestor: block(9n, "x"),
      previous: { blockNumber: 12n, blockHash: x12.hash },
      head: 100n,
    });
    assert.deepEqual(summary(changes), [`${A}:complete→pending`, `${C}:success→pending`]);
    assert.deepEqual(await orders(), [
      order(A, "pending", "0", null, null),
      order(B, "pending", "0", null, null),
      order(C, "pending", "0", null, null),
    ]);
    const { rows } = await testDb.db.query("SELECT count(*)::int AS n FROM contract_events");
    assert.deepEqual(rows, [{ n: 0 }]);
  });

  it("the new branch pays A again in several blocks at once: success is reported before complete", async function () {
    const blocks = [y10, block(11n, "y"), block(12n, "y"), block(13n, "y")];
    const changes = await apply(blockStep(blocks, [payment(y10, A, 1000n)], 100n));
    assert.deepEqual(summary(changes), [`${A}:pending→success`, `${A}:success→complete`]);
    // Finality changes no order.
    assert.deepEqual(summary(await apply({ type: "finalize", chainId: CHAIN, block: 11n })), []);
    assert.deepEqual((await orders())[0], order(A, "complete", "1000", "10", payment(y10, A, 1000n).txHash));
  });

  it("at the head with nothing new, an open order past its expiry expires", async function () {
    const head = block(13n, "y");
    const changes = await testDb.db.transaction(
      (tx) => sink.idle?.(tx, { chainId: CHAIN, cursor: head, head: 13n }) ?? Promise.resolve([]),
    );
    assert.deepEqual(summary(changes), [`${B}:pending→expired`]);
    assert.equal((await orders())[1]?.status, "expired");
  });

  it("left exactly these outbox rows, in order: merchant callbacks and C's texts", async function () {
    const cb = (id: bigint, status: string, confirmations: number, paid: boolean) => ({
      stream: `order:${id}`,
      kind: `order.${status}`,
      url: `http://shop.test/${id === A ? "a" : id === B ? "b" : "c"}`,
      secret: id === C ? `merchant:${merchantId}` : "system",
      order: id.toString(),
      status,
      confirmations,
      paid,
    });
    const text = (status: string, message: string) => ({
      stream: `notify:${merchantId}`,
      kind: `notify.order.${status}`,
      url: "http://sms.test/n",
      secret: `merchant:${merchantId}`,
      order: C.toString(),
      text: message,
      to: "+15551234567",
    });
    assert.deepEqual(await outbox(), [
      cb(A, "success", 1, true),
      cb(A, "complete", 3, true),
      cb(C, "success", 1, true),
      text(
        "success",
        `Ethereum POS: order ${C} paid, $1.00 (0.0000000000000007 ETH). Waiting for confirmations.`,
      ),
      cb(A, "pending", 0, false),
      cb(C, "pending", 0, false),
      text("pending", `Ethereum POS: order ${C} is pending again: its payment left the chain in a reorg.`),
      cb(A, "success", 4, true),
      cb(A, "complete", 4, true),
      cb(B, "expired", 0, false),
    ]);
  });
});
