import { parseAbi, toEventSelector } from "viem";

/** The deposit-address slice of IPaymentProcessor (checked against the compiled interface in tests). */
export const depositsAbi = parseAbi([
  "struct Deposit { address merchant; bytes32 orderId; address token; }",
  "event DepositTokenForwarded(address indexed merchant, bytes32 indexed orderId, address indexed deposit, address token, uint256 amount)",
  "function sweepOrder(address merchant, bytes32 orderId, address token)",
  "function sweepDeposits(Deposit[] deposits)",
  "function depositAddressOf(address merchant, bytes32 orderId) view returns (address deposit)",
  "function depositInitCodeHash() pure returns (bytes32)",
]);

/** Multicall3 (the canonical one public networks have at 0xcA11…CA11; `LocalDev#Multicall3` locally). */
export const multicall3Abi = parseAbi([
  "struct Call3 { address target; bool allowFailure; bytes callData; }",
  "struct Result { bool success; bytes returnData; }",
  "function aggregate3(Call3[] calls) payable returns (Result[] returnData)",
  "function getEthBalance(address addr) view returns (uint256 balance)",
]);

export const TRANSFER_TOPIC = toEventSelector(
  "event Transfer(address indexed from, address indexed to, uint256 value)",
);
export const DEPOSIT_TOKEN_FORWARDED_TOPIC = toEventSelector(
  "event DepositTokenForwarded(address indexed merchant, bytes32 indexed orderId, address indexed deposit, address token, uint256 amount)",
);
