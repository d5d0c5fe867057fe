import { toEventSelector, type PublicClient } from "viem";
import { paymentProcessorAbi } from "../chain/abi.ts";
import { FatalIndexerError } from "./rpc.ts";
import type { IndexedEvent } from "./store.ts";

/** A log as eth_getLogs returns it (hex quantities), before any decoding. */
export interface RawLog {
  address: string;
  topics: string[];
  data: string;
  blockNumber: string;
  blockHash: string;
  /** Returned by current nodes (geth ≥ 1.14.x, reth, erigon, EDR); saves a header fetch. */
  blockTimestamp?: string;
  transactionHash: string;
  transactionIndex: string;
  logIndex: string;
  removed?: boolean;
}

type Kind = IndexedEvent["kind"];

const events = paymentProcessorAbi.filter((item) => item.type === "event");
const selectorOf = (name: string) => {
  const event = events.find((e) => e.name === name);
  if (!event) throw new Error(`ABI has no event ${name}`);
  return toEventSelector(event);
};
/** topic0 of each indexed event. All three carry only static fields: 3 topics + 2 data words. */
const KINDS = new Map<string, Kind>([
  [selectorOf("PaymentReceived"), "payment"],
  [selectorOf("Withdrawn"), "withdrawal"],
  [selectorOf("Refunded"), "refund"],
]);
export const EVENT_TOPICS = [...KINDS.keys()];

/**
 * eth_getLogs for our contract and our three events, returned raw (viem's formatting and ABI
 * decoding cost more than the database write; decodeLog below reads the fixed layout directly).
 */
export async function getRawLogs(
  client: PublicClient,
  contract: string,
  filter: { fromBlock: bigint; toBlock: bigint } | { blockHash: string },
  /** Cancels the request. Requests with different signals also never share an HTTP batch. */
  signal?: AbortSignal,
): Promise<RawLog[]> {
  const params =
    "blockHash" in filter
      ? { address: contract, topics: [EVENT_TOPICS], blockHash: filter.blockHash }
      : {
          address: contract,
          topics: [EVENT_TOPICS],
          fromBlock: `0x${filter.fromBlock.toString(16)}`,
          toBlock: `0x${filter.toBlock.toString(16)}`,
        };
  return (await client.request(
    { method: "eth_getLogs", params: [params] } as never,
    signal ? { signal } : undefined,
  )) as RawLog[];
}

const address = (word: string, at: number) => `0x${word.slice(at + 24, at + 64)}`.toLowerCase();

/**
 * Decodes one of our events from its fixed ABI layout: PaymentReceived(merchant, orderId, payer |
 * token, amount), Withdrawn(merchant, token | to, amount), Refunded(merchant, orderId, to | token,
 * amount). A log of another shape from our contract means a wrong address or ABI: that stops the
 * indexer rather than guessing.
 */
export function decodeLog(log: RawLog, chainId: bigint, timestamp: Date): IndexedEvent {
  const kind = KINDS.get(log.topics[0] ?? "");
  const [, t1 = "", t2 = "", t3 = ""] = log.topics;
  const topicCount = kind === "withdrawal" ? 3 : 4;
  if (!kind || log.topics.length !== topicCount || log.data.length !== 2 + 128) {
    throw new FatalIndexerError(
      `log ${log.transactionHash}:${log.logIndex} from ${log.address} does not match the PaymentProcessor ABI; ` +
        "check CONTRACT_ADDRESS",
    );
  }
  const data = log.data.slice(2);
  const amount = BigInt(`0x${data.slice(64, 128)}`);
  const base = {
    chainId,
    blockNumber: BigInt(log.blockNumber),
    blockHash: log.blockHash,
    blockTimestamp: timestamp,
    txIndex: Number(log.transactionIndex),
    logIndex: Number(log.logIndex),
    txHash: log.transactionHash,
    kind,
    merchant: address(t1, 2),
    amount,
    orderId: null,
  };
  if (kind === "withdrawal") {
    return { ...base, orderRef: null, token: address(t2, 2), counterparty: address(data, 0) };
  }
  return { ...base, orderRef: t2.toLowerCase(), counterparty: address(t3, 2), token: address(data, 0) };
}
