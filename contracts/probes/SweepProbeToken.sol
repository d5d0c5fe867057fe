// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title SweepProbeToken
/// @notice START-UP PROBE ONLY, never deployed: created by {SweepProbe} inside a simulated call. Every
/// address but `merchant` holds exactly one unit, and `transfer` to `merchant` always succeeds and counts.
/// This lets a sweep of a deposit address run with no ETH and no real token anywhere.
contract SweepProbeToken {
    address private immutable _MERCHANT;
    uint256 private _moved;

    constructor(address merchant) {
        _MERCHANT = merchant;
    }

    function balanceOf(address account) external view returns (uint256) {
        return account == _MERCHANT ? _moved : 1;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        if (to == _MERCHANT) _moved += amount;
        return true;
    }
}
