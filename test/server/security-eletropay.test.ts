/**
 * Security finding 6: the private EletroPay API (`POST /v1/clients`).
 *   - EletroPay does not start unless the shared secret or an allowlist that excludes loopback
 *     authenticates its callers; the start-up error names the variables to set;
 *   - an app built without either refuses every request;
 *   - re-registering an email reveals the existing token only to a caller holding the shared
 *     secret; without it the answer is 409 with no token, saying how to get it.
 */
import assert from "node:assert/strict";
import { HDKey } from "@scure/bip32";
import { parseEletroPayConfig, type EletroPayConfig } from "../../server/src/config/eletropay.ts";
import { createEletroPay, type EletroPay } from "../../server/src/eletropay/index.ts";
import { ConfigError } from "../../server/src/lib/errors.ts";
import type { PollResult, UtxoChainAdapter } from "../../server/src/utxo/adapter.ts";
import { createTestDb, type TestDb } from "../support/db.ts";

const SEED = Buffer.from("eletropay security test seed, not a real wallet");
const TEST = { public: 0x043587cf, private: 0x04358394 };
const SECRET = "security-test-shared-secret-0123456789";

const ltc: UtxoChainAdapter = {
  currency: "LTC",
  async ensureReady() {},
  async importAddresses() {},
  async poll(): Promise<PollResult> {
    return { cursor: "00".repeat(32), tipHeight: 0, observations: [], cursorReset: false };
  },
};

/** Enabled EletroPay with neither a shared secret nor an explicit allowlist. */
const bare: Record<string, string> = {
  XPUB_LTC: HDKey.fromMasterSeed(SEED, TEST).derive("m/44'/1'/0'").publicExtendedKey,
  LTC_NETWORK: "regtest",
  LTC_RPC_URL: "http://u:p@127.0.0.1:1/wallet/eletropay",
  ELETROPAY_TOKEN_KEY: "security-test-token-key-0123456789abcdef",
  ELETROPAY_CALLBACK_URL: "https://eletropay.example/v1/payments/{key}/{currency}/",
};

function refused(env: Record<string, string>): string {
  try {
    parseEletroPayConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail(`accepted without authentication: ${JSON.stringify(env.ELETROPAY_ALLOW_IPS)}`);
}

describe("security: EletroPay registration needs authentication (finding 6)", function () {
  describe("start-up", function () {
    it("refuses to start with neither ELETROPAY_SHARED_SECRET nor a non-loopback ELETROPAY_ALLOW_IPS, saying which to set", function () {
      for (const env of [bare, { ...bare, XPUB_LTC: "", ELETROPAY_ETH: "true" }]) {
        const message = refused(env);
        assert.match(message, /ELETROPAY_SHARED_SECRET/);
        assert.match(message, /x-eletropay-secret/);
        assert.match(message, /openssl rand -hex 32/);
        assert.match(message, /ELETROPAY_ALLOW_IPS/);
      }
    });

    it("does not count an allowlist that admits loopback (every local process) as authentication", function () {
      for (const allow of [
        "127.0.0.1",
        "::1",
        "127.0.0.0/8,::1",
        "10.0.0.0/8,127.0.0.1",
        "0.0.0.0/0",
        "::/0",
      ]) {
        assert.match(refused({ ...bare, ELETROPAY_ALLOW_IPS: allow }), /ELETROPAY_SHARED_SECRET/, allow);
      }
    });

    it("starts with the shared secret, or with an allowlist of EletroPay's own addresses", function () {
      assert.equal(parseEletroPayConfig({ ...bare, ELETROPAY_SHARED_SECRET: SECRET }).sharedSecret, SECRET);
      for (const allow of ["10.0.0.5", "10.0.0.0/8,192.168.1.7", "2001:db8::/32"]) {
        assert.equal(parseEletroPayConfig({ ...bare, ELETROPAY_ALLOW_IPS: allow }).enabled, true, allow);
      }
      // Disabled EletroPay needs neither.
      assert.equal(parseEletroPayConfig({}).enabled, false);
    });
  });

  describe("POST /v1/clients", function () {
    let testDb: TestDb;
    const apps: EletroPay[] = [];
    const make = async (config: EletroPayConfig) => {
      const ep = await createEletroPay({ db: testDb.db, config, adapters: { LTC: ltc } });
      apps.push(ep);
      return ep.app;
    };
    const register = (
      app: Awaited<ReturnType<typeof make>>,
      email: string,
      opts: { ip?: string; secret?: string } = {},
    ) =>
      app.inject({
        method: "POST",
        url: "/v1/clients",
        remoteAddress: opts.ip ?? "127.0.0.1",
        headers: opts.secret ? { "x-eletropay-secret": opts.secret } : {},
        payload: { email },
      });

    before(async function () {
      testDb = await createTestDb();
    });
    after(async function () {
      for (const ep of apps) await ep.app.close();
      await testDb?.drop();
    });

    it("allowlist only: a second registration of an email is 409 and never shows the token", async function () {
      const app = await make(parseEletroPayConfig({ ...bare, ELETROPAY_ALLOW_IPS: "10.0.0.5" }));
      const first = await register(app, "pos@example.com", { ip: "10.0.0.5" });
      assert.equal(first.statusCode, 200, first.body);
      const token = (first.json() as { token: string }).token;
      assert.match(token, /^[0-9a-f]{40}$/);
      for (const email of ["pos@example.com", "  POS@Example.COM "]) {
        const again = await register(app, email, { ip: "10.0.0.5" });
        assert.equal(again.statusCode, 409, again.body);
        assert.ok(!again.body.includes(token), "the existing token is not in the answer");
        const { error } = again.json() as { error: { code: string; message: string } };
        assert.equal(error.code, "client_exists");
        assert.match(error.message, /ELETROPAY_SHARED_SECRET/);
        assert.match(error.message, /x-eletropay-secret/);
      }
      // The address the token names still works for its holder.
      const address = await app.inject({
        method: "GET",
        url: `/v1/clients/${token}/LTC`,
        remoteAddress: "10.0.0.5",
      });
      assert.equal(address.statusCode, 200, address.body);
    });

    it("shared secret: the holder gets the same token again; a missing or wrong secret gets 401 and no token", async function () {
      const app = await make(parseEletroPayConfig({ ...bare, ELETROPAY_SHARED_SECRET: SECRET }));
      const first = await register(app, "shop@example.com", { secret: SECRET });
      assert.equal(first.statusCode, 200, first.body);
      const token = (first.json() as { token: string }).token;
      const again = await register(app, "shop@example.com", { secret: SECRET });
      assert.equal(again.statusCode, 200, again.body);
      assert.equal((again.json() as { token: string }).token, token);
      for (const secret of [undefined, `${SECRET.slice(0, -1)}X`, "short", `${SECRET}${SECRET}`]) {
        const res = await register(app, "shop@example.com", secret === undefined ? {} : { secret });
        assert.equal(res.statusCode, 401, res.body);
        assert.ok(!res.body.includes(token));
      }
    });

    it("an app built from a configuration with neither refuses every request and creates nothing", async function () {
      const valid = parseEletroPayConfig({ ...bare, ELETROPAY_SHARED_SECRET: SECRET });
      const app = await make({ ...valid, sharedSecret: undefined, allowIps: ["127.0.0.0/8", "::1"] });
      const res = await register(app, "nobody@example.com");
      assert.equal(res.statusCode, 403, res.body);
      assert.match((res.json() as { error: { message: string } }).error.message, /ELETROPAY_SHARED_SECRET/);
      const { rows } = await testDb.db.query("SELECT 1 FROM eletropay_clients WHERE email = $1", [
        "nobody@example.com",
      ]);
      assert.equal(rows.length, 0);
    });
  });
});
