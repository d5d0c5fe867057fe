import { getAddress } from "viem";

/** What a plain-transfer payment request needs: where, on which chain, what and how much. */
export interface TransferRequest {
  /** The order's `address` (where the customer sends the money). */
  address: string;
  chainId: bigint | number;
  /** The token contract, or undefined / the zero address for ETH. */
  token?: string | undefined;
  /** The amount in the smallest unit (wei, or token units). */
  amount: bigint;
}

const isEth = (token: string | undefined) => token === undefined || BigInt(token) === 0n;

/**
 * The EIP-681 URI of a plain transfer, which any wallet or exchange can send and the QR code
 * carries:
 *   ETH:    ethereum:<address>@<chainId>?value=<wei>
 *   tokens: ethereum:<token>@<chainId>/transfer?address=<address>&uint256=<units>
 * Amounts are written as plain integers (EIP-681 also allows 1.7e16, but not every wallet reads it).
 */
export function transferUri(request: TransferRequest): string {
  if (request.amount < 0n) throw new RangeError("a payment amount cannot be negative");
  const to = getAddress(request.address);
  const chainId = BigInt(request.chainId);
  if (isEth(request.token)) return `ethereum:${to}@${chainId}?value=${request.amount}`;
  const token = getAddress(request.token as string);
  return `ethereum:${token}@${chainId}/transfer?address=${to}&uint256=${request.amount}`;
}
