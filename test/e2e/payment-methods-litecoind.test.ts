import assert from "node:assert/strict";
import { HDKey } from "@scure/bip32";
import { after, before, describe, it } from "mocha";
import { parseAbi, parseEther } from "viem";
import { depositsAbi } from "../../server/src/deposits/abi.ts";
import { createMerchant } from "../../server/src/merchants/service.ts";
import type { System } from "../../server/src/system.ts";
import { createAddressDeriver } from "../../server/src/utxo/derive.ts";
import { addressParams } from "../../server/src/utxo/networks.ts";
import { parseExtendedPublicKey } from "../../server/src/utxo/xpub.ts";
import { startLitecoind, type Litecoind } from "../helpers/litecoind.ts";
import { startNodeSystem, type NodeSystem } from "../support/node-system.ts";
import { startReceiver, type Receiver } from "../support/receiver.ts";
import { until } from "../support/until.ts";

const TEST_VERSIONS = { public: 0x043587cf, private: 0x04358394 };
// The merchant's wallet: only its account-level tpub (m/44'/1'/0') reaches the server.
const ACCOUNT = HDKey.fromMasterSeed(
  Buffer.from("payment methods: the merchant's own litecoin wallet"),
  TEST_VERSIONS,
).derive("m/44'/1'/0'");
const TPUB = ACCOUNT.publicExtendedKey;
const CONFIRMATIONS = 3;

interface OrderJson {
  id: number;
  status: string;
  exception: string | null;
  expected_amount: string;
  amount_paid: string;
  transaction_id: string;
  payment_methods?: {
    method: string;
    chain_id: number | null;
    address: string;
    amount: string;
    rate: string;
    payment_uri: string;
    amount_paid: string;
    status: string;
  }[];
}

/**
 * An order paid in LTC on a real `litecoind -regtest`, beside a `hardhat node` chain: the
 * merchant registers its own tpub, the order's LTC method gets the next receive address of that
 * key (imported watch-only into the node's wallet) at the coin's locked rate; a payment from the
 * node's own wallet makes the order success at its first confirmation and complete at
 * PAY_LTC_CONFIRMATIONS, with the merchant's callbacks.
 */
describe("payment methods: an order paid in LTC on litecoind -regtest", function () {
  this.timeout(180_000);
  let ltc: Litecoind;
  let node: NodeSystem;
  let system: System;
  let receiver: Receiver;
  let key: string;

  before(async function () {
    [ltc, receiver] = await Promise.all([startLitecoind(), startReceiver()]);
    node = await startNodeSystem({
      env: {
        RUN_INDEXER: undefined,
        RUN_CALLBACK_WORKER: undefined,
        POLL_INTERVAL_MS: "20",
        PAY_LTC_RPC_URL: ltc.rpcUrl("payments"),
        PAY_LTC_NETWORK: "regtest",
        PAY_LTC_CONFIRMATIONS: String(CONFIRMATIONS),
        PAY_LTC_USD_PRICE: "80",
        PAY_UTXO_POLL_MS: "50",
        RATE_LIMIT_PER_MINUTE: "1000000", // the test polls GET /order/:id every 25 ms
        CONFIRMATIONS: "3",
      },
    });
    system = node.system;
    key = (await createMerchant(node.testDb.db, "ltc-shop@example.com", "seller")).apiKey;
  });

  after(async function () {
    await node?.close();
    await receiver?.close();
    await ltc?.stop();
  });

  const auth = () => ({ authorization: `Bearer ${key}` });
  async function order(id: number): Promise<OrderJson> {
    const res = await system.app.inject({ method: "GET", url: `/order/${id}`, headers: auth() });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as OrderJson;
  }

  it("takes the merchant's tpub for LTC, and refuses what is not one for this network", async function () {
    const bad = await system.app.inject({
      method: "PUT",
      url: "/user/xpubs/LTC",
      headers: auth(),
      payload: { xpub: `${TPUB.slice(0, -4)}abcd` },
    });
    assert.equal(bad.statusCode, 400, bad.body);
    assert.equal(bad.json().error.code, "invalid_xpub");
    const mainnet = HDKey.fromMasterSeed(Buffer.from("a mainnet wallet, not regtest")).derive("m/44'/2'/0'");
    const wrongNet = await system.app.inject({
      method: "PUT",
      url: "/user/xpubs/LTC",
      headers: auth(),
      payload: { xpub: mainnet.publicExtendedKey },
    });
    assert.equal(wrongNet.statusCode, 400, wrongNet.body);
    const anonymous = await system.app.inject({
      method: "PUT",
      url: "/user/xpubs/LTC",
      payload: { xpub: TPUB },
    });
    assert.equal(anonymous.statusCode, 401);
    const ok = await system.app.inject({
      method: "PUT",
      url: "/user/xpubs/ltc",
      headers: auth(),
      payload: { xpub: TPUB },
    });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.deepEqual(ok.json(), { coin: "LTC", xpub: TPUB, next_index: 0 });
    const list = await system.app.inject({ method: "GET", url: "/user/xpubs", headers: auth() });
    assert.deepEqual(list.json(), { xpubs: [{ coin: "LTC", xpub: TPUB, next_index: 0 }] });
  });

  it("pays an order in LTC: success at the first confirmation, complete at PAY_LTC_CONFIRMATIONS, with callbacks", async function () {
    const res = await system.app.inject({
      method: "POST",
      url: "/order",
      headers: auth(),
      payload: { amount: "20.00", address: node.chain.merchant, callback: `${receiver.url}/ltc` },
    });
    assert.equal(res.statusCode, 200, res.body);
    const created = res.json() as OrderJson;
    const ltcMethod = created.payment_methods?.find((m) => m.method === "LTC");
    assert.ok(ltcMethod, JSON.stringify(created.payment_methods));
    // The first receive address of the merchant's own key, as its wallet derives it.
    const deriver = createAddressDeriver(
      parseExtendedPublicKey(TPUB, "LTC", "regtest"),
      addressParams("LTC", "regtest"),
    );
    assert.equal(ltcMethod.address, deriver.address(0));
    assert.equal(ltcMethod.chain_id, null);
    assert.equal(ltcMethod.amount, "0.25"); // $20 at the locked $80
    assert.equal(ltcMethod.rate, "80.00");
    assert.equal(ltcMethod.payment_uri, `litecoin:${deriver.address(0)}?amount=0.25`);
    const info = await ltc.node
      .withPath("/wallet/payments")
      .call<{ iswatchonly: boolean; ismine: boolean }>("getaddressinfo", [ltcMethod.address]);
    assert.equal(info.iswatchonly, true);
    assert.equal(info.ismine, false);

    const txid = await ltc.miner.call<string>("sendtoaddress", [ltcMethod.address, "0.25"]);
    await ltc.sync();
    // In the mempool: seen, but not counted.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await order(created.id)).status, "pending");

    await ltc.mine(1);
    const paid = await until(
      async () => ((await order(created.id)).status === "success" ? order(created.id) : undefined),
      30_000,
      "success",
    );
    assert.equal(paid.transaction_id, txid);
    assert.equal(paid.exception, null);
    // $20 in the default method's unit (ETH at the harness's $2000).
    assert.equal(paid.amount_paid, "0.01");
    assert.equal(paid.payment_methods?.find((m) => m.method === "LTC")?.status, "seen");

    await ltc.mine(CONFIRMATIONS - 2);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await order(created.id)).status, "success", "two confirmations of three");
    await ltc.mine(1);
    const complete = await until(
      async () => ((await order(created.id)).status === "complete" ? order(created.id) : undefined),
      30_000,
      "complete",
    );
    assert.equal(complete.payment_methods?.find((m) => m.method === "LTC")?.status, "final");

    const got = await receiver.waitFor((all) => all.filter((c) => c.path === "/ltc").length >= 2, 30_000);
    const bodies = got.filter((c) => c.path === "/ltc").map((c) => JSON.parse(c.body));
    assert.deepEqual(
      bodies.map((b) => b.status),
      ["success", "complete"],
    );
    for (const b of bodies) {
      assert.equal(b.id, created.id);
      assert.deepEqual(b.payments, [{ method: "LTC", amount: "0.25", transaction: txid }]);
    }

    // The next order gets the next receive address.
    const next = await system.app.inject({
      method: "POST",
      url: "/order",
      headers: auth(),
      payload: {
        amount: "1.00",
        address: node.chain.merchant,
        callback: `${receiver.url}/next`,
        methods: ["LTC", "ETH@31337"],
      },
    });
    assert.equal(next.statusCode, 200, next.body);
    assert.deepEqual(
      (next.json() as OrderJson).payment_methods?.map((m) => [m.method, m.address]),
      [
        ["ETH@31337", (next.json() as { address: string }).address],
        ["LTC", deriver.address(1)],
      ],
    );
  });

  it("ETH at the default deposit address and LTC add up: complete once the LTC is final and the ETH swept", async function () {
    const res = await system.app.inject({
      method: "POST",
      url: "/order",
      headers: auth(),
      payload: { amount: "10.00", address: node.chain.merchant, callback: `${receiver.url}/mixed` },
    });
    assert.equal(res.statusCode, 200, res.body);
    const created = res.json() as OrderJson & { address: `0x${string}`; reference: `0x${string}` };
    const ltcMethod = created.payment_methods?.find((m) => m.method === "LTC");
    assert.ok(ltcMethod);
    assert.equal(ltcMethod.amount, "0.125"); // $10 at $80

    // $4 in ETH (at $2000) to the order's own address: the default method, partial.
    const chain = node.chain;
    const ethTx = await chain.wallet.sendTransaction({
      account: chain.customer,
      to: created.address,
      value: parseEther("0.002"),
      chain: null,
    });
    await chain.client.waitForTransactionReceipt({ hash: ethTx, pollingInterval: 50 });
    await until(
      async () => ((await order(created.id)).exception === "paid_partial" ? true : undefined),
      30_000,
      "partial",
    );
    // The other $6 in LTC: 0.075 at $80.
    const txid = await ltc.miner.call<string>("sendtoaddress", [ltcMethod.address, "0.075"]);
    await ltc.mine(1);
    const paid = await until(
      async () => ((await order(created.id)).status === "success" ? order(created.id) : undefined),
      30_000,
      "success",
    );
    assert.equal(paid.transaction_id, txid);
    assert.equal(paid.amount_paid, "0.005");
    await ltc.mine(CONFIRMATIONS - 1);
    await chain.mine(3);
    // Final in LTC, but the ETH still sits at the deposit address: success, awaiting its sweep.
    await until(
      async () =>
        ((await order(created.id)) as OrderJson & { awaiting_sweep: boolean }).awaiting_sweep || undefined,
      30_000,
      "awaiting_sweep",
    );
    const sweep = await chain.wallet.writeContract({
      address: chain.contract,
      abi: depositsAbi,
      functionName: "sweepOrder",
      args: [chain.merchant, created.reference, "0x0000000000000000000000000000000000000000"],
      account: chain.other,
      chain: null,
    });
    await chain.client.waitForTransactionReceipt({ hash: sweep, pollingInterval: 50 });
    await chain.mine(1);
    const complete = await until(
      async () => ((await order(created.id)).status === "complete" ? order(created.id) : undefined),
      30_000,
      "complete",
    );
    assert.equal((complete as OrderJson & { sent_transaction: string }).sent_transaction, sweep);
    const processorAbi = parseAbi([
      "function balanceOf(address merchant, address token) view returns (uint256)",
    ]);
    assert.equal(
      await chain.client.readContract({
        address: chain.contract,
        abi: processorAbi,
        functionName: "balanceOf",
        args: [chain.merchant, "0x0000000000000000000000000000000000000000"],
      }),
      parseEther("0.002"),
    );
    const got = await receiver.waitFor((all) => all.filter((c) => c.path === "/mixed").length >= 2, 30_000);
    const last = JSON.parse(got.filter((c) => c.path === "/mixed").at(-1)?.body ?? "{}");
    assert.equal(last.status, "complete");
    assert.deepEqual(last.payments, [
      { method: "ETH@31337", amount: "0.002", transaction: ethTx },
      { method: "LTC", amount: "0.075", transaction: txid },
    ]);
  });
});
