/**
 * Dash InstantSend and ChainLocks, from RECORDED-SHAPE RPC responses.
 *
 * No dashd can run on these machines (only litecoind is packaged), so this test replays
 * responses in the exact shape Dash Core returns: Dash adds `instantlock`, `instantlock_internal`
 * and `chainlock` to every wallet transaction entry (see the Dash Core RPC reference, e.g. its
 * `gettransaction` example from Dash Core 0.14.0). Txids, heights and amounts below are
 * illustrative; the address is the one our API issued. The same adapter runs unchanged against
 * a real litecoind in eletropay-litecoind.test.ts.
 */
import assert from "node:assert/strict";
import { HDKey } from "@scure/bip32";
import { parseEletroPayConfig, type EletroPayConfig } from "../../server/src/config/eletropay.ts";
import { createEletroPayService } from "../../server/src/eletropay/service.ts";
import { createEletroPayWatcher } from "../../server/src/eletropay/watcher.ts";
import { BitcoinCoreAdapter } from "../../server/src/utxo/adapter.ts";
import { effectiveConfirmations } from "../../server/src/utxo/instantsend.ts";
import { createRpcClient } from "../../server/src/utxo/rpc.ts";
import { createTestDb, type TestDb } from "../support/db.ts";

const TXID = "eb0351c64cde2c42bcdf10b11a1ad44bb63631bb6487de70e78b90c2aa57137c";
const LASTBLOCK = "00000a01007be2912c3123085534b58d341cb5e5980b967e8dcc021089487a1e";
const MINED_IN = "00000118003b266ede27cf361c3a1528f84133c42e94ab8899eba9e1398797d8";

/** A dashd stand-in that answers from recorded-shape JSON text (decimals kept verbatim). */
function recordedDashd(address: string, stage: { value: "mempool" | "mined" }) {
  const entry = (confirmations: number, chainlock: boolean) =>
    `{"address":"${address}","category":"receive","amount":0.01000010,"label":"","vout":0,` +
    `"confirmations":${confirmations},"instantlock":true,"instantlock_internal":true,"chainlock":${chainlock},` +
    // Dash Core's entries carry blockhash/blockindex/blocktime but no blockheight (Bitcoin Core >= 0.20 does).
    (confirmations > 0 ? `"blockhash":"${MINED_IN}","blockindex":1,"blocktime":1789687365,` : "") +
    `"txid":"${TXID}","walletconflicts":[],"time":1789687300,"timereceived":1789687300}`;
  const responses: Record<string, (params: unknown[]) => string> = {
    getwalletinfo: () =>
      '{"walletname":"eletropay","walletversion":120200,"private_keys_enabled":false,"descriptors":false}',
    importmulti: () => '[{"success":true}]',
    listsinceblock: () =>
      stage.value === "mempool"
        ? `{"transactions":[${entry(0, false)}],"removed":[],"lastblock":"${LASTBLOCK}"}`
        : `{"transactions":[${entry(1, true)}],"removed":[],"lastblock":"${LASTBLOCK}"}`,
    // lastblock is tip - 5 with target 6: tip 2540599 before mining, 2540600 after.
    getblockheader: (params) =>
      params[0] === MINED_IN
        ? `{"hash":"${MINED_IN}","height":2540600}`
        : `{"hash":"${LASTBLOCK}","height":${stage.value === "mempool" ? 2540594 : 2540595}}`,
    getmempoolentry: () => '{"vsize":226,"fee":0.00000226,"time":1789687300,"height":2540599}',
  };
  return (async (_url: string | URL | Request, init?: RequestInit) => {
    const { method, id, params } = JSON.parse(String(init?.body)) as {
      method: string;
      id: number;
      params: unknown[];
    };
    const result = responses[method];
    if (!result) throw new Error(`unexpected RPC ${method}`);
    return new Response(`{"result":${result(params)},"error":null,"id":${id}}`, { status: 200 });
  }) as typeof fetch;
}

describe("EletroPay Dash InstantSend / ChainLocks (recorded RPC responses; no dashd here)", function () {
  let testDb: TestDb;
  before(async function () {
    testDb = await createTestDb();
  });
  after(async function () {
    await testDb?.drop();
  });

  async function run(instantSendAsConfirmed: boolean): Promise<number[]> {
    const env = {
      XPUB_DASH: HDKey.fromMasterSeed(Buffer.from(`dash instantsend test ${instantSendAsConfirmed}`), {
        public: 0x043587cf,
        private: 0x04358394,
      }).derive("m/44'/1'/0'").publicExtendedKey,
      DASH_NETWORK: "testnet",
      DASH_RPC_URL: "http://u:p@127.0.0.1:19998/wallet/eletropay",
      DASH_INSTANTSEND_AS_CONFIRMED: String(instantSendAsConfirmed),
      ELETROPAY_TOKEN_KEY: "dash-test-token-key-0123456789abcdef012345",
      ELETROPAY_SHARED_SECRET: "dash-test-shared-secret-0123456789",
      ELETROPAY_CALLBACK_URL: "https://eletropay.example",
      ELETROPAY_CALLBACK_KEY: "platform-key",
    };
    const config: EletroPayConfig = parseEletroPayConfig(env);
    const stage = { value: "mempool" as "mempool" | "mined" };
    let address = "";
    const adapter = new BitcoinCoreAdapter({
      currency: "DASH",
      rpc: createRpcClient(config.currencies.DASH!.rpcUrl, {
        fetch: (u, i) => recordedDashd(address, stage)(u, i),
      }),
    });
    const adapters = { DASH: adapter };
    const service = createEletroPayService({ db: testDb.db, config, adapters });
    const watcher = createEletroPayWatcher({ db: testDb.db, config, adapters, service });
    const { token } = await service.registerClient(`dash-${instantSendAsConfirmed}@example.com`, {
      revealExisting: true,
    });
    address = (await service.issueAddress(token, "dash")).address;
    assert.match(address, /^y/);

    await watcher.pollOnce("DASH");
    stage.value = "mined";
    await watcher.pollOnce("DASH");
    await watcher.pollOnce("DASH");
    const { rows } = await testDb.db.query<{ body: string; url: string }>(
      "SELECT body, url FROM callbacks WHERE body LIKE $1 ORDER BY id",
      [`%${address}%`],
    );
    for (const row of rows) {
      assert.equal(row.url, "https://eletropay.example/v1/payments/platform-key/DASH/");
      assert.match(
        row.body,
        new RegExp(
          `^\\{"amount":0\\.0100001,"confirmations":\\d,"address":"${address}","txid":"${TXID}"\\}$`,
        ),
      );
    }
    return rows.map((r) => (JSON.parse(r.body) as { confirmations: number }).confirmations);
  }

  it("with DASH_INSTANTSEND_AS_CONFIRMED=true, an InstantSend-locked mempool payment is final at once", async function () {
    assert.deepEqual(await run(true), [6]);
    const { rows } = await testDb.db.query<{ final: boolean; confirmations: number; state: string }>(
      "SELECT final, confirmations, state FROM eletropay_payments WHERE txid = $1 AND final",
      [TXID],
    );
    assert.deepEqual(rows[0], { final: true, confirmations: 6, state: "block" }); // followed into its block, no new callback
  });

  it("without the option, the same responses count block confirmations: 0, then 1", async function () {
    assert.deepEqual(await run(false), [0, 1]);
  });

  it("treats a ChainLocked block as final only under the option", function () {
    assert.equal(effectiveConfirmations(1, { instantLock: false, chainLock: true }, 6, true), 6);
    assert.equal(effectiveConfirmations(1, { instantLock: false, chainLock: true }, 6, false), 1);
    assert.equal(effectiveConfirmations(8, { instantLock: true, chainLock: false }, 6, true), 8);
    assert.equal(effectiveConfirmations(0, { instantLock: false, chainLock: false }, 6, true), 0);
  });
});
