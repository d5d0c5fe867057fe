// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title MinimalPay
/// @notice TEST ONLY. The gas benchmark's reference: the least a payment contract can do (add to a mapping,
/// emit the same event as {IPaymentProcessor-PaymentReceived}). No checks, no pause, no withdrawals.
/// The difference between its gas figures and {PaymentProcessor}'s is the price of the safety features.
contract MinimalPay {
    event PaymentReceived(
        address indexed merchant,
        bytes32 indexed orderId,
        address indexed payer,
        address token,
        uint256 amount
    );

    mapping(address merchant => uint256 balance) internal _balances;

    function pay(address merchant, bytes32 orderId) external payable {
        _balances[merchant] += msg.value;
        emit PaymentReceived(merchant, orderId, msg.sender, address(0), msg.value);
    }
}
