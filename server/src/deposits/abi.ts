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

export const TRANSFER_TOPIC = toEventSelector(
  "event Transfer(address indexed from, address indexed to, uint256 value)",
);
export const DEPOSIT_TOKEN_FORWARDED_TOPIC = toEventSelector(
  "event DepositTokenForwarded(address indexed merchant, bytes32 indexed orderId, address indexed deposit, address token, uint256 amount)",
);
