import { parseAbi, toEventSelector } from "viem";

/**
 * The slice of ISubscriptions the server uses (human-readable, so the server runs without compiled
 * artifacts; test/e2e/token-subscriptions-node.test.ts runs it against the compiled contract).
 */
export const subscriptionsAbi = parseAbi([
  "struct Subscription { address customer; uint64 paidThrough; uint32 periodsCollected; address merchant; uint64 interval; bool cancelled; address token; uint96 amountPerPeriod; bytes32 ref; }",
  "event Subscribed(uint256 indexed id, address indexed merchant, bytes32 indexed ref, address customer, address token, uint256 amountPerPeriod, uint64 interval, uint64 start)",
  "event Collected(uint256 indexed id, uint256 period, uint64 paidThrough, uint256 amount)",
  "event Cancelled(uint256 indexed id, address indexed by, uint64 paidThrough)",
  "error SubscriptionsNotFound(uint256 id)",
  "error SubscriptionsCancelledAlready(uint256 id)",
  "error SubscriptionsNotDue(uint256 id, uint64 dueAt, uint256 timestamp)",
  "error SubscriptionsInsufficientAllowance(uint256 id, uint256 allowance, uint256 needed)",
  "error SubscriptionsInsufficientBalance(uint256 id, uint256 balance, uint256 needed)",
  "error SubscriptionsTransferFailed(uint256 id, address token)",
  "error SubscriptionsReentrantCall()",
  "error EnforcedPause()",
  "error PaymentProcessorTokenNotAllowed(address token)",
  "function subscribe(address merchant, address token, uint256 amountPerPeriod, uint64 interval, uint64 start, bytes32 ref) returns (uint256 id)",
  "function subscribeWithPermit(address merchant, address token, uint256 amountPerPeriod, uint64 interval, uint64 start, bytes32 ref, uint256 permitValue, uint256 deadline, uint8 v, bytes32 r, bytes32 s) returns (uint256 id)",
  "function cancel(uint256 id)",
  "function collect(uint256 id)",
  "function paidThrough(uint256 id) view returns (uint64)",
  "function getSubscription(uint256 id) view returns (Subscription)",
  "function subscriptionCount() view returns (uint256)",
  "function processor() view returns (address)",
]);

export const SUBSCRIBED_TOPIC = toEventSelector(
  "event Subscribed(uint256 indexed id, address indexed merchant, bytes32 indexed ref, address customer, address token, uint256 amountPerPeriod, uint64 interval, uint64 start)",
);
export const COLLECTED_TOPIC = toEventSelector(
  "event Collected(uint256 indexed id, uint256 period, uint64 paidThrough, uint256 amount)",
);
export const CANCELLED_TOPIC = toEventSelector(
  "event Cancelled(uint256 indexed id, address indexed by, uint64 paidThrough)",
);
