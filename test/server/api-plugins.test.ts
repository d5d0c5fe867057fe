import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import { after, before, describe, it } from "mocha";
import { parseDecimal } from "../../server/src/lib/money.ts";
import { startApiSystem, type ApiSystem } from "../support/api-system.ts";
import { onRealPostgres } from "../support/db.ts";
import { startReceiver, type Delivery, type Receiver } from "../support/receiver.ts";
import { until } from "../support/until.ts";

const ADMIN_TOKEN = "admin-token-for-plugin-tests-0123456789";
const CONFIRMATIONS = 2;

/** Independent check of X-EthPOS-Signature (t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>). */
function signedWith(req: Delivery, secret: string): boolean {
  const header = String(req.headers["x-ethpos-signature"] ?? "");
  const t = /(?:^|,)t=(\d+)/.exec(header)?.[1];
  const v1s = [...header.matchAll(/(?:^|,)v1=([0-9a-f]{64})/g)].map((m) => m[1] as string);
  if (!t || v1s.length === 0) return false;
  const expected = createHmac("sha256", secret).update(`${t}.${req.body}`).digest();
  return v1s.some((v) => timingSafeEqual(Buffer.from(v, "hex"), expected));
}

/**
 * Plugins (the seed's TXT Messaging and Recurring Payments) against the real stack: a real
 * in-process chain, the indexer and callback workers running, PostgreSQL or PGlite, and a real
 * HTTP receiver on loopback standing in for the SMS provider's webhook.
 */
describe(`plugins: TXT Messaging notifications and Recurring Payments (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let api: ApiSystem;
  let receiver: Receiver;

  before(async function () {
    receiver = await startReceiver();
    api = await startApiSystem({
      ADMIN_TOKEN,
      RUN_INDEXER: "true",
      RUN_CALLBACK_WORKER: "true",
      CONFIRMATIONS: String(CONFIRMATIONS),
      FINALITY_BLOCKS: "16",
      POLL_INTERVAL_MS: "20",
      PUBLIC_URL: "http://pos.test",
      ETH_USD_PRICE: "3000.00",
      // The tests poll order status every 25 ms.
      RATE_LIMIT_PER_MINUTE: "100000",
    });
  });

  after(async function () {
    await api?.close();
    await receiver?.close();
  });

  const admin = (url: string, payload: object, token: string | null = ADMIN_TOKEN) =>
    api.system.app.inject({
      method: "POST",
      url,
      payload,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
  const createMerchant = async (email: string, plan: string) => {
    const res = await admin("/admin/merchants", { email, plan });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { id: number; api_key: string };
  };
  const setPlugins = (payload: object) => admin("/admin/merchants/plugins", payload);
  const getUser = (key: string) =>
    api.system.app.inject({ method: "GET", url: "/user", headers: { authorization: key } });
  const recurring = (key: string) =>
    api.system.app.inject({
      method: "GET",
      url: "/status/recurring/active",
      headers: { authorization: key },
    });

  it("lets the admin API set plugins and notification settings, shown additively on GET /user", async function () {
    const { api_key: key } = await createMerchant("sms@example.com", "seller");
    const before = (await getUser(key)).json();
    assert.deepEqual(before.plugins, { txt_messaging: false, recurring_payments: false });
    assert.deepEqual(before.notifications, {
      url: null,
      phone: null,
      events: null,
      channel: "none",
      monthly_limit: 150,
      sent_this_month: 0,
    });

    const set = await setPlugins({
      email: "sms@example.com",
      txt_messaging: true,
      recurring_payments: true,
      notify_url: `${receiver.url}/sms`,
      notify_phone: "+15551234567",
      txt_messaging_limit: 500,
    });
    assert.equal(set.statusCode, 200, set.body);
    assert.deepEqual(set.json().plugins, { txt_messaging: true, recurring_payments: true });

    const user = (await getUser(key)).json();
    // The existing fields are all still there; plugins and notifications are additive.
    for (const field of ["id", "email", "plan", "limits", "transactions_today", "created_at"])
      assert.ok(field in user, `missing ${field}`);
    assert.equal(user.plan, "Seller");
    assert.deepEqual(user.plugins, { txt_messaging: true, recurring_payments: true });
    assert.deepEqual(user.notifications, {
      url: `${receiver.url}/sms`,
      phone: "+15551234567",
      events: null,
      // No SMS provider on this server: the messages go to the webhook.
      channel: "webhook",
      monthly_limit: 500,
      sent_this_month: 0,
    });

    // Fields left out keep their value; null clears one.
    const cleared = await setPlugins({ email: "sms@example.com", notify_phone: null });
    assert.equal(cleared.statusCode, 200, cleared.body);
    assert.equal(cleared.json().notifications.phone, null);
    assert.equal(cleared.json().notifications.url, `${receiver.url}/sms`);
    assert.equal(cleared.json().plugins.txt_messaging, true);
  });

  it("refuses plugin settings that cannot work, with a 4xx that says why", async function () {
    await createMerchant("basic@example.com", "basic");
    const cases: [object, number, string, RegExp][] = [
      [{ email: "basic@example.com", txt_messaging: true }, 400, "plugin_needs_notify_url", /notify_url/],
      [{ email: "basic@example.com", recurring_payments: true }, 400, "plugin_needs_plan", /Seller.*Basic/],
      [{ email: "basic@example.com", notify_phone: "555-1234" }, 400, "invalid_notify_phone", /E\.164/],
      [{ email: "basic@example.com", notify_url: "ftp://example.com/x" }, 400, "invalid_notify_url", /http/],
      [
        { email: "basic@example.com", txt_messaging_limit: 200 },
        400,
        "invalid_request",
        /txt_messaging_limit/,
      ],
      [{ email: "basic@example.com", sms: true }, 400, "invalid_request", /additional/],
      [{ email: "nobody@example.com", txt_messaging: false }, 404, "merchant_not_found", /nobody/],
    ];
    for (const [payload, status, code, message] of cases) {
      const res = await setPlugins(payload);
      assert.equal(res.statusCode, status, `${JSON.stringify(payload)}: ${res.body}`);
      assert.equal(res.json().error.code, code, JSON.stringify(payload));
      assert.match(res.json().error.message, message);
    }
    const noToken = await admin("/admin/merchants/plugins", { email: "basic@example.com" }, null);
    assert.equal(noToken.statusCode, 401);
    // Nothing was half-applied.
    const { rows } = await api.testDb.db.query<{ plugins: unknown; notify_url: string | null }>(
      "SELECT plugins, notify_url FROM merchants WHERE email = 'basic@example.com'",
    );
    assert.deepEqual(rows[0], { plugins: {}, notify_url: null });
    // The database itself refuses unknown plugin names and non-boolean flags.
    for (const plugins of ['{"sms":true}', '{"txt_messaging":"yes"}'])
      await assert.rejects(
        api.testDb.db.query("UPDATE merchants SET plugins = $1::jsonb WHERE email = 'basic@example.com'", [
          plugins,
        ]),
        /merchants_plugins_known/,
      );
  });

  it("refuses recurring billing below Seller and without the plugin (403 naming the plan)", async function () {
    const basic = await createMerchant("rec-basic@example.com", "basic");
    const seller = await createMerchant("rec-seller@example.com", "seller");

    const low = await recurring(basic.api_key);
    assert.equal(low.statusCode, 403);
    assert.equal(low.json().error.code, "plan_no_recurring");
    assert.match(low.json().error.message, /Seller plan or above.*Basic/);

    const off = await recurring(seller.api_key);
    assert.equal(off.statusCode, 403);
    assert.equal(off.json().error.code, "plugin_recurring_payments_off");
    assert.match(off.json().error.message, /Recurring Payments plugin.*Seller plan/);

    assert.equal(
      (await setPlugins({ email: "rec-seller@example.com", recurring_payments: true })).statusCode,
      200,
    );
    const on = await recurring(seller.api_key);
    assert.equal(on.statusCode, 200, on.body);
    assert.deepEqual(on.json(), { orders: [], next_cursor: null }, "a new account has no subscriptions");

    // A downgrade below Seller switches recurring billing off again, plugin or not.
    await admin("/admin/merchants/plan", { email: "rec-seller@example.com", plan: "basic" });
    const downgraded = await recurring(seller.api_key);
    assert.equal(downgraded.statusCode, 403);
    assert.match(downgraded.json().error.message, /Basic/);
  });

  async function payOrder(key: string, amount: string, path: string) {
    const created = await api.system.app.inject({
      method: "POST",
      url: "/order",
      payload: { amount, address: api.chain.merchant.address, callback: `${receiver.url}${path}` },
      headers: { authorization: key },
    });
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

  async function statusOf(id: number, key: string) {
    const res = await api.system.app.inject({
      method: "GET",
      url: `/order/${id}`,
      headers: { authorization: key },
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().status as string;
  }

  it("sends a signed text notification on each status change of a paid order, durably through the outbox", async function () {
    const { id: merchantId, api_key: key } = await createMerchant("notify@example.com", "premium");
    assert.equal(
      (
        await setPlugins({
          email: "notify@example.com",
          txt_messaging: true,
          notify_url: `${receiver.url}/sms/notify`,
          notify_phone: "+447700900123",
        })
      ).statusCode,
      200,
    );
    const quiet = await createMerchant("quiet@example.com", "premium");

    const order = await payOrder(key, "12.00", "/cb/notify");
    const quietOrder = await payOrder(quiet.api_key, "7.00", "/cb/quiet");
    // The second payment's block is the first one's second confirmation: wait for both to be seen.
    await until(
      async () =>
        (await statusOf(order.id, key)) !== "pending" &&
        (await statusOf(quietOrder.id, quiet.api_key)) === "success"
          ? true
          : undefined,
      20_000,
      "both orders paid",
    );
    await api.chain.mine(CONFIRMATIONS);
    await until(
      async () => ((await statusOf(order.id, key)) === "complete" ? true : undefined),
      20_000,
      "order complete",
    );

    const sms = (
      await receiver.waitFor((all) => all.filter((r) => r.path === "/sms/notify").length >= 2)
    ).filter((r) => r.path === "/sms/notify");
    const bodies = sms.map((r) => JSON.parse(r.body));
    assert.deepEqual(
      bodies.map((b) => [b.type, b.event, b.status, b.order_id, b.to]),
      [
        ["notification", "order.success", "success", order.id, "+447700900123"],
        ["notification", "order.complete", "complete", order.id, "+447700900123"],
      ],
    );
    assert.equal(
      bodies[0].text,
      `Ethereum POS: order ${order.id} paid, $12.00 (${order.expected_amount} ETH). Waiting for confirmations.`,
    );
    assert.match(bodies[1].text, new RegExp(`order ${order.id} complete, \\$12\\.00`));
    for (const b of bodies) assert.ok(b.text.length <= 160, `one SMS: ${b.text.length} chars`);

    // Signed with this merchant's own callback secret, with a stable event id per message.
    const { rows: secrets } = await api.testDb.db.query<{ callback_secret: string }>(
      "SELECT callback_secret FROM merchants WHERE id = $1",
      [merchantId],
    );
    for (const r of sms) {
      assert.ok(signedWith(r, secrets[0]?.callback_secret as string), "signature verifies");
      assert.match(String(r.headers["x-ethpos-event-id"]), /^[0-9a-f-]{36}$/);
    }

    // The outbox holds each message next to the order callback it accompanies, delivered.
    const { rows } = await api.testDb.db.query<{ kind: string; status: string; url: string }>(
      "SELECT kind, status, url FROM callbacks WHERE order_id = $1 ORDER BY id",
      [order.id],
    );
    assert.deepEqual(
      rows.map((r) => r.kind),
      ["order.success", "notify.order.success", "order.complete", "notify.order.complete"],
    );
    await until(
      async () => {
        const { rows: s } = await api.testDb.db.query<{ status: string }>(
          "SELECT status FROM callbacks WHERE order_id = $1 AND status <> 'delivered'",
          [order.id],
        );
        return s.length === 0 ? true : undefined;
      },
      10_000,
      "all delivered",
    );

    // A merchant without the plugin gets its order callbacks and no text.
    await receiver.waitFor((all) => all.some((r) => r.path === "/cb/quiet"));
    const { rows: quietRows } = await api.testDb.db.query<{ kind: string }>(
      "SELECT kind FROM callbacks WHERE merchant_id = $1 ORDER BY id",
      [BigInt(quiet.id)],
    );
    assert.ok(quietRows.length >= 1);
    assert.ok(
      quietRows.every((r) => r.kind.startsWith("order.")),
      JSON.stringify(quietRows),
    );

    const user = (await getUser(key)).json();
    assert.equal(user.notifications.sent_this_month, 2);
  });

  it("stops texting at the monthly TXT Messaging limit until the tier is raised", async function () {
    const { id, api_key: key } = await createMerchant("limit@example.com", "premium");
    await setPlugins({
      email: "limit@example.com",
      txt_messaging: true,
      notify_url: `${receiver.url}/sms/limit`,
    });
    // 150 messages already sent this month (the "TXT Messaging 150" tier).
    await api.testDb.db.query(
      `INSERT INTO callbacks (stream, kind, url, body, secret_ref, merchant_id, status, delivered_at)
       SELECT 'notify:' || $1::text, 'notify.order.success', 'http://127.0.0.1:9/', '{}', 'merchant:' || $1::text,
              $1::bigint, 'delivered', now()
         FROM generate_series(1, 150)`,
      [BigInt(id)],
    );
    assert.equal((await getUser(key)).json().notifications.sent_this_month, 150);

    const order = await payOrder(key, "3.00", "/cb/limit");
    await until(
      async () => ((await statusOf(order.id, key)) === "success" ? true : undefined),
      20_000,
      "order success",
    );
    const kinds = async () =>
      (
        await api.testDb.db.query<{ kind: string }>(
          "SELECT kind FROM callbacks WHERE order_id = $1 ORDER BY id",
          [order.id],
        )
      ).rows.map((r) => r.kind);
    assert.deepEqual(await kinds(), ["order.success"]);

    assert.equal(
      (await setPlugins({ email: "limit@example.com", txt_messaging_limit: 500 })).statusCode,
      200,
    );
    await api.chain.mine(CONFIRMATIONS);
    await until(
      async () => ((await statusOf(order.id, key)) === "complete" ? true : undefined),
      20_000,
      "order complete",
    );
    assert.deepEqual(await kinds(), ["order.success", "order.complete", "notify.order.complete"]);
    const texts = await receiver.waitFor((all) => all.some((r) => r.path === "/sms/limit"));
    assert.deepEqual(
      texts.filter((r) => r.path === "/sms/limit").map((r) => JSON.parse(r.body).event),
      ["order.complete"],
    );
  });
});
