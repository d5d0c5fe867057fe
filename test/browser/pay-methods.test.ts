/// <reference lib="dom" />
import assert from "node:assert/strict";
import jsqrModule from "jsqr";
import { after, before, describe, it } from "mocha";
import type { Browser, Page } from "playwright-core";
import { getAddress } from "viem";
import type { System } from "../../server/src/system.ts";
import {
  assertClean,
  checkAccessibility,
  openPage,
  startBrowserSystem,
  type BrowserSystem,
} from "../helpers/browser.ts";
import type { NodeChain } from "../support/node-system.ts";

type DecodeQr = typeof jsqrModule.default;
const jsQR: DecodeQr =
  typeof jsqrModule === "function" ? (jsqrModule as unknown as DecodeQr) : jsqrModule.default;

/**
 * The payment page's list of payment methods in Chromium: the order's methods, default first;
 * picking another shows its QR code (decoded from the image as a phone reads it), address,
 * amount and locked rate; the list speaks the customer's language.
 */
describe("payment page: the order's payment methods in Chromium", function () {
  this.timeout(120_000);
  let stack: BrowserSystem;
  let chain: NodeChain;
  let system: System;
  let browser: Browser;
  let base: string;
  let usdc: `0x${string}`;

  before(async function () {
    stack = await startBrowserSystem({ modules: ["usdc"], env: { ETH_USD_PRICE: "2500.00" } });
    ({ chain, system, browser, baseUrl: base } = stack);
    usdc = stack.usdc as `0x${string}`;
  });

  after(async function () {
    await stack?.close();
  });

  async function decodeQr(page: Page): Promise<string> {
    const image = await page.evaluate(async () => {
      const img = document.getElementById("method-qr") as HTMLImageElement;
      await img.decode();
      const size = img.naturalWidth * 2;
      const canvas = document.createElement("canvas");
      canvas.width = size;
      canvas.height = size;
      const ctx = canvas.getContext("2d") as CanvasRenderingContext2D;
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(img, 0, 0, size, size);
      const bytes = ctx.getImageData(0, 0, size, size).data;
      let binary = "";
      for (let i = 0; i < bytes.length; i += 0x8000)
        binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return { size, base64: btoa(binary) };
    });
    const code = jsQR(new Uint8ClampedArray(Buffer.from(image.base64, "base64")), image.size, image.size);
    assert.ok(code, "the method's QR image decodes");
    return code.data;
  }

  it("lists ETH and USDC, default first; picking USDC shows its QR, address, amount and rate", async function () {
    const res = await system.app.inject({
      method: "POST",
      url: "/order",
      payload: { amount: "4.25", address: chain.merchant, callback: "http://127.0.0.1:9/cb" },
    });
    assert.equal(res.statusCode, 200, res.body);
    const order = res.json() as { id: number; address: string };
    const opened = await openPage(browser, `${base}/pay/${order.id}`);
    const { page } = opened;
    const names = await page.$$eval("#pay-methods .method", (buttons) =>
      buttons.map((b) => [b.querySelector(".method-name")?.textContent, b.getAttribute("aria-pressed")]),
    );
    assert.deepEqual(names, [
      ["ETH on Hardhat local chain", "true"],
      ["USDC on Hardhat local chain", "false"],
    ]);
    // The default method first: $4.25 at $2500/ETH.
    assert.equal(await page.textContent("#method-amount"), "0.0017 ETH");
    assert.equal(await decodeQr(page), `ethereum:${order.address}@31337?value=1700000000000000`);

    await page.click('#pay-methods .method[data-index="1"]');
    assert.equal(await page.getAttribute('#pay-methods .method[data-index="1"]', "aria-pressed"), "true");
    assert.equal(await page.textContent("#method-amount"), "4.25 USDC");
    assert.equal(await page.textContent("#method-address"), order.address);
    assert.match((await page.textContent("#method-rate")) ?? "", /1\.00 USD per USDC/);
    const uri = `ethereum:${getAddress(usdc)}@31337/transfer?address=${order.address}&uint256=4250000`;
    await page.waitForFunction(() => (document.getElementById("method-qr") as HTMLImageElement).complete);
    assert.equal(await decodeQr(page), uri);
    assert.equal(await page.getAttribute("#method-open", "href"), uri);
    await checkAccessibility(page, "payment methods");
    assertClean(opened);
    await opened.close();

    // In Portuguese and Spanish, as the customer's browser asks.
    for (const [lang, heading] of [
      ["pt-BR", "Escolha como pagar"],
      ["es", "Elige cómo pagar"],
    ] as const) {
      const translated = await openPage(browser, `${base}/pay/${order.id}?lang=${lang}`);
      assert.equal(await translated.page.textContent("#pay-methods-title"), heading);
      await translated.close();
    }
  });
});
