// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title Vm
/// @notice The subset of the Foundry cheatcodes (served by Hardhat's EDR test runner at the address below)
/// that this project's Solidity tests use. forge-std is not installable here, so this small interface
/// replaces it; the signatures are Foundry's, so the calls behave exactly as documented for Foundry.
interface Vm {
    // Callers and environment
    function prank(address msgSender) external;
    function startPrank(address msgSender) external;
    function stopPrank() external;
    function deal(address account, uint256 newBalance) external;
    function warp(uint256 newTimestamp) external;
    function chainId(uint256 newChainId) external;
    function label(address account, string calldata newLabel) external;
    function addr(uint256 privateKey) external pure returns (address keyAddr);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function load(address target, bytes32 slot) external view returns (bytes32 data);
    function etch(address target, bytes calldata newRuntimeBytecode) external;

    // Expectations
    function expectRevert() external;
    function expectRevert(bytes4 revertData) external;
    function expectRevert(bytes calldata revertData) external;
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData) external;
    function expectEmit(
        bool checkTopic1,
        bool checkTopic2,
        bool checkTopic3,
        bool checkData,
        address emitter
    ) external;
    function expectEmit(address emitter) external;

    // Fuzzing
    function assume(bool condition) external pure;

    // Formatting
    function toString(uint256 value) external pure returns (string memory);
    function toString(address value) external pure returns (string memory);
    function toString(bytes32 value) external pure returns (string memory);
}
