// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "./Test.sol";
import {IPaymentProcessor} from "../../../contracts/interfaces/IPaymentProcessor.sol";
import {PaymentProcessor} from "../../../contracts/payments/PaymentProcessor.sol";
import {MockStablecoin} from "../../../contracts/mocks/MockStablecoin.sol";

/// @notice Shared set-up: a processor owned by `owner`, USDC allowlisted, funded actors, and helpers for
/// paying, signing permits and reading raw storage.
abstract contract PaymentProcessorFixture is Test {
    PaymentProcessor internal processor;
    MockStablecoin internal usdc;

    address internal owner;
    address internal merchant;
    address internal otherMerchant;
    address internal customer;
    uint256 internal payerKey;
    address internal payer;

    address internal constant ETH = address(0);
    bytes32 internal constant ORDER = bytes32(uint256(1_234_567_890));

    /// @dev Storage slots of `PaymentProcessor` (checked by `test_storageLayout_*` in PaymentProcessor.t.sol).
    uint256 internal constant SLOT_PAUSED_OWNER = 0;
    uint256 internal constant SLOT_ETH_BALANCES = 2;
    uint256 internal constant SLOT_TOKEN_BALANCES = 3;
    uint256 internal constant SLOT_TOKEN_STATE = 4;

    bytes32 internal constant PERMIT_TYPEHASH = keccak256(
        "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
    );

    function setUp() public virtual {
        owner = makeAddr("owner");
        merchant = makeAddr("merchant");
        otherMerchant = makeAddr("otherMerchant");
        customer = makeAddr("customer");
        payerKey = uint256(keccak256("payer"));
        payer = vm.addr(payerKey);
        vm.label(payer, "payer");

        processor = new PaymentProcessor(owner);
        usdc = new MockStablecoin();
        vm.label(address(processor), "processor");
        vm.label(address(usdc), "usdc");

        vm.prank(owner);
        processor.setTokenAllowed(address(usdc), true);

        vm.deal(payer, 1_000_000 ether);
        usdc.mint(payer, 1e30);
        vm.prank(payer);
        usdc.approve(address(processor), type(uint256).max);
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------

    function _payEth(address to, uint256 amount) internal {
        vm.prank(payer);
        processor.pay{value: amount}(to, ORDER);
    }

    function _payUsdc(address to, uint256 amount) internal {
        vm.prank(payer);
        processor.payToken(address(usdc), amount, to, ORDER);
    }

    function _permitDigest(
        address token,
        address holder,
        address spender,
        uint256 value,
        uint256 nonce,
        uint256 deadline
    ) internal view returns (bytes32) {
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, holder, spender, value, nonce, deadline));
        return keccak256(abi.encodePacked("\x19\x01", MockStablecoin(token).DOMAIN_SEPARATOR(), structHash));
    }

    function _signPermit(
        uint256 key,
        uint256 value,
        uint256 deadline
    ) internal view returns (uint8 v, bytes32 r, bytes32 s) {
        address holder = vm.addr(key);
        bytes32 digest = _permitDigest(
            address(usdc),
            holder,
            address(processor),
            value,
            usdc.nonces(holder),
            deadline
        );
        return vm.sign(key, digest);
    }

    function _ethSlot(address account) internal pure returns (bytes32) {
        return keccak256(abi.encode(account, SLOT_ETH_BALANCES));
    }

    function _tokenSlot(address token, address account) internal pure returns (bytes32) {
        return keccak256(abi.encode(account, keccak256(abi.encode(token, SLOT_TOKEN_BALANCES))));
    }

    function _tokenStateSlot(address token) internal pure returns (bytes32) {
        return keccak256(abi.encode(token, SLOT_TOKEN_STATE));
    }

    function _raw(bytes32 slot) internal view returns (uint256) {
        return uint256(vm.load(address(processor), slot));
    }

    function _err(bytes4 selector) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(selector);
    }

    function _insufficient(
        address who,
        address token,
        uint256 balance,
        uint256 needed
    ) internal pure returns (bytes memory) {
        return
            abi.encodeWithSelector(
                IPaymentProcessor.PaymentProcessorInsufficientBalance.selector,
                who,
                token,
                balance,
                needed
            );
    }
}
