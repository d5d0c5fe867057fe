// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {PaymentProcessorFixture} from "./utils/PaymentProcessorFixture.sol";
import {IPaymentProcessor} from "../../contracts/interfaces/IPaymentProcessor.sol";
import {ReentrantReceiver} from "../../contracts/mocks/ReentrantReceiver.sol";
import {ReentrantToken} from "../../contracts/mocks/ReentrantToken.sol";

/// @notice Attacks with the test-only contracts: malicious receivers re-entering on withdraw and refund,
/// a re-entrant token, and strangers trying to move someone else's money.
contract PaymentProcessorAttacksTest is PaymentProcessorFixture {
    ReentrantReceiver internal attacker;
    ReentrantToken internal reentrant;

    function setUp() public override {
        super.setUp();
        attacker = new ReentrantReceiver(address(processor));
        vm.label(address(attacker), "attacker");

        reentrant = new ReentrantToken();
        vm.label(address(reentrant), "reentrantToken");
        vm.prank(owner);
        processor.setTokenAllowed(address(reentrant), true);
        reentrant.mint(payer, 1e30);
        vm.prank(payer);
        reentrant.approve(address(processor), type(uint256).max);
    }

    // ---------------------------------------------------------------------------------------------
    // Malicious ETH receiver
    // ---------------------------------------------------------------------------------------------

    /// The attacker is a merchant with 1 ETH and tries to withdraw it twice by re-entering from `receive`.
    function test_attack_withdrawReentryCannotDoubleSpend() public {
        _payEth(address(attacker), 1 ether);
        attacker.arm(abi.encodeCall(IPaymentProcessor.withdraw, (ETH, 1 ether, payable(address(attacker)))));

        attacker.call(abi.encodeCall(IPaymentProcessor.withdraw, (ETH, 1 ether, payable(address(attacker)))));

        assertEq(attacker.reentryCount(), 1, "re-entered");
        assertFalse(attacker.lastReentrySucceeded(), "second withdrawal failed");
        assertEq(
            keccak256(attacker.lastReentryReturnData()),
            keccak256(_insufficient(address(attacker), ETH, 0, 1 ether)),
            "balance already debited when re-entered"
        );
        assertEq(address(attacker).balance, 1 ether, "got exactly its credit");
        assertEq(processor.balanceOf(address(attacker), ETH), 0, "balance");
        assertEq(address(processor).balance, 0, "nothing else left the contract");
    }

    /// Re-entering from a refund to refund again is no better.
    function test_attack_refundReentryCannotDoubleSpend() public {
        _payEth(address(attacker), 1 ether);
        _payEth(merchant, 5 ether); // someone else's money in the contract
        attacker.arm(
            abi.encodeCall(IPaymentProcessor.refund, (ETH, ORDER, payable(address(attacker)), 1 ether))
        );

        attacker.call(
            abi.encodeCall(IPaymentProcessor.refund, (ETH, ORDER, payable(address(attacker)), 1 ether))
        );

        assertFalse(attacker.lastReentrySucceeded(), "second refund failed");
        assertEq(address(attacker).balance, 1 ether, "got exactly its credit");
        assertEq(processor.balanceOf(merchant, ETH), 5 ether, "other merchant untouched");
        assertEq(address(processor).balance, 5 ether, "held");
    }

    /// A re-entrant withdrawal of what is legitimately left is allowed and accounted for exactly.
    function test_attack_reentrantWithdrawOfRemainingBalanceIsExact() public {
        _payEth(address(attacker), 3 ether);
        attacker.arm(abi.encodeCall(IPaymentProcessor.withdraw, (ETH, 2 ether, payable(address(attacker)))));
        attacker.call(abi.encodeCall(IPaymentProcessor.withdraw, (ETH, 1 ether, payable(address(attacker)))));
        assertTrue(attacker.lastReentrySucceeded(), "inner withdrawal of the remaining balance");
        assertEq(address(attacker).balance, 3 ether, "exactly the credit");
        assertEq(processor.balanceOf(address(attacker), ETH), 0, "balance");
    }

    /// A customer contract receiving a refund re-enters to refund itself from the merchant: it has no balance.
    function test_attack_refundRecipientCannotDrainMerchant() public {
        _payEth(merchant, 5 ether);
        attacker.arm(
            abi.encodeCall(IPaymentProcessor.refund, (ETH, ORDER, payable(address(attacker)), 4 ether))
        );
        vm.prank(merchant);
        processor.refund(ETH, ORDER, payable(address(attacker)), 1 ether);
        assertFalse(attacker.lastReentrySucceeded(), "re-entry failed");
        assertEq(address(attacker).balance, 1 ether, "got the refund only");
        assertEq(processor.balanceOf(merchant, ETH), 4 ether, "merchant keeps the rest");
    }

    // ---------------------------------------------------------------------------------------------
    // Re-entrant token
    // ---------------------------------------------------------------------------------------------

    /// During `transferFrom`, the token pays again: without the guard the outer balance delta would include
    /// the inner payment and credit it twice.
    function test_attack_tokenReentryIntoPayTokenIsBlocked() public {
        reentrant.arm(
            address(processor),
            abi.encodeCall(IPaymentProcessor.payToken, (address(reentrant), 500, merchant, ORDER))
        );
        vm.prank(payer);
        processor.payToken(address(reentrant), 1000, merchant, ORDER);

        assertEq(reentrant.reentryCount(), 1, "re-entered");
        assertFalse(reentrant.lastReentrySucceeded(), "inner payment refused");
        assertEq(
            keccak256(reentrant.lastReentryReturnData()),
            keccak256(_err(IPaymentProcessor.PaymentProcessorReentrantCall.selector)),
            "guard error"
        );
        assertEq(processor.balanceOf(merchant, address(reentrant)), 1000, "credited once");
        assertEq(reentrant.balanceOf(address(processor)), 1000, "held");
    }

    function test_attack_tokenReentryIntoWithdrawDuringPaymentIsBlocked() public {
        _payTokenAs(address(attacker), 1000);
        reentrant.arm(
            address(processor),
            abi.encodeCall(IPaymentProcessor.withdraw, (address(reentrant), 1000, payable(address(attacker))))
        );
        vm.prank(payer);
        processor.payToken(address(reentrant), 1000, merchant, ORDER);
        assertFalse(reentrant.lastReentrySucceeded(), "inner withdrawal refused");
        assertEq(processor.balanceOf(merchant, address(reentrant)), 1000, "credited exactly");
    }

    function test_attack_tokenReentryIntoWithdrawDuringWithdrawIsBlocked() public {
        _payTokenAs(merchant, 1000);
        reentrant.arm(
            address(processor),
            abi.encodeCall(IPaymentProcessor.withdraw, (address(reentrant), 500, payable(merchant)))
        );
        vm.prank(merchant);
        processor.withdraw(address(reentrant), 500, payable(merchant));
        assertFalse(reentrant.lastReentrySucceeded(), "inner withdrawal refused");
        assertEq(processor.balanceOf(merchant, address(reentrant)), 500, "debited once");
        assertEq(reentrant.balanceOf(merchant), 500, "sent once");
    }

    function test_attack_tokenReentryIntoRefundDuringRefundIsBlocked() public {
        _payTokenAs(merchant, 1000);
        reentrant.arm(
            address(processor),
            abi.encodeCall(IPaymentProcessor.refund, (address(reentrant), ORDER, payable(customer), 500))
        );
        vm.prank(merchant);
        processor.refund(address(reentrant), ORDER, payable(customer), 500);
        assertFalse(reentrant.lastReentrySucceeded(), "inner refund refused");
        assertEq(processor.balanceOf(merchant, address(reentrant)), 500, "debited once");
    }

    function test_attack_tokenReentryIntoPermitPaymentIsBlocked() public {
        reentrant.arm(
            address(processor),
            abi.encodeCall(
                IPaymentProcessor.payTokenWithPermit,
                (address(reentrant), 500, merchant, ORDER, block.timestamp, 0, 0, 0)
            )
        );
        vm.prank(payer);
        processor.payTokenWithPermit(address(reentrant), 1000, merchant, ORDER, block.timestamp, 0, 0, 0);
        assertFalse(reentrant.lastReentrySucceeded(), "inner payment refused");
        assertEq(processor.balanceOf(merchant, address(reentrant)), 1000, "credited once");
    }

    /// ETH payments take no lock, and a token may pay in ETH from inside its transfer: harmless, both counted.
    function test_attack_tokenReentryIntoEthPayIsHarmless() public {
        vm.deal(address(reentrant), 1 ether);
        reentrant.arm(address(processor), abi.encodeCall(IPaymentProcessor.pay, (merchant, ORDER)));
        vm.prank(payer);
        processor.payToken(address(reentrant), 1000, merchant, ORDER);
        // `arm` sends no value, so the inner pay() has msg.value == 0 and reverts: no unattributed credit.
        assertFalse(reentrant.lastReentrySucceeded(), "zero-value pay refused");
        assertEq(processor.balanceOf(merchant, address(reentrant)), 1000, "token credited exactly");
        assertEq(processor.balanceOf(merchant, ETH), 0, "no ETH credit");
    }

    // ---------------------------------------------------------------------------------------------
    // Strangers
    // ---------------------------------------------------------------------------------------------

    function testFuzz_attack_strangerCannotMoveMerchantFunds(
        address stranger,
        uint256 amount,
        bool asRefund
    ) public {
        vm.assume(stranger != merchant && stranger != address(0));
        amount = bound(amount, 1, 1_000 ether);
        _payEth(merchant, amount);
        _payUsdc(merchant, amount);

        vm.startPrank(stranger);
        for (uint256 i; i < 2; ++i) {
            address token = i == 0 ? ETH : address(usdc);
            vm.expectRevert(_insufficient(stranger, token, processor.balanceOf(stranger, token), amount));
            if (asRefund) processor.refund(token, ORDER, payable(stranger), amount);
            else processor.withdraw(token, amount, payable(stranger));
        }
        vm.stopPrank();

        assertEq(processor.balanceOf(merchant, ETH), amount, "eth untouched");
        assertEq(processor.balanceOf(merchant, address(usdc)), amount, "usdc untouched");
    }

    function _payTokenAs(address to, uint256 amount) internal {
        vm.prank(payer);
        processor.payToken(address(reentrant), amount, to, ORDER);
    }
}
