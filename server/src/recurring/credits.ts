import type { Queryable } from "../db/types.ts";
import { depositFlows } from "../deposits/flows.ts";
import { depositActivity } from "../deposits/repository.ts";
import { collectionsByRef, tokenSubscriptionsByRef } from "../token-subscriptions/repository.ts";
import { periodsOf, type PeriodRow, type SubscriptionRow } from "./repository.ts";
import { ON_CHAIN_INTERVAL_SECONDS } from "./schedule.ts";
import type { RecurringCredit } from "./state.ts";

/**
 * Everything received for each subscription, in chain order: the one place the state machine's
 * credits come from.
 *  - method `deposit`: money that arrived at the subscription's deposit address in its token
 *    (server/src/deposits/flows.ts: ETH balance rises plus what was swept, token Transfer logs);
 *  - method `token_pull`: the collections (server/src/token-subscriptions/) of the on-chain
 *    subscriptions with this chain and reference whose terms are exactly the ones asked for
 *    (tokenPullTermsMatch). Anyone can create an on-chain subscription with any ref: one with other
 *    terms (another merchant, token, amount, interval or start) pays nothing here.
 * `periods`: the subscriptions' open periods (period 0 holds a token_pull's amount per period);
 * read when not given.
 */
export async function creditsFor(
  tx: Queryable,
  subscriptions: readonly SubscriptionRow[],
  periods?: ReadonlyMap<bigint, readonly PeriodRow[]>,
): Promise<Map<bigint, RecurringCredit[]>> {
  const result = new Map<bigint, RecurringCredit[]>(subscriptions.map((s) => [s.id, []]));
  const deposits = subscriptions.filter((s) => s.method === "deposit");
  for (const chainId of new Set(deposits.map((s) => s.chain_id))) {
    const onChain = deposits.filter((s) => s.chain_id === chainId);
    const activity = await depositActivity(
      tx,
      chainId,
      onChain.map((s) => s.deposit_address),
    );
    for (const s of onChain) {
      const flows = depositFlows(activity.get(s.deposit_address), s.token);
      result.set(
        s.id,
        flows.inflows.map((i) => ({
          amount: i.amount,
          blockNumber: i.blockNumber,
          logIndex: i.logIndex,
          blockTimestamp: i.blockTimestamp,
          // ETH from a contract wallet has no transaction of its own: the sweep's stands in.
          txHash: i.txHash ?? flows.sweeps.find((w) => w.blockNumber >= i.blockNumber)?.txHash ?? null,
        })),
      );
    }
  }
  const pulls = subscriptions.filter((s) => s.method === "token_pull");
  const pullPeriods =
    periods ??
    (pulls.length > 0
      ? await periodsOf(
          tx,
          pulls.map((s) => s.id),
        )
      : new Map());
  for (const s of pulls) {
    const first = pullPeriods.get(s.id)?.find((p: PeriodRow) => p.index === 0);
    if (!first) continue;
    const terms = tokenPullTerms(s, BigInt(first.expected_amount));
    const matching = new Set(
      (await tokenSubscriptionsByRef(tx, s.chain_id, s.reference))
        .filter((t) => tokenPullTermsMatch(t, terms))
        .map((t) => t.id),
    );
    if (matching.size === 0) continue;
    const collections = await collectionsByRef(tx, s.chain_id, s.reference);
    result.set(
      s.id,
      collections
        .filter((c) => matching.has(c.id))
        .map((c) => ({
          amount: c.amount,
          blockNumber: c.blockNumber,
          logIndex: c.logIndex,
          blockTimestamp: c.blockTimestamp,
          txHash: c.txHash,
        })),
    );
  }
  return result;
}

/** What a token_pull subscription's on-chain `subscribe` must bind, exactly. */
export interface TokenPullTerms {
  merchant: string;
  token: string;
  amountPerPeriod: bigint;
  /** Seconds. */
  interval: bigint;
  /** Unix seconds. */
  start: bigint;
}

export const tokenPullTerms = (s: SubscriptionRow, amountPerPeriod: bigint): TokenPullTerms => ({
  merchant: s.merchant_address.toLowerCase(),
  token: s.token.toLowerCase(),
  amountPerPeriod,
  interval: ON_CHAIN_INTERVAL_SECONDS[s.interval],
  start: BigInt(Math.floor(s.starts_at.getTime() / 1000)),
});

/** An indexed on-chain subscription pays for `terms` only when every term is the same. */
export const tokenPullTermsMatch = (
  t: { merchant: string; token: string; amountPerPeriod: bigint; interval: bigint; start: bigint },
  terms: TokenPullTerms,
): boolean =>
  t.merchant.toLowerCase() === terms.merchant &&
  t.token.toLowerCase() === terms.token &&
  t.amountPerPeriod === terms.amountPerPeriod &&
  t.interval === terms.interval &&
  t.start === terms.start;
