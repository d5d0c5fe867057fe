// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title MinimalVault
/// @notice TEST ONLY. Benchmark reference for withdrawals and refunds: debit a mapping, send, emit.
contract MinimalVault {
    // solhint-disable-next-line gas-indexed-events
    event Withdrawn(address indexed merchant, address indexed token, address to, uint256 amount);
    event Refunded(
        address indexed merchant,
        bytes32 indexed orderId,
        address indexed to,
        address token,
        uint256 amount
    );

    mapping(address merchant => uint256 balance) internal _balances;

    function pay(address merchant, bytes32) external payable {
        _balances[merchant] += msg.value;
    }

    function withdraw(address, uint256 amount, address payable to) external {
        _balances[msg.sender] -= amount;
        emit Withdrawn(msg.sender, address(0), to, amount);
        (bool ok, ) = to.call{value: amount}(""); // solhint-disable-line avoid-low-level-calls
        ok;
    }

    function refund(address, bytes32 orderId, address payable to, uint256 amount) external {
        _balances[msg.sender] -= amount;
        emit Refunded(msg.sender, orderId, to, address(0), amount);
        (bool ok, ) = to.call{value: amount}(""); // solhint-disable-line avoid-low-level-calls
        ok;
    }
}
