// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title ReentrantToken
/// @notice TEST ONLY. An ERC-20 that, in the middle of `transfer` or `transferFrom` (after moving the
/// tokens), calls `reentryTarget` with calldata chosen by the test, e.g. a second `payToken` that would double
/// count the balance delta, or a withdrawal. Records the outcome of the re-entrant call.
contract ReentrantToken is ERC20 {
    address public reentryTarget;
    bytes public reentryCalldata;
    uint256 public reentryValue;
    uint256 public reentryCount;
    bool public lastReentrySucceeded;
    bytes public lastReentryReturnData;

    constructor() ERC20("Reentrant Token", "REENT") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arm the attack: during the next transfer, call `target_` once with `data`.
    function arm(address target_, bytes calldata data) external {
        reentryTarget = target_;
        reentryCalldata = data;
        reentryValue = 0;
    }

    /// @notice Same as {arm}, sending `value` wei (from this token's own ETH) with the call, e.g. a `pay`
    /// during a deposit sweep.
    function armWithValue(address target_, bytes calldata data, uint256 value) external {
        reentryTarget = target_;
        reentryCalldata = data;
        reentryValue = value;
    }

    receive() external payable {}

    function transfer(address to, uint256 value) public override returns (bool) {
        bool ok = super.transfer(to, value);
        _reenter();
        return ok;
    }

    function transferFrom(address from, address to, uint256 value) public override returns (bool) {
        bool ok = super.transferFrom(from, to, value);
        _reenter();
        return ok;
    }

    function _reenter() private {
        bytes memory data = reentryCalldata;
        if (data.length == 0) return;
        delete reentryCalldata; // one re-entry per arming
        ++reentryCount;
        // solhint-disable-next-line avoid-low-level-calls
        (lastReentrySucceeded, lastReentryReturnData) = reentryTarget.call{value: reentryValue}(data);
    }
}
