import type { ChainContext, ChainModule } from "../chain/module.ts";
import { depositsModule } from "../deposits/module.ts";
import { eletropayEthModule, type EletroPayEthContext } from "../eletropay/module.ts";
import { paymentsModule } from "../orders/module.ts";
import { paymentMethodsModule, type PaymentMethodsContext } from "../payment-methods/module.ts";
import { recurringModule, type RecurringContext } from "../recurring/module.ts";
import { tokenSubscriptionsModule } from "../token-subscriptions/module.ts";

/** What the production modules are built with: the chain, and what each module asks for besides. */
export type ProductionContext = PaymentMethodsContext & RecurringContext & EletroPayEthContext;

/** What the system hands every chain's modules besides the chain itself. */
export type ModuleServices = Omit<ProductionContext, keyof ChainContext>;

/**
 * The modules every chain is built from, in the order their sinks run on each step (each reads
 * what the ones before it published): deposits records what reached or left deposit addresses
 * and says which it touched; payments stores the contract's events and recomputes the orders they
 * and those deposits concern; payment methods recomputes the orders paid by several methods whose
 * addresses on this chain the step touched; token subscriptions records the Subscriptions contract's events;
 * recurring bills subscriptions from the deposits and token subscriptions just recorded; EletroPay
 * reports its addresses' deposits. Adding a capability is one folder and one line here.
 */
export const chainModules: readonly ChainModule<ProductionContext>[] = [
  depositsModule,
  paymentsModule,
  paymentMethodsModule,
  tokenSubscriptionsModule,
  recurringModule,
  eletropayEthModule,
];
