/**
 * Security review 2, finding 7: `GET /console/deposits` read every unswept deposit of the whole
 * chain on every call and kept the merchant's in JavaScript, so each console view did work that
 * grew with every other merchant's deposits. The query is now scoped to the merchant's proven
 * payout addresses in SQL: another merchant's deposits never appear, and the rows the database
 * sends back are the merchant's own, however many other merchants' rows there are.
 */
import assert from "node:assert/strict";
import type { Queryable } from "../../server/src/db/types.ts";
import { createMerchant } from "../../server/src/merchants/service.ts";
import { proveAddress, startApiSystem, type ApiSystem } from "../support/api-system.ts";
import { onRealPostgres } from "../support/db.ts";

const CHAIN = 31_337n;
const OTHERS = 3_000;

describe(`security: /console/deposits is scoped to the merchant in SQL (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let api: ApiSystem;
  let keyA: string;
  let keyB: string;
  let usdc: string;
  const addressA = "0x" + "a1".repeat(20);
  const addressB = "0x" + "b2".repeat(20);

  /** A deposit waiting at `address` for `merchant`: an ETH balance at block 5, and a token transfer. */
  async function deposit(db: Queryable, address: string, merchant: string, eth: string, token?: string) {
    await db.query(
      `INSERT INTO deposit_addresses (chain_id, address, merchant, order_ref, token, watch_until, balance)
       VALUES ($1, $2, $3, '0x' || repeat('0', 64), '0x' || repeat('0', 40), now() + interval '1 day', $4)`,
      [CHAIN, address, merchant.toLowerCase(), eth],
    );
    await db.query(
      `INSERT INTO deposit_balances (chain_id, address, block_number, block_hash, block_timestamp, balance)
       VALUES ($1, $2, 5, '0x' || repeat('5', 64), now(), $3)`,
      [CHAIN, address, eth],
    );
    if (token) {
      await db.query(
        `INSERT INTO deposit_transfers (chain_id, block_number, tx_index, log_index, block_hash, block_timestamp,
           tx_hash, token, address, sender, amount)
         VALUES ($1, 6, 0, 0, '0x' || repeat('6', 64), now(), '0x' || md5($2) || md5($2), $3, $2, '0x' || repeat('9', 40), $4)`,
        [CHAIN, address, usdc, token],
      );
    }
  }

  before(async function () {
    api = await startApiSystem({ RATE_LIMIT_PER_MINUTE: "100000" });
    const db = api.testDb.db;
    usdc = api.chain.stablecoinAddress.toLowerCase();
    keyA = (await createMerchant(db, "a@example.com", "seller")).apiKey;
    keyB = (await createMerchant(db, "b@example.com", "seller")).apiKey;
    await proveAddress(api.system, keyA, api.chain.merchant);
    await proveAddress(api.system, keyB, api.chain.other);
    await deposit(db, addressA, api.chain.merchant.address, "1500000000000000000", "2500000");
    await deposit(db, addressB, api.chain.other.address, "700000000000000000");
    // Many other merchants' unswept deposits on the same chain, ETH and token.
    await db.query(
      `INSERT INTO deposit_addresses (chain_id, address, merchant, order_ref, token, watch_until, balance)
       SELECT $1, '0x' || 'c' || lpad(to_hex(i), 39, '0'), '0x' || 'd' || lpad(to_hex(i), 39, '0'), '0x' || repeat('0', 64),
              '0x' || repeat('0', 40), now() + interval '1 day', 1000 + i
         FROM generate_series(1, $2::int) AS i`,
      [CHAIN, OTHERS],
    );
    await db.query(
      `INSERT INTO deposit_balances (chain_id, address, block_number, block_hash, block_timestamp, balance)
       SELECT $1, '0x' || 'c' || lpad(to_hex(i), 39, '0'), 5, '0x' || repeat('5', 64), now(), 1000 + i
         FROM generate_series(1, $2::int) AS i`,
      [CHAIN, OTHERS],
    );
    await db.query(
      `INSERT INTO deposit_transfers (chain_id, block_number, tx_index, log_index, block_hash, block_timestamp,
         tx_hash, token, address, sender, amount)
       SELECT $1, 6, 0, i, '0x' || repeat('6', 64), now(), '0x' || repeat('7', 64), $3,
              '0x' || 'c' || lpad(to_hex(i), 39, '0'), '0x' || repeat('9', 40), 5 + i
         FROM generate_series(1, $2::int) AS i`,
      [CHAIN, OTHERS, usdc],
    );
    // The chain as indexed up to block 100: every deposit above has its confirmations.
    await db.query(
      "INSERT INTO indexer_cursor (chain_id, block_number, block_hash) VALUES ($1, 100, '0x' || repeat('1', 64))",
      [CHAIN],
    );
    const chain = api.system.chains[0]!;
    const deadline = Date.now() + 10_000;
    while (chain.indexedBlock() !== 100n && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(chain.indexedBlock(), 100n, "the API process follows the indexer's cursor");
  });
  after(async function () {
    await api?.close();
  });

  type Deposit = { address: string; merchant: string; token: string; amount: string };
  const deposits = async (key: string) => {
    const res = await api.system.app.inject({
      method: "GET",
      url: "/console/deposits",
      headers: { authorization: key },
    });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { deposits: Deposit[] }).deposits;
  };

  it("lists the merchant's own deposits only, never another merchant's", async function () {
    const a = await deposits(keyA);
    assert.deepEqual(
      a.map((d) => [d.address.toLowerCase(), d.merchant, d.token, d.amount]),
      [
        [addressA, api.chain.merchant.address, "ETH", "1.5"],
        [addressA, api.chain.merchant.address, "USDC", "2.5"],
      ],
    );
    const b = await deposits(keyB);
    assert.deepEqual(
      b.map((d) => [d.address.toLowerCase(), d.merchant, d.token, d.amount]),
      [[addressB, api.chain.other.address, "ETH", "0.7"]],
    );
    const merchantWithoutAddresses = (await createMerchant(api.testDb.db, "c@example.com", "seller")).apiKey;
    assert.deepEqual(await deposits(merchantWithoutAddresses), []);
  });

  it("filters in the database: the rows it returns are the merchant's, not the chain's", async function () {
    const db = api.testDb.db;
    const original = db.query.bind(db);
    let rowsReturned = 0;
    db.query = (async (sql: string, params?: readonly unknown[]) => {
      const result = await original(sql, params);
      rowsReturned += result.rows.length;
      return result;
    }) as typeof db.query;
    try {
      assert.equal((await deposits(keyA)).length, 2);
    } finally {
      db.query = original;
    }
    // The session and key lookups, the proven addresses and the merchant's two deposits; before
    // the fix every one of the other merchants' rows came back too.
    assert.ok(rowsReturned < 20, `the database returned ${rowsReturned} rows for 2 deposits`);
  });
});
