/** The contract functions and events the soak calls and reads itself (the server has its own). */
import { parseAbi, parseAbiItem, zeroAddress } from "viem";

/** The token address that stands for ETH in the contract's events and the orders' `token`. */
export const ETH = zeroAddress;

export const erc20 = parseAbi([
  "function mint(address to, uint256 amount)",
  "function approve(address spender, uint256 amount) returns (bool)",
  "function transfer(address to, uint256 amount) returns (bool)",
  "function balanceOf(address who) view returns (uint256)",
]);

export const processorAbi = parseAbi([
  "function setTokenAllowed(address token, bool allowed)",
  "function pay(address merchant, bytes32 orderId) payable",
  "function payToken(address token, uint256 amount, address merchant, bytes32 orderId)",
  "function refund(address token, bytes32 orderId, address to, uint256 amount)",
]);

/** contracts/mocks/EthForwarder.sol: passes msg.value on to `to` inside its own call. */
export const forwarderAbi = parseAbi(["function forward(address to) payable"]);

export const subscriptionsAbi = parseAbi([
  "function subscribe(address merchant, address token, uint256 amountPerPeriod, uint64 interval, uint64 start, bytes32 ref) returns (uint256)",
]);

export const paymentReceived = parseAbiItem(
  "event PaymentReceived(address indexed merchant, bytes32 indexed orderId, address indexed payer, address token, uint256 amount)",
);
