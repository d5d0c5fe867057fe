import { getAddress } from "viem";
import { orderIdToBytes32 } from "./ids.ts";
import type { OrderRow } from "./serialize.ts";

/**
 * The EIP-681 URI of the contract call that pays an order, which wallets read from the QR code:
 *   ETH:    ethereum:<contract>@<chainId>/pay?address=<merchant>&bytes32=<orderId>&value=<wei>
 *   tokens: ethereum:<contract>@<chainId>/payToken?address=<token>&uint256=<amount>&address=<merchant>&bytes32=<orderId>
 * (a token payment needs an approval of the contract first, which wallets handle separately).
 */
export function paymentUri(order: OrderRow): string {
  const contract = getAddress(order.pay_to);
  const merchant = getAddress(order.merchant_address);
  const ref = orderIdToBytes32(order.id);
  if (BigInt(order.token) === 0n) {
    return `ethereum:${contract}@${order.chain_id}/pay?address=${merchant}&bytes32=${ref}&value=${order.expected_amount}`;
  }
  return `ethereum:${contract}@${order.chain_id}/payToken?address=${getAddress(order.token)}&uint256=${order.expected_amount}&address=${merchant}&bytes32=${ref}`;
}

/**
 * The plain EIP-681 transfer to an order's deposit address, which every wallet and exchange can
 * make (undefined for an older order without one):
 *   ETH:    ethereum:<deposit>@<chainId>?value=<wei>
 *   tokens: ethereum:<token>@<chainId>/transfer?address=<deposit>&uint256=<units>
 */
export function depositTransferUri(order: OrderRow): string | undefined {
  if (order.deposit_address === null) return undefined;
  const deposit = getAddress(order.deposit_address);
  if (BigInt(order.token) === 0n)
    return `ethereum:${deposit}@${order.chain_id}?value=${order.expected_amount}`;
  return `ethereum:${getAddress(order.token)}@${order.chain_id}/transfer?address=${deposit}&uint256=${order.expected_amount}`;
}
