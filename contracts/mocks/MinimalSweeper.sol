// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title MinimalSweeper
/// @notice TEST ONLY. The deposit-sweep gas benchmark's reference: the least a CREATE2 forwarder can do.
/// ETH: CREATE2 of `CALLER SELFDESTRUCT` (2 bytes), add the measured amount to a mapping, emit the same event
/// as {IPaymentProcessor-PaymentReceived}. Token: CREATE2 of an init code with the token address baked in
/// (so the address depends on the token, which the real one must not) that transfers its whole balance to
/// the creator without checking anything, then the same credit and event. No pause, no guard, no allowlist,
/// no chain id in the salt, no checks of the outcome. The difference between its figures and
/// {PaymentProcessor-sweepOrder}'s is the price of the rules.
contract MinimalSweeper {
    event PaymentReceived(
        address indexed merchant,
        bytes32 indexed orderId,
        address indexed payer,
        address token,
        uint256 amount
    );

    mapping(address token => mapping(address merchant => uint256 balance)) internal _balances;

    /// @dev `CALLER SELFDESTRUCT`.
    bytes internal constant _ETH_INIT = hex"33ff";

    function depositAddress(
        address merchant,
        bytes32 orderId,
        address token
    ) external view returns (address) {
        bytes memory initCode = token == address(0) ? _ETH_INIT : _tokenInit(token);
        return
            address(
                uint160(
                    uint256(
                        keccak256(
                            abi.encodePacked(
                                bytes1(0xff),
                                address(this),
                                keccak256(abi.encode(merchant, orderId)),
                                keccak256(initCode)
                            )
                        )
                    )
                )
            );
    }

    function sweepEth(address merchant, bytes32 orderId) external {
        _sweepEth(merchant, orderId, _ETH_INIT);
    }

    function sweepEthBatch(address[] calldata merchants, bytes32[] calldata orderIds) external {
        bytes memory initCode = _ETH_INIT;
        for (uint256 i; i < merchants.length; ++i) _sweepEth(merchants[i], orderIds[i], initCode);
    }

    function sweepToken(address token, address merchant, bytes32 orderId) external {
        _sweepToken(token, merchant, orderId, _tokenInit(token));
    }

    function sweepTokenBatch(
        address token,
        address[] calldata merchants,
        bytes32[] calldata orderIds
    ) external {
        bytes memory initCode = _tokenInit(token);
        for (uint256 i; i < merchants.length; ++i) _sweepToken(token, merchants[i], orderIds[i], initCode);
    }

    function _sweepEth(address merchant, bytes32 orderId, bytes memory initCode) internal {
        uint256 before = address(this).balance;
        address deposit = _create(keccak256(abi.encode(merchant, orderId)), initCode);
        uint256 amount = address(this).balance - before;
        _balances[address(0)][merchant] += amount;
        emit PaymentReceived(merchant, orderId, deposit, address(0), amount);
    }

    function _sweepToken(address token, address merchant, bytes32 orderId, bytes memory initCode) internal {
        (, bytes memory before) = token.staticcall(abi.encodeWithSelector(0x70a08231, address(this)));
        address deposit = _create(keccak256(abi.encode(merchant, orderId)), initCode);
        (, bytes memory afterwards) = token.staticcall(abi.encodeWithSelector(0x70a08231, address(this)));
        uint256 amount = abi.decode(afterwards, (uint256)) - abi.decode(before, (uint256));
        _balances[token][merchant] += amount;
        emit PaymentReceived(merchant, orderId, deposit, token, amount);
    }

    function _create(bytes32 salt, bytes memory initCode) internal returns (address deposit) {
        assembly ("memory-safe") {
            deposit := create2(0, add(initCode, 0x20), mload(initCode), salt)
        }
    }

    /// @dev PUSH20 token; balanceOf(this); transfer(caller, balance); CALLER SELFDESTRUCT. No checks.
    function _tokenInit(address token) internal pure returns (bytes memory) {
        return
            abi.encodePacked(
                hex"73",
                token,
                hex"6370a082315f523060205260205f6024601c845afa505f516040523360205263a9059cbb5f5260205f6044601c5f855af133ff"
            );
    }
}
