/**
 * `npm run bench:latency`: with CONFIRMATIONS=1, the time from the confirming block being mined to
 * the callback arriving at a local receiver, over N payments (default 200; BENCH_PAYMENTS).
 * The whole system runs in-process against a local `hardhat node` (automine: the block is mined
 * when eth_sendTransaction returns), polling every 100 ms (POLL_INTERVAL_MS) and woken by the
 * node's newHeads WebSocket subscription (BENCH_WS=0 turns that off). Goals: p50 ≤ 100 ms,
 * p99 ≤ 250 ms.
 */
import { createWalletClient, http, parseEther, type Hex } from "viem";
import { paymentProcessorAbi } from "../server/src/chain/abi.ts";
import { loadConfig } from "../server/src/config/index.ts";
import { orderIdToBytes32 } from "../server/src/orders/ids.ts";
import { startSystem } from "../server/src/system.ts";
import { startLocalChain } from "../scripts/lib/local-chain.ts";
import { startReceiver } from "../test/helpers/receiver.ts";
import { freePort } from "../test/helpers/node-chain.ts";
import { createTestDb } from "../test/helpers/db.ts";
import { readFileSync } from "node:fs";
import { ROOT } from "../scripts/lib/local-chain.ts";
import { percentile, progress, verdict, writeResult } from "./lib.ts";

const PAYMENTS = Number(process.env.BENCH_PAYMENTS ?? 200);
// The default realtime poll of a local chain; set POLL_INTERVAL_MS to compare other intervals.
const POLL = process.env.POLL_INTERVAL_MS ?? "100";
// The node's newHeads subscription wakes the indexer (RPC_WS_URL); BENCH_WS=0 measures polling alone.
const WS = process.env.BENCH_WS !== "0";

const chain = await startLocalChain(await freePort());
const receiver = await startReceiver();
let exitCode = 0;
try {
  const wallet = createWalletClient({ transport: http(chain.url, { retryCount: 0 }) });
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
  const { createPublicClient } = await import("viem");
  const reader = createPublicClient({ transport: http(chain.url) });
  const contract = (await reader.waitForTransactionReceipt({ hash: deployHash, pollingInterval: 20 }))
    .contractAddress as Hex;

  const config = loadConfig({
    NODE_ENV: "test",
    RPC_URL: chain.url,
    CONTRACT_ADDRESS: contract,
    START_BLOCK: "0",
    CONFIRMATIONS: "1",
    POLL_INTERVAL_MS: POLL,
    RPC_WS_URL: WS ? chain.url.replace(/^http/, "ws") : undefined,
    ETH_USD_PRICE: "2000",
    TOKENS: `USDC:0x${"11".repeat(20)}:6`,
  });
  // A database of its own (a fresh one on DATABASE_URL's server, else in-memory PGlite).
  const testDb = await createTestDb();
  const system = await startSystem(config, { listen: false, db: testDb.db });
  const samples: number[] = [];
  const indexedSamples: number[] = [];
  // When the indexer commits each order's `complete` (the callback is queued in that transaction).
  const committed = new Map<bigint, number>();
  system.indexer?.onCommit((changes) => {
    for (const c of changes) if (c.status === "complete") committed.set(c.order.id, performance.now());
  });
  try {
    progress(
      `${PAYMENTS} payments, CONFIRMATIONS=1, poll ${POLL} ms, newHeads over ws ${WS ? "on" : "off"}, ` +
        `${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"}…`,
    );
    for (let i = 0; i < PAYMENTS; i++) {
      const res = await system.app.inject({
        method: "POST",
        url: "/order",
        payload: { amount: "1.00", address: merchant, callback: `${receiver.url}/cb/${i}` },
      });
      const order = res.json() as { id: number; expected_amount: string };
      await wallet.writeContract({
        address: contract,
        abi: paymentProcessorAbi,
        functionName: "pay",
        args: [merchant, orderIdToBytes32(BigInt(order.id))],
        value: parseEther(order.expected_amount),
        account: customer,
        chain: null,
      });
      const mined = performance.now(); // automine: the block exists once the call returns
      const arrived = await receiver.waitFor(
        (all) => all.some((c) => c.path === `/cb/${i}` && JSON.parse(c.body).status === "complete"),
        30_000,
      );
      const hit = arrived.find((c) => c.path === `/cb/${i}` && JSON.parse(c.body).status === "complete");
      samples.push(hit ? hit.receivedAt - (Date.now() - (performance.now() - mined)) : Number.NaN);
      indexedSamples.push((committed.get(BigInt(order.id)) ?? Number.NaN) - mined);
      if ((i + 1) % 50 === 0) progress(`  ${i + 1}/${PAYMENTS}`);
    }
  } finally {
    await system.close();
    await testDb.drop();
  }
  const sorted = samples.filter(Number.isFinite).sort((a, b) => a - b);
  const indexed = indexedSamples.filter(Number.isFinite).sort((a, b) => a - b);
  const result = {
    samples: sorted.length,
    p50Ms: Math.round(percentile(sorted, 50)),
    p99Ms: Math.round(percentile(sorted, 99)),
    pollIntervalMs: Number(POLL),
    newHeadsWebSocket: WS,
    // Block mined → the indexer's commit of `complete` (the rest is the callback delivery).
    indexedP50Ms: Math.round(percentile(indexed, 50)),
    indexedP99Ms: Math.round(percentile(indexed, 99)),
    database: process.env.DATABASE_URL ? "postgresql" : "pglite",
  };
  console.log(`block mined → callback received, ${result.samples} payments:`);
  console.log(`  p50 ${result.p50Ms} ms (goal ≤ 100: ${verdict(result.p50Ms <= 100)})`);
  console.log(`  p99 ${result.p99Ms} ms (goal ≤ 250: ${verdict(result.p99Ms <= 250)})`);
  console.log(
    `  of which block mined → indexed: p50 ${result.indexedP50Ms} ms, p99 ${result.indexedP99Ms} ms`,
  );
  console.log(`  written to ${writeResult("latency", result)}`);
} catch (error) {
  console.error(`bench:latency: ${(error as Error).message}`);
  exitCode = 1;
} finally {
  await receiver.close();
  await chain.stop();
}
process.exit(exitCode);
