// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IPaymentProcessor} from "../interfaces/IPaymentProcessor.sol";

/// @notice Test-only: emits many payments in one transaction, so benchmarks can fill a chain with
///         tens of thousands of PaymentReceived events in a few hundred blocks.
contract BatchPayer {
    /// @notice Pays `count` orders numbered from `firstOrderId`, `amount` wei each, to `merchant`.
    function payMany(
        IPaymentProcessor processor,
        address merchant,
        uint256 firstOrderId,
        uint256 count,
        uint256 amount
    ) external payable {
        for (uint256 i = 0; i < count; ++i) {
            processor.pay{value: amount}(merchant, bytes32(firstOrderId + i));
        }
    }
}
