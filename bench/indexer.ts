/**
 * `npm run bench:indexer`: backfills N PaymentReceived events (default 20,000; BENCH_EVENTS)
 * created on a local `hardhat node`, into PostgreSQL (DATABASE_URL) or PGlite. In the same run it
 * measures plain eth_getLogs + decoding over the same range, as the reference, in interleaved
 * rounds (BENCH_ROUNDS, default 3; medians), each indexer round into a fresh database.
 * Goals: ≥ 5,000 events/s into the database, and ≥ 50% of the raw fetch rate.
 */
import { readFileSync } from "node:fs";
import { createPublicClient, createWalletClient, http, type Hex, type PublicClient } from "viem";
import { paymentProcessorAbi } from "../server/src/chain/abi.ts";
import { getRawLogs } from "../server/src/indexer/rpc.ts";
import { decodeLog, PAYMENT_PROCESSOR_TOPICS } from "../server/src/ledger/payment-processor-source.ts";
import { createTestDb } from "../test/helpers/db.ts";
import { testIndexer } from "../test/helpers/indexing.ts";
import { ROOT, startLocalChain } from "../scripts/lib/local-chain.ts";
import { freePort } from "../test/helpers/node-chain.ts";
import { progress, verdict, writeResult } from "./lib.ts";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
const PER_TX = 200;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const artifact = (path: string) =>
  JSON.parse(readFileSync(`${ROOT}artifacts/contracts/${path}`, "utf8")) as { abi: unknown[]; bytecode: Hex };

const chain = await startLocalChain(await freePort());
let exitCode = 0;
try {
  const transport = http(chain.url, { retryCount: 0, timeout: 60_000, batch: { batchSize: 100, wait: 0 } });
  const client = createPublicClient({ transport }) as PublicClient;
  const wallet = createWalletClient({ transport });
  const [owner, customer, merchant] = await wallet.getAddresses();
  if (!owner || !customer || !merchant) throw new Error("no dev accounts");
  const deploy = async (path: string, args: unknown[]) => {
    const { abi, bytecode } = artifact(path);
    const hash = await wallet.deployContract({ abi, bytecode, args, account: owner, chain: null });
    const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: 20 });
    return receipt.contractAddress as Hex;
  };
  const processor = await deploy("payments/PaymentProcessor.sol/PaymentProcessor.json", [owner]);
  const batchPayer = await deploy("mocks/BatchPayer.sol/BatchPayer.json", []);
  const batchAbi = artifact("mocks/BatchPayer.sol/BatchPayer.json").abi;

  progress(`creating ${EVENTS} payment events in ${Math.ceil(EVENTS / PER_TX)} transactions…`);
  for (let made = 0; made < EVENTS; made += PER_TX) {
    const count = Math.min(PER_TX, EVENTS - made);
    await wallet.writeContract({
      address: batchPayer,
      abi: batchAbi,
      functionName: "payMany",
      args: [processor, merchant, BigInt(1_000_000_000 + made), BigInt(count), 1_000n],
      value: 1_000n * BigInt(count),
      account: customer,
      chain: null,
      gas: 16_000_000n,
    });
    if ((made / PER_TX) % 20 === 0) progress(`  ${made + count}/${EVENTS}`);
  }
  const head = await client.getBlockNumber();

  // References on the same node, in the same run: plain eth_getLogs + decoding, with nothing
  // written anywhere. Two ways, and the faster one is the reference the indexer is held to:
  //  - viem's getLogs (formatting + ABI decoding), one range after another;
  //  - raw eth_getLogs + the indexer's own decoder, 4 ranges in flight (as the indexer fetches).
  // 25 blocks × 200 events stay under viem's 10 MiB response limit; 12 blocks ≈ the indexer's ranges.
  const events = paymentProcessorAbi.filter((x) => x.type === "event");
  const viemSequential = async () => {
    const t = performance.now();
    let n = 0;
    for (let from = 0n; from <= head; from += 25n) {
      const to = from + 24n > head ? head : from + 24n;
      n += (await client.getLogs({ address: processor, events, fromBlock: from, toBlock: to, strict: true }))
        .length;
    }
    return { events: n, perSecond: n / ((performance.now() - t) / 1000) };
  };
  const rawConcurrent = async () => {
    const t = performance.now();
    const ranges: [bigint, bigint][] = [];
    for (let from = 0n; from <= head; from += 12n) ranges.push([from, from + 11n > head ? head : from + 11n]);
    let n = 0;
    const worker = async () => {
      for (let r = ranges.shift(); r; r = ranges.shift()) {
        const logs = await getRawLogs(
          client,
          { address: [processor.toLowerCase()], topics: PAYMENT_PROCESSOR_TOPICS },
          { fromBlock: r[0], toBlock: r[1] },
        );
        const now = new Date();
        for (const l of logs)
          decodeLog(l, 31337n, l.blockTimestamp ? new Date(Number(l.blockTimestamp) * 1000) : now);
        n += logs.length;
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    return { events: n, perSecond: n / ((performance.now() - t) / 1000) };
  };
  const indexOnce = async () => {
    const testDb = await createTestDb(); // a fresh database (on DATABASE_URL's server, else PGlite)
    try {
      const indexer = testIndexer(testDb.db, client, processor, {
        confirmations: 12,
        finalityBlocks: 16,
        publicUrl: "http://bench",
      });
      const t = performance.now();
      while (await indexer.step()) {
        /* until caught up */
      }
      const seconds = (performance.now() - t) / 1000;
      const { rows } = await testDb.db.query<{ n: bigint }>(
        "SELECT count(*)::int8 AS n FROM contract_events",
      );
      const events = Number(rows[0]?.n ?? 0n);
      return { events, seconds, perSecond: events / seconds };
    } finally {
      await testDb.drop();
    }
  };

  // ROUNDS interleaved rounds (raw, raw, indexer), so that warm-up and machine noise fall on both
  // sides alike; each figure is the median of its rounds.
  const viemRuns: Awaited<ReturnType<typeof viemSequential>>[] = [];
  const rawRuns: Awaited<ReturnType<typeof rawConcurrent>>[] = [];
  const runs: Awaited<ReturnType<typeof indexOnce>>[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    progress(
      `round ${round}/${ROUNDS}: raw references, then indexing into ${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"}…`,
    );
    viemRuns.push(await viemSequential());
    rawRuns.push(await rawConcurrent());
    runs.push(await indexOnce());
  }
  for (const r of [...viemRuns, ...rawRuns, ...runs])
    if (r.events !== EVENTS) throw new Error(`expected ${EVENTS} events, got ${r.events}`);
  const median = (values: number[]) =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
  const rawBest = Math.max(median(viemRuns.map((r) => r.perSecond)), median(rawRuns.map((r) => r.perSecond)));
  const seconds = median(runs.map((r) => r.seconds));

  const result = {
    events: EVENTS,
    seconds: Number(seconds.toFixed(3)),
    eventsPerSecond: Math.round(EVENTS / seconds),
    rawFetchEventsPerSecond: Math.round(rawBest),
    rounds: ROUNDS,
    runs: {
      indexerEventsPerSecond: runs.map((r) => Math.round(r.perSecond)),
      viemGetLogsSequential: viemRuns.map((r) => Math.round(r.perSecond)),
      rawGetLogsConcurrent4: rawRuns.map((r) => Math.round(r.perSecond)),
    },
    database: process.env.DATABASE_URL ? "postgresql" : "pglite",
  };
  const ratio = result.eventsPerSecond / result.rawFetchEventsPerSecond;
  console.log(
    `indexer backfill: ${result.events} events in ${result.seconds} s (median of ${ROUNDS} rounds)`,
  );
  console.log(
    `  into ${result.database}: ${result.eventsPerSecond} events/s (goal ≥ 5000: ${verdict(result.eventsPerSecond >= 5000)})`,
  );
  console.log(
    `  raw eth_getLogs+decode (the faster of two ways): ${result.rawFetchEventsPerSecond} events/s; ratio ${(ratio * 100).toFixed(0)}% (goal ≥ 50%: ${verdict(ratio >= 0.5)})`,
  );
  console.log(`  written to ${writeResult("indexer", result)}`);
} catch (error) {
  console.error(`bench:indexer: ${(error as Error).message}`);
  exitCode = 1;
} finally {
  await chain.stop();
}
process.exit(exitCode);
