/**
 * TXT Messaging sends real text messages: Twilio's Messages API and a generic HTTP gateway, each
 * against a local server that speaks the provider's documented requests, answers and errors
 * (test/support/sms-gateway.ts). The end-to-end part runs the whole system: a paid order on a real
 * in-process chain, the indexer, the callbacks outbox and its worker.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { createSmsProvider } from "../../server/src/callbacks/sms.ts";
import { loadConfig } from "../../server/src/config/index.ts";
import { parseDecimal } from "../../server/src/lib/money.ts";
import { startApiSystem, type ApiSystem } from "../support/api-system.ts";
import { onRealPostgres } from "../support/db.ts";
import { startSmsGateway, type SmsGateway } from "../support/sms-gateway.ts";
import { until } from "../support/until.ts";

const ADMIN_TOKEN = "admin-token-for-sms-tests-0123456789";

describe("SMS providers against servers that speak their protocol", function () {
  let gateway: SmsGateway;
  before(async function () {
    gateway = await startSmsGateway();
  });
  after(async function () {
    await gateway?.close();
  });
  const twilio = (overrides: { authToken?: string } = {}) =>
    createSmsProvider({
      provider: "twilio",
      apiUrl: gateway.url,
      accountSid: gateway.accountSid,
      authToken: overrides.authToken ?? gateway.authToken,
      from: "+15005550006",
      messagingServiceSid: undefined,
      timeoutMs: 2_000,
    });

  it("Twilio: a message is a form POST with basic auth; 201 gives its SID", async function () {
    const result = await twilio().send({ to: "+447700900123", text: 'Paid: "12.00" & done' });
    assert.equal(result.status, "sent", JSON.stringify(result));
    const sent = gateway.sent.at(-1);
    assert.deepEqual(
      { to: sent?.to, from: sent?.from, body: sent?.body },
      { to: "+447700900123", from: "+15005550006", body: 'Paid: "12.00" & done' },
    );
    assert.equal(result.status === "sent" ? result.id : null, sent?.sid);
    const request = gateway.requests.at(-1);
    assert.equal(request?.headers["content-type"], "application/x-www-form-urlencoded");
  });

  it("Twilio: an invalid or unsubscribed number is refused for good; 429, 5xx and bad credentials are tried again", async function () {
    const invalid = await twilio().send({ to: "+1", text: "x" });
    assert.equal(invalid.status, "refused");
    assert.match(
      invalid.status === "refused" ? invalid.error : "",
      /21211.*not a valid phone number.*not retried/,
    );

    gateway.unsubscribed.add("+15558675310");
    const stop = await twilio().send({ to: "+15558675310", text: "x" });
    assert.equal(stop.status, "refused");
    assert.match(stop.status === "refused" ? stop.error : "", /21610/);

    gateway.tooManyRequests = 1;
    gateway.retryAfter = "2";
    const busy = await twilio().send({ to: "+15558675311", text: "x" });
    assert.equal(busy.status, "retry");
    assert.equal(busy.status === "retry" ? busy.retryAfterMs : undefined, 2000);
    assert.equal(busy.statusCode, 429);

    gateway.serverErrors = 1;
    const down = await twilio().send({ to: "+15558675311", text: "x" });
    assert.equal(down.status, "retry");
    assert.equal(down.statusCode, 500);

    const wrongToken = await twilio({ authToken: "0".repeat(32) }).send({ to: "+15558675311", text: "x" });
    assert.equal(wrongToken.status, "retry");
    assert.match(wrongToken.status === "retry" ? wrongToken.error : "", /20003.*TWILIO_AUTH_TOKEN/);
  });

  it("a generic gateway: placeholders are JSON-escaped in a JSON body, form-encoded in a form, URL-encoded in a URL", async function () {
    const text = 'Order 7 "paid"\nThanks & bye';
    const json = createSmsProvider({
      provider: "http",
      url: `${gateway.url}/send`,
      method: "POST",
      body: '{"to":"{to}","message":"{text}","sender":"{from}"}',
      contentType: "application/json",
      headers: { authorization: "Bearer gateway-key" },
      from: "Shop",
      timeoutMs: 2_000,
    });
    assert.equal((await json.send({ to: "+15551234567", text })).status, "sent");
    const posted = gateway.requests.at(-1);
    assert.deepEqual(JSON.parse(posted?.body ?? ""), { to: "+15551234567", message: text, sender: "Shop" });
    assert.equal(posted?.headers.authorization, "Bearer gateway-key");

    const form = createSmsProvider({
      provider: "http",
      url: `${gateway.url}/form`,
      method: "POST",
      body: "to={to}&msg={text}",
      contentType: "application/x-www-form-urlencoded",
      headers: {},
      from: undefined,
      timeoutMs: 2_000,
    });
    assert.equal((await form.send({ to: "+15551234567", text })).status, "sent");
    assert.equal(new URLSearchParams(gateway.requests.at(-1)?.body).get("msg"), text);

    const get = createSmsProvider({
      provider: "http",
      url: `${gateway.url}/get?to={to}&text={text}`,
      method: "GET",
      body: undefined,
      contentType: "application/json",
      headers: {},
      from: undefined,
      timeoutMs: 2_000,
    });
    assert.equal((await get.send({ to: "+15551234567", text })).status, "sent");
    const url = new URL(`http://x${gateway.requests.at(-1)?.path}`);
    assert.deepEqual([url.searchParams.get("to"), url.searchParams.get("text")], ["+15551234567", text]);
  });

  it("a gateway that cannot be reached is tried again later", async function () {
    const closed = createSmsProvider({
      provider: "http",
      url: "http://127.0.0.1:9/send",
      method: "GET",
      body: undefined,
      contentType: "application/json",
      headers: {},
      from: undefined,
      timeoutMs: 2_000,
    });
    const result = await closed.send({ to: "+15551234567", text: "x" });
    assert.equal(result.status, "retry");
    assert.equal(result.statusCode, null);
  });

  it("configuration: Twilio needs its credentials and a sender, and says which variable is missing", function () {
    assert.throws(
      () => loadConfig({ NODE_ENV: "test", ETH_USD_PRICE: "1", SMS_PROVIDER: "twilio" }),
      (e: Error) =>
        /TWILIO_ACCOUNT_SID/.test(e.message) &&
        /TWILIO_AUTH_TOKEN/.test(e.message) &&
        /SMS_FROM/.test(e.message),
    );
    assert.throws(
      () =>
        loadConfig({
          NODE_ENV: "test",
          ETH_USD_PRICE: "1",
          SMS_PROVIDER: "http",
          SMS_HTTP_URL: "http://127.0.0.1:9/send",
          SMS_HTTP_HEADERS: "[1]",
        }),
      (e: Error) =>
        /SMS_HTTP_BODY/.test(e.message) && /SMS_HTTP_HEADERS must be a JSON object/.test(e.message),
    );
  });
});

describe(`TXT Messaging by text message, end to end (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let gateway: SmsGateway;
  let api: ApiSystem;
  const CONFIRMATIONS = 2;

  before(async function () {
    gateway = await startSmsGateway();
    api = await startApiSystem({
      ADMIN_TOKEN,
      RUN_INDEXER: "true",
      RUN_CALLBACK_WORKER: "true",
      CONFIRMATIONS: String(CONFIRMATIONS),
      FINALITY_BLOCKS: "16",
      POLL_INTERVAL_MS: "20",
      ETH_USD_PRICE: "3000.00",
      RATE_LIMIT_PER_MINUTE: "100000",
      CALLBACK_RETRY_BASE_MS: "50",
      SMS_PROVIDER: "twilio",
      TWILIO_API_URL: gateway.url,
      TWILIO_ACCOUNT_SID: gateway.accountSid,
      TWILIO_AUTH_TOKEN: gateway.authToken,
      SMS_FROM: "+15005550006",
    });
  });
  after(async function () {
    await api?.close();
    await gateway?.close();
  });

  const inject = (
    method: "GET" | "POST" | "PUT",
    url: string,
    headers: Record<string, string>,
    payload?: object,
  ) => api.system.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
  const admin = (url: string, payload: object) =>
    inject("POST", url, { authorization: `Bearer ${ADMIN_TOKEN}` }, payload);

  async function merchant(email: string) {
    const created = await admin("/admin/merchants", { email, plan: "premium" });
    assert.equal(created.statusCode, 200, created.body);
    return created.json() as { id: number; api_key: string };
  }

  async function payOrder(key: string, amount: string) {
    const created = await inject(
      "POST",
      "/order",
      { authorization: key },
      {
        amount,
        address: api.chain.merchant.address,
        callback: "http://127.0.0.1:9/cb",
      },
    );
    assert.equal(created.statusCode, 200, created.body);
    const order = created.json() as { id: number; expected_amount: string; reference: string };
    const tx = await api.chain.processor.connect(api.chain.customer).getFunction("pay")(
      api.chain.merchant.address,
      order.reference as `0x${string}`,
      { value: parseDecimal(order.expected_amount, 18) },
    );
    await tx.wait();
    return order;
  }

  const statusOf = async (id: number, key: string) =>
    (await inject("GET", `/order/${id}`, { authorization: key })).json().status as string;

  const textsOf = async (orderId: number) =>
    (
      await api.testDb.db.query<{
        kind: string;
        url: string;
        status: string;
        attempts: number;
        last_error: string | null;
      }>(
        "SELECT kind, url, status, attempts, last_error FROM callbacks WHERE order_id = $1 AND kind LIKE 'notify.%' ORDER BY id",
        [orderId],
      )
    ).rows;

  it("the merchant sets its phone and events; a paid order texts only the events chosen, through Twilio, after a 429", async function () {
    const { api_key: key } = await merchant("texts@example.com");
    const plugin = await admin("/admin/merchants/plugins", {
      email: "texts@example.com",
      txt_messaging: true,
      notify_phone: "+447700900123",
    });
    assert.equal(plugin.statusCode, 200, plugin.body);
    assert.equal(plugin.json().notifications.channel, "sms");

    const settings = await inject(
      "PUT",
      "/user/notifications",
      { authorization: key },
      { events: ["order.complete"] },
    );
    assert.equal(settings.statusCode, 200, settings.body);
    assert.deepEqual(
      { phone: settings.json().phone, events: settings.json().events, channel: settings.json().channel },
      { phone: "+447700900123", events: ["order.complete"], channel: "sms" },
    );
    const bad = await inject(
      "PUT",
      "/user/notifications",
      { authorization: key },
      { events: ["order.paid"] },
    );
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.code, "invalid_notify_events");
    assert.match(bad.json().error.message, /order\.complete/);
    const badPhone = await inject(
      "PUT",
      "/user/notifications",
      { authorization: key },
      { phone: "07700 900123" },
    );
    assert.equal(badPhone.json().error.code, "invalid_notify_phone");

    gateway.tooManyRequests = 1;
    gateway.retryAfter = "1";
    const before = gateway.sent.length;
    const order = await payOrder(key, "12.00");
    await until(
      async () => ((await statusOf(order.id, key)) === "success" ? true : undefined),
      20_000,
      "paid",
    );
    await api.chain.mine(CONFIRMATIONS);
    await until(
      async () => ((await statusOf(order.id, key)) === "complete" ? true : undefined),
      20_000,
      "complete",
    );
    await until(
      async () => ((await textsOf(order.id))[0]?.status === "delivered" ? true : undefined),
      20_000,
      "text delivered",
    );

    const texts = await textsOf(order.id);
    assert.deepEqual(
      texts.map((t) => [t.kind, t.url, t.status, t.attempts]),
      [["notify.order.complete", "sms:+447700900123", "delivered", 2]],
      "one text (order.success was not chosen), delivered on its second attempt after Twilio's 429",
    );
    const sent = gateway.sent.slice(before);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]?.to, "+447700900123");
    assert.equal(sent[0]?.from, "+15005550006");
    assert.match(sent[0]?.body ?? "", new RegExp(`order ${order.id} complete, \\$12\\.00`));
    const { rows } = await api.testDb.db.query<{ last_error: string | null }>(
      "SELECT last_error FROM callbacks WHERE order_id = $1 AND kind LIKE 'notify.%'",
      [order.id],
    );
    assert.match(rows[0]?.last_error ?? "", new RegExp(`sent by twilio as ${sent[0]?.sid}`));
    const user = (await inject("GET", "/user", { authorization: key })).json();
    assert.equal(user.notifications.sent_this_month, 1);
  });

  it("a number that has sent STOP is refused by Twilio once and not texted again", async function () {
    const { api_key: key } = await merchant("stopped@example.com");
    gateway.unsubscribed.add("+15558675399");
    assert.equal(
      (
        await admin("/admin/merchants/plugins", {
          email: "stopped@example.com",
          txt_messaging: true,
          notify_phone: "+15558675399",
          notify_events: ["order.success"],
        })
      ).statusCode,
      200,
    );
    const order = await payOrder(key, "5.00");
    await until(
      async () => ((await textsOf(order.id))[0]?.status === "failed" ? true : undefined),
      20_000,
      "text refused",
    );
    const [text] = await textsOf(order.id);
    assert.equal(text?.attempts, 1);
    assert.match(text?.last_error ?? "", /21610.*not retried/);
  });
});
