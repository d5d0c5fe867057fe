import { deleteOrderCallbacks } from "../callbacks/outbox.ts";
import type { Queryable } from "../db/types.ts";
import { deleteChainDeposits } from "../deposits/repository.ts";
import { deleteChainEletroPayPayments } from "../eletropay/eth.ts";
import { deleteIndexerState } from "../indexer/store.ts";
import { deleteChainEvents } from "../ledger/contract-events.ts";
import { deleteChainOrders } from "../orders/repository.ts";
import { deleteChainSubscriptions } from "../recurring/repository.ts";
import { deleteChainOutgoing } from "../sender/repository.ts";
import { deleteChainSweeps } from "../sweeper/repository.ts";
import { deleteChainTokenSubscriptions } from "../token-subscriptions/repository.ts";

/**
 * Everything derived from one chain, deleted module by module (each owns its tables): its orders
 * (and today's per-merchant counters rebuilt from what remains), their callbacks, its contract
 * events, its subscriptions, its deposits, its sweeps, its token subscriptions, EletroPay's ETH
 * payments, its indexer state, and last its outgoing transactions (sweeps and the collector's
 * bookkeeping point at them).
 */
export async function deleteChainData(tx: Queryable, chainId: bigint): Promise<void> {
  const orderIds = await deleteChainOrders(tx, chainId);
  await deleteOrderCallbacks(tx, orderIds);
  await deleteChainEvents(tx, chainId);
  await deleteChainSubscriptions(tx, chainId);
  await deleteChainDeposits(tx, chainId);
  await deleteChainSweeps(tx, chainId);
  await deleteChainTokenSubscriptions(tx, chainId);
  await deleteChainEletroPayPayments(tx, chainId);
  await deleteIndexerState(tx, chainId);
  await deleteChainOutgoing(tx, chainId);
}
