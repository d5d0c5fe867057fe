import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { orderIdToBytes32 } from "../../server/src/orders/ids.ts";
import { startApiSystem, type ApiSystem } from "../support/api-system.ts";

/**
 * Security finding 5: `pay(merchant, orderRef)` puts its second argument in an indexed topic, so
 * it must not be the API order id. A new order's on-chain reference is 16 random bytes after 16
 * zero bytes: nothing of the id, different for every order (migration 080).
 */
describe("security: on-chain order references reveal no order id (finding 5)", function () {
  let api: ApiSystem;

  before(async function () {
    api = await startApiSystem({ RATE_LIMIT_PER_MINUTE: "100000" });
  });
  after(async function () {
    await api?.close();
  });

  it("each new order's reference is 16 random bytes, unrelated to its id", async function () {
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const res = await api.system.app.inject({
        method: "POST",
        url: "/order",
        payload: { amount: "1.00", address: api.chain.merchant.address, callback: "https://shop.example/cb" },
      });
      assert.equal(res.statusCode, 200, res.body);
      const { id, reference } = res.json() as { id: number; reference: string };
      assert.match(reference, /^0x0{32}[0-9a-f]{32}$/);
      assert.notEqual(reference, orderIdToBytes32(BigInt(id)));
      assert.ok(!reference.includes(BigInt(id).toString(16)), "the id's hex is not in the reference");
      assert.ok(!reference.includes(String(id)), "the id's digits are not in the reference");
      seen.add(reference);
    }
    assert.equal(seen.size, 20, "every order gets its own reference");
  });
});
