/// <reference lib="dom" />
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import jsqrModule from "jsqr";
import { after, before, describe, it } from "mocha";
import { chromium, type Browser, type Page } from "playwright-core";
import { createMerchant } from "../../server/src/merchants/service.ts";
import { parseDecimal } from "../../server/src/lib/money.ts";
import { orderIdToBytes32 } from "../../server/src/orders/ids.ts";
import { startApiSystem, type ApiSystem } from "../helpers/api-system.ts";
import { onRealPostgres } from "../helpers/db.ts";
import { freePort } from "../helpers/node-chain.ts";
import { until } from "../helpers/receiver.ts";

// jsqr is a UMD bundle: under Node's ESM loader its default export is the decoder itself.
type DecodeQr = typeof jsqrModule.default;
const jsQR: DecodeQr =
  typeof jsqrModule === "function" ? (jsqrModule as unknown as DecodeQr) : jsqrModule.default;

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CONFIRMATIONS = 2;
const TTL_SECONDS = 900;

/**
 * The hosted payment page in a real browser (Chromium through playwright-core) against the real
 * stack: the API listening on loopback, the indexer following a real in-process chain, and
 * PostgreSQL or PGlite. The customer pays on chain, and the open page must follow the order to
 * success and complete by itself.
 */
describe(`payment page in Chromium (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let api: ApiSystem;
  let browser: Browser;
  let base: string;
  let key: string;

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is missing at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (.ci/run does), or set CHROMIUM_PATH`,
      );
    }
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    api = await startApiSystem({
      RUN_INDEXER: "true",
      CONFIRMATIONS: String(CONFIRMATIONS),
      FINALITY_BLOCKS: "16",
      POLL_INTERVAL_MS: "20",
      ORDER_TTL_SECONDS: String(TTL_SECONDS),
      ETH_USD_PRICE: "2500.00",
      PUBLIC_URL: base,
    });
    await api.system.app.listen({ host: "127.0.0.1", port });
    key = (await createMerchant(api.testDb.db, "browser@example.com", "seller")).apiKey;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
  });

  after(async function () {
    await browser?.close();
    await api?.close();
  });

  /** Opens a page that records console errors, page errors, failed requests and every URL requested. */
  async function open(url: string) {
    const page = await browser.newPage();
    const problems: string[] = [];
    const requested: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    page.on("requestfailed", (r) => problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on("request", (r) => requested.push(r.url()));
    page.on("response", (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
    });
    const response = await page.goto(url);
    assert.equal(response?.status(), 200);
    return { page, problems, requested };
  }

  /** The QR image's pixels, drawn on a canvas at 4× its size, decoded with jsQR. */
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

  const countdownSeconds = async (page: Page) => {
    const text = (await page.textContent("#countdown")) ?? "";
    const match = /^(\d{2}):(\d{2})$/.exec(text);
    assert.ok(match, `countdown shows mm:ss, got "${text}"`);
    return Number(match[1]) * 60 + Number(match[2]);
  };

  it("shows the amount, a QR with the EIP-681 URI and a running countdown, then follows the payment to complete without a reload", async function () {
    this.timeout(90_000);
    const created = await api.system.app.inject({
      method: "POST",
      url: "/order",
      payload: {
        amount: "42.50",
        address: api.chain.merchant.address,
        callback: "http://127.0.0.1:9/cb",
        item_title: "Espresso machine",
      },
      headers: { authorization: key },
    });
    assert.equal(created.statusCode, 200, created.body);
    const order = created.json() as {
      id: number;
      payment_url: string;
      expected_amount: string;
      currency_amount: string;
      qr_code: string;
    };
    assert.equal(order.payment_url, `${base}/pay/${order.id}`);
    // $42.50 at $2500/ETH = 0.017 ETH exactly.
    assert.equal(order.expected_amount, "0.017");

    const { page, problems, requested } = await open(order.payment_url);

    // Amount and price as the API quoted them.
    assert.equal(await page.textContent("h1"), "Espresso machine");
    assert.equal(await page.textContent("#expected"), "0.017");
    assert.match((await page.textContent(".fiat")) ?? "", /\$42\.50 USD at 2500\.00 USD\/ETH/);

    // The QR image loads from this server and encodes the contract call that pays this order.
    const qr = await page.$eval("#qr", (img) => ({
      src: (img as HTMLImageElement).src,
      complete: (img as HTMLImageElement).complete,
      naturalWidth: (img as HTMLImageElement).naturalWidth,
    }));
    assert.equal(qr.src, order.qr_code);
    assert.ok(qr.complete && qr.naturalWidth > 0, `QR image loaded (naturalWidth ${qr.naturalWidth})`);
    const wei = parseDecimal(order.expected_amount, 18);
    assert.equal(
      await decodeQr(page),
      `ethereum:${api.chain.contractAddress}@31337/pay?address=${api.chain.merchant.address}` +
        `&bytes32=${orderIdToBytes32(BigInt(order.id))}&value=${wei}`,
    );

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

    // A marker that a reload or a navigation would wipe out.
    await page.evaluate(() => Object.assign(window, { __noReload: true }));
    const tx = await api.chain.processor.connect(api.chain.customer).getFunction("pay")(
      api.chain.merchant.address,
      orderIdToBytes32(BigInt(order.id)),
      { value: wei },
    );
    await tx.wait();
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "success", null, {
      timeout: 20_000,
    });
    assert.equal(await page.getAttribute("#status", "data-status"), "success");
    assert.match((await page.textContent("#confirmations")) ?? "", /^\(1 confirmations\)$/);

    await api.chain.mine(CONFIRMATIONS);
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "complete", null, {
      timeout: 20_000,
    });
    assert.equal(await page.evaluate(() => (window as { __noReload?: boolean }).__noReload), true);

    // Only this server was contacted, and nothing went wrong in the page.
    assert.ok(requested.length >= 4, `page, css, js, QR and status polls: ${requested.join(" ")}`);
    const foreign = requested.filter((u) => !u.startsWith(`${base}/`));
    assert.deepEqual(foreign, [], "no third-party requests");
    assert.ok(
      requested.some((u) => u === `${base}/pay/${order.id}/status`),
      "the page polls its status",
    );
    assert.deepEqual(problems, []);
    await page.close();
  });

  it("shows an order that is already expired as expired, with the countdown at 00:00", async function () {
    const created = await api.system.app.inject({
      method: "POST",
      url: "/order",
      payload: { amount: "1.00", address: api.chain.merchant.address, callback: "http://127.0.0.1:9/cb" },
    });
    const order = created.json() as { id: number; payment_url: string };
    await api.testDb.db.query("UPDATE orders SET expires_at = now() - interval '1 second' WHERE id = $1", [
      order.id,
    ]);
    // The indexer decides expiry on its next step; a new block makes sure there is one.
    await api.chain.mine(1);
    await until(
      async () => {
        const { rows } = await api.testDb.db.query<{ status: string }>(
          "SELECT status FROM orders WHERE id = $1",
          [order.id],
        );
        return rows[0]?.status === "expired" ? true : undefined;
      },
      20_000,
      "order expired",
    );
    const { page, problems, requested } = await open(order.payment_url);
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "expired", null, {
      timeout: 10_000,
    });
    assert.equal(await countdownSeconds(page), 0);
    assert.deepEqual(
      requested.filter((u) => !u.startsWith(`${base}/`)),
      [],
    );
    assert.deepEqual(problems, []);
    await page.close();
  });
});
