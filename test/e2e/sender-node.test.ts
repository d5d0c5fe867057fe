import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import pino from "pino";
import {
  createPublicClient,
  createWalletClient,
  custom,
  http,
  TransactionNotFoundError,
  type Hex,
  type PublicClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { secretKey } from "../../server/src/config/sweeper.ts";
import { outgoingByIds, recentOutgoing } from "../../server/src/sender/repository.ts";
import { createSender, type Sender, type SendOutcome } from "../../server/src/sender/sender.ts";
import { createTestDb, type TestDb } from "../support/db.ts";
import { startNodeChain, startRpcFaultProxy } from "../support/node-chain.ts";

/** Hardhat's dev account #9: the gas-only key of the sweeper and the collector (as under `npm start`). */
const KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6";
const CHAIN = 31337n;
const CONFIRMATIONS = 2;
const STUCK_BLOCKS = 3;
/** A base fee no transaction of the sender's can pay: it stays in the pool. */
const HIGH_BASE_FEE = `0x${(1_000n * 10n ** 9n).toString(16)}`;

type NodeChain = Awaited<ReturnType<typeof startNodeChain>>;

/**
 * The one transaction sender on a `hardhat node` process, stepped by the test: each case makes the
 * node do what a real network does to a transaction (mine it, leave it stuck under a rising base
 * fee, drop it from the pool, see its nonce used by another transaction, reorg it out) and checks
 * what one `follow()` makes of it. These are the stuck, dropped, replaced and reorged-out tests of
 * the sweeper and the collector, run once against the sender they share. An RPC error (a 500, a 429)
 * is an error: never read as "absent", it never makes the sender broadcast again.
 */
describe("transaction sender on a hardhat node: recorded, followed, bumped, broadcast again", function () {
  this.timeout(180_000);
  let chain: NodeChain;
  let testDb: TestDb;
  let sender: Sender;
  const key = privateKeyToAccount(KEY);

  const make = (client: PublicClient) =>
    createSender({
      db: testDb.db,
      client,
      chainId: CHAIN,
      privateKey: secretKey(KEY),
      stuckBlocks: STUCK_BLOCKS,
      confirmations: CONFIRMATIONS,
      log: pino({ level: "silent" }),
    });
  /** A plain 1-wei transfer to the `other` account, through `s`. */
  const transfer = (s: Sender = sender) =>
    s.send({ purpose: "test", to: chain.other, data: "0x", value: 1n, gas: 21_000n });
  const sent = (outcome: SendOutcome) => {
    assert.equal(
      outcome.kind,
      "sent",
      JSON.stringify(outcome, (_, v: unknown) => (typeof v === "bigint" ? `${v}` : v)),
    );
    return outcome.transaction;
  };
  const row = async (id: bigint) => {
    const t = (await outgoingByIds(testDb.db, [id])).get(id);
    assert.ok(t, `outgoing transaction ${id} is recorded`);
    return t;
  };
  /** Whether the node knows the transaction (in its pool or mined). */
  const known = (hash: Hex) =>
    chain.client.getTransaction({ hash }).then(
      () => true,
      (error: unknown) => {
        if (error instanceof TransactionNotFoundError) return false;
        throw error;
      },
    );
  const noAutomine = async (body: () => Promise<void>) => {
    await chain.rpc("evm_setAutomine", [false]);
    try {
      await body();
    } finally {
      await chain.rpc("evm_setAutomine", [true]);
    }
  };
  /** Mines every transaction in the pool (automine off) and settles what the sender follows. */
  async function settle() {
    await chain.rpc("evm_mine");
    await chain.mine(CONFIRMATIONS);
    await sender.follow();
    assert.deepEqual(await sender.open("test"), [], "nothing left open");
  }

  before(async function () {
    chain = await startNodeChain();
    testDb = await createTestDb();
    sender = make(chain.client);
  });

  after(async function () {
    await testDb?.drop();
    await chain?.stop();
  });

  it("mined, then confirmed; recorded (with the caller's bookkeeping) before the node saw it", async function () {
    let seenInHook: { state: string; known: boolean } | undefined;
    const t = sent(
      await sender.send(
        { purpose: "test", to: chain.other, data: "0x", value: 1n, gas: 21_000n },
        {
          async recorded(tx, recorded) {
            const { rows } = await tx.query<{ state: string }>(
              "SELECT state FROM outgoing_transactions WHERE id = $1",
              [recorded.id],
            );
            seenInHook = { state: rows[0]?.state ?? "absent", known: await known(recorded.txHash) };
          },
        },
      ),
    );
    assert.deepEqual(seenInHook, { state: "sent", known: false }, "recorded first, broadcast after");
    assert.equal(t.state, "sent");
    assert.equal(t.sender, key.address.toLowerCase());
    assert.equal(t.nonce, BigInt(await chain.client.getTransactionCount({ address: key.address })) - 1n);
    const onChain = await chain.client.getTransaction({ hash: t.txHash });
    assert.equal(onChain.from.toLowerCase(), key.address.toLowerCase());
    assert.equal(onChain.nonce, Number(t.nonce));
    assert.equal(onChain.maxFeePerGas, t.maxFeePerGas);

    let report = await sender.follow();
    assert.deepEqual(
      report.events.map((e) => e.kind),
      ["mined"],
    );
    const mined = await row(t.id);
    assert.equal(mined.state, "mined");
    assert.equal(mined.minedBlock, onChain.blockNumber);
    await chain.mine(CONFIRMATIONS - 1);
    report = await sender.follow();
    assert.deepEqual(
      report.events.map((e) => e.kind),
      ["confirmed"],
    );
    assert.equal((await row(t.id)).state, "confirmed");
    assert.deepEqual((await sender.follow()).events, [], "a settled transaction is not followed");
  });

  it("the key's loop follows once per round, then steps every policy from where that left the transactions", async function () {
    // A client that counts the requests the sender makes through it.
    const calls: string[] = [];
    const counted = createPublicClient({
      transport: custom({
        request: (args: { method: string; params?: unknown }) => {
          calls.push(args.method);
          return chain.client.request(args as never);
        },
      }),
    }) as PublicClient;
    const looped = make(counted);
    const t = sent(await transfer(looped));
    // Mined, not yet confirmed: every follow looks it up.
    const follows = () => calls.filter((m) => m === "eth_getTransactionReceipt").length;
    const stop = new AbortController();
    const seen: { name: string; follows: number; state: string }[] = [];
    const policy = (name: string) => ({
      name,
      async step() {
        seen.push({ name, follows: follows(), state: (await row(t.id)).state });
        if (seen.length === 4) stop.abort();
      },
      tick: () => Promise.reject(new Error("the loop steps; it never ticks")),
    });
    await looped.run(stop.signal, [policy("first"), policy("second")]);
    const perRound = seen[0]?.follows ?? 0;
    assert.ok(perRound > 0, "the round's follow looked the transaction up");
    assert.deepEqual(
      seen.map((s) => [s.name, s.follows, s.state]),
      [
        ["first", perRound, "mined"],
        ["second", perRound, "mined"],
        ["first", 2 * perRound, "mined"],
        ["second", 2 * perRound, "mined"],
      ],
      "one follow per round, before the steps; none between them",
    );
    await chain.mine(CONFIRMATIONS);
    await sender.follow();
    assert.equal((await row(t.id)).state, "confirmed");
  });

  it("a caller's bookkeeping that fails records nothing and broadcasts nothing", async function () {
    const before = await recentOutgoing(testDb.db, CHAIN, 100);
    const nonce = await chain.client.getTransactionCount({ address: key.address, blockTag: "pending" });
    await assert.rejects(
      sender.send(
        { purpose: "test", to: chain.other, data: "0x", value: 1n, gas: 21_000n },
        {
          recorded: async () => {
            throw new Error("bookkeeping failed");
          },
        },
      ),
      /bookkeeping failed/,
    );
    assert.equal((await recentOutgoing(testDb.db, CHAIN, 100)).length, before.length);
    assert.equal(
      await chain.client.getTransactionCount({ address: key.address, blockTag: "pending" }),
      nonce,
    );
  });

  it("stuck: signed again under the same nonce with both fees raised by at least 12.5 %, then mined", async function () {
    await noAutomine(async () => {
      const t = sent(await transfer());
      // Blocks whose base fee its maxFeePerGas cannot pay: it stays in the pool.
      for (let i = 0; i < STUCK_BLOCKS - 1; i++) {
        await chain.rpc("hardhat_setNextBlockBaseFeePerGas", [HIGH_BASE_FEE]);
        await chain.rpc("evm_mine");
      }
      assert.deepEqual((await sender.follow()).events, [], "not yet SWEEP_STUCK_BLOCKS");
      await chain.rpc("hardhat_setNextBlockBaseFeePerGas", [HIGH_BASE_FEE]);
      await chain.rpc("evm_mine");
      const report = await sender.follow();
      assert.deepEqual(
        report.events.map((e) => e.kind),
        ["bumped"],
      );
      const bumped = await row(t.id);
      assert.equal(bumped.nonce, t.nonce);
      assert.equal(bumped.attempts, 2);
      assert.deepEqual(bumped.txHashes, [t.txHash, bumped.txHash]);
      assert.notEqual(bumped.txHash, t.txHash);
      assert.equal(bumped.state, "sent");
      assert.ok(bumped.maxPriorityFeePerGas * 8n >= t.maxPriorityFeePerGas * 9n, "tip +12.5 %");
      assert.ok(bumped.maxFeePerGas * 8n >= t.maxFeePerGas * 9n, "max fee +12.5 %");
      assert.equal(await known(t.txHash), false, "the node dropped the original for its replacement");
      assert.equal(await known(bumped.txHash), true);
      await chain.rpc("evm_mine");
      await sender.follow();
      const mined = await row(t.id);
      assert.equal(mined.state, "mined");
      assert.equal(mined.txHash, bumped.txHash, "the replacement was mined");
      const receipt = await chain.client.getTransactionReceipt({ hash: bumped.txHash });
      assert.equal(receipt.status, "success");
    });
    await settle();
  });

  it("dropped from the pool: the very same transaction broadcast again under its nonce", async function () {
    await noAutomine(async () => {
      const t = sent(await transfer());
      assert.equal(await chain.rpc<boolean>("hardhat_dropTransaction", [t.txHash]), true);
      assert.equal(await known(t.txHash), false);
      const report = await sender.follow();
      assert.deepEqual(
        report.events.map((e) => [e.kind, e.txHash]),
        [["rebroadcast", t.txHash]],
        "the same bytes: the same hash",
      );
      const again = await row(t.id);
      assert.equal(again.attempts, 2);
      assert.equal(again.nonce, t.nonce);
      assert.deepEqual(again.txHashes, [t.txHash]);
      assert.equal(await known(t.txHash), true, "in the pool again");
      await chain.rpc("evm_mine");
      await sender.follow();
      assert.equal((await row(t.id)).state, "mined");
      assert.equal((await chain.client.getTransactionReceipt({ hash: t.txHash })).status, "success");
    });
    await settle();
  });

  it("a dropped transaction keeps its nonce: the next one takes the nonce after it", async function () {
    await noAutomine(async () => {
      const first = sent(await transfer());
      assert.equal(await chain.rpc<boolean>("hardhat_dropTransaction", [first.txHash]), true);
      const second = sent(await transfer());
      assert.equal(second.nonce, first.nonce + 1n, "not the node's pending nonce (the dropped one's)");
      await sender.follow();
      await chain.rpc("evm_mine");
      await sender.follow();
      assert.equal((await row(first.id)).state, "mined");
      assert.equal((await row(second.id)).state, "mined");
    });
    await settle();
  });

  it("replaced: its nonce used by another transaction of the key", async function () {
    await noAutomine(async () => {
      const t = sent(await transfer());
      // The same key used elsewhere: another transaction with the same nonce and higher fees.
      const elsewhere = createWalletClient({ account: key, transport: http(chain.url) });
      const other = await elsewhere.sendTransaction({
        chain: null,
        to: chain.customer,
        value: 2n,
        nonce: Number(t.nonce),
        gas: 21_000n,
        maxFeePerGas: t.maxFeePerGas * 2n,
        maxPriorityFeePerGas: t.maxPriorityFeePerGas * 2n,
      });
      assert.equal(await known(t.txHash), false, "the node replaced it in its pool");
      await chain.rpc("evm_mine");
      assert.equal((await chain.client.getTransactionReceipt({ hash: other })).status, "success");
      const report = await sender.follow();
      assert.deepEqual(
        report.events.map((e) => e.kind),
        ["replaced"],
      );
      const replaced = await row(t.id);
      assert.equal(replaced.state, "replaced");
      assert.equal(replaced.error, "nonce used by another transaction");
      assert.equal(replaced.attempts, 1, "never broadcast again");
    });
    await settle();
  });

  it("reorged out: pending again, followed, broadcast again and mined on the new branch", async function () {
    const snapshot = await chain.snapshot();
    const t = sent(await transfer());
    await sender.follow();
    const mined = await row(t.id);
    assert.equal(mined.state, "mined");
    // The branch that held it is replaced by a longer one without it.
    await chain.revert(snapshot);
    await chain.mine(3);
    assert.equal(await known(t.txHash), false, "gone from the new branch and the pool");
    let report = await sender.follow();
    assert.deepEqual(
      report.events.map((e) => e.kind),
      ["reorged-out"],
    );
    const pending = await row(t.id);
    assert.equal(pending.state, "sent");
    assert.equal(pending.minedBlock, null);
    report = await sender.follow();
    assert.deepEqual(
      report.events.map((e) => [e.kind, e.txHash]),
      [["rebroadcast", t.txHash]],
    );
    report = await sender.follow();
    assert.deepEqual(
      report.events.map((e) => e.kind),
      ["mined"],
    );
    const again = await row(t.id);
    assert.equal(again.txHash, t.txHash);
    assert.notEqual(again.minedBlockHash, mined.minedBlockHash, "mined in another block");
    assert.equal(
      (await chain.client.getTransactionReceipt({ hash: t.txHash })).blockHash,
      again.minedBlockHash,
    );
    await settle();
  });

  describe("an RPC error is an error, never 'absent'", function () {
    let proxy: Awaited<ReturnType<typeof startRpcFaultProxy>>;
    let viaProxy: Sender;
    before(async function () {
      proxy = await startRpcFaultProxy(chain.url);
      const client = createPublicClient({ transport: http(proxy.url, { retryCount: 0 }) }) as PublicClient;
      viaProxy = make(client);
    });
    after(async function () {
      await proxy?.close();
    });

    for (const status of [500, 429]) {
      it(`a pending transaction whose receipt and pool lookups answer ${status} is not broadcast again`, async function () {
        await noAutomine(async () => {
          const t = sent(await transfer(viaProxy));
          proxy.state.fail = (method) =>
            method === "eth_getTransactionReceipt" || method === "eth_getTransactionByHash"
              ? status
              : undefined;
          try {
            // Past SWEEP_STUCK_BLOCKS too: nothing is signed again while the node cannot be read.
            await chain.mine(STUCK_BLOCKS);
            const report = await viaProxy.follow();
            assert.deepEqual(report.events, [], "neither dropped nor stuck");
            assert.deepEqual(
              report.errors.map((e) => e.id),
              [t.id],
            );
            assert.ok(proxy.state.failed.includes("eth_getTransactionReceipt"));
          } finally {
            proxy.state.fail = undefined;
          }
          const unchanged = await row(t.id);
          assert.equal(unchanged.attempts, 1, "no broadcast");
          assert.deepEqual(unchanged.txHashes, [t.txHash]);
          assert.equal(unchanged.state, "sent");
          assert.equal(
            await chain.client.getTransactionCount({ address: key.address, blockTag: "pending" }),
            Number(t.nonce) + 1,
          );
        });
        await settle();
      });
    }

    it("a mined transaction whose receipt lookup answers 500 is not read as reorged out", async function () {
      const t = sent(await transfer(viaProxy));
      await viaProxy.follow();
      assert.equal((await row(t.id)).state, "mined");
      proxy.state.fail = (method) => (method === "eth_getTransactionReceipt" ? 500 : undefined);
      try {
        const report = await viaProxy.follow();
        assert.deepEqual(report.events, []);
        assert.equal(report.errors.length, 1);
      } finally {
        proxy.state.fail = undefined;
      }
      const still = await row(t.id);
      assert.equal(still.state, "mined");
      assert.equal(
        still.minedBlockHash,
        (await chain.client.getTransactionReceipt({ hash: t.txHash })).blockHash,
      );
      await settle();
    });

    it("a broadcast that meets a 500 is not read as refused: it stays recorded and is broadcast again", async function () {
      proxy.state.fail = (method) => (method === "eth_sendRawTransaction" ? 500 : undefined);
      let outcome: SendOutcome;
      try {
        outcome = await transfer(viaProxy);
      } finally {
        proxy.state.fail = undefined;
      }
      assert.equal(outcome.kind, "sent");
      assert.ok(outcome.kind === "sent" && outcome.broadcastError, "the RPC error is reported");
      const t = outcome.transaction;
      assert.equal((await row(t.id)).state, "sent");
      assert.equal(await known(t.txHash), false, "the node never got it");
      const report = await viaProxy.follow();
      assert.deepEqual(
        report.events.map((e) => [e.kind, e.txHash]),
        [["rebroadcast", t.txHash]],
      );
      await viaProxy.follow();
      assert.equal((await row(t.id)).state, "mined");
      await settle();
    });
  });

  it("a broadcast the node refuses is recorded as failed, with the caller's bookkeeping undone in the same transaction", async function () {
    const balance = await chain.client.getBalance({ address: key.address });
    const refusedWith: string[] = [];
    const outcome = await sender.send(
      { purpose: "test", to: chain.other, data: "0x", value: balance * 2n, gas: 21_000n },
      {
        async refused(tx, t, error) {
          const { rows } = await tx.query<{ state: string }>(
            "SELECT state FROM outgoing_transactions WHERE id = $1",
            [t.id],
          );
          refusedWith.push(`${rows[0]?.state}: ${error}`);
        },
      },
    );
    assert.equal(outcome.kind, "refused");
    if (outcome.kind !== "refused") return;
    assert.equal(refusedWith.length, 1);
    assert.match(refusedWith[0] ?? "", /^failed: /);
    assert.equal((await row(outcome.transaction.id)).state, "failed");
    assert.deepEqual(await sender.open("test"), [], "nothing pending");
    // Its nonce is free again.
    const next = sent(await transfer());
    assert.equal(next.nonce, outcome.transaction.nonce);
    await settle();
  });
});
