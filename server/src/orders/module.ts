import { fact, type ChainContext, type ChainModule } from "../chain/module.ts";
import { touchedDeposits } from "../deposits/module.ts";
import { deleteChainEvents } from "../ledger/contract-events.ts";
import { paymentProcessorSource } from "../ledger/payment-processor-source.ts";
import { createOrderSink } from "./effects.ts";
import type { OrderStateProviders } from "./effects.ts";
import type { OrderEvents, OrderStatusChanged } from "./events.ts";
import { deleteChainOrders } from "./repository.ts";

export interface PaymentsContext extends ChainContext {
  /** Where order status changes are published (the callbacks outbox, the TXT notifier). */
  readonly orderEvents: OrderEvents;
  /** Computes the state of orders paid by several methods (server/src/payment-methods/), if any. */
  readonly orderStates?: OrderStateProviders | undefined;
}

/** The order status changes a step (or an idle call) published. */
export const orderChanges = fact<OrderStatusChanged[]>("order status changes");

/**
 * Payments through the PaymentProcessor: its events go to the ledger, and every order they (or the
 * deposits the step touched) concern is recomputed; status changes are published.
 */
export const paymentsModule: ChainModule<PaymentsContext> = {
  name: "payments",
  sources: (ctx) => [paymentProcessorSource(ctx.contract)],
  sink(ctx) {
    const sink = createOrderSink({
      confirmations: ctx.confirmations,
      events: ctx.orderEvents,
      provider: ctx.orderStates?.forChain(ctx.chainId, ctx.confirmations),
    });
    return {
      async apply(tx, step, facts) {
        facts.publish(orderChanges, await sink.apply(tx, step, facts.read(touchedDeposits)));
      },
      async idle(tx, at, facts) {
        facts.publish(orderChanges, await sink.idle(tx, at));
      },
    };
  },
  async deleteChainData(tx, chainId) {
    await deleteChainOrders(tx, chainId);
    await deleteChainEvents(tx, chainId);
  },
};
