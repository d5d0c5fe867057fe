import { parseAbi, zeroAddress } from "viem";

/**
 * The slice of IPaymentProcessor the server uses. Kept as human-readable signatures so the
 * server runs without compiled artifacts; test/server/abi.test.ts checks it against the
 * compiled interface so the two can never drift apart.
 */
export const paymentProcessorAbi = parseAbi([
  "event PaymentReceived(address indexed merchant, bytes32 indexed orderId, address indexed payer, address token, uint256 amount)",
  "event Withdrawn(address indexed merchant, address indexed token, address to, uint256 amount)",
  "event Refunded(address indexed merchant, bytes32 indexed orderId, address indexed to, address token, uint256 amount)",
  "function pay(address merchant, bytes32 orderId) payable",
  "function payToken(address token, uint256 amount, address merchant, bytes32 orderId)",
  "function withdraw(address token, uint256 amount, address to)",
  "function refund(address token, bytes32 orderId, address to, uint256 amount)",
  "function balanceOf(address merchant, address token) view returns (uint256)",
]);

export const aggregatorV3Abi = parseAbi([
  "function decimals() view returns (uint8)",
  "function description() view returns (string)",
  "function latestRoundData() view returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)",
]);

/** ETH where the contract takes a token address: the zero address (the one definition in server/src). */
export const ETH_TOKEN = zeroAddress;
