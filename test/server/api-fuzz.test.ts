import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { createMerchant } from "../../server/src/merchants/service.ts";
import { startApiSystem, type ApiSystem } from "../helpers/api-system.ts";

/** Deterministic PRNG (mulberry32), so a failing case can be replayed from its seed. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOSTILE = [
  "",
  " ",
  "0",
  "-1",
  "1e308",
  "NaN",
  "Infinity",
  "9".repeat(400),
  "0.00000000000000000000001",
  "13.54",
  "4.99",
  "5.00",
  "' OR 1=1 --",
  '"; DROP TABLE orders; --',
  "<script>alert(1)</script>",
  "../../etc/passwd",
  "%00",
  "\u0000",
  "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ☃ 🦄",
  "\u202e\u0645",
  "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
  "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
  "0x0000000000000000000000000000000000000000",
  "http://127.0.0.1:9/cb",
  "javascript:alert(1)",
  "http://" + "a".repeat(3000) + ".com",
  "USDC",
  "ETH",
];
const VALUES: unknown[] = [
  ...HOSTILE,
  0,
  1,
  -1,
  1.5,
  1e308,
  true,
  false,
  null,
  [],
  {},
  ["1.00"],
  { $gt: "" },
];
const FIELDS = [
  "amount",
  "address",
  "callback",
  "item_title",
  "item_description",
  "item_image",
  "token",
  "extra",
  "__proto__",
  "constructor",
];
const ROUTES = [
  "/order",
  "/order/1",
  "/order/716101402",
  "/order/abc",
  "/order/1/qr.svg",
  "/pay/1",
  "/history",
  "/history/pending",
  "/history/bogus",
  "/history?limit=0",
  "/history?limit=501",
  "/history?cursor=%E2%80%AE",
  "/status/recurring/active",
  "/status/recurring/nope",
  "/user",
  "/user/history",
  "/callbacks?order=1",
  "/callbacks/1/redeliver",
  "/admin/merchants",
  "/health",
  "/nope",
];
const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] as const;

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
