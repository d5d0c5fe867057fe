// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title Multicall3
/// @notice LOCAL DEV ONLY. An ABI-compatible stand-in for Multicall3 (mds1/multicall, deployed on public
/// networks at 0xcA11bde05977b3631167028862bE2a173976CA11), deployed by the `LocalDev` Ignition module so that
/// the server can batch reads on the local chain exactly as it does on a public one, above all
/// `getEthBalance` for many deposit addresses in one `eth_call`. Same function signatures, return types and
/// semantics as the original; failures revert with custom errors instead of revert strings (this project
/// lints for custom errors). Written in this repository: no npm package ships the original source.
// solhint-disable avoid-low-level-calls
contract Multicall3 {
    struct Call {
        address target;
        bytes callData;
    }

    struct Call3 {
        address target;
        bool allowFailure;
        bytes callData;
    }

    struct Call3Value {
        address target;
        bool allowFailure;
        uint256 value;
        bytes callData;
    }

    struct Result {
        bool success;
        bytes returnData;
    }

    /// @notice Call number `index` failed and its failure was not allowed.
    error Multicall3CallFailed(uint256 index);

    /// @notice The `value`s of `aggregate3Value` do not add up to `msg.value`.
    error Multicall3ValueMismatch(uint256 sent, uint256 needed);

    /// @notice Calls every target in order; reverts if any call fails.
    function aggregate(
        Call[] calldata calls
    ) public payable returns (uint256 blockNumber, bytes[] memory returnData) {
        blockNumber = block.number;
        returnData = new bytes[](calls.length);
        for (uint256 i; i < calls.length; ++i) {
            bool success;
            (success, returnData[i]) = calls[i].target.call(calls[i].callData);
            if (!success) revert Multicall3CallFailed(i);
        }
    }

    /// @notice Calls every target in order; reverts on a failure only if `requireSuccess`.
    function tryAggregate(
        bool requireSuccess,
        Call[] calldata calls
    ) public payable returns (Result[] memory returnData) {
        returnData = new Result[](calls.length);
        for (uint256 i; i < calls.length; ++i) {
            (bool success, bytes memory ret) = calls[i].target.call(calls[i].callData);
            if (requireSuccess && !success) revert Multicall3CallFailed(i);
            returnData[i] = Result(success, ret);
        }
    }

    /// @notice {tryAggregate} with the block number and hash.
    function tryBlockAndAggregate(
        bool requireSuccess,
        Call[] calldata calls
    ) public payable returns (uint256 blockNumber, bytes32 blockHash, Result[] memory returnData) {
        blockNumber = block.number;
        blockHash = blockhash(block.number);
        returnData = tryAggregate(requireSuccess, calls);
    }

    /// @notice {tryBlockAndAggregate} requiring every call to succeed.
    function blockAndAggregate(
        Call[] calldata calls
    ) public payable returns (uint256 blockNumber, bytes32 blockHash, Result[] memory returnData) {
        (blockNumber, blockHash, returnData) = tryBlockAndAggregate(true, calls);
    }

    /// @notice Calls every target in order; each call says whether it may fail.
    function aggregate3(Call3[] calldata calls) public payable returns (Result[] memory returnData) {
        returnData = new Result[](calls.length);
        for (uint256 i; i < calls.length; ++i) {
            Call3 calldata c = calls[i];
            (bool success, bytes memory ret) = c.target.call(c.callData);
            if (!c.allowFailure && !success) revert Multicall3CallFailed(i);
            returnData[i] = Result(success, ret);
        }
    }

    /// @notice {aggregate3} with a value per call; the values must add up to `msg.value`.
    function aggregate3Value(
        Call3Value[] calldata calls
    ) public payable returns (Result[] memory returnData) {
        uint256 valueAccumulator;
        returnData = new Result[](calls.length);
        for (uint256 i; i < calls.length; ++i) {
            Call3Value calldata c = calls[i];
            valueAccumulator += c.value;
            (bool success, bytes memory ret) = c.target.call{value: c.value}(c.callData);
            if (!c.allowFailure && !success) revert Multicall3CallFailed(i);
            returnData[i] = Result(success, ret);
        }
        if (msg.value != valueAccumulator) revert Multicall3ValueMismatch(msg.value, valueAccumulator);
    }

    function getBlockHash(uint256 blockNumber) public view returns (bytes32 blockHash) {
        blockHash = blockhash(blockNumber);
    }

    function getBlockNumber() public view returns (uint256 blockNumber) {
        blockNumber = block.number;
    }

    function getCurrentBlockCoinbase() public view returns (address coinbase) {
        coinbase = block.coinbase;
    }

    /// @notice Since the merge this opcode returns PREVRANDAO (the original's name is kept for the ABI).
    function getCurrentBlockDifficulty() public view returns (uint256 difficulty) {
        difficulty = block.prevrandao;
    }

    function getCurrentBlockGasLimit() public view returns (uint256 gaslimit) {
        gaslimit = block.gaslimit;
    }

    function getCurrentBlockTimestamp() public view returns (uint256 timestamp) {
        timestamp = block.timestamp;
    }

    /// @notice The ETH balance of `addr`: batch many of these through {aggregate3} to watch many addresses.
    function getEthBalance(address addr) public view returns (uint256 balance) {
        balance = addr.balance;
    }

    function getLastBlockHash() public view returns (bytes32 blockHash) {
        unchecked {
            blockHash = blockhash(block.number - 1);
        }
    }

    function getBasefee() public view returns (uint256 basefee) {
        basefee = block.basefee;
    }

    function getChainId() public view returns (uint256 chainid) {
        chainid = block.chainid;
    }
}
