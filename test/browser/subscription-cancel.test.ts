/// <reference lib="dom" />
import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import type { Browser } from "playwright-core";
import { getAddress, type Hex } from "viem";
import { createMerchant, setPlugins } from "../../server/src/merchants/service.ts";
import { subscriptionsAbi } from "../../server/src/token-subscriptions/abi.ts";
import {
  assertClean,
  checkAccessibility,
  openPage,
  startBrowserSystem,
  type BrowserSystem,
} from "../helpers/browser.ts";
import { onRealPostgres, type TestDb } from "../support/db.ts";
import type { NodeChain } from "../support/node-system.ts";
import { startTokenSubscriptionChain, tokenAbi } from "../support/token-subscriptions.ts";
import { until } from "../support/until.ts";

interface OnChainCancel {
  required: boolean;
  message: string;
  contract: string;
  open: { id: string; customer: string }[];
  revoke: { token: string; spender: string; amount: string };
}

/**
 * Security review 2, finding R2-4, in Chromium against the real stack (the API listening on loopback,
 * its own indexer following a `hardhat node` process): a token_pull subscription cancelled through
 * the API stays open on chain, where anyone can still collect it. The cancel answer says what the
 * customer must do (on_chain_cancel), the subscription page says it too, and its button sends
 * cancel(id) through the customer's wallet (the injected test wallet): the on-chain subscription is
 * cancelled, and the answer then says nothing more is needed.
 */
describe(`R2-4: cancelling a token_pull subscription on chain from its page (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  this.timeout(180_000);
  let stack: BrowserSystem;
  let chain: NodeChain;
  let testDb: TestDb;
  let browser: Browser;
  let base: string;
  let key: string;
  let token: Hex;
  let subs: Hex;

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
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: key, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : null,
    });
    const json = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 200, JSON.stringify(json));
    return json;
  };
  const onChain = (id: bigint) =>
    chain.client.readContract({
      address: subs,
      abi: subscriptionsAbi,
      functionName: "getSubscription",
      args: [id],
    });

  before(async function () {
    ({
      chain,
      token,
      subscriptions: subs,
    } = await startTokenSubscriptionChain({
      holders: (chain) => [chain.customer],
      mint: 10n ** 12n,
    }));
    stack = await startBrowserSystem({
      chain,
      env: { TOKENS: `USDC:${token}:6`, SUBSCRIPTIONS_ADDRESS: subs, CONFIRMATIONS: "1" },
    });
    ({ testDb, browser, baseUrl: base } = stack);
    key = (await createMerchant(testDb.db, "club@example.com", "seller")).apiKey;
    await setPlugins(testDb.db, "club@example.com", { recurring_payments: true });
  });

  after(async function () {
    await stack?.close();
    await chain?.stop();
  });

  it("the cancel answer and the page say cancel(id) is still needed; the page's button cancels on chain through the customer's wallet", async function () {
    const startS = Number((await chain.client.getBlock()).timestamp) + 3600;
    const created = await api("POST", "/recurring", {
      method: "token_pull",
      token: "USDC",
      amount: "9.99",
      interval: "monthly",
      start: new Date(startS * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"),
      address: chain.merchant,
      callback: "http://127.0.0.1:9/recurring",
      item_title: "Climbing club",
    });
    const call = created.token_pull as {
      contract: Hex;
      args: { merchant: Hex; token: Hex; amountPerPeriod: string; interval: string; start: string; ref: Hex };
      approve: { token: Hex; spender: Hex; amount: string };
    };
    assert.equal(created.on_chain_cancel, undefined, "nothing to say while it runs");
    await send(chain.customer, token, tokenAbi, "approve", [subs, BigInt(call.approve.amount)]);
    const a = call.args;
    await send(chain.customer, subs, subscriptionsAbi, "subscribe", [
      a.merchant,
      a.token,
      BigInt(a.amountPerPeriod),
      BigInt(a.interval),
      BigInt(a.start),
      a.ref,
    ]);
    const id = await chain.client.readContract({
      address: subs,
      abi: subscriptionsAbi,
      functionName: "subscriptionCount",
    });
    // Indexed (the API's view of the on-chain subscription): the customer's cancel needs its id.
    await until(async () => {
      const rows = await testDb.db.query("SELECT 1 FROM token_subscriptions WHERE subscription_id = $1", [
        id.toString(),
      ]);
      return rows.rows.length === 1 ? true : undefined;
    }, 20_000);

    // Cancelled through the API: the answer says the on-chain subscription is still open.
    const cancelled = await api("POST", `/recurring/${created.id}/cancel`);
    assert.ok(cancelled.cancelled_at);
    const cancel = cancelled.on_chain_cancel as OnChainCancel;
    assert.ok(cancel, "the cancel answer carries on_chain_cancel");
    assert.equal(cancel.required, true);
    assert.equal(cancel.contract, getAddress(subs));
    assert.deepEqual(cancel.open, [{ id: id.toString(), customer: getAddress(chain.customer) }]);
    assert.deepEqual(cancel.revoke, { token: getAddress(token), spender: getAddress(subs), amount: "0" });
    assert.match(cancel.message, new RegExp(`subscription ${id} is still open`));
    assert.match(cancel.message, /anyone can call collect/);
    assert.ok(cancel.message.includes(`cancel(${id}) on the Subscriptions contract ${getAddress(subs)}`));
    assert.ok(cancel.message.includes(`approve(${getAddress(subs)}, 0)`));
    assert.deepEqual(
      (await api("GET", `/recurring/${created.id}`)).on_chain_cancel,
      cancel,
      "GET says the same",
    );
    assert.equal((await onChain(id)).cancelled, false, "still open on chain");

    // The page says it, and its button does it through the customer's wallet.
    const opened = await openPage(browser, created.payment_url as string, {
      wallet: { account: chain.customer },
      rpcUrl: chain.url,
    });
    try {
      const { page } = opened;
      assert.match((await page.textContent("#cancelled")) ?? "", /cancelled/);
      assert.equal(await page.textContent("#on-chain-message"), cancel.message);
      assert.equal(await page.textContent(".cancel-call"), `cancel(${id})`);
      assert.equal(await page.locator("#token-pull").count(), 0, "no invitation to subscribe");
      await page.waitForSelector("#cancel-onchain:not([disabled])");
      await checkAccessibility(page, "subscription page, still open on chain");
      await page.click("#cancel-onchain");
      await page.waitForFunction(
        () => /Cancelled on chain/.test(document.getElementById("cancel-message")?.textContent ?? ""),
        null,
        { timeout: 20_000 },
      );
      assert.equal(await page.textContent("#cancel-error"), "");
      const sent = opened.walletCalls.filter((c) => c.method === "eth_sendTransaction");
      assert.equal(sent.length, 1, "one transaction: cancel(id)");
      const tx = (sent[0]?.params as { from: string; to: string; data: string }[])[0];
      assert.equal(tx?.to.toLowerCase(), subs.toLowerCase());
      assert.equal(tx?.data, `0x40e58ee5${id.toString(16).padStart(64, "0")}`);
      const after = await onChain(id);
      assert.equal(after.cancelled, true, "cancelled on chain");
      assertClean(opened);
    } finally {
      await opened.close();
    }

    // Once indexed, the answer and the page say nothing more is needed; no button.
    await until(
      async () =>
        ((await api("GET", `/recurring/${created.id}`)).on_chain_cancel as OnChainCancel).required
          ? undefined
          : true,
      20_000,
    );
    const done = (await api("GET", `/recurring/${created.id}`)).on_chain_cancel as OnChainCancel;
    assert.deepEqual(done.open, []);
    assert.match(done.message, /nothing more can be charged/);
    const again = await openPage(browser, created.payment_url as string);
    try {
      assert.equal(await again.page.textContent("#on-chain-message"), done.message);
      assert.equal(await again.page.locator("#cancel-onchain").count(), 0);
    } finally {
      await again.close();
    }
  });
});
