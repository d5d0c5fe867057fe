import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

import EthereumPosModule from "./EthereumPos.ts";

/**
 * Local development stack (hardhat node, tests): the PaymentProcessor from the EthereumPos module, a mock
 * USDC with EIP-2612 permit (6 decimals, public mint) on the allowlist, a mock Chainlink ETH/USD feed at
 * $3,000.00 (8 decimals), and a Multicall3 (same ABI as the canonical one that public networks have at
 * 0xcA11bde05977b3631167028862bE2a173976CA11) for batched reads such as `getEthBalance` of many deposit
 * addresses. Never deploy this module to a public network.
 *
 * Future ids read by the server from ignition/deployments/chain-<id>/deployed_addresses.json:
 * "EthereumPos#PaymentProcessor", "EthereumPos#Subscriptions" (recurring token pulls, bound to that processor),
 * "LocalDev#MockStablecoin", "LocalDev#MockV3Aggregator", "LocalDev#Multicall3".
 */
export default buildModule("LocalDev", (m) => {
  const { paymentProcessor, subscriptions } = m.useModule(EthereumPosModule);

  const mockStablecoin = m.contract("MockStablecoin", []);
  const mockV3Aggregator = m.contract("MockV3Aggregator", [8, 3000_00000000n]);
  const multicall3 = m.contract("Multicall3", []);

  m.call(paymentProcessor, "setTokenAllowed", [mockStablecoin, true], { id: "AllowMockStablecoin" });

  return { paymentProcessor, subscriptions, mockStablecoin, mockV3Aggregator, multicall3 };
});
