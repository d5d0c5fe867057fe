// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title SubscriptionsPeriods (model-checking harness; never deployed, never compiled by `hardhat build`)
/// @notice The period arithmetic of `contracts/subscriptions/Subscriptions.sol` (`_create` and `collect`, up to
/// the token transfers), with the properties as assertions, for `npm run verify:smt`.
/// @dev The lines between `<verbatim>` markers are the production lines; `npm run verify:smt` fails if any of
/// them no longer appears, in order, in Subscriptions.sol. Left out, and why: the processor's allowlist read in
/// `_create` and the two token transfers at the end of `collect` are external calls made after every effect
/// (checks-effects-interactions): they cannot change what is asserted here, and the reentrancy guard keeps
/// them from re-entering `collect`. The ghost `_charged` counts the successful collections of each id; it is
/// incremented unchecked, because its no-wrap is S5 itself (equal to the `uint32` period counter), not a
/// property of production.
/// Production writes a subscription's fields through a `storage` pointer (`sub.paidThrough = …` with
/// `Subscription storage sub = _subscriptions[id]`); by the language's definition that is the write
/// `_subscriptions[id].paidThrough = …`, and the harness writes it in that form (and reads the fields back
/// from the mapping): solc 0.8.30's SMTChecker models a write through a local storage pointer by forgetting
/// the whole of `_subscriptions`, after which no property relating stored subscriptions (S4, S5) can hold.
contract SubscriptionsPeriods {
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

    uint256 private _count;
    mapping(uint256 id => Subscription) private _subscriptions;
    /// @dev Ghost: successful collections per id.
    mapping(uint256 id => uint256) private _charged;

    error SubscriptionsNotFound(uint256 id);
    error SubscriptionsCancelledAlready(uint256 id);
    error SubscriptionsNotDue(uint256 id, uint64 dueAt, uint256 now_);
    error SubscriptionsZeroMerchant();
    error SubscriptionsZeroAmount();
    error SubscriptionsAmountTooLarge(uint256 amount, uint256 max);
    error SubscriptionsZeroInterval();
    error SubscriptionsStartInPast(uint64 start, uint256 now_);

    function subscribe(
        address merchant,
        address token,
        uint256 amountPerPeriod,
        uint64 interval,
        uint64 start,
        bytes32 ref
    ) external returns (uint256 id) {
        // <verbatim Subscriptions.sol>
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
        // </verbatim>
        require(_count < type(uint64).max); // one id per subscription, each costing 4 cold SSTOREs
        // <verbatim Subscriptions.sol>
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
        // </verbatim>
        /// @property S1 a new subscription has a nonzero id, a nonzero interval and no period charged
        assert(id != 0 && _subscriptions[id].interval != 0 && _subscriptions[id].periodsCollected == 0);
    }

    function cancel(uint256 id) external {
        // <verbatim Subscriptions.sol>
        Subscription storage sub = _subscriptions[id];
        address customer = sub.customer;
        if (customer == address(0)) revert SubscriptionsNotFound(id);
        // </verbatim>
        require(msg.sender == customer || msg.sender == sub.merchant);
        // <verbatim Subscriptions.sol>
        if (sub.cancelled) revert SubscriptionsCancelledAlready(id);
        // </verbatim>
        // Production: `sub.cancelled = true;` (see the header).
        _subscriptions[id].cancelled = true;
    }

    function collect(uint256 id) external {
        uint256 chargedBefore = _charged[id];
        // <verbatim Subscriptions.sol>
        Subscription storage sub = _subscriptions[id];
        // Checks. Slot 0, then slot 1.
        address customer = sub.customer;
        if (customer == address(0)) revert SubscriptionsNotFound(id);
        uint64 dueAt = sub.paidThrough;
        uint32 period = sub.periodsCollected;
        if (sub.cancelled) revert SubscriptionsCancelledAlready(id);
        if (block.timestamp < dueAt) revert SubscriptionsNotDue(id, dueAt, block.timestamp);
        // </verbatim>
        // <verbatim Subscriptions.sol>
        // smt: reverts by design (checked: absurd start plus interval beyond 2^64 - 1 reverts instead of wrapping)
        uint64 newPaidThrough = dueAt + sub.interval;
        // </verbatim>
        // Production: `sub.paidThrough = newPaidThrough;` and `sub.periodsCollected = period + 1;` (see the header).
        _subscriptions[id].paidThrough = newPaidThrough;
        // smt: reverts by design (checked: the 2^32-th period reverts instead of wrapping)
        _subscriptions[id].periodsCollected = period + 1;
        // <verbatim Subscriptions.sol>
        uint256 amount = sub.amountPerPeriod;
        // </verbatim>
        unchecked {
            _charged[id] = chargedBefore + 1;
        }

        /// @property S2 a period is never charged before it starts
        assert(block.timestamp >= dueAt);
        /// @property S3 a collection charges exactly one period, the next one (the counter moves by one)
        assert(
            _subscriptions[id].periodsCollected == period + 1 && amount == _subscriptions[id].amountPerPeriod
        );
        /// @property S4 the period's end moves forward by exactly one interval, so the same period can never be collected twice
        assert(
            _subscriptions[id].paidThrough == dueAt + _subscriptions[id].interval &&
                _subscriptions[id].paidThrough > dueAt
        );
        /// @property S5 the number of successful collections equals the period counter (no period charged twice)
        assert(_charged[id] == _subscriptions[id].periodsCollected);
    }
}
