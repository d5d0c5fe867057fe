import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "mocha";
import { getAddress, parseAbi, parseEther, toHex, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { systemSecret } from "../../server/src/callbacks/secrets.ts";
import { createMerchant } from "../../server/src/merchants/service.ts";
import type { System } from "../../server/src/system.ts";
import { devStackPath, writeDevStack, type DevStack } from "../../scripts/lib/dev-stack.ts";
import { ROOT } from "../../scripts/lib/local-chain.ts";
import { onRealPostgres, type TestDb } from "../support/db.ts";
import { startNodeSystem, type NodeChain, type NodeSystem } from "../support/node-system.ts";
import { startReceiver, type Receiver } from "../support/receiver.ts";
import { until } from "../support/until.ts";

const CONFIRMATIONS = 2;
const ADMIN_TOKEN = "admin-token-for-dev-helper-tests-0123456789";
const MNEMONIC = "test test test test test test test test test test test junk"; // hardhat node's dev accounts
const processorAbi = parseAbi([
  "function pay(address merchant, bytes32 orderId) payable",
  "function balanceOf(address merchant, address token) view returns (uint256)",
]);
const ETH = "0x0000000000000000000000000000000000000000";

function devAccount(index: number) {
  const account = mnemonicToAccount(MNEMONIC, { addressIndex: index });
  return { address: account.address, key: toHex(account.getHdKey().privateKey!) };
}

interface OrderJson {
  id: number;
  reference: Hex;
  status: string;
  expected_amount: string;
  return_to: string;
}

/** A running stack as `npm start` records it, for a system the test started. */
function stackFile(
  system: System,
  chain: NodeChain,
  dataDir: string,
  receiver: Receiver | undefined,
  overrides: { chainId?: number; localPort?: number | undefined } = {},
): DevStack {
  const url = system.config.publicUrl;
  return {
    pid: process.pid,
    startedAt: new Date().toISOString(),
    dataDir,
    database: "pglite",
    api: {
      url,
      host: "127.0.0.1",
      port: Number(new URL(url).port),
      docs: `${url}/docs`,
      health: `${url}/health`,
    },
    adminToken: ADMIN_TOKEN,
    chain: {
      rpcUrl: chain.url,
      wsUrl: undefined,
      chainId: overrides.chainId ?? Number(system.chainId),
      confirmations: CONFIRMATIONS,
      localPort: "localPort" in overrides ? overrides.localPort : chain.port,
      blockIntervalMs: 0,
      contracts: { paymentProcessor: chain.contract, tokens: [] },
    },
    eletropay: undefined,
    callbackReceiver: receiver ? { url: receiver.url, port: receiver.port } : undefined,
  };
}

/** Runs a command of this repository (node or hardhat) with a clean environment plus `env`. */
function run(command: "node" | "hardhat", args: string[], env: Record<string, string>) {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) =>
        !/^(DEMO_|ADMIN_TOKEN$|DATA_DIR$|PORT$|MERCHANT_|LOCAL_RPC_URL$|DATABASE_URL$|RPC_URL$)/.test(name),
    ),
  );
  return new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(command === "node" ? process.execPath : `${ROOT}node_modules/.bin/hardhat`, args, {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...clean, ...env },
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, output }));
  });
}

/** A node system listening on loopback; with `runIndexer` it indexes and delivers callbacks itself. */
function startListening(runIndexer: boolean, chain: { chainId?: number } = {}): Promise<NodeSystem> {
  return startNodeSystem({
    chain,
    listen: true,
    env: {
      RUN_INDEXER: String(runIndexer),
      RUN_CALLBACK_WORKER: String(runIndexer),
      CONFIRMATIONS: String(CONFIRMATIONS),
      POLL_INTERVAL_MS: "20",
      ETH_USD_PRICE: "2500.00",
      ADMIN_TOKEN,
    },
  });
}

/**
 * The helpers a newcomer runs in the first hour, as child processes against a running stack
 * recorded in a dev-stack.json (a hardhat node, the system listening on loopback, the dev callback
 * receiver): `npm run demo`, the `merchant:refund` Hardhat task and
 * `npm run merchant -- prove-address --dev-account`.
 */
describe(`dev stack helpers against a running stack (${onRealPostgres() ? "PostgreSQL" : "PGlite"})`, function () {
  this.timeout(240_000);
  let node: NodeSystem;
  let chain: NodeChain;
  let testDb: TestDb;
  let system: System;
  let receiver: Receiver;
  let dataDir: string;
  const printed: string[] = [];
  const customer = devAccount(0);
  const merchant = devAccount(1);

  before(async function () {
    node = await startListening(true);
    ({ chain, testDb, system } = node);
    const db = testDb.db;
    receiver = await startReceiver({
      path: "/callback",
      keep: 100,
      secrets: async () => [await systemSecret(db, { callbackSecret: undefined })],
      print: (line) => printed.push(line),
    });
    dataDir = mkdtempSync(join(tmpdir(), "dev-helpers-"));
    writeDevStack(devStackPath(dataDir), stackFile(system, chain, dataDir, receiver));
  });

  after(async function () {
    await receiver?.close();
    await node?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const order = async (id: number, key?: string) =>
    (
      await system.app.inject({
        method: "GET",
        url: `/order/${id}`,
        headers: key ? { authorization: key } : {},
      })
    ).json() as OrderJson;
  const nonce = (address: Hex) => chain.client.getTransactionCount({ address });
  const refund = (args: string[], env: Record<string, string>) =>
    run(
      "hardhat",
      [
        "merchant:refund",
        "--network",
        "localhost",
        "--processor",
        chain.contract,
        "--to",
        customer.address,
        ...args,
      ],
      { LOCAL_RPC_URL: chain.url, DATA_DIR: dataDir, ...env },
    );

  let demoOrder: OrderJson;

  it("npm run demo sends its order's callbacks to the dev receiver, which outlives the demo", async function () {
    const { code, output } = await run("node", ["scripts/demo.ts"], { DATA_DIR: dataDir });
    assert.equal(code, 0, output);
    const { rows } = await testDb.db.query<{ id: bigint; callback: string }>(
      "SELECT id, callback FROM orders",
    );
    assert.equal(rows.length, 1);
    demoOrder = await order(Number(rows[0]!.id));
    assert.equal(rows[0]!.callback, receiver.url, "the dev receiver's URL, not a port of the demo's own");
    assert.equal(demoOrder.status, "complete");
    assert.equal(demoOrder.return_to, merchant.address);
    // The receiver got both callbacks (signature checked), and the demo printed their bodies from it.
    for (const status of ["success", "complete"]) {
      assert.ok(
        printed.some((l) => l.includes(`order ${demoOrder.id} ${status}`) && l.includes("signature valid")),
        printed.join("\n"),
      );
    }
    assert.match(output, new RegExp(`Callbacks received at ${receiver.url} \\(2\\)`));
    assert.match(output, /"status": "complete"/);
  });

  it("merchant:refund --order-id <the server's decimal id> refunds that order: refunded, with its callback", async function () {
    if (!demoOrder) this.skip();
    const before = await chain.client.readContract({
      address: chain.contract,
      abi: processorAbi,
      functionName: "balanceOf",
      args: [merchant.address, ETH],
    });
    const { code, output } = await refund(
      ["--order-id", String(demoOrder.id), "--amount", demoOrder.expected_amount],
      { MERCHANT_PRIVATE_KEY: merchant.key },
    );
    assert.equal(code, 0, output);
    assert.match(
      output,
      new RegExp(`for order ${demoOrder.id} \\(complete, .*reference ${demoOrder.reference}\\)`),
    );
    const after = await chain.client.readContract({
      address: chain.contract,
      abi: processorAbi,
      functionName: "balanceOf",
      args: [merchant.address, ETH],
    });
    assert.equal(before - after, parseEther(demoOrder.expected_amount));
    await chain.mine(1);
    await until(
      async () => ((await order(demoOrder.id)).status === "refunded" ? true : undefined),
      20_000,
      "the order refunded",
    );
    await until(
      async () => (printed.some((l) => l.includes(`order ${demoOrder.id} refunded`)) ? true : undefined),
      20_000,
      "the refunded callback at the receiver",
    );
  });

  it("merchant:refund by reference finds an order made with an API key (MERCHANT_API_KEY)", async function () {
    const { apiKey } = await createMerchant(testDb.db, "refund@example.com", "seller");
    const created = await system.app.inject({
      method: "POST",
      url: "/order",
      headers: { authorization: apiKey },
      payload: { amount: "2.00", address: merchant.address, callback: receiver.url },
    });
    assert.equal(created.statusCode, 200, created.body);
    const keyed = created.json() as OrderJson;
    await chain.client.waitForTransactionReceipt({
      hash: await chain.wallet.writeContract({
        address: chain.contract,
        abi: processorAbi,
        functionName: "pay",
        args: [merchant.address, keyed.reference],
        value: parseEther(keyed.expected_amount),
        account: customer.address,
        chain: null,
      }),
    });
    await until(
      async () => ((await order(keyed.id, apiKey)).status === "success" ? true : undefined),
      20_000,
      "the keyed order paid",
    );
    // Without the key, its decimal id is no order anyone may see: refused before signing.
    const hidden = await refund(["--order-id", String(keyed.id), "--amount", keyed.expected_amount], {
      MERCHANT_PRIVATE_KEY: merchant.key,
    });
    assert.equal(hidden.code, 1, hidden.output);
    assert.match(
      hidden.output,
      new RegExp(`no order ${keyed.id} .*set MERCHANT_API_KEY.*nothing was signed`),
    );

    const { code, output } = await refund(
      ["--order-id", keyed.reference, "--amount", keyed.expected_amount],
      {
        MERCHANT_PRIVATE_KEY: merchant.key,
        MERCHANT_API_KEY: apiKey,
      },
    );
    assert.equal(code, 0, output);
    assert.match(output, new RegExp(`for order ${keyed.id} \\(success,`));
    await chain.mine(1);
    await until(
      async () => ((await order(keyed.id, apiKey)).status === "refunded" ? true : undefined),
      20_000,
      "the keyed order refunded",
    );
  });

  it("merchant:refund refuses an id or reference that is no order of that merchant, before signing", async function () {
    if (!demoOrder) this.skip();
    const { apiKey } = await createMerchant(testDb.db, "other@example.com", "seller");
    const stranger = devAccount(3);
    const noncesBefore = [await nonce(merchant.address), await nonce(stranger.address)];
    const cases: { args: string[]; env: Record<string, string>; refused: RegExp }[] = [
      {
        args: ["--order-id", "999999999999"],
        env: { MERCHANT_PRIVATE_KEY: merchant.key },
        refused: /no order 999999999999 at http:\/\/127\.0\.0\.1:\d+ .*nothing was signed/,
      },
      {
        // A real order, but it pays another address: a refund from this key would not reach it.
        args: ["--order-id", String(demoOrder.id)],
        env: { MERCHANT_PRIVATE_KEY: stranger.key },
        refused: new RegExp(`order ${demoOrder.id} pays ${merchant.address}, not ${stranger.address}`),
      },
      {
        args: ["--order-id", `0x${"00".repeat(16)}${"5a".repeat(16)}`],
        env: { MERCHANT_PRIVATE_KEY: merchant.key },
        refused: /a reference is looked up with your API key: set MERCHANT_API_KEY/,
      },
      {
        // The demo's order by reference: anonymous, so no account's (a reference is public chain data).
        args: ["--order-id", demoOrder.reference],
        env: { MERCHANT_PRIVATE_KEY: merchant.key, MERCHANT_API_KEY: apiKey },
        refused: new RegExp(
          `no order ${demoOrder.reference} .* in the account of that API key; nothing was signed`,
        ),
      },
    ];
    for (const c of cases) {
      const { code, output } = await refund([...c.args, "--amount", "0.0001"], c.env);
      assert.equal(code, 1, output);
      assert.match(output, c.refused);
      assert.doesNotMatch(output, /^sent 0x/m);
    }
    assert.deepEqual([await nonce(merchant.address), await nonce(stranger.address)], noncesBefore);
  });

  it("prove-address --dev-account proves a dev key; a terminal key and a POS order then work without a wallet", async function () {
    const { apiKey } = await createMerchant(testDb.db, "pos@example.com", "seller");
    const payout = devAccount(2);
    // Not proven yet: a terminal key is refused.
    const early = await system.app.inject({
      method: "POST",
      url: "/user/terminal-keys",
      headers: { authorization: apiKey },
      payload: { label: "Counter", address: payout.address, callback: receiver.url },
    });
    assert.equal(early.statusCode, 400, early.body);
    assert.equal(early.json().error.code, "address_not_proven");

    const { code, output } = await run(
      "node",
      ["scripts/merchant.ts", "prove-address", "--api-key", apiKey, "--dev-account", "2"],
      { DATA_DIR: dataDir },
    );
    assert.equal(code, 0, output);
    assert.match(output, new RegExp(`proved ${payout.address} \\(Hardhat dev account #2`));

    const terminal = await system.app.inject({
      method: "POST",
      url: "/user/terminal-keys",
      headers: { authorization: apiKey },
      payload: { label: "Counter", address: payout.address, callback: receiver.url },
    });
    assert.equal(terminal.statusCode, 200, terminal.body);
    const session = await system.app.inject({
      method: "POST",
      url: "/console/session",
      headers: { origin: system.config.consoleOrigin },
      payload: { terminal_key: terminal.json().key },
    });
    assert.equal(session.statusCode, 200, session.body);
    const cookie = String(session.headers["set-cookie"]).split(";")[0]!;
    const pos = await system.app.inject({
      method: "POST",
      url: "/pos/order",
      headers: { cookie, origin: system.config.consoleOrigin },
      payload: { amount: "4.50", item_title: "Flat white" },
    });
    assert.equal(pos.statusCode, 200, pos.body);
    assert.equal(getAddress(pos.json().return_to), payout.address);
    assert.equal(pos.json().status, "pending");
  });

  it("prove-address --dev-account is refused without a running npm start", async function () {
    const empty = mkdtempSync(join(tmpdir(), "dev-helpers-none-"));
    try {
      const { apiKey } = await createMerchant(testDb.db, "nostack@example.com", "seller");
      const { code, output } = await run(
        "node",
        ["scripts/merchant.ts", "prove-address", "--api-key", apiKey, "--dev-account", "1"],
        { DATA_DIR: empty },
      );
      assert.equal(code, 1, output);
      assert.match(output, /works only against npm start's own local chain: no running npm start was found/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  describe("against a server on another chain (11155111)", function () {
    let otherNode: NodeSystem;
    let other: NodeChain;
    let otherDb: TestDb;
    let otherSystem: System;
    let otherDir: string;
    let apiKey: string;

    before(async function () {
      otherNode = await startListening(false, { chainId: 11_155_111 });
      ({ chain: other, testDb: otherDb, system: otherSystem } = otherNode);
      otherDir = mkdtempSync(join(tmpdir(), "dev-helpers-sepolia-"));
      apiKey = (await createMerchant(otherDb.db, "sepolia@example.com", "seller")).apiKey;
    });
    after(async function () {
      await otherNode?.close();
      if (otherDir) rmSync(otherDir, { recursive: true, force: true });
    });

    const prove = () =>
      run("node", ["scripts/merchant.ts", "prove-address", "--api-key", apiKey, "--dev-account", "1"], {
        DATA_DIR: otherDir,
      });

    it("refuses the dev-account proof, whether the stack file says so or only the server does", async function () {
      // npm start with RPC_URL: the file names the chain, and no local node.
      writeDevStack(
        devStackPath(otherDir),
        stackFile(otherSystem, other, otherDir, undefined, { localPort: undefined }),
      );
      const named = await prove();
      assert.equal(named.code, 1, named.output);
      assert.match(named.output, /this npm start follows chain 11155111 at http:\/\/127\.0\.0\.1:\d+/);

      // A file that claims the local chain 31337: the server itself says which chain it runs.
      writeDevStack(
        devStackPath(otherDir),
        stackFile(otherSystem, other, otherDir, undefined, { chainId: 31337 }),
      );
      const asked = await prove();
      assert.equal(asked.code, 1, asked.output);
      assert.match(asked.output, /the server at http:\/\/127\.0\.0\.1:\d+ runs on chain 11155111/);

      const { rows } = await otherDb.db.query("SELECT 1 FROM merchant_addresses");
      assert.equal(rows.length, 0, "nothing was proven");
    });
  });
});
