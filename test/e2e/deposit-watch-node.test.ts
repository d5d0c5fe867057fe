import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "mocha";
import { createPublicClient, encodeFunctionData, http, zeroAddress, type PublicClient } from "viem";
import type { ChainEvent, DepositBalanceObserved } from "../../server/src/chain/events.ts";
import {
  recordBalances,
  registerDepositAddress,
  registerDepositAddresses,
} from "../../server/src/deposits/repository.ts";
import {
  BALANCE_READER,
  depositBalanceReader,
  type BalanceReaderOptions,
} from "../../server/src/deposits/sources.ts";
import { getHeader } from "../../server/src/indexer/rpc.ts";
import type { BlockRef } from "../../server/src/indexer/types.ts";
import { createTestDb, type TestDb } from "../support/db.ts";
import { artifact, startNodeChain, startTraceProxy } from "../support/node-chain.ts";

const CHAIN_ID = 31337n;
const FOREVER = 100 * 365 * 86_400;
const random = () => `0x${randomBytes(20).toString("hex")}`;

/**
 * The ETH watch of deposit addresses at the head (deposits/sources.ts, deposits/watch.ts) on a real
 * `hardhat node` and database: a direct transfer is found in its own block however many addresses
 * are open; an internal transfer (a contract that forwards ETH inside its own call, as a Safe
 * does) is found by call traces in its own block, or without traces by the rotating balance
 * check within a full cycle, and dated to the block it landed in either way; an address open for
 * good costs no more than its slice.
 */
describe("deposit watch at scale (hardhat node)", function () {
  let chain: Awaited<ReturnType<typeof startNodeChain>>;
  let testDb: TestDb;
  let multicall3: `0x${string}`;
  let forwarder: `0x${string}`;
  let merchant: string;
  let orders = 0;

  before(async function () {
    chain = await startNodeChain();
    multicall3 = await chain.deploy("mocks/Multicall3.sol/Multicall3.json");
    forwarder = await chain.deploy("mocks/EthForwarder.sol/EthForwarder.json");
    merchant = chain.merchant;
    testDb = await createTestDb();
  });

  after(async function () {
    await testDb?.drop();
    await chain?.stop();
  });

  const open = async (count: number): Promise<string[]> => {
    const list = Array.from({ length: count }, () => ({
      chainId: CHAIN_ID,
      address: random(),
      merchant,
      orderRef: `0x${(++orders).toString(16).padStart(64, "0")}`,
      token: zeroAddress,
      watchSeconds: FOREVER,
    }));
    for (let i = 0; i < list.length; i += 10_000)
      await registerDepositAddresses(testDb.db, list.slice(i, i + 10_000));
    return list.map((d) => d.address);
  };
  const head = async (client: PublicClient = chain.client): Promise<BlockRef> =>
    getHeader(client, await client.getBlockNumber({ cacheTime: 0 }));
  const internal = (to: string, value: bigint) =>
    chain.wallet.sendTransaction({
      account: chain.customer,
      to: forwarder,
      value,
      data: encodeFunctionData({
        abi: artifact("mocks/EthForwarder.sol/EthForwarder.json").abi,
        functionName: "forward",
        args: [to],
      }),
      chain: null,
    });
  /** Reads `block` as the indexer does at the head, and stores what it found. */
  async function step(reader: ReturnType<typeof depositBalanceReader>, block: BlockRef) {
    const events = (await reader.read([block], {
      chainId: CHAIN_ID,
      from: block.number,
      events: [] as ChainEvent[],
      historical: false,
    })) as DepositBalanceObserved[];
    await testDb.db.transaction((tx) => recordBalances(tx, events));
    return events;
  }
  const readerOn = (options: Partial<BalanceReaderOptions> = {}) =>
    depositBalanceReader({ db: testDb.db, client: chain.client, chainId: CHAIN_ID, multicall3, ...options });

  it("rotation: an internal transfer is found within a full cycle, dated to its own block", async function () {
    const addresses = await open(1_000);
    let now = 0;
    const reader = readerOn({ fullCycleSeconds: 10, minSliceAddresses: 1, clock: () => now });
    await step(reader, await head());
    const to = addresses[777] as string;
    await internal(to, 4_321n);
    const landed = await head();
    const found: DepositBalanceObserved[] = [];
    let blocks = 0;
    // One block per second: a full pass of the open addresses takes at most 10 blocks.
    for (let block = landed; found.length === 0; blocks++) {
      assert.ok(blocks <= 11, `not found within a full cycle (${blocks} blocks)`);
      if (blocks > 0) {
        await chain.mine(1);
        block = await head();
      }
      now += 1_000;
      found.push(...(await step(reader, block)).filter((e) => e.address === to));
    }
    assert.equal(found.length, 1);
    assert.equal(found[0]?.blockNumber, landed.number, "dated to the block it landed in");
    assert.equal(found[0]?.balance, 4_321n);
    assert.equal(found[0]?.txHash, null, "an internal transfer has no transaction of its own");
  });

  it("traces: an internal transfer is found in its own block (debug_traceBlockByHash, callTracer)", async function () {
    const proxy = await startTraceProxy(chain.url);
    try {
      const client = createPublicClient({ transport: http(proxy.url, { retryCount: 0 }) }) as PublicClient;
      const methods: string[] = [];
      const reader = depositBalanceReader({
        db: testDb.db,
        client,
        chainId: CHAIN_ID,
        multicall3,
        minSliceAddresses: 1,
        onRequest: (m) => methods.push(m),
      });
      await step(reader, await head(client));
      assert.equal(reader.status().mode, "block_traces");
      const [to] = await open(1);
      await internal(to as string, 999n);
      const block = await head(client);
      methods.length = 0;
      const events = await step(reader, block);
      assert.deepEqual(
        events.map((e) => [e.address, e.blockNumber, e.balance, e.txHash]),
        [[to, block.number, 999n, null]],
      );
      assert.ok(methods.includes("debug_traceBlockByHash"));
    } finally {
      await proxy.close();
    }
  });

  it("traces: a step of several blocks dates each credit to its block with no read before the step", async function () {
    const proxy = await startTraceProxy(chain.url);
    try {
      const client = createPublicClient({ transport: http(proxy.url, { retryCount: 0 }) }) as PublicClient;
      const calls: { method: string; at: unknown }[] = [];
      const reader = depositBalanceReader({
        db: testDb.db,
        client,
        chainId: CHAIN_ID,
        multicall3,
        onRequest: (method, params) => calls.push({ method, at: params[1] }),
      });
      const start = await head(client);
      await step(reader, start);
      const [to] = await open(1);
      const direct = await chain.wallet.sendTransaction({
        account: chain.customer,
        to: to as `0x${string}`,
        value: 100n,
        chain: null,
      });
      await chain.mine(1);
      await internal(to as string, 20n);
      const last = await head(client);
      const blocks = await Promise.all(
        Array.from({ length: Number(last.number - start.number) }, (_, i) =>
          getHeader(client, start.number + 1n + BigInt(i)),
        ),
      );
      calls.length = 0;
      const events = (await reader.read(blocks, {
        chainId: CHAIN_ID,
        from: blocks[0]?.number as bigint,
        events: [],
        historical: false,
      })) as DepositBalanceObserved[];
      assert.deepEqual(
        events.map((e) => [e.blockNumber, e.balance, e.txHash]),
        [
          [start.number + 1n, 100n, direct],
          [last.number, 120n, null],
        ],
      );
      // Each block's transactions and traces, and one balance read at the step's last block.
      const reads = calls.filter((c) => c.method === "eth_call");
      assert.equal(reads.length, 1, JSON.stringify(calls));
    } finally {
      await proxy.close();
    }
  });

  it("a node without eth_call state overrides: the balances through Multicall3, the same findings", async function () {
    const proxy = await startTraceProxy(chain.url, { stateOverrides: false });
    try {
      const client = createPublicClient({ transport: http(proxy.url, { retryCount: 0 }) }) as PublicClient;
      const calls: { to: string | undefined; overrides: boolean }[] = [];
      let refused = 0;
      const reader = depositBalanceReader({
        db: testDb.db,
        client,
        chainId: CHAIN_ID,
        multicall3,
        mode: "block_traces",
        onOverridesRefused: () => refused++,
        onRequest: (method, params) => {
          if (method === "eth_call")
            calls.push({ to: (params[0] as { to?: string }).to, overrides: params.length > 2 });
        },
      });
      const [a, b] = await open(2);
      for (const [to, value] of [
        [a, 5n],
        [b, 6n],
      ] as const) {
        const hash = await chain.wallet.sendTransaction({
          account: chain.customer,
          to: to as `0x${string}`,
          value,
          chain: null,
        });
        const block = await head(client);
        const events = await step(reader, block);
        assert.deepEqual(
          events.map((e) => [e.address, e.blockNumber, e.balance, e.txHash]),
          [[to, block.number, value, hash]],
        );
      }
      assert.equal(refused, 1, "the refusal is noticed once");
      // The first read tries the override and falls back; every later one goes to Multicall3 at once.
      assert.deepEqual(calls, [
        { to: BALANCE_READER, overrides: true },
        { to: multicall3, overrides: false },
        { to: multicall3, overrides: false },
      ]);
    } finally {
      await proxy.close();
    }
  });

  it("an address open for good adds no per-block cost beyond its slice", async function () {
    // A fresh database: only these addresses are open. Every balance read at the block is one
    // eth_call of the balance reader (its calldata: the addresses packed), counted exactly.
    const own = await createTestDb();
    try {
      const list = Array.from({ length: 200 }, (_, i) => ({
        chainId: CHAIN_ID,
        address: random(),
        merchant,
        orderRef: `0x${(1_000_000 + i).toString(16).padStart(64, "0")}`,
        token: zeroAddress,
        watchSeconds: FOREVER,
      }));
      await registerDepositAddresses(own.db, list);
      // And one near its order's expiry: read every block.
      const hot = random();
      await registerDepositAddress(own.db, {
        chainId: CHAIN_ID,
        address: hot,
        merchant,
        orderRef: `0x${(2_000_000).toString(16).padStart(64, "0")}`,
        token: zeroAddress,
        watchSeconds: 24 * 3600 + 60,
      });
      let now = 0;
      const read: string[][] = [];
      const reader = depositBalanceReader({
        db: own.db,
        client: chain.client,
        chainId: CHAIN_ID,
        fullCycleSeconds: 10,
        minSliceAddresses: 1,
        clock: () => now,
        onRequest: (m, params) => {
          const call = params[0] as { to?: string; data?: string };
          if (m === "eth_call" && call.to === BALANCE_READER)
            for (let at = 2; at < (call.data ?? "").length; at += 40)
              read.at(-1)?.push(`0x${call.data?.slice(at, at + 40)}`);
          if (m === "eth_getBalance") read.at(-1)?.push(String(params[0]));
        },
      });
      for (let i = 0; i < 12; i++) {
        await chain.mine(1);
        now += 1_000;
        read.push([]);
        await reader.read([await head()], {
          chainId: CHAIN_ID,
          from: (await head()).number,
          events: [],
          historical: false,
        });
      }
      // 201 open, a tenth of them per second of the 10 s cycle: ≤ 21 per block, plus the one near expiry.
      for (const [i, addresses] of read.entries()) {
        if (i === 0) continue; // the first slice (no time has passed yet: the smallest one)
        assert.ok(addresses.length <= 22, `block ${i}: ${addresses.length} balances read`);
        assert.ok(addresses.includes(hot), `block ${i}: the address near expiry is read every block`);
      }
      const covered = new Set(read.slice(0, 11).flat());
      for (const d of list) assert.ok(covered.has(d.address), "every open address is read within a cycle");
    } finally {
      await own.drop();
    }
  });
  it("a direct transfer to one of 100,000 open addresses is seen in its own block, in a few calls", async function () {
    this.timeout(300_000);
    const addresses = await open(100_000);
    const methods: string[] = [];
    const reader = readerOn({ onRequest: (m) => methods.push(m) });
    await step(reader, await head()); // the first block at the head: the mode is asked of the node
    assert.equal(reader.status().mode, "rotation", "hardhat offers no block traces");

    const to = addresses[54_321] as `0x${string}`;
    const hash = await chain.wallet.sendTransaction({
      account: chain.customer,
      to,
      value: 777n,
      chain: null,
    });
    const block = await head();
    methods.length = 0;
    const events = await step(reader, block);
    assert.deepEqual(
      events.map((e) => [e.address, e.blockNumber, e.balance, e.txHash]),
      [[to, block.number, 777n, hash]],
    );
    // The block with its transactions and the balances at it (recipient and slice: one eth_call):
    // not the 50 calls of reading every open address. The balance rose by exactly the block's
    // transfer, so nothing is read before the block to date it.
    assert.deepEqual(methods, ["eth_getBlockByHash", "eth_call"]);
  });
});
