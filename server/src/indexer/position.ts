import type { DecodeContext, LogPosition, RawLog } from "./types.ts";

/** A raw log's position (hex quantities read as numbers), in the chain and block of `ctx`. */
export const logPosition = (log: RawLog, ctx: DecodeContext): LogPosition => ({
  chainId: ctx.chainId,
  blockNumber: BigInt(log.blockNumber),
  blockHash: log.blockHash,
  blockTimestamp: ctx.blockTimestamp,
  txIndex: Number(log.transactionIndex),
  logIndex: Number(log.logIndex),
  txHash: log.transactionHash,
});

/** Only the position of an event that has one: to key a record made from that event. */
export const positionOf = (e: LogPosition): LogPosition => ({
  chainId: e.chainId,
  blockNumber: e.blockNumber,
  blockHash: e.blockHash,
  blockTimestamp: e.blockTimestamp,
  txIndex: e.txIndex,
  logIndex: e.logIndex,
  txHash: e.txHash,
});
