import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import type { System } from "../../server/src/system.ts";
import { startInProcessSystem, type ApiSystem } from "../support/api-system.ts";
import type { TestDb } from "../support/db.ts";
import { startReceiver, type Receiver } from "../support/receiver.ts";
import { until } from "../support/until.ts";

/**
 * The thin path through every layer, for real: contract → EVM → indexer → PostgreSQL/PGlite →
 * API → callback. POST /order, the customer's pay(merchant, orderId), then success at one
 * confirmation and complete at CONFIRMATIONS.
 */
describe("thin path: order → payment → indexer → status → callback", function () {
  let started: ApiSystem;
  let chain: ApiSystem["chain"];
  let testDb: TestDb;
  let system: System;
  let receiver: Receiver;
  const CONFIRMATIONS = 3;

  before(async function () {
    receiver = await startReceiver();
    // The whole system: its own indexer and callback worker, from the start block it finds.
    started = await startInProcessSystem({
      env: {
        RUN_INDEXER: "true",
        RUN_CALLBACK_WORKER: "true",
        START_BLOCK: undefined,
        CONFIRMATIONS: String(CONFIRMATIONS),
        ETH_USD_PRICE: "3000.00",
        POLL_INTERVAL_MS: "20",
        PUBLIC_URL: "http://pos.test",
      },
    });
    ({ chain, testDb, system } = started);
  });

  after(async function () {
    await started?.close();
    await receiver?.close();
  });

  it("moves an ETH order pending → success → complete and queues both callbacks", async function () {
    const merchant = chain.merchant.address;
    const created = await system.app.inject({
      method: "POST",
      url: "/order",
      payload: { amount: "1.00", address: merchant.toLowerCase(), callback: `${receiver.url}/hook` },
    });
    assert.equal(created.statusCode, 200, created.body);
    const order = created.json();
    assert.equal(order.status, "pending");
    assert.equal(order.currency, "usd");
    assert.equal(order.currency_amount, "1.00");
    assert.equal(order.eth_price, "3000.00");
    // $1.00 at $3000/ETH = 1/3000 ETH, rounded up to 8 decimals (QUOTE_DECIMALS): 0.00033334 ETH.
    assert.equal(order.expected_amount, "0.00033334");
    // The order's address is its deposit address (a plain transfer pays it); pay_to is the contract.
    assert.equal(
      order.address,
      await chain.processor.getFunction("depositAddressOf")(merchant, order.reference as `0x${string}`),
    );
    assert.equal(order.pay_to, chain.contractAddress);
    assert.equal(order.return_to, merchant);
    assert.equal(typeof order.id, "number");
    assert.equal(order.paid, false);

    const tx = await chain.processor.connect(chain.customer).getFunction("pay")(
      merchant,
      order.reference as `0x${string}`,
      { value: 333340000000000n },
    );
    const receipt = await tx.wait();
    assert.ok(receipt);

    const paid = await until(
      async () => {
        const res = await system.app.inject({ method: "GET", url: `/order/${order.id}` });
        const body = res.json();
        return body.status === "success" ? body : undefined;
      },
      20_000,
      "status success",
    );
    assert.equal(paid.transaction_id, receipt.hash);
    assert.equal(paid.paid, true);
    assert.equal(paid.confirmations, 1);
    assert.equal(paid.amount_paid, "0.00033334");

    await chain.mine(CONFIRMATIONS - 1);
    const complete = await until(
      async () => {
        const res = await system.app.inject({ method: "GET", url: `/order/${order.id}` });
        const body = res.json();
        return body.status === "complete" ? body : undefined;
      },
      20_000,
      "status complete",
    );
    assert.equal(complete.confirmations, CONFIRMATIONS);

    const { rows } = await testDb.db.query<{ kind: string; url: string; body: string }>(
      "SELECT kind, url, body FROM callbacks WHERE order_id = $1 ORDER BY id",
      [order.id],
    );
    assert.deepEqual(
      rows.map((r) => r.kind),
      ["order.success", "order.complete"],
    );
    assert.equal(rows[0]?.url, `${receiver.url}/hook`);
    const successBody = JSON.parse(rows[0]?.body ?? "{}");
    assert.equal(successBody.id, order.id);
    assert.equal(successBody.status, "success");
    assert.equal(JSON.parse(rows[1]?.body ?? "{}").status, "complete");

    // The worker delivers both, in order, signed, to the order's callback URL.
    const delivered = await receiver.waitFor(
      (all) => all.filter((c) => c.path === "/hook").length >= 2,
      20_000,
    );
    const hooks = delivered.filter((c) => c.path === "/hook" && JSON.parse(c.body).id === order.id);
    assert.deepEqual(
      hooks.map((c) => JSON.parse(c.body).status),
      ["success", "complete"],
    );
    assert.equal(hooks[0]?.body, rows[0]?.body);
    assert.match(String(hooks[0]?.headers["x-ethpos-signature"]), /^t=\d+,v1=[0-9a-f]{64}$/);
    assert.match(String(hooks[0]?.headers["x-ethpos-event-id"]), /^[0-9a-f-]{36}$/);
  });

  it("never reports complete before CONFIRMATIONS", async function () {
    const merchant = chain.merchant.address;
    const created = await system.app.inject({
      method: "POST",
      url: "/order",
      payload: { amount: "2.50", address: merchant, callback: `${receiver.url}/hook` },
    });
    const order = created.json();
    await (
      await chain.processor.connect(chain.customer).getFunction("pay")(
        merchant,
        order.reference as `0x${string}`,
        {
          value: 833340000000000n,
        },
      )
    ).wait();
    await chain.mine(CONFIRMATIONS - 2);
    // Let the indexer catch up fully, then check it still says success.
    const head = await chain.client.getBlockNumber({ cacheTime: 0 });
    await until(
      async () => (system.indexer?.status().indexedBlock === head ? true : undefined),
      10_000,
      "indexer at head",
    );
    const res = await system.app.inject({ method: "GET", url: `/order/${order.id}` });
    assert.equal(res.json().status, "success");
    assert.equal(res.json().confirmations, CONFIRMATIONS - 1);
  });
});
