// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AggregatorV3Interface} from "../interfaces/AggregatorV3Interface.sol";

/// @title MockV3Aggregator
/// @notice TEST AND LOCAL-DEV ONLY. A Chainlink-style price feed whose answer anyone can set.
contract MockV3Aggregator is AggregatorV3Interface {
    /// @notice Thrown by `getRoundData` for a round that does not exist.
    error MockV3AggregatorNoDataPresent(uint80 roundId);

    uint8 private immutable _DECIMALS;

    uint80 public latestRound;
    int256 public latestAnswer;
    uint256 public latestTimestamp;

    mapping(uint80 roundId => int256 answer) public getAnswer;
    mapping(uint80 roundId => uint256 updatedAt) public getTimestamp;
    mapping(uint80 roundId => uint256 startedAt) private _startedAt;

    string private _description = "v0.8/tests/MockV3Aggregator.sol";

    /// @param decimals_ Decimals of the answer (8 for USD feeds).
    /// @param initialAnswer First answer, e.g. 3000_00000000 for $3,000.00 with 8 decimals.
    constructor(uint8 decimals_, int256 initialAnswer) {
        _DECIMALS = decimals_;
        updateAnswer(initialAnswer);
    }

    /// @notice Start a new round with `answer`, updated now.
    function updateAnswer(int256 answer) public {
        updateRoundData(latestRound + 1, answer, block.timestamp, block.timestamp);
    }

    /// @notice Write round `roundId` with explicit timestamps (to simulate stale or future data).
    function updateRoundData(uint80 roundId, int256 answer, uint256 updatedAt, uint256 startedAt) public {
        latestRound = roundId;
        latestAnswer = answer;
        latestTimestamp = updatedAt;
        getAnswer[roundId] = answer;
        getTimestamp[roundId] = updatedAt;
        _startedAt[roundId] = startedAt;
    }

    /// @inheritdoc AggregatorV3Interface
    function getRoundData(uint80 roundId) external view returns (uint80, int256, uint256, uint256, uint80) {
        if (getTimestamp[roundId] == 0) revert MockV3AggregatorNoDataPresent(roundId);
        return (roundId, getAnswer[roundId], _startedAt[roundId], getTimestamp[roundId], roundId);
    }

    /// @inheritdoc AggregatorV3Interface
    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        uint80 roundId = latestRound;
        return (roundId, getAnswer[roundId], _startedAt[roundId], getTimestamp[roundId], roundId);
    }

    /// @inheritdoc AggregatorV3Interface
    function decimals() external view returns (uint8) {
        return _DECIMALS;
    }

    /// @notice Set what `description()` answers, e.g. "ETH / USD", to stand in for a real feed (a chain preset's
    /// start-up check compares it).
    function setDescription(string calldata description_) external {
        _description = description_;
    }

    /// @inheritdoc AggregatorV3Interface
    function description() external view returns (string memory) {
        return _description;
    }

    /// @inheritdoc AggregatorV3Interface
    function version() external pure returns (uint256) {
        return 0;
    }
}
