// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title MinimalSubscriptions
/// @notice TEST ONLY. Benchmark reference for `Subscriptions.collect`: the same packed terms, the due check, the
/// paid-through update and the same `Collected` event, with one bare `transferFrom` straight into this contract
/// and a mapping add as the credit. No processor hop (one token transfer instead of two), no cancel flag, no
/// reentrancy guard, no return-value check, no failure diagnosis.
contract MinimalSubscriptions {
    struct Sub {
        address customer;
        uint64 paidThrough;
        uint32 periodsCollected;
        address merchant;
        uint64 interval;
        address token;
        uint96 amountPerPeriod;
        bytes32 ref;
    }

    // solhint-disable-next-line gas-indexed-events
    event Collected(uint256 indexed id, uint256 period, uint64 paidThrough, uint256 amount);

    error NotDue();

    uint256 internal _count;
    mapping(uint256 id => Sub) internal _subs;
    mapping(address token => mapping(address merchant => uint256 balance)) internal _balances;

    function subscribe(
        address merchant,
        address token,
        uint96 amount,
        uint64 interval
    ) external returns (uint256 id) {
        id = ++_count;
        _subs[id] = Sub(
            msg.sender,
            uint64(block.timestamp),
            0,
            merchant,
            interval,
            token,
            amount,
            bytes32(id)
        );
    }

    function collect(uint256 id) external {
        Sub storage s = _subs[id];
        uint64 dueAt = s.paidThrough;
        if (block.timestamp < dueAt) revert NotDue();
        uint32 period = s.periodsCollected;
        uint64 next = dueAt + s.interval;
        s.paidThrough = next;
        s.periodsCollected = period + 1;
        uint256 amount = s.amountPerPeriod;
        // Return value ignored on purpose: the reference does the bare minimum.
        IERC20(s.token).transferFrom(s.customer, address(this), amount); // solhint-disable-line
        _balances[s.token][s.merchant] += amount;
        emit Collected(id, period, next, amount);
    }
}
