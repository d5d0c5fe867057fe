import { getAddress } from "viem";
import { orderReference } from "../orders/ids.ts";
import { orderToJson, type OrderJson, type OrderRow } from "../orders/serialize.ts";
import { paymentUri } from "../orders/payment-uri.ts";
import { transferUri } from "./payment-uri.ts";

/** Display names of well-known chains (the customer reads these; the chain id is shown beside them). */
const CHAIN_NAMES = new Map<number, string>([
  [1, "Ethereum"],
  [11155111, "Sepolia testnet"],
  [17000, "Holesky testnet"],
  [8453, "Base"],
  [84532, "Base Sepolia testnet"],
  [42161, "Arbitrum One"],
  [421614, "Arbitrum Sepolia testnet"],
  [10, "OP Mainnet"],
  [11155420, "OP Sepolia testnet"],
  [137, "Polygon"],
  [80002, "Polygon Amoy testnet"],
  [31337, "Hardhat local chain"],
  [1337, "Local chain"],
]);

export const chainName = (chainId: number) => CHAIN_NAMES.get(chainId) ?? `Chain ${chainId}`;

/**
 * What the payment page and its script need about one order: the public order JSON plus the
 * data a browser wallet needs to call the contract (contract, merchant, order reference, amount
 * in units). All of it is public: it is what anyone can read from the chain or the order JSON.
 */
export interface PayView {
  json: OrderJson;
  id: number;
  chainId: number;
  chainName: string;
  /** Where a plain transfer goes: the order's `address`. */
  address: `0x${string}`;
  /** The payment contract (`pay` / `payToken` for a browser wallet). */
  contract: `0x${string}`;
  /** The merchant's address the payment is credited to (`return_to`). */
  merchant: `0x${string}`;
  /** The order id as the contract's bytes32 order reference. */
  orderRef: `0x${string}`;
  /** The token contract, or null for ETH. */
  token: `0x${string}` | null;
  symbol: string;
  decimals: number;
  /** The expected amount in the smallest unit (wei or token units), as a decimal integer string. */
  amount: string;
  /** The plain-transfer EIP-681 URI (what the QR code carries). */
  uri: string;
}

export function payView(order: OrderRow, publicUrl: string, indexedBlock: bigint | null): PayView {
  const json = orderToJson(order, publicUrl, indexedBlock);
  const token = BigInt(order.token) === 0n ? null : getAddress(order.token);
  const amount = BigInt(order.expected_amount);
  return {
    json,
    id: json.id,
    chainId: json.chain_id,
    chainName: chainName(json.chain_id),
    address: getAddress(json.address),
    // The contract an order is paid through: today's `pay_to` column.
    contract: getAddress(order.pay_to),
    merchant: getAddress(json.return_to),
    orderRef: orderReference(order),
    token,
    symbol: json.token,
    decimals: order.token_decimals,
    amount: amount.toString(),
    // An order made before deposit addresses is paid by the contract call, never a plain transfer.
    uri:
      order.deposit_address === null
        ? paymentUri(order)
        : transferUri({ address: json.address, chainId: json.chain_id, token: token ?? undefined, amount }),
  };
}
