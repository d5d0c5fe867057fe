import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { parseAbi, parseEther, parseUnits, type Hex } from "viem";
import { orderCallbacks } from "../../server/src/callbacks/order-callbacks.ts";
import { depositAddress, readDepositDerivation } from "../../server/src/deposits/address.ts";
import { depositsAbi } from "../../server/src/deposits/abi.ts";
import { depositsReadyToSweep } from "../../server/src/deposits/repository.ts";
import { txtNotifier } from "../../server/src/notify/order-status.ts";
import { createOrderEvents } from "../../server/src/orders/events.ts";
import { orderIdToBytes32 } from "../../server/src/orders/ids.ts";
import type { ChainIndexer } from "../../server/src/runtime/pipeline.ts";
import type { System } from "../../server/src/system.ts";
import type { TestDb } from "../support/db.ts";
import { catchUp } from "../support/indexing.ts";
import { startNodeSystem, type NodeChain, type NodeSystem } from "../support/node-system.ts";

/**
 * Deposit addresses end to end on a `hardhat node` process: orders made through the API get a
 * CREATE2 deposit address; plain transfers to it (a 21,000-gas ETH transfer, ETH from a contract
 * wallet, a USDC `transfer`) are seen by the balance reads and Transfer logs, and sweeps (called
 * by a stranger) complete the orders and credit the merchant in the contract. Partial + top-up,
 * overpayment, a late payment, and reorgs that remove a deposit or a sweep.
 */
describe("deposit addresses on a hardhat node: plain transfers → success → sweep → complete", function () {
  this.timeout(180_000);
  const CONFIRMATIONS = 3;
  let node: NodeSystem;
  let chain: NodeChain;
  let testDb: TestDb;
  let system: System;
  let indexer: ChainIndexer;
  let usdc: `0x${string}`;
  let forwarder: `0x${string}`;
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

  before(async function () {
    // The pipeline as runtime/chain.ts wires it, stepped by the test.
    const events = createOrderEvents([orderCallbacks("http://pos.test"), txtNotifier()]);
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
      env: { CONFIRMATIONS: String(CONFIRMATIONS) },
      pipeline: { context: { orderEvents: events } },
    });
    ({ chain, testDb, system } = node);
    indexer = node.indexer as ChainIndexer;
    usdc = node.usdc as `0x${string}`;
  });

  after(async function () {
    await node?.close();
  });

  interface OrderJson {
    id: number;
    reference: string;
    address: string;
    pay_to: string;
    expected_amount: string;
    status: string;
    exception: string | null;
    transaction_id: string;
    sent_transaction: string;
    amount_paid: string;
    awaiting_sweep: boolean;
    confirmations: number;
  }
  async function createOrder(token?: string): Promise<OrderJson & { expected: bigint; ref: Hex }> {
    const res = await system.app.inject({
      method: "POST",
      url: "/order",
      payload: {
        amount: "2.00",
        address: chain.merchant,
        callback: "http://127.0.0.1:9/cb",
        ...(token ? { token } : {}),
      },
    });
    assert.equal(res.statusCode, 200, res.body);
    const o = res.json() as OrderJson;
    const expected = token ? parseUnits(o.expected_amount, 6) : parseEther(o.expected_amount);
    return { ...o, expected, ref: o.reference as `0x${string}` };
  }
  async function order(id: number): Promise<OrderJson> {
    await catchUp(indexer);
    return (await system.app.inject({ method: "GET", url: `/order/${id}` })).json() as OrderJson;
  }
  const balance = (token: string) =>
    chain.client.readContract({
      address: chain.contract,
      abi: processorAbi,
      functionName: "balanceOf",
      args: [chain.merchant, token as `0x${string}`],
    });
  async function sweep(o: { ref: Hex }, token = ETH) {
    // A stranger (not the merchant, not the operator) sweeps: the funds can only go to the merchant.
    const hash = await chain.wallet.writeContract({
      address: chain.contract,
      abi: depositsAbi,
      functionName: "sweepOrder",
      args: [chain.merchant, o.ref, token as `0x${string}`],
      account: chain.other,
      chain: null,
    });
    const receipt = await chain.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    assert.equal(receipt.status, "success");
    return hash;
  }
  const payEth = (to: string, value: bigint) =>
    send({ account: chain.customer, to: to as `0x${string}`, value, chain: null });

  it("derives the deposit address off-chain exactly as the contract's depositAddressOf", async function () {
    const derivation = await readDepositDerivation(chain.client, chain.contract, 31337n);
    for (const id of [1_000_000_000n, 123_456_789_012n, 2n ** 48n - 1n]) {
      for (const merchant of [chain.merchant, chain.other]) {
        const onChain = await chain.client.readContract({
          address: chain.contract,
          abi: depositsAbi,
          functionName: "depositAddressOf",
          args: [merchant, orderIdToBytes32(id)],
        });
        assert.equal(depositAddress(derivation, merchant, orderIdToBytes32(id)), onChain.toLowerCase());
      }
    }
    const o = await createOrder();
    const onChain = await chain.client.readContract({
      address: chain.contract,
      abi: depositsAbi,
      functionName: "depositAddressOf",
      args: [chain.merchant, o.ref],
    });
    assert.equal(o.address, onChain);
    assert.equal(o.pay_to.toLowerCase(), chain.contract.toLowerCase());
    await assert.rejects(
      readDepositDerivation(chain.client, usdc, 31337n),
      /does not answer depositInitCodeHash/,
    );
  });

  it("a 21,000-gas ETH transfer → success; confirmed but unswept stays success; a stranger's sweep → complete", async function () {
    const o = await createOrder();
    const before = await balance(ETH);
    const receipt = await payEth(o.address, o.expected);
    assert.equal(receipt.gasUsed, 21_000n);
    let now = await order(o.id);
    assert.equal(now.status, "success");
    assert.equal(now.transaction_id, receipt.transactionHash);
    assert.equal(now.awaiting_sweep, false);
    await chain.mine(CONFIRMATIONS);
    now = await order(o.id);
    assert.equal(now.status, "success");
    assert.equal(now.awaiting_sweep, true, "confirmed, waiting for the sweep");
    const ready = await depositsReadyToSweep(testDb.db, 31337n, (await chain.client.getBlockNumber()) - 2n);
    assert.ok(
      ready.some((d) => d.address === o.address.toLowerCase() && d.token === ETH && d.amount === o.expected),
    );
    const sweepTx = await sweep(o);
    now = await order(o.id);
    assert.equal(now.status, "complete");
    assert.equal(now.sent_transaction, sweepTx);
    assert.equal(now.transaction_id, receipt.transactionHash);
    assert.equal(now.awaiting_sweep, false);
    assert.equal((await balance(ETH)) - before, o.expected);
    const { rows } = await testDb.db.query<{ kind: string }>(
      "SELECT kind FROM callbacks WHERE order_id = $1 ORDER BY id",
      [o.id],
    );
    assert.deepEqual(
      rows.map((r) => r.kind),
      ["order.success", "order.complete"],
    );
  });

  it("ETH from a contract wallet (an internal transfer): seen by the balance read; transaction_id is the sweep", async function () {
    const o = await createOrder();
    await send({
      account: chain.customer,
      to: forwarder,
      data: `0x101e8952${o.address.slice(2).toLowerCase().padStart(64, "0")}`,
      value: o.expected,
      chain: null,
    });
    let now = await order(o.id);
    assert.equal(now.status, "success");
    assert.equal(now.transaction_id, "", "an internal transfer has no transaction of its own");
    const sweepTx = await sweep(o);
    await chain.mine(CONFIRMATIONS);
    now = await order(o.id);
    assert.equal(now.status, "complete");
    assert.equal(now.transaction_id, sweepTx);
    assert.equal(now.sent_transaction, sweepTx);
  });

  it("a USDC transfer → success with its transaction; the token sweep → complete, merchant credited", async function () {
    const o = await createOrder("USDC");
    const before = await balance(usdc);
    const hash = await chain.wallet.writeContract({
      address: usdc,
      abi: erc20,
      functionName: "transfer",
      args: [o.address as `0x${string}`, o.expected],
      account: chain.customer,
      chain: null,
    });
    await chain.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    let now = await order(o.id);
    assert.equal(now.status, "success");
    assert.equal(now.transaction_id, hash);
    const sweepTx = await sweep(o, usdc);
    await chain.mine(CONFIRMATIONS);
    now = await order(o.id);
    assert.equal(now.status, "complete");
    assert.equal(now.sent_transaction, sweepTx);
    assert.equal((await balance(usdc)) - before, o.expected);
  });

  it("partial, then a top-up; an overpayment; a late payment (still credited)", async function () {
    const partial = await createOrder();
    await payEth(partial.address, partial.expected / 2n);
    let now = await order(partial.id);
    assert.equal(now.status, "pending");
    assert.equal(now.exception, "paid_partial");
    const topUp = await payEth(partial.address, partial.expected - partial.expected / 2n);
    now = await order(partial.id);
    assert.equal(now.status, "success");
    assert.equal(now.exception, null);
    assert.equal(now.transaction_id, topUp.transactionHash);

    const over = await createOrder();
    await payEth(over.address, over.expected * 2n);
    now = await order(over.id);
    assert.equal(now.status, "success");
    assert.equal(now.exception, "paid_over");
    assert.equal(parseEther(now.amount_paid), over.expected * 2n);

    const late = await createOrder();
    await testDb.db.query("UPDATE orders SET expires_at = now() - interval '1 minute' WHERE id = $1", [
      late.id,
    ]);
    now = await order(late.id);
    assert.equal(now.status, "expired");
    const before = await balance(ETH);
    await payEth(late.address, late.expected);
    now = await order(late.id);
    assert.equal(now.status, "expired");
    assert.equal(now.exception, "paid_late");
    assert.equal(parseEther(now.amount_paid), late.expected);
    await sweep(late);
    await order(late.id);
    assert.equal((await balance(ETH)) - before, late.expected, "the late payment is swept and credited");
  });

  it("a reorg that removes a deposit before its sweep: back to pending", async function () {
    const o = await createOrder();
    const snapshot = await chain.snapshot();
    await payEth(o.address, o.expected);
    await chain.mine(1);
    assert.equal((await order(o.id)).status, "success");
    await chain.revert(snapshot);
    // A longer branch that starts with a different transaction.
    await send({ account: chain.other, to: chain.owner, value: 1n, chain: null });
    await chain.mine(3);
    const now = await order(o.id);
    assert.equal(now.status, "pending");
    assert.equal(now.exception, null);
    assert.equal(now.transaction_id, "");
    const { rows } = await testDb.db.query("SELECT * FROM deposit_balances WHERE address = $1", [
      o.address.toLowerCase(),
    ]);
    assert.equal(rows.length, 0);
  });

  it("a reorg that removes the sweep: complete → success awaiting the sweep again", async function () {
    const o = await createOrder();
    const paid = await payEth(o.address, o.expected);
    await chain.mine(CONFIRMATIONS);
    const waiting = await order(o.id);
    assert.equal(waiting.awaiting_sweep, true, JSON.stringify(waiting));
    const snapshot = await chain.snapshot();
    await sweep(o);
    await chain.mine(CONFIRMATIONS);
    assert.equal((await order(o.id)).status, "complete");
    await chain.revert(snapshot);
    await send({ account: chain.other, to: chain.owner, value: 1n, chain: null });
    await chain.mine(CONFIRMATIONS + 2);
    const now = await order(o.id);
    assert.equal(now.status, "success");
    assert.equal(now.awaiting_sweep, true);
    assert.equal(now.sent_transaction, "");
    assert.equal(now.transaction_id, paid.transactionHash);
    const { rows } = await testDb.db.query<{ kind: string }>(
      "SELECT kind FROM callbacks WHERE order_id = $1 ORDER BY id",
      [o.id],
    );
    assert.deepEqual(
      rows.map((r) => r.kind),
      ["order.success", "order.complete", "order.success"],
    );
    // Once swept again, complete again.
    const again = await sweep(o);
    await chain.mine(CONFIRMATIONS);
    assert.equal((await order(o.id)).sent_transaction, again);
  });
});
