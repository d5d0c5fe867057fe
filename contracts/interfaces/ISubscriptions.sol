// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IPaymentProcessor} from "./IPaymentProcessor.sol";

/// @title ISubscriptions
/// @notice Recurring token payments bound on chain: a customer authorizes a pull of at most
/// `amountPerPeriod` of an allowlisted ERC-20 token per `interval`, for a merchant, tagged with the merchant's
/// reference `ref`. Anyone (the merchant, its server, a keeper) may then {collect} each period once it is due; the
/// money is paid into the {IPaymentProcessor} with `payToken`, so it lands in the merchant's balance like any
/// payment (one `PaymentReceived` per period, `orderId` = the subscription's `ref`).
/// @dev This interface is the whole public surface. Conventions:
/// - Periods are paid in advance. Period `k` (0-based) covers `[start + k * interval, start + (k + 1) *
///   interval)` and is due from its first second on. Collecting it sets {paidThrough} to its end, which is the
///   next period's due time. Before any collection `paidThrough == start`.
/// - One {collect} charges exactly one period, the oldest unpaid one. Overdue periods are charged one per call,
///   in order: a keeper that finds several due calls {collect} again (each call re-checks the clock, so a
///   period is never charged before its start, whatever the number of calls).
/// - The terms (customer, merchant, token, amount per period, interval, start, `ref`) are fixed at
///   {subscribe}: nobody can change them. The only state change besides collecting is {cancel}.
/// - The contract has no owner and holds no tokens between transactions: a collection pulls the amount from
///   the customer and pays it into the processor in the same call. The token must be on the processor's
///   allowlist at subscribe time; the processor re-checks it (and its pause) at every collection.
/// - Only exact ERC-20 tokens are supported (a transfer moves exactly the amount asked). A fee-on-transfer
///   token makes every {collect} revert, because this contract then received less than it must pay on.
interface ISubscriptions {
    // ---------------------------------------------------------------------------------------------
    // Types
    // ---------------------------------------------------------------------------------------------

    /// @notice A subscription's terms and state, as stored (four slots; the field order is the packing).
    /// @param customer The account charged every period (the one that called {subscribe}).
    /// @param paidThrough The end of the last paid period, which is also when the next period is due.
    /// @param periodsCollected The number of periods charged so far (the next period's number).
    /// @param merchant The merchant credited in the processor.
    /// @param interval The period length in seconds.
    /// @param cancelled Whether the subscription was cancelled (no collection ever again).
    /// @param token The ERC-20 token charged.
    /// @param amountPerPeriod The exact amount charged per period, in the token's smallest unit.
    /// @param ref The merchant's referenceerence, used as the `orderId` of every payment into the processor.
    struct Subscription {
        address customer;
        uint64 paidThrough;
        uint32 periodsCollected;
        address merchant;
        uint64 interval;
        bool cancelled;
        address token;
        uint96 amountPerPeriod;
        bytes32 ref;
    }

    // ---------------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------------

    /// @notice `customer` subscribed: subscription `id` was created with these terms.
    /// @param id The subscription id (1, 2, 3, ... in creation order).
    /// @param merchant The merchant credited every period.
    /// @param ref The merchant's referenceerence (the `orderId` of every payment into the processor).
    /// @param customer The account charged every period.
    /// @param token The ERC-20 token charged.
    /// @param amountPerPeriod The exact amount charged per period.
    /// @param interval The period length in seconds.
    /// @param start When the first period starts and is due (also the initial {paidThrough}).
    event Subscribed(
        uint256 indexed id,
        address indexed merchant,
        bytes32 indexed ref,
        address customer,
        address token,
        uint256 amountPerPeriod,
        uint64 interval,
        uint64 start
    );

    /// @notice Period `period` of subscription `id` was charged: `amount` was pulled from the customer and paid
    /// into the processor for the merchant (which emits its own `PaymentReceived` right after this event, in the
    /// same transaction, with `payer` = this contract and `orderId` = the subscription's `ref`).
    /// @param id The subscription id.
    /// @param period The number of the period charged (0 for the first).
    /// @param paidThrough The new paid-through timestamp: the end of period `period`.
    /// @param amount The amount charged (always the subscription's `amountPerPeriod`).
    // solhint-disable-next-line gas-indexed-events
    event Collected(uint256 indexed id, uint256 period, uint64 paidThrough, uint256 amount);

    /// @notice Subscription `id` was cancelled by `by` (its customer or its merchant). Periods already paid
    /// stay paid: {paidThrough} keeps its value.
    /// @param id The subscription id.
    /// @param by The account that cancelled.
    /// @param paidThrough The paid-through timestamp at cancellation (final).
    // solhint-disable-next-line gas-indexed-events
    event Cancelled(uint256 indexed id, address indexed by, uint64 paidThrough);

    // ---------------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------------

    /// @notice {subscribe} named the zero address as merchant.
    error SubscriptionsZeroMerchant();

    /// @notice {subscribe} asked for an amount per period of zero.
    error SubscriptionsZeroAmount();

    /// @notice {subscribe} asked for more per period than the storage field holds.
    /// @param amount The amount asked.
    /// @param max The largest amount per period (`type(uint96).max`).
    error SubscriptionsAmountTooLarge(uint256 amount, uint256 max);

    /// @notice {subscribe} asked for an interval of zero seconds.
    error SubscriptionsZeroInterval();

    /// @notice {subscribe} asked for a start in the past (pass 0 to start now).
    /// @param start The start asked.
    /// @param timestamp The current block timestamp.
    error SubscriptionsStartInPast(uint64 start, uint256 timestamp);

    /// @notice `token` is not on the processor's allowlist.
    /// @param token The token refused.
    error SubscriptionsTokenNotAllowed(address token);

    /// @notice The permit given to {subscribeWithPermit} failed and the allowance in place does not cover one
    /// period.
    /// @param token The token.
    /// @param allowance The customer's allowance to this contract.
    /// @param needed The amount per period.
    error SubscriptionsPermitFailed(address token, uint256 allowance, uint256 needed);

    /// @notice No subscription has this id.
    /// @param id The id asked for.
    error SubscriptionsNotFound(uint256 id);

    /// @notice Subscription `id` was cancelled: it can never be collected again.
    /// @param id The subscription id.
    error SubscriptionsCancelledAlready(uint256 id);

    /// @notice The next period of subscription `id` is not due yet.
    /// @param id The subscription id.
    /// @param dueAt When it becomes due (the current {paidThrough}).
    /// @param timestamp The current block timestamp.
    error SubscriptionsNotDue(uint256 id, uint64 dueAt, uint256 timestamp);

    /// @notice The customer's allowance to this contract no longer covers one period (it was lowered or
    /// revoked). The period stays unpaid and collectable once the allowance is back.
    /// @param id The subscription id.
    /// @param allowance The customer's current allowance to this contract.
    /// @param needed The amount per period.
    error SubscriptionsInsufficientAllowance(uint256 id, uint256 allowance, uint256 needed);

    /// @notice The customer's token balance no longer covers one period. The period stays unpaid and
    /// collectable once the balance is back.
    /// @param id The subscription id.
    /// @param balance The customer's current balance.
    /// @param needed The amount per period.
    error SubscriptionsInsufficientBalance(uint256 id, uint256 balance, uint256 needed);

    /// @notice The token refused the pull although allowance and balance cover it (the token returned `false`,
    /// reverted for its own reasons, or is paused or blocklisting).
    /// @param id The subscription id.
    /// @param token The token.
    error SubscriptionsTransferFailed(uint256 id, address token);

    /// @notice `caller` is neither the customer nor the merchant of subscription `id`.
    /// @param id The subscription id.
    /// @param caller The account refused.
    error SubscriptionsUnauthorized(uint256 id, address caller);

    /// @notice {subscribe}, {subscribeWithPermit} or {collect} was entered again while one was in progress
    /// (through a token callback).
    error SubscriptionsReentrantCall();

    // ---------------------------------------------------------------------------------------------
    // Customer
    // ---------------------------------------------------------------------------------------------

    /// @notice Subscribe: authorize `merchant` (through anyone calling {collect}) to charge the caller exactly
    /// `amountPerPeriod` of `token` once per `interval` seconds, from `start` on, until cancelled. The caller
    /// must approve this contract for the token (for example for a year of periods, or more); the allowance is
    /// the customer's overall cap, the amount per period the per-period cap.
    /// @dev Reverts with `SubscriptionsZeroMerchant`, `SubscriptionsZeroAmount`, `SubscriptionsAmountTooLarge`
    /// (above `type(uint96).max`), `SubscriptionsZeroInterval`, `SubscriptionsStartInPast` and
    /// `SubscriptionsTokenNotAllowed` (not on the processor's allowlist). Does not charge anything: the first
    /// period is due at `start` and charged by the first {collect}. Emits {Subscribed}.
    /// @param merchant The merchant credited in the processor.
    /// @param token The allowlisted ERC-20 token.
    /// @param amountPerPeriod The exact amount charged per period (not zero, at most `type(uint96).max`).
    /// @param interval The period length in seconds (not zero; 30 days for "monthly" is the caller's choice).
    /// @param start When the first period starts and is due; 0 means now (the block's timestamp).
    /// @param ref The merchant's referenceerence, the `orderId` of every payment into the processor.
    /// @return id The new subscription's id.
    function subscribe(
        address merchant,
        address token,
        uint256 amountPerPeriod,
        uint64 interval,
        uint64 start,
        bytes32 ref
    ) external returns (uint256 id);

    /// @notice {subscribe} with an EIP-2612 permit giving this contract an allowance of `permitValue` in the
    /// same transaction.
    /// @dev If the permit fails (for example because someone front-ran it with the same signature), the
    /// subscription is still created when the allowance in place covers one period; otherwise it reverts with
    /// `SubscriptionsPermitFailed`.
    /// @param merchant The merchant credited in the processor.
    /// @param token The allowlisted ERC-20 token, which must implement EIP-2612.
    /// @param amountPerPeriod The exact amount charged per period.
    /// @param interval The period length in seconds.
    /// @param start When the first period starts; 0 means now.
    /// @param ref The merchant's referenceerence.
    /// @param permitValue The allowance the permit grants this contract (the customer's overall cap).
    /// @param deadline The permit deadline.
    /// @param v The permit signature's `v`.
    /// @param r The permit signature's `r`.
    /// @param s The permit signature's `s`.
    /// @return id The new subscription's id.
    function subscribeWithPermit(
        address merchant,
        address token,
        uint256 amountPerPeriod,
        uint64 interval,
        uint64 start,
        bytes32 ref,
        uint256 permitValue,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 id);

    /// @notice Cancel subscription `id`: no period is ever collected again. One call, by the customer or the
    /// merchant. Periods already paid stay paid ({paidThrough} is unchanged).
    /// @dev Reverts with `SubscriptionsNotFound`, `SubscriptionsUnauthorized` for any other caller and
    /// `SubscriptionsCancelledAlready` for a second cancel. Emits {Cancelled}. Lowering the allowance to this
    /// contract stops collections too, but leaves the subscription open.
    /// @param id The subscription id.
    function cancel(uint256 id) external;

    // ---------------------------------------------------------------------------------------------
    // Anyone
    // ---------------------------------------------------------------------------------------------

    /// @notice Charge the oldest unpaid period of subscription `id`, if it is due: pull exactly
    /// `amountPerPeriod` from the customer and pay it into the processor for the merchant with
    /// `payToken(token, amountPerPeriod, merchant, ref)`. Anyone may call it; the caller chooses nothing
    /// but the timing, and pays nothing but gas.
    /// @dev Reverts, leaving the period unpaid, with `SubscriptionsNotFound`, `SubscriptionsCancelledAlready`,
    /// `SubscriptionsNotDue` (before the period's start), `SubscriptionsInsufficientAllowance` or
    /// `SubscriptionsInsufficientBalance` (the customer lowered its allowance or balance),
    /// `SubscriptionsTransferFailed` (the token refused for another reason), or with the processor's error
    /// (`EnforcedPause` while paused, `PaymentProcessorTokenNotAllowed` if the token left the allowlist). A
    /// keeper tells these apart by simulating the call. Emits {Collected}, then the processor emits
    /// `PaymentReceived`.
    /// @param id The subscription id.
    function collect(uint256 id) external;

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @notice The end of the last paid period of subscription `id` (its start if nothing was paid yet; 0 for an
    /// unknown id). Access to what the subscription pays for is paid while `block.timestamp < paidThrough(id)`.
    /// @dev A contract gating access on it must also check the terms with {getSubscription} (merchant, token,
    /// amount per period): anyone can create a subscription to anyone.
    /// @param id The subscription id.
    /// @return The paid-through timestamp.
    function paidThrough(uint256 id) external view returns (uint64);

    /// @notice Subscription `id`'s terms and state (all zero for an unknown id).
    /// @param id The subscription id.
    /// @return The subscription.
    function getSubscription(uint256 id) external view returns (Subscription memory);

    /// @notice The number of subscriptions created so far (the last id).
    /// @return The count.
    function subscriptionCount() external view returns (uint256);

    /// @notice The processor every collection pays into.
    /// @return The processor.
    function processor() external view returns (IPaymentProcessor);
}
