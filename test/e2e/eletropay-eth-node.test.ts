import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { parseAbi, parseEther, parseUnits, type Hex } from "viem";
import { orderCallbacks } from "../../server/src/callbacks/order-callbacks.ts";
import { createCallbackWorker } from "../../server/src/callbacks/worker.ts";
import { parseCallbackConfig } from "../../server/src/config/callbacks.ts";
import { depositsAbi } from "../../server/src/deposits/abi.ts";
import { depositsReadyToSweep } from "../../server/src/deposits/repository.ts";
import { linkEletroPayClient } from "../../server/src/eletropay/index.ts";
import { createMerchant } from "../../server/src/merchants/service.ts";
import { txtNotifier } from "../../server/src/notify/order-status.ts";
import { createOrderEvents } from "../../server/src/orders/events.ts";
import type { ChainIndexer } from "../../server/src/runtime/pipeline.ts";
import type { System } from "../../server/src/system.ts";
import type { TestDb } from "../support/db.ts";
import { catchUp } from "../support/indexing.ts";
import { startNodeSystem, type NodeChain, type NodeSystem } from "../support/node-system.ts";
import { startReceiver, type Receiver } from "../support/receiver.ts";

/**
 * EletroPay for ETH and tokens on a `hardhat node` process: a client linked to a merchant gets a
 * fresh deposit address per request; plain transfers to it (ETH, a USDC `transfer`, ETH from a
 * contract wallet) produce callbacks 1…CONFIRMATIONS with exact bodies, signed on delivery; the
 * addresses are sweepable to the merchant; a reorg that removes a deposit stops its callbacks.
 */
describe("EletroPay ETH and USDC on a hardhat node: fresh deposit addresses → callbacks", function () {
  this.timeout(180_000);
  const CONFIRMATIONS = 3;
  const SECRET = "eletropay-callback-secret-0123456789";
  const ADMIN_TOKEN = "admin-token-for-tests-0123456789abcdef";
  let node: NodeSystem;
  let chain: NodeChain;
  let testDb: TestDb;
  let system: System;
  let indexer: ChainIndexer;
  let receiver: Receiver;
  let usdc: `0x${string}`;
  let forwarder: `0x${string}`;
  let token: string;
  const erc20 = parseAbi([
    "function mint(address to, uint256 amount)",
    "function transfer(address to, uint256 amount) returns (bool)",
  ]);
  const processorAbi = parseAbi([
    "function setTokenAllowed(address token, bool allowed)",
    "function balanceOf(address merchant, address token) view returns (uint256)",
  ]);
  const ETH = "0x0000000000000000000000000000000000000000";

  async function send(tx: Parameters<typeof chain.wallet.sendTransaction>[0]) {
    const hash = await chain.wallet.sendTransaction(tx);
    const receipt = await chain.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    assert.equal(receipt.status, "success");
    return receipt;
  }
  const EP_SECRET = "eth-node-test-shared-secret-0123456789";
  const ep = () => {
    if (!system.eletropay) throw new Error("EletroPay is not enabled");
    return system.eletropay.app;
  };
  async function register(email: string): Promise<string> {
    const res = await ep().inject({
      headers: { "x-eletropay-secret": EP_SECRET },
      method: "POST",
      url: "/v1/clients",
      payload: { email },
    });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { token: string }).token;
  }
  async function issue(currency: string, clientToken = token): Promise<`0x${string}`> {
    const res = await ep().inject({
      headers: { "x-eletropay-secret": EP_SECRET },
      method: "GET",
      url: `/v1/clients/${clientToken}/${currency}`,
    });
    assert.equal(res.statusCode, 200, res.body);
    const { address } = res.json() as { address: `0x${string}` };
    assert.match(address, /^0x[0-9a-f]{40}$/);
    return address;
  }
  /** The callbacks queued for an address, in order. */
  async function queued(address: string) {
    await catchUp(indexer);
    const { rows } = await testDb.db.query<{ url: string; body: string; kind: string; secret_ref: string }>(
      "SELECT url, body, kind, secret_ref FROM callbacks WHERE stream LIKE $1 ORDER BY id",
      [`eletropay:%:${address}:%`],
    );
    return rows;
  }
  const body = (amount: string, n: number, address: string, txid: string) =>
    `{"amount":${amount},"confirmations":${n},"address":"${address}","txid":"${txid}"}`;

  before(async function () {
    receiver = await startReceiver({ secrets: [SECRET] });
    node = await startNodeSystem({
      modules: ["multicall3", "usdc"],
      async prepare(chain, deployed) {
        forwarder = await chain.deploy("mocks/EthForwarder.sol/EthForwarder.json");
        await chain.wallet.writeContract({
          address: deployed.usdc as `0x${string}`,
          abi: erc20,
          functionName: "mint",
          args: [chain.customer, parseUnits("1000", 6)],
          account: chain.owner,
          chain: null,
        });
      },
      env: {
        CONFIRMATIONS: String(CONFIRMATIONS),
        ADMIN_TOKEN,
        ELETROPAY_ETH: "true",
        ELETROPAY_TOKEN_KEY: "test-token-key-0123456789abcdef0123456789abcdef",
        ELETROPAY_SHARED_SECRET: EP_SECRET,
        ELETROPAY_CALLBACK_URL: receiver.url,
        ELETROPAY_CALLBACK_SECRET: SECRET,
      },
      // The pipeline as runtime/chain.ts wires it (the order sink, then EletroPay's follower, whose
      // context the system made from ELETROPAY_*), stepped by the test.
      pipeline: {
        context: { orderEvents: createOrderEvents([orderCallbacks("http://pos.test"), txtNotifier()]) },
      },
    });
    ({ chain, testDb, system } = node);
    indexer = node.indexer as ChainIndexer;
    usdc = node.usdc as `0x${string}`;
    await createMerchant(testDb.db, "shop@example.com", "free");
    token = await register("pos@example.com");
  });

  after(async function () {
    await node?.close();
    await receiver?.close();
  });

  it("refuses ETH for a client that no merchant is linked to (409 client_not_linked)", async function () {
    const other = await register("unlinked@example.com");
    const res = await ep().inject({
      headers: { "x-eletropay-secret": EP_SECRET },
      method: "GET",
      url: `/v1/clients/${other}/ETH`,
    });
    assert.equal(res.statusCode, 409, res.body);
    assert.equal((res.json() as { error: { code: string } }).error.code, "client_not_linked");
    const unknown = await ep().inject({
      headers: { "x-eletropay-secret": EP_SECRET },
      method: "GET",
      url: `/v1/clients/${"0".repeat(40)}/ETH`,
    });
    assert.equal(unknown.statusCode, 404);
  });

  it("links the client to the merchant; each GET /ETH is a fresh deposit address bound to the payout address", async function () {
    // A bad payout address is refused, then the operator links through the admin API (as `npm run merchant -- eletropay-link` does).
    await assert.rejects(
      linkEletroPayClient(testDb.db, {
        merchantEmail: "shop@example.com",
        client: token,
        payoutAddress: "0x12",
      }),
      /payout address/,
    );
    const res = await system.app.inject({
      method: "POST",
      url: "/admin/eletropay/links",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: { email: "shop@example.com", client: "POS@example.com", payout_address: chain.merchant },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), {
      client: "pos@example.com",
      merchant_id: 1,
      merchant: "shop@example.com",
      payout_address: chain.merchant.toLowerCase(),
    });
    const a = await issue("ETH");
    const b = await issue("eth");
    assert.notEqual(a, b, "two requests, two addresses");
    for (const address of [a, b]) {
      const { rows } = await testDb.db.query<{ order_ref: Hex; payout_address: string; currency: string }>(
        "SELECT order_ref, payout_address, currency FROM eletropay_eth_addresses WHERE address = $1",
        [address],
      );
      assert.equal(rows[0]?.currency, "ETH");
      // The contract derives the same address from (merchant, ref): a sweep can only credit this merchant.
      const onChain = await chain.client.readContract({
        address: chain.contract,
        abi: depositsAbi,
        functionName: "depositAddressOf",
        args: [chain.merchant, rows[0]!.order_ref],
      });
      assert.equal(onChain.toLowerCase(), address);
    }
  });

  it("a 21,000-gas ETH transfer → callbacks 1, 2, 3 as blocks arrive, nothing after; signed on delivery; sweepable", async function () {
    const address = await issue("ETH");
    const receipt = await send({
      account: chain.customer,
      to: address,
      value: parseEther("0.0123"),
      chain: null,
    });
    assert.equal(receipt.gasUsed, 21_000n);
    const url = `${receiver.url}/v1/payments/${token}/ETH/`;
    let rows = await queued(address);
    assert.deepEqual(
      rows.map((r) => [r.url, r.body, r.kind, r.secret_ref]),
      [[url, body("0.0123", 1, address, receipt.transactionHash), "eletropay.payment", "eletropay"]],
    );
    for (let n = 2; n <= CONFIRMATIONS + 2; n++) {
      await chain.mine(1);
      rows = await queued(address);
      assert.equal(rows.length, Math.min(n, CONFIRMATIONS));
    }
    assert.deepEqual(
      rows.map((r) => r.body),
      [1, 2, 3].map((n) => body("0.0123", n, address, receipt.transactionHash)),
    );

    // Delivered by the callback worker, signed with ELETROPAY_CALLBACK_SECRET.
    const worker = createCallbackWorker({
      db: testDb.db,
      log: { debug() {}, info() {}, warn() {}, error() {} },
      config: parseCallbackConfig({
        NODE_ENV: "test",
        ELETROPAY_CALLBACK_SECRET: SECRET,
        CALLBACK_ALLOW_PRIVATE: "true",
      }),
    });
    await worker.drain();
    const got = (await receiver.waitFor((all) => all.length >= 3)).filter((r) => r.body.includes(address));
    assert.deepEqual(
      got.map((r) => [r.path, r.body]),
      [1, 2, 3].map((n) => [
        `/v1/payments/${token}/ETH/`,
        body("0.0123", n, address, receipt.transactionHash),
      ]),
    );
    assert.deepEqual(
      got.map((r) => r.verified),
      ["valid", "valid", "valid"],
    );

    // An ordinary deposit of the merchant: a sweeper finds it and the sweep credits the merchant.
    const head = await chain.client.getBlockNumber();
    const ready = await depositsReadyToSweep(testDb.db, 31337n, head - BigInt(CONFIRMATIONS) + 1n);
    const mine = ready.find((d) => d.address === address);
    assert.ok(mine, "listed by depositsReadyToSweep");
    assert.equal(mine.merchant, chain.merchant.toLowerCase());
    assert.equal(mine.amount, parseEther("0.0123"));
    const before = await balanceOf(ETH);
    const hash = await chain.wallet.writeContract({
      address: chain.contract,
      abi: depositsAbi,
      functionName: "sweepOrder",
      args: [chain.merchant, mine.orderRef as Hex, ETH],
      account: chain.other,
      chain: null,
    });
    await chain.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    assert.equal((await balanceOf(ETH)) - before, parseEther("0.0123"));
    await chain.mine(2);
    assert.equal(
      (await queued(address)).length,
      CONFIRMATIONS,
      "a sweep of a direct transfer sends nothing more",
    );
  });

  const balanceOf = (t: string) =>
    chain.client.readContract({
      address: chain.contract,
      abi: processorAbi,
      functionName: "balanceOf",
      args: [chain.merchant, t as `0x${string}`],
    });

  it("a USDC `transfer` → callbacks in token units to /USDC/, every count even when blocks arrive together", async function () {
    const address = await issue("USDC");
    const hash = await chain.wallet.writeContract({
      address: usdc,
      abi: erc20,
      functionName: "transfer",
      args: [address, parseUnits("12.5", 6)],
      account: chain.customer,
      chain: null,
    });
    await chain.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    await chain.mine(CONFIRMATIONS + 1);
    const rows = await queued(address);
    assert.deepEqual(
      rows.map((r) => [r.url, r.body]),
      [1, 2, 3].map((n) => [`${receiver.url}/v1/payments/${token}/USDC/`, body("12.5", n, address, hash)]),
    );
    const head = await chain.client.getBlockNumber();
    const ready = await depositsReadyToSweep(testDb.db, 31337n, head - BigInt(CONFIRMATIONS) + 1n);
    assert.ok(ready.some((d) => d.address === address && d.token === usdc.toLowerCase()));
  });

  it("ETH from a contract wallet: txid empty until the sweep, then one callback with the sweep's hash", async function () {
    const address = await issue("ETH");
    await send({
      account: chain.customer,
      to: forwarder,
      data: `0x101e8952${address.slice(2).padStart(64, "0")}`,
      value: parseEther("0.5"),
      chain: null,
    });
    await chain.mine(CONFIRMATIONS);
    let rows = await queued(address);
    assert.deepEqual(
      rows.map((r) => r.body),
      [1, 2, 3].map((n) => body("0.5", n, address, "")),
    );
    const { rows: bound } = await testDb.db.query<{ order_ref: Hex }>(
      "SELECT order_ref FROM eletropay_eth_addresses WHERE address = $1",
      [address],
    );
    const sweep = await chain.wallet.writeContract({
      address: chain.contract,
      abi: depositsAbi,
      functionName: "sweepOrder",
      args: [chain.merchant, bound[0]!.order_ref, ETH],
      account: chain.other,
      chain: null,
    });
    await chain.client.waitForTransactionReceipt({ hash: sweep, pollingInterval: 50 });
    await chain.mine(1);
    rows = await queued(address);
    assert.deepEqual(
      rows.map((r) => r.body),
      [...[1, 2, 3].map((n) => body("0.5", n, address, "")), body("0.5", 3, address, sweep)],
    );
  });

  it("a reorg that removes a deposit: no further callbacks, the payment is recorded as vanished", async function () {
    const address = await issue("ETH");
    const snapshot = await chain.snapshot();
    const paid = await send({ account: chain.customer, to: address, value: parseEther("0.2"), chain: null });
    await chain.mine(1);
    let rows = await queued(address);
    assert.deepEqual(
      rows.map((r) => r.body),
      [1, 2].map((n) => body("0.2", n, address, paid.transactionHash)),
    );
    await chain.revert(snapshot);
    // A longer branch that starts with a different transaction.
    await send({ account: chain.other, to: chain.owner, value: 1n, chain: null });
    await chain.mine(CONFIRMATIONS + 2);
    rows = await queued(address);
    assert.equal(rows.length, 2, "nothing after the deposit vanished");
    const { rows: payments } = await testDb.db.query<{ state: string; reported_confirmations: number }>(
      "SELECT state, reported_confirmations FROM eletropay_eth_payments WHERE address = $1",
      [address],
    );
    assert.deepEqual(payments, [{ state: "vanished", reported_confirmations: 2 }]);
    const { rows: logged } = await testDb.db.query<{ kind: string; txid: string }>(
      "SELECT kind, txid FROM eletropay_events WHERE address = $1 ORDER BY id",
      [address],
    );
    assert.deepEqual(logged, [{ kind: "vanished", txid: paid.transactionHash }]);
    // Paid again later (a new transaction): followed as a new payment.
    const again = await send({ account: chain.customer, to: address, value: parseEther("0.2"), chain: null });
    rows = await queued(address);
    assert.equal(rows.at(-1)?.body, body("0.2", 1, address, again.transactionHash));
  });
});
