import type { ChainContext, ChainModule } from "../chain/module.ts";
import { touchedDeposits } from "../deposits/module.ts";
import {
  deleteChainEletroPayPayments,
  eletropayDepositSink,
  type EletroPayDepositSinkOptions,
} from "./eth.ts";

export interface EletroPayEthContext extends ChainContext {
  /**
   * EletroPay's ETH and token addresses, on the chain they live on (the default chain, when
   * ELETROPAY_ETH is on); undefined elsewhere.
   */
  readonly eletropay: EletroPayDepositSinkOptions | undefined;
}

/**
 * EletroPay's ETH and token addresses: deposit addresses handed to EletroPay clients. No source of
 * its own: it turns what the deposits module recorded into EletroPay callbacks.
 */
export const eletropayEthModule: ChainModule<EletroPayEthContext> = {
  name: "eletropay-eth",
  sources: () => [],
  sink(ctx) {
    if (!ctx.eletropay) return undefined;
    const sink = eletropayDepositSink(ctx.eletropay);
    return { apply: (tx, step, facts) => sink.apply(tx, step, facts.read(touchedDeposits)) };
  },
  deleteChainData: deleteChainEletroPayPayments,
};
