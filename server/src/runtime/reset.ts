import { deleteOrderCallbacks, deleteStreamCallbacks } from "../callbacks/outbox.ts";
import { recurringStream } from "../callbacks/recurring-callbacks.ts";
import type { DeleteChainData } from "../chain/identity.ts";
import type { ChainModule } from "../chain/module.ts";
import { deleteIndexerState } from "../indexer/store.ts";
import { chainOrderIds } from "../orders/repository.ts";
import { chainSubscriptionIds } from "../recurring/repository.ts";
import { deleteChainOutgoing } from "../sender/repository.ts";
import { chainModules } from "./modules.ts";

/**
 * Everything derived from one chain: first the callbacks of its orders and subscriptions (the outbox
 * sits above the modules and follows them; they go while the rows still say which callbacks are
 * theirs: left behind, they would be retried for days to a dev receiver that is gone),
 * then module by module in list order (each owns its tables), then the indexer's state, and last the chain's outgoing transactions (the modules'
 * bookkeeping of what their keepers sent points at them).
 */
export function deleteChainDataOf(
  modules: readonly Pick<ChainModule<never>, "deleteChainData">[],
): DeleteChainData {
  return async (tx, chainId) => {
    await deleteOrderCallbacks(tx, await chainOrderIds(tx, chainId));
    await deleteStreamCallbacks(tx, (await chainSubscriptionIds(tx, chainId)).map(recurringStream));
    for (const m of modules) await m.deleteChainData(tx, chainId);
    await deleteIndexerState(tx, chainId);
    await deleteChainOutgoing(tx, chainId);
  };
}

/** The production modules' deleteChainDataOf (./modules.ts). */
export const deleteChainData: DeleteChainData = deleteChainDataOf(chainModules);
