// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title MinimalTokenPay
/// @notice TEST ONLY. Benchmark reference for ERC-20 payments: a bare `transferFrom`, a mapping add and the same
/// event. No allowlist, no pause, no balance-delta measurement, no reentrancy guard, no return-value check.
contract MinimalTokenPay {
    event PaymentReceived(
        address indexed merchant,
        bytes32 indexed orderId,
        address indexed payer,
        address token,
        uint256 amount
    );

    mapping(address token => mapping(address merchant => uint256 balance)) internal _balances;

    function payToken(address token, uint256 amount, address merchant, bytes32 orderId) external {
        // Return value ignored on purpose: the reference does the bare minimum.
        IERC20(token).transferFrom(msg.sender, address(this), amount); // solhint-disable-line
        _balances[token][merchant] += amount;
        emit PaymentReceived(merchant, orderId, msg.sender, token, amount);
    }
}
