// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ISubscriptions} from "../interfaces/ISubscriptions.sol";

/// @title SubscriptionGate
/// @notice TEST ONLY. How a MERCHANT's own contract gates access on a TOKEN subscription: access is open while
/// the subscription is paid through a time after now and its terms are the merchant's (anyone can create a
/// subscription to anyone, for any amount, so the terms must be checked, not only `paidThrough`).
contract SubscriptionGate {
    /// @notice Access was refused for subscription `id`.
    error SubscriptionGateNoAccess(uint256 id);

    ISubscriptions public immutable SUBSCRIPTIONS;
    address public immutable MERCHANT;
    address public immutable TOKEN;
    uint256 public immutable MIN_AMOUNT_PER_PERIOD;
    uint64 public immutable MAX_INTERVAL;

    /// @notice The number of successful {enter} calls.
    uint256 public entries;

    constructor(
        ISubscriptions subscriptions_,
        address merchant_,
        address token_,
        uint256 minAmountPerPeriod_,
        uint64 maxInterval_
    ) {
        SUBSCRIPTIONS = subscriptions_;
        MERCHANT = merchant_;
        TOKEN = token_;
        MIN_AMOUNT_PER_PERIOD = minAmountPerPeriod_;
        MAX_INTERVAL = maxInterval_;
    }

    /// @notice Whether subscription `id` grants access right now.
    function hasAccess(uint256 id) public view returns (bool) {
        ISubscriptions.Subscription memory sub = SUBSCRIPTIONS.getSubscription(id);
        if (sub.merchant != MERCHANT || sub.token != TOKEN) return false;
        if (sub.amountPerPeriod < MIN_AMOUNT_PER_PERIOD || sub.interval > MAX_INTERVAL) return false;
        return block.timestamp < SUBSCRIPTIONS.paidThrough(id);
    }

    /// @notice A gated action: reverts without access.
    function enter(uint256 id) external {
        if (!hasAccess(id)) revert SubscriptionGateNoAccess(id);
        ++entries;
    }
}
