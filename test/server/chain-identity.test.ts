import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { ensureChainIdentity, lastChainReset } from "../../server/src/chain/identity.ts";
import { createMerchant } from "../../server/src/merchants/service.ts";
import { deleteChainData } from "../../server/src/runtime/reset.ts";
import { insertOutgoing } from "../../server/src/sender/repository.ts";
import { insertSweep } from "../../server/src/deposits/sweeps.ts";
import { recordCollectSent } from "../../server/src/token-subscriptions/repository.ts";
import { createTestDb, type TestDb } from "../support/db.ts";

const contract = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
const identity = (genesisHash: string) => ({ chainId: 31337n, genesisHash, contract });

describe("dev chain identity reset", function () {
  let t: TestDb;
  before(async function () {
    t = await createTestDb();
  });
  after(async function () {
    await t?.drop();
  });

  const count = async (table: string) =>
    Number((await t.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`)).rows[0]?.n);

  it("clears orders together with the per-merchant daily counters, keeps merchants, and records the reset", async function () {
    const logs: string[] = [];
    const options = { resetOnMismatch: true, log: (m: string) => logs.push(m), deleteChainData };
    assert.equal(await ensureChainIdentity(t.db, identity("0x01"), options), undefined);

    const { merchant } = await createMerchant(t.db, "shop@example.com", "seller");
    await t.db.query(
      `INSERT INTO orders (id, merchant_id, chain_id, pay_to, merchant_address, token, token_symbol, token_decimals,
         currency_amount, usd_cents, expected_amount, price, price_decimals, callback, expires_at)
       VALUES (1000000001, $1, 31337, $2, $2, '0x0000000000000000000000000000000000000000', 'ETH', 18,
         '1.00', 100, 1, 1, 8, 'http://127.0.0.1:9/', now() + interval '15 minutes')`,
      [merchant.id, contract],
    );
    await t.db.query(
      "INSERT INTO merchant_daily_orders (merchant_id, day, count) VALUES ($1, (now() AT TIME ZONE 'UTC')::date, 1)",
      [merchant.id],
    );
    assert.equal(await lastChainReset(t.db), undefined);

    // The same chain again: nothing is reset.
    assert.equal(await ensureChainIdentity(t.db, identity("0x01"), options), undefined);
    assert.equal(await count("orders"), 1);

    // A new local chain (new genesis): orders and their daily counters go, the merchant stays.
    const reset = await ensureChainIdentity(t.db, identity("0x02"), options);
    assert.ok(reset);
    assert.match(reset.reason, /chain\.genesis_hash 0x01 → 0x02/);
    assert.equal(await count("orders"), 0);
    assert.equal(await count("merchant_daily_orders"), 0);
    assert.equal(await count("merchants"), 1);
    assert.equal(logs.length, 1);
    const recorded = await lastChainReset(t.db);
    assert.equal(recorded?.reason, reset.reason);
    assert.equal(recorded?.at.toISOString(), reset.at.toISOString());
  });

  it("a reset deletes the chain's outgoing transactions with the sweeps and the collector's rows that point at them", async function () {
    const outgoing = (nonce: bigint, purpose: string) =>
      insertOutgoing(t.db, {
        chainId: 31337n,
        sender: "0xa0ee7a142d267c1f36714e4a8f75612f20a79720",
        purpose,
        nonce,
        to: contract,
        data: "0x",
        value: 0n,
        gasLimit: 21_000n,
        maxFeePerGas: 2n,
        maxPriorityFeePerGas: 1n,
        txHash: `0x${nonce.toString(16).padStart(64, "0")}`,
        sentBlock: 1n,
      });
    const sweep = await outgoing(0n, "sweep");
    await insertSweep(t.db, {
      chainId: 31337n,
      outgoingId: sweep.id,
      deposits: [],
      value: 0n,
      sentBlock: 1n,
    });
    const collect = await outgoing(1n, "collect");
    await recordCollectSent(t.db, 31337n, 5n, collect.id);
    await t.db.transaction((tx) => deleteChainData(tx, 31337n));
    assert.equal(await count("outgoing_transactions"), 0);
    assert.equal(await count("sweeps"), 0);
    assert.equal(await count("token_subscription_keeper"), 0);
  });

  it("a reset deletes the callbacks of the chain's orders and keeps another chain's", async function () {
    const { merchant } = await createMerchant(t.db, "callbacks@example.com", "seller");
    const order = (id: bigint, chainId: bigint) =>
      t.db.query(
        `INSERT INTO orders (id, merchant_id, chain_id, pay_to, merchant_address, token, token_symbol, token_decimals,
           currency_amount, usd_cents, expected_amount, price, price_decimals, callback, expires_at)
         VALUES ($1, $2, $3, $4, $4, '0x0000000000000000000000000000000000000000', 'ETH', 18,
           '1.00', 100, 1, 1, 8, 'http://127.0.0.1:9/', now() + interval '15 minutes')`,
        [id, merchant.id, chainId, contract],
      );
    const callback = (orderId: bigint) =>
      t.db.query(
        `INSERT INTO callbacks (stream, kind, order_id, merchant_id, url, body, secret_ref)
         VALUES ($1, 'order.success', $2, $3, 'http://127.0.0.1:9/', '{}', $4)`,
        [`order:${orderId}`, orderId, merchant.id, `merchant:${merchant.id}`],
      );
    await order(1000000011n, 31337n);
    await order(1000000012n, 1n);
    await callback(1000000011n);
    await callback(1000000012n);
    await t.db.transaction((tx) => deleteChainData(tx, 31337n));
    const { rows } = await t.db.query<{ order_id: bigint }>("SELECT order_id FROM callbacks");
    assert.deepEqual(
      rows.map((r) => r.order_id),
      [1000000012n],
    );
    assert.equal(await count("orders"), 1);
  });

  it("a reset deletes the callbacks of the chain's subscriptions (they would fail forever) and keeps another chain's", async function () {
    const { merchant } = await createMerchant(t.db, "sub-callbacks@example.com", "seller");
    const subscription = async (chainId: bigint, n: number) => {
      const hex = (d: number) => d.toString(16).padStart(2, "0");
      const { rows } = await t.db.query<{ id: bigint }>(
        `INSERT INTO subscriptions (merchant_id, chain_id, token, token_symbol, token_decimals, usd_cents, interval,
           starts_at, merchant_address, callback, reference, deposit_address, page_token, paid_through)
         VALUES ($1, $2, '0x0000000000000000000000000000000000000000', 'ETH', 18, 999, 'monthly', now(), $3,
           'http://127.0.0.1:9/', $4, $5, $6, now()) RETURNING id`,
        [
          merchant.id,
          chainId,
          contract,
          `0x${hex(n).repeat(32)}`,
          `0x${hex(n).repeat(20)}`,
          hex(n).repeat(16),
        ],
      );
      const id = (rows[0] as { id: bigint }).id;
      for (const [stream, kind] of [
        [`recurring:${id}`, "recurring.status_changed"],
        [`notify:${merchant.id}`, "notify.recurring.status_changed"],
      ])
        await t.db.query(
          `INSERT INTO callbacks (stream, kind, merchant_id, url, body, secret_ref)
           VALUES ($1, $2, $3, 'http://127.0.0.1:9/', $4, $5)`,
          [
            stream,
            kind,
            merchant.id,
            JSON.stringify({ subscription_id: Number(id) }),
            `merchant:${merchant.id}`,
          ],
        );
      return id;
    };
    await subscription(31337n, 0xa1);
    const kept = await subscription(1n, 0xa2);
    await t.db.transaction((tx) => deleteChainData(tx, 31337n));
    const { rows } = await t.db.query<{ stream: string; kind: string }>(
      "SELECT stream, kind FROM callbacks WHERE kind LIKE '%recurring%' ORDER BY id",
    );
    assert.deepEqual(
      rows.map((r) => r.stream).filter((s) => s.startsWith("recurring:")),
      [`recurring:${kept}`],
    );
    assert.equal(await count("subscriptions"), 1);
  });

  it("refuses a different chain when resetting is not allowed", async function () {
    await assert.rejects(
      ensureChainIdentity(t.db, identity("0x03"), { resetOnMismatch: false, log: () => {}, deleteChainData }),
      /another chain or contract/,
    );
  });
});
