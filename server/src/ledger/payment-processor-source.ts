import { toEventSelector } from "viem";
import { paymentProcessorAbi } from "../chain/abi.ts";
import { logPosition } from "../indexer/position.ts";
import { FatalIndexerError } from "../indexer/rpc.ts";
import type { DecodeContext, RawLog, Source } from "../indexer/types.ts";
import type { ContractEvent } from "../chain/events.ts";

type Kind = ContractEvent["kind"];

const abiEvents = paymentProcessorAbi.filter((item) => item.type === "event");
const selectorOf = (name: string) => {
  const event = abiEvents.find((e) => e.name === name);
  if (!event) throw new Error(`ABI has no event ${name}`);
  return toEventSelector(event);
};
/** topic0 of each indexed event. All three carry only static fields: 3 topics + 2 data words. */
const KINDS = new Map<string, Kind>([
  [selectorOf("PaymentReceived"), "payment"],
  [selectorOf("Withdrawn"), "withdrawal"],
  [selectorOf("Refunded"), "refund"],
]);
export const PAYMENT_PROCESSOR_TOPICS = [...KINDS.keys()];

const address = (word: string, at: number) => `0x${word.slice(at + 24, at + 64)}`.toLowerCase();

/**
 * Decodes one of our events from its fixed ABI layout (viem's formatting and ABI decoding cost
 * more than the database write): PaymentReceived(merchant, orderId, payer | token, amount),
 * Withdrawn(merchant, token | to, amount), Refunded(merchant, orderId, to | token, amount). A log of
 * another shape from our contract means a wrong address or ABI: that stops the indexer rather than
 * guessing.
 */
export function decodeLog(log: RawLog, ctx: DecodeContext): ContractEvent {
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
    ...logPosition(log, ctx),
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

/** The PaymentProcessor contract's PaymentReceived, Withdrawn and Refunded events, as a source. */
export function paymentProcessorSource(contract: string): Source<ContractEvent> {
  return {
    name: "PaymentProcessor",
    addresses: [contract.toLowerCase()],
    topics: PAYMENT_PROCESSOR_TOPICS,
    decode: decodeLog,
  };
}
