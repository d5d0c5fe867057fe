import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

import EthereumPosModule from "./EthereumPos.ts";

/**
 * A deployment to a preset network (`npm run deploy -- --network base-sepolia`, scripts/deploy.ts): the
 * EthereumPos module (PaymentProcessor and Subscriptions, futures unchanged), then the preset's tokens
 * (native USDC, and USDT where the preset lists it) allowlisted in the PaymentProcessor by the deploying
 * account, its owner. One call per token, future id `EthereumPosNetwork#Allow<SYMBOL>`.
 *
 * Built per network from the preset's token list, so it has no default export for `ignition deploy`:
 * deploy it with `npm run deploy`.
 */
export function networkModule(tokens: readonly { symbol: string; address: string }[]) {
  return buildModule("EthereumPosNetwork", (m) => {
    const { paymentProcessor, subscriptions } = m.useModule(EthereumPosModule);
    for (const token of tokens) {
      m.call(paymentProcessor, "setTokenAllowed", [token.address, true], { id: `Allow${token.symbol}` });
    }
    return { paymentProcessor, subscriptions };
  });
}
