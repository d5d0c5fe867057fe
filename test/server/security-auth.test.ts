import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "mocha";
import { loadConfig } from "../../server/src/config/index.ts";
import { createMerchant } from "../../server/src/merchants/service.ts";
import { startApiSystem, type ApiSystem } from "../support/api-system.ts";
import { onRealPostgres } from "../support/db.ts";

/**
 * Security finding 3: the rate-limit bucket was keyed on the first 18 characters of whatever
 * Authorization header came, so every guess got a fresh bucket. Failed authentication is now
 * limited per client address; ADMIN_TOKEN must be long; TRUST_PROXY says whose address that is.
 */
const ADMIN_TOKEN = "admin-token-for-the-brute-force-test-0123456789";
const wrongKey = () => `epos_${randomBytes(6).toString("hex")}_${randomBytes(24).toString("hex")}`;

describe("security: admin token and proxy settings", function () {
  it("refuses an ADMIN_TOKEN under 32 characters at start-up, naming the fix", function () {
    assert.throws(
      () => loadConfig({ ADMIN_TOKEN: "change-me" }),
      /ADMIN_TOKEN must be at least 32 characters long \(e\.g\. `openssl rand -hex 32`\)/,
    );
    assert.equal(loadConfig({ ADMIN_TOKEN: "x".repeat(32) }).adminToken, "x".repeat(32));
  });

  it(".env.example suggests no weak admin token", function () {
    const example = readFileSync(new URL("../../.env.example", import.meta.url), "utf8");
    assert.doesNotMatch(example, /change-me/);
    assert.match(example, /TRUST_PROXY/);
  });

  it("reads TRUST_PROXY as a hop count or a list of addresses and CIDR ranges", function () {
    assert.equal(loadConfig({}).trustProxy, false);
    assert.equal(loadConfig({ TRUST_PROXY: "false" }).trustProxy, false);
    assert.equal(loadConfig({ TRUST_PROXY: "1" }).trustProxy, 1);
    assert.deepEqual(loadConfig({ TRUST_PROXY: "10.0.0.0/8, 127.0.0.1,::1,fd00::/8" }).trustProxy, [
      "10.0.0.0/8",
      "127.0.0.1",
      "::1",
      "fd00::/8",
    ]);
    assert.throws(() => loadConfig({ TRUST_PROXY: "true" }), /TRUST_PROXY=true would trust/);
    assert.throws(() => loadConfig({ TRUST_PROXY: "10.0.0.0/33" }), /TRUST_PROXY.*10\.0\.0\.0\/33/);
    assert.throws(() => loadConfig({ TRUST_PROXY: "proxy.example" }), /TRUST_PROXY/);
  });
});

describe(`security: brute force of API keys and the admin token (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let api: ApiSystem;
  let key: string;

  before(async function () {
    api = await startApiSystem({ ADMIN_TOKEN });
    key = (await createMerchant(api.testDb.db, "victim@example.com", "seller")).apiKey;
  });
  after(async function () {
    await api?.close();
  });

  const get = (url: string, authorization: string, remoteAddress: string, headers = {}) =>
    api.system.app.inject({ method: "GET", url, remoteAddress, headers: { authorization, ...headers } });

  it("throttles 1,000 wrong keys from one address and never touches another client's bucket", async function () {
    const attacker = "203.0.113.7";
    const codes = new Map<number, number>();
    for (let i = 0; i < 1_000; i++) {
      const res = await get("/user", wrongKey(), attacker);
      codes.set(res.statusCode, (codes.get(res.statusCode) ?? 0) + 1);
    }
    const unauthorized = codes.get(401) ?? 0;
    const throttled = codes.get(429) ?? 0;
    assert.equal(unauthorized + throttled, 1_000, JSON.stringify([...codes]));
    assert.ok(unauthorized <= 20, `at most 20 guesses were checked, got ${unauthorized}`);
    const blocked = await get("/user", wrongKey(), attacker);
    assert.equal(blocked.statusCode, 429);
    assert.equal(blocked.json().error.code, "auth_rate_limited");
    assert.ok(Number(blocked.headers["retry-after"]) > 0);
    // Even the right key is not checked from that address until the window passes.
    assert.equal((await get("/user", key, attacker)).statusCode, 429);
    // The admin token shares the limit.
    assert.equal((await get("/admin/merchants/1", `Bearer ${ADMIN_TOKEN}x`, attacker)).statusCode, 429);

    // Another client is untouched: its key works and its own wrong key is a plain 401.
    const other = "198.51.100.9";
    assert.equal((await get("/user", key, other)).statusCode, 200);
    assert.equal((await get("/user", wrongKey(), other)).statusCode, 401);
    // Anonymous requests from the attacker's address still work (they guess nothing).
    const anonymous = await api.system.app.inject({ method: "GET", url: "/health", remoteAddress: attacker });
    assert.notEqual(anonymous.statusCode, 429);
  });

  it("admin token guesses are throttled per address", async function () {
    const guesser = "203.0.113.8";
    let checked = 0;
    for (let i = 0; i < 200; i++) {
      const res = await get("/admin/merchants/1", `Bearer ${randomBytes(24).toString("hex")}`, guesser);
      if (res.statusCode === 401) checked++;
      else assert.equal(res.statusCode, 429);
    }
    assert.ok(checked <= 20, `at most 20 admin guesses were checked, got ${checked}`);
  });
});

describe(`security: TRUST_PROXY decides whose address is limited (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  for (const trust of [undefined, "1", "10.0.0.0/8"]) {
    it(`TRUST_PROXY=${trust ?? "(unset)"}`, async function () {
      const api = await startApiSystem(trust ? { TRUST_PROXY: trust } : {});
      try {
        const proxy = "10.1.2.3";
        const guess = (client: string) =>
          api.system.app.inject({
            method: "GET",
            url: "/user",
            remoteAddress: proxy,
            headers: { authorization: wrongKey(), "x-forwarded-for": client },
          });
        for (let i = 0; i < 100; i++) await guess("192.0.2.50");
        const otherClient = await guess("192.0.2.51");
        // Behind a trusted proxy each client has its own limit; otherwise the proxy is the client.
        assert.equal(otherClient.statusCode, trust ? 401 : 429);
      } finally {
        await api.close();
      }
    });
  }
});
