import { getAddress } from "viem";
import { orderReference } from "./ids.ts";
import type { OrderRow } from "./serialize.ts";

/**
 * The EIP-681 URI of the contract call that pays an order — for orders made before deposit
 * addresses (no `deposit_address`), whose `address` is the contract itself, so a plain transfer
 * would revert. Newer orders are paid by a plain transfer (server/src/web/payment-uri.ts).
 * The contract call, which wallets read from the QR code:
 *   ETH:    ethereum:<contract>@<chainId>/pay?address=<merchant>&bytes32=<orderId>&value=<wei>
 *   tokens: ethereum:<contract>@<chainId>/payToken?address=<token>&uint256=<amount>&address=<merchant>&bytes32=<orderId>
 * (a token payment needs an approval of the contract first, which wallets handle separately).
 */
export function paymentUri(order: OrderRow): string {
  const contract = getAddress(order.pay_to);
  const merchant = getAddress(order.merchant_address);
  const ref = orderReference(order);
  if (BigInt(order.token) === 0n) {
    return `ethereum:${contract}@${order.chain_id}/pay?address=${merchant}&bytes32=${ref}&value=${order.expected_amount}`;
  }
  return `ethereum:${contract}@${order.chain_id}/payToken?address=${getAddress(order.token)}&uint256=${order.expected_amount}&address=${merchant}&bytes32=${ref}`;
}
