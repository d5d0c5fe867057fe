import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { createMerchant } from "../../server/src/merchants/service.ts";
import { startApiSystem, type ApiSystem } from "../support/api-system.ts";
import { FIELDS, METHODS, ROUTES, VALUES, rng } from "../helpers/fuzz-corpus.ts";

describe("REST API fuzz: hostile requests never cause a 5xx or a partial write", function () {
  let api: ApiSystem;
  let chain: ApiSystem["chain"];
  let testDb: ApiSystem["testDb"];
  let system: ApiSystem["system"];
  let key: string;

  before(async function () {
    api = await startApiSystem({ ADMIN_TOKEN: "admin-token-for-the-fuzz-test-0123456789" });
    ({ chain, testDb, system } = api);
    key = (await createMerchant(testDb.db, "fuzz@example.com", "exclusive")).apiKey;
  });

  after(async function () {
    await api?.close();
  });

  it("answers 1,200 generated requests with no 5xx, and writes exactly the orders it accepted", async function () {
    const random = rng(Number(process.env.FUZZ_SEED ?? 20261123));
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
    const before =
      (await testDb.db.query<{ n: bigint }>("SELECT count(*)::int8 AS n FROM orders")).rows[0]?.n ?? 0n;
    let accepted = 0;
    const statuses = new Map<number, number>();
    for (let i = 0; i < 1_200; i++) {
      const method = random() < 0.6 ? "POST" : pick(METHODS);
      const url = random() < 0.6 ? "/order" : pick(ROUTES);
      let payload: string | undefined;
      const headers: Record<string, string> = {};
      if (random() < 0.5)
        headers.authorization = pick([
          key,
          `Bearer ${key}`,
          "garbage",
          "Bearer ",
          "epos_x_y",
          "admin-token-for-the-fuzz-test",
        ]);
      if (random() < 0.1)
        headers.accept = pick(["text/html", "application/xml", "*/*", "application/json;q=0"]);
      if (method !== "GET" && method !== "OPTIONS") {
        const shape = random();
        if (shape < 0.1)
          payload = pick(["{", "[]", "null", '"x"', '{"amount":', "\u0000", "x".repeat(70_000)]);
        else {
          const body: Record<string, unknown> = {};
          // Mostly valid-looking orders with one or two hostile fields, so the deep paths get reached.
          body.amount = random() < 0.7 ? pick(["1.00", "4.99", "13.54", "999.99"]) : pick(VALUES);
          body.address = random() < 0.7 ? chain.merchant.address : pick(VALUES);
          body.callback = random() < 0.8 ? "http://127.0.0.1:9/cb" : pick(VALUES);
          for (let k = 0; k < Math.floor(random() * 3); k++) body[pick(FIELDS)] = pick(VALUES);
          if (random() < 0.1) delete body[pick(["amount", "address", "callback"])];
          payload = JSON.stringify(body);
        }
        headers["content-type"] =
          random() < 0.95
            ? "application/json"
            : pick(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]);
      }
      const res = await system.app.inject({
        method,
        url,
        headers,
        ...(payload !== undefined ? { payload } : {}),
      });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      assert.ok(
        res.statusCode < 500,
        `request ${i}: ${method} ${url} ${payload?.slice(0, 200)} → ${res.statusCode} ${res.body.slice(0, 300)}`,
      );
      if (res.statusCode >= 400 && res.headers["content-type"]?.toString().includes("json")) {
        const body = res.json();
        assert.equal(typeof body.error?.code, "string", `request ${i}: error shape`);
        assert.equal(typeof body.error?.message, "string", `request ${i}: error shape`);
      }
      if (method === "POST" && url === "/order" && res.statusCode === 200) accepted++;
    }
    const after =
      (await testDb.db.query<{ n: bigint }>("SELECT count(*)::int8 AS n FROM orders")).rows[0]?.n ?? 0n;
    assert.equal(after - before, BigInt(accepted), "no partial writes: every stored order was answered 200");
    assert.ok(accepted > 10, `the fuzz reached the success path (${accepted} orders)`);
    assert.ok((statuses.get(400) ?? 0) > 100, "the fuzz reached validation");
  });
});
