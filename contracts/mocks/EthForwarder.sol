// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Test-only: a contract wallet that passes ETH on with an internal call, as smart-contract wallets
///         and exchanges' batch contracts do. The recipient sees no transaction of its own, only a balance.
contract EthForwarder {
    /// @notice The forwarded call failed.
    error EthForwarderCallFailed(address to, uint256 amount);

    /// @notice Sends `msg.value` to `to` with a plain call (no data).
    function forward(address payable to) external payable {
        (bool ok, ) = to.call{value: msg.value}("");
        if (!ok) revert EthForwarderCallFailed(to, msg.value);
    }
}
