// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title ReentrantReceiver
/// @notice TEST ONLY. A merchant (or refund recipient) contract that, when it receives ETH, calls back into
/// the processor with calldata chosen by the test (a second withdrawal, a refund, a payment...). It records
/// whether the re-entrant call succeeded and what it returned, so tests can assert on it. In reject mode
/// it simply reverts on receipt.
contract ReentrantReceiver {
    /// @notice Thrown on ETH receipt in reject mode.
    error ReentrantReceiverRejected();

    address public immutable PROCESSOR;

    bytes public reentryCalldata;
    bool public rejectEther;
    uint256 public reentryCount;
    bool public lastReentrySucceeded;
    bytes public lastReentryReturnData;

    constructor(address processor_) {
        PROCESSOR = processor_;
    }

    /// @notice Arm the attack: on the next ETH receipt, call the processor once with `data`.
    function arm(bytes calldata data) external {
        reentryCalldata = data;
    }

    /// @notice Make every ETH receipt revert.
    function setRejectEther(bool reject) external {
        rejectEther = reject;
    }

    /// @notice Call the processor as this contract (to act as a merchant: withdraw, refund).
    function call(bytes calldata data) external payable returns (bytes memory) {
        (bool success, bytes memory returnData) = PROCESSOR.call{value: msg.value}(data); // solhint-disable-line avoid-low-level-calls
        if (!success) {
            assembly ("memory-safe") {
                revert(add(returnData, 0x20), mload(returnData))
            }
        }
        return returnData;
    }

    // solhint-disable-next-line no-complex-fallback
    receive() external payable {
        if (rejectEther) revert ReentrantReceiverRejected();
        bytes memory data = reentryCalldata;
        if (data.length == 0) return;
        delete reentryCalldata; // one re-entry per arming
        ++reentryCount;
        // solhint-disable-next-line avoid-low-level-calls
        (lastReentrySucceeded, lastReentryReturnData) = PROCESSOR.call(data);
    }
}
