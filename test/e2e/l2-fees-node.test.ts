import assert from "node:assert/strict";
import { after, before, describe, it } from "mocha";
import pino from "pino";
import { parseAbi, parseEther, toHex, type Hex } from "viem";
import { orderCallbacks } from "../../server/src/callbacks/order-callbacks.ts";
import { ConfigProblems, type Config, type Env } from "../../server/src/config/index.ts";
import { secretKey, type SweeperConfig } from "../../server/src/config/sweeper.ts";
import { createSweeper, type Sweeper } from "../../server/src/deposits/sweeper.ts";
import { txtNotifier } from "../../server/src/notify/order-status.ts";
import { createOrderEvents } from "../../server/src/orders/events.ts";
import { staticPriceSource } from "../../server/src/pricing/index.ts";
import type { ChainIndexer } from "../../server/src/runtime/pipeline.ts";
import {
  ARBITRUM_NODE_INTERFACE,
  arbitrumL1DataFee,
  l1DataFeeFor,
  OP_GAS_PRICE_ORACLE,
  opL1DataFee,
} from "../../server/src/sender/l1-fee.ts";
import { createSender, type Sender } from "../../server/src/sender/sender.ts";
import type { System } from "../../server/src/system.ts";
import { createTestDb, type TestDb } from "../support/db.ts";
import { catchUp } from "../support/indexing.ts";
import { artifact, startNodeChain, type NodeChain } from "../support/node-chain.ts";
import { startNodeSystem, type NodeSystem } from "../support/node-system.ts";

/** Hardhat's dev account #9: the sweeper's gas-only key here. */
const SWEEPER_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6";
const CONFIRMATIONS = 2;
/** The OP stack's L1Block predeploy: the L1 fee parameters the GasPriceOracle and the chain read. */
const L1_BLOCK = "0x4200000000000000000000000000000000000015";
const oracleAbi = parseAbi([
  "function baseFeeScalar() view returns (uint32)",
  "function blobBaseFeeScalar() view returns (uint32)",
  "function l1BaseFee() view returns (uint256)",
]);
const slot = (n: number) => toHex(n, { size: 32 });

/**
 * Sets the L1 fee parameters of the simulated OP chain in L1Block's storage (Ecotone layout: slot 1
 * the L1 base fee; slot 3 sequenceNumber | blobBaseFeeScalar << 64 | baseFeeScalar << 96; slot 7
 * the blob base fee), as the sequencer's L1-info deposit does on a real chain.
 */
async function setL1Fees(
  chain: NodeChain,
  fees: { l1BaseFee: bigint; blobBaseFee: bigint; baseFeeScalar: bigint; blobBaseFeeScalar: bigint },
) {
  const slot3 = BigInt((await chain.client.getStorageAt({ address: L1_BLOCK, slot: slot(3) })) ?? "0x0");
  const sequence = slot3 & ((1n << 64n) - 1n);
  const packed = sequence | (fees.blobBaseFeeScalar << 64n) | (fees.baseFeeScalar << 96n);
  await chain.rpc("hardhat_setStorageAt", [L1_BLOCK, slot(3), toHex(packed, { size: 32 })]);
  await chain.rpc("hardhat_setStorageAt", [L1_BLOCK, slot(1), toHex(fees.l1BaseFee, { size: 32 })]);
  await chain.rpc("hardhat_setStorageAt", [L1_BLOCK, slot(7), toHex(fees.blobBaseFee, { size: 32 })]);
  const read = (functionName: "baseFeeScalar" | "blobBaseFeeScalar" | "l1BaseFee") =>
    chain.client.readContract({ address: OP_GAS_PRICE_ORACLE, abi: oracleAbi, functionName });
  assert.equal(BigInt(await read("baseFeeScalar")), fees.baseFeeScalar);
  assert.equal(BigInt(await read("blobBaseFeeScalar")), fees.blobBaseFeeScalar);
  assert.equal(await read("l1BaseFee"), fees.l1BaseFee);
}

/** The receipt's OP-stack fields (viem's default formatter drops them). */
async function l1FeeOf(chain: NodeChain, hash: Hex): Promise<bigint> {
  const receipt = await chain.rpc<{ l1Fee?: Hex }>("eth_getTransactionReceipt", [hash]);
  assert.ok(receipt.l1Fee !== undefined, "an OP-stack receipt carries l1Fee");
  return BigInt(receipt.l1Fee);
}

const json = (value: unknown) => JSON.stringify(value, (_, v) => (typeof v === "bigint" ? `${v}` : v));

/**
 * The gas-share rule on Hardhat's OP-stack simulation (`hardhat node --network opLocal`,
 * chainType "op"): every transaction pays an L1 data fee on top of its gas, which the receipt
 * shows as l1Fee and the GasPriceOracle predeploy estimates. The sweeper, through the sender,
 * counts it.
 */
describe("L1 data fee on a simulated OP-stack chain (hardhat node --network opLocal)", function () {
  this.timeout(240_000);
  let node: NodeSystem;
  let chain: NodeChain;
  let testDb: TestDb;
  let system: System;
  let config: Config;
  let indexer: ChainIndexer;
  let sender: Sender;
  const policy: SweeperConfig = {
    privateKey: secretKey(SWEEPER_KEY),
    intervalBlocks: 1,
    maxGasSharePpm: 50_000n, // 5 %
    maxBatch: 50,
    stuckBlocks: 3,
  };
  let sweeper: Sweeper;

  async function createOrder() {
    const res = await system.app.inject({
      method: "POST",
      url: "/order",
      payload: { amount: "2.00", address: chain.merchant, callback: "http://127.0.0.1:9/cb" },
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { id: number; address: Hex; expected_amount: string; status: string };
  }
  async function pay(to: Hex, value: bigint) {
    const hash = await chain.wallet.sendTransaction({ account: chain.customer, to, value, chain: null });
    const receipt = await chain.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    assert.equal(receipt.status, "success");
    return receipt;
  }
  async function step() {
    await catchUp(indexer);
    return sweeper.tick();
  }

  before(async function () {
    const events = createOrderEvents([orderCallbacks("http://pos.test"), txtNotifier()]);
    node = await startNodeSystem({
      chain: { network: "opLocal" },
      modules: ["multicall3"],
      // ETH at $1: a $2.00 order is 2 ETH; 5 % of it (0.1 ETH) pays any sweep's L2 gas here.
      env: {
        CONFIRMATIONS: String(CONFIRMATIONS),
        ETH_USD_PRICE: "1",
        L1_DATA_FEE: "op",
      },
      pipeline: { context: { confirmations: CONFIRMATIONS, orderEvents: events } },
    });
    ({ chain, testDb, system, config } = node);
    indexer = node.indexer!;
    assert.equal(config.chains[0]?.l1DataFee, "op");
    // The sender as the runtime makes it: the chain's L1 data fee from L1_DATA_FEE.
    const l1DataFee = l1DataFeeFor(config.chains[0]!.l1DataFee, chain.client);
    assert.equal(l1DataFee?.model, "op");
    sender = createSender({
      db: testDb.db,
      client: chain.client,
      chainId: 31337n,
      privateKey: policy.privateKey,
      stuckBlocks: policy.stuckBlocks,
      confirmations: CONFIRMATIONS,
      settledBlock: () => indexer.status().indexedBlock,
      log: pino({ level: "silent" }),
      ...(l1DataFee ? { l1DataFee } : {}),
    });
    sweeper = createSweeper({
      db: testDb.db,
      client: chain.client,
      chainId: 31337n,
      contract: chain.contract,
      confirmations: CONFIRMATIONS,
      config: policy,
      tokens: [],
      prices: staticPriceSource("1"),
      indexedBlock: () => indexer.status().indexedBlock,
      log: pino({ level: "silent" }),
      sender,
    });
  });

  after(async function () {
    await node?.close();
  });

  it("the simulated chain charges an L1 data fee: the receipt's l1Fee is what GasPriceOracle.getL1Fee said", async function () {
    // Base's Ecotone scalars at a 10 gwei L1.
    await setL1Fees(chain, {
      l1BaseFee: 10_000_000_000n,
      blobBaseFee: 1n,
      baseFeeScalar: 2_269n,
      blobBaseFeeScalar: 1_055_762n,
    });
    const data = `0x${"ab".repeat(400)}` as Hex;
    const fees = await sender.fees();
    const nonce = await chain.client.getTransactionCount({ address: chain.customer, blockTag: "pending" });
    const gas = 200_000n;
    const estimate = await opL1DataFee(chain.client).estimate({
      chainId: 31337n,
      nonce,
      to: chain.other,
      data,
      gas,
      maxFeePerGas: fees.maxFee,
      maxPriorityFeePerGas: fees.priority,
    });
    assert.ok(estimate.wei > 0n, "a non-zero L1 fee at these parameters");
    assert.equal(estimate.gasInEstimate, 0n, "eth_estimateGas on an OP stack holds no L1 part");
    const before = await chain.client.getBalance({ address: chain.customer });
    const hash = await chain.wallet.sendTransaction({
      account: chain.customer,
      to: chain.other,
      data,
      gas,
      nonce,
      maxFeePerGas: fees.maxFee,
      maxPriorityFeePerGas: fees.priority,
      chain: null,
    });
    const receipt = await chain.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    const charged = await l1FeeOf(chain, hash);
    // The oracle prices the unsigned transaction plus 68 bytes for the signature; the chain the
    // signed one, FastLZ-compressed: the two agree within a few percent.
    const gap = charged > estimate.wei ? charged - estimate.wei : estimate.wei - charged;
    assert.ok(gap * 20n <= charged, `estimated ${estimate.wei}, charged ${charged}`);
    const spent = before - (await chain.client.getBalance({ address: chain.customer }));
    assert.equal(
      spent,
      receipt.gasUsed * receipt.effectiveGasPrice + charged,
      "the balance pays gas and l1Fee",
    );
  });

  it("a sweep whose gas fits SWEEP_MAX_GAS_SHARE but whose L1 data fee does not is not sent", async function () {
    // An expensive L1 (1,000,000 gwei, scalar 1): the L1 data fee of a sweep is several ETH.
    await setL1Fees(chain, {
      l1BaseFee: 1_000_000_000_000_000n,
      blobBaseFee: 1n,
      baseFeeScalar: 1_000_000n,
      blobBaseFeeScalar: 0n,
    });
    const order = await createOrder();
    await pay(order.address, parseEther(order.expected_amount));
    await chain.mine(CONFIRMATIONS);
    const out = await step();
    assert.equal(out.kind, "uneconomic", json(out));
    if (out.kind !== "uneconomic") return;
    assert.equal(out.valueWei, parseEther("2"));
    // The cost counted is gas × fee and the L1 data fee: above 5 % of 2 ETH ...
    assert.ok(out.costWei * 1_000_000n > out.valueWei * policy.maxGasSharePpm, json(out));
    // ... while gas × fee alone is far below it: without the L1 fee the rule would have sent it.
    const fees = await sender.fees();
    const l2Only = 200_000n * (fees.baseFee + fees.priority);
    assert.ok(l2Only * 1_000_000n < out.valueWei * policy.maxGasSharePpm, `L2 gas ${l2Only} wei`);
    assert.ok(out.costWei - l2Only > parseEther("0.1"), "the L1 data fee is what exceeds the share");
  });

  it("once the L1 data fee is back down, the sweep is sent and its receipt's l1Fee was counted", async function () {
    await setL1Fees(chain, {
      l1BaseFee: 10_000_000_000n,
      blobBaseFee: 1n,
      baseFeeScalar: 2_269n,
      blobBaseFeeScalar: 1_055_762n,
    });
    const out = await step();
    assert.equal(out.kind, "sent", json(out));
    if (out.kind !== "sent") return;
    const charged = await l1FeeOf(chain, out.txHash);
    assert.ok(charged > 0n, "the sweep paid an L1 data fee");
    // What the sender counts for the same call now (the next nonce) is that fee, within a few percent.
    const tx = await chain.client.getTransaction({ hash: out.txHash });
    const cost = await sender.cost({ to: tx.to!, data: tx.input, gas: (tx.gas * 4n) / 5n });
    const gap = cost.l1 > charged ? cost.l1 - charged : charged - cost.l1;
    assert.ok(gap * 20n <= charged, `counted ${cost.l1}, charged ${charged}`);
    assert.equal(cost.total, cost.l2 + cost.l1);
  });

  it("start-up with a sweeper key checks L1_DATA_FEE against the chain: op here, refused on an L1 node", async function () {
    // The test defaults without FINALITY_BLOCKS; the system runs its own indexer (RUN_INDEXER unset).
    const env: Env = {
      RUN_INDEXER: undefined,
      FINALITY_BLOCKS: undefined,
      ETH_USD_PRICE: "1",
      L1_DATA_FEE: "op",
      SWEEPER_PRIVATE_KEY: SWEEPER_KEY,
    };
    // EDR's OP simulation charges the L1 data fee in eth_call too, so the start-up simulation of
    // deposit sweeps (from an unfunded probe address) would fail there; op-geth skips that charge
    // for calls (a call message carries no rollup cost data). Funded, the probe runs as on op-geth.
    await chain.rpc("hardhat_setBalance", [
      "0x00000000000000000000000000000000ee678001",
      toHex(parseEther("1")),
    ]);
    const op = await startNodeSystem({ chain, env });
    try {
      const cost = await op.system.chains[0]!.sender!.cost({
        to: chain.contract,
        data: "0x1234",
        gas: 50_000n,
      });
      assert.ok(cost.l1 > 0n, "the runtime's sender counts the L1 data fee");
    } finally {
      await op.close();
    }
    const l1 = await startNodeChain();
    try {
      await assert.rejects(startNodeSystem({ chain: l1, env }), (error: unknown) => {
        assert.ok(error instanceof ConfigProblems, String(error));
        assert.deepEqual(error.problems, [
          "L1_DATA_FEE=op, but chain 31337 (hardhat) has no GasPriceOracle at 0x420000000000000000000000000000000000000F: " +
            "it is not an OP-stack chain; set L1_DATA_FEE to the chain's kind (op for OP-stack chains such as Base and OP Mainnet, arbitrum for Arbitrum, none for an L1)",
        ]);
        return true;
      });
    } finally {
      await l1.stop();
    }
  });
});

/**
 * Arbitrum has no simulation: its NodeInterface (a virtual contract the node answers at 0x…C8) is
 * stood in for by contracts/mocks/MockNodeInterface.sol on a plain `hardhat node`, answering the
 * figures of test/server/l2-fees.test.ts (Arbitrum's how-to: P = 0.01 gwei, a 240-byte posting at a
 * 30 gwei L1). The sender reads it and counts the L1 part once.
 */
describe("L1 data fee through Arbitrum's NodeInterface (a mock at 0x…C8 on a hardhat node)", function () {
  this.timeout(180_000);
  let chain: NodeChain;
  let testDb: TestDb;
  const mock = artifact("mocks/MockNodeInterface.sol/MockNodeInterface.json");
  const P = 10_000_000n;
  const B = 11_520_000n;

  async function placeNodeInterface() {
    const deployed = await chain.deploy("mocks/MockNodeInterface.sol/MockNodeInterface.json");
    await chain.rpc("hardhat_setCode", [
      ARBITRUM_NODE_INTERFACE,
      await chain.client.getCode({ address: deployed }),
    ]);
    const hash = await chain.wallet.writeContract({
      address: ARBITRUM_NODE_INTERFACE,
      abi: mock.abi,
      functionName: "setAnswer",
      args: [B, P, 30_000_000_000n],
      account: chain.owner,
      chain: null,
    } as never);
    await chain.client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  }

  before(async function () {
    chain = await startNodeChain();
    testDb = await createTestDb();
    await placeNodeInterface();
  });
  after(async function () {
    await testDb?.drop();
    await chain?.stop();
  });

  it("counts (estimate − gasEstimateForL1) × fee for L2 and gasEstimateForL1 × baseFee for L1", async function () {
    const sender = createSender({
      db: testDb.db,
      client: chain.client,
      chainId: 31337n,
      privateKey: secretKey(SWEEPER_KEY),
      stuckBlocks: 3,
      confirmations: 1,
      log: pino({ level: "silent" }),
      l1DataFee: arbitrumL1DataFee(chain.client),
    });
    // eth_estimateGas on Arbitrum: the call's 22,600 L2 gas plus the buffer B.
    const cost = await sender.cost({
      to: chain.contract,
      data: "0x1234",
      gas: 22_600n + B,
      fees: { baseFee: P, priority: 0n, maxFee: 2n * P },
    });
    assert.equal(cost.l1, 115_200_000_000_000n, "L1C = B × P = L1P × L1S");
    assert.equal(cost.l2, 22_600n * P, "the buffer is not counted again as L2 gas");
    assert.equal(cost.total, 115_426_000_000_000n, "TXFEES = P × (L2G + B)");
  });

  it("start-up with a sweeper key checks L1_DATA_FEE=arbitrum: the node must answer NodeInterface", async function () {
    // The test defaults without FINALITY_BLOCKS; the system runs its own indexer (RUN_INDEXER unset).
    const env: Env = {
      RUN_INDEXER: undefined,
      FINALITY_BLOCKS: undefined,
      ETH_USD_PRICE: "1",
      L1_DATA_FEE: "arbitrum",
      SWEEPER_PRIVATE_KEY: SWEEPER_KEY,
    };
    const started = await startNodeSystem({ chain, env });
    await started.close();
    await chain.rpc("hardhat_setCode", [ARBITRUM_NODE_INTERFACE, "0x"]);
    await assert.rejects(startNodeSystem({ chain, env }), (error: unknown) => {
      assert.ok(error instanceof ConfigProblems, String(error));
      assert.deepEqual(error.problems, [
        "L1_DATA_FEE=arbitrum, but chain 31337 (hardhat) does not answer NodeInterface.gasEstimateL1Component at " +
          "0x00000000000000000000000000000000000000C8: it is not an Arbitrum chain; set L1_DATA_FEE to the chain's kind " +
          "(op for OP-stack chains such as Base and OP Mainnet, arbitrum for Arbitrum, none for an L1)",
      ]);
      return true;
    });
  });
});
