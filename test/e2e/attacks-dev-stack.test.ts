import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, it } from "mocha";
import { createWalletClient, getAddress, http } from "viem";
import { createSiweMessage } from "viem/siwe";
import { startDevStack, type DevStackProcess } from "../support/dev-stack.ts";

/**
 * The attacks of security review 2, findings 1 and 3 (docs/security.md R2-1, R2-3), run against the
 * dev stack (`npm start`) as a real attacker would: over HTTP and through the chain only. The
 * wallets are the local chain's dev accounts, which sign through its JSON-RPC (personal_sign).
 */
interface Reply {
  status: number;
  cookies: string[];
  json: { error?: { code: string; message: string } } & Record<string, unknown>;
}

/** One browser (or script): its cookies, its Host and Origin headers. */
class Client {
  readonly jar = new Map<string, string>();
  constructor(
    private readonly base: string,
    private readonly headers: { host?: string; origin?: string } = {},
  ) {}

  send(method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<Reply> {
    const url = new URL(path, this.base);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: "application/json", ...extra };
    if (this.headers.host) headers.host = this.headers.host;
    if (this.headers.origin && method !== "GET") headers.origin = this.headers.origin;
    if (this.jar.size > 0) headers.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join("; ");
    if (payload !== undefined) headers["content-type"] = "application/json";
    return new Promise((resolve, reject) => {
      const req = request(url, { method, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const cookies = (res.headers["set-cookie"] ?? []).map((c) => c.split(";")[0] as string);
          for (const pair of cookies) {
            const [name = "", value = ""] = pair.split("=");
            if (value === "") this.jar.delete(name);
            else this.jar.set(name, value);
          }
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, cookies, json: text ? JSON.parse(text) : {} });
        });
      });
      req.on("error", reject);
      req.end(payload);
    });
  }
}

describe("security review 2: the console attacks against the dev stack (npm start)", function () {
  this.timeout(300_000);
  let dev: DevStackProcess;
  let wallet: ReturnType<typeof createWalletClient>;
  let merchantWallet: `0x${string}`;
  let attackerWallet: `0x${string}`;
  let apiKey: string;
  let host: string;

  before(async function () {
    dev = await startDevStack({ env: { DEV_BLOCK_INTERVAL_MS: "0" } });
    host = new URL(dev.apiUrl).host;
    wallet = createWalletClient({ transport: http(dev.rpcUrl) });
    const accounts = await wallet.getAddresses();
    merchantWallet = accounts[1] as `0x${string}`;
    attackerWallet = accounts[2] as `0x${string}`;
    const created = await new Client(dev.apiUrl).send(
      "POST",
      "/admin/merchants",
      { email: "shop@example.com", plan: "seller" },
      { authorization: `Bearer ${dev.adminToken}` },
    );
    assert.equal(created.status, 200, JSON.stringify(created.json));
    apiKey = created.json.api_key as string;
  });
  after(async function () {
    if (this.currentTest?.state === "failed" || !dev) console.log(dev?.output().slice(-3_000));
    await dev?.stop();
  });

  /** A browser on the real console. */
  const browser = () => new Client(dev.apiUrl, { origin: dev.apiUrl });

  async function signed(
    client: Client,
    account: `0x${string}`,
    fields: { domain?: string; uri?: string } = {},
  ): Promise<{ message: string; signature: string }> {
    const nonce = await client.send("GET", "/console/siwe/nonce");
    assert.equal(nonce.status, 200);
    const message = createSiweMessage({
      address: getAddress(account),
      chainId: dev.chainId,
      domain: host,
      uri: dev.apiUrl,
      nonce: nonce.json.nonce as string,
      version: "1",
      issuedAt: new Date(),
      expirationTime: new Date(Date.now() + 600_000),
      ...fields,
    });
    return { message, signature: await wallet.signMessage({ account, message }) };
  }

  /** Proves `account` for the key's merchant with the API's challenge (GET/POST /user/addresses). */
  async function prove(key: string, account: `0x${string}`) {
    const api = new Client(dev.apiUrl);
    const challenge = await api.send("GET", `/user/addresses/nonce?address=${account}`, undefined, {
      authorization: key,
    });
    assert.equal(challenge.status, 200, JSON.stringify(challenge.json));
    const proven = await api.send(
      "POST",
      "/user/addresses",
      {
        address: account,
        nonce: challenge.json.nonce,
        signature: await wallet.signMessage({ account, message: challenge.json.message as string }),
      },
      { authorization: key },
    );
    assert.equal(proven.status, 200, JSON.stringify(proven.json));
  }

  it("the merchant links its wallet and signs in with it", async function () {
    await prove(apiKey, merchantWallet);
    const fresh = browser();
    const signedIn = await fresh.send("POST", "/console/siwe", await signed(fresh, merchantWallet));
    assert.equal(signedIn.status, 200, JSON.stringify(signedIn.json));
    assert.equal((await fresh.send("GET", "/user")).status, 200);
  });

  it("R2-1: the phishing sign-in with a foreign Host is refused", async function () {
    // evil.example serves a copy of the console; the merchant's wallet signs a message for it.
    const phisher = new Client(dev.apiUrl, { host: "evil.example", origin: "http://evil.example" });
    const message = await signed(phisher, merchantWallet, {
      domain: "evil.example",
      uri: "http://evil.example",
    });
    const fromPhisher = await phisher.send("POST", "/console/siwe", message);
    assert.equal(fromPhisher.status, 403, JSON.stringify(fromPhisher.json));
    assert.equal(fromPhisher.json.error?.code, "origin_mismatch");
    // Posted from the attacker's server with a forged Origin, the message itself is refused.
    const forged = new Client(dev.apiUrl, { host: "evil.example", origin: dev.apiUrl });
    for (const [name, value] of phisher.jar) forged.jar.set(name, value);
    const again = await signed(forged, merchantWallet, {
      domain: "evil.example",
      uri: "http://evil.example",
    });
    const res = await forged.send("POST", "/console/siwe", again);
    assert.equal(res.status, 400, JSON.stringify(res.json));
    assert.equal(res.json.error?.code, "invalid_siwe_domain");
    assert.ok(!res.cookies.some((c) => c.includes("epos_session")), "no session cookie");
    assert.equal((await forged.send("GET", "/user")).status, 401);
  });

  it("R2-1: a nonce fetched by another client is refused", async function () {
    const attacker = browser();
    const victim = browser();
    const attackers = await signed(attacker, merchantWallet);
    await victim.send("GET", "/console/siwe/nonce"); // the victim's browser has its own nonce cookie
    const res = await victim.send("POST", "/console/siwe", attackers);
    assert.equal(res.status, 400, JSON.stringify(res.json));
    assert.equal(res.json.error?.code, "invalid_siwe_nonce");
    assert.equal((await victim.send("GET", "/user")).status, 401);
  });

  it("R2-3: after a key rotation the attacker's sessions are dead, and an unlinked wallet signs in nobody", async function () {
    // With the leaked key the attacker links a wallet of its own and signs in with it.
    await prove(apiKey, attackerWallet);
    const attacker = browser();
    const signedIn = await attacker.send("POST", "/console/siwe", await signed(attacker, attackerWallet));
    assert.equal(signedIn.status, 200, JSON.stringify(signedIn.json));
    const attackerByKey = browser();
    assert.equal((await attackerByKey.send("POST", "/console/session", { api_key: apiKey })).status, 200);
    assert.equal((await attacker.send("GET", "/user")).status, 200);

    // The operator rotates the merchant's key.
    const rotated = await new Client(dev.apiUrl).send(
      "POST",
      "/admin/merchants/key",
      { email: "shop@example.com" },
      { authorization: `Bearer ${dev.adminToken}` },
    );
    assert.equal(rotated.status, 200, JSON.stringify(rotated.json));
    const newKey = rotated.json.api_key as string;
    assert.equal((await attacker.send("GET", "/user")).status, 401, "the attacker's wallet session is dead");
    assert.equal((await attackerByKey.send("GET", "/user")).status, 401, "its API-key session too");
    assert.equal((await attacker.send("POST", "/console/session", { api_key: apiKey })).status, 401);

    // The merchant finds the wallet it does not know and unlinks it.
    const merchant = new Client(dev.apiUrl);
    const listed = await merchant.send("GET", "/user/addresses", undefined, { authorization: newKey });
    const addresses = (listed.json.addresses as { address: string }[]).map((a) => a.address);
    assert.deepEqual(addresses.sort(), [getAddress(merchantWallet), getAddress(attackerWallet)].sort());
    const unlinked = await merchant.send("DELETE", `/user/addresses/${attackerWallet}`, undefined, {
      authorization: newKey,
    });
    assert.equal(unlinked.status, 200, JSON.stringify(unlinked.json));

    const comeback = browser();
    const res = await comeback.send("POST", "/console/siwe", await signed(comeback, attackerWallet));
    assert.equal(res.status, 403, JSON.stringify(res.json));
    assert.equal(res.json.error?.code, "address_not_linked");
    // The merchant's own wallet still signs in.
    const own = browser();
    assert.equal((await own.send("POST", "/console/siwe", await signed(own, merchantWallet))).status, 200);
  });
});
