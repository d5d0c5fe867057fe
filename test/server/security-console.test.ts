import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "mocha";
import { generatePrivateKey, privateKeyToAccount, type PrivateKeyAccount } from "viem/accounts";
import { createSiweMessage } from "viem/siwe";
import { loadConfig } from "../../server/src/config/index.ts";
import { createMerchant, setPlugins } from "../../server/src/merchants/service.ts";
import { proveAddress, startApiSystem, type ApiSystem } from "../support/api-system.ts";
import { onRealPostgres } from "../support/db.ts";

/**
 * Security review 2, findings 1, 3, 9 and 10 (docs/security.md R2-1, R2-3, R2-9, R2-10): the
 * console's Sign-In with Ethereum, what a leaked API key can keep, the throttle of keys sent in
 * the sign-in body, and the session cookie and cross-origin requests. Through app.inject on a
 * real database and a real in-process chain (the SIWE signature is checked through it).
 */
const ORIGIN = "https://pos.example";
const HOST = "pos.example";
const ADMIN_TOKEN = "admin-token-for-the-console-security-test-0123456789";

interface Reply {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
  json(): unknown;
}
const setCookies = (res: Reply): string[] => {
  const header = res.headers["set-cookie"];
  return header === undefined ? [] : Array.isArray(header) ? header.map(String) : [String(header)];
};
/** The `name=value` pair of the cookie whose name ends with `suffix` (with or without __Host-). */
const cookiePair = (res: Reply, suffix: string) =>
  setCookies(res)
    .map((c) => c.split(";")[0] as string)
    .find((pair) => (pair.split("=")[0] as string).endsWith(suffix) && pair.split("=")[1] !== "");
const code = (res: Reply) => (res.json() as { error?: { code?: string } }).error?.code;

describe(`security review 2: console sign-in, sessions and cookies (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  this.timeout(120_000);
  let api: ApiSystem;
  let chainId: number;

  before(async function () {
    api = await startApiSystem({ PUBLIC_URL: ORIGIN, ADMIN_TOKEN });
    chainId = await api.chain.client.getChainId();
  });
  after(async function () {
    await api?.close();
  });

  const inject = (options: {
    method: "GET" | "POST" | "PUT" | "DELETE";
    url: string;
    host?: string;
    origin?: string | null;
    cookies?: (string | undefined)[];
    authorization?: string;
    payload?: unknown;
    remoteAddress?: string;
  }) => {
    const headers: Record<string, string> = { host: options.host ?? HOST };
    const origin = options.origin === undefined ? ORIGIN : options.origin;
    if (origin !== null && options.method !== "GET") headers.origin = origin;
    const cookies = (options.cookies ?? []).filter((c): c is string => Boolean(c));
    if (cookies.length > 0) headers.cookie = cookies.join("; ");
    if (options.authorization) headers.authorization = options.authorization;
    return api.system.app.inject({
      method: options.method,
      url: options.url,
      headers,
      ...(options.payload === undefined ? {} : { payload: options.payload as object }),
      ...(options.remoteAddress ? { remoteAddress: options.remoteAddress } : {}),
    }) as Promise<Reply>;
  };

  async function merchantWithWallet(email: string) {
    const { apiKey } = await createMerchant(api.testDb.db, email, "seller");
    const wallet = privateKeyToAccount(generatePrivateKey());
    await proveAddress(api.system, apiKey, {
      address: wallet.address,
      signMessage: (message) => wallet.signMessage({ message }),
    });
    return { apiKey, wallet };
  }

  /** A nonce as a browser gets it: the nonce, and the pre-session cookie it is bound to. */
  async function getNonce(host = HOST, cookies: (string | undefined)[] = []) {
    const res = await inject({ method: "GET", url: "/console/siwe/nonce", host, cookies });
    assert.equal(res.statusCode, 200, res.body);
    return { nonce: (res.json() as { nonce: string }).nonce, cookie: cookiePair(res, "epos_siwe") };
  }

  function siwe(
    wallet: PrivateKeyAccount,
    nonce: string,
    fields: Partial<Parameters<typeof createSiweMessage>[0]> = {},
  ) {
    const message = createSiweMessage({
      address: wallet.address,
      chainId,
      domain: HOST,
      nonce,
      uri: ORIGIN,
      version: "1",
      issuedAt: new Date(),
      expirationTime: new Date(Date.now() + 10 * 60_000),
      ...fields,
    });
    return wallet.signMessage({ message }).then((signature) => ({ message, signature }));
  }

  const signIn = (
    body: Record<string, unknown>,
    options: { host?: string; origin?: string | null; cookies?: (string | undefined)[] } = {},
  ) => inject({ method: "POST", url: "/console/siwe", payload: body, ...options });

  async function apiKeySession(apiKey: string) {
    const res = await inject({ method: "POST", url: "/console/session", payload: { api_key: apiKey } });
    assert.equal(res.statusCode, 200, res.body);
    const cookie = cookiePair(res, "epos_session");
    assert.ok(cookie, "a session cookie");
    return cookie;
  }
  async function walletSession(wallet: PrivateKeyAccount) {
    const { nonce, cookie } = await getNonce();
    const res = await signIn(await siwe(wallet, nonce), { cookies: [cookie] });
    assert.equal(res.statusCode, 200, res.body);
    return cookiePair(res, "epos_session") as string;
  }
  const whoAmI = async (cookie: string | undefined) =>
    (await inject({ method: "GET", url: "/user", cookies: [cookie] })).statusCode;

  describe("R2-1: Sign-In with Ethereum checks the configured origin, the chain, the times and the browser", function () {
    it("refuses the phishing sign-in: a message for evil.example posted with Host: evil.example", async function () {
      const { wallet } = await merchantWithWallet("phished@example.com");
      // The phishing page takes a nonce from the real server and has the wallet sign a message
      // for its own domain (the wallet shows no warning: the domain matches the page).
      const { nonce, cookie } = await getNonce("evil.example");
      const signed = await siwe(wallet, nonce, {
        domain: "evil.example",
        uri: "http://evil.example/console",
      });
      // Posted from the attacker's server, which sends whatever Origin it likes.
      const res = await signIn(signed, { host: "evil.example", cookies: [cookie] });
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(code(res), "invalid_siwe_domain");
      assert.equal(cookiePair(res, "epos_session"), undefined, "no session cookie");
      // The page is told the configured domain, whatever Host the request named.
      const page = await inject({ method: "GET", url: "/console/siwe/nonce", host: "evil.example" });
      assert.equal((page.json() as { domain: string }).domain, HOST);
    });

    it("refuses a message for another chain, a URI that only starts with the origin, and a future or missing issued-at", async function () {
      const { wallet } = await merchantWithWallet("strict@example.com");
      const cases: [string, Partial<Parameters<typeof createSiweMessage>[0]>, string][] = [
        ["chain 1", { chainId: 1 }, "invalid_siwe_chain"],
        [
          "a URI on another host",
          { uri: "https://pos.example.attacker.example/console" },
          "invalid_siwe_uri",
        ],
        ["issued tomorrow", { issuedAt: new Date(Date.now() + 24 * 3600_000) }, "invalid_siwe_time"],
        ["issued an hour ago", { issuedAt: new Date(Date.now() - 3600_000) }, "invalid_siwe_time"],
        ["expired", { expirationTime: new Date(Date.now() - 1_000) }, "invalid_siwe_time"],
      ];
      for (const [name, fields, expected] of cases) {
        const { nonce, cookie } = await getNonce();
        const res = await signIn(await siwe(wallet, nonce, fields), { cookies: [cookie] });
        assert.equal(res.statusCode, 400, `${name}: ${res.body}`);
        assert.equal(code(res), expected, name);
      }
      // No issued-at at all: EIP-4361 requires it, and the parser reads no fields past it.
      const { nonce, cookie } = await getNonce();
      const bare = (await siwe(wallet, nonce)).message.replace(/\nIssued At: [^\n]*/, "");
      const res = await signIn(
        { message: bare, signature: await wallet.signMessage({ message: bare }) },
        { cookies: [cookie] },
      );
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(code(res), "invalid_siwe_message");
    });

    it("binds each nonce to the browser that asked for it: another client's nonce, or none, signs in nobody", async function () {
      const { wallet } = await merchantWithWallet("bound@example.com");
      const attacker = await getNonce();
      const victim = await getNonce();
      assert.ok(attacker.cookie && victim.cookie, "each browser gets its pre-session cookie");
      // The victim's browser posts a message carrying the attacker's nonce.
      const crossed = await signIn(await siwe(wallet, attacker.nonce), { cookies: [victim.cookie] });
      assert.equal(crossed.statusCode, 400, crossed.body);
      assert.equal(code(crossed), "invalid_siwe_nonce");
      // A message posted without the browser's cookie.
      const bare = await signIn(await siwe(wallet, victim.nonce), { cookies: [] });
      assert.equal(bare.statusCode, 400, bare.body);
      assert.equal(code(bare), "invalid_siwe_nonce");
      // The right browser with its own nonce signs in, once.
      const signed = await siwe(wallet, victim.nonce);
      const ok = await signIn(signed, { cookies: [victim.cookie] });
      assert.equal(ok.statusCode, 200, ok.body);
      assert.equal(await whoAmI(cookiePair(ok, "epos_session")), 200);
      const replay = await signIn(signed, { cookies: [victim.cookie] });
      assert.equal(replay.statusCode, 400);
      assert.equal(code(replay), "invalid_siwe_nonce");
    });

    it("reads CONSOLE_ORIGIN, else PUBLIC_URL's origin, and refuses an origin with a path", function () {
      assert.equal(
        loadConfig({ PUBLIC_URL: "https://shop.example/pay" }).consoleOrigin,
        "https://shop.example",
      );
      assert.equal(
        loadConfig({ PUBLIC_URL: "https://pay.example", CONSOLE_ORIGIN: "https://console.example:8443" })
          .consoleOrigin,
        "https://console.example:8443",
      );
      assert.throws(
        () => loadConfig({ CONSOLE_ORIGIN: "https://console.example/console" }),
        /CONSOLE_ORIGIN must be an origin/,
      );
    });
  });

  describe("R2-3: a leaked API key does not become permanent access", function () {
    it("rotating the API key ends the merchant's console sessions, and its terminal keys unless kept", async function () {
      const { apiKey, wallet } = await merchantWithWallet("rotated@example.com");
      const attackerSession = await apiKeySession(apiKey);
      const walletSessionCookie = await walletSession(wallet);
      const terminal = await inject({
        method: "POST",
        url: "/user/terminal-keys",
        authorization: apiKey,
        payload: { label: "Counter", address: wallet.address, callback: "https://shop.example/cb" },
      });
      assert.equal(terminal.statusCode, 200, terminal.body);
      const terminalKey = (terminal.json() as { key: string }).key;
      const terminalCookie = cookiePair(
        await inject({ method: "POST", url: "/console/session", payload: { terminal_key: terminalKey } }),
        "epos_session",
      );
      assert.equal(await whoAmI(attackerSession), 200);

      const rotate = (keep?: boolean) =>
        inject({
          method: "POST",
          url: "/admin/merchants/key",
          authorization: `Bearer ${ADMIN_TOKEN}`,
          payload: {
            email: "rotated@example.com",
            ...(keep === undefined ? {} : { keep_terminal_keys: keep }),
          },
        });
      const rotated = await rotate();
      assert.equal(rotated.statusCode, 200, rotated.body);
      assert.equal(await whoAmI(attackerSession), 401, "the attacker's session is dead");
      assert.equal(await whoAmI(walletSessionCookie), 401, "every console session ends");
      const order = await inject({
        method: "POST",
        url: "/pos/order",
        cookies: [terminalCookie],
        payload: { amount: "1.00" },
      });
      assert.equal(order.statusCode, 401, "the terminal key was revoked with the rotation");

      // Kept terminal keys keep working across a rotation.
      const newKey = (rotated.json() as { api_key: string }).api_key;
      const kept = await inject({
        method: "POST",
        url: "/user/terminal-keys",
        authorization: newKey,
        payload: { label: "Kept", address: wallet.address, callback: "https://shop.example/cb" },
      });
      const keptCookie = cookiePair(
        await inject({
          method: "POST",
          url: "/console/session",
          payload: { terminal_key: (kept.json() as { key: string }).key },
        }),
        "epos_session",
      );
      assert.equal((await rotate(true)).statusCode, 200);
      const keptOrder = await inject({
        method: "POST",
        url: "/pos/order",
        cookies: [keptCookie],
        payload: { amount: "1.00" },
      });
      assert.equal(keptOrder.statusCode, 200, keptOrder.body);
    });

    it("lists and unlinks proven addresses: the unlinked wallet signs in nobody, its sessions and terminal keys end", async function () {
      const { apiKey, wallet } = await merchantWithWallet("unlink@example.com");
      const session = await walletSession(wallet);
      await inject({
        method: "POST",
        url: "/user/terminal-keys",
        authorization: apiKey,
        payload: { label: "Counter", address: wallet.address, callback: "https://shop.example/cb" },
      });
      const listed = await inject({ method: "GET", url: "/user/addresses", cookies: [session] });
      assert.deepEqual(
        (listed.json() as { addresses: { address: string }[] }).addresses.map((a) => a.address),
        [wallet.address],
      );
      const unlinked = await inject({
        method: "DELETE",
        url: `/user/addresses/${wallet.address}`,
        authorization: apiKey,
      });
      assert.equal(unlinked.statusCode, 200, unlinked.body);
      assert.deepEqual(unlinked.json(), {
        address: wallet.address,
        unlinked: true,
        terminal_keys_revoked: 1,
      });
      assert.equal(await whoAmI(session), 401, "the wallet's session ended");
      const keys = await inject({ method: "GET", url: "/user/terminal-keys", authorization: apiKey });
      assert.deepEqual((keys.json() as { keys: unknown[] }).keys, []);
      const { nonce, cookie } = await getNonce();
      const again = await signIn(await siwe(wallet, nonce), { cookies: [cookie] });
      assert.equal(again.statusCode, 403, again.body);
      assert.equal(code(again), "address_not_linked");
      const missing = await inject({
        method: "DELETE",
        url: `/user/addresses/${wallet.address}`,
        authorization: apiKey,
      });
      assert.equal(missing.statusCode, 404);
    });

    it("signs out everywhere", async function () {
      const { apiKey, wallet } = await merchantWithWallet("everywhere@example.com");
      const one = await apiKeySession(apiKey);
      const two = await walletSession(wallet);
      const res = await inject({ method: "DELETE", url: "/user/sessions", cookies: [one] });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { ended: 2 });
      assert.equal(await whoAmI(one), 401);
      assert.equal(await whoAmI(two), 401);
    });

    it("linking a new wallet from a session needs the API key again or a linked wallet's fresh proof, and notifies the merchant", async function () {
      const { apiKey, wallet } = await merchantWithWallet("relink@example.com");
      await setPlugins(api.testDb.db, "relink@example.com", { notify_url: "https://hooks.example/notify" });
      const session = await apiKeySession(apiKey);
      const intruder = privateKeyToAccount(generatePrivateKey());

      // A stolen session alone cannot link a wallet, by SIWE or by the challenge API.
      let n = await getNonce();
      const refused = await signIn(await siwe(intruder, n.nonce), { cookies: [session, n.cookie] });
      assert.equal(refused.statusCode, 403, refused.body);
      assert.equal(code(refused), "reauth_required");
      const challenge = await inject({
        method: "GET",
        url: `/user/addresses/nonce?address=${intruder.address}`,
        cookies: [session],
      });
      const { message, nonce } = challenge.json() as { message: string; nonce: string };
      const viaApi = await inject({
        method: "POST",
        url: "/user/addresses",
        cookies: [session],
        payload: { address: intruder.address, nonce, signature: await intruder.signMessage({ message }) },
      });
      assert.equal(viaApi.statusCode, 403, viaApi.body);
      assert.equal(code(viaApi), "reauth_required");
      // A wrong API key is no re-authentication.
      n = await getNonce();
      const wrong = await signIn(
        { ...(await siwe(intruder, n.nonce)), api_key: `epos_${"0".repeat(12)}_${"0".repeat(48)}` },
        { cookies: [session, n.cookie] },
      );
      assert.equal(wrong.statusCode, 401, wrong.body);

      // The API key again links it.
      n = await getNonce();
      const second = privateKeyToAccount(generatePrivateKey());
      const linked = await signIn(
        { ...(await siwe(second, n.nonce)), api_key: apiKey },
        { cookies: [session, n.cookie] },
      );
      assert.equal(linked.statusCode, 200, linked.body);
      // So does a fresh proof from a wallet already linked (a second SIWE message of its own).
      n = await getNonce();
      const proof = await getNonce(HOST, [n.cookie]);
      const third = privateKeyToAccount(generatePrivateKey());
      const byProof = await signIn(
        { ...(await siwe(third, n.nonce)), reauth: await siwe(wallet, proof.nonce) },
        { cookies: [session, n.cookie] },
      );
      assert.equal(byProof.statusCode, 200, byProof.body);

      const { rows } = await api.testDb.db.query<{ url: string; body: string }>(
        `SELECT url, body FROM callbacks WHERE kind = 'account.address_linked'
          AND merchant_id = (SELECT id FROM merchants WHERE email = 'relink@example.com') ORDER BY id`,
      );
      assert.deepEqual(
        rows.map((r) => [r.url, (JSON.parse(r.body) as { address: string }).address]),
        [
          ["https://hooks.example/notify", second.address],
          ["https://hooks.example/notify", third.address],
        ],
      );
      assert.equal(
        (JSON.parse((rows[0] as { body: string }).body) as { event: string }).event,
        "account.address_linked",
      );
    });
  });

  describe("R2-9: wrong API keys in the sign-in body are throttled", function () {
    it("counts wrong keys in POST /console/session against the address, with those in headers", async function () {
      const attacker = "203.0.113.70";
      const guess = () =>
        inject({
          method: "POST",
          url: "/console/session",
          remoteAddress: attacker,
          payload: { api_key: `epos_${randomBytes(6).toString("hex")}_${randomBytes(24).toString("hex")}` },
        });
      const codes: number[] = [];
      for (let i = 0; i < 30; i++) codes.push((await guess()).statusCode);
      assert.ok(
        codes.filter((c) => c === 401).length <= 10,
        `at most 10 guesses checked: ${codes.join(",")}`,
      );
      const blocked = await guess();
      assert.equal(blocked.statusCode, 429);
      assert.equal(code(blocked), "auth_rate_limited");
      // The same address's header guesses share the count.
      const header = await inject({
        method: "GET",
        url: "/user",
        remoteAddress: attacker,
        authorization: `epos_${"1".repeat(12)}_${"1".repeat(48)}`,
      });
      assert.equal(header.statusCode, 429);
    });
  });

  describe("R2-10: cookies and cross-origin requests", function () {
    it("on an https origin the session cookie is __Host- prefixed and Secure, even over plain http behind a TLS proxy", async function () {
      const { apiKey } = await merchantWithWallet("cookie@example.com");
      const res = await inject({ method: "POST", url: "/console/session", payload: { api_key: apiKey } });
      const cookie = setCookies(res).find((c) => c.includes("epos_session=")) ?? "";
      assert.match(cookie, /^__Host-epos_session=[A-Za-z0-9_-]{43};/);
      assert.match(cookie, /; Secure/);
      assert.match(cookie, /; Path=\/(;|$)/);
      assert.match(cookie, /; HttpOnly/);
      assert.match(cookie, /; SameSite=Strict/);
      assert.doesNotMatch(cookie, /Domain=/i);
      // A cookie without the prefix (one a sibling subdomain could set) is not a session.
      const token = (cookiePair(res, "epos_session") as string).split("=")[1];
      assert.equal(await whoAmI(`epos_session=${token}`), 401);
      assert.equal(await whoAmI(`__Host-epos_session=${token}`), 200);
    });

    it("refuses state-changing console requests from another origin (a sibling subdomain) or with no Origin", async function () {
      const { apiKey } = await merchantWithWallet("origin@example.com");
      const session = await apiKeySession(apiKey);
      for (const origin of ["https://shop.pos.example", "http://pos.example", null]) {
        for (const [method, url, payload] of [
          ["PUT", "/user/display-name", { display_name: "Hijacked" }],
          ["POST", "/user/callback-secret", {}],
          ["DELETE", "/console/session", undefined],
        ] as const) {
          const res = await inject({ method, url, origin, cookies: [session], payload });
          assert.equal(res.statusCode, 403, `${method} ${url} from ${origin}: ${res.body}`);
          assert.equal(code(res), "origin_mismatch");
        }
      }
      // A sign-in posted from another origin (login CSRF) is refused too.
      const csrfLogin = await inject({
        method: "POST",
        url: "/console/session",
        origin: "https://shop.pos.example",
        payload: { api_key: apiKey },
      });
      assert.equal(csrfLogin.statusCode, 403);
      // The console's own origin works, and so does the API key without a cookie from anywhere.
      const ok = await inject({
        method: "PUT",
        url: "/user/display-name",
        cookies: [session],
        payload: { display_name: "Shop" },
      });
      assert.equal(ok.statusCode, 200, ok.body);
      const keyed = await inject({
        method: "PUT",
        url: "/user/display-name",
        origin: null,
        authorization: apiKey,
        payload: { display_name: "Shop" },
      });
      assert.equal(keyed.statusCode, 200, keyed.body);
    });
  });
});
