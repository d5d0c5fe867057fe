import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, afterEach, before, describe, it } from "mocha";
import { resolveSecrets, SYSTEM_SECRET_META_KEY } from "../../server/src/callbacks/secrets.ts";
import { signatureHeader, verifySignature } from "../../server/src/callbacks/signing.ts";
import { createCallbackWorker } from "../../server/src/callbacks/worker.ts";
import { createTestDb, onRealPostgres, type TestDb } from "../support/db.ts";
import {
  enqueue,
  insertMerchant,
  insertOrder,
  memoryLog,
  orderEntry,
  startReceiver,
  testConfig,
  type Received,
  type Receiver,
} from "./callbacks-support.ts";

/**
 * An implementation written apart from server/src/callbacks/signing.ts: WebCrypto instead of
 * node:crypto's createHmac, its own header parsing.
 */
async function independentVerify(
  header: string,
  rawBody: Uint8Array,
  secret: string,
  now: number,
): Promise<boolean> {
  const fields = header.split(",").map((kv) => kv.split("="));
  const t = fields.find(([k]) => k === "t")?.[1];
  if (!t || Math.abs(now - Number(t)) > 300) return false;
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const signed = new Uint8Array([...new TextEncoder().encode(`${t}.`), ...rawBody]);
  for (const [k, hex] of fields) {
    if (k !== "v1" || !hex) continue;
    const mac = Uint8Array.from(hex.match(/../g)!.map((b) => Number.parseInt(b, 16)));
    if (await crypto.subtle.verify("HMAC", key, mac, signed)) return true;
  }
  return false;
}

/** The verification snippet from docs/callbacks.md, loaded as its own module. */
async function docsVerifier(): Promise<
  (
    header: unknown,
    raw: Uint8Array | string,
    secrets: string | string[],
    tolerance?: number,
    now?: number,
  ) => boolean
> {
  const doc = readFileSync(new URL("../../docs/callbacks.md", import.meta.url), "utf8");
  const block = /<!-- verify-snippet:start -->\s*```js\n([\s\S]*?)```\s*<!-- verify-snippet:end -->/.exec(
    doc,
  )?.[1];
  assert.ok(block, "docs/callbacks.md has the verification snippet");
  const mod = (await import(`data:text/javascript,${encodeURIComponent(block)}`)) as {
    verifyEthposSignature: Awaited<ReturnType<typeof docsVerifier>>;
  };
  return mod.verifyEthposSignature;
}

const tOf = (header: string) => Number(/t=(\d+)/.exec(header)?.[1]);

describe(`callbacks: signatures (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let t: TestDb;
  let r: Receiver;
  const NEW = "new-merchant-secret-aaaaaaaaaaaa";
  const OLD = "old-merchant-secret-bbbbbbbbbbbb";

  before(async function () {
    t = await createTestDb();
    r = await startReceiver();
  });
  afterEach(() => void r.received.splice(0));
  after(async function () {
    await r.close();
    await t.drop();
  });

  async function deliverOne(merchantId: bigint | null, body?: string): Promise<Received> {
    const orderId = await insertOrder(t.db, merchantId, r.url);
    const entry = orderEntry(orderId, merchantId, r.url, "success");
    await enqueue(t.db, body ? { ...entry, body } : entry);
    await createCallbackWorker({ db: t.db, log: memoryLog(), config: testConfig() }).drain();
    const req = r.received.at(-1);
    assert.ok(req);
    return req;
  }

  it("signs the raw body so that an independent HMAC check passes, and fails for a tampered body", async function () {
    const merchantId = await insertMerchant(t.db, "sig1@example.com", NEW);
    const req = await deliverOne(
      merchantId,
      '{"id":1,"status":"success","amount":"0.4173","note":"ünïcödé"}',
    );
    const header = String(req.headers["x-ethpos-signature"]);
    const now = Math.floor(Date.now() / 1000);
    assert.ok(Math.abs(now - tOf(header)) <= 2, "timestamp is the send time");
    assert.equal(await independentVerify(header, req.body, NEW, now), true);
    assert.equal(
      await independentVerify(header, Buffer.from(req.body.toString().replace("0.4173", "0.4174")), NEW, now),
      false,
    );
    assert.equal(await independentVerify(header, req.body, "some-other-secret-cccccccccc", now), false);
    const verifyDocs = await docsVerifier();
    assert.equal(verifyDocs(header, req.body, NEW), true);
    assert.equal(verifyDocs(header, Buffer.concat([req.body, Buffer.from(" ")]), NEW), false);
    assert.equal(verifySignature(header, req.body, [NEW]), true);
    assert.equal(
      verifySignature(header, req.body.toString("utf8").replace("success", "complete"), [NEW]),
      false,
    );
  });

  it("rejects a stale timestamp (300 s tolerance) even when the HMAC is right", async function () {
    const merchantId = await insertMerchant(t.db, "sig2@example.com", NEW);
    const req = await deliverOne(merchantId);
    const header = String(req.headers["x-ethpos-signature"]);
    const sent = tOf(header);
    const verifyDocs = await docsVerifier();
    for (const [now, ok] of [
      [sent + 299, true],
      [sent + 300, true],
      [sent + 301, false],
      [sent - 301, false],
      [sent + 86_400, false],
    ] as const) {
      assert.equal(
        await independentVerify(header, req.body, NEW, now),
        ok,
        `independent, now = t + ${now - sent}`,
      );
      assert.equal(verifyDocs(header, req.body, NEW, 300, now), ok, `docs snippet, now = t + ${now - sent}`);
      assert.equal(
        verifySignature(header, req.body, [NEW], 300, now),
        ok,
        `reference, now = t + ${now - sent}`,
      );
    }
    // A replay with a fresh timestamp but the old MAC fails: the timestamp is signed.
    const replay = header.replace(/t=\d+/, `t=${sent + 1_000}`);
    assert.equal(await independentVerify(replay, req.body, NEW, sent + 1_000), false);
  });

  it("sends two v1 values during a rotation, each valid for one of the secrets", async function () {
    const merchantId = await insertMerchant(t.db, "sig3@example.com", NEW, OLD);
    const req = await deliverOne(merchantId);
    const header = String(req.headers["x-ethpos-signature"]);
    assert.match(header, /^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    const now = Math.floor(Date.now() / 1000);
    const [, first, second] = header.split(",");
    assert.equal(
      await independentVerify(`t=${tOf(header)},${first}`, req.body, NEW, now),
      true,
      "first v1: new secret",
    );
    assert.equal(
      await independentVerify(`t=${tOf(header)},${second}`, req.body, OLD, now),
      true,
      "second v1: previous secret",
    );
    assert.equal(await independentVerify(`t=${tOf(header)},${first}`, req.body, OLD, now), false);
    // A receiver that still holds only the old secret, or already only the new one, accepts it.
    assert.equal(await independentVerify(header, req.body, OLD, now), true);
    assert.equal(await independentVerify(header, req.body, NEW, now), true);
    assert.equal((await docsVerifier())(header, req.body, [OLD]), true);

    // Rotation finished: the previous secret is dropped and only one v1 is sent.
    await t.db.query("UPDATE merchants SET callback_secret_previous = NULL WHERE id = $1", [merchantId]);
    const after = await deliverOne(merchantId);
    const single = String(after.headers["x-ethpos-signature"]);
    assert.match(single, /^t=\d+,v1=[0-9a-f]{64}$/);
    assert.equal(await independentVerify(single, after.body, OLD, now), false);
    assert.equal(await independentVerify(single, after.body, NEW, now), true);
  });

  it("signs orders without a merchant with CALLBACK_SECRET and EletroPay with its own secret", async function () {
    const config = testConfig();
    const req = await deliverOne(null);
    const now = Math.floor(Date.now() / 1000);
    assert.equal(
      await independentVerify(
        String(req.headers["x-ethpos-signature"]),
        req.body,
        config.callbackSecret!,
        now,
      ),
      true,
    );

    await enqueue(t.db, {
      stream: "eletropay:k:DASH:tx",
      kind: "eletropay.payment",
      url: `${r.url}/v1/payments/k/DASH/`,
      body: '{"amount":1,"confirmations":0,"address":"X","txid":"tx"}',
      secretRef: "eletropay",
    });
    await createCallbackWorker({ db: t.db, log: memoryLog(), config }).drain();
    const ep = r.received.at(-1)!;
    const epHeader = String(ep.headers["x-ethpos-signature"]);
    assert.equal(await independentVerify(epHeader, ep.body, config.eletropayCallbackSecret!, now), true);
    assert.equal(await independentVerify(epHeader, ep.body, config.callbackSecret!, now), false);
  });

  it("generates the system secret once and keeps it in meta when CALLBACK_SECRET is unset", async function () {
    const config = { callbackSecret: undefined, eletropayCallbackSecret: undefined };
    const [a] = await resolveSecrets(t.db, config)("system");
    const [b] = await resolveSecrets(t.db, config)("system");
    const [c] = await resolveSecrets(t.db, config)("eletropay");
    assert.ok(a && a.length >= 64);
    assert.equal(a, b);
    assert.equal(a, c);
    const { rows } = await t.db.query<{ value: string }>("SELECT value FROM meta WHERE key = $1", [
      SYSTEM_SECRET_META_KEY,
    ]);
    assert.equal(rows[0]?.value, a);
    await assert.rejects(resolveSecrets(t.db, config)("merchant:999999"), /no longer exists/);
    await assert.rejects(resolveSecrets(t.db, config)("bogus"), /unknown secret reference/);
  });

  it("verifySignature rejects malformed headers", function () {
    const body = '{"a":1}';
    const now = 1_700_000_000;
    const good = signatureHeader(["s3cret-s3cret-s3cret"], body, now);
    assert.equal(verifySignature(good, body, ["s3cret-s3cret-s3cret"], 300, now), true);
    for (const bad of [
      undefined,
      "",
      "t=abc,v1=00",
      `v1=${"0".repeat(64)}`,
      `t=${now}`,
      `t=${now},v1=xyz`,
      good.replace("v1=", "v0="),
    ]) {
      assert.equal(verifySignature(bad, body, ["s3cret-s3cret-s3cret"], 300, now), false, String(bad));
    }
    assert.equal(verifySignature(good, body, [], 300, now), false);
  });
});
