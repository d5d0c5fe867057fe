/**
 * End to end on a real `litecoind -regtest` (started by test/helpers/litecoind.ts): clients and
 * addresses through the private API (app.inject), watch-only import, real payments from the
 * node's own wallet, blocks, a reorg with invalidateblock/reconsiderblock, a payment that
 * vanishes, and a watcher restart in the middle. Callback bodies are read from the `callbacks`
 * outbox table, where the delivery worker picks them up.
 */
import assert from "node:assert/strict";
import { HDKey } from "@scure/bip32";
import type { FastifyInstance } from "fastify";
import { createEletroPay, type EletroPay } from "../../server/src/eletropay/index.ts";
import { parseEletroPayConfig, type EletroPayConfig } from "../../server/src/config/eletropay.ts";
import { gapLimitStatus } from "../../server/src/eletropay/service.ts";
import { createAddressDeriver } from "../../server/src/utxo/derive.ts";
import { addressParams } from "../../server/src/utxo/networks.ts";
import { parseExtendedPublicKey } from "../../server/src/utxo/xpub.ts";
import { createCallbackWorker } from "../../server/src/callbacks/worker.ts";
import { parseCallbackConfig } from "../../server/src/config/callbacks.ts";
import { createTestDb, type TestDb } from "../support/db.ts";
import { startReceiver } from "../support/receiver.ts";
import { startLitecoind, type Litecoind } from "../helpers/litecoind.ts";

const TEST_VERSIONS = { public: 0x043587cf, private: 0x04358394 };
// A fixed test seed; only its account-level tpub (m/44'/1'/0') reaches the server.
const ACCOUNT = HDKey.fromMasterSeed(
  Buffer.from("eletropay litecoind end-to-end test seed!"),
  TEST_VERSIONS,
).derive("m/44'/1'/0'");
const TPUB = ACCOUNT.publicExtendedKey;

interface CallbackRow {
  id: bigint;
  stream: string;
  kind: string;
  url: string;
  body: string;
  secret_ref: string;
}

const SHARED_SECRET = "litecoind-test-shared-secret-0123456789";
const AUTH = { "x-eletropay-secret": SHARED_SECRET };

describe("EletroPay on a real litecoind regtest node", function () {
  let ltc: Litecoind;
  let testDb: TestDb;
  let config: EletroPayConfig;
  let ep: EletroPay;
  let app: FastifyInstance;
  let token: string;

  async function boot(): Promise<void> {
    ep = await createEletroPay({ db: testDb.db, config });
    app = ep.app;
  }

  async function newAddress(): Promise<string> {
    const res = await app.inject({ headers: AUTH, method: "GET", url: `/v1/clients/${token}/ltc` });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { address: string }).address;
  }

  async function callbacks(txid: string): Promise<CallbackRow[]> {
    const { rows } = await testDb.db.query<CallbackRow>(
      "SELECT id, stream, kind, url, body, secret_ref FROM callbacks WHERE body LIKE $1 ORDER BY id",
      [`%"txid":"${txid}"%`],
    );
    return rows;
  }

  const confirmationsOf = (rows: CallbackRow[]) =>
    rows.map((r) => (JSON.parse(r.body) as { confirmations: number }).confirmations);

  const poll = () => ep.watcher.pollOnce("LTC");

  before(async function () {
    [ltc, testDb] = await Promise.all([startLitecoind(), createTestDb()]);
    config = parseEletroPayConfig({
      XPUB_LTC: TPUB,
      LTC_NETWORK: "regtest",
      LTC_RPC_URL: ltc.rpcUrl("eletropay"),
      ELETROPAY_TOKEN_KEY: "test-token-key-0123456789abcdef0123456789abcdef",
      ELETROPAY_SHARED_SECRET: SHARED_SECRET,
      ELETROPAY_CALLBACK_URL: "http://127.0.0.1:9/eletropay",
      // Hundreds of requests from one address in a few seconds; the limits have their own tests.
      ELETROPAY_RATE_LIMIT_PER_IP: "1000000",
      ELETROPAY_RATE_LIMIT_PER_TOKEN: "1000000",
    });
    await boot();
  });

  after(async function () {
    await ep?.watcher.stop();
    await app?.close();
    await testDb?.drop();
    await ltc?.stop();
  });

  it("derives the same addresses as litecoind's own deriveaddresses (P2PKH and P2WPKH)", async function () {
    const pkh = await ltc.node.call<string[]>("deriveaddresses", [
      (await ltc.node.call<{ descriptor: string }>("getdescriptorinfo", [`pkh(${TPUB}/0/*)`])).descriptor,
      [0, 49],
    ]);
    const ours = createAddressDeriver(
      parseExtendedPublicKey(TPUB, "LTC", "regtest"),
      addressParams("LTC", "regtest"),
    );
    assert.deepEqual(
      pkh,
      Array.from({ length: 50 }, (_, i) => ours.address(i)),
    );
    assert.match(pkh[0]!, /^[mn]/);
    // The same key exported as vpub (BIP84) gives rltc1 native segwit addresses.
    const raw = Buffer.from(ACCOUNT.publicExtendedKey);
    void raw;
    const vpub = new HDKey({
      versions: { public: 0x045f1cf6, private: 0x045f18bc },
      publicKey: ACCOUNT.publicKey!,
      chainCode: ACCOUNT.chainCode!,
      depth: ACCOUNT.depth,
      index: ACCOUNT.index,
      parentFingerprint: ACCOUNT.parentFingerprint,
    }).publicExtendedKey;
    assert.match(vpub, /^vpub/);
    const wpkh = await ltc.node.call<string[]>("deriveaddresses", [
      (await ltc.node.call<{ descriptor: string }>("getdescriptorinfo", [`wpkh(${TPUB}/0/*)`])).descriptor,
      [0, 49],
    ]);
    const segwit = createAddressDeriver(
      parseExtendedPublicKey(vpub, "LTC", "regtest"),
      addressParams("LTC", "regtest"),
    );
    assert.deepEqual(
      wpkh,
      Array.from({ length: 50 }, (_, i) => segwit.address(i)),
    );
    assert.match(wpkh[0]!, /^rltc1q/);
  });

  it("registers a client and hands out fresh watch-only LTC addresses at m/0/i", async function () {
    const res = await app.inject({
      headers: AUTH,
      method: "POST",
      url: "/v1/clients",
      payload: { email: "pos@example.com" },
    });
    assert.equal(res.statusCode, 200, res.body);
    token = (res.json() as { token: string }).token;
    assert.match(token, /^[0-9a-f]{40}$/);

    const a0 = await newAddress();
    const a1 = await newAddress();
    const expected = createAddressDeriver(
      parseExtendedPublicKey(TPUB, "LTC", "regtest"),
      addressParams("LTC", "regtest"),
    );
    assert.equal(a0, expected.address(0));
    assert.equal(a1, expected.address(1));
    const info = await ltc.node
      .withPath("/wallet/eletropay")
      .call<{ iswatchonly: boolean; ismine: boolean }>("getaddressinfo", [a0]);
    assert.equal(info.iswatchonly, true);
    assert.equal(info.ismine, false);
    // Upper-case currency works too, and the same email gets the same token back.
    const upper = await app.inject({ headers: AUTH, method: "GET", url: `/v1/clients/${token}/LTC` });
    assert.equal(upper.statusCode, 200);
    const again = await app.inject({
      headers: AUTH,
      method: "POST",
      url: "/v1/clients",
      payload: { email: "POS@example.com" },
    });
    assert.equal((again.json() as { token: string }).token, token);
  });

  it("reports a payment at 0, 1, 2, … 6 confirmations with the exact amount, across a watcher restart", async function () {
    const address = await newAddress();
    await poll(); // cursor established before the payment
    const txid = await ltc.miner.call<string>("sendtoaddress", [address, "0.00028443"]);
    await ltc.sync();
    await poll();
    let rows = await callbacks(txid);
    assert.equal(rows.length, 1);
    assert.equal(
      rows[0]!.body,
      `{"amount":0.00028443,"confirmations":0,"address":"${address}","txid":"${txid}"}`,
    );
    assert.equal(rows[0]!.kind, "eletropay.payment");
    assert.equal(rows[0]!.secret_ref, "eletropay");
    assert.equal(rows[0]!.stream, `eletropay:LTC:${txid}:${address}`);
    assert.equal(rows[0]!.url, `http://127.0.0.1:9/eletropay/v1/payments/${token}/LTC/`);

    await ltc.mine(1);
    await poll();
    await poll(); // a second poll with nothing new adds nothing
    await ltc.mine(1);
    await poll();
    assert.deepEqual(confirmationsOf(await callbacks(txid)), [0, 1, 2]);

    // Restart: a brand-new service, watcher and API on the same database; two blocks arrive
    // while nothing runs.
    await ep.watcher.stop();
    await app.close();
    await ltc.mine(2);
    await boot();
    await poll();
    assert.deepEqual(confirmationsOf(await callbacks(txid)), [0, 1, 2, 3, 4]);

    await ltc.mine(1);
    await poll();
    await ltc.mine(3);
    await poll();
    await poll();
    rows = await callbacks(txid);
    assert.deepEqual(confirmationsOf(rows), [0, 1, 2, 3, 4, 5, 6]);
    for (const row of rows)
      assert.match(
        row.body,
        /^\{"amount":0\.00028443,"confirmations":\d,"address":"[^"]+","txid":"[0-9a-f]{64}"\}$/,
      );
    const { rows: payment } = await testDb.db.query<{ amount: string; final: boolean; state: string }>(
      "SELECT amount, final, state FROM eletropay_payments WHERE txid = $1",
      [txid],
    );
    assert.deepEqual(payment[0], { amount: "28443", final: true, state: "block" });
  });

  it("catches up after a stop longer than the listing window: 0, then 1…6 at once, each once", async function () {
    const address = await newAddress();
    const txid = await ltc.miner.call<string>("sendtoaddress", [address, "0.07"]);
    await ltc.sync();
    await poll();
    await ep.watcher.stop();
    await app.close();
    // Ten blocks while nothing runs: the payment is now deeper than listsinceblock's window of
    // 6, so the watcher finds it through the wallet's own record of tracked payments.
    await ltc.mine(10);
    await boot();
    await poll();
    await poll();
    const rows = await callbacks(txid);
    assert.deepEqual(confirmationsOf(rows), [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(rows[6]!.body, `{"amount":0.07,"confirmations":6,"address":"${address}","txid":"${txid}"}`);
  });

  it("sums several outputs of one transaction to the same address into one callback stream", async function () {
    const address = await newAddress();
    const other = await ltc.miner.call<string>("getnewaddress", ["", "legacy"]);
    const [ours, theirs] = await Promise.all(
      [address, other].map((a) =>
        ltc.node.call<{ scriptPubKey: string }>("validateaddress", [a]).then((r) => r.scriptPubKey),
      ),
    );
    // Core refuses duplicate addresses in createrawtransaction, so pay `other` and then swap its
    // script (same length: both P2PKH) for ours.
    const raw = await ltc.node.call<string>("createrawtransaction", [
      [],
      [{ [address]: "0.1" }, { [other]: "0.25" }],
    ]);
    const doubled = raw.replace(theirs!, ours!);
    assert.notEqual(doubled, raw);
    const funded = await ltc.miner.call<{ hex: string }>("fundrawtransaction", [doubled]);
    const signed = await ltc.miner.call<{ hex: string; complete: boolean }>("signrawtransactionwithwallet", [
      funded.hex,
    ]);
    assert.equal(signed.complete, true);
    const txid = await ltc.node.call<string>("sendrawtransaction", [signed.hex]);
    await ltc.sync();
    await poll();
    const rows = await callbacks(txid);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.body, `{"amount":0.35,"confirmations":0,"address":"${address}","txid":"${txid}"}`);
    const { rows: payment } = await testDb.db.query<{ vouts: string; amount: string }>(
      "SELECT vouts, amount FROM eletropay_payments WHERE txid = $1",
      [txid],
    );
    assert.equal(payment[0]!.amount, "35000000");
    assert.equal(payment[0]!.vouts.split(",").length, 2);
  });

  it("sends confirmations 0 when a reorg puts the payment back in the mempool, then counts again", async function () {
    const address = await newAddress();
    const txid = await ltc.miner.call<string>("sendtoaddress", [address, "1.23456789"]);
    await ltc.sync();
    await poll();
    const [block] = await ltc.mine(1);
    await poll();
    assert.deepEqual(confirmationsOf(await callbacks(txid)), [0, 1]);

    await ltc.node.call("invalidateblock", [block]);
    await ltc.sync();
    const mempool = await ltc.node.call<string[]>("getrawmempool");
    assert.ok(mempool.includes(txid), "the reorged transaction is back in the mempool");
    await poll();
    assert.deepEqual(confirmationsOf(await callbacks(txid)), [0, 1, 0]);

    await ltc.node.call("reconsiderblock", [block]);
    await ltc.sync();
    await poll();
    const rows = await callbacks(txid);
    assert.deepEqual(confirmationsOf(rows), [0, 1, 0, 1]);
    assert.equal(
      rows[3]!.body,
      `{"amount":1.23456789,"confirmations":1,"address":"${address}","txid":"${txid}"}`,
    );
    const { rows: events } = await testDb.db.query<{ kind: string }>(
      "SELECT kind FROM eletropay_events WHERE txid = $1 ORDER BY id",
      [txid],
    );
    assert.deepEqual(
      events.map((e) => e.kind),
      ["reorg"],
    );
  });

  it("follows a reorg deeper than the cursor (listsinceblock `removed`), even for a final payment", async function () {
    const address = await newAddress();
    const txid = await ltc.miner.call<string>("sendtoaddress", [address, "0.5"]);
    await ltc.sync();
    await poll();
    const [block] = await ltc.mine(1);
    await poll();
    await ltc.mine(6);
    await poll();
    assert.deepEqual(confirmationsOf(await callbacks(txid)), [0, 1, 2, 3, 4, 5, 6]);

    // Disconnect the payment's block and everything above it, the stored cursor included.
    await ltc.node.call("invalidateblock", [block]);
    await ltc.sync();
    await poll();
    assert.deepEqual(confirmationsOf(await callbacks(txid)), [0, 1, 2, 3, 4, 5, 6, 0]);

    await ltc.node.call("reconsiderblock", [block]);
    await ltc.sync();
    await poll();
    assert.deepEqual(confirmationsOf(await callbacks(txid)), [0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6]);
  });

  it("stops the callbacks of a payment that a reorg makes vanish, and records it", async function () {
    const address = await newAddress();
    const unspent = await ltc.miner.call<Array<{ txid: string; vout: number; amount: string }>>(
      "listunspent",
      [1],
    );
    const coin = unspent.find((u) => u.amount === "50.00000000") ?? unspent[0]!;
    const change = await ltc.miner.call<string>("getrawchangeaddress", ["legacy"]);
    // A replaceable payment (BIP125), mined, then reorged out and replaced by a double spend.
    const pay = await ltc.node.call<string>("createrawtransaction", [
      [{ txid: coin.txid, vout: coin.vout }],
      [{ [address]: "2" }, { [change]: "47.9999" }],
      0,
      true,
    ]);
    const signedPay = await ltc.miner.call<{ hex: string }>("signrawtransactionwithwallet", [pay]);
    const txid = await ltc.node.call<string>("sendrawtransaction", [signedPay.hex]);
    await ltc.sync();
    await poll();
    const [block] = await ltc.mine(1);
    await poll();
    assert.deepEqual(confirmationsOf(await callbacks(txid)), [0, 1]);

    await ltc.node.call("invalidateblock", [block]);
    const spend = await ltc.node.call<string>("createrawtransaction", [
      [{ txid: coin.txid, vout: coin.vout }],
      [{ [change]: "49.99" }],
    ]);
    const signedSpend = await ltc.miner.call<{ hex: string }>("signrawtransactionwithwallet", [spend]);
    await ltc.node.call("sendrawtransaction", [signedSpend.hex]);
    await ltc.mine(1);
    const mempool = await ltc.node.call<string[]>("getrawmempool");
    assert.ok(!mempool.includes(txid));

    await poll();
    await ltc.mine(1);
    await poll();
    assert.deepEqual(confirmationsOf(await callbacks(txid)), [0, 1], "no callback after it vanished");
    const { rows: payment } = await testDb.db.query<{ state: string }>(
      "SELECT state FROM eletropay_payments WHERE txid = $1",
      [txid],
    );
    assert.equal(payment[0]!.state, "vanished");
    const { rows: events } = await testDb.db.query<{ kind: string; detail: string }>(
      "SELECT kind, detail FROM eletropay_events WHERE txid = $1 AND kind = 'vanished'",
      [txid],
    );
    assert.equal(events.length, 1);
    const status = await gapLimitStatus(testDb.db, config);
    assert.ok(status.warnings.some((w) => w.includes("vanished")));
    await ltc.node.call("reconsiderblock", [block]).catch(() => {});
  });

  it("gives 200 parallel address requests 200 distinct addresses, all watched by the node", async function () {
    // From 20 clients (10 each): one client gets no more than GAP_LIMIT unpaid addresses in a row.
    const clients: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await app.inject({
        headers: AUTH,
        method: "POST",
        url: "/v1/clients",
        payload: { email: `parallel-${i}@example.com` },
      });
      assert.equal(res.statusCode, 200, res.body);
      clients.push((res.json() as { token: string }).token);
    }
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        app.inject({ headers: AUTH, method: "GET", url: `/v1/clients/${clients[i % 20]}/LTC` }),
      ),
    );
    assert.deepEqual(
      replies.map((r) => r.statusCode),
      Array(200).fill(200),
    );
    const addresses = replies.map((r) => (r.json() as { address: string }).address);
    assert.equal(new Set(addresses).size, 200);
    const { rows } = await testDb.db.query<{ n: bigint }>(
      "SELECT count(*) AS n FROM eletropay_addresses WHERE address = ANY($1) AND imported_at IS NOT NULL",
      [addresses],
    );
    assert.equal(rows[0]!.n, 200n);
    const wallet = ltc.node.withPath("/wallet/eletropay");
    const infos = await Promise.all(
      addresses.map((a) => wallet.call<{ iswatchonly: boolean }>("getaddressinfo", [a])),
    );
    assert.ok(infos.every((i) => i.iswatchonly));
    // 200 unpaid addresses in a row: far past the default gap limit of 20.
    const status = await gapLimitStatus(testDb.db, config);
    const ltcStatus = status.currencies.find((c) => c.currency === "LTC")!;
    assert.ok(ltcStatus.unpaidRun >= 200);
    assert.ok(status.warnings.some((w) => w.startsWith("LTC:") && w.includes("gap limit 20")));
  });

  it("delivers the queued callbacks, signed and in order, to EletroPay's HTTP endpoint", async function () {
    const secret = "eletropay-callback-secret-0123456789";
    const receiver = await startReceiver({ secrets: [secret] });
    const ownDb = await createTestDb();
    try {
      // Another account key, so these addresses never collide with the ones used above.
      const tpub = HDKey.fromMasterSeed(
        Buffer.from("eletropay litecoind end-to-end test seed!"),
        TEST_VERSIONS,
      ).derive("m/44'/1'/1'").publicExtendedKey;
      const cfg = parseEletroPayConfig({
        XPUB_LTC: tpub,
        LTC_NETWORK: "regtest",
        LTC_CONFIRMATIONS: "2",
        LTC_RPC_URL: ltc.rpcUrl("eletropay"),
        ELETROPAY_TOKEN_KEY: "test-token-key-0123456789abcdef0123456789abcdef",
        ELETROPAY_SHARED_SECRET: SHARED_SECRET,
        ELETROPAY_CALLBACK_URL: receiver.url,
        ELETROPAY_CALLBACK_KEY: "ep-platform-key",
        ELETROPAY_POLL_INTERVAL_MS: "100",
      });
      const local = await createEletroPay({ db: ownDb.db, config: cfg });
      const { token: t } = await local.service.registerClient("delivery@example.com", {
        revealExisting: true,
      });
      const res = await local.app.inject({ headers: AUTH, method: "GET", url: `/v1/clients/${t}/LTC` });
      const { address } = res.json() as { address: string };
      const txid = await ltc.miner.call<string>("sendtoaddress", [address, "0.5"]);
      await ltc.sync();
      // This time the watcher runs on its own timer (ELETROPAY_POLL_INTERVAL_MS=100).
      const queued = async (n: number) => {
        const deadline = Date.now() + 20_000;
        for (;;) {
          const { rows } = await ownDb.db.query<{ n: bigint }>("SELECT count(*) AS n FROM callbacks");
          if (Number(rows[0]!.n) >= n) return;
          if (Date.now() > deadline) throw new Error(`fewer than ${n} callbacks queued`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      local.watcher.start();
      await queued(1);
      await ltc.mine(1);
      await queued(2);
      await ltc.mine(1);
      await queued(3);
      await ltc.mine(1);
      await new Promise((r) => setTimeout(r, 500));
      await local.watcher.stop();

      const worker = createCallbackWorker({
        db: ownDb.db,
        log: { debug() {}, info() {}, warn() {}, error() {} },
        config: parseCallbackConfig({
          NODE_ENV: "test",
          ELETROPAY_CALLBACK_SECRET: secret,
          CALLBACK_ALLOW_PRIVATE: "true",
        }),
      });
      await worker.drain();
      const got = await receiver.waitFor((all) => all.length >= 3);
      assert.equal(got.length, 3, "nothing beyond the required 2 confirmations");
      assert.deepEqual(
        got.map((r) => r.path),
        Array(3).fill("/v1/payments/ep-platform-key/LTC/"),
      );
      assert.deepEqual(
        got.map((r) => r.body),
        [0, 1, 2].map((n) => `{"amount":0.5,"confirmations":${n},"address":"${address}","txid":"${txid}"}`),
      );
      assert.deepEqual(
        got.map((r) => r.verified),
        Array(3).fill("valid"),
      );
      await local.app.close();
    } finally {
      await receiver.close();
      await ownDb.drop();
    }
  });
});
