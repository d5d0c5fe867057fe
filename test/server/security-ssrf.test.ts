import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { parseCallbackConfig } from "../../server/src/config/callbacks.ts";
import { loadConfig } from "../../server/src/config/index.ts";
import { CallbackTargetRefused, resolveCallbackTarget } from "../../server/src/callbacks/ssrf.ts";
import { createCallbackService } from "../../server/src/callbacks/service.ts";
import { createCallbackWorker } from "../../server/src/callbacks/worker.ts";
import { createMerchant } from "../../server/src/merchants/service.ts";
import { startApiSystem, type ApiSystem } from "../support/api-system.ts";
import { createTestDb, onRealPostgres, type TestDb } from "../support/db.ts";
import {
  callbackRow,
  enqueue,
  insertMerchant,
  insertOrder,
  memoryLog,
  orderEntry,
  startReceiver,
  testConfig,
  type Receiver,
} from "./callbacks-support.ts";

/**
 * Security finding 1: callbacks could be aimed at internal hosts because the guard was off unless
 * NODE_ENV=production. The guard is now on in every mode; only an explicit
 * CALLBACK_ALLOW_PRIVATE=true (npm start's dev stack, tests) allows private targets.
 */

/** Every private, loopback, link-local and IPv6-mapped spelling of an internal target. */
const PRIVATE_TARGETS = [
  "http://127.0.0.1/",
  "http://127.1.2.3:8080/x",
  "http://10.0.0.1/",
  "http://172.16.5.4/",
  "http://192.168.1.1/",
  "http://169.254.169.254/latest/meta-data/",
  "http://100.64.0.1/",
  "http://0.0.0.0/",
  "http://2130706433/",
  "http://0x7f.0.0.1/",
  "http://017700000001/",
  "http://[::1]/",
  "http://[::]/",
  "http://[::ffff:127.0.0.1]/",
  "http://[::ffff:7f00:1]/",
  "http://[::ffff:169.254.169.254]/",
  "http://[::ffff:10.0.0.1]/",
  "http://[64:ff9b::a9fe:a9fe]/",
  "http://[2002:c0a8:0101::1]/",
  "http://[fe80::1]/",
  "http://[fc00::1]/",
  "http://[fd00:ec2::254]/",
  "http://localhost/",
  "http://api.localhost/",
];

describe("security: callbacks refuse internal targets by default", function () {
  it("the guard is on for NODE_ENV unset, development, test and production", function () {
    assert.equal(parseCallbackConfig({}).allowPrivateTargets, false);
    for (const mode of ["development", "test", "production"]) {
      const env = { NODE_ENV: mode, CALLBACK_SECRET: "x".repeat(32) };
      assert.equal(parseCallbackConfig(env).allowPrivateTargets, false, mode);
    }
    // The README's real-network example sets no NODE_ENV.
    assert.equal(loadConfig({ RPC_URL: "https://rpc.example" }).callbacks.allowPrivateTargets, false);
    assert.equal(parseCallbackConfig({ CALLBACK_ALLOW_PRIVATE: "true" }).allowPrivateTargets, true);
  });

  it("refuses every private, loopback, link-local and IPv6-mapped form with the default guard", async function () {
    const guard = parseCallbackConfig({}).allowPrivateTargets;
    const resolver = async () => [{ address: "93.184.215.14", family: 4 as const }];
    for (const url of PRIVATE_TARGETS) {
      if (new URL(url).hostname.endsWith("localhost")) continue; // names: resolved below
      await assert.rejects(
        resolveCallbackTarget(url, { allowPrivate: guard, resolver }),
        CallbackTargetRefused,
        url,
      );
    }
  });

  it("refuses a name whose DNS answer changes to a private address (rebinding), on every attempt", async function () {
    const answers = ["93.184.215.14", "127.0.0.1", "::ffff:169.254.169.254", "10.1.2.3", "fd00::1"];
    let call = 0;
    const resolver = async () => {
      const address = answers[Math.min(call++, answers.length - 1)] as string;
      return [{ address, family: address.includes(":") ? (6 as const) : (4 as const) }];
    };
    const first = await resolveCallbackTarget("https://rebind.example/hook", {
      allowPrivate: false,
      resolver,
    });
    assert.equal(first.address, "93.184.215.14");
    for (let i = 1; i < answers.length; i++) {
      await assert.rejects(
        resolveCallbackTarget("https://rebind.example/hook", { allowPrivate: false, resolver }),
        /resolves to a (loopback|link-local|private|unique-local)/,
      );
    }
  });
});

describe(`security: callbacks after a DNS answer changes (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let t: TestDb;
  let receiver: Receiver;

  before(async function () {
    t = await createTestDb();
    receiver = await startReceiver();
  });
  after(async function () {
    await receiver.close();
    await t.drop();
  });

  it("a retried callback whose name now resolves to loopback is refused and nothing reaches the receiver", async function () {
    // First answer: a public address that does not answer in time (a retry follows); second: loopback.
    const answers = ["93.184.215.14", "127.0.0.1"];
    let call = 0;
    const resolver = async () => {
      const address = answers[Math.min(call++, answers.length - 1)] as string;
      return [{ address, family: 4 as const }];
    };
    const config = { ...testConfig({ allowPrivateTargets: false }), timeoutMs: 200 };
    const { id } = await enqueue(t.db, {
      stream: "rebind",
      kind: "order.success",
      url: `http://rebind.example:${receiver.port}/hook`,
      body: "{}",
      secretRef: "system",
    });
    const worker = createCallbackWorker({ db: t.db, log: memoryLog(), config, resolver });
    await worker.drain();
    await t.db.query("UPDATE callbacks SET next_attempt_at = now() WHERE id = $1", [id]);
    await worker.drain();
    const row = await callbackRow(t.db, id);
    assert.equal(row.status, "failed");
    assert.match(row.last_error ?? "", /resolves to a loopback address \(127\.0\.0\.1\).*not retried/);
    assert.equal(receiver.received.length, 0, "nothing reached the loopback receiver");
  });

  it("GET /callbacks never shows a stored response from a target the guard refuses", async function () {
    const merchant = await insertMerchant(t.db, "excerpt@example.com", "excerpt-secret-0123456789abcdef");
    const order = await insertOrder(t.db, merchant, receiver.url);
    receiver.handler = (_req, res) => res.end("internal secret: AKIA...");
    await enqueue(t.db, orderEntry(order, merchant, receiver.url, "success"));
    // Delivered while private targets were allowed (an operator who later turns the guard back on).
    await createCallbackWorker({ db: t.db, log: memoryLog(), config: testConfig() }).drain();
    const allowed = await createCallbackService(t.db, { allowPrivateTargets: true }).list(merchant, order);
    assert.match(allowed[0]?.attempts[0]?.responseExcerpt ?? "", /internal secret/);
    const guarded = await createCallbackService(t.db, { allowPrivateTargets: false }).list(merchant, order);
    assert.equal(guarded[0]?.attempts.length, 1);
    assert.equal(guarded[0]?.attempts[0]?.responseExcerpt, null);
  });
});

describe(`security: POST /order refuses private callback hosts (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let api: ApiSystem;
  let key: string;

  before(async function () {
    // The default guard: no CALLBACK_ALLOW_PRIVATE.
    api = await startApiSystem({ CALLBACK_ALLOW_PRIVATE: "" });
    key = (await createMerchant(api.testDb.db, "ssrf@example.com", "seller")).apiKey;
  });
  after(async function () {
    await api?.close();
  });

  it("answers 400 invalid_callback saying why, for every literal private form and localhost", async function () {
    for (const callback of PRIVATE_TARGETS) {
      for (const authorization of [undefined, key]) {
        const res = await api.system.app.inject({
          method: "POST",
          url: "/order",
          headers: authorization ? { authorization } : {},
          payload: { amount: "1.00", address: api.chain.merchant.address, callback },
        });
        assert.equal(res.statusCode, 400, `${callback}: ${res.body}`);
        const error = res.json().error as { code: string; message: string };
        assert.equal(error.code, "invalid_callback", callback);
        assert.match(
          error.message,
          /callback host .* is a .*(loopback|private|link-local|unspecified|carrier-grade NAT|unique-local).* (address|name);/,
          callback,
        );
        assert.match(error.message, /CALLBACK_ALLOW_PRIVATE/, callback);
      }
    }
    const ok = await api.system.app.inject({
      method: "POST",
      url: "/order",
      payload: { amount: "1.00", address: api.chain.merchant.address, callback: "https://shop.example/cb" },
    });
    assert.equal(ok.statusCode, 200, ok.body);
  });
});
