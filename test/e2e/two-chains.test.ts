import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { formatEther, parseEther, type Hex } from "viem";
import type { System } from "../../server/src/system.ts";
import { proveAddress } from "../support/api-system.ts";
import type { TestDb } from "../support/db.ts";
import { waitUntilIndexed } from "../support/indexing.ts";
import { startNodeChain } from "../support/node-chain.ts";
import { startNodeSystem, type NodeChain, type NodeSystem } from "../support/node-system.ts";
import { startReceiver, type Receiver } from "../support/receiver.ts";
import { until } from "../support/until.ts";

const ADMIN_TOKEN = "admin-token-for-the-e2e-tests-0123456789";
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
/**
 * Two chains at once, each its own `hardhat node` process with its own chain id, one server and
 * one database: orders on each are paid and complete; a reorg on one leaves the other's orders,
 * events and cursor untouched; a fatal error on one (a reorg past its finality window) makes only
 * that chain's new orders refuse with 503 and /health name it.
 */
describe("two chains at once (two hardhat node processes)", function () {
  const CONFIRMATIONS = 3;
  const FINALITY = 6;
  let alpha: NodeChain;
  let beta: NodeChain;
  let node: NodeSystem;
  let testDb: TestDb;
  let system: System;
  let receiver: Receiver;

  before(async function () {
    [alpha, beta] = await Promise.all([startNodeChain(), startNodeChain({ chainId: 31_338 })]);
    assert.equal(await alpha.client.getChainId(), 31_337);
    assert.equal(await beta.client.getChainId(), 31_338);
    // The same deployer nonce on both chains: the mock USDC has one address, as TOKENS lists one.
    const [usdc, usdcBeta] = await Promise.all(
      [alpha, beta].map((c) => c.deploy("mocks/MockStablecoin.sol/MockStablecoin.json")),
    );
    assert.equal(usdc, usdcBeta);
    receiver = await startReceiver();
    // The system indexes both chains and delivers callbacks itself; each chain named in CHAINS.
    node = await startNodeSystem({
      chain: alpha,
      env: {
        RUN_INDEXER: undefined,
        RUN_CALLBACK_WORKER: undefined,
        RPC_URL: undefined,
        CONTRACT_ADDRESS: undefined,
        ETH_USD_PRICE: undefined,
        ADMIN_TOKEN, // /health details need it
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
        FINALITY_BLOCKS: String(FINALITY),
        TOKENS: `USDC:${usdc}:6`,
        POLL_INTERVAL_MS: "20",
        PUBLIC_URL: "http://pos.test",
      },
    });
    ({ testDb, system } = node);
  });

  after(async function () {
    await node?.close();
    await receiver?.close();
    await Promise.all([alpha?.stop(), beta?.stop()]);
  });

  async function createOrder(chain: string, amount = "2.00") {
    const res = await system.app.inject({
      method: "POST",
      url: "/order",
      payload: { amount, address: alpha.merchant, callback: `${receiver.url}/${chain}`, chain },
    });
    assert.equal(res.statusCode, 200, res.body);
    const created = res.json() as {
      id: number;
      expected_amount: string;
      chain_id: number;
      address: string;
      pay_to: string;
      reference: `0x${string}`;
    };
    references.set(created.id, created.reference);
    return created;
  }

  /** Each order's on-chain reference, by id (what `pay` takes). */
  const references = new Map<number, `0x${string}`>();

  async function order(id: number) {
    const res = await system.app.inject({ method: "GET", url: `/order/${id}` });
    return res.json() as { status: string; transaction_id: string; chain_id: number };
  }

  async function pay(chain: NodeChain, id: number, amount: string) {
    return chain.wallet.writeContract({
      address: chain.contract,
      abi: chain.abi,
      functionName: "pay",
      args: [chain.merchant, references.get(id) as `0x${string}`],
      value: parseEther(amount),
      account: chain.customer,
      chain: null,
    }) as Promise<Hex>;
  }

  const statusIs = (id: number, status: string) => async () =>
    (await order(id)).status === status ? true : undefined;

  /** One chain's indexed rows: its orders, its events and its cursor. */
  async function chainState(chainId: number) {
    const db = testDb.db;
    const [orders, events, cursor] = await Promise.all([
      db.query(
        `SELECT id::text, status, amount_paid, transaction_id, paid_block::text FROM orders
          WHERE chain_id = $1 ORDER BY id`,
        [chainId],
      ),
      db.query(
        "SELECT block_number::text, block_hash, tx_hash, log_index, order_id::text FROM contract_events WHERE chain_id = $1 ORDER BY block_number, log_index",
        [chainId],
      ),
      db.query("SELECT block_number::text, block_hash FROM indexer_cursor WHERE chain_id = $1", [chainId]),
    ]);
    return { orders: orders.rows, events: events.rows, cursor: cursor.rows };
  }

  it("takes orders on each chain, by name or id, priced by that chain", async function () {
    const a = await createOrder("alpha");
    const b = await createOrder("31338");
    assert.equal(a.chain_id, 31_337);
    assert.equal(b.chain_id, 31_338);
    // Each order is paid to its own chain's contract, directly or through its deposit address
    // (derived from that contract and chain, so the two differ even for the same merchant).
    assert.equal(a.pay_to.toLowerCase(), alpha.contract.toLowerCase());
    assert.equal(b.pay_to.toLowerCase(), beta.contract.toLowerCase());
    assert.notEqual(a.address.toLowerCase(), b.address.toLowerCase());
    // $2.00 at $2000/ETH and at $4000/ETH.
    assert.equal(a.expected_amount, "0.001");
    assert.equal(b.expected_amount, "0.0005");
    // Without `chain`: the first configured chain.
    const res = await system.app.inject({
      method: "POST",
      url: "/order",
      payload: { amount: "1.00", address: alpha.merchant, callback: `${receiver.url}/default` },
    });
    assert.equal(res.json().chain_id, 31_337);
    const unknown = await system.app.inject({
      method: "POST",
      url: "/order",
      payload: { amount: "1.00", address: alpha.merchant, callback: `${receiver.url}/x`, chain: "gamma" },
    });
    assert.equal(unknown.statusCode, 400);
    assert.equal(unknown.json().error.code, "unsupported_chain");
    assert.match(unknown.json().error.message, /alpha \(31337\), beta \(31338\)/);
  });

  it("completes an order on each chain and sends each chain's callbacks", async function () {
    const a = await createOrder("alpha");
    const b = await createOrder("beta");
    const [ta, tb] = await Promise.all([
      pay(alpha, a.id, a.expected_amount),
      pay(beta, b.id, b.expected_amount),
    ]);
    await Promise.all([alpha.mine(CONFIRMATIONS), beta.mine(CONFIRMATIONS)]);
    await until(statusIs(a.id, "complete"), 30_000, `alpha order ${a.id} complete`);
    await until(statusIs(b.id, "complete"), 30_000, `beta order ${b.id} complete`);
    assert.equal((await order(a.id)).transaction_id, ta);
    assert.equal((await order(b.id)).transaction_id, tb);
    for (const [chain, o] of [
      ["alpha", a],
      ["beta", b],
    ] as const) {
      const got = await receiver.waitFor(
        (all) => all.filter((c) => c.path === `/${chain}` && JSON.parse(c.body).id === o.id).length >= 2,
        30_000,
      );
      const statuses = got
        .filter((c) => c.path === `/${chain}` && JSON.parse(c.body).id === o.id)
        .map((c) => JSON.parse(c.body).status);
      assert.deepEqual(statuses, ["success", "complete"]);
    }
    // The same order id space, one table: each order was paid on its own chain only.
    const health = (await system.app.inject({ method: "GET", url: "/health", headers: admin })).json();
    assert.equal(health.status, "ok");
    assert.deepEqual(
      health.chains.map((c: { name: string; chain_id: number }) => [c.name, c.chain_id]),
      [
        ["alpha", 31_337],
        ["beta", 31_338],
      ],
    );
  });

  let merchantKey: { authorization: string } | undefined;
  /** A merchant account that has proven the payout address the orders name (made once). */
  async function provenMerchant() {
    if (merchantKey) return merchantKey;
    const created = await system.app.inject({
      method: "POST",
      url: "/admin/merchants",
      headers: admin,
      payload: { email: "two-chains@example.com", plan: "seller" },
    });
    assert.equal(created.statusCode, 200, created.body);
    const key = { authorization: created.json().api_key as string };
    await proveAddress(system, key.authorization, {
      address: alpha.merchant,
      signMessage: (message) => alpha.wallet.signMessage({ account: alpha.merchant, message }),
    });
    merchantKey = key;
    return key;
  }

  it("shows a merchant's ledger and contract balances on every chain, each entry naming its chain", async function () {
    // Runs after the orders above were paid on both chains to the same payout address.
    const key = await provenMerchant();
    const history = await system.app.inject({ method: "GET", url: "/user/history", headers: key });
    assert.equal(history.statusCode, 200, history.body);
    const body = history.json() as {
      income: { token: string; amount: string; chain_id: number }[];
      balances: { token: string; balance: string; chain_id: number; address: string }[];
    };
    const ethBalances = body.balances.filter((b) => b.token === "ETH");
    assert.deepEqual(ethBalances.map((b) => b.chain_id).sort(), [31_337, 31_338]);
    for (const [chain, id] of [
      [alpha, 31_337],
      [beta, 31_338],
    ] as const) {
      const onChain = (await chain.client.readContract({
        address: chain.contract,
        abi: chain.abi,
        functionName: "balanceOf",
        args: [chain.merchant, `0x${"0".repeat(40)}`],
      })) as bigint;
      assert.ok(onChain > 0n);
      const shown = ethBalances.find((b) => b.chain_id === id);
      assert.equal(shown?.balance, formatEther(onChain));
      assert.equal(
        body.income.find((i) => i.chain_id === id && i.token === "ETH")?.amount,
        formatEther(onChain),
      );
    }
  });

  it("lists the deposits waiting to be swept on every chain, each naming its chain", async function () {
    // No sweeper runs here: plain transfers to each chain's deposit address wait in the console.
    const key = await provenMerchant();
    const a = await createOrder("alpha", "3.00");
    const b = await createOrder("beta", "3.00");
    for (const [chain, o] of [
      [alpha, a],
      [beta, b],
    ] as const) {
      const hash = await chain.wallet.sendTransaction({
        account: chain.customer,
        to: o.address as `0x${string}`,
        value: parseEther(o.expected_amount),
        chain: null,
      });
      await chain.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    }
    await Promise.all([alpha.mine(CONFIRMATIONS), beta.mine(CONFIRMATIONS)]);
    type Waiting = { chain_id: number; address: string; token: string; amount: string }[];
    const waiting = await until(
      async () => {
        const res = await system.app.inject({ method: "GET", url: "/console/deposits", headers: key });
        assert.equal(res.statusCode, 200, res.body);
        const { deposits } = res.json() as { deposits: Waiting };
        return deposits.length >= 2 ? deposits : undefined;
      },
      30_000,
      "deposits on both chains listed",
    );
    const shown = waiting
      .map((d) => [d.chain_id, d.address.toLowerCase(), d.token, d.amount])
      .sort((x, y) => Number(x[0]) - Number(y[0]));
    assert.deepEqual(shown, [
      [31_337, a.address.toLowerCase(), "ETH", a.expected_amount],
      [31_338, b.address.toLowerCase(), "ETH", b.expected_amount],
    ]);
  });

  it("rolls back a reorg on one chain and leaves the other chain's rows untouched", async function () {
    const a = await createOrder("alpha");
    await pay(alpha, a.id, a.expected_amount);
    await until(statusIs(a.id, "success"), 30_000, "alpha order success");
    await waitUntilIndexed(testDb.db, alpha.client, { chainId: 31_337n });
    const alphaBefore = await chainState(31_337);

    const b = await createOrder("beta");
    const snapshot = await beta.snapshot();
    await pay(beta, b.id, b.expected_amount);
    await until(statusIs(b.id, "success"), 30_000, "beta order success");
    await beta.revert(snapshot);
    await beta.mine(2); // a longer branch without the payment
    await until(statusIs(b.id, "pending"), 30_000, "beta order pending again after the reorg");
    await waitUntilIndexed(testDb.db, beta.client, { chainId: 31_338n });

    assert.deepEqual(await chainState(31_337), alphaBefore);
    assert.equal((await order(a.id)).status, "success");
    const betaAfter = await chainState(31_338);
    assert.ok(!betaAfter.events.some((e) => (e as { order_id: string | null }).order_id === String(b.id)));
  });

  it("refuses only the failed chain's orders after a reorg past its finality window", async function () {
    const snapshot = await beta.snapshot();
    await beta.mine(FINALITY + 4);
    await waitUntilIndexed(testDb.db, beta.client, { chainId: 31_338n });
    await beta.revert(snapshot);
    // A different first block on the new branch, then a branch longer than the old one.
    await beta.wallet.sendTransaction({ account: beta.other, to: beta.merchant, value: 1n, chain: null });
    await beta.mine(FINALITY + 6);

    const health = await until(
      async () => {
        const res = await system.app.inject({ method: "GET", url: "/health", headers: admin });
        return res.statusCode === 503
          ? (res.json() as {
              status: string;
              unavailable: string[];
              chains: { indexer: { state: string } }[];
            })
          : undefined;
      },
      30_000,
      "health 503",
    );
    assert.equal(health.status, "unavailable");
    assert.equal(health.unavailable.length, 1);
    assert.match(
      health.unavailable[0] ?? "",
      /^beta \(chain 31338\): .*reorg deeper than the finality window/,
    );
    assert.notEqual(health.chains[0]?.indexer.state, "failed");
    assert.equal(health.chains[1]?.indexer.state, "failed");

    const refused = await system.app.inject({
      method: "POST",
      url: "/order",
      payload: { amount: "1.00", address: alpha.merchant, callback: `${receiver.url}/beta`, chain: "beta" },
    });
    assert.equal(refused.statusCode, 503, refused.body);
    assert.equal(refused.json().error.code, "chain_unavailable");
    assert.match(refused.json().error.message, /beta \(chain 31338\)/);

    // The other chain still takes orders and sees them paid.
    const a = await createOrder("alpha");
    await pay(alpha, a.id, a.expected_amount);
    await alpha.mine(CONFIRMATIONS);
    await until(statusIs(a.id, "complete"), 30_000, "alpha order complete after beta failed");
  });
});
