// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title FalseReturningToken
/// @notice TEST ONLY. A misbehaving ERC-20 with switches:
/// - `returnFalse`: `transfer`/`transferFrom` return false without moving anything (instead of reverting);
/// - `breakBalanceOf`: `balanceOf` reverts;
/// - `clawBack`: `transferFrom` also takes twice `value` back from the recipient, so the recipient's balance
///   goes down during a transfer to it.
contract FalseReturningToken is ERC20 {
    error FalseReturningTokenBroken();

    bool public returnFalse;
    bool public breakBalanceOf;
    bool public clawBack;

    constructor() ERC20("False Token", "FALSE") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setModes(bool returnFalse_, bool breakBalanceOf_, bool clawBack_) external {
        returnFalse = returnFalse_;
        breakBalanceOf = breakBalanceOf_;
        clawBack = clawBack_;
    }

    function balanceOf(address account) public view override returns (uint256) {
        if (breakBalanceOf) revert FalseReturningTokenBroken();
        return super.balanceOf(account);
    }

    function transfer(address to, uint256 value) public override returns (bool) {
        if (returnFalse) return false;
        return super.transfer(to, value);
    }

    function transferFrom(address from, address to, uint256 value) public override returns (bool) {
        if (returnFalse) return false;
        bool ok = super.transferFrom(from, to, value);
        if (clawBack) _burn(to, 2 * value);
        return ok;
    }
}
