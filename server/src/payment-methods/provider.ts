import type { OrderStateProvider, OrderStateProviders, ProvidedOrderState } from "../orders/effects.ts";
import type { OrderRow } from "../orders/serialize.ts";
import { cursorHeads, defaultMethodOf, paymentJson, seenPayments } from "./payments.ts";
import { methodsOfOrders, saveTakenStatuses } from "./repository.ts";
import { computeMethodsState, unitsOf } from "./state.ts";

/**
 * The orders module's hook for orders paid by several methods. An order whose only payments came
 * by its default method stays the orders module's (contract payments, refunds and all); once any
 * other method of it has received money, its state is the sum of every method's payments at their
 * locked rates (./state.ts), and this module records that it took it over (method_orders), so
 * each later block of its methods' chains looks at it again until it is final.
 */
export function createOrderStateProviders(): OrderStateProviders & {
  /** Each chain's CONFIRMATIONS, as the chains registered them. */
  readonly confirmations: ReadonlyMap<bigint, number>;
  /** The provider for recomputations outside any chain's step (a UTXO coin's watcher). */
  standalone(): OrderStateProvider;
  /** Records a chain's CONFIRMATIONS (every configured chain, also in processes that do not index it). */
  setConfirmations(chainId: bigint, confirmations: number): void;
} {
  const confirmations = new Map<bigint, number>();
  const provider = (chainId: bigint | undefined): OrderStateProvider => ({
    async states(tx, orders, clock) {
      const result = new Map<bigint, ProvidedOrderState>();
      const methods = await methodsOfOrders(
        tx,
        orders.map((o) => o.id),
      );
      if (methods.size === 0) return result;
      const heads = cursorHeads(
        confirmations,
        chainId === undefined ? undefined : { chainId, indexedBlock: clock.indexedBlock },
      );
      const seen = await seenPayments(tx, [...methods.values()].flat(), heads);
      const taken: { orderId: bigint; status: string }[] = [];
      for (const order of orders) {
        const list = methods.get(order.id);
        const payments = seen.get(order.id) ?? [];
        if (!list || !payments.some((p) => p.method !== list[0]?.method)) continue;
        const state = provideState(order, list, payments, clock.canExpire(order.expires_at));
        result.set(order.id, state);
        taken.push({ orderId: order.id, status: state.status });
      }
      await saveTakenStatuses(tx, taken);
      return result;
    },
  });
  return {
    confirmations,
    forChain(chainId, chainConfirmations) {
      confirmations.set(chainId, chainConfirmations);
      return provider(chainId);
    },
    standalone: () => provider(undefined),
    setConfirmations: (chainId, n) => void confirmations.set(chainId, n),
  };
}

function provideState(
  order: OrderRow,
  methods: Parameters<typeof defaultMethodOf>[1],
  payments: Parameters<typeof computeMethodsState>[1],
  canExpire: boolean,
): ProvidedOrderState {
  const s = computeMethodsState(
    { usdCents: BigInt(order.usd_cents), expiresAt: order.expires_at },
    payments,
    canExpire,
  );
  const primary = defaultMethodOf(order, methods);
  // The seed's amount_paid is in the default method's unit: the sum's USD value, at its rate.
  const amountPaid = unitsOf(s.valuePaid, primary.decimals, primary);
  return {
    status: s.status,
    exception: s.exception,
    amountPaid,
    amountRefunded: BigInt(order.amount_refunded),
    transactionId: s.completing ? (s.completing.txHash ?? s.completing.sweepTx) : null,
    // Confirmations are counted per chain here, not from one block: the orders module's own
    // refresh by paid block must leave these orders alone.
    paidBlock: null,
    sentTransaction: s.sentTransaction,
    awaitingSweep: s.awaitingSweep,
    payments: [...payments]
      .sort((a, b) => a.at.getTime() - b.at.getTime())
      .map((p) => paymentJson(p, methods)),
  };
}
