// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IPaymentProcessor} from "../interfaces/IPaymentProcessor.sol";

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

/// @title SweepProbe
/// @notice START-UP PROBE ONLY, never deployed: its creation code is run by `eth_simulateV1` or
/// `debug_traceCall` (server/src/deposits/probe.ts). The constructor sweeps the deposit address of
/// (`merchant`, `orderId`) once, with a {SweepProbeToken} (not allowlisted, so the sweep forwards it to the
/// merchant and needs no balance anywhere), and reverts if that sweep reverts. Run twice in two simulated
/// transactions, the second creation succeeds only when the chain deleted the deposit account after the
/// first sweep (EIP-6780: an account created and self-destructed in one transaction is deleted).
contract SweepProbe {
    constructor(IPaymentProcessor processor, address merchant, bytes32 orderId) {
        processor.sweepOrder(merchant, orderId, address(new SweepProbeToken(merchant)));
    }
}
