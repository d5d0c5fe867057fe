/**
 * Smart-contract wallets (a Safe, any EIP-1271 account) sign in to the console and prove payout
 * addresses. Such an account has no key of its own: its signature is valid because its code says
 * so (isValidSignature), so only a verifier that asks the chain accepts it. Runs against a real
 * `hardhat node` with contracts/mocks/OwnedSmartAccount.sol deployed, whose owner's key signs.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { createSiweMessage } from "viem/siwe";
import { createMerchant } from "../../server/src/merchants/service.ts";
import type { System } from "../../server/src/system.ts";
import { onRealPostgres, type TestDb } from "../support/db.ts";
import { startNodeSystem, type NodeChain, type NodeSystem } from "../support/node-system.ts";

const ORIGIN = "http://pos.test";

describe(`smart-contract wallets sign in and prove addresses by EIP-1271 (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  this.timeout(120_000);
  let chain: NodeChain;
  let node: NodeSystem;
  let testDb: TestDb;
  let system: System;
  let chainId: number;
  const owner = privateKeyToAccount(generatePrivateKey());
  const stranger = privateKeyToAccount(generatePrivateKey());
  let account: `0x${string}`;

  before(async function () {
    node = await startNodeSystem({
      // The test defaults without FINALITY_BLOCKS and CALLBACK_ALLOW_PRIVATE (nothing here indexes
      // or delivers callbacks); ETH at $2500 and the console's origin.
      env: {
        FINALITY_BLOCKS: undefined,
        CALLBACK_ALLOW_PRIVATE: undefined,
        ETH_USD_PRICE: "2500.00",
        PUBLIC_URL: ORIGIN,
      },
    });
    ({ chain, testDb, system } = node);
    chainId = await chain.client.getChainId();
    account = await chain.deploy("mocks/OwnedSmartAccount.sol/OwnedSmartAccount.json", [owner.address]);
  });
  after(async function () {
    await node?.close();
  });

  const inject = (
    method: "GET" | "POST",
    url: string,
    headers: Record<string, string> = {},
    payload?: object,
  ) =>
    system.app.inject({
      method,
      url,
      headers: { host: "pos.test", ...(method === "POST" ? { origin: ORIGIN } : {}), ...headers },
      ...(payload ? { payload } : {}),
    });

  /** Proves `address` for the merchant, signed by `signer`; the answer. */
  async function prove(apiKey: string, address: `0x${string}`, signer: typeof owner) {
    const challenge = await inject("GET", `/user/addresses/nonce?address=${address}`, {
      authorization: apiKey,
    });
    assert.equal(challenge.statusCode, 200, challenge.body);
    const { message, nonce } = challenge.json() as { message: string; nonce: string };
    return inject(
      "POST",
      "/user/addresses",
      { authorization: apiKey },
      { address, nonce, signature: await signer.signMessage({ message }) },
    );
  }

  /** A Sign-In with Ethereum attempt for `address`, signed by `signer`. */
  async function signIn(address: `0x${string}`, signer: typeof owner) {
    const issued = await inject("GET", "/console/siwe/nonce");
    assert.equal(issued.statusCode, 200, issued.body);
    const cookie = String(issued.headers["set-cookie"]).split(";")[0] as string;
    const message = createSiweMessage({
      address,
      chainId,
      domain: "pos.test",
      nonce: (issued.json() as { nonce: string }).nonce,
      uri: ORIGIN,
      version: "1",
      issuedAt: new Date(),
      expirationTime: new Date(Date.now() + 10 * 60_000),
    });
    return inject(
      "POST",
      "/console/siwe",
      { cookie },
      { message, signature: await signer.signMessage({ message }) },
    );
  }

  it("the account's owner proves the account's address; a stranger's signature is refused", async function () {
    const { apiKey } = await createMerchant(testDb.db, "safe@example.com", "seller");
    const refused = await prove(apiKey, account, stranger);
    assert.equal(refused.statusCode, 401, refused.body);
    const proven = await prove(apiKey, account, owner);
    assert.equal(proven.statusCode, 200, proven.body);
    const listed = await inject("GET", "/user/addresses", { authorization: apiKey });
    assert.deepEqual(
      (listed.json() as { addresses: { address: string }[] }).addresses.map((a) => a.address.toLowerCase()),
      [account.toLowerCase()],
    );
  });

  it("the account signs in to the console with Sign-In with Ethereum, verified through the chain", async function () {
    const wrong = await signIn(account, stranger);
    assert.equal(wrong.statusCode, 401, wrong.body);
    const session = await signIn(account, owner);
    assert.equal(session.statusCode, 200, session.body);
    const cookie = String(session.headers["set-cookie"])
      .split(/,(?=\s*\w+=)/)
      .map((c) => c.trim().split(";")[0] as string)
      .find((c) => c.startsWith("epos_session="));
    assert.ok(cookie, session.headers["set-cookie"] as string);
    const user = await inject("GET", "/user", { cookie });
    assert.equal(user.statusCode, 200, user.body);
    assert.equal((user.json() as { email: string }).email, "safe@example.com");
  });
});
