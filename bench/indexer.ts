/**
 * `npm run bench:indexer`: backfills N PaymentReceived events (default 20,000; BENCH_EVENTS)
 * created on a local `hardhat node`, into PostgreSQL (DATABASE_URL) or PGlite, through the whole
 * payment pipeline as system.ts wires it (PaymentProcessor source → order sink → merchant
 * callback and TXT notifier subscribers).
 *
 * The real path: every event pays an order. Before each indexer round, a fresh database gets one
 * merchant and N pending orders (bulk insert, outside the timed part) whose ids are the events'
 * order refs, with the matching payout address, token and amount. So the measured time includes
 * linking events to orders, the ledger insert, recomputing every order with the state machine,
 * the order updates (pending → complete: the events are final, past the 12 confirmations) and the
 * outbox rows of the merchant callback (success, then complete: two per order). The round fails
 * unless every order ends `complete` with two callbacks queued.
 *
 * The reference, in the same run on the same node, is plain eth_getLogs + decoding over the same
 * range with nothing written (the faster of two ways, see below). Rounds are interleaved (raw,
 * raw, indexer; BENCH_ROUNDS, default 3) and each figure is the median of its rounds.
 * Goals: ≥ 5,000 events/s into the database, and ≥ 50% of the raw fetch rate.
 *
 * BENCH_PROFILE=1 also prints, per round, the database time of each kind of statement the
 * indexer ran and of its transactions in all (where a step's time goes).
 */
import { createPublicClient, createWalletClient, http, type Hex, type PublicClient } from "viem";
import { paymentProcessorAbi } from "../server/src/chain/abi.ts";
import { getRawLogs } from "../server/src/indexer/rpc.ts";
import { decodeLog, PAYMENT_PROCESSOR_TOPICS } from "../server/src/ledger/payment-processor-source.ts";
import type { Db } from "../server/src/db/types.ts";
import { enqueueCallbacks } from "../server/src/callbacks/outbox.ts";
import { insertEvents } from "../server/src/ledger/contract-events.ts";
import { saveOrderStates } from "../server/src/orders/repository.ts";
import { orderToJson, type OrderRow } from "../server/src/orders/serialize.ts";
import { createTestDb } from "../test/support/db.ts";
import { testIndexer } from "../test/support/indexing.ts";
import { startLocalChain } from "../scripts/lib/local-chain.ts";
import { artifact, freePort } from "../test/support/node-chain.ts";
import { profiled, progress, verdict, writeResult } from "./lib.ts";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
const PER_TX = 200;
const FIRST_ORDER = 1_000_000_000; // order ids are ≥ 10^9 (server/src/orders/ids.ts)
const AMOUNT = 1_000n; // wei per payment, each order's expected amount
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PROFILE = process.env.BENCH_PROFILE === "1";

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
      args: [processor, merchant, BigInt(FIRST_ORDER + made), BigInt(count), AMOUNT],
      value: AMOUNT * BigInt(count),
      account: customer,
      chain: null,
      gas: 16_000_000n,
    });
    if ((made / PER_TX) % 20 === 0) progress(`  ${made + count}/${EVENTS}`);
  }
  // 16 empty blocks on top: every payment is then final (the default window) and past its 12
  // confirmations, so every order ends complete, and the whole range is historical sync.
  await client.request({ method: "hardhat_mine" as never, params: ["0x10"] as never });
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
          decodeLog(l, {
            chainId: 31337n,
            blockTimestamp: l.blockTimestamp ? new Date(Number(l.blockTimestamp) * 1000) : now,
          });
        n += logs.length;
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    return { events: n, perSecond: n / ((performance.now() - t) / 1000) };
  };
  /**
   * One merchant (no TXT plugin) and an order for every event, pending, as POST /order leaves it.
   * A bulk insert outside the timed part: how fast orders are created is bench:api's business.
   */
  const createOrders = async (db: Db) => {
    const { rows } = await db.query<{ id: bigint }>(
      `INSERT INTO merchants (email, plan, api_key_prefix, api_key_hash, callback_secret)
       VALUES ('bench@example.com', 'exclusive', 'benchidx', repeat('0', 64), 'whsec_bench') RETURNING id`,
    );
    await db.query(
      `INSERT INTO orders (id, merchant_id, chain_id, pay_to, merchant_address, token, token_symbol, token_decimals,
         currency_amount, usd_cents, expected_amount, price, price_decimals, callback, expires_at)
       SELECT $1::int8 + i, $2::int8, 31337, $3, $4, '0x0000000000000000000000000000000000000000', 'ETH', 18,
              '0.01', 1, $5::numeric, 1000000000000000000000000, 18, 'http://127.0.0.1:9/callback', now() + interval '1 day'
         FROM generate_series(0, $6::int8 - 1) AS i`,
      [FIRST_ORDER, rows[0]?.id, processor.toLowerCase(), merchant.toLowerCase(), AMOUNT.toString(), EVENTS],
    );
  };
  /** Every order complete, with its success and complete callbacks queued; throws otherwise. */
  const checkOutcome = async (db: Db) => {
    const { rows } = await db.query<{ complete: bigint; callbacks: bigint; linked: bigint }>(
      `SELECT (SELECT count(*) FROM orders WHERE status = 'complete') AS complete,
              (SELECT count(*) FROM callbacks WHERE kind IN ('order.success', 'order.complete')) AS callbacks,
              (SELECT count(*) FROM contract_events WHERE order_id IS NOT NULL) AS linked`,
    );
    const r = rows[0];
    if (
      !r ||
      Number(r.complete) !== EVENTS ||
      Number(r.callbacks) !== 2 * EVENTS ||
      Number(r.linked) !== EVENTS
    )
      throw new Error(
        `expected ${EVENTS} complete orders, ${EVENTS} linked events and ${2 * EVENTS} callbacks; got ${r?.complete}, ${r?.linked}, ${r?.callbacks}`,
      );
  };
  const indexOnce = async () => {
    const testDb = await createTestDb(); // a fresh database (on DATABASE_URL's server, else PGlite)
    try {
      await createOrders(testDb.db);
      const times = new Map<string, { n: number; ms: number }>();
      const indexer = testIndexer(PROFILE ? profiled(testDb.db, times) : testDb.db, client, processor, {
        confirmations: 12,
        finalityBlocks: 16,
        publicUrl: "http://bench",
      });
      const t = performance.now();
      while (await indexer.step()) {
        /* until caught up */
      }
      const seconds = (performance.now() - t) / 1000;
      if (PROFILE) {
        progress(`  database time by statement (${seconds.toFixed(2)} s in all):`);
        for (const [what, { n, ms }] of [...times].sort((a, b) => b[1].ms - a[1].ms))
          progress(`    ${ms.toFixed(0).padStart(6)} ms ${String(n).padStart(4)}× ${what}`);
      }
      const { rows } = await testDb.db.query<{ n: bigint }>(
        "SELECT count(*)::int8 AS n FROM contract_events",
      );
      const events = Number(rows[0]?.n ?? 0n);
      await checkOutcome(testDb.db);
      return { events, seconds, perSecond: events / seconds };
    } finally {
      await testDb.drop();
    }
  };

  /**
   * The floor: the rows the real path must write — every event into the ledger, every order
   * updated to complete, two callback rows per order — written by the very statements the sink
   * uses (one unnest statement each per chunk), with everything computed beforehand:
   * no RPC, no decoding, no order lookups, no state machine. No implementation that keeps these
   * tables can write faster than this on this machine and database.
   */
  const floorOnce = async () => {
    const testDb = await createTestDb();
    try {
      await createOrders(testDb.db);
      const logs = [];
      for (let from = 0n; from <= head; from += 25n) {
        const to = from + 24n > head ? head : from + 24n;
        logs.push(
          ...(await getRawLogs(
            client,
            { address: [processor.toLowerCase()], topics: PAYMENT_PROCESSOR_TOPICS },
            { fromBlock: from, toBlock: to },
          )),
        );
      }
      const now = new Date();
      const events = logs.map((l) => {
        const e = decodeLog(l, {
          chainId: 31337n,
          blockTimestamp: l.blockTimestamp ? new Date(Number(l.blockTimestamp) * 1000) : now,
        });
        e.orderId = BigInt(e.orderRef ?? "0");
        return e;
      });
      const { rows } = await testDb.db.query<OrderRow>("SELECT * FROM orders ORDER BY id");
      const byId = new Map(rows.map((o) => [o.id, o]));
      const updated: OrderRow[] = events.map((e) => ({
        ...(byId.get(e.orderId as bigint) as OrderRow),
        status: "complete",
        amount_paid: e.amount.toString(),
        transaction_id: e.txHash,
        paid_block: e.blockNumber,
      }));
      const entries = updated.flatMap((o) =>
        (["success", "complete"] as const).map((status) => ({
          stream: `order:${o.id}`,
          kind: `order.${status}`,
          url: o.callback,
          body: JSON.stringify(orderToJson({ ...o, status }, "http://bench", head)),
          secretRef: `merchant:${o.merchant_id}`,
          orderId: o.id,
          merchantId: o.merchant_id,
        })),
      );
      const t = performance.now();
      // In chunks of the size the backfill aims at (about 1,500 logs per range), one transaction
      // each, as the indexer commits them (one transaction for all would also exhaust the lock table).
      for (let i = 0; i < events.length; i += 1_500) {
        await testDb.db.transaction(async (tx) => {
          await insertEvents(tx, events.slice(i, i + 1_500));
          await saveOrderStates(tx, updated.slice(i, i + 1_500));
          await enqueueCallbacks(tx, entries.slice(2 * i, 2 * (i + 1_500)));
        });
      }
      const seconds = (performance.now() - t) / 1000;
      return { events: events.length, seconds, perSecond: events.length / seconds };
    } finally {
      await testDb.drop();
    }
  };

  // ROUNDS interleaved rounds (raw, raw, indexer), so that warm-up and machine noise fall on both
  // sides alike; each figure is the median of its rounds.
  const viemRuns: Awaited<ReturnType<typeof viemSequential>>[] = [];
  const rawRuns: Awaited<ReturnType<typeof rawConcurrent>>[] = [];
  const runs: Awaited<ReturnType<typeof indexOnce>>[] = [];
  const floorRuns: Awaited<ReturnType<typeof floorOnce>>[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    progress(
      `round ${round}/${ROUNDS}: raw references, indexing, then the write floor, into ${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"}…`,
    );
    viemRuns.push(await viemSequential());
    rawRuns.push(await rawConcurrent());
    runs.push(await indexOnce());
    floorRuns.push(await floorOnce());
  }
  for (const r of [...viemRuns, ...rawRuns, ...runs, ...floorRuns])
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
    /** The same rows written by the sink's own statements with nothing else to do (see floorOnce). */
    writeFloorEventsPerSecond: Math.round(EVENTS / median(floorRuns.map((r) => r.seconds))),
    rounds: ROUNDS,
    runs: {
      indexerEventsPerSecond: runs.map((r) => Math.round(r.perSecond)),
      viemGetLogsSequential: viemRuns.map((r) => Math.round(r.perSecond)),
      rawGetLogsConcurrent4: rawRuns.map((r) => Math.round(r.perSecond)),
      writeFloor: floorRuns.map((r) => Math.round(r.perSecond)),
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
  const floorRatio = result.writeFloorEventsPerSecond / result.rawFetchEventsPerSecond;
  console.log(
    `  floor: the same rows written by the sink's own statements, nothing else: ${result.writeFloorEventsPerSecond} events/s, ` +
      `${(floorRatio * 100).toFixed(0)}% of raw (the most these rows allow, written this way, on this machine); ` +
      `the indexer is at ${((result.eventsPerSecond / result.writeFloorEventsPerSecond) * 100).toFixed(0)}% of that floor`,
  );
  console.log(`  written to ${writeResult("indexer", result)}`);
} catch (error) {
  console.error(`bench:indexer: ${(error as Error).message}`);
  exitCode = 1;
} finally {
  await chain.stop();
}
process.exit(exitCode);
