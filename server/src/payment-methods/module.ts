import type { ChainModule } from "../chain/module.ts";
import { touchedDeposits } from "../deposits/module.ts";
import type { BlockRef } from "../indexer/types.ts";
import { refreshOrders } from "../orders/effects.ts";
import type { PaymentsContext } from "../orders/module.ts";
import type { Clock } from "../orders/state.ts";
import { deleteChainMethods, ordersToRefresh } from "./repository.ts";

/** What the module needs besides the payments module's context: the wall clock (tests). */
export interface PaymentMethodsContext extends PaymentsContext {
  readonly now?: (() => number) | undefined;
}

/**
 * Payment methods on a chain: an order's methods here (ETH and each token, at the order's deposit
 * address on this chain) are paid by plain transfers that the deposits module records, and swept
 * by its sweeper. After the deposits and payments modules, each step recomputes the orders with a
 * method at an address the step touched, and the paid orders that wait for this chain's
 * confirmations or sweeps; the state itself is the orders module's, through the provider
 * (./provider.ts) that sums every method.
 */
export const paymentMethodsModule: ChainModule<PaymentMethodsContext> = {
  name: "payment-methods",
  sources: () => [],
  sink(ctx) {
    const provider = ctx.orderStates?.forChain(ctx.chainId, ctx.confirmations);
    if (!provider) return undefined;
    const now = ctx.now ?? Date.now;
    const clock = (cursor: BlockRef, head: bigint): Clock => ({
      indexedBlock: cursor.number,
      confirmations: ctx.confirmations,
      canExpire: (expiresAt) =>
        now() >= expiresAt.getTime() &&
        (cursor.number >= head || cursor.timestamp.getTime() >= expiresAt.getTime()),
    });
    return {
      async apply(tx, step, facts) {
        if (step.type === "finalize") return;
        const cursor = step.type === "block" ? step.blocks.at(-1) : step.ancestor;
        if (!cursor) return;
        const ids = await ordersToRefresh(tx, ctx.chainId, facts.read(touchedDeposits).addresses);
        await refreshOrders(tx, clock(cursor, step.head), ids, ctx.orderEvents, provider);
      },
    };
  },
  async deleteChainData(tx, chainId) {
    await deleteChainMethods(tx, chainId);
  },
};
