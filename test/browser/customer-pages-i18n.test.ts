/// <reference lib="dom" />
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "mocha";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { getAddress } from "viem";
import { createMerchant, setPlugins } from "../../server/src/merchants/service.ts";
import type { System } from "../../server/src/system.ts";
import { LOCALES, type Catalogue, type Locale } from "../../server/src/web/i18n/index.ts";
import { PAY_MESSAGES } from "../../server/src/web/i18n/messages/pay.ts";
import { POS_MESSAGES } from "../../server/src/web/i18n/messages/pos.ts";
import { SUBSCRIPTION_MESSAGES } from "../../server/src/web/i18n/messages/subscription.ts";
import { startBrowserSystem, type BrowserSystem } from "../helpers/browser.ts";
import { onRealPostgres, type TestDb } from "../support/db.ts";
import type { NodeChain } from "../support/node-system.ts";

/**
 * SCREENSHOTS=1 writes docs/screenshots/<page>-<language>-<phone|desktop>.png (the viewport only, to
 * keep them small). Off by default, so that a test run never changes the tree.
 */
const SCREENSHOTS = process.env.SCREENSHOTS === "1" ? join(process.cwd(), "docs", "screenshots") : undefined;

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const WIDTHS = [360, 390, 768];

/**
 * The English words of a catalogue that must not show on a page in another language: each
 * message's text between its placeholders, at least four letters long, unless the other
 * language uses the same words (brand names, "Token", "Terminal").
 */
function englishFragments(catalogue: Catalogue<string>, locale: Locale): string[] {
  const theirs = Object.values(catalogue[locale]).join("\n").toLowerCase();
  const fragments = new Set<string>();
  for (const text of Object.values(catalogue.en)) {
    for (const part of text.split(/\{\w+\}/)) {
      const fragment = part.trim().replace(/^[\s.,:;()·$✓]+|[\s.,:;()·$…]+$/g, "");
      if (fragment.replace(/[^A-Za-z]/g, "").length < 4) continue;
      if (theirs.includes(fragment.toLowerCase())) continue;
      fragments.add(fragment.toLowerCase());
    }
  }
  return [...fragments];
}

async function visibleText(page: Page): Promise<string> {
  return page.evaluate(() => document.body.innerText);
}

/** The page has no English text of its catalogue and says which language it is in. */
async function assertLanguage(page: Page, catalogue: Catalogue<string>, locale: Locale, label: string) {
  assert.equal(await page.getAttribute("html", "lang"), locale, `${label}: <html lang>`);
  // Compared in lower case: innerText applies CSS text-transform (labels, the status pill).
  const text = (await visibleText(page)).toLowerCase();
  const left = englishFragments(catalogue, locale).filter((fragment) => text.includes(fragment));
  assert.deepEqual(left, [], `${label}: English text on the ${locale} page:\n${await visibleText(page)}`);
}

/** No horizontal scrolling at this width. */
async function assertNoOverflow(page: Page, label: string) {
  const { scroll, inner } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    inner: window.innerWidth,
  }));
  assert.ok(scroll <= inner, `${label}: the page is ${scroll}px wide in a ${inner}px window`);
}

/**
 * The customer pages (payment page, subscription page, point of sale) in each language, chosen by
 * ?lang=, by the browser's Accept-Language and by the picker; and on phones and tablets: no
 * horizontal scrolling, the terminal's QR inside its card, "New sale" on screen without scrolling.
 */
describe(`customer pages in three languages, on phones and tablets (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  this.timeout(300_000);
  let stack: BrowserSystem;
  let chain: NodeChain;
  let testDb: TestDb;
  let system: System;
  let browser: Browser;
  let base: string;
  let key: string;
  let payPath: string;
  let subscriptionPath: string;
  let terminalKey: string;

  before(async function () {
    stack = await startBrowserSystem({ env: { CONFIRMATIONS: "2", ETH_USD_PRICE: "2500.00" } });
    ({ chain, testDb, system, browser, baseUrl: base } = stack);
    key = (await createMerchant(testDb.db, "loja@example.com", "seller")).apiKey;
    await setPlugins(testDb.db, "loja@example.com", { recurring_payments: true });
    const inject = async (method: "GET" | "POST" | "PUT", url: string, payload?: object) => {
      const res = await system.app.inject({ method, url, payload, headers: { authorization: key } });
      assert.equal(res.statusCode, 200, `${method} ${url}: ${res.body}`);
      return res.json() as Record<string, unknown>;
    };
    const order = await inject("POST", "/order", {
      amount: "98.76",
      address: chain.merchant,
      callback: "http://127.0.0.1:9/cb",
      item_title: "Café com leite",
    });
    payPath = new URL(order.payment_url as string).pathname;
    const subscription = await inject("POST", "/recurring", {
      amount: "19.90",
      interval: "monthly",
      address: chain.merchant,
      callback: "http://127.0.0.1:9/recurring",
      item_title: "Clube do café",
    });
    subscriptionPath = new URL(subscription.payment_url as string).pathname;
    await testDb.db.query(
      `INSERT INTO merchant_addresses (merchant_id, address)
       SELECT id, $1 FROM merchants WHERE email = 'loja@example.com' ON CONFLICT DO NOTHING`,
      [chain.merchant.toLowerCase()],
    );
    const terminal = await inject("POST", "/user/terminal-keys", {
      label: "Balcão",
      address: getAddress(chain.merchant),
      callback: "http://127.0.0.1:9/cb",
    });
    terminalKey = terminal.key as string;
  });

  after(async function () {
    await stack?.close();
  });

  async function open(
    path: string,
    options: { viewport?: { width: number; height: number }; acceptLanguage?: string } = {},
  ): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({
      viewport: options.viewport ?? PHONE,
      deviceScaleFactor: 1,
      ...(options.acceptLanguage
        ? { locale: options.acceptLanguage, extraHTTPHeaders: { "accept-language": options.acceptLanguage } }
        : {}),
    });
    const page = await context.newPage();
    const response = await page.goto(`${base}${path}`);
    assert.equal(response?.status(), 200, path);
    return { context, page };
  }

  async function screenshot(page: Page, name: string) {
    if (!SCREENSHOTS) return;
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
  }

  /** The terminal signed in with its key and on its keypad. */
  async function posKeypad(page: Page) {
    await page.waitForSelector("#signin:not([hidden])");
    await page.fill("#terminal-key", terminalKey);
    await page.click("#key-form button[type=submit]");
    await page.waitForSelector("#keypad-screen:not([hidden])");
  }

  /** A sale of $12.34 on the terminal, up to its QR. */
  async function posQr(page: Page) {
    for (const k of ["1", "2", "3", "4"]) await page.click(`.key[data-key="${k}"]`);
    await page.click("#charge");
    await page.waitForSelector("#qr-screen:not([hidden])");
    await page.waitForFunction(
      () => (document.getElementById("pos-qr") as HTMLImageElement).naturalWidth > 0,
    );
  }

  it("?lang= and Accept-Language pick the language: the payment page has no English left and formats amounts the locale's way", async function () {
    for (const [how, options, path, locale] of [
      ["?lang=pt-BR", {}, `${payPath}?lang=pt-BR`, "pt-BR"],
      ["Accept-Language es", { acceptLanguage: "es-ES" }, payPath, "es"],
    ] as const) {
      const { context, page } = await open(path, options);
      await assertLanguage(page, PAY_MESSAGES, locale, `payment page (${how})`);
      await page.waitForFunction(() => /\d/.test(document.getElementById("countdown")?.textContent ?? ""));
      // $98.76 at $2,500/ETH: the exact amounts with the locale's separators.
      const text = await visibleText(page);
      assert.match(
        text,
        locale === "pt-BR" ? /98,76 USD a 2\.500,00 USD\/ETH/ : /98,76 USD a 2500,00 USD\/ETH/,
      );
      assert.match(text, /0,039504 ETH/);
      await context.close();
    }
  });

  it("the subscription page and the terminal follow ?lang= and Accept-Language too", async function () {
    for (const [how, options, query, locale] of [
      ["?lang=pt-BR", {}, "?lang=pt-BR", "pt-BR"],
      ["Accept-Language es", { acceptLanguage: "es-ES" }, "", "es"],
    ] as const) {
      const sub = await open(`${subscriptionPath}${query}`, options);
      await assertLanguage(sub.page, SUBSCRIPTION_MESSAGES, locale, `subscription page (${how})`);
      await sub.context.close();

      const pos = await open(`/pos${query}`, options);
      await assertLanguage(pos.page, POS_MESSAGES, locale, `terminal sign-in (${how})`);
      // A wrong key is refused in the terminal's language.
      await pos.page.fill("#terminal-key", "epos_term_000000000000_wrong");
      await pos.page.click("#key-form button[type=submit]");
      await pos.page.waitForFunction(() => (document.getElementById("error")?.textContent ?? "") !== "");
      assert.equal(await pos.page.textContent("#error"), POS_MESSAGES[locale].bad_key);
      await posKeypad(pos.page);
      await assertLanguage(pos.page, POS_MESSAGES, locale, `terminal keypad (${how})`);
      assert.equal(await pos.page.textContent("#pos-amount"), "0,00");
      await posQr(pos.page);
      await assertLanguage(pos.page, POS_MESSAGES, locale, `terminal QR (${how})`);
      await pos.context.close();
    }
  });

  it("the picker switches the language and keeps it in the URL; English stays the default", async function () {
    for (const [path, catalogue] of [
      [payPath, PAY_MESSAGES],
      [subscriptionPath, SUBSCRIPTION_MESSAGES],
    ] as const) {
      const { context, page } = await open(path);
      assert.equal(await page.getAttribute("html", "lang"), "en");
      assert.equal(await page.getAttribute("nav.languages", "aria-label"), catalogue.en.language);
      // The check below can fail: the English page shows the words it looks for.
      const english = (await visibleText(page)).toLowerCase();
      const shown = englishFragments(catalogue, "pt-BR").filter((fragment) => english.includes(fragment));
      assert.ok(shown.length >= 5, `the English page shows its catalogue's words (${shown.join(" | ")})`);
      await page.click('nav.languages a[hreflang="pt-BR"]');
      await page.waitForURL(/\?lang=pt-BR$/);
      await assertLanguage(page, catalogue, "pt-BR", `${path} after the picker`);
      await page.click('nav.languages a[hreflang="es"]');
      await page.waitForURL(/\?lang=es$/);
      await assertLanguage(page, catalogue, "es", `${path} after the picker`);
      await page.reload();
      assert.equal(await page.getAttribute("html", "lang"), "es", "a reload keeps the choice");
      await context.close();
    }
  });

  it("the merchant's default language (PUT /user/language) serves a browser that asks for none of ours", async function () {
    const set = await system.app.inject({
      method: "PUT",
      url: "/user/language",
      headers: { authorization: key },
      payload: { language: "pt-BR" },
    });
    assert.equal(set.statusCode, 200, set.body);
    const wrong = await system.app.inject({
      method: "PUT",
      url: "/user/language",
      headers: { authorization: key },
      payload: { language: "de" },
    });
    assert.equal(wrong.statusCode, 400, wrong.body);
    const user = await system.app.inject({ method: "GET", url: "/user", headers: { authorization: key } });
    assert.equal(user.json().language, "pt-BR");
    try {
      const german = await open(payPath, { acceptLanguage: "de-DE" });
      assert.equal(await german.page.getAttribute("html", "lang"), "pt-BR");
      await german.context.close();
      const spanish = await open(payPath, { acceptLanguage: "es" });
      assert.equal(
        await spanish.page.getAttribute("html", "lang"),
        "es",
        "the browser's language comes first",
      );
      await spanish.context.close();
    } finally {
      await system.app.inject({
        method: "PUT",
        url: "/user/language",
        headers: { authorization: key },
        payload: { language: null },
      });
    }
  });

  it("phones and tablets: no horizontal scrolling at 360, 390 and 768 px in any language; the terminal's QR inside its card; New sale on screen", async function () {
    for (const locale of LOCALES) {
      for (const [name, path] of [
        ["pay", payPath],
        ["subscription", subscriptionPath],
      ] as const) {
        const { context, page } = await open(`${path}?lang=${locale}`);
        for (const width of WIDTHS) {
          await page.setViewportSize({ width, height: 844 });
          await assertNoOverflow(page, `${name} ${locale} at ${width}px`);
        }
        await page.setViewportSize(PHONE);
        await screenshot(page, `${name}-${locale}-phone`);
        await page.setViewportSize(DESKTOP);
        await assertNoOverflow(page, `${name} ${locale} at ${DESKTOP.width}px`);
        await screenshot(page, `${name}-${locale}-desktop`);
        await context.close();
      }

      const { context, page } = await open(`/pos?lang=${locale}`);
      await posKeypad(page);
      for (const width of WIDTHS) {
        await page.setViewportSize({ width, height: 844 });
        await assertNoOverflow(page, `terminal keypad ${locale} at ${width}px`);
      }
      await page.setViewportSize(PHONE);
      await posQr(page);
      for (const width of WIDTHS) {
        await page.setViewportSize({ width, height: 844 });
        await assertNoOverflow(page, `terminal QR ${locale} at ${width}px`);
      }
      for (const viewport of [PHONE, DESKTOP]) {
        await page.setViewportSize(viewport);
        const box = (selector: string) =>
          page.$eval(selector, (element) => {
            const r = element.getBoundingClientRect();
            return { left: r.left, right: r.right, bottom: r.bottom, width: r.width };
          });
        const [qr, card, sale] = [await box("#pos-qr"), await box("#qr-screen"), await box("#new-sale")];
        const label = `terminal QR ${locale} at ${viewport.width}x${viewport.height}`;
        assert.ok(
          qr.left >= card.left && qr.right <= card.right,
          `${label}: the QR (x ${qr.left}->${qr.right}) inside its card (x ${card.left}->${card.right})`,
        );
        assert.ok(
          sale.bottom <= viewport.height,
          `${label}: New sale ends at ${sale.bottom}px, below the screen`,
        );
        if (viewport === PHONE)
          assert.ok(qr.width >= 300, `${label}: the QR still fills the phone (${qr.width}px)`);
        await screenshot(page, `pos-${locale}-${viewport === PHONE ? "phone" : "desktop"}`);
      }
      await context.close();
    }
  });
});
