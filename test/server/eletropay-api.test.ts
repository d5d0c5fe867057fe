/**
 * The private EletroPay API over app.inject, with a recording stand-in for the chain adapter
 * (the real node is exercised in eletropay-litecoind.test.ts): registration, token storage,
 * address issuance, concurrency, access control, the re-issue policy, gap-limit status, and a
 * barrage of malformed input that must produce 4xx and never a 5xx.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { HDKey } from "@scure/bip32";
import type { FastifyInstance, InjectOptions } from "fastify";
import { parseEletroPayConfig, type EletroPayConfig } from "../../server/src/config/eletropay.ts";
import { createEletroPay, type EletroPay } from "../../server/src/eletropay/index.ts";
import { gapLimitStatus } from "../../server/src/eletropay/service.ts";
import type { PollResult, UtxoChainAdapter, WatchAddress } from "../../server/src/utxo/adapter.ts";
import type { UtxoCurrency } from "../../server/src/utxo/networks.ts";
import { createTestDb, type TestDb } from "../support/db.ts";

const SEED = Buffer.from("eletropay api test seed, not a real wallet");
const TEST = { public: 0x043587cf, private: 0x04358394 };

/** Records imports; `failImports` simulates an unreachable node. */
class RecordingAdapter implements UtxoChainAdapter {
  readonly currency: UtxoCurrency;
  imported: WatchAddress[] = [];
  importCalls = 0;
  failImports = false;
  constructor(currency: UtxoCurrency) {
    this.currency = currency;
  }
  async ensureReady(): Promise<void> {}
  async importAddresses(addresses: readonly WatchAddress[]): Promise<void> {
    this.importCalls++;
    if (this.failImports) throw new Error("connect ECONNREFUSED 127.0.0.1:9332");
    this.imported.push(...addresses);
  }
  async poll(): Promise<PollResult> {
    return { cursor: "00".repeat(32), tipHeight: 0, observations: [], cursorReset: false };
  }
}

/** The same account key exported as vpub (BIP84, testnet P2WPKH). */
function asVpub(key: HDKey): string {
  return new HDKey({
    versions: { public: 0x045f1cf6, private: 0x045f18bc },
    publicKey: key.publicKey!,
    chainCode: key.chainCode!,
    depth: key.depth,
    index: key.index,
    parentFingerprint: key.parentFingerprint,
  }).publicExtendedKey;
}

const SHARED_SECRET = "api-test-shared-secret-0123456789";

/** Every request of this suite carries the shared secret unless it sets the header itself. */
const withSecret = (app: FastifyInstance, opts: InjectOptions) =>
  app.inject({ ...opts, headers: { "x-eletropay-secret": SHARED_SECRET, ...opts.headers } });

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    XPUB_LTC: HDKey.fromMasterSeed(SEED, TEST).derive("m/44'/1'/0'").publicExtendedKey,
    LTC_NETWORK: "regtest",
    LTC_RPC_URL: "http://u:p@127.0.0.1:1/wallet/eletropay",
    XPUB_DASH: HDKey.fromMasterSeed(SEED).derive("m/44'/5'/0'").publicExtendedKey,
    DASH_RPC_URL: "http://u:p@127.0.0.1:1/",
    XPUB_BTC: asVpub(HDKey.fromMasterSeed(SEED, TEST).derive("m/84'/1'/0'")),
    BTC_NETWORK: "testnet",
    BTC_RPC_URL: "http://u:p@127.0.0.1:1/",
    ELETROPAY_TOKEN_KEY: "api-test-token-key-0123456789abcdef0123456789",
    ELETROPAY_CALLBACK_URL: "https://eletropay.example/v1/payments/{key}/{currency}/",
    ELETROPAY_SHARED_SECRET: SHARED_SECRET,
    // This suite issues hundreds of addresses to one client from one address; the limits and the
    // refusal past the gap limit have their own tests (security-eletropay-limits.test.ts).
    ELETROPAY_RATE_LIMIT_PER_IP: "1000000",
    ELETROPAY_RATE_LIMIT_PER_TOKEN: "1000000",
    GAP_LIMIT: "1000",
    ...extra,
  };
}

describe("EletroPay private API", function () {
  let testDb: TestDb;
  let config: EletroPayConfig;
  let ep: EletroPay;
  let app: FastifyInstance;
  let adapters: Record<UtxoCurrency, RecordingAdapter>;
  const statuses: number[] = [];

  async function call(opts: InjectOptions) {
    const res = await withSecret(app, opts);
    statuses.push(res.statusCode);
    return res;
  }

  async function register(email: string): Promise<string> {
    const res = await call({ method: "POST", url: "/v1/clients", payload: { email } });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { token: string }).token;
  }

  before(async function () {
    testDb = await createTestDb();
    config = parseEletroPayConfig(env());
    adapters = {
      DASH: new RecordingAdapter("DASH"),
      LTC: new RecordingAdapter("LTC"),
      BTC: new RecordingAdapter("BTC"),
    };
    ep = await createEletroPay({ db: testDb.db, config, adapters });
    app = ep.app;
  });

  after(async function () {
    await app?.close();
    await testDb?.drop();
  });

  it("registers a client with a 40-hex token and returns the same token for the same email", async function () {
    const token = await register("ep@example.com");
    assert.match(token, /^[0-9a-f]{40}$/);
    assert.equal(await register("ep@example.com"), token);
    assert.equal(await register("  EP@Example.COM "), token, "emails are trimmed and case-insensitive");
    const other = await register("other.pos+1@shop.example.org");
    assert.notEqual(other, token);
  });

  it("stores only a hash and a ciphertext of the token: a database dump holds no token", async function () {
    const token = await register("leak@example.com");
    const { rows } = await testDb.db.query<Record<string, unknown>>(
      "SELECT * FROM eletropay_clients WHERE email = $1",
      ["leak@example.com"],
    );
    const dump = JSON.stringify(rows, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
    assert.ok(!dump.includes(token), "the token is not in the row");
    assert.equal(rows[0]!.token_hash, createHash("sha256").update(token).digest("hex"));
    // A ciphertext moved to another client's row does not decrypt (the email is authenticated).
    await testDb.db.query(
      "UPDATE eletropay_clients SET token_enc = (SELECT token_enc FROM eletropay_clients WHERE email = 'leak@example.com') WHERE email = 'ep@example.com'",
    );
    const res = await withSecret(app, {
      method: "POST",
      url: "/v1/clients",
      payload: { email: "ep@example.com" },
    });
    assert.equal(res.statusCode, 500);
    assert.deepEqual(res.json(), { error: { code: "internal_error", message: "internal error" } });
  });

  it("issues fresh addresses per call for DASH, LTC and BTC, case-insensitively, tied to the client", async function () {
    const token = await register("addresses@example.com");
    const seen = new Set<string>();
    for (const [currency, pattern] of [
      ["dash", /^X[1-9A-HJ-NP-Za-km-z]{33}$/],
      ["DASH", /^X/],
      ["ltc", /^[mn][1-9A-HJ-NP-Za-km-z]{25,34}$/],
      ["Ltc", /^[mn]/],
      ["btc", /^tb1q[02-9ac-hj-np-z]{38}$/],
      ["BTC", /^tb1q/],
    ] as const) {
      const res = await call({ method: "GET", url: `/v1/clients/${token}/${currency}` });
      assert.equal(res.statusCode, 200, res.body);
      const { address } = res.json() as { address: string };
      assert.match(address, pattern);
      assert.ok(!seen.has(address));
      seen.add(address);
      assert.equal(res.headers["cache-control"], "no-store");
    }
    const { rows } = await testDb.db.query<{ email: string; n: bigint }>(
      `SELECT c.email, count(*) AS n FROM eletropay_addresses a JOIN eletropay_clients c ON c.id = a.client_id
       WHERE a.address = ANY($1) GROUP BY c.email`,
      [[...seen]],
    );
    assert.deepEqual(rows, [{ email: "addresses@example.com", n: 6n }]);
    assert.ok(adapters.LTC.imported.some((a) => seen.has(a.address) && a.since === "now"));
  });

  it("gives 200 parallel requests 200 distinct addresses from contiguous indexes, all imported", async function () {
    const token = await register("parallel@example.com");
    const before = await testDb.db.query<{ next_index: bigint }>(
      "SELECT next_index FROM eletropay_keys WHERE currency = 'DASH'",
    );
    const start = Number(before.rows[0]?.next_index ?? 0n);
    const replies = await Promise.all(
      Array.from({ length: 200 }, () => call({ method: "GET", url: `/v1/clients/${token}/DASH` })),
    );
    assert.ok(replies.every((r) => r.statusCode === 200));
    const addresses = replies.map((r) => (r.json() as { address: string }).address);
    assert.equal(new Set(addresses).size, 200);
    const { rows } = await testDb.db.query<{ idx: bigint }>(
      "SELECT idx FROM eletropay_addresses WHERE currency = 'DASH' AND address = ANY($1) ORDER BY idx",
      [addresses],
    );
    assert.deepEqual(
      rows.map((r) => Number(r.idx)),
      Array.from({ length: 200 }, (_, i) => start + i),
    );
    const imported = new Set(adapters.DASH.imported.map((a) => a.address));
    assert.ok(addresses.every((a) => imported.has(a)));
  });

  it("answers an unknown token with 404 and unsupported currencies with 400 listing the supported ones", async function () {
    const token = await register("errors@example.com");
    const unknown = await call({ method: "GET", url: `/v1/clients/${"ab".repeat(20)}/LTC` });
    assert.equal(unknown.statusCode, 404);
    assert.equal((unknown.json() as { error: { code: string } }).error.code, "unknown_token");
    const eth = await call({ method: "GET", url: `/v1/clients/${token}/eth` });
    assert.equal(eth.statusCode, 400);
    assert.match(
      (eth.json() as { error: { message: string } }).error.message,
      /ETH is not yet supported.*DASH, LTC, BTC/,
    );
    const xyz = await call({ method: "GET", url: `/v1/clients/${token}/DOGE` });
    assert.equal(xyz.statusCode, 400);
    assert.deepEqual(xyz.json(), {
      error: {
        code: "currency_not_supported",
        message: 'currency "DOGE" is not supported; supported: DASH, LTC, BTC',
      },
    });
  });

  it("rejects malformed emails with a 400 that says why", async function () {
    const cases: Array<[unknown, RegExp]> = [
      ["", /empty/],
      ["plainaddress", /exactly one @/],
      ["a@b@example.com", /exactly one @/],
      ["@example.com", /before @/],
      ["user@", /domain/],
      ["user@localhost", /domain/],
      ["user@exa_mple.com", /domain/],
      ["user@example.c0m", /top-level/],
      ["us..er@example.com", /before @/],
      [".user@example.com", /before @/],
      ["us er@example.com", /before @/],
      ["a".repeat(65) + "@example.com", /1 to 64/],
      ["a@" + "b".repeat(250) + ".com", /254|320/],
      [42, /string/],
      [null, /string/],
      [["a@b.com"], /string/],
    ];
    for (const [email, why] of cases) {
      const res = await call({ method: "POST", url: "/v1/clients", payload: { email } });
      assert.equal(res.statusCode, 400, `${JSON.stringify(email)} -> ${res.body}`);
      assert.match((res.json() as { error: { message: string } }).error.message, why, JSON.stringify(email));
    }
  });

  it("answers malformed tokens, currencies, bodies and huge payloads with 4xx, never 5xx", async function () {
    const token = await register("fuzz@example.com");
    const before = statuses.length;
    const requests: Array<InjectOptions> = [
      { method: "GET", url: "/v1/clients/short/LTC" },
      { method: "GET", url: `/v1/clients/${"g".repeat(40)}/LTC` },
      { method: "GET", url: `/v1/clients/${token}0/LTC` },
      { method: "GET", url: `/v1/clients/${"a".repeat(300)}/LTC` },
      { method: "GET", url: `/v1/clients/${token}/${"X".repeat(300)}` },
      { method: "GET", url: `/v1/clients/${token}/%00` },
      { method: "GET", url: `/v1/clients/${token}/%E0%A4%A` },
      { method: "GET", url: `/v1/clients/${token}/L%20TC` },
      { method: "GET", url: `/v1/clients/${token}` },
      { method: "GET", url: `/v1/clients/${token}/LTC/extra` },
      { method: "GET", url: `/v1/clients/../../etc/passwd` },
      { method: "POST", url: "/v1/clients" },
      { method: "POST", url: "/v1/clients", headers: { "content-type": "application/json" }, payload: "" },
      {
        method: "POST",
        url: "/v1/clients",
        headers: { "content-type": "application/json" },
        payload: "{bad json",
      },
      {
        method: "POST",
        url: "/v1/clients",
        headers: { "content-type": "application/json" },
        payload: "null",
      },
      { method: "POST", url: "/v1/clients", headers: { "content-type": "application/json" }, payload: "[]" },
      {
        method: "POST",
        url: "/v1/clients",
        headers: { "content-type": "application/json" },
        payload: '"x@y.com"',
      },
      { method: "POST", url: "/v1/clients", headers: { "content-type": "text/plain" }, payload: "x@y.com" },
      { method: "POST", url: "/v1/clients", payload: { mail: "x@y.com" } },
      { method: "POST", url: "/v1/clients", payload: { email: { $ne: "" } } },
      { method: "POST", url: "/v1/clients", payload: { email: "x".repeat(5000) + "@example.com" } },
      {
        method: "POST",
        url: "/v1/clients",
        headers: { "content-type": "application/json" },
        payload: JSON.stringify({ email: "a@b.com", pad: "x".repeat(1_000_000) }),
      },
      {
        method: "POST",
        url: "/v1/clients",
        headers: { "content-type": "application/json" },
        payload: "[".repeat(100_000),
      },
      { method: "PUT", url: "/v1/clients", payload: { email: "x@y.com" } },
      { method: "DELETE", url: `/v1/clients/${token}/LTC` },
      { method: "GET", url: "/v1/payments" },
    ];
    for (const request of requests) {
      const res = await call(request);
      assert.ok(
        res.statusCode >= 400 && res.statusCode < 500,
        `${JSON.stringify(request).slice(0, 120)} -> ${res.statusCode} ${res.body.slice(0, 200)}`,
      );
      const body = res.json() as { error: { code: string; message: string } };
      assert.equal(
        typeof body.error.code,
        "string",
        `${JSON.stringify(request).slice(0, 120)} -> ${res.body.slice(0, 200)}`,
      );
      assert.equal(typeof body.error.message, "string");
    }
    const huge = await call({
      method: "POST",
      url: "/v1/clients",
      headers: { "content-type": "application/json" },
      payload: JSON.stringify({ email: "a@b.com", pad: "x".repeat(10_000) }),
    });
    assert.equal(huge.statusCode, 413);
    // Random printable junk in both path segments.
    let seed = 7;
    const rand = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const alphabet = "abcdefABCDEF0123456789xyz-_.~!$&'()*+,;=:@%20";
    for (let i = 0; i < 200; i++) {
      const seg = (n: number) =>
        Array.from({ length: n }, () => alphabet[Math.floor(rand() * alphabet.length)]).join("");
      const res = await call({
        method: "GET",
        url: `/v1/clients/${seg(1 + Math.floor(rand() * 60))}/${seg(1 + Math.floor(rand() * 8))}`,
      });
      assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${res.statusCode} ${res.body}`);
    }
    const fromHere = statuses.slice(before);
    assert.equal(fromHere.filter((s) => s >= 500).length, 0);
    assert.ok(fromHere.length > 220);
  });

  it("refuses peers outside ELETROPAY_ALLOW_IPS and requests without the shared secret", async function () {
    const token = await register("acl@example.com");
    const outside = await withSecret(app, {
      method: "GET",
      url: `/v1/clients/${token}/LTC`,
      remoteAddress: "10.1.2.3",
    });
    assert.equal(outside.statusCode, 403);
    assert.equal((outside.json() as { error: { code: string } }).error.code, "ip_not_allowed");
    const mapped = await withSecret(app, {
      method: "GET",
      url: `/v1/clients/${token}/LTC`,
      remoteAddress: "::ffff:127.0.0.1",
    });
    assert.equal(mapped.statusCode, 200);

    const guarded = await createEletroPay({
      db: testDb.db,
      config: parseEletroPayConfig(
        env({ ELETROPAY_SHARED_SECRET: "s3cret-s3cret-s3cret", ELETROPAY_ALLOW_IPS: "10.0.0.0/8, ::1" }),
      ),
      adapters,
    });
    try {
      const url = `/v1/clients/${token}/LTC`;
      assert.equal(
        (await guarded.app.inject({ method: "GET", url, remoteAddress: "127.0.0.1" })).statusCode,
        403,
      );
      assert.equal(
        (await guarded.app.inject({ method: "GET", url, remoteAddress: "10.9.8.7" })).statusCode,
        401,
      );
      const wrong = await guarded.app.inject({
        method: "GET",
        url,
        remoteAddress: "10.9.8.7",
        headers: { "x-eletropay-secret": "s3cret-s3cret-s3creT" },
      });
      assert.equal(wrong.statusCode, 401);
      const right = await guarded.app.inject({
        method: "GET",
        url,
        remoteAddress: "10.9.8.7",
        headers: { "x-eletropay-secret": "s3cret-s3cret-s3cret" },
      });
      assert.equal(right.statusCode, 200);
    } finally {
      await guarded.app.close();
    }
  });

  it("still issues an address when the node is unreachable; the watcher imports it later with a rescan", async function () {
    const token = await register("offline@example.com");
    adapters.BTC.failImports = true;
    const res = await call({ method: "GET", url: `/v1/clients/${token}/BTC` });
    adapters.BTC.failImports = false;
    assert.equal(res.statusCode, 200);
    const { address } = res.json() as { address: string };
    const pending = await testDb.db.query(
      "SELECT 1 FROM eletropay_addresses WHERE address = $1 AND imported_at IS NULL",
      [address],
    );
    assert.equal(pending.rows.length, 1);
    const status = await gapLimitStatus(testDb.db, config);
    assert.equal(status.currencies.find((c) => c.currency === "BTC")!.unimported, 1);
    assert.equal(
      (await ep.watcher.pollOnce("BTC"))?.imported,
      0,
      "the API request may still be importing it",
    );
    await testDb.db.query(
      "UPDATE eletropay_addresses SET issued_at = now() - interval '1 minute' WHERE address = $1",
      [address],
    );
    const summary = await ep.watcher.pollOnce("BTC");
    assert.equal(summary?.imported, 1);
    const late = adapters.BTC.imported.find((a) => a.address === address);
    assert.ok(late && typeof late.since === "number" && late.since <= Date.now() / 1000);
    const done = await testDb.db.query(
      "SELECT 1 FROM eletropay_addresses WHERE address = $1 AND imported_at IS NOT NULL",
      [address],
    );
    assert.equal(done.rows.length, 1);
  });

  it("re-issues the same client's oldest unpaid address only after ADDRESS_REISSUE_AFTER_SECONDS", async function () {
    const reissuing = await createEletroPay({
      db: testDb.db,
      config: parseEletroPayConfig(env({ ADDRESS_REISSUE_AFTER_SECONDS: "3600" })),
      adapters,
    });
    try {
      const get = async (t: string) => {
        const res = await withSecret(reissuing.app, { method: "GET", url: `/v1/clients/${t}/LTC` });
        assert.equal(res.statusCode, 200);
        return (res.json() as { address: string }).address;
      };
      const alice = await register("alice@example.com");
      const bob = await register("bob@example.com");
      const a1 = await get(alice);
      const a2 = await get(alice);
      assert.notEqual(a1, a2, "fresh while nothing is old enough");
      // Age both; pretend a2 was paid.
      await testDb.db.query(
        "UPDATE eletropay_addresses SET last_issued_at = now() - interval '2 hours' WHERE address = ANY($1)",
        [[a1, a2]],
      );
      await testDb.db.query("UPDATE eletropay_addresses SET paid_at = now() WHERE address = $1", [a2]);
      const b1 = await get(bob);
      assert.ok(![a1, a2].includes(b1), "another client's old address is never handed out");
      assert.equal(await get(alice), a1, "the old unpaid address comes back");
      const a4 = await get(alice);
      assert.ok(
        ![a1, a2].includes(a4),
        "re-issued addresses are fresh again for an hour; paid ones never return",
      );
      const { rows } = await testDb.db.query<{ reissue_count: number }>(
        "SELECT reissue_count FROM eletropay_addresses WHERE address = $1",
        [a1],
      );
      assert.equal(rows[0]!.reissue_count, 1);
    } finally {
      await reissuing.app.close();
    }
  });

  it("reports the longest run of unpaid addresses against the gap limit", async function () {
    const fresh = await createTestDb();
    try {
      const cfg = parseEletroPayConfig(env({ GAP_LIMIT: "5" }));
      const local = await createEletroPay({ db: fresh.db, config: cfg, adapters });
      // Three clients, in turn: each stays below the gap limit (it would get 409 past it), while the
      // key's run of unpaid addresses, which a restored wallet meets, grows to 12.
      const tokens: string[] = [];
      for (const email of ["gap@example.com", "gap2@example.com", "gap3@example.com"])
        tokens.push((await local.service.registerClient(email, { revealExisting: true })).token);
      const issued: string[] = [];
      for (let i = 0; i < 12; i++)
        issued.push((await local.service.issueAddress(tokens[i % 3]!, "LTC")).address);
      let ltc = (await gapLimitStatus(fresh.db, cfg)).currencies.find((c) => c.currency === "LTC")!;
      assert.deepEqual([ltc.issued, ltc.paid, ltc.unpaidRun], [12, 0, 12]);
      assert.ok(ltc.warning?.includes("12 consecutive"));
      // Paid at 3 and 9: runs are 3 (0-2), 5 (4-8) and 2 (10-11).
      await fresh.db.query("UPDATE eletropay_addresses SET paid_at = now() WHERE address = ANY($1)", [
        [issued[3], issued[9]],
      ]);
      ltc = (await gapLimitStatus(fresh.db, cfg)).currencies.find((c) => c.currency === "LTC")!;
      assert.deepEqual([ltc.paid, ltc.unpaidRun], [2, 5]);
      assert.ok(ltc.warning, "a run equal to the gap limit already hides the next payment");
      await fresh.db.query("UPDATE eletropay_addresses SET paid_at = now() WHERE address = $1", [issued[6]]);
      const status = await gapLimitStatus(fresh.db, cfg);
      ltc = status.currencies.find((c) => c.currency === "LTC")!;
      assert.equal(ltc.unpaidRun, 3);
      assert.equal(ltc.warning, undefined);
      assert.equal(status.ok, true);
      await local.app.close();
    } finally {
      await fresh.drop();
    }
  });
});
