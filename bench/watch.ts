/**
 * `npm run bench:watch`: the per-block balance watch of deposit addresses. BENCH_ADDRESSES open
 * deposit addresses (default 10,000) are registered on a local `hardhat node` with Multicall3; for
 * BENCH_BLOCKS blocks (default 20), each with one plain transfer to a watched address, the
 * indexer's balance reader reads every balance at the block (the watch-list query included) and
 * the change is stored. Reported: RPC requests per block (and per 1,000 addresses) and
 * milliseconds per block (median, p95), beside a reference measured in the same run: one
 * eth_blockNumber round trip (median).
 * Goals: at most 1 call per 1,000 addresses, and under 250 ms per block.
 */
import { randomBytes } from "node:crypto";
import { createPublicClient, createWalletClient, http, zeroAddress, type Hex, type PublicClient } from "viem";
import type { DepositBalanceObserved } from "../server/src/chain/events.ts";
import { recordBalances, registerDepositAddress } from "../server/src/deposits/repository.ts";
import { depositBalanceReader } from "../server/src/deposits/sources.ts";
import { getHeader } from "../server/src/indexer/rpc.ts";
import { createTestDb } from "../test/support/db.ts";
import { startLocalChain } from "../scripts/lib/local-chain.ts";
import { artifact, freePort } from "../test/support/node-chain.ts";
import { percentile, progress, verdict, writeResult } from "./lib.ts";

const ADDRESSES = Number(process.env.BENCH_ADDRESSES ?? 10_000);
const BLOCKS = Number(process.env.BENCH_BLOCKS ?? 20);
const CHAIN_ID = 31337n;
const median = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );

const chain = await startLocalChain(await freePort());
const testDb = await createTestDb();
let exitCode = 0;
try {
  const transport = http(chain.url, { retryCount: 0, timeout: 60_000, batch: { batchSize: 100, wait: 0 } });
  const client = createPublicClient({ transport }) as PublicClient;
  const wallet = createWalletClient({ transport });
  const [owner, customer] = await wallet.getAddresses();
  if (!owner || !customer) throw new Error("no dev accounts");
  const { abi, bytecode } = artifact("mocks/Multicall3.sol/Multicall3.json");
  const hash = await wallet.deployContract({ abi, bytecode, account: owner, chain: null });
  const multicall3 = (await client.waitForTransactionReceipt({ hash, pollingInterval: 20 }))
    .contractAddress as Hex;

  progress(`registering ${ADDRESSES} open deposit addresses…`);
  const addresses: string[] = [];
  for (let i = 0; i < ADDRESSES; i++) {
    const address = `0x${randomBytes(20).toString("hex")}`;
    addresses.push(address);
    await registerDepositAddress(testDb.db, {
      chainId: CHAIN_ID,
      address,
      merchant: owner,
      orderRef: `0x${i.toString(16).padStart(64, "0")}`,
      token: zeroAddress,
      watchSeconds: 3600,
    });
  }

  let requests = 0;
  const reader = depositBalanceReader({
    db: testDb.db,
    client,
    chainId: CHAIN_ID,
    multicall3,
    onRequest: () => requests++,
  });
  const perBlockMs: number[] = [];
  const perBlockCalls: number[] = [];
  const references: number[] = [];
  let observed = 0;
  for (let b = 0; b < BLOCKS; b++) {
    // One payment per block to a watched address (a plain transfer, auto-mined into its own block).
    const sent = await wallet.sendTransaction({
      account: customer,
      to: addresses[b % addresses.length] as Hex,
      value: 1_000n + BigInt(b),
      chain: null,
    });
    const receipt = await client.waitForTransactionReceipt({ hash: sent, pollingInterval: 20 });
    const block = await getHeader(client, receipt.blockNumber);

    let started = performance.now();
    await client.request({ method: "eth_blockNumber" });
    references.push(performance.now() - started);

    requests = 0;
    started = performance.now();
    const events = (await reader.read([block], {
      chainId: CHAIN_ID,
      from: block.number,
      events: [],
    })) as DepositBalanceObserved[];
    perBlockMs.push(performance.now() - started);
    perBlockCalls.push(requests);
    observed += events.length;
    if (events.length !== 1 || events[0]?.txHash !== sent)
      throw new Error(`block ${block.number}: expected one change`);
    await testDb.db.transaction((tx) => recordBalances(tx, events));
  }

  const ms = median(perBlockMs);
  const p95 = percentile(
    [...perBlockMs].sort((a, b) => a - b),
    95,
  );
  const calls = median(perBlockCalls);
  const balanceCalls = Math.ceil(ADDRESSES / 2_000);
  const perThousand = (balanceCalls * 1_000) / ADDRESSES;
  const reference = median(references);
  const result = {
    addresses: ADDRESSES,
    blocks: BLOCKS,
    changesObserved: observed,
    rpcCallsPerBlock: calls,
    balanceReadCallsPerBlock: balanceCalls,
    balanceReadCallsPer1000Addresses: perThousand,
    msPerBlockMedian: Number(ms.toFixed(1)),
    msPerBlockP95: Number(p95.toFixed(1)),
    referenceEthBlockNumberMs: Number(reference.toFixed(2)),
  };
  console.log(`balance watch: ${ADDRESSES} open deposit addresses, ${BLOCKS} blocks (one transfer each)`);
  console.log(
    `  RPC calls per block: ${calls} (${balanceCalls} Multicall3 eth_call for the balances = ${perThousand} per 1,000 addresses, ` +
      `+ 1 block with transactions for the hash of the one change); goal ≤ 1 per 1,000: ${verdict(perThousand <= 1)}`,
  );
  console.log(
    `  ms per block: median ${ms.toFixed(1)}, p95 ${p95.toFixed(1)} (watch-list query + reads + tx lookup); goal < 250: ${verdict(ms < 250)}`,
  );
  console.log(`  reference: one eth_blockNumber round trip, median ${reference.toFixed(2)} ms`);
  console.log(`  written to ${writeResult("watch", result)}`);
  if (perThousand > 1 || ms >= 250) exitCode = 1;
} catch (error) {
  console.error(error);
  exitCode = 1;
} finally {
  await testDb.drop();
  await chain.stop();
}
process.exit(exitCode);
