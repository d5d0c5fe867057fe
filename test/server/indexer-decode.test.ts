import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "mocha";
import { decodeEventLog, encodeAbiParameters, encodeEventTopics, getAddress, toHex, type Hex } from "viem";
import { paymentProcessorAbi } from "../../server/src/chain/abi.ts";
import type { RawLog } from "../../server/src/indexer/types.ts";
import { decodeLog } from "../../server/src/ledger/payment-processor-source.ts";
import { FatalIndexerError } from "../../server/src/indexer/rpc.ts";

// The indexer reads our three events from their fixed ABI layout instead of through viem (it is the
// backfill's hot path). This checks it against viem's decoder on random values of every field.
const randomAddress = () => getAddress(toHex(randomBytes(20)));
const randomWord = () => BigInt(toHex(randomBytes(32)));

function rawLog(topics: Hex[], data: Hex): RawLog {
  return {
    address: "0x5fbdb2315678afecb367f032d93f642f64180aa3",
    topics,
    data,
    blockNumber: "0x2a",
    blockHash: toHex(randomBytes(32)),
    transactionHash: toHex(randomBytes(32)),
    transactionIndex: "0x3",
    logIndex: "0x7",
  };
}

function randomLog(name: "PaymentReceived" | "Withdrawn" | "Refunded"): RawLog {
  const merchant = randomAddress();
  const other = randomAddress();
  const token = randomAddress();
  const orderId = toHex(randomBytes(32));
  const amount = randomWord();
  const words = (...values: [Hex, bigint]) =>
    encodeAbiParameters([{ type: "address" }, { type: "uint256" }], values);
  if (name === "PaymentReceived") {
    const topics = encodeEventTopics({
      abi: paymentProcessorAbi,
      eventName: name,
      args: { merchant, orderId, payer: other },
    });
    return rawLog(topics as Hex[], words(token, amount));
  }
  if (name === "Refunded") {
    const topics = encodeEventTopics({
      abi: paymentProcessorAbi,
      eventName: name,
      args: { merchant, orderId, to: other },
    });
    return rawLog(topics as Hex[], words(token, amount));
  }
  const topics = encodeEventTopics({ abi: paymentProcessorAbi, eventName: name, args: { merchant, token } });
  return rawLog(topics as Hex[], words(other, amount));
}

describe("indexer log decoder", () => {
  it("agrees with viem's ABI decoder on 300 random PaymentReceived, Withdrawn and Refunded logs", () => {
    const at = new Date("2026-01-01T00:00:00Z");
    for (let i = 0; i < 300; i++) {
      const name = (["PaymentReceived", "Withdrawn", "Refunded"] as const)[i % 3]!;
      const log = randomLog(name);
      const ours = decodeLog(log, { chainId: 31337n, blockTimestamp: at });
      const viem = decodeEventLog({
        abi: paymentProcessorAbi,
        topics: log.topics as [Hex],
        data: log.data as Hex,
      });
      assert.equal(viem.eventName, name);
      const args = viem.args as Record<string, string | bigint>;
      const lower = (v: unknown) => String(v).toLowerCase();
      assert.equal(
        ours.kind,
        { PaymentReceived: "payment", Withdrawn: "withdrawal", Refunded: "refund" }[name],
      );
      assert.equal(ours.merchant, lower(args.merchant));
      assert.equal(ours.amount, args.amount);
      assert.equal(ours.token, lower(args.token));
      assert.equal(ours.counterparty, lower(name === "PaymentReceived" ? args.payer : args.to));
      assert.equal(ours.orderRef, name === "Withdrawn" ? null : lower(args.orderId));
      assert.equal(ours.blockNumber, 42n);
      assert.equal(ours.txIndex, 3);
      assert.equal(ours.logIndex, 7);
    }
  });

  it("stops on a log that does not have our ABI's shape", () => {
    const good = randomLog("PaymentReceived");
    const cases: RawLog[] = [
      { ...good, topics: [toHex(randomBytes(32)), ...good.topics.slice(1)] }, // unknown event
      { ...good, topics: good.topics.slice(0, 3) }, // missing indexed field
      { ...good, data: `${good.data}00` }, // wrong data length
    ];
    for (const log of cases) {
      assert.throws(() => decodeLog(log, { chainId: 31337n, blockTimestamp: new Date() }), FatalIndexerError);
    }
  });
});
