// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "./Test.sol";
import {PaymentProcessor} from "../../../contracts/payments/PaymentProcessor.sol";
import {Subscriptions} from "../../../contracts/subscriptions/Subscriptions.sol";
import {MockStablecoin} from "../../../contracts/mocks/MockStablecoin.sol";

/// @notice Shared set-up for the subscription tests: a processor with USDC allowlisted, the Subscriptions
/// contract bound to it, a customer (with a private key, for permits) holding USDC and having approved the
/// Subscriptions contract, and a merchant.
abstract contract SubscriptionsFixture is Test {
    PaymentProcessor internal processor;
    Subscriptions internal subs;
    MockStablecoin internal usdc;

    address internal owner;
    address internal merchant;
    address internal stranger;
    uint256 internal customerKey;
    address internal customer;

    bytes32 internal constant REF = bytes32(uint256(4_242_424_242));
    uint256 internal constant AMOUNT = 25_000_000; // 25 USDC
    uint64 internal constant MONTH = 30 days;
    uint256 internal constant T0 = 1_750_000_000;

    bytes32 internal constant PERMIT_TYPEHASH = keccak256(
        "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
    );

    function setUp() public virtual {
        vm.warp(T0);
        owner = makeAddr("owner");
        merchant = makeAddr("merchant");
        stranger = makeAddr("stranger");
        customerKey = uint256(keccak256("customer"));
        customer = vm.addr(customerKey);
        vm.label(customer, "customer");

        processor = new PaymentProcessor(owner);
        subs = new Subscriptions(processor);
        usdc = new MockStablecoin();
        vm.label(address(processor), "processor");
        vm.label(address(subs), "subscriptions");
        vm.label(address(usdc), "usdc");

        vm.prank(owner);
        processor.setTokenAllowed(address(usdc), true);

        usdc.mint(customer, 1e15);
        vm.prank(customer);
        usdc.approve(address(subs), type(uint256).max);
    }

    function _subscribe() internal returns (uint256 id) {
        vm.prank(customer);
        id = subs.subscribe(merchant, address(usdc), AMOUNT, MONTH, 0, REF);
    }

    function _signPermit(
        uint256 key,
        address spender,
        uint256 value,
        uint256 deadline
    ) internal view returns (uint8 v, bytes32 r, bytes32 s) {
        address holder = vm.addr(key);
        bytes32 structHash = keccak256(
            abi.encode(PERMIT_TYPEHASH, holder, spender, value, usdc.nonces(holder), deadline)
        );
        return vm.sign(key, keccak256(abi.encodePacked("\x19\x01", usdc.DOMAIN_SEPARATOR(), structHash)));
    }
}
