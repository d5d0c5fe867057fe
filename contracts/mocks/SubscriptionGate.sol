// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ISubscriptions} from "../interfaces/ISubscriptions.sol";

/// @title SubscriptionGate
/// @notice TEST ONLY. How a merchant's own contract gates access on a token subscription: access is open while
/// the subscription is paid through a time after now and its terms are the merchant's (anyone can create a
/// subscription to anyone, for any amount, so the terms must be checked, not only `paidThrough`).
contract SubscriptionGate {
    /// @notice Access was refused for subscription `id`.
    error SubscriptionGateNoAccess(uint256 id);

    ISubscriptions public immutable subscriptions;
    address public immutable merchant;
    address public immutable token;
    uint256 public immutable minAmountPerPeriod;
    uint64 public immutable maxInterval;

    /// @notice The number of successful {enter} calls.
    uint256 public entries;

    constructor(
        ISubscriptions subscriptions_,
        address merchant_,
        address token_,
        uint256 minAmountPerPeriod_,
        uint64 maxInterval_
    ) {
        subscriptions = subscriptions_;
        merchant = merchant_;
        token = token_;
        minAmountPerPeriod = minAmountPerPeriod_;
        maxInterval = maxInterval_;
    }

    /// @notice Whether subscription `id` grants access right now.
    function hasAccess(uint256 id) public view returns (bool) {
        ISubscriptions.Subscription memory sub = subscriptions.getSubscription(id);
        if (sub.merchant != merchant || sub.token != token) return false;
        if (sub.amountPerPeriod < minAmountPerPeriod || sub.interval > maxInterval) return false;
        return block.timestamp < subscriptions.paidThrough(id);
    }

    /// @notice A gated action: reverts without access.
    function enter(uint256 id) external {
        if (!hasAccess(id)) revert SubscriptionGateNoAccess(id);
        ++entries;
    }
}
