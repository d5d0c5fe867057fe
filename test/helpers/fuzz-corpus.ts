/**
 * The hostile-request corpus of the REST API fuzz test (test/server/api-fuzz.test.ts), shared with
 * the soak (bench/soak), which replays it over real HTTP while faults are injected.
 */
/** Deterministic PRNG (mulberry32), so a failing case can be replayed from its seed. */
export function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const HOSTILE = [
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
export const VALUES: unknown[] = [
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
export const FIELDS = [
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
export const ROUTES = [
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
export const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] as const;
