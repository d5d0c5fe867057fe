// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title FeeOnTransferToken
/// @notice TEST ONLY. An ERC-20 that burns `feeBps` basis points of every transfer (mint and burn excluded),
/// so the recipient gets less than `value`. `feeBps == 10_000` burns everything.
contract FeeOnTransferToken is ERC20 {
    error FeeOnTransferTokenFeeTooHigh(uint256 feeBps);

    uint256 public feeBps;

    constructor(uint256 feeBps_) ERC20("Fee Token", "FEE") {
        setFeeBps(feeBps_);
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setFeeBps(uint256 feeBps_) public {
        if (feeBps_ > 10_000) revert FeeOnTransferTokenFeeTooHigh(feeBps_);
        feeBps = feeBps_;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0)) {
            super._update(from, to, value);
            return;
        }
        uint256 fee = (value * feeBps) / 10_000;
        super._update(from, address(0), fee);
        super._update(from, to, value - fee);
    }
}
