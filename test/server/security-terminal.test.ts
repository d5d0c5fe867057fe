/**
 * Security review 2, finding 8: a terminal session (signed in with a point-of-sale terminal key)
 * could read any order of its merchant with `GET /order/:id`, and its session showed the
 * merchant's email. A terminal now reads only the orders its own key created (others are 404,
 * as another merchant's are), and its session carries no email.
 */
import assert from "node:assert/strict";
import { createMerchant } from "../../server/src/merchants/service.ts";
import { proveAddress, startApiSystem, type ApiSystem } from "../support/api-system.ts";
import { onRealPostgres } from "../support/db.ts";

describe(`security: a terminal reads only its own orders (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  let api: ApiSystem;
  let key: string;
  const email = "terminal-owner@example.com";

  before(async function () {
    api = await startApiSystem({ RATE_LIMIT_PER_MINUTE: "100000" });
    key = (await createMerchant(api.testDb.db, email, "seller")).apiKey;
    await proveAddress(api.system, key, api.chain.merchant);
  });
  after(async function () {
    await api?.close();
  });

  const inject = (method: "GET" | "POST", url: string, headers: Record<string, string>, payload?: object) =>
    api.system.app.inject({
      method,
      url,
      // A browser sends its page's Origin on every state-changing request (review 2, finding 10).
      headers: method === "GET" ? headers : { origin: api.system.config.consoleOrigin, ...headers },
      ...(payload ? { payload } : {}),
    });

  /** A new terminal key of the merchant, signed in: its session cookie and what sign-in answered. */
  async function terminal(label: string) {
    const created = await inject(
      "POST",
      "/user/terminal-keys",
      { authorization: key },
      { label, address: api.chain.merchant.address, callback: "http://127.0.0.1:9/cb" },
    );
    assert.equal(created.statusCode, 200, created.body);
    const signin = await inject("POST", "/console/session", {}, { terminal_key: created.json().key });
    assert.equal(signin.statusCode, 200, signin.body);
    return { cookie: String(signin.headers["set-cookie"]).split(";")[0] as string, signin };
  }

  async function charge(cookie: string): Promise<string> {
    const res = await inject("POST", "/pos/order", { cookie }, { amount: "4.50" });
    assert.equal(res.statusCode, 200, res.body);
    return String(res.json().id);
  }

  it("reads the orders its key created, and gets 404 for the merchant's other orders", async function () {
    const one = await terminal("Front counter");
    const two = await terminal("Back counter");
    const ownOrder = await charge(one.cookie);
    const otherTerminalsOrder = await charge(two.cookie);
    const byApi = await inject(
      "POST",
      "/order",
      { authorization: key },
      { amount: "20.00", address: api.chain.merchant.address, callback: "https://shop.example/cb" },
    );
    assert.equal(byApi.statusCode, 200, byApi.body);
    const merchantsOrder = String(byApi.json().id);

    const own = await inject("GET", `/order/${ownOrder}`, { cookie: one.cookie });
    assert.equal(own.statusCode, 200, own.body);
    assert.equal(String(own.json().id), ownOrder);
    for (const id of [otherTerminalsOrder, merchantsOrder]) {
      const res = await inject("GET", `/order/${id}`, { cookie: one.cookie });
      assert.equal(res.statusCode, 404, `order ${id} as terminal one: ${res.body}`);
      assert.equal(res.json().error.code, "order_not_found");
    }
    assert.equal(
      (await inject("GET", `/order/${otherTerminalsOrder}`, { cookie: two.cookie })).statusCode,
      200,
    );
    // The merchant's API key still reads every order of the account.
    for (const id of [ownOrder, otherTerminalsOrder, merchantsOrder]) {
      assert.equal((await inject("GET", `/order/${id}`, { authorization: key })).statusCode, 200, id);
    }
  });

  it("does not see the merchant's email, neither at sign-in nor in its session", async function () {
    const { cookie, signin } = await terminal("Kiosk");
    const session = await inject("GET", "/console/session", { cookie });
    assert.equal(session.statusCode, 200, session.body);
    assert.equal(session.json().session.kind, "terminal");
    assert.equal(session.json().session.label, "Kiosk");
    for (const body of [signin.body, session.body]) {
      assert.ok(!body.includes(email), `the merchant's email is shown to a terminal: ${body}`);
    }
    const order = await inject("GET", `/order/${await charge(cookie)}`, { cookie });
    assert.ok(!order.body.includes(email), order.body);
    // A console session (the merchant) still sees its email.
    const consoleSignin = await inject("POST", "/console/session", {}, { api_key: key });
    assert.equal(consoleSignin.json().email, email);
  });
});
