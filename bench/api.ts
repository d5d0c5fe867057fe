/**
 * `npm run bench:api`: autocannon on loopback against GET /order/:id and POST /order, and, in the
 * same run, a bare Fastify route doing one `SELECT` of one order row as the reference.
 * Database: PostgreSQL with DATABASE_URL, PGlite otherwise. Goals: GET /order/:id at least 50% of
 * the reference rate; POST /order p99 ≤ 25 ms at 200 req/s.
 */
import { readFileSync } from "node:fs";
import autocannon from "autocannon";
import Fastify from "fastify";
import { createPublicClient, createWalletClient, http, type Hex } from "viem";
import { loadConfig } from "../server/src/config/index.ts";
import { startSystem } from "../server/src/system.ts";
import { ROOT, startLocalChain } from "../scripts/lib/local-chain.ts";
import { freePort } from "../test/helpers/node-chain.ts";
import { progress, verdict, writeResult } from "./lib.ts";

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);

interface Run {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
}

async function load(options: autocannon.Options): Promise<Run> {
  const result = await autocannon({ duration: DURATION, connections: 10, ...options });
  return {
    requestsPerSecond: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
  };
}

const chain = await startLocalChain(await freePort());
let exitCode = 0;
try {
  const wallet = createWalletClient({ transport: http(chain.url) });
  const [owner, , merchant] = await wallet.getAddresses();
  if (!owner || !merchant) throw new Error("no dev accounts");
  const { abi, bytecode } = JSON.parse(
    readFileSync(`${ROOT}artifacts/contracts/payments/PaymentProcessor.sol/PaymentProcessor.json`, "utf8"),
  ) as { abi: unknown[]; bytecode: Hex };
  const hash = await wallet.deployContract({ abi, bytecode, args: [owner], account: owner, chain: null });
  const contract = (
    await createPublicClient({ transport: http(chain.url) }).waitForTransactionReceipt({
      hash,
      pollingInterval: 20,
    })
  ).contractAddress as Hex;

  const port = await freePort();
  const system = await startSystem(
    loadConfig({
      NODE_ENV: "test",
      PORT: String(port),
      RPC_URL: chain.url,
      CONTRACT_ADDRESS: contract,
      START_BLOCK: "0",
      ETH_USD_PRICE: "3000",
      TOKENS: `USDC:0x${"11".repeat(20)}:6`,
      RUN_INDEXER: "false",
      RUN_CALLBACK_WORKER: "false",
      RATE_LIMIT_PER_MINUTE: "10000000",
      DATABASE_URL: process.env.DATABASE_URL,
    }),
  );
  const reference = Fastify();
  reference.get<{ Params: { id: string } }>("/ref/:id", async (request) => {
    const { rows } = await system.db.query("SELECT * FROM orders WHERE id = $1", [request.params.id]);
    return rows[0] ?? null;
  });
  const refPort = await freePort();
  await reference.listen({ host: "127.0.0.1", port: refPort });
  try {
    const payload = JSON.stringify({ amount: "1.00", address: merchant, callback: "http://127.0.0.1:9/cb" });
    const created = await fetch(`http://127.0.0.1:${port}/order`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: payload,
    }).then((r) => r.json() as Promise<{ id: number }>);
    const db = process.env.DATABASE_URL ? "postgresql" : "pglite";

    progress(`reference: bare Fastify + one SELECT (${db}), ${DURATION} s…`);
    const ref = await load({ url: `http://127.0.0.1:${refPort}/ref/${created.id}` });
    progress(`GET /order/:id, ${DURATION} s…`);
    const get = await load({ url: `http://127.0.0.1:${port}/order/${created.id}` });
    progress(`POST /order at 200 req/s, ${DURATION} s…`);
    const post = await load({
      url: `http://127.0.0.1:${port}/order`,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: payload,
      overallRate: 200,
    });

    const result = {
      database: db,
      durationSeconds: DURATION,
      reference: ref,
      getOrder: get,
      postOrder: post,
    };
    const ratio = get.requestsPerSecond / ref.requestsPerSecond;
    console.log(`API on ${db}, ${DURATION} s per run, 10 connections:`);
    console.log(
      `  reference (bare SELECT)  ${ref.requestsPerSecond} req/s  p50 ${ref.p50Ms} ms  p99 ${ref.p99Ms} ms`,
    );
    console.log(
      `  GET /order/:id           ${get.requestsPerSecond} req/s  p50 ${get.p50Ms} ms  p99 ${get.p99Ms} ms  ` +
        `(${(ratio * 100).toFixed(0)}% of reference; goal ≥ 50%: ${verdict(ratio >= 0.5)})`,
    );
    console.log(
      `  POST /order @200 req/s   ${post.requestsPerSecond} req/s  p50 ${post.p50Ms} ms  p99 ${post.p99Ms} ms  ` +
        `(goal p99 ≤ 25 ms: ${verdict(post.p99Ms <= 25)}; non-2xx ${post.non2xx})`,
    );
    console.log(`  written to ${writeResult("api", result)}`);
  } finally {
    await reference.close();
    await system.close();
  }
} catch (error) {
  console.error(`bench:api: ${(error as Error).message}`);
  exitCode = 1;
} finally {
  await chain.stop();
}
process.exit(exitCode);
