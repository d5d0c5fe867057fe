/// <reference lib="dom" />
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { after, before, describe, it } from "mocha";
import type { Page } from "playwright-core";
import { getAddress, parseAbi, type Hex } from "viem";
import { createMerchant } from "../../server/src/merchants/service.ts";
import type { System } from "../../server/src/system.ts";
import { LOCALES } from "../../server/src/web/i18n/index.ts";
import { consoleMessages } from "../../server/src/web/i18n/messages/console.ts";
import { CONSOLE_SECTIONS } from "../../server/src/web/console-page.ts";
import {
  assertClean,
  checkAccessibility,
  openPage,
  startBrowserSystem,
  type BrowserSystem,
  type Opened,
} from "../helpers/browser.ts";
import { proveAddress } from "../support/api-system.ts";
import { onRealPostgres } from "../support/db.ts";
import type { NodeChain } from "../support/node-system.ts";
import { until } from "../support/until.ts";

/** SCREENSHOTS=1 writes docs/screenshots/console-<section>-<lang>-<phone|desktop>.png. */
const SCREENSHOTS = process.env.SCREENSHOTS === "1";
const CONFIRMATIONS = 2;
const processorAbi = parseAbi(["function pay(address merchant, bytes32 orderId) payable"]);

interface OverviewJson {
  currency: string;
  through: string;
  income: { day: string; token: string; value: string; amount: string }[];
  days: { day: string; value: string }[];
  today: { value: string; orders: number };
  waiting: { count: number };
}

/**
 * The merchant console as a dashboard in Chromium against the real stack: each section at its
 * own address and through the tabs, the back button, the income chart's bars against the API's
 * answer for orders paid on the chain, no page wider than a phone, and a Portuguese console with
 * no English left.
 */
describe(`merchant console dashboard in Chromium (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  this.timeout(240_000);
  let stack: BrowserSystem;
  let chain: NodeChain;
  let system: System;
  let base: string;
  let key: string;
  let tab: Opened;

  before(async function () {
    stack = await startBrowserSystem({
      env: { CONFIRMATIONS: String(CONFIRMATIONS), ETH_USD_PRICE: "2500.00" },
    });
    ({ chain, system, baseUrl: base } = stack);
    key = (await createMerchant(stack.testDb.db, "dash@example.com", "seller")).apiKey;
    // Balances cover proven payout addresses only.
    await proveAddress(system, key, {
      address: getAddress(chain.merchant),
      signMessage: (message) => chain.wallet.signMessage({ account: getAddress(chain.merchant), message }),
    });
  });

  after(async function () {
    await tab?.close();
    await stack?.close();
  });

  async function createOrder(amount: string, title: string) {
    const res = await system.app.inject({
      method: "POST",
      url: "/order",
      headers: { authorization: key },
      payload: {
        amount,
        address: getAddress(chain.merchant),
        callback: "http://127.0.0.1:9/cb",
        item_title: title,
      },
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { id: number; reference: Hex; expected_amount: string };
  }

  async function paidOrder(amount: string, title: string) {
    const order = await createOrder(amount, title);
    const [whole = "0", fraction = ""] = order.expected_amount.split(".");
    const wei = BigInt(whole) * 10n ** 18n + BigInt(fraction.padEnd(18, "0"));
    await chain.client.waitForTransactionReceipt({
      hash: await chain.wallet.writeContract({
        address: chain.contract,
        abi: processorAbi,
        functionName: "pay",
        args: [getAddress(chain.merchant), order.reference],
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

  const shown = (page: Page, section: string) =>
    page.waitForFunction(
      (s) =>
        !(document.getElementById(`section-${s}`) as HTMLElement).hidden &&
        document.querySelector(`nav.tabs a[aria-current="page"]`)?.getAttribute("data-section") === s,
      section,
      { timeout: 15_000 },
    );

  /** Waits until the overview and the orders have loaded (their tables have rows). */
  const loaded = (page: Page) =>
    page.waitForFunction(
      () =>
        (document.querySelector("#waiting tbody")?.childElementCount ?? 0) > 0 &&
        (document.querySelector("#orders tbody")?.childElementCount ?? 0) > 0 &&
        (document.querySelector("#balances tbody")?.childElementCount ?? 0) > 0 &&
        document.querySelector("#income-chart svg") !== null,
      null,
      { timeout: 20_000 },
    );

  it("has a section per address and per tab; the back button goes back; an unknown section is a 404", async function () {
    await paidOrder("12.34", "Coffee beans");
    await paidOrder("0.10", "Sticker");
    await createOrder("7.50", "Waiting order");

    tab = await openPage(stack.browser, `${base}/console/orders`);
    const { page } = tab;
    await page.fill("#apikey", key);
    await page.click("#apikey-form button[type=submit]");
    await shown(page, "orders");
    await loaded(page);

    // By address: each section served by the same shell.
    for (const section of CONSOLE_SECTIONS) {
      const response = await page.goto(`${base}/console/${section}`);
      assert.equal(response?.status(), 200);
      await shown(page, section);
      // Every read finished before the next address (leaving a page aborts its requests).
      await page.waitForLoadState("networkidle");
    }
    const unknown = await system.app.inject({ method: "GET", url: "/console/nowhere" });
    assert.equal(unknown.statusCode, 404);
    assert.match(unknown.json().error.message, /no section "nowhere"/);

    // By the tabs, then back and forward through the history.
    await page.goto(`${base}/console`);
    await shown(page, "overview");
    for (const section of ["orders", "balances", "settings"]) {
      await page.click(`nav.tabs a[data-section="${section}"]`);
      await shown(page, section);
      assert.equal(new URL(page.url()).pathname, `/console/${section}`);
    }
    await page.goBack();
    await shown(page, "balances");
    await page.goBack();
    await shown(page, "orders");
    await page.goBack();
    await shown(page, "overview");
    await page.goForward();
    await shown(page, "orders");
    // An order's Deliveries button opens the callbacks section.
    await page.click("#orders tbody tr:first-child button");
    await shown(page, "callbacks");
    assert.equal(new URL(page.url()).pathname, "/console/callbacks");
    assertClean(tab);
  });

  it("draws a bar per day stacked per coin, with the values of GET /user/overview", async function () {
    const { page } = tab;
    await page.goto(`${base}/console/overview`);
    await shown(page, "overview");
    await loaded(page);
    const answer = (await page.evaluate(async () => (await fetch("/user/overview")).json())) as OverviewJson;
    // The two paid orders, exactly.
    const today = answer.days.find((d) => d.day === answer.through);
    assert.equal(today?.value, "12.44");
    assert.equal(answer.today.value, "12.44");
    assert.equal(answer.waiting.count, 1);
    const bars = await page.$$eval("#income-chart g.bar", (groups) =>
      groups.map((g) => ({
        day: g.getAttribute("data-day"),
        value: g.getAttribute("data-value"),
        rects: Array.from(g.querySelectorAll("rect")).map((r) => ({
          coin: r.getAttribute("data-coin"),
          value: r.getAttribute("data-value"),
          height: Number(r.getAttribute("height")),
        })),
      })),
    );
    assert.equal(bars.length, 30);
    assert.deepEqual(
      bars.map((b) => [b.day, b.value]),
      answer.days.map((d) => [d.day, d.value]),
    );
    const todayBar = bars.find((b) => b.day === answer.through);
    assert.deepEqual(
      todayBar?.rects.map((r) => [r.coin, r.value]),
      answer.income.filter((r) => r.day === answer.through).map((r) => [r.token, r.value]),
    );
    assert.ok((todayBar?.rects[0]?.height ?? 0) > 100, "the highest day fills the chart");
    for (const b of bars.filter((x) => x.day !== answer.through)) assert.equal(b.rects.length, 0);
    // The totals in the merchant's currency, formatted for the page's language (English here).
    assert.equal(await page.textContent("#today-total"), "$12.44");
    // Every balance has its value at today's rate, with the rate's source in its title.
    await page.goto(`${base}/console/balances`);
    await shown(page, "balances");
    await page.waitForSelector("#balances td.fiat");
    const value = await page.$eval("#balances tbody tr td.fiat", (td) => ({
      text: td.textContent,
      title: td.getAttribute("title"),
    }));
    // Paid 12.34 + 0.10 USD at 2500 USD/ETH: 0.004976 ETH, worth $12.44 today at the same rate.
    assert.equal(value.text, "≈ $12.44");
    for (const section of ["overview", "balances", "settings"]) {
      await page.goto(`${base}/console/${section}`);
      await shown(page, section);
      await loaded(page);
      await checkAccessibility(page, `console ${section}`);
    }
    assert.match(value.title ?? "", /1 ETH = \$2,500\.00 · fixed price \(ETH_USD_PRICE\)/);
  });

  it("keeps every section within the screen at 360, 390 and 768 px", async function () {
    const { page } = tab;
    for (const width of [360, 390, 768]) {
      await page.setViewportSize({ width, height: 800 });
      for (const section of CONSOLE_SECTIONS) {
        await page.goto(`${base}/console/${section}`);
        await shown(page, section);
        await loaded(page);
        const { scrollWidth, innerWidth, wide } = await page.evaluate(() => ({
          scrollWidth: document.documentElement.scrollWidth,
          innerWidth: window.innerWidth,
          wide: Array.from(document.querySelectorAll<HTMLElement>("main *"))
            .filter(
              (el) => el.offsetParent !== null && el.getBoundingClientRect().right > window.innerWidth + 0.5,
            )
            // The tab row scrolls sideways by design; a phone's table headers are clipped away.
            .filter((el) => !el.closest("nav.tabs li, thead, .sr-only"))
            .slice(0, 3)
            .map((el) => `${el.tagName}#${el.id}.${el.className}`),
        }));
        assert.ok(
          scrollWidth <= innerWidth && wide.length === 0,
          `${section} at ${width} px: ${scrollWidth} > ${innerWidth} (${wide.join(", ")})`,
        );
      }
    }
    // On a phone a row is a card: its cells name their columns.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${base}/console/orders`);
    await loaded(page);
    const label = await page.$eval(
      "#orders tbody tr td:nth-child(2)",
      (td) => getComputedStyle(td, "::before").content,
    );
    assert.equal(label, '"Created"');
  });

  it("shows no English in a Portuguese console (pt-BR), and each language's own number format", async function () {
    const { page } = tab;
    await page.setViewportSize({ width: 1280, height: 800 });
    const portuguese = Object.values(consoleMessages["pt-BR"]).join("\n");
    const english = Object.entries(consoleMessages.en)
      .filter(([k, v]) => consoleMessages["pt-BR"][k as keyof typeof consoleMessages.en] !== v)
      .flatMap(([, v]) => v.split(/\{\w+\}/))
      .map((piece) => piece.trim())
      // Words Portuguese borrows as they are ("Callback", "Token") are not English left over.
      .filter((piece) => piece.length >= 4 && !portuguese.includes(piece));
    for (const section of CONSOLE_SECTIONS) {
      await page.goto(`${base}/console/${section}?lang=pt-BR`);
      await shown(page, section);
      await loaded(page);
      assert.equal(await page.getAttribute("html", "lang"), "pt-BR");
      const text = await page.evaluate(() => document.body.innerText);
      const left = english.filter((piece) => text.includes(piece));
      assert.deepEqual(left, [], `English on /console/${section}?lang=pt-BR`);
    }
    // The tabs keep the language.
    await page.click(`nav.tabs a[data-section="overview"]`);
    assert.equal(new URL(page.url()).search, "?lang=pt-BR");
    assert.equal(await page.textContent("#today-total"), "US$\u00a012,44");
    // The language picker switches the page.
    await page.goto(`${base}/console/settings?lang=pt-BR`);
    await shown(page, "settings");
    await Promise.all([page.waitForURL(/lang=es/), page.selectOption("#language", "es")]);
    await shown(page, "settings");
    assert.equal(await page.textContent("#language-title"), "Idioma");
    assert.equal(await page.getAttribute("html", "lang"), "es");
    // Accept-Language alone chooses too.
    const res = await fetch(`${base}/console`, { headers: { "accept-language": "es-AR,es;q=0.9" } });
    assert.match(await res.text(), /<html lang="es">/);
  });

  it("writes the overview's and the orders' screenshots in each language (SCREENSHOTS=1)", async function () {
    if (!SCREENSHOTS) this.skip();
    const { page } = tab;
    mkdirSync("docs/screenshots", { recursive: true });
    for (const lang of LOCALES) {
      for (const [device, size] of [
        ["phone", { width: 390, height: 844 }],
        ["desktop", { width: 1280, height: 800 }],
      ] as const) {
        await page.setViewportSize(size);
        for (const section of ["overview", "orders"]) {
          await page.goto(`${base}/console/${section}?lang=${lang}`);
          await shown(page, section);
          await loaded(page);
          await page.screenshot({
            path: `docs/screenshots/console-${section}-${lang}-${device}.png`,
            fullPage: true,
          });
        }
      }
    }
  });
});
