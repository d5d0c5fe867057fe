import { logPosition } from "../indexer/position.ts";
import { FatalIndexerError } from "../indexer/rpc.ts";
import type { DecodeContext, RawLog, Source } from "../indexer/types.ts";
import { CANCELLED_TOPIC, COLLECTED_TOPIC, SUBSCRIBED_TOPIC } from "./abi.ts";
import type { TokenSubscriptionEvent } from "../chain/events.ts";

const word = (data: string, at: number) => `0x${data.slice(2 + at * 64, 2 + (at + 1) * 64)}`;
const addressOf = (topicOrWord: string) => `0x${topicOrWord.slice(-40)}`.toLowerCase();

/** The shape (topics, data words) of each event; anything else from the contract stops the indexer. */
const SHAPES = new Map<string, { topics: number; words: number }>([
  [SUBSCRIBED_TOPIC, { topics: 4, words: 5 }],
  [COLLECTED_TOPIC, { topics: 2, words: 3 }],
  [CANCELLED_TOPIC, { topics: 3, words: 1 }],
]);

/**
 * Decodes `Subscribed`, `Collected` and `Cancelled` of the Subscriptions contract from their fixed
 * ABI layout (every field is static).
 */
function decodeSubscriptionLog(log: RawLog, ctx: DecodeContext): TokenSubscriptionEvent {
  const topic0 = log.topics[0] ?? "";
  const shape = SHAPES.get(topic0);
  if (!shape || log.topics.length !== shape.topics || log.data.length !== 2 + shape.words * 64) {
    throw new FatalIndexerError(
      `log ${log.transactionHash}:${log.logIndex} from ${log.address} does not match the Subscriptions ABI; ` +
        "check SUBSCRIPTIONS_ADDRESS",
    );
  }
  const base = {
    ...logPosition(log, ctx),
    id: BigInt(log.topics[1] as string),
  };
  if (topic0 === SUBSCRIBED_TOPIC) {
    return {
      ...base,
      kind: "token_subscribed",
      contract: log.address.toLowerCase(),
      merchant: addressOf(log.topics[2] as string),
      ref: (log.topics[3] as string).toLowerCase(),
      customer: addressOf(word(log.data, 0)),
      token: addressOf(word(log.data, 1)),
      amountPerPeriod: BigInt(word(log.data, 2)),
      interval: BigInt(word(log.data, 3)),
      start: BigInt(word(log.data, 4)),
    };
  }
  if (topic0 === COLLECTED_TOPIC) {
    return {
      ...base,
      kind: "token_collected",
      period: BigInt(word(log.data, 0)),
      paidThrough: BigInt(word(log.data, 1)),
      amount: BigInt(word(log.data, 2)),
    };
  }
  return {
    ...base,
    kind: "token_cancelled",
    by: addressOf(log.topics[2] as string),
    paidThrough: BigInt(word(log.data, 0)),
  };
}

/** The Subscriptions contract's `Subscribed`, `Collected` and `Cancelled` events, as an indexer source. */
export function subscriptionsSource(contract: string): Source<TokenSubscriptionEvent> {
  return {
    name: "Subscriptions",
    addresses: [contract.toLowerCase()],
    topics: [SUBSCRIBED_TOPIC, COLLECTED_TOPIC, CANCELLED_TOPIC],
    decode: decodeSubscriptionLog,
  };
}
