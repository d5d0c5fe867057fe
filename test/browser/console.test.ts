/// <reference lib="dom" />
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "mocha";
import type { Browser, Page } from "playwright-core";
import { getAddress, parseAbi, type Hex } from "viem";
import { resolveSecrets } from "../../server/src/callbacks/secrets.ts";
import { createMerchant, setPlugins } from "../../server/src/merchants/service.ts";
import type { System } from "../../server/src/system.ts";
import {
  assertClean,
  checkAccessibility,
  openPage,
  startBrowserSystem,
  type BrowserSystem,
  type WalletMode,
} from "../helpers/browser.ts";
import { onRealPostgres, type TestDb } from "../support/db.ts";
import type { NodeChain } from "../support/node-system.ts";
import { until } from "../support/until.ts";

/** Set to a folder to keep screenshots (docs/screenshots is what the README links). */
const SCREENSHOTS = process.env.WEB_SCREENSHOTS;
const CONFIRMATIONS = 2;
const ETH = "0x0000000000000000000000000000000000000000";
const processorAbi = parseAbi([
  "function pay(address merchant, bytes32 orderId) payable",
  "function balanceOf(address merchant, address token) view returns (uint256)",
]);

interface OrderJson {
  id: number;
  reference: Hex;
  status: string;
  expected_amount: string;
  payment_url: string;
}

/**
 * The merchant console in Chromium against the real stack, with the injected test wallet (an
 * EIP-1193 provider announced by EIP-6963, signing with the node's Hardhat dev keys): sign-in by
 * API key and by Sign-In with Ethereum, a refused signature, a refund and a withdrawal each after
 * a preview and a wrong-network prompt, and never another merchant's data.
 */
describe(`merchant console in Chromium (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  this.timeout(180_000);
  let stack: BrowserSystem;
  let chain: NodeChain;
  let testDb: TestDb;
  let system: System;
  let browser: Browser;
  let base: string;
  let keyA: string;
  let keyB: string;

  before(async function () {
    stack = await startBrowserSystem({
      env: { CONFIRMATIONS: String(CONFIRMATIONS), ETH_USD_PRICE: "2500.00" },
    });
    ({ chain, testDb, system, browser, baseUrl: base } = stack);
    keyA = (await createMerchant(testDb.db, "a@example.com", "seller")).apiKey;
    keyB = (await createMerchant(testDb.db, "b@example.com", "seller")).apiKey;
  });

  after(async function () {
    await stack?.close();
  });

  async function screenshot(page: Page, name: string) {
    if (!SCREENSHOTS) return;
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  }

  const countOrders = async () =>
    Number((await testDb.db.query<{ n: string }>("SELECT count(*)::text AS n FROM orders")).rows[0]?.n);

  async function paidOrder(key: string, payout: `0x${string}`, amount: string): Promise<OrderJson> {
    const res = await system.app.inject({
      method: "POST",
      url: "/order",
      headers: { authorization: key },
      payload: { amount, address: payout, callback: "http://127.0.0.1:9/cb" },
    });
    assert.equal(res.statusCode, 200, res.body);
    const order = res.json() as OrderJson;
    const wei = BigInt(Math.round(Number(order.expected_amount) * 1e8)) * 10n ** 10n;
    await chain.client.waitForTransactionReceipt({
      hash: await chain.wallet.writeContract({
        address: chain.contract,
        abi: processorAbi,
        functionName: "pay",
        args: [payout, order.reference],
        value: wei,
        account: chain.customer,
        chain: null,
      }),
    });
    await chain.mine(CONFIRMATIONS);
    await until(
      async () => {
        const r = await system.app.inject({
          method: "GET",
          url: `/order/${order.id}`,
          headers: { authorization: key },
        });
        return r.json().status === "complete" ? true : undefined;
      },
      20_000,
      "order complete",
    );
    return order;
  }

  const contractBalance = (merchant: `0x${string}`) =>
    chain.client.readContract({
      address: chain.contract,
      abi: processorAbi,
      functionName: "balanceOf",
      args: [merchant, ETH],
    }) as Promise<bigint>;

  const open = (wallet?: WalletMode, width?: number) =>
    openPage(browser, `${base}/console`, wallet ? { wallet, rpcUrl: chain.url, width } : { width });

  /** Opens a console section by its tab (each section has its own address, /console/<section>). */
  async function goTo(page: Page, section: string) {
    await page.click(`nav.tabs a[data-section="${section}"]`);
    await page.waitForSelector(`#section-${section}:not([hidden])`);
  }

  async function signedIn(page: Page) {
    await page.waitForFunction(() => !(document.getElementById("app") as HTMLElement).hidden, null, {
      timeout: 15_000,
    });
  }

  it("signs in with the API key, links the wallet's payout address by SIWE, then signs in by SIWE alone; a refused signature or an unlinked address signs in nobody", async function () {
    const opened = await open({ account: chain.merchant });
    const { page } = opened;
    await page.waitForSelector("#signin:not([hidden])");
    await screenshot(page, "console-signin-desktop");
    await checkAccessibility(page, "console sign-in");
    await page.fill("#apikey", keyA);
    await page.click("#apikey-form button[type=submit]");
    await signedIn(page);
    assert.equal(await page.textContent("#who-name"), "a@example.com");
    assert.equal(await page.textContent("#who-address"), "(API key)");

    // Exports (in Settings): a labelled date range and one link per CSV; a link downloads the CSV with the session cookie.
    await goTo(page, "settings");
    assert.equal(await page.locator("#export-links a[data-export]").count(), 6);
    await page.getByLabel("From (UTC, included)").fill("2026-01-01");
    await page.getByLabel("Through (UTC, included)").fill("2026-01-31");
    assert.equal(
      await page.getAttribute('#export-links a[data-export="payments"]', "href"),
      "/export/payments.csv?from=2026-01-01&to=2026-02-01",
    );
    await page.getByLabel("From (UTC, included)").fill("");
    await page.getByLabel("Through (UTC, included)").fill("");
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.click('#export-links a[data-export="orders"]'),
    ]);
    assert.equal(download.suggestedFilename(), "orders_start_now.csv");
    const csv = await readFile(await download.path(), "utf8");
    assert.match(csv, /^\ufeffcreated_at,order_id,status,/);

    // The cookie: HttpOnly, SameSite=Strict; the database keeps only its hash.
    const cookie = (await opened.context.cookies()).find((c) => c.name === "epos_session");
    assert.ok(cookie && cookie.httpOnly && cookie.sameSite === "Strict", JSON.stringify(cookie));
    const stored = await testDb.db.query<{ token_hash: string }>("SELECT token_hash FROM web_sessions");
    assert.ok(stored.rows.every((r) => r.token_hash !== cookie.value && /^[0-9a-f]{64}$/.test(r.token_hash)));

    // Connecting the wallet signs a SIWE message and proves the payout address for this account;
    // linking a new wallet from a session needs the API key again (R2-3).
    await page.fill("#link-key", keyA);
    await page.click("#connect");
    await page.waitForFunction(
      (a) => document.querySelector("#who-address code")?.getAttribute("title") === a,
      getAddress(chain.merchant),
    );
    const signed = opened.walletCalls.filter((c) => c.method === "personal_sign");
    assert.equal(signed.length, 1);
    const proven = await testDb.db.query<{ address: string }>(
      "SELECT address FROM merchant_addresses WHERE merchant_id = (SELECT id FROM merchants WHERE email = 'a@example.com')",
    );
    assert.deepEqual(
      proven.rows.map((r) => r.address),
      [chain.merchant.toLowerCase()],
    );
    await page.waitForSelector(`#linked button[aria-label="Unlink ${getAddress(chain.merchant)}"]`);

    await page.click("#sign-out");
    await page.waitForSelector("#signin:not([hidden])");
    // Signed out: the API answers 401 to the old cookie too.
    assert.equal(
      await page.evaluate(async () => (await (await fetch("/console/session")).json()).signed_in),
      false,
    );

    // SIWE alone now signs in to account A.
    await page.click("#siwe");
    await signedIn(page);
    assert.equal(await page.textContent("#who-name"), "a@example.com");
    assertClean(opened);
    await opened.close();

    // A refused signature: nobody is signed in, and the page says why.
    const refused = await open({ account: chain.merchant, rejectSign: true });
    await refused.page.click("#siwe");
    await refused.page.waitForFunction(() => (document.getElementById("error")?.textContent ?? "") !== "");
    assert.match((await refused.page.textContent("#error")) ?? "", /declined the request in your wallet/);
    assert.equal(await refused.page.isVisible("#app"), false);
    assert.equal(
      await refused.page.evaluate(async () => (await (await fetch("/console/session")).json()).signed_in),
      false,
    );
    assertClean(refused);
    await refused.close();

    // An address no account has proven.
    const stranger = await open({ account: chain.other });
    await stranger.page.click("#siwe");
    await stranger.page.waitForFunction(() => (document.getElementById("error")?.textContent ?? "") !== "");
    assert.match((await stranger.page.textContent("#error")) ?? "", /not a proven payout address/);
    assert.equal(await stranger.page.isVisible("#app"), false);
    await stranger.close();
  });

  it("refunds half of an order to its payer and withdraws the rest, each signed by the wallet after a preview and a switch-network prompt; another merchant's order never shows", async function () {
    const order = await paidOrder(keyA, getAddress(chain.merchant), "10.00"); // 0.004 ETH
    const other = await paidOrder(keyB, getAddress(chain.other), "5.00");
    assert.equal(await contractBalance(chain.merchant), 4_000_000_000_000_000n);

    const opened = await open({ account: chain.merchant, wrongChain: 1 });
    const { page } = opened;
    await page.click("#siwe");
    await signedIn(page);

    // Balances read from the contract, and this merchant's orders only.
    await goTo(page, "orders");
    await page.waitForSelector(`#order-${order.id}`);
    assert.equal(await page.isVisible(`#order-${other.id}`), false);
    await page.waitForFunction(() => document.querySelector("#balances .balance")?.textContent === "0.004");
    await page.fill("#order-search", String(other.id));
    await page.click("#order-filter button[type=submit]");
    await page.waitForFunction(() =>
      /No order \d+ in this account/.test(document.getElementById("orders")?.textContent ?? ""),
    );
    await page.fill("#order-search", "");
    await page.selectOption("#status-filter", "complete");
    await page.waitForSelector(`#order-${order.id}`);
    await screenshot(page, "console-desktop");
    await checkAccessibility(page, "console");
    // The row's Deliveries and Refund buttons do not touch.
    const [deliveries, refund] = await Promise.all(
      [`Callback deliveries of order ${order.id}`, `Refund order ${order.id}`].map((label) =>
        page.$eval(`#order-${order.id} button[aria-label="${label}"]`, (b) => {
          const r = b.getBoundingClientRect();
          return { left: r.left, right: r.right, top: r.top, bottom: r.bottom };
        }),
      ),
    );
    const apart =
      (refund as { left: number }).left - (deliveries as { right: number }).right >= 6 ||
      (refund as { top: number }).top - (deliveries as { bottom: number }).bottom >= 6;
    assert.ok(apart, `the buttons touch: ${JSON.stringify({ deliveries, refund })}`);

    // Refund: the preview is prefilled with the payer and the amount paid; the wallet is on the
    // wrong network, so it asks to switch first, and the wallet refuses.
    await page.click(`#order-${order.id} button[aria-label="Refund order ${order.id}"]`);
    await page.waitForSelector("#preview[open]");
    await page.waitForFunction(
      (a) => (document.getElementById("pv-to") as HTMLInputElement).value === a,
      getAddress(chain.customer),
    );
    assert.equal(await page.inputValue("#pv-amount"), "0.004");
    assert.equal(await page.textContent("#pv-token"), "ETH");
    assert.equal(await page.textContent("#pv-chain"), "Hardhat local chain (chain id 31337)");
    assert.equal(await page.textContent("#pv-from"), getAddress(chain.merchant));
    await page.waitForSelector("#pv-chain-warning:not([hidden])");
    assert.match(
      (await page.textContent("#pv-chain-warning")) ?? "",
      /on chain id 1; this refund is on Hardhat local chain/,
    );
    await screenshot(page, "console-refund-wrong-chain");
    await page.click("#pv-switch");
    await page.waitForFunction(() =>
      /stayed on another network/.test(document.getElementById("pv-error")?.textContent ?? ""),
    );
    assert.ok(opened.walletCalls.some((c) => c.method === "wallet_switchEthereumChain"));
    assert.equal(
      opened.walletCalls.filter((c) => c.method === "eth_sendTransaction").length,
      0,
      "nothing sent",
    );

    // The wallet switches; half is refunded.
    await opened.setWallet({ account: chain.merchant });
    await page.click("#pv-switch");
    await page.waitForSelector("#pv-chain-warning[hidden]", { state: "attached" });
    const payerBefore = await chain.client.getBalance({ address: chain.customer });
    await page.fill("#pv-amount", "0.002");
    await page.click("#pv-confirm");
    await page.waitForFunction(
      () => /^Confirmed in block/.test(document.getElementById("pv-status")?.textContent ?? ""),
      null,
      {
        timeout: 20_000,
      },
    );
    assert.equal(
      (await chain.client.getBalance({ address: chain.customer })) - payerBefore,
      2_000_000_000_000_000n,
    );
    assert.equal(await contractBalance(chain.merchant), 2_000_000_000_000_000n);
    await page.click("#pv-close");

    // Withdraw the rest: the preview offers all of it, to the signed-in address.
    await page.waitForFunction(
      () => document.querySelector("#balances .balance")?.textContent === "0.002",
      null,
      {
        timeout: 20_000,
      },
    );
    await goTo(page, "balances");
    await page.click('#balances button[aria-label^="Withdraw"]');
    await page.waitForSelector("#preview[open]");
    assert.equal(await page.inputValue("#pv-amount"), "0.002");
    assert.equal(await page.inputValue("#pv-to"), getAddress(chain.merchant));
    await page.click("#pv-confirm");
    await page.waitForFunction(
      () => /^Confirmed in block/.test(document.getElementById("pv-status")?.textContent ?? ""),
      null,
      {
        timeout: 20_000,
      },
    );
    assert.equal(await contractBalance(chain.merchant), 0n);
    await page.click("#pv-close");
    await page.waitForFunction(
      () => document.querySelector("#balances .balance")?.textContent === "0",
      null,
      {
        timeout: 20_000,
      },
    );
    const sent = opened.walletCalls.filter((c) => c.method === "eth_sendTransaction");
    assert.equal(sent.length, 2, "refund, then withdraw");
    for (const call of sent) {
      const tx = (call.params as { to: string; from: string }[])[0];
      assert.equal(getAddress(tx?.to as string), getAddress(chain.contract));
      assert.equal(getAddress(tx?.from as string), getAddress(chain.merchant));
    }
    // The callback secret: rotated with a 24 h overlap, the new one shown once; both sign meanwhile.
    const { rows: before } = await testDb.db.query<{ callback_secret: string; id: bigint }>(
      "SELECT id, callback_secret FROM merchants WHERE email = 'a@example.com'",
    );
    const old = before[0] as { callback_secret: string; id: bigint };
    await goTo(page, "callbacks");
    await page.click("#rotate-secret");
    await page.waitForSelector("#secret-box:not([hidden])");
    const shown = (await page.textContent("#secret-value")) ?? "";
    assert.match(shown, /^[0-9a-f]{64}$/);
    assert.match((await page.textContent("#secret-note")) ?? "", /previous secret signs too until/);
    const resolve = resolveSecrets(testDb.db, {
      callbackSecret: "x".repeat(32),
      eletropayCallbackSecret: undefined,
    });
    assert.deepEqual(await resolve(`merchant:${old.id}`), [shown, old.callback_secret]);
    // Past the overlap, only the new secret signs.
    await testDb.db.query(
      "UPDATE merchants SET callback_secret_previous_until = now() - interval '1 second' WHERE id = $1",
      [old.id],
    );
    assert.deepEqual(await resolve(`merchant:${old.id}`), [shown]);

    await page.setViewportSize({ width: 375, height: 812 });
    await screenshot(page, "console-phone");
    assertClean(opened);
    await opened.close();

    // Another merchant's session sees none of A's data.
    const b = await openPage(browser, `${base}/console`);
    await b.page.fill("#apikey", keyB);
    await b.page.click("#apikey-form button[type=submit]");
    await signedIn(b.page);
    await goTo(b.page, "orders");
    await b.page.waitForSelector(`#order-${other.id}`);
    assert.equal(await b.page.isVisible(`#order-${order.id}`), false);
    const peek = await b.page.evaluate(async (id) => (await fetch(`/order/${id}`)).status, order.id);
    assert.ok(peek === 404 || peek === 403, `another merchant's order answers ${peek}`);
    await b.close();
  });

  it("refuses to sign a refund for an order the account no longer has (a new local chain clears dev orders)", async function () {
    const order = await paidOrder(keyA, getAddress(chain.merchant), "2.00");
    const balance = await contractBalance(chain.merchant);
    const opened = await open({ account: chain.merchant });
    const { page } = opened;
    await page.fill("#apikey", keyA);
    await page.click("#apikey-form button[type=submit]");
    await signedIn(page);
    await goTo(page, "orders");
    await page.waitForSelector(`#order-${order.id}`);
    // The page still lists it; the server no longer has it (npm start on a new chain clears orders).
    await testDb.db.query("DELETE FROM orders WHERE id = $1", [order.id]);
    await page.click(`#order-${order.id} button[aria-label="Refund order ${order.id}"]`);
    await page.waitForSelector("#preview[open]");
    await page.waitForSelector("#pv-chain-warning[hidden]", { state: "attached" });
    await page.fill("#pv-to", getAddress(chain.customer));
    await page.click("#pv-confirm");
    await page.waitForFunction(
      (id) =>
        new RegExp(`Order ${id} is not an order of this account`).test(
          document.getElementById("pv-error")?.textContent ?? "",
        ),
      order.id,
    );
    assert.equal(
      opened.walletCalls.filter((c) => c.method === "eth_sendTransaction").length,
      0,
      "nothing signed",
    );
    assert.equal(await contractBalance(chain.merchant), balance);
    await opened.close();
  });

  it("point of sale: a terminal key signs in a phone, the keypad makes an order, a plain transfer shows PAID within 2 s of its block; the key can do nothing else", async function () {
    await testDb.db.query(
      `INSERT INTO merchant_addresses (merchant_id, address)
       SELECT id, $1 FROM merchants WHERE email = 'a@example.com' ON CONFLICT DO NOTHING`,
      [chain.merchant.toLowerCase()],
    );
    const created = await system.app.inject({
      method: "POST",
      url: "/user/terminal-keys",
      headers: { authorization: keyA },
      payload: { label: "Front counter", address: chain.merchant, callback: "http://127.0.0.1:9/cb" },
    });
    assert.equal(created.statusCode, 200, created.body);
    const terminalKey = created.json().key as string;
    assert.match(terminalKey, /^epos_term_[0-9a-f]{12}_[0-9a-f]{48}$/);
    // Only proven payout addresses.
    const unproven = await system.app.inject({
      method: "POST",
      url: "/user/terminal-keys",
      headers: { authorization: keyA },
      payload: { label: "Back door", address: chain.other, callback: "http://127.0.0.1:9/cb" },
    });
    assert.equal(unproven.statusCode, 400);
    assert.equal(unproven.json().error.code, "address_not_proven");

    // What the terminal key may not do.
    // As a browser on the console's origin sends them (state-changing requests need it, R2-10).
    const origin = base;
    const signin = await system.app.inject({
      method: "POST",
      url: "/console/session",
      headers: { origin },
      payload: { terminal_key: terminalKey },
    });
    assert.equal(signin.statusCode, 200, signin.body);
    assert.equal(signin.json().kind, "terminal");
    const cookie = String(signin.headers["set-cookie"]).split(";")[0] as string;
    for (const [method, url] of [
      ["GET", "/user/history"],
      ["GET", "/history"],
      ["GET", "/user"],
      ["POST", "/user/terminal-keys"],
    ] as const) {
      const res = await system.app.inject({
        method,
        url,
        headers: { cookie, origin },
        payload: method === "POST" ? {} : undefined,
      });
      assert.ok(
        res.statusCode === 403 || res.statusCode === 400,
        `${method} ${url} as a terminal: ${res.statusCode}`,
      );
      if (res.statusCode === 403) assert.equal(res.json().error.code, "terminal_not_allowed");
    }
    const direct = await system.app.inject({
      method: "POST",
      url: "/order",
      headers: { cookie, origin },
      payload: { amount: "1.00", address: chain.other, callback: "http://127.0.0.1:9/cb" },
    });
    assert.equal(direct.statusCode, 403, "a terminal cannot name another payout address");

    // The cashier's phone.
    const opened = await openPage(browser, `${base}/pos`, { width: 390, height: 844 });
    const { page } = opened;
    await page.waitForSelector("#signin:not([hidden])");
    await page.fill("#terminal-key", terminalKey);
    await page.click("#key-form button[type=submit]");
    await page.waitForSelector("#keypad-screen:not([hidden])");
    assert.equal(await page.isVisible("#token-row"), false, "one token: nothing to choose");
    for (const key of ["4", "5", "0"]) await page.click(`.key[data-key="${key}"]`);
    assert.equal(await page.textContent("#pos-amount"), "4.50");
    await screenshot(page, "pos-keypad-phone");
    await checkAccessibility(page, "POS keypad");
    // The shop's Wi-Fi drops the first answer: the order is made, the page never hears of it. The
    // cashier taps Charge again, and the sale's Idempotency-Key gives back the same order.
    const ordersBefore = await countOrders();
    const keys: string[] = [];
    await page.route("**/pos/order", async (route) => {
      keys.push(route.request().headers()["idempotency-key"] ?? "");
      if (keys.length > 1) return route.continue();
      const answered = await route.fetch();
      assert.equal(answered.status(), 200, await answered.text());
      await route.abort("connectionreset");
    });
    await page.click("#charge");
    await page.waitForFunction(() => (document.getElementById("error")?.textContent ?? "") !== "");
    assert.match((await page.textContent("#error")) ?? "", /No answer from the server/);
    assert.equal(await page.isVisible("#keypad-screen"), true, "still on the keypad, amount kept");
    await page.click("#charge");
    await page.waitForSelector("#qr-screen:not([hidden])");
    await page.unroute("**/pos/order");
    assert.equal(keys.length, 2);
    assert.match(keys[0] as string, /^pos-[0-9a-f]{32}-4\.50-/);
    assert.equal(keys[1], keys[0], "the retry is the same sale");
    assert.equal(await countOrders(), ordersBefore + 1, "one order for the sale, not two");
    // The reset connection is this test's doing, not the page's.
    opened.problems.splice(
      0,
      opened.problems.length,
      ...opened.problems.filter((p) => !p.includes("/pos/order") && !p.includes("ERR_CONNECTION_RESET")),
    );
    await page.waitForFunction(
      () => (document.getElementById("pos-qr") as HTMLImageElement).naturalWidth > 0,
    );
    const id = Number(await page.textContent("#qr-order"));
    const order = (
      await system.app.inject({ method: "GET", url: `/order/${id}`, headers: { authorization: keyA } })
    ).json() as OrderJson & { address: `0x${string}`; return_to: string };
    assert.equal(order.return_to, getAddress(chain.merchant), "the key's payout address");
    assert.equal(order.expected_amount, "0.0018"); // $4.50 at $2500/ETH
    const qrWidth = await page.$eval("#pos-qr", (img) => img.getBoundingClientRect().width);
    assert.ok(qrWidth >= 340, `the QR fills a phone's width (${qrWidth}px)`);
    await screenshot(page, "pos-qr-phone");
    await checkAccessibility(page, "POS QR");
    // A tablet on the counter, turned to the customer: the QR still fills the screen.
    const phone = page.viewportSize();
    await page.setViewportSize({ width: 1024, height: 768 });
    const tabletQr = await page.$eval("#pos-qr", (img) => img.getBoundingClientRect().width);
    assert.ok(tabletQr >= 400, `the QR fills a tablet's screen (${tabletQr}px)`);
    await screenshot(page, "pos-qr-tablet");
    if (phone) await page.setViewportSize(phone);

    // The customer pays by a plain transfer to the order's address.
    const hash = await chain.wallet.sendTransaction({
      to: order.address,
      value: 1_800_000_000_000_000n,
      account: chain.customer,
      chain: null,
    });
    await chain.client.waitForTransactionReceipt({ hash });
    const mined = Date.now();
    await page.waitForFunction(() => document.getElementById("qr-state")?.dataset.tone === "paid", null, {
      timeout: 10_000,
    });
    const ms = Date.now() - mined;
    assert.ok(ms < 2_000, `PAID shown ${ms} ms after the block`);
    assert.match((await page.textContent("#qr-state")) ?? "", /^✓ PAID/);
    assert.equal(await page.isVisible("#pos-qr"), false, "the QR gives way to the paid state");
    await screenshot(page, "pos-paid-phone");
    assertClean(opened);
    await opened.close();

    // The deposit waits to be swept; the console sweeps it with the merchant's wallet, and the
    // order completes.
    await chain.mine(CONFIRMATIONS);
    const consoleTab = await open({ account: chain.merchant });
    await consoleTab.page.click("#siwe");
    await signedIn(consoleTab.page);
    await goTo(consoleTab.page, "balances");
    await consoleTab.page.waitForSelector("#sweeps button", { timeout: 20_000 });
    // The deposit address is shortened, the full address in its title.
    assert.match(
      (await consoleTab.page.textContent(`#deposits tr:has(code[title="${order.address}"])`)) ?? "",
      /ETH\s*0\.0018/,
    );
    await consoleTab.page.click("#sweeps button");
    await consoleTab.page.waitForSelector("#preview[open]");
    assert.match((await consoleTab.page.textContent("#pv-action")) ?? "", /Sweep 1 deposit/);
    await consoleTab.page.click("#pv-confirm");
    await consoleTab.page.waitForFunction(
      () => /^Confirmed in block/.test(document.getElementById("pv-status")?.textContent ?? ""),
      null,
      { timeout: 20_000 },
    );
    await chain.mine(CONFIRMATIONS);
    await until(
      async () => {
        const r = await system.app.inject({
          method: "GET",
          url: `/order/${id}`,
          headers: { authorization: keyA },
        });
        return r.json().status === "complete" ? true : undefined;
      },
      20_000,
      "the swept order completes",
    );
    await consoleTab.page.waitForSelector("#sweeps button", { state: "detached", timeout: 20_000 });
    assertClean(consoleTab);
    await consoleTab.close();
  });

  it("lists the account's subscriptions with their status and pay link, cancels one, and never shows another merchant's", async function () {
    await setPlugins(testDb.db, "a@example.com", { recurring_payments: true });
    await setPlugins(testDb.db, "b@example.com", { recurring_payments: true });
    const subscribe = async (key: string, title: string) => {
      const res = await system.app.inject({
        method: "POST",
        url: "/recurring",
        headers: { authorization: key },
        payload: {
          amount: "9.99",
          address: chain.merchant,
          callback: "http://127.0.0.1:9/recurring",
          item_title: title,
        },
      });
      assert.equal(res.statusCode, 200, res.body);
      return res.json() as { id: number; address: string; payment_url: string };
    };
    const mine = await subscribe(keyA, "Gym membership");
    const theirs = await subscribe(keyB, "Someone else's plan");

    const tab = await open();
    await tab.page.fill("#apikey", keyA);
    await tab.page.click("#apikey-form button[type=submit]");
    await signedIn(tab.page);
    await goTo(tab.page, "subscriptions");
    await tab.page.waitForSelector("#subs tbody tr:not(.empty)", { timeout: 15_000 });
    const table = (await tab.page.textContent("#subs")) ?? "";
    assert.match(table, new RegExp(`#${mine.id}\\s*Gym membership`));
    assert.match(table, /\$9\.99 ETH \/ month/);
    assert.doesNotMatch(table, new RegExp(`#${theirs.id}|Someone else`));
    assert.equal(
      await tab.page.getAttribute(`#subs a[href="${mine.payment_url}"]`, "href"),
      mine.payment_url,
    );
    await checkAccessibility(tab.page, "console subscriptions");

    await tab.page.click(`button[aria-label="Cancel subscription ${mine.id}"]`);
    await tab.page.waitForFunction(
      () => /\(cancelled\)/.test(document.getElementById("subs")?.textContent ?? ""),
      null,
      {
        timeout: 15_000,
      },
    );
    const after = await system.app.inject({
      method: "GET",
      url: `/recurring/${mine.id}`,
      headers: { authorization: keyA },
    });
    assert.notEqual(after.json().cancelled_at, null);
    assertClean(tab);
    await tab.close();
  });
});
