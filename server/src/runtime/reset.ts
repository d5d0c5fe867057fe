import { deleteOrderCallbacks } from "../callbacks/outbox.ts";
import type { DeleteChainData } from "../chain/identity.ts";
import type { ChainModule } from "../chain/module.ts";
import { deleteIndexerState } from "../indexer/store.ts";
import { chainOrderIds } from "../orders/repository.ts";
import { deleteChainOutgoing } from "../sender/repository.ts";
import { chainModules } from "./modules.ts";

/**
 * Everything derived from one chain: first the callbacks of its orders (the outbox sits above the
 * modules and follows their orders; it goes while the orders still say which callbacks are theirs),
 * then module by module in list order (each owns its tables), then the indexer's state, and last the chain's outgoing transactions (the modules'
 * bookkeeping of what their keepers sent points at them).
 */
export function deleteChainDataOf(
  modules: readonly Pick<ChainModule<never>, "deleteChainData">[],
): DeleteChainData {
  return async (tx, chainId) => {
    await deleteOrderCallbacks(tx, await chainOrderIds(tx, chainId));
    for (const m of modules) await m.deleteChainData(tx, chainId);
    await deleteIndexerState(tx, chainId);
    await deleteChainOutgoing(tx, chainId);
  };
}

/** The production modules' deleteChainDataOf (./modules.ts). */
export const deleteChainData: DeleteChainData = deleteChainDataOf(chainModules);
