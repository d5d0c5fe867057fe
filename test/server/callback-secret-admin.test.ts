import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { after, before, describe, it } from "mocha";
import { resolveSecrets } from "../../server/src/callbacks/secrets.ts";
import { startApiSystem, type ApiSystem } from "../support/api-system.ts";
import { onRealPostgres } from "../support/db.ts";

const ADMIN_TOKEN = "admin-token-for-secret-tests-0123456789";

/**
 * The operator's way to a merchant's callback signing secret (the console has the merchant's own):
 * POST /admin/merchants/callback-secret and `npm run merchant -- callback-secret`. The new secret
 * is shown once; the previous one keeps signing beside it for the overlap.
 */
describe(`callback signing secret by the operator (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let api: ApiSystem;
  let merchantId: number;

  before(async function () {
    api = await startApiSystem({ ADMIN_TOKEN });
    const created = await admin("/admin/merchants", { email: "shop@example.com", plan: "basic" });
    assert.equal(created.statusCode, 200, created.body);
    merchantId = created.json().id;
  });
  after(async function () {
    await api?.close();
  });

  function admin(url: string, payload: object, token: string | null = ADMIN_TOKEN) {
    return api.system.app.inject({
      method: "POST",
      url,
      payload,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
  }
  const secrets = () =>
    resolveSecrets(api.testDb.db, { callbackSecret: undefined, eletropayCallbackSecret: undefined })(
      `merchant:${merchantId}`,
    );

  it("rotates with an overlap in which both secrets sign, then with none", async function () {
    const before = await secrets();
    assert.equal(before.length, 1);
    const res = await admin("/admin/merchants/callback-secret", {
      email: "SHOP@example.com",
      overlap_hours: 2,
    });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as {
      callback_secret: string;
      previous_valid_until: string | null;
      email: string;
    };
    assert.match(body.callback_secret, /^[0-9a-f]{64}$/);
    assert.equal(body.email, "shop@example.com");
    const until = Date.parse(body.previous_valid_until ?? "");
    assert.ok(Math.abs(until - Date.now() - 2 * 3600_000) < 60_000, body.previous_valid_until ?? "null");
    assert.deepEqual(await secrets(), [body.callback_secret, before[0]]);

    const again = await admin("/admin/merchants/callback-secret", {
      email: "shop@example.com",
      overlap_hours: 0,
    });
    assert.equal(again.statusCode, 200, again.body);
    assert.equal(again.json().previous_valid_until, null);
    assert.deepEqual(await secrets(), [again.json().callback_secret]);
  });

  it("refuses without the admin token, for an unknown merchant and for an overlap beyond a week", async function () {
    assert.equal(
      (await admin("/admin/merchants/callback-secret", { email: "shop@example.com" }, null)).statusCode,
      401,
    );
    const unknown = await admin("/admin/merchants/callback-secret", { email: "nobody@example.com" });
    assert.equal(unknown.statusCode, 404, unknown.body);
    assert.match(unknown.json().error.message, /nobody@example.com/);
    const long = await admin("/admin/merchants/callback-secret", {
      email: "shop@example.com",
      overlap_hours: 200,
    });
    assert.equal(long.statusCode, 400, long.body);
    assert.match(long.json().error.message, /overlap_hours/);
  });

  it("npm run merchant -- callback-secret prints the new secret once (PostgreSQL: the CLI opens the database itself)", async function () {
    if (!api.testDb.url) this.skip(); // PGlite lives in this process; the CLI then goes through a running server
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["scripts/merchant.ts", "callback-secret", "--email", "shop@example.com", "--overlap-hours", "1"],
      { env: { ...process.env, DATABASE_URL: api.testDb.url, DATA_DIR: "/nonexistent", PORT: "1" } },
    );
    const printed = /\n([0-9a-f]{64})\n/.exec(stdout)?.[1];
    assert.ok(printed, stdout);
    assert.match(stdout, /previous secret also signs until/);
    assert.equal((await secrets())[0], printed);
  });
});
