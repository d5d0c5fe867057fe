/**
 * `npm run bench:watch`: the per-block ETH watch of deposit addresses at scale. BENCH_ADDRESSES
 * open deposit addresses (default 10,000; open for good, like a deposit subscription's) are
 * registered on a local `hardhat node` with Multicall3. Each block holds one direct transfer to an
 * open address and one internal transfer (EthForwarder, a contract that passes ETH on inside its
 * own call, as a Safe does) to another, and the indexer's balance reader reads the block as it
 * does at the head; its observations are stored. Two runs, one per mode (docs/deposits.md):
 *  - traces: the reader talks to the node through a proxy that answers geth's
 *    `debug_traceBlockByHash` (callTracer) from Hardhat's `debug_traceTransaction` of each of the
 *    block's transactions (Hardhat has no block-level tracing);
 *  - rotation: the node as it is (no traces): one slice of the open addresses per block, every one
 *    read at least every WATCH_FULL_CYCLE_SECONDS (default 30), or every open / 2,000 blocks when
 *    longer. The slice is the one a chain with BENCH_BLOCK_SECONDS blocks (default 12) reads:
 *    here blocks come every few hundred ms, and a slice sized by wall-clock time would be smaller.
 * After BENCH_BLOCKS blocks (default 20), blocks of the same kind continue until every internal
 * transfer sent in them has been found.
 *
 * Reported beside references measured in the same run (one eth_blockNumber round trip; one read
 * of every open address's balance through Multicall3, what each block cost before, and the same
 * through the balance reader, eth_call with a state override):
 *  - ms per block, median and p95 (the reader: block with transactions, traces, database queries,
 *    balance reads, the dating of what it found);
 *  - RPC calls per block, by method, also over the blocks where no internal transfer was found,
 *    and the addresses read at the block (the slice and the matched ones);
 *  - where a block's time goes: database statements and RPC requests, ms per block;
 *  - detection delay: each direct transfer must be seen in its own block; each internal transfer's
 *    delay in blocks and seconds, and each dated to the block it landed in.
 * Goals: < 250 ms per block at 100,000 open addresses; at most 3 calls per block for the block's
 * transactions and logs, plus at most one balance slice of ≤ 2,000 addresses.
 */
import { randomBytes } from "node:crypto";
import {
  createPublicClient,
  createWalletClient,
  encodeFunctionData,
  http,
  zeroAddress,
  type Hex,
  type PublicClient,
} from "viem";
import type { DepositBalanceObserved } from "../server/src/chain/events.ts";
import type { BlockRef } from "../server/src/indexer/types.ts";
import { recordBalances, registerDepositAddresses } from "../server/src/deposits/repository.ts";
import {
  BALANCE_READER,
  BALANCES_PER_CALL,
  depositBalanceReader,
  MIN_SLICE_ADDRESSES,
} from "../server/src/deposits/sources.ts";
import { getBlocksWithTransactions, getHeader } from "../server/src/indexer/rpc.ts";
import { createTestDb } from "../test/support/db.ts";
import { startLocalChain } from "../scripts/lib/local-chain.ts";
import { artifact, freePort, startTraceProxy } from "../test/support/node-chain.ts";
import { percentile, profiled, progress, record, verdict, writeResult, type Times } from "./lib.ts";

const ADDRESSES = Number(process.env.BENCH_ADDRESSES ?? 10_000);
const BLOCKS = Number(process.env.BENCH_BLOCKS ?? 20);
const CYCLE_SECONDS = Number(process.env.WATCH_FULL_CYCLE_SECONDS ?? 30);
/**
 * The rotation's slice is sized by wall-clock time (open addresses × seconds since the last one /
 * the cycle). Here blocks come every few hundred ms; on a chain with BENCH_BLOCK_SECONDS blocks
 * (default 12, Ethereum's) each one reads this many, and so does every block of this run.
 */
const BLOCK_SECONDS = Number(process.env.BENCH_BLOCK_SECONDS ?? 12);
const SLICE = Math.min(
  BALANCES_PER_CALL,
  Math.max(MIN_SLICE_ADDRESSES, Math.ceil((ADDRESSES * BLOCK_SECONDS) / CYCLE_SECONDS)),
);
const CHAIN_ID = 31337n;
const sorted = (values: readonly number[]) => [...values].sort((a, b) => a - b);
const median = (values: readonly number[]) => percentile(sorted(values), 50);

const chain = await startLocalChain(await freePort());
const testDb = await createTestDb();
let exitCode = 0;
try {
  const transport = http(chain.url, { retryCount: 0, timeout: 60_000, batch: { batchSize: 100, wait: 0 } });
  const client = createPublicClient({ transport }) as PublicClient;
  const wallet = createWalletClient({ transport });
  const [owner, customer, payer] = await wallet.getAddresses();
  if (!owner || !customer || !payer) throw new Error("no dev accounts");
  const deploy = async (path: string) => {
    const { abi, bytecode } = artifact(path);
    const hash = await wallet.deployContract({ abi, bytecode, account: owner, chain: null });
    return (await client.waitForTransactionReceipt({ hash, pollingInterval: 20 })).contractAddress as Hex;
  };
  const multicall3 = await deploy("mocks/Multicall3.sol/Multicall3.json");
  const forwarder = await deploy("mocks/EthForwarder.sol/EthForwarder.json");
  const forwarderAbi = artifact("mocks/EthForwarder.sol/EthForwarder.json").abi;

  progress(`registering ${ADDRESSES} open deposit addresses…`);
  const addresses: string[] = [];
  for (let i = 0; i < ADDRESSES; i += 5_000) {
    const batch = [];
    for (let j = i; j < Math.min(ADDRESSES, i + 5_000); j++) {
      const address = `0x${randomBytes(20).toString("hex")}`;
      addresses.push(address);
      batch.push({
        chainId: CHAIN_ID,
        address,
        merchant: owner,
        orderRef: `0x${j.toString(16).padStart(64, "0")}`,
        token: zeroAddress,
        watchSeconds: 100 * 365 * 86_400, // open for good, like a deposit subscription's address
      });
    }
    await registerDepositAddresses(testDb.db, batch);
  }
  // The statistics autovacuum keeps on a live database (a fresh bulk insert has none yet).
  await testDb.db.query("ANALYZE deposit_addresses");

  /** One run of blocks with the reader on `readerClient` (the node, or the node behind the trace proxy). */
  async function measure(readerClient: PublicClient) {
    const calls = new Map<string, number>();
    const kinds = new Map<string, number>(); // block | atBlock | dating
    // Where a block's time goes: database statements and RPC requests (wall time of each; the
    // requests of one block overlap, so their sum can exceed the block's time).
    const times: Times = new Map();
    const timedClient = Object.assign(Object.create(readerClient) as PublicClient, {
      request: async (args: { method: string }, opts?: unknown) => {
        const t = performance.now();
        try {
          return await (readerClient.request as (a: unknown, o?: unknown) => Promise<unknown>)(args, opts);
        } finally {
          record(times, `rpc ${args.method}`, performance.now() - t);
        }
      },
    }) as PublicClient;
    let addressesAtBlock = 0; // addresses read at the step's block (slice + matched), this block
    const reader = depositBalanceReader({
      db: profiled(testDb.db, times),
      client: timedClient,
      chainId: CHAIN_ID,
      multicall3,
      fullCycleSeconds: CYCLE_SECONDS,
      // The slice a chain with BLOCK_SECONDS blocks reads (here blocks come faster than that).
      minSliceAddresses: SLICE,
      onRequest: (method, params) => {
        calls.set(method, (calls.get(method) ?? 0) + 1);
        if (method === "eth_call" && typeof params[1] === "object") {
          // The balance reader's packed addresses, or aggregate3's array length.
          const { to, data } = params[0] as { to: string; data: string };
          addressesAtBlock +=
            to === BALANCE_READER
              ? (data.length - 2) / 40
              : Number.parseInt(data.slice(2 + 8 + 64, 2 + 8 + 128), 16);
        } else if (method === "eth_getBalance" && typeof params[1] === "object") addressesAtBlock++;
        // Balance reads at the step's block go by its hash; those before it (dating) by number.
        const kind = ["eth_call", "eth_getBalance"].includes(method)
          ? typeof params[1] === "object"
            ? "atBlock"
            : "dating"
          : method === "eth_getBlockByNumber"
            ? "dating"
            : "block";
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      },
    });

    await client.request({ method: "evm_setAutomine", params: [false] } as never);
    const pick = () => addresses[Math.floor(Math.random() * addresses.length)] as Hex;
    const perBlockMs: number[] = [];
    const perBlockCalls: number[] = [];
    const quietCalls: number[] = []; // blocks where no internal transfer was found (and dated)
    // After the first block (which asks the node for traces): calls for the block's contents,
    // balance reads at the block (slice and matched addresses), and reads before it (dating).
    const blockCallsPerBlock: number[] = [];
    const atBlockCallsPerBlock: number[] = [];
    const datingCallsPerBlock: number[] = [];
    const readsPerBlock: number[] = []; // addresses read at the block (slice + matched)
    const references: number[] = [];
    const byMethod = new Map<string, number[]>();
    const pending = new Map<string, { block: bigint; at: number; measured: boolean }>(); // internal transfers
    const internalDelays: { blocks: number; seconds: number }[] = [];
    let directMissed = 0;
    let misdated = 0;
    let blocks = 0;
    // A pass over every open address takes at least the cycle, longer when one slice per block
    // (≤ 2,000) cannot cover them in time.
    const deadline = Date.now() + (CYCLE_SECONDS + 60) * 1000 + ADDRESSES * 20;
    for (;;) {
      const measuring = blocks < BLOCKS;
      const waiting = [...pending.values()].some((p) => p.measured);
      if (!measuring && !waiting) break;
      if (Date.now() > deadline)
        throw new Error("internal transfers still not found after a full cycle + 60 s (+ 20 ms per address)");
      // One direct and one internal transfer in the same block.
      const direct = pick();
      let internal = pick();
      while (internal === direct) internal = pick();
      const sentDirect = await wallet.sendTransaction({
        account: customer as Hex,
        to: direct,
        value: 1_000n,
        chain: null,
      });
      await wallet.sendTransaction({
        account: payer as Hex,
        to: forwarder,
        value: 2_000n,
        data: encodeFunctionData({ abi: forwarderAbi, functionName: "forward", args: [internal] }),
        chain: null,
      });
      await client.request({ method: "evm_mine", params: [] } as never);
      // The block as the indexer's follower fetches it at the head for this reader (with its
      // transactions: one call, counted below as the block's first content call).
      const fetched = await getBlocksWithTransactions(client, [
        await client.getBlockNumber({ cacheTime: 0 }),
      ]);
      const block = [...fetched.refs.values()][0] as BlockRef;
      const sentAt = performance.now();
      if (!pending.has(internal.toLowerCase()))
        pending.set(internal.toLowerCase(), { block: block.number, at: sentAt, measured: measuring });

      let started = performance.now();
      await client.request({ method: "eth_blockNumber" });
      references.push(performance.now() - started);

      calls.clear();
      kinds.clear();
      addressesAtBlock = 0;
      if (blocks === 1) times.clear(); // the first block asks the node for traces
      started = performance.now();
      const events = (await reader.read([block], {
        chainId: CHAIN_ID,
        from: block.number,
        events: [],
        historical: false,
        bodies: fetched.bodies,
      })) as DepositBalanceObserved[];
      const done = performance.now();
      perBlockMs.push(done - started);
      const total = [...calls.values()].reduce((a, b) => a + b, 0);
      perBlockCalls.push(total);
      const foundInternal = events.some((e) => e.blockNumber !== block.number || e.txHash === null);
      if (!foundInternal && blocks > 0) quietCalls.push(total);
      for (const [method, n] of calls) byMethod.set(method, [...(byMethod.get(method) ?? []), n]);
      if (blocks > 0) {
        readsPerBlock.push(addressesAtBlock);
        blockCallsPerBlock.push(1 + (kinds.get("block") ?? 0)); // the follower's block + the reader's
        atBlockCallsPerBlock.push(kinds.get("atBlock") ?? 0);
        datingCallsPerBlock.push(kinds.get("dating") ?? 0);
      }
      blocks++;
      const seen = events.find((e) => e.address === direct.toLowerCase() && e.blockNumber === block.number);
      if (!seen || seen.blockNumber !== block.number || seen.txHash !== sentDirect) {
        directMissed++;
        if (process.env.BENCH_DEBUG) console.log(block.number, direct, sentDirect, events);
      }
      for (const e of events) {
        const p = pending.get(e.address);
        if (!p) continue;
        pending.delete(e.address);
        if (e.blockNumber !== p.block) misdated++;
        if (p.measured)
          internalDelays.push({ blocks: Number(block.number - p.block), seconds: (done - p.at) / 1000 });
      }
      await testDb.db.transaction((tx) => recordBalances(tx, events));
    }
    await client.request({ method: "evm_setAutomine", params: [true] } as never);

    const ms = median(perBlockMs);
    const p95 = percentile(sorted(perBlockMs), 95);
    const callsMedian = median(perBlockCalls);
    const callsP95 = percentile(sorted(perBlockCalls), 95);
    const methods = Object.fromEntries(
      [...byMethod].map(([m, v]) => [m, { median: median(v), max: Math.max(...v), blocks: v.length }]),
    );
    const sliceSize = reader.status().mode === "rotation" ? SLICE : 0;
    const worstBlocks = Math.max(0, ...internalDelays.map((d) => d.blocks));
    const worstSeconds = Math.max(0, ...internalDelays.map((d) => d.seconds));
    const reference = median(references);
    const quietMedian = median(quietCalls);
    const quietMax = Math.max(0, ...quietCalls);
    const blockCalls = {
      median: median(blockCallsPerBlock),
      max: Math.max(0, ...blockCallsPerBlock),
    };
    const atBlock = { median: median(atBlockCallsPerBlock), max: Math.max(0, ...atBlockCallsPerBlock) };
    const dating = { median: median(datingCallsPerBlock), p95: percentile(sorted(datingCallsPerBlock), 95) };
    // The indexer's eth_getLogs for the block (not made here) is the third of the 3.
    const result = {
      addresses: ADDRESSES,
      blocks,
      measuredBlocks: BLOCKS,
      mode: reader.status().mode,
      fullCycleSeconds: CYCLE_SECONDS,
      msPerBlockMedian: Number(ms.toFixed(1)),
      msPerBlockP95: Number(p95.toFixed(1)),
      rpcCallsPerBlockMedian: callsMedian,
      rpcCallsPerBlockP95: callsP95,
      rpcCallsPerBlockWithoutInternalFound: { blocks: quietCalls.length, median: quietMedian, max: quietMax },
      blockContentCallsPerBlock: blockCalls,
      balanceCallsAtTheBlockPerBlock: atBlock,
      datingCallsPerBlock: dating,
      rpcCallsByMethod: methods,
      addressesReadAtTheBlockPerBlock: {
        median: median(readsPerBlock),
        max: Math.max(0, ...readsPerBlock),
      },
      msPerBlockByPart: Object.fromEntries(
        [...times]
          .sort((a, b) => b[1].ms - a[1].ms)
          .map(([what, { n, ms }]) => [
            what,
            { perBlock: Number((ms / Math.max(1, blocks - 1)).toFixed(1)), calls: n },
          ]),
      ),
      sliceAddressesPerBlock: sliceSize,
      blockSecondsForTheSlice: BLOCK_SECONDS,
      directTransfers: { sent: blocks, notSeenInTheirBlock: directMissed },
      internalTransfers: {
        measured: internalDelays.length,
        misdated,
        worstDelayBlocks: worstBlocks,
        worstDelaySeconds: Number(worstSeconds.toFixed(2)),
        medianDelayBlocks: median(internalDelays.map((d) => d.blocks)),
        boundSeconds: CYCLE_SECONDS,
      },
      referenceEthBlockNumberMs: Number(reference.toFixed(2)),
      referenceFullReadMs: Number(fullReadMs.toFixed(1)),
      referenceFullReadCalls: Math.ceil(ADDRESSES / BALANCES_PER_CALL),
    };
    const callsOk = blockCalls.max + 1 <= 3 && atBlock.max <= 1;
    const msOk = ms < 250;
    console.log(
      `deposit watch (${result.mode}): ${ADDRESSES} open deposit addresses, ${blocks} blocks (one direct + one internal transfer each)`,
    );
    console.log(
      `  ms per block: median ${ms.toFixed(1)}, p95 ${p95.toFixed(1)}; goal < 250: ${verdict(msOk)}` +
        ` (reference: reading every open balance once, as each block did before: ${fullReadMs.toFixed(0)} ms in ${result.referenceFullReadCalls} eth_call; one eth_blockNumber: ${reference.toFixed(2)} ms)`,
    );
    console.log(
      `  RPC calls per block: median ${callsMedian}, p95 ${callsP95} (${Object.entries(methods)
        .map(([m, v]) => `${m} ${v.median}/max ${v.max}`)
        .join(", ")})`,
    );
    console.log(
      `  per block: ${blockCalls.median} (max ${blockCalls.max}) calls for the block with its transactions (the indexer's follower)${result.mode === "rotation" ? "" : " and traces"} + the indexer's eth_getLogs,` +
        ` ${atBlock.median} (max ${atBlock.max}) eth_call for the balances at the block (the matched addresses${result.mode === "rotation" ? ` and the slice of ≈ ${sliceSize}` : ""}, ≤ ${BALANCES_PER_CALL} per call);` +
        ` goal ≤ 3 + one slice: ${verdict(callsOk)}. Dating reads before the block: median ${dating.median}, p95 ${dating.p95}` +
        ` (a first read of an address: its balance one block back; a late find: reads back, then bisection); in blocks where no internal transfer was found, all calls: median ${quietMedian}, max ${quietMax}`,
    );
    console.log(
      `  addresses read at the block: median ${result.addressesReadAtTheBlockPerBlock.median}, max ${result.addressesReadAtTheBlockPerBlock.max} per block (goal: one slice ≤ ${BALANCES_PER_CALL} and the matched addresses)`,
    );
    console.log(
      `  where a block's time goes (ms per block, requests overlap): ${Object.entries(result.msPerBlockByPart)
        .slice(0, 8)
        .map(([what, v]) => `${what}: ${v.perBlock}`)
        .join("; ")}`,
    );
    console.log(
      `  direct transfers: ${blocks - directMissed}/${blocks} seen in their own block (delay 0 blocks); goal all: ${verdict(directMissed === 0)}`,
    );
    console.log(
      `  internal transfers: ${internalDelays.length} found, all dated to their block: ${verdict(misdated === 0)}; ` +
        `delay worst ${worstBlocks} blocks / ${worstSeconds.toFixed(1)} s, median ${result.internalTransfers.medianDelayBlocks} blocks` +
        ` (goal: WATCH_FULL_CYCLE_SECONDS = ${CYCLE_SECONDS} s + one block): ${verdict(worstSeconds <= CYCLE_SECONDS + 2)}` +
        (result.mode === "rotation"
          ? `; a pass reads at most ${BALANCES_PER_CALL} addresses per block, so it takes at least ${Math.ceil(ADDRESSES / BALANCES_PER_CALL)} blocks here (${((Math.ceil(ADDRESSES / BALANCES_PER_CALL) * ms) / 1000).toFixed(1)} s at the median block)`
          : ""),
    );
    const ok = msOk && callsOk && directMissed === 0 && misdated === 0;
    return { result, ok };
  }

  // Reference: one read of every open address through Multicall3 (the cost of each block before
  // the rotation), and the same read through the balance reader (eth_call with a state override).
  const head = await getHeader(client, await client.getBlockNumber({ cacheTime: 0 }));
  let started = performance.now();
  await depositBalanceReader({
    db: testDb.db,
    client,
    chainId: CHAIN_ID,
    multicall3,
    stateOverrides: false,
  }).balancesAt(addresses, head.hash);
  const fullReadMs = performance.now() - started;
  started = performance.now();
  await depositBalanceReader({ db: testDb.db, client, chainId: CHAIN_ID, multicall3 }).balancesAt(
    addresses,
    head.hash,
  );
  const fullReadOverrideMs = performance.now() - started;
  console.log(
    `reference: every open balance read once at one block: ${fullReadMs.toFixed(0)} ms through Multicall3 (${Math.ceil(ADDRESSES / BALANCES_PER_CALL)} eth_call, what each block cost before the watch read only what it needs), ` +
      `${fullReadOverrideMs.toFixed(0)} ms through the balance reader (eth_call with a state override, the same number of calls)`,
  );

  // Traces first (the Hardhat node's own debug_traceTransaction behind a debug_traceBlockByHash
  // proxy), then the rotation (the node as it is: no block traces).
  const proxy = await startTraceProxy(chain.url);
  const traced = createPublicClient({
    transport: http(proxy.url, { retryCount: 0, timeout: 60_000, batch: { batchSize: 100, wait: 0 } }),
  }) as PublicClient;
  const runs: Record<string, Awaited<ReturnType<typeof measure>>["result"]> = {};
  let allOk = true;
  for (const [name, readerClient] of [
    ["traces", traced],
    ["rotation", client],
  ] as const) {
    const { result, ok } = await measure(readerClient);
    runs[name] = result;
    allOk &&= ok;
  }
  await proxy.close();
  console.log(
    `  written to ${writeResult(`watch-${ADDRESSES}`, {
      addresses: ADDRESSES,
      referenceFullReadMs: Number(fullReadMs.toFixed(1)),
      referenceFullReadBalanceReaderMs: Number(fullReadOverrideMs.toFixed(1)),
      referenceFullReadCalls: Math.ceil(ADDRESSES / BALANCES_PER_CALL),
      ...runs,
    })}`,
  );
  if (!allOk) exitCode = 1;
} catch (error) {
  console.error(error);
  exitCode = 1;
} finally {
  await testDb.drop();
  await chain.stop();
}
process.exit(exitCode);
