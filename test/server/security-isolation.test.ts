import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { createMerchant } from "../../server/src/merchants/service.ts";
import { startApiSystem, type ApiSystem } from "../support/api-system.ts";
import { onRealPostgres } from "../support/db.ts";

/**
 * Security finding 2: /user/history covered every address a merchant ever typed into an order.
 * Merchant A, with an order naming B's payout address, must see nothing of B; B sees its own
 * money once it has proven the address with a signature.
 */
describe(`security: merchants see only the addresses they proved (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let api: ApiSystem;
  let keyA: string;
  let keyB: string;
  let addressB: string;

  before(async function () {
    api = await startApiSystem({ RATE_LIMIT_PER_MINUTE: "100000" });
    keyA = (await createMerchant(api.testDb.db, "a@example.com", "seller")).apiKey;
    keyB = (await createMerchant(api.testDb.db, "b@example.com", "seller")).apiKey;
    addressB = api.chain.merchant.address;
    // B's money on chain, as the indexer records it: one payment, one withdrawal, one orphan payment.
    const event = `INSERT INTO contract_events (chain_id, block_number, tx_index, log_index, block_hash, block_timestamp,
        tx_hash, kind, merchant, order_ref, counterparty, token, amount)
      VALUES (31337, 1, 0, $1, '0x' || repeat('b', 64), now(), '0x' || repeat($2, 64), $3, $4, $5, $6, $7, $8)`;
    const b = addressB.toLowerCase();
    const eth = "0x" + "0".repeat(40);
    await api.testDb.db.query(event, [
      0,
      "1",
      "payment",
      b,
      "0x" + "1".repeat(64),
      b,
      eth,
      "7000000000000000000",
    ]);
    await api.testDb.db.query(event, [1, "2", "withdrawal", b, null, b, eth, "1000000000000000000"]);
  });
  after(async function () {
    await api?.close();
  });

  const as = (key: string, method: "GET" | "POST", url: string, payload?: object) =>
    api.system.app.inject({ method, url, payload, headers: { authorization: key } });

  it("merchant A with an order naming B's address sees nothing of B", async function () {
    const created = await as(keyA, "POST", "/order", {
      amount: "20.00",
      address: addressB,
      callback: "https://a.example/cb",
    });
    assert.equal(created.statusCode, 200, created.body);
    const history = await as(keyA, "GET", "/user/history");
    assert.equal(history.statusCode, 200, history.body);
    const body = history.json();
    assert.deepEqual(body.income, []);
    assert.deepEqual(body.outgoing, []);
    assert.deepEqual(body.balances, []);
    assert.deepEqual(body.orphan_payments, []);
    assert.doesNotMatch(history.body, new RegExp(addressB.slice(2), "i"));
    // A's own order still counts in A's totals.
    assert.equal(body.totals.orders, 1);
    // A cannot prove B's address: A has no key for it.
    const challenge = (await as(keyA, "GET", `/user/addresses/nonce?address=${addressB}`)).json();
    const forged = await api.chain.other.signMessage(challenge.message);
    const refused = await as(keyA, "POST", "/user/addresses", {
      address: addressB,
      nonce: challenge.nonce,
      signature: forged,
    });
    assert.equal(refused.statusCode, 401, refused.body);
    assert.deepEqual((await as(keyA, "GET", "/user/history")).json().income, []);
  });

  it("B proves its address with a signature and then sees its money; a challenge works once", async function () {
    const before = (await as(keyB, "GET", "/user/history")).json();
    assert.deepEqual(before.income, [], "nothing before the proof");
    const challengeRes = await as(keyB, "GET", `/user/addresses/nonce?address=${addressB}`);
    assert.equal(challengeRes.statusCode, 200, challengeRes.body);
    const challenge = challengeRes.json();
    assert.match(challenge.message, /Merchant: \d+/);
    assert.match(challenge.message, new RegExp(`Address: ${addressB}`));
    const signature = await api.chain.merchant.signMessage(challenge.message);
    const proven = await as(keyB, "POST", "/user/addresses", {
      address: addressB,
      nonce: challenge.nonce,
      signature,
    });
    assert.equal(proven.statusCode, 200, proven.body);
    assert.equal(proven.json().address, addressB);
    const again = await as(keyB, "POST", "/user/addresses", {
      address: addressB,
      nonce: challenge.nonce,
      signature,
    });
    assert.equal(again.statusCode, 400);
    assert.equal(again.json().error.code, "invalid_challenge");
    // Another merchant cannot replay B's signed challenge either (it names B's merchant id).
    const replay = await as(keyA, "POST", "/user/addresses", {
      address: addressB,
      nonce: challenge.nonce,
      signature,
    });
    assert.equal(replay.statusCode, 400);

    const history = (await as(keyB, "GET", "/user/history")).json();
    assert.deepEqual(history.income, [{ token: "ETH", amount: "7", chain_id: 31337 }]);
    assert.deepEqual(history.outgoing, [{ token: "ETH", withdrawn: "1", refunded: "0", chain_id: 31337 }]);
    assert.ok(history.balances.every((b: { address: string }) => b.address === addressB));
    assert.ok(history.balances.length >= 1);
    assert.deepEqual(
      (await as(keyB, "GET", "/user/addresses")).json().addresses.map((a: { address: string }) => a.address),
      [addressB],
    );
    // Still nothing for A.
    assert.deepEqual((await as(keyA, "GET", "/user/history")).json().income, []);
  });

  it("flags keyed orders that pay out to an address the account has not proven", async function () {
    // Runs after B proved addressB; A never did.
    const byA = await as(keyA, "POST", "/order", {
      amount: "20.00",
      address: addressB,
      callback: "https://a.example/cb",
    });
    assert.equal(byA.statusCode, 200, byA.body);
    assert.equal(byA.json().payout_address_proven, false);
    const byB = await as(keyB, "POST", "/order", {
      amount: "20.00",
      address: addressB,
      callback: "https://b.example/cb",
    });
    assert.equal(byB.json().payout_address_proven, true);
    assert.equal((await as(keyA, "GET", `/order/${byA.json().id}`)).json().payout_address_proven, false);
    assert.equal((await as(keyB, "GET", `/order/${byB.json().id}`)).json().payout_address_proven, true);
    const listed = (await as(keyA, "GET", "/history")).json().orders;
    assert.ok(listed.length >= 2);
    assert.ok(listed.every((o: { payout_address_proven: boolean }) => o.payout_address_proven === false));
    assert.ok(
      (await as(keyB, "GET", "/history"))
        .json()
        .orders.every((o: { payout_address_proven: boolean }) => o.payout_address_proven),
    );
    // Anonymous orders carry no flag: nobody is asking.
    const anonymous = await api.system.app.inject({
      method: "POST",
      url: "/order",
      payload: { amount: "1.00", address: addressB, callback: "https://x.example/cb" },
    });
    assert.equal(anonymous.statusCode, 200, anonymous.body);
    assert.equal(anonymous.json().payout_address_proven, undefined);
  });
});
