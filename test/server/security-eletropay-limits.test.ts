/**
 * Security review 2, finding 12: the EletroPay listener had no rate limit, and handed out fresh
 * addresses without end, each one imported into the node's wallet. Now:
 *   - requests are limited per client address (ELETROPAY_RATE_LIMIT_PER_IP, IPv6 per /64), before
 *     the shared secret is checked, and address requests per token (ELETROPAY_RATE_LIMIT_PER_TOKEN):
 *     429 `rate_limited` with Retry-After;
 *   - a client whose last GAP_LIMIT addresses are all unpaid gets 409 `gap_limit_reached` and the
 *     node imports nothing, until one is paid (or an old one is re-issued).
 */
import assert from "node:assert/strict";
import { HDKey } from "@scure/bip32";
import type { InjectOptions } from "fastify";
import { parseEletroPayConfig } from "../../server/src/config/eletropay.ts";
import { createEletroPay, type EletroPay } from "../../server/src/eletropay/index.ts";
import type { PollResult, UtxoChainAdapter, WatchAddress } from "../../server/src/utxo/adapter.ts";
import { createTestDb, onRealPostgres, type TestDb } from "../support/db.ts";

const SEED = Buffer.from("eletropay limits test seed, not a real wallet");
const TEST = { public: 0x043587cf, private: 0x04358394 };
const SECRET = "limits-test-shared-secret-0123456789";

/** Counts the watch-only imports the node would receive. */
class CountingAdapter implements UtxoChainAdapter {
  readonly currency = "LTC" as const;
  imported: WatchAddress[] = [];
  async ensureReady(): Promise<void> {}
  async importAddresses(addresses: readonly WatchAddress[]): Promise<void> {
    this.imported.push(...addresses);
  }
  async poll(): Promise<PollResult> {
    return { cursor: "00".repeat(32), tipHeight: 0, observations: [], cursorReset: false };
  }
}

const env = (extra: Record<string, string>) => ({
  XPUB_LTC: HDKey.fromMasterSeed(SEED, TEST).derive("m/44'/1'/0'").publicExtendedKey,
  LTC_NETWORK: "regtest",
  LTC_RPC_URL: "http://u:p@127.0.0.1:1/wallet/eletropay",
  ELETROPAY_TOKEN_KEY: "limits-test-token-key-0123456789abcdef0123",
  ELETROPAY_CALLBACK_URL: "https://eletropay.example/v1/payments/{key}/{currency}/",
  ELETROPAY_SHARED_SECRET: SECRET,
  ...extra,
});

type Error = { error: { code: string; message: string } };

describe(`security: the EletroPay listener is rate-limited and keeps to the gap limit (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let testDb: TestDb;
  const apps: EletroPay[] = [];

  async function eletropay(extra: Record<string, string>) {
    const adapter = new CountingAdapter();
    const ep = await createEletroPay({
      db: testDb.db,
      config: parseEletroPayConfig(env(extra)),
      adapters: { LTC: adapter },
    });
    apps.push(ep);
    const call = (opts: InjectOptions) =>
      ep.app.inject({ ...opts, headers: { "x-eletropay-secret": SECRET, ...opts.headers } });
    const register = async (email: string) => {
      const res = await call({ method: "POST", url: "/v1/clients", payload: { email } });
      assert.equal(res.statusCode, 200, res.body);
      return res.json().token as string;
    };
    return { ep, adapter, call, register };
  }

  before(async function () {
    testDb = await createTestDb();
  });
  after(async function () {
    for (const ep of apps) await ep.app.close();
    await testDb?.drop();
  });

  it("limits address requests per token with 429 and Retry-After; other tokens go on", async function () {
    const { call, register } = await eletropay({ ELETROPAY_RATE_LIMIT_PER_TOKEN: "4" });
    const [a, b] = [await register("token-a@example.com"), await register("token-b@example.com")];
    for (let i = 0; i < 4; i++) {
      const res = await call({ method: "GET", url: `/v1/clients/${a}/LTC` });
      assert.equal(res.statusCode, 200, res.body);
    }
    // The same token in upper case is the same token.
    const refused = await call({ method: "GET", url: `/v1/clients/${a.toUpperCase()}/LTC` });
    assert.equal(refused.statusCode, 429, refused.body);
    const error = (refused.json() as Error).error;
    assert.equal(error.code, "rate_limited");
    assert.match(error.message, /with this token: the limit is 4 per minute; try again in \d+ s/);
    assert.ok(Number(refused.headers["retry-after"]) > 0);
    assert.equal((await call({ method: "GET", url: `/v1/clients/${b}/LTC` })).statusCode, 200);
  });

  it("limits requests per client address (IPv6 per /64), wrong secrets included", async function () {
    const { call, register } = await eletropay({
      ELETROPAY_RATE_LIMIT_PER_IP: "5",
      ELETROPAY_ALLOW_IPS: "10.0.0.0/8,2001:db8::/32",
    });
    const token = await register("ip@example.com").catch(() => "");
    assert.equal(token, "", "the default remote address 127.0.0.1 is not allowed here");
    const from = (remoteAddress: string, opts: InjectOptions = {}) =>
      call({ method: "GET", url: `/v1/clients/${"0".repeat(40)}/LTC`, remoteAddress, ...opts });
    for (let i = 0; i < 5; i++) {
      // Guessing the shared secret: each wrong guess counts.
      const res = await from("10.0.0.7", { headers: { "x-eletropay-secret": `wrong-${i}` } });
      assert.equal(res.statusCode, 401, res.body);
    }
    const refused = await from("10.0.0.7");
    assert.equal(refused.statusCode, 429, refused.body);
    assert.equal((refused.json() as Error).error.code, "rate_limited");
    assert.match((refused.json() as Error).error.message, /from this address: the limit is 5 per minute/);
    // Another address is not affected; the right secret from there reaches the route (an unknown token: 404).
    assert.equal((await from("10.0.0.8")).statusCode, 404);
    // Addresses of one IPv6 /64 share one count.
    for (let i = 1; i <= 5; i++) assert.equal((await from(`2001:db8:5:6::${i}`)).statusCode, 404);
    assert.equal((await from("2001:db8:5:6:ffff::1")).statusCode, 429);
    assert.equal((await from("2001:db8:5:7::1")).statusCode, 404);
  });

  it(`refuses a client's address past the gap limit with 409, importing nothing into the node`, async function () {
    const { call, register, adapter } = await eletropay({ GAP_LIMIT: "3" });
    const token = await register("gap@example.com");
    const other = await register("gap-other@example.com");
    const issued: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await call({ method: "GET", url: `/v1/clients/${token}/LTC` });
      assert.equal(res.statusCode, 200, res.body);
      issued.push(res.json().address);
    }
    const imports = adapter.imported.length;
    // Ten more at once: every one refused, none derived, none imported.
    const refused = await Promise.all(
      Array.from({ length: 10 }, () => call({ method: "GET", url: `/v1/clients/${token}/LTC` })),
    );
    assert.deepEqual(
      refused.map((r) => r.statusCode),
      Array(10).fill(409),
    );
    const error = (refused[0]!.json() as Error).error;
    assert.equal(error.code, "gap_limit_reached");
    assert.match(error.message, /last 3 LTC addresses are all unpaid \(GAP_LIMIT 3\)/);
    assert.match(error.message, /ADDRESS_REISSUE_AFTER_SECONDS/);
    assert.equal(adapter.imported.length, imports, "nothing was imported into the node");
    // Another client is not held back by this one.
    assert.equal((await call({ method: "GET", url: `/v1/clients/${other}/LTC` })).statusCode, 200);
    // A payment to its newest address ends the run: new addresses again, up to the limit.
    await testDb.db.query("UPDATE eletropay_addresses SET paid_at = now() WHERE address = $1", [issued[2]]);
    const after = await Promise.all(
      Array.from({ length: 5 }, () => call({ method: "GET", url: `/v1/clients/${token}/LTC` })),
    );
    assert.deepEqual(after.map((r) => r.statusCode).sort(), [200, 200, 200, 409, 409]);
  });

  it("re-issues an old unpaid address instead of refusing when ADDRESS_REISSUE_AFTER_SECONDS is set", async function () {
    const { call, register } = await eletropay({ GAP_LIMIT: "2", ADDRESS_REISSUE_AFTER_SECONDS: "60" });
    const token = await register("gap-reissue@example.com");
    const first = (await call({ method: "GET", url: `/v1/clients/${token}/LTC` })).json().address;
    assert.equal((await call({ method: "GET", url: `/v1/clients/${token}/LTC` })).statusCode, 200);
    assert.equal((await call({ method: "GET", url: `/v1/clients/${token}/LTC` })).statusCode, 409);
    await testDb.db.query(
      "UPDATE eletropay_addresses SET last_issued_at = now() - interval '2 minutes' WHERE address = $1",
      [first],
    );
    const again = await call({ method: "GET", url: `/v1/clients/${token}/LTC` });
    assert.equal(again.statusCode, 200, again.body);
    assert.equal(again.json().address, first);
  });
});
