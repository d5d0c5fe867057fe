import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { createMerchant, setPlugins } from "../../server/src/merchants/service.ts";
import { proveAddress, startApiSystem, type ApiSystem } from "../support/api-system.ts";
import { onRealPostgres } from "../support/db.ts";

const ETH = "0x" + "0".repeat(40);

/**
 * A subscription is paid with its own reference (swept from its deposit address, or collected by the
 * Subscriptions contract), which names no order: GET /user/history must not list those payments as
 * orphan payments, and must still list a payment whose reference names nothing.
 */
describe(`GET /user/history: subscription payments are no orphans (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let api: ApiSystem;
  let key: string;

  before(async function () {
    api = await startApiSystem({ RATE_LIMIT_PER_MINUTE: "100000", PUBLIC_URL: "http://pos.test" });
    key = (await createMerchant(api.testDb.db, "club@example.com", "seller")).apiKey;
    await setPlugins(api.testDb.db, "club@example.com", { recurring_payments: true });
    await proveAddress(api.system, key, api.chain.merchant);
  });
  after(async function () {
    await api?.close();
  });

  it("lists a payment with an unknown reference, not one with a subscription's reference", async function () {
    const created = await api.system.app.inject({
      method: "POST",
      url: "/recurring",
      headers: { authorization: key },
      payload: {
        amount: "12.00",
        interval: "monthly",
        address: api.chain.merchant.address,
        callback: "https://club.example/cb",
      },
    });
    assert.equal(created.statusCode, 200, created.body);
    const { rows } = await api.testDb.db.query<{ reference: string; deposit_address: string }>(
      "SELECT reference, deposit_address FROM subscriptions WHERE id = $1",
      [created.json().id],
    );
    const subscription = rows[0];
    assert.ok(subscription, "the subscription is stored");

    // Two payments to the merchant as the indexer records them: the subscription's sweep, and one
    // whose reference names no order and no subscription.
    const merchant = api.chain.merchant.address.toLowerCase();
    const unknownRef = "0x" + "7".repeat(64);
    const event = `INSERT INTO contract_events (chain_id, block_number, tx_index, log_index, block_hash, block_timestamp,
        tx_hash, kind, merchant, order_ref, counterparty, token, amount)
      VALUES (31337, 1, 0, $1, '0x' || repeat('c', 64), now(), '0x' || repeat($2, 64), 'payment', $3, $4, $5, $6, $7)`;
    await api.testDb.db.query(event, [
      0,
      "1",
      merchant,
      subscription.reference,
      subscription.deposit_address,
      ETH,
      "6000000000000000",
    ]);
    await api.testDb.db.query(event, [1, "2", merchant, unknownRef, merchant, ETH, "1000"]);

    const history = await api.system.app.inject({
      method: "GET",
      url: "/user/history",
      headers: { authorization: key },
    });
    assert.equal(history.statusCode, 200, history.body);
    const orphans = (history.json() as { orphan_payments: { order_ref: string; amount: string }[] })
      .orphan_payments;
    assert.deepEqual(
      orphans.map((o) => [o.order_ref, o.amount]),
      [[unknownRef, "0.000000000000001"]],
    );
  });
});
