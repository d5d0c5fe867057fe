// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title MockNodeInterface
/// @notice TEST ONLY. Stands in for Arbitrum's NodeInterface (a virtual contract at 0x…C8 that an Arbitrum node
/// answers for eth_call): put its runtime code at 0x00000000000000000000000000000000000000C8 with
/// hardhat_setCode and set the answers with `setAnswer`. Storage starts empty there, so the answers are
/// set after the code is placed.
contract MockNodeInterface {
    uint64 private _gasEstimateForL1;
    uint256 private _baseFee;
    uint256 private _l1BaseFeeEstimate;

    /// @notice Sets what the estimates answer.
    /// @param gasEstimateForL1 The L1 part of a transaction's gas, in L2 gas (the buffer B).
    /// @param baseFee The L2 gas price P.
    /// @param l1BaseFeeEstimate ArbOS's estimate of the L1 base fee.
    function setAnswer(uint64 gasEstimateForL1, uint256 baseFee, uint256 l1BaseFeeEstimate) external {
        _gasEstimateForL1 = gasEstimateForL1;
        _baseFee = baseFee;
        _l1BaseFeeEstimate = l1BaseFeeEstimate;
    }

    /// @notice NodeInterface.gasEstimateL1Component: the L1 part of a call's gas, without its L2 part.
    function gasEstimateL1Component(
        address,
        bool,
        bytes calldata
    ) external payable returns (uint64 gasEstimateForL1, uint256 baseFee, uint256 l1BaseFeeEstimate) {
        return (_gasEstimateForL1, _baseFee, _l1BaseFeeEstimate);
    }
}
