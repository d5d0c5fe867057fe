// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title TransferProbe
/// @notice START-UP PROBE ONLY, never deployed: its runtime code is placed at a holder address by an
/// `eth_call` state override (server/src/runtime/checks.ts), together with a token balance for it, to see
/// whether a transfer of the token moves exactly the amount sent.
contract TransferProbe {
    /// @notice The holder's token balance is not `amount`: the state override missed the balance slot.
    error TransferProbeNoBalance(uint256 balance);
    /// @notice The transfer reverted or returned false.
    error TransferProbeTransferFailed();

    /// @notice Transfers `amount` of `token` from this address to `to`.
    /// @return sent How much this address's balance went down.
    /// @return received How much `to`'s balance went up.
    function probe(
        IERC20 token,
        address to,
        uint256 amount
    ) external returns (uint256 sent, uint256 received) {
        uint256 before = token.balanceOf(address(this));
        if (before != amount) revert TransferProbeNoBalance(before);
        uint256 toBefore = token.balanceOf(to);
        // A low-level call: tokens that return nothing from `transfer` (USDT style) must be measured too.
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory answer) = address(token).call(abi.encodeCall(IERC20.transfer, (to, amount)));
        if (!ok || (answer.length != 0 && !abi.decode(answer, (bool)))) revert TransferProbeTransferFailed();
        sent = before - token.balanceOf(address(this));
        received = token.balanceOf(to) - toBefore;
    }
}
