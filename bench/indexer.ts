/**
 * `npm run bench:indexer`: backfills N PaymentReceived events (default 20,000; BENCH_EVENTS)
 * created on a local `hardhat node`, into PostgreSQL (DATABASE_URL) or PGlite. In the same run it
 * measures plain eth_getLogs + decoding over the same range, as the reference.
 * Goals: ≥ 5,000 events/s into the database, and ≥ 50% of the raw fetch rate.
 */
import { readFileSync } from "node:fs";
import pino from "pino";
import { createPublicClient, createWalletClient, http, type Hex, type PublicClient } from "viem";
import { paymentProcessorAbi } from "../server/src/chain/abi.ts";
import { createDb, migrate } from "../server/src/db/index.ts";
import { createIndexer } from "../server/src/indexer/index.ts";
import { ROOT, startLocalChain } from "../scripts/lib/local-chain.ts";
import { freePort } from "../test/helpers/node-chain.ts";
import { progress, verdict, writeResult } from "./lib.ts";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
const PER_TX = 200;
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

  // Reference: plain eth_getLogs + decoding over the same range, in the same chunks.
  const events = paymentProcessorAbi.filter((x) => x.type === "event");
  let t = performance.now();
  let raw = 0;
  // 25 blocks × 200 events stay under viem's 10 MiB response limit.
  for (let from = 0n; from <= head; from += 25n) {
    const to = from + 24n > head ? head : from + 24n;
    raw += (await client.getLogs({ address: processor, events, fromBlock: from, toBlock: to, strict: true }))
      .length;
  }
  const rawSeconds = (performance.now() - t) / 1000;

  const db = await createDb({ databaseUrl: process.env.DATABASE_URL, dataDir: undefined });
  await migrate(db);
  await db.query("TRUNCATE contract_events, indexer_blocks, indexer_cursor");
  const indexer = createIndexer({
    db,
    client,
    log: pino({ level: "silent" }),
    chainId: 31337n,
    contract: processor,
    startBlock: 0n,
    confirmations: 12,
    finalityBlocks: 16,
    pollIntervalMs: 20,
    publicUrl: "http://bench",
  });
  progress(`indexing into ${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"}…`);
  t = performance.now();
  while (await indexer.step()) {
    /* until caught up */
  }
  const seconds = (performance.now() - t) / 1000;
  const { rows } = await db.query<{ n: bigint }>("SELECT count(*)::int8 AS n FROM contract_events");
  await db.close();
  const indexed = Number(rows[0]?.n ?? 0n);
  if (indexed !== EVENTS || raw !== EVENTS)
    throw new Error(`expected ${EVENTS} events, indexed ${indexed}, raw ${raw}`);

  const result = {
    events: indexed,
    seconds: Number(seconds.toFixed(3)),
    eventsPerSecond: Math.round(indexed / seconds),
    rawFetchEventsPerSecond: Math.round(raw / rawSeconds),
    database: process.env.DATABASE_URL ? "postgresql" : "pglite",
  };
  const ratio = result.eventsPerSecond / result.rawFetchEventsPerSecond;
  console.log(`indexer backfill: ${result.events} events in ${result.seconds} s`);
  console.log(
    `  into ${result.database}: ${result.eventsPerSecond} events/s (goal ≥ 5000: ${verdict(result.eventsPerSecond >= 5000)})`,
  );
  console.log(
    `  raw eth_getLogs+decode: ${result.rawFetchEventsPerSecond} events/s; ratio ${(ratio * 100).toFixed(0)}% (goal ≥ 50%: ${verdict(ratio >= 0.5)})`,
  );
  console.log(`  written to ${writeResult("indexer", result)}`);
} catch (error) {
  console.error(`bench:indexer: ${(error as Error).message}`);
  exitCode = 1;
} finally {
  await chain.stop();
}
process.exit(exitCode);
