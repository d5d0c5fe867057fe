// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title NoReturnToken
/// @notice TEST ONLY. A minimal ERC-20-like token whose `transfer` returns nothing (like USDT on mainnet),
/// to check that the deposit init code accepts "no return data" as success, as SafeERC20 does.
contract NoReturnToken {
    error NoReturnTokenInsufficientBalance();

    // solhint-disable-next-line gas-indexed-events
    event Transfer(address indexed from, address indexed to, uint256 value);

    mapping(address account => uint256) public balanceOf;

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function transfer(address to, uint256 value) external {
        if (balanceOf[msg.sender] < value) revert NoReturnTokenInsufficientBalance();
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
        emit Transfer(msg.sender, to, value);
    }
}
