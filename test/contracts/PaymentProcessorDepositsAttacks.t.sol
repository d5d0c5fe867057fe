// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {PaymentProcessorFixture} from "./utils/PaymentProcessorFixture.sol";
import {IPaymentProcessor} from "../../contracts/interfaces/IPaymentProcessor.sol";
import {ReentrantToken} from "../../contracts/mocks/ReentrantToken.sol";

/// @notice Attacks on deposit sweeps: strangers and front-runners cannot redirect funds, a re-entrant token
/// cannot interleave another sweep, payment or withdrawal, and ETH paid through `pay` from inside a token
/// sweep is never counted twice.
contract PaymentProcessorDepositsAttacksTest is PaymentProcessorFixture {
    ReentrantToken internal reentrant;
    address internal attacker;
    address internal deposit;

    function setUp() public override {
        super.setUp();
        attacker = makeAddr("attacker");
        deposit = processor.depositAddressOf(merchant, ORDER);
        reentrant = new ReentrantToken();
        vm.prank(owner);
        processor.setTokenAllowed(address(reentrant), true);
    }

    function _sendEth(address to, uint256 amount) internal {
        vm.prank(payer);
        (bool ok, ) = to.call{value: amount}("");
        assertTrue(ok, "plain transfer failed");
    }

    /// The caller of a sweep chooses nothing but timing and token: the credit goes to the bound merchant.
    function test_attack_strangerSweepCreditsOnlyTheBoundMerchant() public {
        _sendEth(deposit, 1 ether);
        vm.prank(owner); // not even the owner can get anything out of it
        processor.sweepOrder(merchant, ORDER, address(0));
        assertEq(processor.balanceOf(merchant, address(0)), 1 ether, "bound merchant credited");
        assertEq(processor.balanceOf(owner, address(0)), 0, "caller credited nothing");
    }

    /// Naming another merchant sweeps another address: the funds at the first stay where they are.
    function test_attack_cannotRedirectByNamingAnotherMerchant() public {
        _sendEth(deposit, 1 ether);
        vm.prank(attacker);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPaymentProcessor.PaymentProcessorNothingToSweep.selector,
                processor.depositAddressOf(attacker, ORDER),
                address(0)
            )
        );
        processor.sweepOrder(attacker, ORDER, address(0));
        assertEq(deposit.balance, 1 ether, "untouched");
    }

    /// Someone sweeps before the operator: the merchant is credited all the same, the front-runner gets
    /// nothing. (The operator's batch that follows in a later transaction skips the empty deposit: see the
    /// mocha test, since a Solidity test is one transaction.)
    function test_attack_frontRunSweepStillCreditsTheMerchant() public {
        _sendEth(deposit, 1 ether);
        vm.prank(attacker);
        processor.sweepOrder(merchant, ORDER, address(0));
        assertEq(processor.balanceOf(merchant, address(0)), 1 ether, "credited");
        assertEq(processor.balanceOf(attacker, address(0)), 0, "front-runner got nothing");
        assertEq(attacker.balance, 0, "front-runner got nothing");
    }

    /// A token re-entering `sweepOrder` (another deposit) during its transfer is refused.
    function test_attack_tokenReentryIntoSweepIsRefused() public {
        address other = processor.depositAddressOf(attacker, ORDER);
        reentrant.mint(deposit, 1000);
        reentrant.mint(other, 1000);
        reentrant.arm(
            address(processor),
            abi.encodeCall(IPaymentProcessor.sweepOrder, (attacker, ORDER, address(reentrant)))
        );
        processor.sweepOrder(merchant, ORDER, address(reentrant));

        assertEq(reentrant.reentryCount(), 1, "re-entered");
        assertFalse(reentrant.lastReentrySucceeded(), "inner sweep refused");
        assertEq(
            keccak256(reentrant.lastReentryReturnData()),
            keccak256(abi.encodeWithSelector(IPaymentProcessor.PaymentProcessorReentrantCall.selector)),
            "reentrancy error"
        );
        assertEq(processor.balanceOf(merchant, address(reentrant)), 1000, "outer credited exactly");
        assertEq(reentrant.balanceOf(other), 1000, "other deposit untouched");
    }

    /// A token re-entering `payToken` of itself during a sweep would be counted twice by the balance delta.
    function test_attack_tokenReentryIntoPayTokenIsRefused() public {
        reentrant.mint(deposit, 1000);
        reentrant.mint(address(this), 500);
        reentrant.approve(address(processor), 500);
        reentrant.arm(
            address(processor),
            abi.encodeCall(IPaymentProcessor.payToken, (address(reentrant), 500, attacker, ORDER))
        );
        processor.sweepOrder(merchant, ORDER, address(reentrant));
        assertFalse(reentrant.lastReentrySucceeded(), "payToken refused");
        assertEq(processor.balanceOf(merchant, address(reentrant)), 1000, "credited exactly");
        assertEq(processor.balanceOf(attacker, address(reentrant)), 0, "nothing for the attacker");
    }

    /// ETH paid through `pay` from inside a token sweep is credited to its payee only, never also to the
    /// deposit's merchant (the sweep credits the deposit's own ETH, read before the CREATE2).
    function test_attack_payFromInsideATokenSweepIsNotCountedTwice() public {
        vm.deal(address(reentrant), 5 ether);
        reentrant.mint(deposit, 1000);
        _sendEth(deposit, 1 ether);
        reentrant.armWithValue(
            address(processor),
            abi.encodeCall(IPaymentProcessor.pay, (merchant, ORDER)),
            5 ether
        );
        processor.sweepOrder(merchant, ORDER, address(reentrant));

        assertTrue(reentrant.lastReentrySucceeded(), "pay went through");
        assertEq(processor.balanceOf(merchant, address(0)), 6 ether, "1 swept + 5 paid, each once");
        assertEq(address(processor).balance, 6 ether, "books balance");
    }

    /// A merchant re-entering `withdraw` (ETH) from a token sweep only moves its own, already credited money.
    function test_attack_withdrawFromInsideATokenSweepMovesOnlyOwnMoney() public {
        _payEth(attacker, 2 ether);
        reentrant.mint(deposit, 1000);
        _sendEth(deposit, 1 ether);
        reentrant.arm(
            address(processor),
            abi.encodeCall(IPaymentProcessor.withdraw, (address(0), 2 ether, payable(attacker)))
        );
        // The token calls as itself, not as the attacker: it has no balance, so the withdrawal fails.
        processor.sweepOrder(merchant, ORDER, address(reentrant));
        assertFalse(reentrant.lastReentrySucceeded(), "not the token's money");
        assertEq(processor.balanceOf(merchant, address(0)), 1 ether, "deposit ETH credited");
        assertEq(processor.balanceOf(attacker, address(0)), 2 ether, "attacker's balance intact");
        assertEq(address(processor).balance, 3 ether, "books balance");
    }
}
