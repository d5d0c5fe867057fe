import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { getAddress, parseAbi, parseEther, parseUnits, type Hex } from "viem";
import { depositsAbi } from "../../server/src/deposits/abi.ts";
import type { System } from "../../server/src/system.ts";
import { startNodeChain } from "../support/node-chain.ts";
import { startNodeSystem, type NodeChain, type NodeSystem } from "../support/node-system.ts";
import { startReceiver, type Receiver } from "../support/receiver.ts";
import { until } from "../support/until.ts";

const ETH = "0x0000000000000000000000000000000000000000";
const erc20 = parseAbi([
  "function mint(address to, uint256 amount)",
  "function transfer(address to, uint256 amount) returns (bool)",
]);
const processorAbi = parseAbi([
  "function setTokenAllowed(address token, bool allowed)",
  "function balanceOf(address merchant, address token) view returns (uint256)",
]);

interface MethodJson {
  method: string;
  chain_id: number;
  token: string;
  address: string;
  amount: string;
  rate: string;
  payment_uri: string;
  qr_code: string;
  amount_paid: string;
  status: string;
  default: boolean;
}
interface OrderJson {
  id: number;
  address: string;
  expected_amount: string;
  eth_price: string;
  status: string;
  exception: string | null;
  amount_paid: string;
  transaction_id: string;
  sent_transaction: string;
  reference: Hex;
  awaiting_sweep: boolean;
  payment_methods?: MethodJson[];
}

/**
 * One order, every way to pay, on two `hardhat node` processes (chains 31337 and 31338) and one
 * server that indexes both and sends the callbacks itself: an order priced in USD is paid partly
 * in USDC on one chain and the rest in ETH on the other, each at its method's own address and
 * locked rate; the sum makes it success, and the sweeps on both chains make it complete.
 */
describe("payment methods: one order paid in a token on one chain and ETH on another", function () {
  this.timeout(180_000);
  const CONFIRMATIONS = 3;
  let alpha: NodeChain;
  let beta: NodeChain;
  let node: NodeSystem;
  let system: System;
  let receiver: Receiver;
  let usdc: `0x${string}`;

  async function send(chain: NodeChain, hash: Promise<Hex>) {
    const receipt = await chain.client.waitForTransactionReceipt({ hash: await hash, pollingInterval: 50 });
    assert.equal(receipt.status, "success");
    return receipt.transactionHash;
  }

  before(async function () {
    [alpha, beta] = await Promise.all([startNodeChain(), startNodeChain({ chainId: 31_338 })]);
    // The same deployer nonce on both chains: the mock USDC has one address, as TOKENS lists one.
    const [a, b] = await Promise.all(
      [alpha, beta].map((c) => c.deploy("mocks/MockStablecoin.sol/MockStablecoin.json")),
    );
    assert.equal(a, b);
    usdc = a as `0x${string}`;
    for (const chain of [alpha, beta]) {
      await send(
        chain,
        chain.wallet.writeContract({
          address: usdc,
          abi: erc20,
          functionName: "mint",
          args: [chain.customer, parseUnits("1000", 6)],
          account: chain.owner,
          chain: null,
        }),
      );
      await send(
        chain,
        chain.wallet.writeContract({
          address: chain.contract,
          abi: processorAbi,
          functionName: "setTokenAllowed",
          args: [usdc, true],
          account: chain.owner,
          chain: null,
        }),
      );
    }
    receiver = await startReceiver();
    node = await startNodeSystem({
      chain: alpha,
      env: {
        RUN_INDEXER: undefined,
        RUN_CALLBACK_WORKER: undefined,
        RPC_URL: undefined,
        CONTRACT_ADDRESS: undefined,
        ETH_USD_PRICE: undefined,
        CHAINS: "alpha,beta",
        CHAIN_ALPHA_RPC_URL: alpha.url,
        CHAIN_ALPHA_CHAIN_ID: "31337",
        CHAIN_ALPHA_CONTRACT_ADDRESS: alpha.contract,
        CHAIN_ALPHA_ETH_USD_PRICE: "2000",
        CHAIN_BETA_RPC_URL: beta.url,
        CHAIN_BETA_CHAIN_ID: "31338",
        CHAIN_BETA_CONTRACT_ADDRESS: beta.contract,
        CHAIN_BETA_ETH_USD_PRICE: "4000",
        START_BLOCK: "0",
        CONFIRMATIONS: String(CONFIRMATIONS),
        TOKENS: `USDC:${usdc}:6`,
        POLL_INTERVAL_MS: "20",
        PUBLIC_URL: "http://pos.test",
      },
    });
    ({ system } = node);
  });

  after(async function () {
    await node?.close();
    await receiver?.close();
    await Promise.all([alpha?.stop(), beta?.stop()]);
  });

  async function order(id: number): Promise<OrderJson> {
    const res = await system.app.inject({ method: "GET", url: `/order/${id}` });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as OrderJson;
  }
  const statusIs =
    (id: number, status: string, exception: string | null = null) =>
    async () => {
      const o = await order(id);
      return o.status === status && o.exception === exception ? o : undefined;
    };
  const sweep = (chain: NodeChain, ref: Hex, token: string) =>
    send(
      chain,
      // A stranger sweeps: the funds can only go to the merchant, in that chain's contract.
      chain.wallet.writeContract({
        address: chain.contract,
        abi: depositsAbi,
        functionName: "sweepOrder",
        args: [chain.merchant, ref, token as `0x${string}`],
        account: chain.other,
        chain: null,
      }),
    );
  const balance = (chain: NodeChain, token: string) =>
    chain.client.readContract({
      address: chain.contract,
      abi: processorAbi,
      functionName: "balanceOf",
      args: [chain.merchant, token as `0x${string}`],
    });

  it("lists every method with its own address, amount, rate and QR; `methods` restricts them", async function () {
    const res = await system.app.inject({
      method: "POST",
      url: "/order",
      payload: { amount: "4.00", address: alpha.merchant, callback: `${receiver.url}/list` },
    });
    assert.equal(res.statusCode, 200, res.body);
    const o = res.json() as OrderJson;
    const methods = o.payment_methods ?? [];
    assert.deepEqual(
      methods.map((m) => [m.method, m.amount, m.rate, m.default]),
      [
        ["ETH@31337", "0.002", "2000.00", true],
        ["USDC@31337", "4", "1.00", false],
        ["ETH@31338", "0.001", "4000.00", false],
        ["USDC@31338", "4", "1.00", false],
      ],
    );
    // The seed's fields describe the default method; a chain's methods share its deposit address.
    const [ethA, usdcA, ethB, usdcB] = methods as [MethodJson, MethodJson, MethodJson, MethodJson];
    assert.equal(o.address, ethA.address);
    assert.equal(o.expected_amount, ethA.amount);
    assert.equal(usdcA.address, ethA.address);
    assert.equal(usdcB.address, ethB.address);
    assert.notEqual(ethA.address, ethB.address);
    assert.equal(ethB.payment_uri, `ethereum:${ethB.address}@31338?value=1000000000000000`);
    assert.equal(
      usdcB.payment_uri,
      `ethereum:${getAddress(usdc)}@31338/transfer?address=${usdcB.address}&uint256=4000000`,
    );
    assert.ok(methods.every((m) => m.status === "unpaid" && m.amount_paid === "0"));
    const qr = await system.app.inject({ method: "GET", url: usdcB.qr_code.replace("http://pos.test", "") });
    assert.equal(qr.statusCode, 200);
    assert.match(qr.body, /^<svg/);

    // Restricted, and the first method named is the default.
    const only = await system.app.inject({
      method: "POST",
      url: "/order",
      payload: {
        amount: "4.00",
        address: alpha.merchant,
        callback: `${receiver.url}/list`,
        methods: ["USDC@beta", "ETH@31337"],
      },
    });
    assert.equal(only.statusCode, 200, only.body);
    const restricted = only.json() as OrderJson & { chain_id: number; token: string };
    assert.equal(restricted.chain_id, 31_338);
    assert.equal(restricted.token, "USDC");
    assert.deepEqual(
      restricted.payment_methods?.map((m) => m.method),
      ["USDC@31338", "ETH@31337"],
    );
    const wrong = await system.app.inject({
      method: "POST",
      url: "/order",
      payload: {
        amount: "4.00",
        address: alpha.merchant,
        callback: `${receiver.url}/x`,
        methods: ["DAI@31337"],
      },
    });
    assert.equal(wrong.statusCode, 400);
    assert.equal(wrong.json().error.code, "unsupported_method");
    assert.match(wrong.json().error.message, /ETH@31337, USDC@31337, ETH@31338, USDC@31338/);
  });

  it("USDC on one chain + ETH on the other add up: success at the payment that covers, complete after both sweeps", async function () {
    const res = await system.app.inject({
      method: "POST",
      url: "/order",
      payload: { amount: "4.00", address: alpha.merchant, callback: `${receiver.url}/multi` },
    });
    assert.equal(res.statusCode, 200, res.body);
    const created = res.json() as OrderJson;
    const byId = new Map((created.payment_methods ?? []).map((m) => [m.method, m]));
    const usdcA = byId.get("USDC@31337") as MethodJson;
    const ethB = byId.get("ETH@31338") as MethodJson;

    // $1.50 in USDC on alpha: partial, counted in the default method's unit (ETH at $2000).
    const usdcTx = await send(
      alpha,
      alpha.wallet.writeContract({
        address: usdc,
        abi: erc20,
        functionName: "transfer",
        args: [usdcA.address as `0x${string}`, parseUnits("1.5", 6)],
        account: alpha.customer,
        chain: null,
      }),
    );
    const partial = await until(statusIs(created.id, "pending", "paid_partial"), 30_000, "partial");
    assert.equal(partial.amount_paid, "0.00075");

    // The other $2.50 in ETH on beta, at beta's locked $4000: 0.000625 ETH.
    const ethTx = await send(
      beta,
      beta.wallet.sendTransaction({
        account: beta.customer,
        to: ethB.address as `0x${string}`,
        value: parseEther("0.000625"),
        chain: null,
      }),
    );
    const paid = await until(statusIs(created.id, "success"), 30_000, "success");
    assert.equal(paid.transaction_id, ethTx);
    assert.equal(paid.amount_paid, "0.002");
    const seen = new Map((paid.payment_methods ?? []).map((m) => [m.method, m]));
    assert.equal(seen.get("USDC@31337")?.amount_paid, "1.5");
    assert.equal(seen.get("ETH@31338")?.amount_paid, "0.000625");
    assert.equal(seen.get("ETH@31337")?.status, "unpaid");

    // Confirmed on both chains, but not complete before both deposits are swept.
    await Promise.all([alpha.mine(CONFIRMATIONS), beta.mine(CONFIRMATIONS)]);
    const waiting = await until(
      async () => ((await order(created.id)).awaiting_sweep ? order(created.id) : undefined),
      30_000,
      "awaiting_sweep",
    );
    assert.equal(waiting.status, "success");
    const sweepA = await sweep(alpha, created.reference, usdc);
    await alpha.mine(1);
    await beta.mine(1);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await order(created.id)).status, "success", "one sweep of two is not enough");
    const sweepB = await sweep(beta, created.reference, ETH);
    await beta.mine(1);
    const complete = await until(statusIs(created.id, "complete"), 30_000, "complete");
    assert.ok([sweepA, sweepB].includes(complete.sent_transaction as Hex));
    assert.ok(
      (complete.payment_methods ?? [])
        .filter((m) => m.amount_paid !== "0")
        .every((m) => m.status === "final"),
    );
    // The merchant is credited in each chain's contract.
    assert.equal(await balance(alpha, usdc), parseUnits("1.5", 6));
    assert.equal(await balance(beta, ETH), parseEther("0.000625"));

    // Callbacks: the seed's shape, plus the payments that count.
    const got = await receiver.waitFor(
      (all) => all.filter((c) => c.path === "/multi" && JSON.parse(c.body).id === created.id).length >= 2,
      30_000,
    );
    const bodies = got.filter((c) => c.path === "/multi").map((c) => JSON.parse(c.body));
    assert.deepEqual(
      bodies.map((b) => b.status),
      ["success", "complete"],
    );
    for (const body of bodies) {
      assert.equal(body.currency_amount, "4.00");
      assert.deepEqual(body.payments, [
        { method: "USDC@31337", amount: "1.5", transaction: usdcTx },
        { method: "ETH@31338", amount: "0.000625", transaction: ethTx },
      ]);
    }
  });
});
