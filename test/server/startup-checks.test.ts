import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { Writable } from "node:stream";
import { after, before, describe, it } from "mocha";
import pino from "pino";
import { createPublicClient, http, type PublicClient } from "viem";
import { SWEEP_PROBE_CREATION_CODE, TRANSFER_PROBE_RUNTIME_CODE } from "../../server/src/chain/probes.ts";
import { DEPOSIT_TOKEN_FORWARDED_TOPIC } from "../../server/src/deposits/abi.ts";
import { startSystem } from "../../server/src/system.ts";
import { createTestChain } from "../support/chain.ts";
import { testConfig } from "../support/config.ts";
import { createTestDb, type TestDb } from "../support/db.ts";
import { artifact, freePort, startNodeChain } from "../support/node-chain.ts";

const NO_CODE = "0x00000000000000000000000000000000000c0de0";
const ADMIN_TOKEN = "admin-token-for-the-startup-checks-0123456789";

/** A logger whose lines the test reads. */
function capturingLog() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean))
        lines.push((JSON.parse(line) as { msg: string }).msg);
      done();
    },
  });
  return { log: pino({ level: "info" }, stream), lines };
}

describe("start-up checks of the chain configuration", function () {
  let chain: Awaited<ReturnType<typeof createTestChain>>;
  let t: TestDb;
  before(async function () {
    chain = await createTestChain();
    t = await createTestDb();
  });
  after(async function () {
    await t?.drop();
    await chain?.close();
  });

  const start = (env: Record<string, string>, log = pino({ level: "silent" })) =>
    startSystem(
      testConfig({
        // No start block, finality or price of the test defaults: start-up finds them.
        START_BLOCK: undefined,
        FINALITY_BLOCKS: undefined,
        ETH_USD_PRICE: undefined,
        CONTRACT_ADDRESS: chain.contractAddress,
        ADMIN_TOKEN,
        ...env,
      }),
      { db: t.db, client: chain.client, listen: false, log },
    );
  const feed = async (decimals: number, answer: bigint) =>
    (await (
      await chain.ethers.deployContract("MockV3Aggregator", [decimals, answer])
    ).getAddress()) as string;

  /**
   * The code without solc's CBOR metadata (a2 64 "ipfs" <34-byte hash> 64 "solc" <version> 0033), which
   * hashes the compiled sources' paths and so differs between two clones of the same commit.
   */
  const withoutMetadata = (code: string | undefined) =>
    code?.replace(/a264697066735822[0-9a-f]{68}64736f6c6343[0-9a-f]{6}0033/g, "");

  it("keeps the probes' bytecode in step with contracts/probes/", function () {
    const sweep = artifact("probes/SweepProbe.sol/SweepProbe.json");
    // The sweep probe carries its token's creation code: two metadata sections.
    assert.equal(sweep.bytecode.match(/a264697066735822/g)?.length, 2);
    assert.equal(withoutMetadata(SWEEP_PROBE_CREATION_CODE), withoutMetadata(sweep.bytecode));
    const transfer = artifact("probes/TransferProbe.sol/TransferProbe.json") as { deployedBytecode?: string };
    assert.equal(withoutMetadata(TRANSFER_PROBE_RUNTIME_CODE), withoutMetadata(transfer.deployedBytecode));
  });

  it("refuses a price feed with no code, naming PRICE_FEED_ADDRESS", async function () {
    await assert.rejects(
      start({ PRICE_FEED_ADDRESS: NO_CODE }),
      (error: Error) =>
        error.name === "ConfigProblems" &&
        new RegExp(`^PRICE_FEED_ADDRESS ${NO_CODE} has no contract code on chain 31337`).test(
          error.message,
        ) &&
        /ETH_USD_PRICE/.test(error.message),
    );
  });

  it("refuses a feed whose decimals are not a USD feed's 8", async function () {
    const address = await feed(18, 10n ** 18n);
    await assert.rejects(
      start({ PRICE_FEED_ADDRESS: address }),
      new RegExp(
        `PRICE_FEED_ADDRESS ${address} on chain 31337 \\(hardhat\\) has 18 decimals, but a Chainlink feed priced in USD has 8`,
      ),
    );
  });

  it("refuses a stale feed, naming PRICE_MAX_AGE_SECONDS", async function () {
    const address = await feed(8, 3000_00000000n);
    const now = BigInt(Math.floor(Date.now() / 1000));
    const mock = await chain.ethers.getContractAt("MockV3Aggregator", address);
    await (await mock.getFunction("updateRoundData")(2n, 3000_00000000n, now - 7_200n, now - 7_200n)).wait();
    await assert.rejects(
      start({ PRICE_FEED_ADDRESS: address, PRICE_MAX_AGE_SECONDS: "3600" }),
      /PRICE_FEED_ADDRESS 0x[0-9a-fA-F]{40} on chain 31337 \(hardhat\) was last updated \d+ s ago, more than PRICE_MAX_AGE_SECONDS \(3600 s\)/,
    );
    // The same feed within a longer limit is accepted.
    const system = await start({ PRICE_FEED_ADDRESS: address, PRICE_MAX_AGE_SECONDS: "86400" });
    await system.close();
  });

  it("refuses a TOKENS entry with no code, and a decimals mismatch, one line each", async function () {
    await assert.rejects(
      start({ ETH_USD_PRICE: "3000", TOKENS: `USDC:${NO_CODE}:6,USDT:${chain.stablecoinAddress}:18` }),
      (error: Error) => {
        const lines = error.message.split("\n");
        assert.match(lines[0] as string, /^2 problems in the configuration:/);
        assert.match(
          lines[1] as string,
          new RegExp(`TOKENS: USDC ${NO_CODE} has no contract code on chain 31337`),
        );
        assert.match(
          lines[2] as string,
          /TOKENS: USDT 0x[0-9a-fA-F]{40} has 6 decimals on chain 31337 \(hardhat\), not 18/,
        );
        return true;
      },
    );
  });

  it("refuses a MULTICALL3_ADDRESS with no code, together with the feed's problem", async function () {
    await assert.rejects(
      start({ PRICE_FEED_ADDRESS: NO_CODE, MULTICALL3_ADDRESS: NO_CODE }),
      (error: Error) => {
        const lines = error.message.split("\n");
        assert.equal(lines.length, 3);
        assert.match(lines[1] as string, /PRICE_FEED_ADDRESS .* has no contract code/);
        assert.match(
          lines[2] as string,
          new RegExp(`MULTICALL3_ADDRESS ${NO_CODE} has no contract code on chain 31337`),
        );
        return true;
      },
    );
  });

  it("refuses a fee-on-transfer token, naming the token and TOKENS; accepts an exact one", async function () {
    const fee = await (await chain.ethers.deployContract("FeeOnTransferToken", [100n])).getAddress();
    await assert.rejects(
      start({ ETH_USD_PRICE: "3000", TOKENS: `FEE:${fee}:18,USDC:${chain.stablecoinAddress}:6` }),
      (error: Error) => {
        assert.equal(error.message.split("\n").length, 1);
        assert.match(
          error.message,
          new RegExp(
            `^TOKENS: FEE ${fee} on chain 31337 \\(hardhat\\) takes a fee on transfer \\(a simulated transfer of 1000000000000000000000000 units took 1000000000000000000000000 from the sender and gave the recipient 990000000000000000000000\\).*remove FEE from TOKENS`,
          ),
        );
        return true;
      },
    );
  });

  it("passes the EIP-6780 check on Hardhat (cancun): orders get deposit addresses", async function () {
    const { log, lines } = capturingLog();
    const address = await feed(8, 3000_00000000n);
    const system = await start(
      { PRICE_FEED_ADDRESS: address, TOKENS: `USDC:${chain.stablecoinAddress}:6` },
      log,
    );
    try {
      assert.deepEqual(system.chains[0]?.depositReuse, { state: "ok", how: "debug_traceCall" });
      assert.ok(system.chains[0]?.deposits);
      assert.ok(
        !lines.some((l) => /deposit addresses are refused|could not check/.test(l)),
        lines.join("\n"),
      );
      const order = await system.app.inject({
        method: "POST",
        url: "/order",
        payload: { amount: "1.00", address: chain.merchant.address, callback: "http://127.0.0.1:9/cb" },
      });
      assert.equal(order.statusCode, 200, order.body);
      assert.notEqual(
        order.json<{ address: string }>().address.toLowerCase(),
        chain.contractAddress.toLowerCase(),
      );
      const health = await system.app.inject({
        method: "GET",
        url: "/admin/health",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      const chains = health.json<{ chains: { deposit_addresses: unknown }[] }>().chains;
      assert.deepEqual(chains[0]?.deposit_addresses, { state: "on", checked_with: "debug_traceCall" });
    } finally {
      await system.close();
    }
  });
});

/**
 * A JSON-RPC proxy in front of a real `hardhat node` that answers `eth_simulateV1` by running the
 * calls as real transactions between `evm_snapshot` and `evm_revert`, and offers no `debug_traceCall`
 * (as many providers). With `keepSelfDestructed`, it plays a chain where SELFDESTRUCT does not delete
 * the account (no such EVM runs here): after each transaction, every deposit it swept is left behind
 * with nonce 1, as such a chain leaves it.
 */
async function startSimulatingProxy(target: string, keepSelfDestructed: boolean) {
  const client = createPublicClient({ transport: http(target, { retryCount: 0 }) }) as PublicClient;
  const rpc = <T>(method: string, params: unknown[] = []) =>
    client.request({ method: method as never, params: params as never }) as Promise<T>;
  const simulate = async (params: unknown[]) => {
    const [{ blockStateCalls }] = params as [
      { blockStateCalls: { calls: { from: string; data: string }[] }[] },
    ];
    const snapshot = await rpc<string>("evm_snapshot");
    try {
      const blocks = [];
      for (const block of blockStateCalls) {
        const calls = [];
        for (const call of block.calls) {
          await rpc("hardhat_impersonateAccount", [call.from]);
          await rpc("hardhat_setBalance", [call.from, "0xde0b6b3a7640000"]);
          // Hardhat answers a reverted transaction with an error (it is mined all the same).
          const sent = await rpc<`0x${string}`>("eth_sendTransaction", [{ ...call, gas: "0x989680" }]).then(
            (hash) => hash,
            (error: Error) => error,
          );
          if (sent instanceof Error) {
            calls.push({ status: "0x0", logs: [], error: { message: sent.message.split("\n")[0] } });
            continue;
          }
          const receipt = await client.waitForTransactionReceipt({ hash: sent, pollingInterval: 20 });
          if (keepSelfDestructed) {
            for (const l of receipt.logs.filter((l) => l.topics[0] === DEPOSIT_TOKEN_FORWARDED_TOPIC))
              await rpc("hardhat_setNonce", [`0x${(l.topics[3] as string).slice(26)}`, "0x1"]);
          }
          calls.push({ status: receipt.status === "success" ? "0x1" : "0x0", logs: [] });
        }
        blocks.push({ calls });
      }
      return blocks;
    } finally {
      await rpc("evm_revert", [snapshot]);
    }
  };
  const port = await freePort();
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      const answer = async (msg: { id: number; method: string; params: unknown[] }) => {
        if (msg.method === "debug_traceCall")
          return {
            jsonrpc: "2.0",
            id: msg.id,
            error: { code: -32601, message: "the method debug_traceCall does not exist/is not available" },
          };
        try {
          if (msg.method === "eth_simulateV1")
            return { jsonrpc: "2.0", id: msg.id, result: await simulate(msg.params) };
          return { jsonrpc: "2.0", id: msg.id, result: await rpc(msg.method, msg.params ?? []) };
        } catch (error) {
          const e = error as { code?: number; message: string; data?: unknown };
          return {
            jsonrpc: "2.0",
            id: msg.id,
            error: { code: e.code ?? -32603, message: e.message, data: e.data },
          };
        }
      };
      const parsed = JSON.parse(body) as unknown;
      void (Array.isArray(parsed) ? Promise.all(parsed.map(answer)) : answer(parsed as never)).then((out) => {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(out));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("start-up check of deposit address reuse (EIP-6780) through eth_simulateV1", function () {
  let node: Awaited<ReturnType<typeof startNodeChain>>;
  let t: TestDb;
  before(async function () {
    node = await startNodeChain();
    t = await createTestDb();
  });
  after(async function () {
    await t?.drop();
    await node?.stop();
  });

  const startBehind = async (keepSelfDestructed: boolean) => {
    const proxy = await startSimulatingProxy(node.url, keepSelfDestructed);
    const { log, lines } = capturingLog();
    const system = await startSystem(
      testConfig({
        START_BLOCK: undefined,
        FINALITY_BLOCKS: undefined,
        RPC_URL: proxy.url,
        CHAIN_NAME: "no-eip6780",
        CONTRACT_ADDRESS: node.contract,
        ETH_USD_PRICE: "3000",
        ADMIN_TOKEN,
      }),
      { db: t.db, listen: false, log },
    );
    return {
      system,
      lines,
      close: async () => {
        await system.close();
        await proxy.close();
      },
    };
  };

  it("passes where a second sweep of the address works in a later transaction", async function () {
    const { system, lines, close } = await startBehind(false);
    try {
      assert.deepEqual(system.chains[0]?.depositReuse, { state: "ok", how: "eth_simulateV1" });
      assert.ok(system.chains[0]?.deposits, lines.join("\n"));
    } finally {
      await close();
    }
  });

  it("refuses deposit addresses on a chain where the second sweep fails, naming the chain, and falls back to contract payments", async function () {
    const { system, lines, close } = await startBehind(true);
    try {
      const runtime = system.chains[0];
      assert.equal(runtime?.depositReuse.state, "broken");
      assert.equal(runtime?.deposits, undefined);
      const refusal = lines.find((l) =>
        l.startsWith("deposit addresses are refused on no-eip6780 (chain 31337)"),
      );
      assert.ok(refusal, lines.join("\n"));
      assert.match(
        refusal,
        /could not be swept a second time: SELFDESTRUCT does not delete the deposit account \(EIP-6780\)/,
      );
      assert.match(refusal, /paid through the contract only/);

      const order = await system.app.inject({
        method: "POST",
        url: "/order",
        payload: { amount: "1.00", address: node.merchant, callback: "http://127.0.0.1:9/cb" },
      });
      assert.equal(order.statusCode, 200, order.body);
      assert.equal(order.json<{ address: string }>().address.toLowerCase(), node.contract.toLowerCase());

      const health = await system.app.inject({
        method: "GET",
        url: "/admin/health",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      const [first] = health.json<{ chains: { deposit_addresses: { state: string; reason: string } }[] }>()
        .chains;
      assert.equal(first?.deposit_addresses.state, "off");
      assert.match(first?.deposit_addresses.reason ?? "", /could not be swept a second time/);
    } finally {
      await close();
    }
  });
});
