import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "mocha";
import { parseAbi, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { subscriptionsAbi } from "../../server/src/token-subscriptions/abi.ts";
import { startDevStack, type DevStackProcess } from "../support/dev-stack.ts";
import type { NodeChain } from "../support/node-system.ts";
import { KEEPER_KEY, startTokenSubscriptionChain, tokenAbi } from "../support/token-subscriptions.ts";

/** Hardhat's dev account #9 (KEEPER_KEY): the key `npm start` gives its sweeper and collector on a local chain. */
const DEV_SWEEPER_KEY = KEEPER_KEY;
const processorAbi = parseAbi([
  "function setTokenAllowed(address token, bool allowed)",
  "function balanceOf(address merchant, address token) view returns (uint256)",
]);

/**
 * Security review 2, finding R2-2, against the dev stack (`npm start`, scripts/dev.ts) through HTTP
 * and the chain only. The stack runs as a child process on free ports with its own data directory
 * (embedded PGlite there), following a `hardhat node` process the test owns (RPC_URL: the stack then
 * starts no chain of its own and never runs Ignition, so neither .data/ nor
 * ignition/deployments/chain-31337/ is touched), with the sweeper key and SWEEP_MAX_GAS_SHARE=1 that
 * `npm start` gives its local chain. The attacker subscribes on chain, 1 unit every second to its own
 * address; a merchant's real subscription created through the API is collected by the stack's
 * collector; the attacker's never is, and the key sent nothing else.
 */
describe("R2-2 on the dev stack: the griefing subscription never gets the collector", function () {
  this.timeout(240_000);
  let chain: NodeChain;
  let stack: DevStackProcess;
  let token: Hex;
  let subs: Hex;
  const keeper = privateKeyToAccount(DEV_SWEEPER_KEY).address;

  const send = async (from: Hex, to: Hex, abi: readonly unknown[], functionName: string, args: unknown[]) => {
    const hash = await chain.wallet.writeContract({
      address: to,
      abi: abi as never,
      functionName: functionName as never,
      args: args as never,
      account: from,
      chain: null,
    });
    const receipt = await chain.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    assert.equal(receipt.status, "success");
  };
  const http = async (method: string, path: string, auth: string, body?: unknown) => {
    const res = await fetch(`${stack.apiUrl}${path}`, {
      method,
      headers: { authorization: auth, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : null,
    });
    const json = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 200, `${method} ${path}: ${JSON.stringify(json)}`);
    return json;
  };
  const paidThrough = (id: bigint) =>
    chain.client.readContract({
      address: subs,
      abi: subscriptionsAbi,
      functionName: "paidThrough",
      args: [id],
    });

  before(async function () {
    ({
      chain,
      token,
      subscriptions: subs,
    } = await startTokenSubscriptionChain({
      holders: (chain) => [chain.customer, chain.other],
      mint: 10n ** 12n,
    }));
    stack = await startDevStack({
      env: {
        HOST: "127.0.0.1",
        RPC_URL: chain.url,
        CONTRACT_ADDRESS: chain.contract,
        SUBSCRIPTIONS_ADDRESS: subs,
        TOKENS: `USDC:${token}:6`,
        START_BLOCK: "0",
        CONFIRMATIONS: "1",
        ETH_USD_PRICE: "2000",
        POLL_INTERVAL_MS: "100",
        // What npm start sets on its local chain.
        SWEEPER_PRIVATE_KEY: DEV_SWEEPER_KEY,
        SWEEP_MAX_GAS_SHARE: "1",
      },
    });
  });

  after(async function () {
    await stack?.stop();
    await chain?.stop();
  });

  it("the merchant's API subscription is collected; the attacker's 1-unit-per-second one to itself never is", async function () {
    // The merchant, through the admin API: Seller plan with the Recurring Payments plugin.
    const admin = `Bearer ${stack.adminToken}`;
    const merchant = await http("POST", "/admin/merchants", admin, {
      email: "gym@example.com",
      plan: "seller",
    });
    await http("POST", "/admin/merchants/plugins", admin, {
      email: "gym@example.com",
      recurring_payments: true,
    });
    const key = merchant.api_key as string;

    // The attacker, on chain only: 1 unit every second, paid to itself, due at once.
    const attacker = chain.other;
    await send(attacker, token, tokenAbi, "approve", [subs, 10n ** 12n]);
    await send(attacker, subs, subscriptionsAbi, "subscribe", [
      attacker,
      token,
      1n,
      1n,
      0n,
      `0x${randomBytes(32).toString("hex")}`,
    ]);
    const griefer = await chain.client.readContract({
      address: subs,
      abi: subscriptionsAbi,
      functionName: "subscriptionCount",
    });
    const grieferStart = await paidThrough(griefer);

    // The merchant's real subscription through the API; the customer subscribes with the returned call.
    const startS = Math.floor(Date.now() / 1000) + 20;
    const created = await http("POST", "/recurring", key, {
      method: "token_pull",
      token: "USDC",
      amount: "9.99",
      interval: "monthly",
      start: new Date(startS * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"),
      address: chain.merchant,
      callback: "http://127.0.0.1:9/recurring",
    });
    const pull = created.token_pull as {
      contract: Hex;
      args: { merchant: Hex; token: Hex; amountPerPeriod: string; interval: string; start: string; ref: Hex };
      approve: { amount: string };
    };
    const a = pull.args;
    await send(chain.customer, token, tokenAbi, "approve", [subs, BigInt(pull.approve.amount)]);
    await send(chain.customer, pull.contract, subscriptionsAbi, "subscribe", [
      a.merchant,
      a.token,
      BigInt(a.amountPerPeriod),
      BigInt(a.interval),
      BigInt(a.start),
      a.ref,
    ]);
    const real = await chain.client.readContract({
      address: subs,
      abi: subscriptionsAbi,
      functionName: "subscriptionCount",
    });

    // Chain time past the start; a block every 250 ms (the griefer is due again each second).
    const latest = await chain.client.getBlock();
    await chain.rpc("evm_increaseTime", [Math.max(0, startS - Number(latest.timestamp)) + 5]);
    const deadline = Date.now() + 90_000;
    let view: { periods: { paid: boolean }[] } | undefined;
    while (Date.now() < deadline) {
      await chain.rpc("evm_mine");
      view = (await http("GET", `/recurring/${created.id}`, key)) as typeof view;
      if (view?.periods[0]?.paid) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(
      view?.periods[0]?.paid,
      true,
      `the real subscription was collected\n${stack.output().slice(-3_000)}`,
    );
    assert.equal(
      await paidThrough(real),
      BigInt(a.start) + BigInt(a.interval),
      "period 0 collected on chain",
    );

    // A while longer: the griefer stays due every second and is never collected.
    for (let i = 0; i < 20; i++) {
      await chain.rpc("evm_mine");
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(
      await paidThrough(griefer),
      grieferStart,
      "the attacker's subscription: not one period collected",
    );
    assert.equal(
      await chain.client.getTransactionCount({ address: keeper }),
      1,
      "the shared key sent one transaction: the real subscription's collect",
    );
    assert.equal(
      await chain.client.readContract({
        address: chain.contract,
        abi: processorAbi,
        functionName: "balanceOf",
        args: [attacker, token],
      }),
      0n,
      "the attacker was never paid by the collector",
    );
  });
});
