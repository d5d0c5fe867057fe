// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IPaymentProcessor} from "../interfaces/IPaymentProcessor.sol";
import {SweepProbeToken} from "./SweepProbeToken.sol";

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
