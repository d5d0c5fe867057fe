import type { Queryable } from "../db/types.ts";
import { depositFlows } from "../deposits/flows.ts";
import { depositActivity } from "../deposits/repository.ts";
import type { SubscriptionRow } from "./repository.ts";
import type { RecurringCredit } from "./state.ts";

/**
 * Everything received for each subscription, in chain order: the one place the state machine's
 * credits come from.
 *  - method `deposit`: money that arrived at the subscription's deposit address in its token
 *    (server/src/deposits/flows.ts: ETH balance rises plus what was swept, token Transfer logs);
 *  - method `token_pull`: THE SEAM for the token-pull contract (contracts/subscriptions/): its
 *    collections, recorded by server/src/token-subscriptions/ and keyed by chain id + the
 *    subscription's reference (rows: period index, amount, block, log index, tx), are mapped to
 *    RecurringCredit here. Until that module lands, such subscriptions cannot be created.
 */
export async function creditsFor(
  tx: Queryable,
  subscriptions: readonly SubscriptionRow[],
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
  // token_pull: collections from server/src/token-subscriptions/ plug in here (see above).
  return result;
}
