/// <reference lib="dom" />
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseEthUrl } from "eth-url-parser";
import jsqrModule from "jsqr";
import { after, before, describe, it } from "mocha";
import type { Browser, Page } from "playwright-core";
import { erc20Abi, getAddress, parseAbi, type Hex } from "viem";
import { parseDecimal } from "../../server/src/lib/money.ts";
import { createMerchant } from "../../server/src/merchants/service.ts";
import { setDisplayName } from "../../server/src/merchants/profile.ts";
import type { System } from "../../server/src/system.ts";
import {
  checkAccessibility,
  installTestWallet,
  startBrowserSystem,
  type BrowserSystem,
  type WalletMode,
} from "../helpers/browser.ts";
import { onRealPostgres, type TestDb } from "../support/db.ts";
import type { NodeChain } from "../support/node-system.ts";
import { until } from "../support/until.ts";

// jsqr is a UMD bundle: under Node's ESM loader its default export is the decoder itself.
type DecodeQr = typeof jsqrModule.default;
const jsQR: DecodeQr =
  typeof jsqrModule === "function" ? (jsqrModule as unknown as DecodeQr) : jsqrModule.default;

/** Set to a folder to keep screenshots of the page (desktop and phone width) for a human to look at. */
const SCREENSHOTS = process.env.PAY_PAGE_SCREENSHOTS;
const CONFIRMATIONS = 2;
const TTL_SECONDS = 900;

const processorAbi = parseAbi([
  "function setTokenAllowed(address token, bool allowed)",
  "function balanceOf(address merchant, address token) view returns (uint256)",
]);
const mintAbi = parseAbi(["function mint(address to, uint256 amount)"]);

interface OrderJson {
  id: number;
  reference: string;
  address: `0x${string}`;
  payment_url: string;
  expected_amount: string;
  status: string;
  qr_code: string;
  token: string;
  transaction_id: string;
}

/**
 * The hosted payment page in a real browser (Chromium through playwright-core) against the real
 * stack: the API listening on loopback, the indexer following a `hardhat node` process, and
 * PostgreSQL or PGlite. The QR code must decode to a plain EIP-681 transfer as a phone wallet
 * reads it, and "Pay with browser wallet" must pay through an injected EIP-1193 provider found
 * by EIP-6963, backed by a dev account of the node. The open page follows the order to success
 * and complete by itself.
 */
describe(`payment page in Chromium (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  this.timeout(120_000);
  let stack: BrowserSystem;
  let chain: NodeChain;
  let testDb: TestDb;
  let system: System;
  let browser: Browser;
  let base: string;
  let key: string;
  let usdc: `0x${string}`;

  before(async function () {
    // CHROMIUM_ARGS map shop.lan to loopback: a LAN host name that is not localhost, where the
    // page must work on plain http.
    stack = await startBrowserSystem({
      // The mock USDC, allowlisted, and some for the customer.
      modules: ["usdc"],
      prepare: async (chain, deployed) => {
        await chain.client.waitForTransactionReceipt({
          hash: await chain.wallet.writeContract({
            address: deployed.usdc as `0x${string}`,
            abi: mintAbi,
            functionName: "mint",
            args: [chain.customer, 1_000_000_000n],
            account: chain.owner,
            chain: null,
          }),
        });
      },
      env: {
        CONFIRMATIONS: String(CONFIRMATIONS),
        ORDER_TTL_SECONDS: String(TTL_SECONDS),
        ETH_USD_PRICE: "2500.00",
      },
    });
    ({ chain, testDb, system, browser, baseUrl: base } = stack);
    usdc = stack.usdc as `0x${string}`;
    const created = await createMerchant(testDb.db, "browser@example.com", "seller");
    key = created.apiKey;
    await setDisplayName(testDb.db, created.merchant.id, "Café Aurora");
  });

  after(async function () {
    await stack?.close();
  });

  async function createOrder(payload: Record<string, unknown>): Promise<OrderJson> {
    const created = await system.app.inject({
      method: "POST",
      url: "/order",
      payload: { address: chain.merchant, callback: "http://127.0.0.1:9/cb", ...payload },
      headers: { authorization: key },
    });
    assert.equal(created.statusCode, 200, created.body);
    return created.json() as OrderJson;
  }

  async function orderJson(id: number): Promise<OrderJson> {
    const res = await system.app.inject({
      method: "GET",
      url: `/order/${id}`,
      headers: { authorization: key },
    });
    return res.json() as OrderJson;
  }

  /**
   * Opens a page that records console errors, page errors, failed requests and every URL
   * requested; with `wallet`, the page gets an injected EIP-1193 provider announced by EIP-6963,
   * which forwards to the node from the test process (so the page itself only talks to our server).
   */
  async function open(url: string, options: { wallet?: WalletMode; width?: number; origin?: string } = {}) {
    const context = await browser.newContext({
      viewport: { width: options.width ?? 1000, height: 1400 },
      deviceScaleFactor: 1,
    });
    // Clipboard permissions exist only on secure origins (not on http://shop.lan).
    if (!options.origin)
      await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
    const page = await context.newPage();
    const problems: string[] = [];
    const requested: string[] = [];
    const walletCalls: { method: string; params: unknown }[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    page.on("requestfailed", (r) => {
      // The page closes its own event stream once the order is final; Chromium reports that
      // as an aborted request, which is no failure of the page.
      if (r.url().endsWith("/events") && r.failure()?.errorText === "net::ERR_ABORTED") return;
      problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`);
    });
    page.on("request", (r) => requested.push(r.url()));
    const origin = options.origin ?? base;
    page.on("response", (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
    });
    if (options.wallet) await installTestWallet(page, options.wallet, chain.url, walletCalls);
    const response = await page.goto(url);
    assert.equal(response?.status(), 200);
    const csp = response?.headers()["content-security-policy"] ?? "";
    assert.match(csp, /script-src 'self'(;|$)/, `a strict script policy: ${csp}`);
    return { page, problems, requested, walletCalls, origin, close: () => context.close() };
  }

  /** The QR image's pixels, drawn on a canvas at 2× its size, decoded with jsQR. */
  async function decodeQr(page: Page): Promise<string> {
    const image = await page.evaluate(async () => {
      const img = document.getElementById("qr") as HTMLImageElement;
      await img.decode();
      const size = img.naturalWidth * 2;
      const canvas = document.createElement("canvas");
      canvas.width = size;
      canvas.height = size;
      const ctx = canvas.getContext("2d") as CanvasRenderingContext2D;
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(img, 0, 0, size, size);
      // Base64 crosses the DevTools protocol far faster than an array of numbers.
      const bytes = ctx.getImageData(0, 0, size, size).data;
      let binary = "";
      for (let i = 0; i < bytes.length; i += 0x8000)
        binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return { size, base64: btoa(binary) };
    });
    const pixels = new Uint8ClampedArray(Buffer.from(image.base64, "base64"));
    assert.equal(pixels.length, image.size * image.size * 4);
    const code = jsQR(pixels, image.size, image.size);
    assert.ok(code, "the QR image decodes");
    return code.data;
  }

  /** The QR as a phone camera sees it: a screenshot of the page's image, read by zbarimg. */
  async function zbarQr(page: Page): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), "pay-qr-"));
    try {
      const file = join(dir, "qr.png");
      await page.locator("#qr").screenshot({ path: file });
      const result = spawnSync("zbarimg", ["--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", file], {
        encoding: "utf8",
      });
      // npm test installs zbar-tools (scripts/system-packages.ts): a missing zbarimg fails, never skips.
      assert.equal(
        result.error,
        undefined,
        `zbarimg runs (apt-get install -y zbar-tools): ${result.error?.message}`,
      );
      assert.equal(result.status, 0, `zbarimg reads the QR: ${result.stderr}`);
      return result.stdout.trim();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async function screenshot(page: Page, name: string) {
    if (!SCREENSHOTS) return;
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  }

  const countdownSeconds = async (page: Page) => {
    const text = (await page.textContent("#countdown")) ?? "";
    const match = /^(\d{2}):(\d{2})$/.exec(text);
    assert.ok(match, `countdown shows mm:ss, got "${text}"`);
    return Number(match[1]) * 60 + Number(match[2]);
  };

  /** Waits for the page to show a status; on a timeout, says what the page showed instead. */
  async function waitForStatus(page: Page, status: string) {
    try {
      await page.waitForFunction((s) => document.getElementById("status")?.textContent === s, status, {
        timeout: 30_000,
      });
    } catch (error) {
      const shown = await page.evaluate(() =>
        ["status", "status-message", "wallet-message", "wallet-error"]
          .map((id) => `#${id}: ${document.getElementById(id)?.textContent ?? ""}`)
          .join("; "),
      );
      throw new Error(`the page did not reach "${status}" (${shown})`, { cause: error });
    }
  }

  /** Only this server was contacted, and nothing went wrong in the page. */
  function assertClean(opened: { problems: string[]; requested: string[]; origin?: string }) {
    const foreign = opened.requested.filter((u) => !u.startsWith(`${opened.origin ?? base}/`));
    assert.deepEqual(foreign, [], "no third-party requests");
    assert.deepEqual(opened.problems, []);
  }

  it("ETH: QR and address carry a plain EIP-681 transfer; the browser wallet pays through pay(), and the page follows to success then complete without a reload", async function () {
    const order = await createOrder({ amount: "42.50", item_title: "Espresso machine" });
    // $42.50 at $2500/ETH = 0.017 ETH exactly.
    assert.equal(order.expected_amount, "0.017");
    const wei = parseDecimal(order.expected_amount, 18);
    const opened = await open(order.payment_url, { wallet: { account: chain.customer } });
    const { page } = opened;

    // Amount and price as the API quoted them.
    assert.equal(await page.textContent("h1"), "Espresso machine");
    assert.equal(await page.textContent("#expected"), "0.017");
    // The price is written the English way (Intl): 2,500.00.
    assert.match((await page.textContent(".fiat")) ?? "", /\$42\.50 USD at 2,500\.00 USD\/ETH/);

    // The QR image loads from this server and carries a plain transfer to the order's address,
    // as jsQR, zbarimg and a wallet's EIP-681 parser read it.
    const qr = await page.$eval("#qr", (img) => ({
      src: (img as HTMLImageElement).src,
      complete: (img as HTMLImageElement).complete,
      naturalWidth: (img as HTMLImageElement).naturalWidth,
    }));
    // The image's query names what is due, so a cached image never shows an old amount.
    assert.equal(qr.src, `${order.qr_code}?due=${wei}`);
    assert.ok(qr.complete && qr.naturalWidth > 0, `QR image loaded (naturalWidth ${qr.naturalWidth})`);
    const uri = `ethereum:${order.address}@31337?value=${wei}`;
    assert.equal(await decodeQr(page), uri);
    assert.equal(await zbarQr(page), uri, "zbarimg reads what a phone camera reads");
    const parsed = parseEthUrl(await decodeQr(page));
    assert.equal(parsed.target_address, order.address);
    assert.equal(parsed.chain_id, "31337");
    assert.equal(parsed.function_name, undefined, "a plain transfer, not a contract call");
    assert.equal(BigInt(parsed.parameters?.value ?? "-1"), wei);
    assert.equal(await page.getAttribute("#open-wallet", "href"), uri);

    // The address, with a copy button that puts it on the clipboard.
    assert.equal(await page.textContent("#address"), order.address);
    await page.click("#copy-address");
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), order.address);
    await page.waitForFunction(
      () => document.querySelector("#copy-address .copy-text")?.textContent === "Copied",
    );
    await page.click("#copy-amount");
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "0.017");

    // The countdown starts near the order's TTL and runs down.
    const first = await countdownSeconds(page);
    assert.ok(first <= TTL_SECONDS && first > TTL_SECONDS - 30, `countdown starts near 15:00, got ${first}s`);
    await page.waitForFunction(
      (start) => {
        const [m, s] = (document.getElementById("countdown")?.textContent ?? "").split(":").map(Number);
        return (m as number) * 60 + (s as number) < start;
      },
      first,
      { timeout: 5_000 },
    );
    assert.equal(await page.getAttribute("#status", "data-status"), "pending");

    // The wallet was found by EIP-6963, and the page passes an accessibility check.
    await page.waitForFunction(() => {
      const button = document.getElementById("wallet") as HTMLButtonElement;
      return !button.disabled && button.textContent === "Pay with Test Wallet";
    });
    await screenshot(page, "eth-pending-desktop");
    await page.setViewportSize({ width: 375, height: 812 });
    await screenshot(page, "eth-pending-phone");
    await checkAccessibility(page, "pending ETH order");

    // A marker that a reload or a navigation would wipe out; then pay through the wallet.
    await page.evaluate(() => Object.assign(window, { __noReload: true }));
    const before = (await chain.client.readContract({
      address: chain.contract,
      abi: processorAbi,
      functionName: "balanceOf",
      args: [chain.merchant, "0x0000000000000000000000000000000000000000"],
    })) as bigint;
    await page.click("#wallet");
    await page.waitForFunction(() =>
      /^0x[0-9a-f]{64}$/.test(document.getElementById("tx-hash")?.textContent ?? ""),
    );
    const hash = (await page.textContent("#tx-hash")) as Hex;
    const sent = opened.walletCalls.filter((c) => c.method === "eth_sendTransaction");
    assert.equal(sent.length, 1, "one transaction: pay()");
    const tx = await chain.client.getTransaction({ hash });
    assert.equal(getAddress(tx.from), getAddress(chain.customer));
    assert.equal(getAddress(tx.to as string), getAddress(chain.contract));
    assert.equal(tx.value, wei);
    assert.ok(
      opened.walletCalls.some((c) => c.method === "eth_requestAccounts") &&
        opened.walletCalls.some((c) => c.method === "eth_chainId"),
      "the page asked for the account and checked the chain",
    );

    await waitForStatus(page, "success");
    assert.equal(await page.textContent("#confirmations"), "1 of 2 confirmations");
    assert.equal(await page.textContent("#state-title"), "Payment received");
    assert.equal(await page.isVisible("#options"), false, "no second payment is offered once paid");
    await screenshot(page, "eth-success-phone");
    await chain.mine(CONFIRMATIONS);
    await waitForStatus(page, "complete");
    assert.equal(await page.textContent("#state-title"), "Paid");
    assert.equal(await page.textContent("#confirmations"), "2 of 2 confirmations");
    assert.equal(await page.isVisible(".countdown"), false, "no countdown once paid");
    assert.equal(await page.evaluate(() => (window as { __noReload?: boolean }).__noReload), true);
    await checkAccessibility(page, "complete ETH order");
    await screenshot(page, "eth-complete-phone");

    const final = await orderJson(order.id);
    assert.equal(final.status, "complete");
    assert.equal(final.transaction_id, hash);
    const after = (await chain.client.readContract({
      address: chain.contract,
      abi: processorAbi,
      functionName: "balanceOf",
      args: [chain.merchant, "0x0000000000000000000000000000000000000000"],
    })) as bigint;
    assert.equal(after - before, wei, "the merchant's contract balance grew by the amount");

    // Updates are pushed (Server-Sent Events), not polled: one stream, and at most the one
    // status read the page makes when the wallet reports the transaction mined.
    assert.ok(
      opened.requested.some((u) => u === `${base}/pay/${order.id}/events`),
      "the page follows its status through the event stream",
    );
    assert.ok(opened.requested.filter((u) => u.endsWith("/status")).length <= 1, "no status polling");
    assertClean(opened);
    await opened.close();
  });

  it("USDC: the QR carries the token's transfer to the order's address; the browser wallet approves, then pays through payToken()", async function () {
    const order = await createOrder({ amount: "42.50", token: "USDC", item_title: "Coffee beans, 1 kg" });
    assert.equal(order.token, "USDC");
    assert.equal(order.expected_amount, "42.5");
    const units = 42_500_000n;
    const opened = await open(order.payment_url, { wallet: { account: chain.customer } });
    const { page } = opened;

    const uri = `ethereum:${getAddress(usdc)}@31337/transfer?address=${order.address}&uint256=${units}`;
    assert.equal(await decodeQr(page), uri);
    assert.equal(await zbarQr(page), uri, "zbarimg reads what a phone camera reads");
    const parsed = parseEthUrl(uri);
    assert.equal(parsed.target_address, getAddress(usdc));
    assert.equal(parsed.function_name, "transfer");
    assert.equal(parsed.parameters?.address, order.address);
    assert.equal(BigInt(parsed.parameters?.uint256 ?? "-1"), units);
    assert.equal(await page.textContent("#address"), order.address);
    assert.match((await page.textContent(".hint")) ?? "", /Send exactly 42\.5 USDC/);

    await page.waitForFunction(() => !(document.getElementById("wallet") as HTMLButtonElement).disabled);
    await screenshot(page, "usdc-pending-desktop");
    await checkAccessibility(page, "pending USDC order");
    await page.click("#wallet");
    await waitForStatus(page, "success");
    const sent = opened.walletCalls.filter((c) => c.method === "eth_sendTransaction");
    assert.equal(sent.length, 2, "approve, then payToken");
    const [approve, pay] = sent.map((c) => (c.params as { to: string; data: string }[])[0]);
    assert.equal(getAddress(approve?.to as string), getAddress(usdc));
    assert.ok(approve?.data.startsWith("0x095ea7b3"), "approve(address,uint256)");
    assert.equal(getAddress(pay?.to as string), getAddress(chain.contract));
    assert.ok(pay?.data.startsWith("0xfa8579d5"), "payToken(address,uint256,address,bytes32)");
    assert.ok(pay?.data.endsWith((order.reference as `0x${string}`).slice(2)), "for this order");

    await chain.mine(CONFIRMATIONS);
    await waitForStatus(page, "complete");
    const credited = (await chain.client.readContract({
      address: chain.contract,
      abi: processorAbi,
      functionName: "balanceOf",
      args: [chain.merchant, usdc],
    })) as bigint;
    assert.equal(credited, units);
    const left = await chain.client.readContract({
      address: usdc,
      abi: erc20Abi,
      functionName: "balanceOf",
      args: [chain.customer],
    });
    assert.equal(left, 1_000_000_000n - units);
    assertClean(opened);
    await opened.close();
  });

  it("explains a declined connection, a wrong network the customer won't switch, and insufficient funds, sending nothing", async function () {
    const order = await createOrder({ amount: "5.00" });
    const cases: { mode: WalletMode; message: RegExp }[] = [
      { mode: { account: chain.customer, rejectAccounts: true }, message: /declined the request/ },
      {
        mode: { account: chain.customer, wrongChain: 1 },
        message: /Wrong network: this order is paid on Hardhat local chain \(chain id 31337\)/,
      },
      // An account with nothing in it (not one of the node's dev accounts).
      {
        mode: { account: "0x000000000000000000000000000000000000dEaD" },
        message: /Insufficient funds: your account holds 0 ETH/,
      },
    ];
    for (const { mode, message } of cases) {
      const opened = await open(order.payment_url, { wallet: mode, width: 375 });
      const { page } = opened;
      await page.waitForFunction(() => !(document.getElementById("wallet") as HTMLButtonElement).disabled);
      await page.click("#wallet");
      await page.waitForFunction(() => (document.getElementById("wallet-error")?.textContent ?? "") !== "");
      assert.match((await page.textContent("#wallet-error")) ?? "", message);
      assert.equal(await page.getAttribute("#wallet-error", "role"), "alert");
      assert.deepEqual(
        opened.walletCalls.filter((c) => c.method === "eth_sendTransaction"),
        [],
        "nothing was sent",
      );
      // The customer can try again.
      assert.equal(await page.isEnabled("#wallet"), true);
      if (mode.wrongChain) {
        assert.ok(opened.walletCalls.some((c) => c.method === "wallet_switchEthereumChain"));
        await screenshot(page, "wrong-chain-phone");
      }
      assertClean(opened);
      await opened.close();
    }
    assert.equal((await orderJson(order.id)).status, "pending");
  });

  it("without a wallet in the browser, says so and keeps the QR and address", async function () {
    const order = await createOrder({ amount: "3.00" });
    const opened = await open(order.payment_url);
    const { page } = opened;
    await page.waitForFunction(() =>
      /No wallet extension/.test(document.getElementById("wallet-hint")?.textContent ?? ""),
    );
    assert.equal(await page.isDisabled("#wallet"), true);
    assert.equal(await page.isVisible("#qr"), true);
    assert.equal(await page.textContent("#address"), order.address);
    await checkAccessibility(page, "no wallet");
    assertClean(opened);
    await opened.close();
  });

  it("shows an order that is already expired as expired, without payment options", async function () {
    const order = await createOrder({ amount: "1.00" });
    await testDb.db.query("UPDATE orders SET expires_at = now() - interval '1 second' WHERE id = $1", [
      order.id,
    ]);
    // The indexer decides expiry on its next step; a new block makes sure there is one.
    await chain.mine(1);
    await until(
      async () => ((await orderJson(order.id)).status === "expired" ? true : undefined),
      20_000,
      "order expired",
    );
    const opened = await open(order.payment_url, { width: 375 });
    const { page } = opened;
    await waitForStatus(page, "expired");
    assert.equal(await countdownSeconds(page), 0);
    assert.equal(await page.isVisible("#options"), false, "no QR or address for an expired order");
    assert.equal(await page.textContent("#state-title"), "This order has expired");
    assert.match((await page.textContent("#state-detail")) ?? "", /Nothing was paid/);
    await screenshot(page, "expired-phone");
    await checkAccessibility(page, "expired order");
    assertClean(opened);
    await opened.close();
  });

  const payAbi = parseAbi(["function pay(address merchant, bytes32 orderId) payable"]);
  async function payThroughContract(order: OrderJson, wei: bigint) {
    await chain.client.waitForTransactionReceipt({
      hash: await chain.wallet.writeContract({
        address: chain.contract,
        abi: payAbi,
        functionName: "pay",
        args: [chain.merchant, order.reference as Hex],
        value: wei,
        account: chain.customer,
        chain: null,
      }),
    });
  }

  it("shows the shop's name and the item with its image; underpaid, it says what is missing with a QR for the rest; topped up by the wallet it shows Paid and returns to the shop", async function () {
    const picture = await createOrder({ amount: "1.00" });
    const order = await createOrder({
      amount: "10.00",
      item_title: "Pour-over kit",
      item_description: "Dripper, filters and a glass carafe",
      item_image: `${base}/order/${picture.id}/qr.svg`,
      return_url: `${base}/order/${picture.id}/qr.svg?returned=1`,
    });
    // $10.00 at $2500/ETH.
    assert.equal(order.expected_amount, "0.004");
    const opened = await open(order.payment_url, { wallet: { account: chain.customer }, width: 375 });
    const { page } = opened;
    assert.equal(await page.textContent("#merchant-name"), "Café Aurora");
    assert.equal(await page.textContent("h1"), "Pour-over kit");
    assert.match((await page.title()) ?? "", /Pour-over kit · Café Aurora/);
    await page.waitForFunction(
      () => ((document.querySelector(".item-image") as HTMLImageElement | null)?.naturalWidth ?? 0) > 0,
    );
    assert.equal(await page.textContent("#state-title"), "Waiting for payment");

    // A quarter arrives: the page says what is missing and asks for exactly that.
    await payThroughContract(order, 1_000_000_000_000_000n);
    await page.waitForFunction(() => document.getElementById("state")?.dataset.tone === "partial", null, {
      timeout: 20_000,
    });
    assert.equal(await page.textContent("#state-title"), "Partly paid: 0.003 ETH still to pay");
    assert.match((await page.textContent("#state-detail")) ?? "", /received 0\.001 of the 0\.004 ETH due/);
    assert.equal(await page.textContent("#amount"), "0.003 ETH");
    assert.equal(await page.textContent("#amount-label"), "Still to pay");
    assert.match((await page.textContent("#wallet-hint")) ?? "", /^Pay 0\.003 ETH from a wallet/);
    const rest = `ethereum:${order.address}@31337?value=3000000000000000`;
    await page.waitForFunction((src) => {
      const img = document.getElementById("qr") as HTMLImageElement;
      return img.getAttribute("src") === src && img.complete && img.naturalWidth > 0;
    }, `/order/${order.id}/qr.svg?due=3000000000000000`);
    assert.equal(await decodeQr(page), rest, "the QR asks for the remainder");
    assert.equal(await page.getAttribute("#open-wallet", "href"), rest);
    await page.click("#copy-amount");
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "0.003");
    await screenshot(page, "underpaid-phone");
    await checkAccessibility(page, "underpaid order");

    // The browser wallet pays the rest.
    await page.waitForFunction(() => !(document.getElementById("wallet") as HTMLButtonElement).disabled);
    await page.click("#wallet");
    await waitForStatus(page, "success");
    const sent = opened.walletCalls.filter((c) => c.method === "eth_sendTransaction");
    assert.equal(BigInt((sent[0]?.params as { value: string }[])[0]?.value ?? "0"), 3_000_000_000_000_000n);
    assert.equal(await page.isVisible("#return-line"), true, "the way back to the shop, once paid");
    assert.equal(await page.textContent("#return-link"), "Return to Café Aurora");
    await chain.mine(CONFIRMATIONS);
    await waitForStatus(page, "complete");
    assert.equal(await page.textContent("#state-title"), "Paid");
    assert.equal(await page.isVisible("#options"), false);
    await screenshot(page, "paid-phone");
    // Checked before the page leaves: what the navigation cancels is not the payment page's doing.
    assertClean(opened);
    // Complete: the page goes back to the shop by itself.
    await page.waitForURL(`${base}/order/${picture.id}/qr.svg?returned=1`, { timeout: 10_000 });
    await opened.close();
  });

  it("works on a plain-http LAN host name (http://shop.lan): styles, QR and script load, nothing is upgraded to https, and the pushed status arrives", async function () {
    const order = await createOrder({ amount: "2.00" });
    const lan = base.replace("127.0.0.1", "shop.lan");
    const csp = (await fetch(`${base}/pay/${order.id}`)).headers.get("content-security-policy") ?? "";
    assert.doesNotMatch(csp, /upgrade-insecure-requests/);
    const opened = await open(`${lan}/pay/${order.id}`, { origin: lan, width: 375 });
    const { page } = opened;
    assert.equal(new URL(page.url()).protocol, "http:");
    await page.waitForFunction(() => (document.getElementById("qr") as HTMLImageElement).naturalWidth > 0);
    assert.equal(
      await page.$eval(".pill", (e) => getComputedStyle(e).textTransform),
      "uppercase",
      "CSS loaded",
    );
    await page.waitForFunction(() =>
      /^\d{2}:\d{2}$/.test(document.getElementById("countdown")?.textContent ?? ""),
    );
    assert.notEqual(await page.textContent("#countdown"), "--:--", "the script ran");
    // No clipboard API on an insecure origin: the copy button still copies (or selects).
    await page.click("#copy-amount");
    await page.waitForFunction(() =>
      ["Copied", "Select"].includes(document.querySelector("#copy-amount .copy-text")?.textContent ?? ""),
    );
    await payThroughContract(order, parseDecimal(order.expected_amount, 18));
    await waitForStatus(page, "success");
    assert.ok(
      opened.requested.every((u) => u.startsWith("http://shop.lan:")),
      "every request stayed on http",
    );
    assertClean(opened);
    await opened.close();
  });
});
