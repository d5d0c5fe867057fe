/**
 * `npm run bench:latency`: how long a merchant waits for its callbacks, at the default 12
 * confirmations, with blocks mined at a steady interval as on a real chain.
 *
 * Set-up: the whole system in-process (API, indexer, callback worker) against a local `hardhat
 * node`, on PostgreSQL (DATABASE_URL: a fresh database created on that server and dropped after)
 * or PGlite, with the realtime poll at 100 ms (POLL_INTERVAL_MS) and the node's newHeads
 * WebSocket subscription waking the indexer (BENCH_WS=0: polling alone). Callbacks go to a
 * local HTTP receiver in this process.
 *
 * Blocks: automine and interval mining are off; this process is the only miner. A loop calls
 * `evm_mine` on a fixed schedule (every BENCH_BLOCK_MS, default 1,000 ms; ticks at start + k ×
 * interval, so there is no drift). A block's mining time is when the node's answer to its
 * `evm_mine` arrives: the block exists from then on, and nobody (the indexer included) can have
 * learnt of it much earlier. The `evm_mine` round trip is reported as the bound of that
 * uncertainty (the block was mined within it; the figures can only be that much too low).
 *
 * Payments: BENCH_PAYMENTS (default 100), one per block: half an interval after a block, an order
 * is created (POST /order) and paid (the transaction waits in the mempool), so it lands in the
 * next block. Its receipt gives the paying block.
 *  - success: paying block mined → the `success` callback arrives at the receiver;
 *  - complete: the block that gives the 12th confirmation (paying block + 11) mined → the
 *    `complete` callback arrives.
 * Mining goes on until every callback arrived or 30 blocks past the last payment's completion;
 * a payment whose success or complete callback never arrives FAILS the run (exit 1, naming the
 * orders) rather than being left out of the percentiles.
 *
 * Goals: p50 ≤ 100 ms and p99 ≤ 250 ms, for success and for complete. The reference in the same
 * run is the `evm_mine` round trip (the node answering one request, nothing of ours involved).
 */
import { readFileSync } from "node:fs";
import { createPublicClient, createWalletClient, http, parseEther, type Hex } from "viem";
import { paymentProcessorAbi } from "../server/src/chain/abi.ts";
import { startSystem } from "../server/src/system.ts";
import { ROOT, startLocalChain } from "../scripts/lib/local-chain.ts";
import { testConfig } from "../test/support/config.ts";
import { createTestDb } from "../test/support/db.ts";
import { freePort } from "../test/support/node-chain.ts";
import { startReceiver, type Delivery } from "../test/support/receiver.ts";
import { percentile, progress, verdict, writeResult } from "./lib.ts";

const PAYMENTS = Number(process.env.BENCH_PAYMENTS ?? 100);
const BLOCK_MS = Number(process.env.BENCH_BLOCK_MS ?? 1_000);
const CONFIRMATIONS = 12; // the default (server/src/config/chains.ts); the bench holds it there
// The default realtime poll of a local chain; set POLL_INTERVAL_MS to compare other intervals.
const POLL = process.env.POLL_INTERVAL_MS ?? "100";
// The node's newHeads subscription wakes the indexer (RPC_WS_URL); BENCH_WS=0 measures polling alone.
const WS = process.env.BENCH_WS !== "0";

/** Milliseconds since the epoch with sub-millisecond precision (the receiver uses Date.now()). */
const now = () => performance.timeOrigin + performance.now();
const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - now())));

interface Stats {
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}
function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 10) / 10;
  return {
    p50Ms: r(percentile(sorted, 50)),
    p90Ms: r(percentile(sorted, 90)),
    p99Ms: r(percentile(sorted, 99)),
    maxMs: r(sorted.at(-1) ?? Number.NaN),
  };
}
interface Result {
  payments: number;
  confirmations: number;
  blockIntervalMs: number;
  pollIntervalMs: number;
  newHeadsWebSocket: boolean;
  database: string;
  success: Stats;
  complete: Stats;
  reference: { evmMineRoundTrip: Stats };
}

const chain = await startLocalChain(await freePort());
const receiver = await startReceiver();
let exitCode = 0;
try {
  const transport = http(chain.url, { retryCount: 0 });
  const wallet = createWalletClient({ transport });
  const reader = createPublicClient({ transport });
  const [owner, customer, merchant] = await wallet.getAddresses();
  if (!owner || !customer || !merchant) throw new Error("no dev accounts");
  const { abi, bytecode } = JSON.parse(
    readFileSync(`${ROOT}artifacts/contracts/payments/PaymentProcessor.sol/PaymentProcessor.json`, "utf8"),
  ) as { abi: unknown[]; bytecode: Hex };
  const deployHash = await wallet.deployContract({
    abi,
    bytecode,
    args: [owner],
    account: owner,
    chain: null,
  });
  const contract = (await reader.waitForTransactionReceipt({ hash: deployHash, pollingInterval: 20 }))
    .contractAddress as Hex;
  const rpc = (method: string, params: unknown[] = []) =>
    reader.request({ method: method as never, params: params as never });
  await rpc("evm_setAutomine", [false]);
  await rpc("evm_setIntervalMining", [0]);

  // The whole system as it runs: its own indexer and callback worker, the default confirmations and finality.
  const config = testConfig({
    RUN_INDEXER: undefined,
    RUN_CALLBACK_WORKER: undefined,
    FINALITY_BLOCKS: undefined,
    RPC_URL: chain.url,
    CONTRACT_ADDRESS: contract,
    POLL_INTERVAL_MS: POLL,
    RPC_WS_URL: WS ? chain.url.replace(/^http/, "ws") : undefined,
    ETH_USD_PRICE: "2000",
  });
  const confirmations = config.chains[0]?.confirmations;
  if (confirmations !== CONFIRMATIONS)
    throw new Error(
      `expected the default ${CONFIRMATIONS} confirmations, the configuration has ${confirmations}`,
    );
  // A database of its own (a fresh one on DATABASE_URL's server, else in-memory PGlite).
  const testDb = await createTestDb();
  const system = await startSystem(config, { listen: false, db: testDb.db });

  // The miner: one block per tick; mined[n] is when the node answered the evm_mine of block n.
  const mined = new Map<bigint, number>();
  const mineRoundTrips: number[] = [];
  let height = await reader.getBlockNumber({ cacheTime: 0 });
  let mining = true;
  let minerError: unknown;
  const blockWaiters = new Set<() => void>();
  const start = now() + BLOCK_MS;
  const miner = (async () => {
    for (let tick = 0; mining; tick++) {
      await sleepUntil(start + tick * BLOCK_MS);
      if (!mining) break;
      const sent = now();
      await rpc("evm_mine");
      const answered = now();
      height += 1n;
      mined.set(height, answered);
      mineRoundTrips.push(answered - sent);
      for (const wake of blockWaiters) wake();
    }
  })().catch((error: unknown) => {
    minerError = error;
  });
  const nextBlock = () =>
    new Promise<void>((resolve) => {
      const wake = () => {
        blockWaiters.delete(wake);
        resolve();
      };
      blockWaiters.add(wake);
    });

  const payments: { index: number; orderId: bigint; hash: Hex }[] = [];
  let result: Result;
  try {
    progress(
      `${PAYMENTS} payments, one per block, blocks every ${BLOCK_MS} ms, CONFIRMATIONS=${CONFIRMATIONS}, ` +
        `poll ${POLL} ms, newHeads over ws ${WS ? "on" : "off"}, ${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"}…`,
    );
    for (let i = 0; i < PAYMENTS; i++) {
      await nextBlock();
      if (minerError) throw minerError;
      await sleepUntil(now() + BLOCK_MS / 2); // between blocks
      const res = await system.app.inject({
        method: "POST",
        url: "/order",
        payload: { amount: "1.00", address: merchant, callback: `${receiver.url}/cb/${i}` },
      });
      if (res.statusCode !== 200) throw new Error(`POST /order answered ${res.statusCode}: ${res.body}`);
      const order = res.json() as { id: number; expected_amount: string; reference: string };
      const hash = await wallet.writeContract({
        address: contract,
        abi: paymentProcessorAbi,
        functionName: "pay",
        args: [merchant, order.reference as `0x${string}`],
        value: parseEther(order.expected_amount),
        account: customer,
        chain: null,
        gas: 200_000n,
      });
      payments.push({ index: i, orderId: BigInt(order.id), hash });
      if ((i + 1) % 25 === 0) progress(`  ${i + 1}/${PAYMENTS}`);
    }

    // Keep mining until every callback arrived, or give up well past the last completion.
    const arrival = (i: number, status: string) =>
      receiver.deliveries.find(
        (c: Delivery) =>
          c.path === `/cb/${i}` && (JSON.parse(c.body) as { status: string }).status === status,
      );
    const allArrived = () =>
      payments.every((p) => arrival(p.index, "success") && arrival(p.index, "complete"));
    const lastPaid = (await reader.waitForTransactionReceipt({ hash: payments.at(-1)?.hash as Hex }))
      .blockNumber;
    while (!allArrived() && height < lastPaid + BigInt(CONFIRMATIONS) + 30n) {
      await Promise.race([nextBlock(), new Promise((r) => setTimeout(r, 50))]);
      if (minerError) throw minerError;
    }
    await new Promise((r) => setTimeout(r, 500)); // stragglers of the last block
    mining = false;
    for (const wake of blockWaiters) wake();
    await miner;

    const success: number[] = [];
    const complete: number[] = [];
    const missing: string[] = [];
    for (const p of payments) {
      const paid = (await reader.getTransactionReceipt({ hash: p.hash })).blockNumber;
      const paidAt = mined.get(paid);
      const confirmedAt = mined.get(paid + BigInt(CONFIRMATIONS) - 1n);
      const s = arrival(p.index, "success");
      const c = arrival(p.index, "complete");
      if (!s || paidAt === undefined)
        missing.push(`order ${p.orderId} (payment ${p.index}): no success callback`);
      else success.push(s.at - paidAt);
      if (!c || confirmedAt === undefined)
        missing.push(`order ${p.orderId} (payment ${p.index}): no complete callback`);
      else complete.push(c.at - confirmedAt);
    }
    if (missing.length > 0)
      throw new Error(
        `${missing.length} callback(s) never arrived; the run fails rather than leave them out:\n  ${missing.slice(0, 20).join("\n  ")}`,
      );

    result = {
      payments: PAYMENTS,
      confirmations: CONFIRMATIONS,
      blockIntervalMs: BLOCK_MS,
      pollIntervalMs: Number(POLL),
      newHeadsWebSocket: WS,
      database: process.env.DATABASE_URL ? "postgresql" : "pglite",
      success: stats(success),
      complete: stats(complete),
      reference: { evmMineRoundTrip: stats(mineRoundTrips) },
    };
  } finally {
    mining = false;
    for (const wake of blockWaiters) wake();
    await miner;
    await system.close();
    await testDb.drop();
  }

  const line = (name: string, s: Stats) =>
    `  ${name.padEnd(46)} p50 ${s.p50Ms} ms (goal ≤ 100: ${verdict(s.p50Ms <= 100)})  ` +
    `p99 ${s.p99Ms} ms (goal ≤ 250: ${verdict(s.p99Ms <= 250)})  p90 ${s.p90Ms} ms  max ${s.maxMs} ms`;
  console.log(
    `${PAYMENTS} payments, blocks every ${BLOCK_MS} ms, ${CONFIRMATIONS} confirmations, ${result.database}:`,
  );
  console.log(line("paying block mined → success callback", result.success));
  console.log(line(`${CONFIRMATIONS}th confirmation mined → complete callback`, result.complete));
  const ref = result.reference.evmMineRoundTrip;
  console.log(
    `  ${"reference: evm_mine round trip".padEnd(46)} p50 ${ref.p50Ms} ms  p99 ${ref.p99Ms} ms  max ${ref.maxMs} ms ` +
      "(a block's mining time is the end of it: the figures above can be at most this much too low)",
  );
  console.log(`  written to ${writeResult("latency", result)}`);
} catch (error) {
  console.error(`bench:latency: FAILED: ${(error as Error).message}`);
  exitCode = 1;
} finally {
  await receiver.close();
  await chain.stop();
}
process.exit(exitCode);
