import { ETH_TOKEN } from "../chain/abi.ts";
import type { DepositActivity } from "./repository.ts";

/** Balance observations are end-of-block readings: they sort after every log of their block. */
const END_OF_BLOCK = 2 ** 31 - 1;

/** Money that arrived at a deposit address, in chain order. */
export interface DepositInflow {
  amount: bigint;
  blockNumber: bigint;
  logIndex: number;
  blockTimestamp: Date;
  /** The direct transfer, when there is one (token Transfer logs always; ETH not for internal transfers). */
  txHash: string | null;
}

/** A sweep that credited the merchant in the contract. */
export interface DepositCredit {
  amount: bigint;
  blockNumber: bigint;
  logIndex: number;
  txHash: string;
}

export interface DepositFlows {
  inflows: DepositInflow[];
  sweeps: DepositCredit[];
}

/**
 * What arrived at one deposit address in `token` and what was swept, from the stored observations.
 *  - Tokens: every Transfer log in is an inflow; sweeps are the PaymentReceived of that token.
 *  - ETH: the total received by the end of block b is R(b) = balance(b) + ETH swept up to b, and an
 *    inflow is a rise of R above its previous high (never counted twice). balance(b) is the
 *    observation at b; a block with an ETH sweep and no observation has balance 0 (a sweep takes
 *    all); otherwise the balance is unchanged. So a balance read only at the end of a historical
 *    chunk, after a sweep inside it, still counts the swept money once, at the sweep.
 */
export function depositFlows(activity: DepositActivity | undefined, token: string): DepositFlows {
  if (!activity) return { inflows: [], sweeps: [] };
  const sweeps: DepositCredit[] = activity.sweeps
    .filter((s) => s.kind === "credited" && s.token === token)
    .map((s) => ({ amount: s.amount, blockNumber: s.blockNumber, logIndex: s.logIndex, txHash: s.txHash }));
  if (token !== ETH_TOKEN) {
    const inflows = activity.transfers
      .filter((t) => t.token === token)
      .map((t) => ({
        amount: t.amount,
        blockNumber: t.blockNumber,
        logIndex: t.logIndex,
        blockTimestamp: t.blockTimestamp,
        txHash: t.txHash,
      }));
    return { inflows, sweeps };
  }

  type Point = { block: bigint; timestamp: Date; balance?: bigint; txHash: string | null; swept: bigint };
  const points = new Map<bigint, Point>();
  const point = (block: bigint, timestamp: Date) => {
    let p = points.get(block);
    if (!p) points.set(block, (p = { block, timestamp, txHash: null, swept: 0n }));
    return p;
  };
  for (const b of activity.balances) {
    const p = point(b.blockNumber, b.blockTimestamp);
    p.balance = b.balance;
    p.txHash = b.txHash;
  }
  for (const s of activity.sweeps) {
    if (s.kind !== "credited" || s.token !== ETH_TOKEN) continue;
    point(s.blockNumber, s.blockTimestamp).swept += s.amount;
  }
  const inflows: DepositInflow[] = [];
  let balance = 0n;
  let swept = 0n;
  let high = 0n;
  for (const p of [...points.values()].sort((a, b) => (a.block < b.block ? -1 : 1))) {
    swept += p.swept;
    balance = p.balance ?? (p.swept > 0n ? 0n : balance);
    const received = balance + swept;
    if (received > high) {
      inflows.push({
        amount: received - high,
        blockNumber: p.block,
        logIndex: END_OF_BLOCK,
        blockTimestamp: p.timestamp,
        txHash: p.txHash,
      });
      high = received;
    }
  }
  return { inflows, sweeps };
}
