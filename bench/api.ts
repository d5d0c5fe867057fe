/**
 * `npm run bench:api`: GET /order/:id (anonymous, and with the merchant's API key) and POST /order
 * on loopback, and, in the same run, a bare Fastify route doing one `SELECT` of one order row as
 * the reference.
 * Database: with DATABASE_URL, a fresh database created on that server for this run and dropped
 * after it (as the tests do); PGlite in memory otherwise. Goals: GET /order/:id, with and without
 * a key, at least 50% of the reference rate; POST /order p99 ≤ 25 ms at 200 req/s.
 *
 * Throughput (reference, GET) is autocannon with 10 connections, as fast as the server answers,
 * in interleaved rounds (BENCH_ROUNDS, default 3, each run BENCH_SECONDS / 2): rates are the
 * medians of the rounds, and a ratio is the median of each round's ratio to that round's reference.
 * The keyed GET authenticates the key before reading the order, which is the path a POS polling
 * its own orders takes: the first request looks the key up (by prefix, hash compare), later ones
 * within 5 s find it in the process's cache of verified keys (docs/api.md, "API keys in a running
 * process").
 *
 * "At 200 req/s" is an open-loop load: a worker thread sends one request every 5 ms over 10
 * keep-alive connections and times each from its scheduled send time, so a stall that delays
 * later sends counts against them (no coordinated omission). It runs for anonymous orders and
 * for orders with an API key (key lookup and the plan's daily slot in the request path).
 * autocannon's own `overallRate` is reported too, for comparison with earlier runs: it sends
 * each connection's share of a second back to back at the top of the second and then waits, so
 * it measures bursts of 10 concurrent requests, and its coordinated-omission correction assumes
 * a 1 ms interval (it passes ceil(1/rate) where a millisecond interval is meant), which adds
 * synthetic samples to every slow response.
 */
import { readFileSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import autocannon from "autocannon";
import Fastify from "fastify";
import { createPublicClient, createWalletClient, http, type Hex } from "viem";
import { createMerchant } from "../server/src/merchants/service.ts";
import { startSystem } from "../server/src/system.ts";
import { ROOT, startLocalChain } from "../scripts/lib/local-chain.ts";
import { testConfig } from "../test/support/config.ts";
import { createTestDb } from "../test/support/db.ts";
import { freePort } from "../test/support/node-chain.ts";
import { percentile, progress, verdict, writeResult } from "./lib.ts";

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const RATE = 200;
const GET_ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

interface PacedJob {
  url: string;
  body: string;
  keys: string[];
  rate: number;
  seconds: number;
  connections: number;
}

interface PacedRun {
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
}

/** Worker thread: the open-loop load generator. */
async function pacedLoad(job: PacedJob): Promise<PacedRun> {
  const agent = new Agent({ keepAlive: true, maxSockets: job.connections });
  const target = new URL(job.url);
  const total = job.rate * job.seconds;
  const interval = 1000 / job.rate;
  const latencies: number[] = [];
  let non2xx = 0;
  const send = (i: number, scheduled: number) =>
    new Promise<void>((resolve) => {
      const key = job.keys.length ? job.keys[i % job.keys.length] : undefined;
      const req = httpRequest(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: "POST",
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(job.body),
            ...(key ? { authorization: key } : {}),
          },
        },
        (res) => {
          res.resume();
          res.on("end", () => {
            latencies.push(performance.now() - scheduled);
            if (res.statusCode !== 200) non2xx++;
            resolve();
          });
        },
      );
      req.on("error", () => {
        non2xx++;
        resolve();
      });
      req.end(job.body);
    });
  // Warm the connections and the server's code paths first; these are not counted.
  await Promise.all(Array.from({ length: job.connections }, (_, i) => send(i, performance.now())));
  latencies.length = 0;
  non2xx = 0;
  const start = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const scheduled = start + i * interval;
    const wait = scheduled - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inflight.push(send(i, scheduled));
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  const sorted = latencies.sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    requests: total,
    requestsPerSecond: Math.round(total / elapsed),
    p50Ms: round(percentile(sorted, 50)),
    p90Ms: round(percentile(sorted, 90)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted.at(-1) ?? Number.NaN),
    non2xx,
  };
}

function paced(job: PacedJob): Promise<PacedRun> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: job });
    worker.once("message", resolve);
    worker.once("error", reject);
  });
}

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

async function main() {
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

    // Never the database DATABASE_URL names: a run must not mix with (or reset) data kept there.
    const benchDb = await createTestDb();
    const port = await freePort();
    const system = await startSystem(
      testConfig({
        FINALITY_BLOCKS: undefined,
        PORT: String(port),
        RPC_URL: chain.url,
        CONTRACT_ADDRESS: contract,
        ETH_USD_PRICE: "3000",
        RATE_LIMIT_PER_MINUTE: "10000000",
        DATABASE_URL: benchDb.url,
      }),
      { db: benchDb.db },
    );
    // The reference answers the row as JSON (int8 columns as strings), so it measures a 200.
    const reference = Fastify();
    reference.get<{ Params: { id: string } }>("/ref/:id", async (request, reply) => {
      const { rows } = await system.db.query("SELECT * FROM orders WHERE id = $1", [request.params.id]);
      reply.header("content-type", "application/json");
      return JSON.stringify(rows[0] ?? null, (_key, value: unknown) =>
        typeof value === "bigint" ? value.toString() : value,
      );
    });
    const refPort = await freePort();
    await reference.listen({ host: "127.0.0.1", port: refPort });
    try {
      const payload = JSON.stringify({
        amount: "1.00",
        address: merchant,
        callback: "http://127.0.0.1:9/cb",
      });
      const created = await fetch(`http://127.0.0.1:${port}/order`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: payload,
      }).then((r) => r.json() as Promise<{ id: number }>);
      const db = process.env.DATABASE_URL ? "postgresql" : "pglite";
      // Keyed orders: Exclusive merchants (500 orders a day each), enough for every run below.
      const keys: string[] = [];
      const perKeyed = RATE * DURATION + 40;
      for (let i = 0; i < Math.ceil(perKeyed / 450); i++) {
        keys.push(
          (await createMerchant(system.db, `bench-${Date.now()}-${i}@example.com`, "exclusive")).apiKey,
        );
      }

      const keyedOrder = await fetch(`http://127.0.0.1:${port}/order`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: keys[0] as string },
        body: payload,
      }).then((r) => r.json() as Promise<{ id: number }>);
      // Interleaved rounds (reference, anonymous GET, keyed GET), each run half as long, and the
      // median of each: on a shared machine the load moves between runs, and a ratio of two runs
      // minutes apart would measure that instead.
      const refRuns: Run[] = [];
      const getRuns: Run[] = [];
      const keyedRuns: Run[] = [];
      const half = Math.max(1, Math.round(DURATION / 2));
      for (let round = 1; round <= GET_ROUNDS; round++) {
        progress(
          `round ${round}/${GET_ROUNDS}: reference (bare Fastify + one SELECT, ${db}), GET /order/:id anonymous and with an API key, ${half} s each…`,
        );
        refRuns.push(await load({ url: `http://127.0.0.1:${refPort}/ref/${created.id}`, duration: half }));
        getRuns.push(await load({ url: `http://127.0.0.1:${port}/order/${created.id}`, duration: half }));
        keyedRuns.push(
          await load({
            url: `http://127.0.0.1:${port}/order/${keyedOrder.id}`,
            headers: { authorization: keys[0] as string },
            duration: half,
          }),
        );
      }
      const median = (runs: Run[]): Run => {
        const sorted = [...runs].sort((x, y) => x.requestsPerSecond - y.requestsPerSecond);
        return sorted[Math.floor(sorted.length / 2)] as Run;
      };
      const ref = median(refRuns);
      const get = median(getRuns);
      const getKeyed = median(keyedRuns);
      // Each round's ratio to the reference of the same round, then the median of those.
      const ratioOf = (runs: Run[]) => {
        const ratios = runs.map((r, i) => r.requestsPerSecond / (refRuns[i] as Run).requestsPerSecond);
        return ratios.sort((x, y) => x - y)[Math.floor(ratios.length / 2)] as number;
      };
      const getRatio = ratioOf(getRuns);
      const keyedRatio = ratioOf(keyedRuns);
      const job = {
        url: `http://127.0.0.1:${port}/order`,
        body: payload,
        rate: RATE,
        seconds: DURATION,
        connections: 10,
      };
      progress(`POST /order, anonymous, open loop at ${RATE} req/s, ${DURATION} s…`);
      const post = await paced({ ...job, keys: [] });
      progress(`POST /order with an API key, open loop at ${RATE} req/s, ${DURATION} s…`);
      const postKeyed = await paced({ ...job, keys });
      progress(`POST /order, autocannon overallRate ${RATE} (bursty), ${DURATION} s…`);
      const postBursty = await load({
        url: `http://127.0.0.1:${port}/order`,
        method: "POST",
        headers: { "content-type": "application/json" },
        body: payload,
        overallRate: RATE,
      });

      const result = {
        database: db,
        durationSeconds: DURATION,
        getRounds: GET_ROUNDS,
        getRuns: {
          reference: refRuns.map((r) => r.requestsPerSecond),
          getOrder: getRuns.map((r) => r.requestsPerSecond),
          getOrderWithKey: keyedRuns.map((r) => r.requestsPerSecond),
        },
        reference: ref,
        getOrder: {
          ...get,
          ratioToReference: Number(getRatio.toFixed(3)),
        },
        getOrderWithKey: {
          ...getKeyed,
          ratioToReference: Number(keyedRatio.toFixed(3)),
        },
        postOrder: post,
        postOrderWithKey: postKeyed,
        postOrderAutocannonOverallRate: postBursty,
      };
      const getLine = (name: string, r: Run, ratio: number) => {
        return (
          `  ${name.padEnd(32)} ${r.requestsPerSecond} req/s  p50 ${r.p50Ms} ms  p99 ${r.p99Ms} ms  ` +
          `(${(ratio * 100).toFixed(0)}% of reference; goal ≥ 50%: ${verdict(ratio >= 0.5)}; non-2xx ${r.non2xx})`
        );
      };
      const line = (name: string, r: PacedRun) =>
        `  ${name.padEnd(32)} ${r.requestsPerSecond} req/s  p50 ${r.p50Ms} ms  p90 ${r.p90Ms} ms  p99 ${r.p99Ms} ms  ` +
        `max ${r.maxMs} ms  (goal p99 ≤ 25 ms: ${verdict(r.p99Ms <= 25)}; non-2xx ${r.non2xx})`;
      console.log(
        `API on ${db}; GET: ${GET_ROUNDS} interleaved rounds of ${half} s (medians; ratio: median of per-round ratios); POST: ${DURATION} s:`,
      );
      console.log(
        `  ${"reference (bare SELECT)".padEnd(32)} ${ref.requestsPerSecond} req/s  p50 ${ref.p50Ms} ms  p99 ${ref.p99Ms} ms  (non-2xx ${ref.non2xx})`,
      );
      console.log(getLine("GET /order/:id", get, getRatio));
      console.log(getLine("GET /order/:id + key", getKeyed, keyedRatio));
      console.log(line(`POST /order @${RATE}/s`, post));
      console.log(line(`POST /order + key @${RATE}/s`, postKeyed));
      console.log(
        `  ${"POST /order autocannon (bursty)".padEnd(32)} ${postBursty.requestsPerSecond} req/s  p50 ${postBursty.p50Ms} ms  ` +
          `p99 ${postBursty.p99Ms} ms  (for comparison only; non-2xx ${postBursty.non2xx})`,
      );
      console.log(`  written to ${writeResult("api", result)}`);
    } finally {
      await reference.close();
      await system.close();
      await benchDb.drop();
    }
  } catch (error) {
    console.error(`bench:api: ${(error as Error).message}`);
    exitCode = 1;
  } finally {
    await chain.stop();
  }
  process.exit(exitCode);
}

// The same file is the load generator's worker thread.
if (isMainThread) await main();
else parentPort?.postMessage(await pacedLoad(workerData as PacedJob));
