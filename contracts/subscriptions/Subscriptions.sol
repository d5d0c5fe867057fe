// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IPaymentProcessor} from "../interfaces/IPaymentProcessor.sol";
import {ISubscriptions} from "../interfaces/ISubscriptions.sol";

/// @title Subscriptions
/// @notice Recurring token pulls, capped per period and bound on chain, paid into the {IPaymentProcessor}.
/// See {ISubscriptions}.
/// @dev Design notes:
/// - A separate contract bound to one processor (immutable), not functions added to the processor: the
///   processor's dispatch and `pay` gas stay as measured, and its audit surface is unchanged. The price is a
///   second token transfer per collection (customer -> this contract -> processor), because the processor
///   credits what arrives from `msg.sender`.
/// - No owner, no upgrade, no rescue: nobody but the customer's own approval moves customers' tokens, and
///   only to the processor, credited to the merchant fixed at subscribe.
/// - The contract approves the processor for `type(uint256).max` once per token (at the first subscription
///   in it, and again only if that allowance ever fell below `type(uint96).max`, the largest amount per
///   period), so a collection makes no approval call.
/// - A subscription is four storage slots, packed so that {collect} reads each once and writes only the
///   first (`paidThrough` and `periodsCollected` share it with `customer`): slot 0 customer | paidThrough |
///   periodsCollected, slot 1 merchant | interval | cancelled, slot 2 token | amountPerPeriod, slot 3
///   ref. The start is not stored: it is `paidThrough - periodsCollected * interval` (the
///   {Subscribed} event carries it).
contract Subscriptions is ISubscriptions {
    using SafeERC20 for IERC20;

    /// @dev The processor every collection pays into.
    IPaymentProcessor private immutable _PROCESSOR;

    /// @dev The number of subscriptions created; ids run from 1 to `_count` (0 is never an id).
    uint256 private _count;

    /// @dev id => subscription. `customer == address(0)` means "no such id".
    mapping(uint256 id => Subscription) private _subscriptions;

    /// @dev Reentrancy lock in transient storage (EIP-1153), as in `PaymentProcessor`: OpenZeppelin's
    /// `ReentrancyGuardTransient` semantics, written with the `transient` keyword because solc 0.8.30 warns on
    /// inline-assembly `tstore` and this project builds with warnings as errors. A full word, so writing it
    /// needs no read first.
    uint256 private transient _lock;

    /// @dev Prevents a guarded function from being entered again before it returns.
    modifier nonReentrant() {
        if (_lock != 0) revert SubscriptionsReentrantCall();
        _lock = 1;
        _;
        _lock = 0;
    }

    /// @param paymentProcessor The processor that credits merchants (its allowlist and pause apply).
    constructor(IPaymentProcessor paymentProcessor) {
        _PROCESSOR = paymentProcessor;
    }

    // ---------------------------------------------------------------------------------------------
    // Customer
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc ISubscriptions
    function subscribe(
        address merchant,
        address token,
        uint256 amountPerPeriod,
        uint64 interval,
        uint64 start,
        bytes32 ref
    ) external nonReentrant returns (uint256 id) {
        id = _create(merchant, token, amountPerPeriod, interval, start, ref);
        _approveProcessor(token);
    }

    /// @inheritdoc ISubscriptions
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
    ) external nonReentrant returns (uint256 id) {
        id = _create(merchant, token, amountPerPeriod, interval, start, ref);
        // A permit that fails (front-run by someone who copied it from the mempool, expired, or a token
        // without permit) must not block a subscription whose allowance is already in place.
        // solhint-disable-next-line no-empty-blocks
        try IERC20Permit(token).permit(msg.sender, address(this), permitValue, deadline, v, r, s) {} catch {
            uint256 allowance = IERC20(token).allowance(msg.sender, address(this));
            if (allowance < amountPerPeriod)
                revert SubscriptionsPermitFailed(token, allowance, amountPerPeriod);
        }
        _approveProcessor(token);
    }

    /// @inheritdoc ISubscriptions
    function cancel(uint256 id) external {
        Subscription storage sub = _subscriptions[id];
        address customer = sub.customer;
        if (customer == address(0)) revert SubscriptionsNotFound(id);
        if (msg.sender != customer && msg.sender != sub.merchant)
            revert SubscriptionsUnauthorized(id, msg.sender);
        if (sub.cancelled) revert SubscriptionsCancelledAlready(id);
        sub.cancelled = true;
        emit Cancelled(id, msg.sender, sub.paidThrough);
    }

    // ---------------------------------------------------------------------------------------------
    // Anyone
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc ISubscriptions
    function collect(uint256 id) external nonReentrant {
        Subscription storage sub = _subscriptions[id];
        // Checks. Slot 0, then slot 1.
        address customer = sub.customer;
        if (customer == address(0)) revert SubscriptionsNotFound(id);
        uint64 dueAt = sub.paidThrough;
        uint32 period = sub.periodsCollected;
        if (sub.cancelled) revert SubscriptionsCancelledAlready(id);
        if (block.timestamp < dueAt) revert SubscriptionsNotDue(id, dueAt, block.timestamp);

        // Effects: the period is marked paid before any external call, so no reentry (were the guard absent)
        // could charge it again. Checked arithmetic on purpose (a few gas): `dueAt + interval` only exceeds
        // 2^64 - 1 for absurd starts and intervals, and `period + 1` after 2^32 - 1 periods; both then revert
        // instead of wrapping, which would make a period chargeable twice.
        uint64 newPaidThrough = dueAt + sub.interval;
        sub.paidThrough = newPaidThrough;
        sub.periodsCollected = period + 1;
        uint256 amount = sub.amountPerPeriod;
        emit Collected(id, period, newPaidThrough, amount);

        // Interactions: pull exactly one period from the customer, then pay it on. This contract holds no tokens
        // between transactions, so `payToken` can only move the amount just pulled.
        IERC20 token = IERC20(sub.token);
        if (!token.trySafeTransferFrom(customer, address(this), amount))
            _revertPullFailed(id, token, customer, amount);
        _PROCESSOR.payToken(address(token), amount, sub.merchant, sub.ref);
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc ISubscriptions
    function paidThrough(uint256 id) external view returns (uint64) {
        return _subscriptions[id].paidThrough;
    }

    /// @inheritdoc ISubscriptions
    function getSubscription(uint256 id) external view returns (Subscription memory) {
        return _subscriptions[id];
    }

    /// @inheritdoc ISubscriptions
    function subscriptionCount() external view returns (uint256) {
        return _count;
    }

    /// @inheritdoc ISubscriptions
    function processor() external view returns (IPaymentProcessor) {
        return _PROCESSOR;
    }

    // ---------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------

    /// @dev Validates the terms, stores the subscription for `msg.sender` and emits {Subscribed}. The only
    /// external call is the allowlist read (a view of the bound processor).
    function _create(
        address merchant,
        address token,
        uint256 amountPerPeriod,
        uint64 interval,
        uint64 start,
        bytes32 ref
    ) private returns (uint256 id) {
        if (merchant == address(0)) revert SubscriptionsZeroMerchant();
        if (amountPerPeriod == 0) revert SubscriptionsZeroAmount();
        if (amountPerPeriod > type(uint96).max)
            revert SubscriptionsAmountTooLarge(amountPerPeriod, type(uint96).max);
        if (interval == 0) revert SubscriptionsZeroInterval();
        if (start == 0) {
            // Cannot truncate before the year 584,942,417,355: block timestamps are far below 2^64.
            start = uint64(block.timestamp);
        } else if (start < block.timestamp) {
            revert SubscriptionsStartInPast(start, block.timestamp);
        }
        if (!_PROCESSOR.isTokenAllowed(token)) revert SubscriptionsTokenNotAllowed(token);

        // Cannot overflow: one increment per subscription, each paying at least 4 cold SSTOREs.
        unchecked {
            id = ++_count;
        }
        _subscriptions[id] = Subscription({
            customer: msg.sender,
            paidThrough: start,
            periodsCollected: 0,
            merchant: merchant,
            interval: interval,
            cancelled: false,
            token: token,
            // Cannot truncate: checked against `type(uint96).max` above.
            amountPerPeriod: uint96(amountPerPeriod),
            ref: ref
        });
        emit Subscribed(id, merchant, ref, msg.sender, token, amountPerPeriod, interval, start);
    }

    /// @dev Lets the processor pull `token` from this contract for every future collection (see the contract
    /// notes). Only called after the token was found on the processor's allowlist.
    function _approveProcessor(address token) private {
        address spender = address(_PROCESSOR);
        if (IERC20(token).allowance(address(this), spender) < type(uint96).max) {
            IERC20(token).forceApprove(spender, type(uint256).max);
        }
    }

    /// @dev Reverts with the reason the pull of `amount` from `customer` failed, so that a keeper simulating
    /// {collect} can tell a lowered allowance from an emptied balance from a token that refused. Runs only
    /// on failure: the success path pays for none of these reads.
    function _revertPullFailed(uint256 id, IERC20 token, address customer, uint256 amount) private view {
        uint256 allowance = token.allowance(customer, address(this));
        if (allowance < amount) revert SubscriptionsInsufficientAllowance(id, allowance, amount);
        uint256 balance = token.balanceOf(customer);
        if (balance < amount) revert SubscriptionsInsufficientBalance(id, balance, amount);
        revert SubscriptionsTransferFailed(id, address(token));
    }
}
