/// <reference lib="dom" />
import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import type { Browser } from "playwright-core";
import { createMerchant } from "../../server/src/merchants/service.ts";
import {
  assertClean,
  checkAccessibility,
  openPage,
  startBrowserSystem,
  type BrowserSystem,
} from "../helpers/browser.ts";
import { onRealPostgres, type TestDb } from "../support/db.ts";
import { startReceiver, type Receiver } from "../support/receiver.ts";

/**
 * "Send a test event" in the merchant console, in Chromium against the real stack (the API on
 * loopback with its own callback worker): the console queues a test event, the worker signs and
 * POSTs it to a real receiver that first answers 500, then 200; the console polls the delivery
 * and shows it delivered, with both attempts' requests and responses.
 */
describe(`console: send a test event and read its attempts (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  this.timeout(180_000);
  let stack: BrowserSystem;
  let testDb: TestDb;
  let browser: Browser;
  let base: string;
  let key: string;
  let receiver: Receiver;

  before(async function () {
    stack = await startBrowserSystem({
      env: {
        RUN_INDEXER: "false",
        RUN_CALLBACK_WORKER: "true",
        CALLBACK_RETRY_BASE_MS: "300",
        CALLBACK_RETRY_MAX_DELAY_MS: "1000",
      },
    });
    ({ testDb, browser, baseUrl: base } = stack);
    key = (await createMerchant(testDb.db, "hooks@example.com", "seller")).apiKey;
    receiver = await startReceiver({
      path: "/ethpos",
      mode: 500,
      // The merchant's secret as stored: the receiver checks every signature against it.
      secrets: async () =>
        (
          await testDb.db.query<{ callback_secret: string }>(
            "SELECT callback_secret FROM merchants WHERE email = 'hooks@example.com'",
          )
        ).rows.map((r) => r.callback_secret),
    });
  });

  after(async function () {
    await receiver?.close();
    await stack?.close();
  });

  it("sends a signed test event, polls it to delivered and shows each attempt's request and response", async function () {
    const opened = await openPage(browser, `${base}/console`);
    const { page } = opened;
    await page.waitForSelector("#signin:not([hidden])");
    await page.fill("#apikey", key);
    await page.click("#apikey-form button[type=submit]");
    await page.waitForFunction(() => !(document.getElementById("app") as HTMLElement).hidden, null, {
      timeout: 15_000,
    });

    // The tools live in the console's callbacks section.
    await page.click(`nav.tabs a[data-section="callbacks"]`);
    await page.waitForSelector("#section-callbacks:not([hidden])");
    await page.getByLabel("URL (optional)").fill(receiver.url);
    // The first attempt meets a 500; the receiver is back for the retry.
    const firstSeen = receiver.waitFor((all) => all.length >= 1, 20_000);
    await page.getByRole("button", { name: "Send a test event" }).click();
    await firstSeen;
    await receiver.setMode("ok");
    await page.waitForFunction(
      () => document.getElementById("test-event-result")?.textContent?.startsWith("Test event delivered to"),
      null,
      { timeout: 30_000 },
    );
    assert.equal(
      await page.textContent("#test-event-result"),
      `Test event delivered to ${receiver.url}: HTTP 200.`,
    );
    assert.deepEqual(
      receiver.deliveries.map((d) => [d.answered, d.verified, JSON.parse(d.body).type]),
      [
        [500, "valid", "test"],
        [200, "valid", "test"],
      ],
    );

    // The delivery, open, with both attempts; the last one open: its request and response.
    const delivery = page.locator("#test-event-delivery details.delivery");
    assert.equal(await delivery.getAttribute("data-status"), "delivered");
    const attempts = delivery.locator("details.attempt");
    assert.equal(await attempts.count(), 2);
    assert.match(
      (await attempts.nth(0).locator("summary").textContent()) ?? "",
      /Attempt 1, .*answered HTTP 500/,
    );
    assert.match(
      (await attempts.nth(1).locator("summary").textContent()) ?? "",
      /Attempt 2, .*answered HTTP 200/,
    );
    const last = attempts.nth(1);
    assert.equal(await last.getAttribute("open"), "");
    const requestText = (await last.locator(".exchange-part").nth(0).textContent()) ?? "";
    const second = receiver.deliveries[1];
    assert.ok(second?.signature);
    assert.ok(requestText.includes(second.signature), "the request shows the signature that was sent");
    assert.ok(requestText.includes(second.eventId ?? "?"), "and the event id");
    assert.equal(await last.locator(".exchange-body").nth(0).textContent(), second.body);
    assert.ok(
      ((await last.locator(".exchange-part").nth(1).textContent()) ?? "").includes("answered HTTP 200"),
    );
    // The first attempt opens to show the 500 the receiver answered.
    await attempts.nth(0).locator("summary").click();
    assert.ok(
      ((await attempts.nth(0).locator(".exchange-part").nth(1).textContent()) ?? "").includes(
        "answered HTTP 500",
      ),
    );

    // The delivery log lists it too.
    await page.getByRole("button", { name: "Show recent deliveries" }).click();
    const listed = page.locator("#recent-deliveries details.delivery").first();
    await listed.waitFor();
    assert.equal(await listed.getAttribute("data-status"), "delivered");
    assert.match((await listed.locator(":scope > summary").textContent()) ?? "", /^test to /);

    await checkAccessibility(page, "console callback tools");
    assertClean(opened);
    await opened.close();
  });
});
