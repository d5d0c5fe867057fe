import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

/**
 * Deploys the PaymentProcessor. Production module: no mocks.
 *
 * Parameters:
 * - `owner` (address): the operator account that can pause new payments, manage the token allowlist and
 *   rescue never-allowlisted tokens. It can never move merchants' funds. Defaults to the deploying account.
 *   Ownership is two-step (Ownable2Step): hand it to a multisig later with transferOwnership + acceptOwnership.
 *
 * Also deploys `Subscriptions` (recurring token pulls, issue #14) bound to that processor: a separate future, so
 * the processor's future and address are unchanged. It has no owner and no parameters.
 *
 * Future ids are part of the deployed_addresses.json contract with the server: "EthereumPos#PaymentProcessor",
 * "EthereumPos#Subscriptions".
 */
export default buildModule("EthereumPos", (m) => {
  const owner = m.getParameter("owner", m.getAccount(0));
  const paymentProcessor = m.contract("PaymentProcessor", [owner]);
  const subscriptions = m.contract("Subscriptions", [paymentProcessor]);
  return { paymentProcessor, subscriptions };
});
