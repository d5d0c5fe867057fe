import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import pino from "pino";
import { createWalletClient, encodeFunctionData, http, keccak256, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { secretKey } from "../../server/src/config/sweeper.ts";
import { migrate } from "../../server/src/db/migrate.ts";
import { depositsAbi } from "../../server/src/deposits/abi.ts";
import { staticPriceSource } from "../../server/src/pricing/index.ts";
import { recentOutgoing } from "../../server/src/sender/repository.ts";
import { createSender } from "../../server/src/sender/sender.ts";
import { recentSweeps } from "../../server/src/deposits/sweeps.ts";
import { createSweeper } from "../../server/src/deposits/sweeper.ts";
import { keeperState } from "../../server/src/token-subscriptions/repository.ts";
import { createTestDb, type TestDb } from "../support/db.ts";
import { startNodeChain } from "../support/node-chain.ts";

/** Hardhat's dev account #9: the gas-only key of the sweeper and the collector. */
const KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6";
const CHAIN = 31337n;
const ETH = "0x0000000000000000000000000000000000000000";

/**
 * A server upgraded to the one sender (migration 130) while a sweep and a collect are in flight:
 * the sweeps and the collect move into outgoing_transactions, and the sender follows them on. The
 * sweep here was signed and recorded but never reached the node (a crash, or a drop): the sweeper
 * fills in the calldata it was signed with, and the sender broadcasts that very transaction.
 */
describe("upgrading to the one sender with transactions in flight (migration 130)", function () {
  this.timeout(120_000);
  let chain: Awaited<ReturnType<typeof startNodeChain>>;
  let testDb: TestDb;
  const key = privateKeyToAccount(KEY);

  before(async function () {
    chain = await startNodeChain();
    testDb = await createTestDb({ migrateTo: "105" });
  });
  after(async function () {
    await testDb?.drop();
    await chain?.stop();
  });

  it("moves every sweep and the collect in flight; the open ones are followed on, none lost", async function () {
    const wallet = createWalletClient({ account: key, transport: http(chain.url) });
    // The collect in flight: broadcast and mined (nonce 0) before the upgrade, its receipt not yet seen.
    const collect = await wallet.sendTransaction({ chain: null, to: chain.other, value: 1n });
    await chain.client.waitForTransactionReceipt({ hash: collect, pollingInterval: 50 });
    // The open sweep (nonce 1): signed and recorded, never broadcast.
    const deposit = {
      address: "0x00000000000000000000000000000000000000d1",
      merchant: chain.merchant.toLowerCase(),
      orderRef: `0x${"ab".repeat(32)}`,
      token: ETH,
      eth: "1000",
      tokenAmount: "0",
    };
    const data = encodeFunctionData({
      abi: depositsAbi,
      functionName: "sweepDeposits",
      args: [[{ merchant: chain.merchant, orderId: deposit.orderRef as Hex, token: ETH }]],
    });
    const fees = { maxFeePerGas: 50_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n };
    const signed = await key.signTransaction({
      chainId: Number(CHAIN),
      type: "eip1559",
      to: chain.contract,
      data,
      value: 0n,
      nonce: 1,
      gas: 300_000n,
      ...fees,
    });
    const sweepHash = keccak256(signed);
    const head = await chain.client.getBlockNumber();
    const sweepRow = (nonce: number, hash: string, state: string, minedBlock: bigint | null) =>
      testDb.db.query(
        `INSERT INTO sweeps (chain_id, sender, nonce, tx_hash, tx_hashes, deposits, addresses, value, gas_limit,
           max_fee_per_gas, max_priority_fee_per_gas, state, attempts, sent_block, mined_block)
         VALUES ($1, $2, $3, $4, ARRAY[$4::text], $5::jsonb, ARRAY[$6::text], 1000, 300000, $7, $8, $9, 1, $10, $11)`,
        [
          CHAIN,
          key.address.toLowerCase(),
          nonce,
          hash,
          JSON.stringify([deposit]),
          deposit.address,
          fees.maxFeePerGas.toString(),
          fees.maxPriorityFeePerGas.toString(),
          state,
          head,
          minedBlock,
        ],
      );
    await sweepRow(1, sweepHash, "sent", null);
    await sweepRow(7, `0x${"07".repeat(32)}`, "failed", null); // refused at broadcast
    await sweepRow(8, `0x${"08".repeat(32)}`, "failed", head); // reverted on chain
    await testDb.db.query(
      `INSERT INTO token_subscription_keeper (chain_id, subscription_id, tx_hash, tx_hashes, nonce, gas_limit,
         max_fee_per_gas, max_priority_fee_per_gas, sent_block, failures)
       VALUES ($1, 42, $2, ARRAY[$2::text], 0, 100000, 1, 1, $3, 0)`,
      [CHAIN, collect, head],
    );

    const result = await migrate(testDb.db);
    assert.ok(
      result.applied.some((f) => f.endsWith("130.do.outgoing-transactions.sql")),
      result.applied.join(),
    );

    const moved = await recentOutgoing(testDb.db, CHAIN, 10);
    assert.deepEqual(
      moved.map((t) => [t.purpose, t.nonce, t.state, t.txHash]).sort((a, b) => Number(a[1]) - Number(b[1])),
      [
        ["collect", 0n, "sent", collect],
        ["sweep", 1n, "sent", sweepHash],
        ["sweep", 7n, "failed", `0x${"07".repeat(32)}`],
        ["sweep", 8n, "reverted", `0x${"08".repeat(32)}`],
      ],
    );
    const sweeps = await recentSweeps(testDb.db, CHAIN, 10);
    assert.deepEqual(
      sweeps.map((s) => [s.nonce, s.state, s.callMissing]),
      [
        [8n, "reverted", true],
        [1n, "sent", true],
      ],
      "the sweep refused at broadcast is gone; the others point at their transactions",
    );
    assert.deepEqual(
      sweeps[1]?.deposits.map((d) => [d.address, d.eth]),
      [[deposit.address, 1000n]],
    );
    const keeper = await keeperState(testDb.db, CHAIN, 42n);
    assert.equal(keeper?.txHash, collect);
    assert.equal(keeper?.nonce, 0n);

    // The new server: one sender for the key, the sweeper on it.
    const sender = createSender({
      db: testDb.db,
      client: chain.client,
      chainId: CHAIN,
      privateKey: secretKey(KEY),
      stuckBlocks: 3,
      confirmations: 1,
      log: pino({ level: "silent" }),
    });
    const sweeper = createSweeper({
      db: testDb.db,
      client: chain.client,
      chainId: CHAIN,
      contract: chain.contract,
      confirmations: 1,
      config: {
        privateKey: secretKey(KEY),
        intervalBlocks: 1,
        maxGasSharePpm: 1_000_000n,
        maxBatch: 50,
        stuckBlocks: 3,
      },
      tokens: [],
      prices: staticPriceSource("1"),
      indexedBlock: () => head,
      log: pino({ level: "silent" }),
      sender,
    });
    // The sweep is in flight: the sweeper sends nothing new, and fills in what it was signed with.
    assert.equal((await sweeper.tick()).kind, "in-flight");
    const collectRow = (await recentOutgoing(testDb.db, CHAIN, 10, "collect"))[0];
    assert.equal(collectRow?.sender, key.address.toLowerCase(), "the chain's key claims the collect");
    assert.equal(collectRow?.state, "confirmed", "followed to its receipt");
    // Not known to the node: broadcast again, the very transaction that was signed before the upgrade.
    const report = await sender.follow();
    assert.deepEqual(
      report.events.map((e) => [e.kind, e.txHash]),
      [["rebroadcast", sweepHash]],
    );
    const receipt = await chain.client.getTransactionReceipt({ hash: sweepHash });
    assert.equal(receipt.from.toLowerCase(), key.address.toLowerCase());
    await sender.follow();
    const [after] = await sender.transactions([sweeps[1]?.outgoingId as bigint]).then((m) => [...m.values()]);
    assert.notEqual(after?.state, "sent", "followed to its receipt");
    assert.equal(after?.minedBlock, receipt.blockNumber);
  });
});
