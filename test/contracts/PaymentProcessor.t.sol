// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {PaymentProcessorFixture} from "./utils/PaymentProcessorFixture.sol";
import {IPaymentProcessor} from "../../contracts/interfaces/IPaymentProcessor.sol";
import {PaymentProcessor} from "../../contracts/payments/PaymentProcessor.sol";
import {MockStablecoin} from "../../contracts/mocks/MockStablecoin.sol";
import {FeeOnTransferToken} from "../../contracts/mocks/FeeOnTransferToken.sol";
import {FalseReturningToken} from "../../contracts/mocks/FalseReturningToken.sol";
import {ReentrantReceiver} from "../../contracts/mocks/ReentrantReceiver.sol";

/// @notice Unit and fuzz tests of every PaymentProcessor function and every revert.
contract PaymentProcessorTest is PaymentProcessorFixture {
    // =============================================================================================
    // Constructor, ownership, storage layout
    // =============================================================================================

    function test_constructor_setsOwnerAndStartsUnpaused() public view {
        assertEq(processor.owner(), owner, "owner");
        assertEq(processor.pendingOwner(), address(0), "pending owner");
        assertFalse(processor.paused(), "paused");
    }

    function test_constructor_revertsWithZeroOwner() public {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableInvalidOwner.selector, address(0)));
        new PaymentProcessor(address(0));
    }

    function test_transferOwnership_isTwoStep() public {
        address next = makeAddr("next");
        vm.prank(owner);
        processor.transferOwnership(next);
        assertEq(processor.owner(), owner, "owner unchanged until accepted");
        assertEq(processor.pendingOwner(), next, "pending");

        vm.prank(makeAddr("stranger"));
        vm.expectRevert(
            abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, makeAddr("stranger"))
        );
        processor.acceptOwnership();

        vm.prank(next);
        processor.acceptOwnership();
        assertEq(processor.owner(), next, "new owner");
    }

    /// @dev The gas notes rely on this layout: `_paused` (byte 0) and `_owner` (bytes 1..20) share slot 0,
    /// balances are stored as `balance + 1`.
    function test_storageLayout_pausedAndOwnerShareSlotZero() public {
        vm.prank(owner);
        processor.pause();
        uint256 slot0 = _raw(bytes32(SLOT_PAUSED_OWNER));
        assertEq(slot0 & 0xff, 1, "paused flag in byte 0");
        assertEq(address(uint160(slot0 >> 8)), owner, "owner in bytes 1..20");
    }

    function test_storageLayout_balancesCarrySentinel() public {
        _payEth(merchant, 5);
        _payUsdc(merchant, 7);
        assertEq(_raw(_ethSlot(merchant)), 6, "eth stored = balance + 1");
        assertEq(_raw(_tokenSlot(address(usdc), merchant)), 8, "token stored = balance + 1");
        assertEq(_raw(_tokenStateSlot(address(usdc))), 7, "accepting | allowed | ever allowed");
    }

    // =============================================================================================
    // pay (ETH)
    // =============================================================================================

    function test_pay_creditsMerchantAndEmits() public {
        vm.expectEmit(true, true, true, true, address(processor));
        emit IPaymentProcessor.PaymentReceived(merchant, ORDER, payer, ETH, 1 ether);
        _payEth(merchant, 1 ether);

        assertEq(processor.balanceOf(merchant, ETH), 1 ether, "balance");
        assertEq(address(processor).balance, 1 ether, "held");
    }

    function test_pay_accumulatesAcrossPayments() public {
        _payEth(merchant, 1 ether);
        _payEth(merchant, 2 ether);
        _payEth(otherMerchant, 3 ether);
        assertEq(processor.balanceOf(merchant, ETH), 3 ether, "merchant");
        assertEq(processor.balanceOf(otherMerchant, ETH), 3 ether, "other merchant");
    }

    function test_pay_revertsWhenPaused() public {
        vm.prank(owner);
        processor.pause();
        vm.prank(payer);
        vm.expectRevert(_err(Pausable.EnforcedPause.selector));
        processor.pay{value: 1}(merchant, ORDER);
    }

    function test_pay_revertsWithZeroMerchant() public {
        vm.prank(payer);
        vm.expectRevert(_err(IPaymentProcessor.PaymentProcessorZeroMerchant.selector));
        processor.pay{value: 1}(address(0), ORDER);
    }

    function test_pay_revertsWithZeroMerchantAndZeroValue() public {
        vm.prank(payer);
        vm.expectRevert(_err(IPaymentProcessor.PaymentProcessorZeroMerchant.selector));
        processor.pay{value: 0}(address(0), ORDER);
    }

    function test_pay_revertsWithZeroValue() public {
        vm.prank(payer);
        vm.expectRevert(_err(IPaymentProcessor.PaymentProcessorZeroAmount.selector));
        processor.pay{value: 0}(merchant, ORDER);
    }

    function testFuzz_pay_creditsExactly(address to, uint256 amount, bytes32 orderId) public {
        vm.assume(to != address(0));
        amount = bound(amount, 1, 1_000_000 ether);
        uint256 before = processor.balanceOf(to, ETH);

        vm.expectEmit(true, true, true, true, address(processor));
        emit IPaymentProcessor.PaymentReceived(to, orderId, payer, ETH, amount);
        vm.prank(payer);
        processor.pay{value: amount}(to, orderId);

        assertEq(processor.balanceOf(to, ETH), before + amount, "credited exactly");
        assertEq(address(processor).balance, amount, "held exactly");
    }

    function testFuzz_pay_accumulates(uint256 a, uint256 b) public {
        a = bound(a, 1, 500_000 ether);
        b = bound(b, 1, 500_000 ether);
        _payEth(merchant, a);
        _payEth(merchant, b);
        assertEq(processor.balanceOf(merchant, ETH), a + b, "sum");
    }

    // =============================================================================================
    // Unattributed ETH
    // =============================================================================================

    function test_receive_revertsOnPlainTransfer() public {
        vm.prank(payer);
        (bool ok, bytes memory data) = address(processor).call{value: 1 ether}("");
        assertFalse(ok, "plain transfer accepted");
        assertEq(
            keccak256(data),
            keccak256(_err(IPaymentProcessor.PaymentProcessorUnattributedEther.selector)),
            "error"
        );
    }

    function test_fallback_revertsOnUnknownSelectorWithEther() public {
        vm.prank(payer);
        (bool ok, bytes memory data) = address(processor).call{value: 1 ether}(hex"deadbeef");
        assertFalse(ok, "unknown selector accepted");
        assertEq(
            keccak256(data),
            keccak256(_err(IPaymentProcessor.PaymentProcessorUnattributedEther.selector)),
            "error"
        );
    }

    function test_fallback_revertsOnUnknownSelectorWithoutEther() public {
        (bool ok, ) = address(processor).call(hex"deadbeef");
        assertFalse(ok, "unknown selector accepted");
    }

    function testFuzz_fallback_neverAcceptsUnattributedEther(bytes calldata data, uint256 amount) public {
        amount = bound(amount, 1, 100 ether);
        // Skip data that starts with a real selector.
        if (data.length >= 4) {
            bytes4 sel = bytes4(data[:4]);
            vm.assume(sel != IPaymentProcessor.pay.selector);
        }
        vm.prank(payer);
        (bool ok, ) = address(processor).call{value: amount}(data);
        assertFalse(ok && address(processor).balance != 0, "ETH accepted without pay()");
    }

    // =============================================================================================
    // payToken
    // =============================================================================================

    function test_payToken_creditsMerchantAndEmits() public {
        vm.expectEmit(true, true, true, true, address(processor));
        emit IPaymentProcessor.PaymentReceived(merchant, ORDER, payer, address(usdc), 25e6);
        _payUsdc(merchant, 25e6);
        assertEq(processor.balanceOf(merchant, address(usdc)), 25e6, "balance");
        assertEq(usdc.balanceOf(address(processor)), 25e6, "held");
    }

    function test_payToken_revertsForTokenNotAllowed() public {
        MockStablecoin other = new MockStablecoin();
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IPaymentProcessor.PaymentProcessorTokenNotAllowed.selector, address(other))
        );
        processor.payToken(address(other), 1, merchant, ORDER);
    }

    function test_payToken_revertsForZeroToken() public {
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IPaymentProcessor.PaymentProcessorTokenNotAllowed.selector, address(0))
        );
        processor.payToken(address(0), 1, merchant, ORDER);
    }

    function test_payToken_revertsAfterTokenRemovedFromAllowlist() public {
        vm.prank(owner);
        processor.setTokenAllowed(address(usdc), false);
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IPaymentProcessor.PaymentProcessorTokenNotAllowed.selector, address(usdc))
        );
        processor.payToken(address(usdc), 1, merchant, ORDER);
    }

    function test_payToken_revertsWhenPaused() public {
        vm.prank(owner);
        processor.pause();
        vm.prank(payer);
        vm.expectRevert(_err(Pausable.EnforcedPause.selector));
        processor.payToken(address(usdc), 1, merchant, ORDER);
    }

    function test_payToken_revertsWithZeroMerchant() public {
        vm.prank(payer);
        vm.expectRevert(_err(IPaymentProcessor.PaymentProcessorZeroMerchant.selector));
        processor.payToken(address(usdc), 1, address(0), ORDER);
    }

    function test_payToken_revertsWithZeroAmount() public {
        vm.prank(payer);
        vm.expectRevert(_err(IPaymentProcessor.PaymentProcessorZeroAmount.selector));
        processor.payToken(address(usdc), 0, merchant, ORDER);
    }

    function test_payToken_revertsWithoutAllowance() public {
        address poor = makeAddr("poor");
        usdc.mint(poor, 100);
        vm.prank(poor);
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector,
                address(processor),
                uint256(0),
                uint256(100)
            )
        );
        processor.payToken(address(usdc), 100, merchant, ORDER);
    }

    function test_payToken_feeOnTransferCreditsOnlyWhatArrived() public {
        FeeOnTransferToken fee = _allowFeeToken(100); // 1 %
        vm.expectEmit(true, true, true, true, address(processor));
        emit IPaymentProcessor.PaymentReceived(merchant, ORDER, payer, address(fee), 990);
        vm.prank(payer);
        processor.payToken(address(fee), 1000, merchant, ORDER);
        assertEq(processor.balanceOf(merchant, address(fee)), 990, "credited what arrived");
        assertEq(fee.balanceOf(address(processor)), 990, "held");
    }

    function test_payToken_revertsWhenNothingArrives() public {
        FeeOnTransferToken fee = _allowFeeToken(10_000); // burns everything
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPaymentProcessor.PaymentProcessorNothingReceived.selector,
                address(fee),
                uint256(1000)
            )
        );
        processor.payToken(address(fee), 1000, merchant, ORDER);
    }

    function test_payToken_revertsForFalseReturningToken() public {
        FalseReturningToken bad = _allowFalseToken();
        bad.setModes(true, false, false);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(SafeERC20.SafeERC20FailedOperation.selector, address(bad)));
        processor.payToken(address(bad), 1000, merchant, ORDER);
    }

    function test_payToken_revertsWhenBalanceQueryFails() public {
        FalseReturningToken bad = _allowFalseToken();
        bad.setModes(false, true, false);
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPaymentProcessor.PaymentProcessorBalanceQueryFailed.selector,
                address(bad)
            )
        );
        processor.payToken(address(bad), 1000, merchant, ORDER);
    }

    function test_payToken_revertsForTokenWithoutCode() public {
        address ghost = makeAddr("ghostToken");
        vm.prank(owner);
        processor.setTokenAllowed(ghost, true);
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IPaymentProcessor.PaymentProcessorBalanceQueryFailed.selector, ghost)
        );
        processor.payToken(ghost, 1000, merchant, ORDER);
    }

    function test_payToken_revertsWhenBalanceShrinksDuringTransfer() public {
        FalseReturningToken bad = _allowFalseToken();
        bad.mint(address(processor), 10_000); // so the claw-back can burn from the processor
        bad.setModes(false, false, true);
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSignature("Panic(uint256)", uint256(0x11)));
        processor.payToken(address(bad), 1000, merchant, ORDER);
    }

    function testFuzz_payToken_creditsExactly(address to, uint256 amount, bytes32 orderId) public {
        vm.assume(to != address(0));
        amount = bound(amount, 1, 1e30);
        vm.expectEmit(true, true, true, true, address(processor));
        emit IPaymentProcessor.PaymentReceived(to, orderId, payer, address(usdc), amount);
        vm.prank(payer);
        processor.payToken(address(usdc), amount, to, orderId);
        assertEq(processor.balanceOf(to, address(usdc)), amount, "credited exactly");
        assertEq(usdc.balanceOf(address(processor)), amount, "held exactly");
    }

    function testFuzz_payToken_neverCreditsMoreThanArrived(uint256 feeBps, uint256 amount) public {
        feeBps = bound(feeBps, 0, 9_999);
        amount = bound(amount, 10_000, 1e30);
        FeeOnTransferToken fee = _allowFeeToken(feeBps);
        uint256 heldBefore = fee.balanceOf(address(processor));
        vm.prank(payer);
        processor.payToken(address(fee), amount, merchant, ORDER);
        uint256 arrived = fee.balanceOf(address(processor)) - heldBefore;
        assertEq(processor.balanceOf(merchant, address(fee)), arrived, "credit == arrived");
        assertLe(arrived, amount, "arrived <= amount");
    }

    // =============================================================================================
    // payTokenWithPermit
    // =============================================================================================

    function test_payTokenWithPermit_paysWithoutPriorApproval() public {
        (uint256 key, address holder) = _freshHolder("permitter", 1_000e6);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(key, 25e6, deadline);

        vm.expectEmit(true, true, true, true, address(processor));
        emit IPaymentProcessor.PaymentReceived(merchant, ORDER, holder, address(usdc), 25e6);
        vm.prank(holder);
        processor.payTokenWithPermit(address(usdc), 25e6, merchant, ORDER, deadline, v, r, s);

        assertEq(processor.balanceOf(merchant, address(usdc)), 25e6, "credited");
        assertEq(usdc.allowance(holder, address(processor)), 0, "permit fully used");
        assertEq(usdc.nonces(holder), 1, "nonce used");
    }

    function test_payTokenWithPermit_succeedsWhenPermitWasFrontRun() public {
        (uint256 key, address holder) = _freshHolder("permitter", 1_000e6);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(key, 25e6, deadline);

        // An observer copies the signature from the mempool and submits the permit first.
        vm.prank(makeAddr("frontRunner"));
        usdc.permit(holder, address(processor), 25e6, deadline, v, r, s);

        vm.prank(holder);
        processor.payTokenWithPermit(address(usdc), 25e6, merchant, ORDER, deadline, v, r, s);
        assertEq(processor.balanceOf(merchant, address(usdc)), 25e6, "payment went through");
    }

    function test_payTokenWithPermit_succeedsWithBadPermitWhenAllowanceSuffices() public {
        // `payer` approved the processor for everything in setUp; garbage signature.
        vm.prank(payer);
        processor.payTokenWithPermit(
            address(usdc),
            5e6,
            merchant,
            ORDER,
            block.timestamp,
            27,
            bytes32(0),
            bytes32(0)
        );
        assertEq(processor.balanceOf(merchant, address(usdc)), 5e6, "credited");
    }

    function test_payTokenWithPermit_revertsWhenPermitFailsAndAllowanceTooLow() public {
        (uint256 key, address holder) = _freshHolder("permitter", 1_000e6);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(key, 25e6, deadline);
        vm.warp(deadline + 1); // expired permit

        vm.prank(holder);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPaymentProcessor.PaymentProcessorInsufficientAllowance.selector,
                address(usdc),
                uint256(0),
                uint256(25e6)
            )
        );
        processor.payTokenWithPermit(address(usdc), 25e6, merchant, ORDER, deadline, v, r, s);
    }

    function test_payTokenWithPermit_worksForTokenWithoutPermitWhenApproved() public {
        FeeOnTransferToken fee = _allowFeeToken(0);
        vm.prank(payer);
        processor.payTokenWithPermit(address(fee), 1000, merchant, ORDER, block.timestamp, 0, 0, 0);
        assertEq(processor.balanceOf(merchant, address(fee)), 1000, "credited");
    }

    function test_payTokenWithPermit_revertsWhenPaused() public {
        (uint256 key, address holder) = _freshHolder("permitter", 1_000e6);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(key, 25e6, deadline);
        vm.prank(owner);
        processor.pause();
        vm.prank(holder);
        vm.expectRevert(_err(Pausable.EnforcedPause.selector));
        processor.payTokenWithPermit(address(usdc), 25e6, merchant, ORDER, deadline, v, r, s);
    }

    function test_payTokenWithPermit_revertsForTokenNotAllowed() public {
        MockStablecoin other = new MockStablecoin();
        vm.prank(payer);
        other.approve(address(processor), type(uint256).max);
        other.mint(payer, 100);
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IPaymentProcessor.PaymentProcessorTokenNotAllowed.selector, address(other))
        );
        processor.payTokenWithPermit(address(other), 100, merchant, ORDER, block.timestamp, 0, 0, 0);
    }

    function testFuzz_payTokenWithPermit_creditsExactly(uint256 amount, bytes32 orderId) public {
        amount = bound(amount, 1, 1_000e6);
        (uint256 key, address holder) = _freshHolder("permitter", 1_000e6);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(key, amount, deadline);
        vm.prank(holder);
        processor.payTokenWithPermit(address(usdc), amount, merchant, orderId, deadline, v, r, s);
        assertEq(processor.balanceOf(merchant, address(usdc)), amount, "credited exactly");
        assertEq(usdc.balanceOf(holder), 1_000e6 - amount, "debited exactly");
    }

    // =============================================================================================
    // withdraw
    // =============================================================================================

    function test_withdraw_ethSendsAndEmits() public {
        _payEth(merchant, 3 ether);
        address to = makeAddr("treasury");
        vm.expectEmit(true, true, true, true, address(processor));
        emit IPaymentProcessor.Withdrawn(merchant, ETH, to, 2 ether);
        vm.prank(merchant);
        processor.withdraw(ETH, 2 ether, payable(to));
        assertEq(to.balance, 2 ether, "received");
        assertEq(processor.balanceOf(merchant, ETH), 1 ether, "remaining");
    }

    function test_withdraw_ethWholeBalanceKeepsSentinel() public {
        _payEth(merchant, 3 ether);
        vm.prank(merchant);
        processor.withdraw(ETH, 3 ether, payable(merchant));
        assertEq(processor.balanceOf(merchant, ETH), 0, "balance");
        assertEq(_raw(_ethSlot(merchant)), 1, "slot keeps the sentinel, never zero");
        assertEq(merchant.balance, 3 ether, "received");
    }

    function test_withdraw_tokenSendsAndEmits() public {
        _payUsdc(merchant, 30e6);
        vm.expectEmit(true, true, true, true, address(processor));
        emit IPaymentProcessor.Withdrawn(merchant, address(usdc), customer, 30e6);
        vm.prank(merchant);
        processor.withdraw(address(usdc), 30e6, payable(customer));
        assertEq(usdc.balanceOf(customer), 30e6, "received");
        assertEq(processor.balanceOf(merchant, address(usdc)), 0, "balance");
        assertEq(_raw(_tokenSlot(address(usdc), merchant)), 1, "slot keeps the sentinel");
    }

    function test_withdraw_revertsWhenBalanceTooLow() public {
        _payEth(merchant, 1 ether);
        vm.prank(merchant);
        vm.expectRevert(_insufficient(merchant, ETH, 1 ether, 1 ether + 1));
        processor.withdraw(ETH, 1 ether + 1, payable(merchant));
    }

    function test_withdraw_tokenRevertsWhenBalanceTooLow() public {
        _payUsdc(merchant, 10);
        vm.prank(merchant);
        vm.expectRevert(_insufficient(merchant, address(usdc), 10, 11));
        processor.withdraw(address(usdc), 11, payable(merchant));
    }

    function test_withdraw_revertsForNeverCreditedCaller() public {
        _payEth(merchant, 1 ether);
        _payUsdc(merchant, 1e6);
        address thief = makeAddr("thief");
        vm.startPrank(thief);
        vm.expectRevert(_insufficient(thief, ETH, 0, 1));
        processor.withdraw(ETH, 1, payable(thief));
        vm.expectRevert(_insufficient(thief, address(usdc), 0, 1));
        processor.withdraw(address(usdc), 1, payable(thief));
        vm.stopPrank();
    }

    function test_withdraw_ownerCannotTakeMerchantFunds() public {
        _payEth(merchant, 1 ether);
        _payUsdc(merchant, 1e6);
        vm.startPrank(owner);
        vm.expectRevert(_insufficient(owner, ETH, 0, 1 ether));
        processor.withdraw(ETH, 1 ether, payable(owner));
        vm.expectRevert(_insufficient(owner, address(usdc), 0, 1e6));
        processor.withdraw(address(usdc), 1e6, payable(owner));
        vm.stopPrank();
    }

    function test_withdraw_revertsWithZeroAmount() public {
        _payEth(merchant, 1 ether);
        vm.prank(merchant);
        vm.expectRevert(_err(IPaymentProcessor.PaymentProcessorZeroAmount.selector));
        processor.withdraw(ETH, 0, payable(merchant));
    }

    function test_withdraw_revertsWithZeroRecipient() public {
        _payEth(merchant, 1 ether);
        vm.prank(merchant);
        vm.expectRevert(_err(IPaymentProcessor.PaymentProcessorZeroRecipient.selector));
        processor.withdraw(ETH, 1, payable(address(0)));
    }

    function test_withdraw_tokenRevertsWithZeroRecipient() public {
        _payUsdc(merchant, 1e6);
        vm.prank(merchant);
        vm.expectRevert(_err(IPaymentProcessor.PaymentProcessorZeroRecipient.selector));
        processor.withdraw(address(usdc), 1, payable(address(0)));
    }

    function test_withdraw_revertsWhenRecipientRejectsEther() public {
        _payEth(merchant, 1 ether);
        ReentrantReceiver rejecting = new ReentrantReceiver(address(processor));
        rejecting.setRejectEther(true);
        vm.prank(merchant);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPaymentProcessor.PaymentProcessorEtherTransferFailed.selector,
                address(rejecting),
                uint256(1 ether)
            )
        );
        processor.withdraw(ETH, 1 ether, payable(address(rejecting)));
        assertEq(processor.balanceOf(merchant, ETH), 1 ether, "balance restored by the revert");
    }

    function test_withdraw_worksWhilePaused() public {
        _payEth(merchant, 1 ether);
        _payUsdc(merchant, 1e6);
        vm.prank(owner);
        processor.pause();
        vm.startPrank(merchant);
        processor.withdraw(ETH, 1 ether, payable(merchant));
        processor.withdraw(address(usdc), 1e6, payable(merchant));
        vm.stopPrank();
        assertEq(merchant.balance, 1 ether, "eth");
        assertEq(usdc.balanceOf(merchant), 1e6, "usdc");
    }

    function test_withdraw_worksAfterTokenRemovedFromAllowlist() public {
        _payUsdc(merchant, 1e6);
        vm.prank(owner);
        processor.setTokenAllowed(address(usdc), false);
        vm.prank(merchant);
        processor.withdraw(address(usdc), 1e6, payable(merchant));
        assertEq(usdc.balanceOf(merchant), 1e6, "usdc");
    }

    function test_withdraw_revertsWhenTokenTransferReturnsFalse() public {
        FalseReturningToken bad = _allowFalseToken();
        vm.prank(payer);
        processor.payToken(address(bad), 1000, merchant, ORDER);
        bad.setModes(true, false, false);
        vm.prank(merchant);
        vm.expectRevert(abi.encodeWithSelector(SafeERC20.SafeERC20FailedOperation.selector, address(bad)));
        processor.withdraw(address(bad), 1000, payable(merchant));
        assertEq(processor.balanceOf(merchant, address(bad)), 1000, "balance restored by the revert");
    }

    function testFuzz_withdraw_debitsExactly(uint256 credit, uint256 amount, bool inToken) public {
        credit = bound(credit, 1, 1_000_000 ether);
        amount = bound(amount, 1, credit);
        address token = inToken ? address(usdc) : ETH;
        address to = makeAddr("withdrawTo");
        if (inToken) _payUsdc(merchant, credit);
        else _payEth(merchant, credit);

        vm.prank(merchant);
        processor.withdraw(token, amount, payable(to));

        assertEq(processor.balanceOf(merchant, token), credit - amount, "debited exactly");
        assertEq(inToken ? usdc.balanceOf(to) : to.balance, amount, "sent exactly");
    }

    function testFuzz_withdraw_revertsAboveBalance(uint256 credit, uint256 amount) public {
        credit = bound(credit, 1, 1_000_000 ether);
        amount = bound(amount, credit + 1, type(uint256).max);
        _payEth(merchant, credit);
        vm.prank(merchant);
        vm.expectRevert(_insufficient(merchant, ETH, credit, amount));
        processor.withdraw(ETH, amount, payable(merchant));
    }

    // =============================================================================================
    // refund
    // =============================================================================================

    function test_refund_ethSendsAndEmits() public {
        _payEth(merchant, 3 ether);
        vm.expectEmit(true, true, true, true, address(processor));
        emit IPaymentProcessor.Refunded(merchant, ORDER, customer, ETH, 1 ether);
        vm.prank(merchant);
        processor.refund(ETH, ORDER, payable(customer), 1 ether);
        assertEq(customer.balance, 1 ether, "refunded");
        assertEq(processor.balanceOf(merchant, ETH), 2 ether, "remaining");
    }

    function test_refund_tokenSendsAndEmits() public {
        _payUsdc(merchant, 30e6);
        vm.expectEmit(true, true, true, true, address(processor));
        emit IPaymentProcessor.Refunded(merchant, ORDER, customer, address(usdc), 10e6);
        vm.prank(merchant);
        processor.refund(address(usdc), ORDER, payable(customer), 10e6);
        assertEq(usdc.balanceOf(customer), 10e6, "refunded");
        assertEq(processor.balanceOf(merchant, address(usdc)), 20e6, "remaining");
    }

    function test_refund_revertsWhenBalanceTooLow() public {
        _payEth(merchant, 1 ether);
        vm.prank(merchant);
        vm.expectRevert(_insufficient(merchant, ETH, 1 ether, 2 ether));
        processor.refund(ETH, ORDER, payable(customer), 2 ether);
    }

    function test_refund_tokenRevertsWhenBalanceTooLow() public {
        _payUsdc(merchant, 1);
        vm.prank(merchant);
        vm.expectRevert(_insufficient(merchant, address(usdc), 1, 2));
        processor.refund(address(usdc), ORDER, payable(customer), 2);
    }

    function test_refund_revertsForNonMerchant() public {
        _payEth(merchant, 1 ether);
        address thief = makeAddr("thief");
        vm.prank(thief);
        vm.expectRevert(_insufficient(thief, ETH, 0, 1 ether));
        processor.refund(ETH, ORDER, payable(thief), 1 ether);
    }

    function test_refund_revertsWithZeroAmount() public {
        _payUsdc(merchant, 1);
        vm.prank(merchant);
        vm.expectRevert(_err(IPaymentProcessor.PaymentProcessorZeroAmount.selector));
        processor.refund(address(usdc), ORDER, payable(customer), 0);
    }

    function test_refund_revertsWithZeroRecipient() public {
        _payEth(merchant, 1);
        vm.prank(merchant);
        vm.expectRevert(_err(IPaymentProcessor.PaymentProcessorZeroRecipient.selector));
        processor.refund(ETH, ORDER, payable(address(0)), 1);
    }

    function test_refund_revertsWhenRecipientRejectsEther() public {
        _payEth(merchant, 1 ether);
        ReentrantReceiver rejecting = new ReentrantReceiver(address(processor));
        rejecting.setRejectEther(true);
        vm.prank(merchant);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPaymentProcessor.PaymentProcessorEtherTransferFailed.selector,
                address(rejecting),
                uint256(1 ether)
            )
        );
        processor.refund(ETH, ORDER, payable(address(rejecting)), 1 ether);
    }

    function test_refund_worksWhilePaused() public {
        _payEth(merchant, 1 ether);
        _payUsdc(merchant, 1e6);
        vm.prank(owner);
        processor.pause();
        vm.startPrank(merchant);
        processor.refund(ETH, ORDER, payable(customer), 1 ether);
        processor.refund(address(usdc), ORDER, payable(customer), 1e6);
        vm.stopPrank();
        assertEq(customer.balance, 1 ether, "eth");
        assertEq(usdc.balanceOf(customer), 1e6, "usdc");
    }

    function testFuzz_refund_debitsExactly(
        uint256 credit,
        uint256 amount,
        bytes32 orderId,
        bool inToken
    ) public {
        credit = bound(credit, 1, 1_000_000 ether);
        amount = bound(amount, 1, credit);
        address token = inToken ? address(usdc) : ETH;
        if (inToken) _payUsdc(merchant, credit);
        else _payEth(merchant, credit);

        vm.expectEmit(true, true, true, true, address(processor));
        emit IPaymentProcessor.Refunded(merchant, orderId, customer, token, amount);
        vm.prank(merchant);
        processor.refund(token, orderId, payable(customer), amount);

        assertEq(processor.balanceOf(merchant, token), credit - amount, "debited exactly");
        assertEq(inToken ? usdc.balanceOf(customer) : customer.balance, amount, "refunded exactly");
    }

    // =============================================================================================
    // balanceOf
    // =============================================================================================

    function test_balanceOf_isZeroForNeverCredited() public view {
        assertEq(processor.balanceOf(merchant, ETH), 0, "eth");
        assertEq(processor.balanceOf(merchant, address(usdc)), 0, "usdc");
    }

    function testFuzz_balanceOf_tracksPaymentsMinusDebits(
        uint256 paid,
        uint256 withdrawn,
        uint256 refunded
    ) public {
        paid = bound(paid, 1, 1_000_000 ether);
        withdrawn = bound(withdrawn, 0, paid);
        refunded = bound(refunded, 0, paid - withdrawn);
        _payEth(merchant, paid);
        vm.startPrank(merchant);
        if (withdrawn > 0) processor.withdraw(ETH, withdrawn, payable(merchant));
        if (refunded > 0) processor.refund(ETH, ORDER, payable(customer), refunded);
        vm.stopPrank();
        assertEq(processor.balanceOf(merchant, ETH), paid - withdrawn - refunded, "balance");
    }

    // =============================================================================================
    // setTokenAllowed / isTokenAllowed
    // =============================================================================================

    function test_setTokenAllowed_addsAndRemovesAndEmits() public {
        MockStablecoin other = new MockStablecoin();
        assertFalse(processor.isTokenAllowed(address(other)), "not yet");

        vm.expectEmit(true, true, true, true, address(processor));
        emit IPaymentProcessor.TokenAllowlistUpdated(address(other), true);
        vm.prank(owner);
        processor.setTokenAllowed(address(other), true);
        assertTrue(processor.isTokenAllowed(address(other)), "allowed");

        vm.expectEmit(true, true, true, true, address(processor));
        emit IPaymentProcessor.TokenAllowlistUpdated(address(other), false);
        vm.prank(owner);
        processor.setTokenAllowed(address(other), false);
        assertFalse(processor.isTokenAllowed(address(other)), "removed");
        assertEq(_raw(_tokenStateSlot(address(other))), 4, "only the sticky ever-allowed bit remains");
    }

    function test_setTokenAllowed_isIdempotent() public {
        vm.startPrank(owner);
        processor.setTokenAllowed(address(usdc), true);
        processor.setTokenAllowed(address(usdc), true);
        processor.setTokenAllowed(address(usdc), false);
        processor.setTokenAllowed(address(usdc), false);
        vm.stopPrank();
        assertFalse(processor.isTokenAllowed(address(usdc)), "removed once is removed");
    }

    function test_setTokenAllowed_revertsForNonOwner() public {
        vm.prank(merchant);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, merchant));
        processor.setTokenAllowed(address(usdc), false);
    }

    function test_setTokenAllowed_revertsForZeroToken() public {
        vm.prank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(IPaymentProcessor.PaymentProcessorInvalidToken.selector, address(0))
        );
        processor.setTokenAllowed(address(0), true);
    }

    function test_setTokenAllowed_revertsWhenAllowlistFull() public {
        vm.startPrank(owner);
        // usdc is already on the list: 31 more fill it to 32.
        for (uint256 i = 1; i < 32; ++i) processor.setTokenAllowed(address(uint160(0x1000 + i)), true);
        vm.expectRevert(
            abi.encodeWithSelector(IPaymentProcessor.PaymentProcessorAllowlistFull.selector, uint256(32))
        );
        processor.setTokenAllowed(address(0xBEEF), true);
        // Re-allowing a listed token does not count twice; removing frees a place.
        processor.setTokenAllowed(address(usdc), true);
        processor.setTokenAllowed(address(uint160(0x1001)), false);
        processor.setTokenAllowed(address(0xBEEF), true);
        vm.stopPrank();
        assertTrue(processor.isTokenAllowed(address(0xBEEF)), "added after a removal");
    }

    function test_setTokenAllowed_whilePausedDoesNotAcceptPayments() public {
        FeeOnTransferToken fee = new FeeOnTransferToken(0);
        vm.startPrank(owner);
        processor.pause();
        processor.setTokenAllowed(address(fee), true);
        vm.stopPrank();
        assertTrue(processor.isTokenAllowed(address(fee)), "allowed");
        assertEq(_raw(_tokenStateSlot(address(fee))) & 1, 0, "not accepting while paused");

        fee.mint(payer, 1000);
        vm.prank(payer);
        fee.approve(address(processor), type(uint256).max);
        vm.prank(payer);
        vm.expectRevert(_err(Pausable.EnforcedPause.selector));
        processor.payToken(address(fee), 1000, merchant, ORDER);

        vm.prank(owner);
        processor.unpause();
        vm.prank(payer);
        processor.payToken(address(fee), 1000, merchant, ORDER);
        assertEq(processor.balanceOf(merchant, address(fee)), 1000, "accepted after unpause");
    }

    // =============================================================================================
    // pause / unpause
    // =============================================================================================

    function test_pause_emitsAndBlocksPaymentsOnly() public {
        _payEth(merchant, 1 ether);
        vm.expectEmit(true, true, true, true, address(processor));
        emit Pausable.Paused(owner);
        vm.prank(owner);
        processor.pause();
        assertTrue(processor.paused(), "paused");
        assertTrue(processor.isTokenAllowed(address(usdc)), "allowlist unchanged");

        vm.prank(merchant);
        processor.withdraw(ETH, 1 ether, payable(merchant));

        vm.expectEmit(true, true, true, true, address(processor));
        emit Pausable.Unpaused(owner);
        vm.prank(owner);
        processor.unpause();
        _payEth(merchant, 1 ether);
        _payUsdc(merchant, 1e6);
        assertEq(processor.balanceOf(merchant, address(usdc)), 1e6, "token payments resume");
    }

    function test_pause_togglesEveryAllowlistedToken() public {
        vm.startPrank(owner);
        for (uint256 i = 1; i < 32; ++i) processor.setTokenAllowed(address(uint160(0x1000 + i)), true);
        processor.pause();
        vm.stopPrank();
        for (uint256 i = 1; i < 32; ++i) {
            assertEq(_raw(_tokenStateSlot(address(uint160(0x1000 + i)))), 6, "allowed, not accepting");
        }
        vm.prank(owner);
        processor.unpause();
        for (uint256 i = 1; i < 32; ++i) {
            assertEq(_raw(_tokenStateSlot(address(uint160(0x1000 + i)))), 7, "accepting again");
        }
    }

    function test_pause_revertsForNonOwner() public {
        vm.prank(merchant);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, merchant));
        processor.pause();
    }

    function test_pause_revertsWhenAlreadyPaused() public {
        vm.startPrank(owner);
        processor.pause();
        vm.expectRevert(_err(Pausable.EnforcedPause.selector));
        processor.pause();
        vm.stopPrank();
    }

    function test_unpause_revertsForNonOwner() public {
        vm.prank(owner);
        processor.pause();
        vm.prank(merchant);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, merchant));
        processor.unpause();
    }

    function test_unpause_revertsWhenNotPaused() public {
        vm.prank(owner);
        vm.expectRevert(_err(Pausable.ExpectedPause.selector));
        processor.unpause();
    }

    // =============================================================================================
    // rescue
    // =============================================================================================

    function test_rescue_sendsNeverAllowlistedToken() public {
        MockStablecoin stray = new MockStablecoin();
        stray.mint(address(processor), 500);
        vm.expectEmit(true, true, true, true, address(processor));
        emit IPaymentProcessor.TokenRescued(address(stray), customer, 500);
        vm.prank(owner);
        processor.rescue(address(stray), customer, 500);
        assertEq(stray.balanceOf(customer), 500, "rescued");
    }

    function test_rescue_revertsForAllowlistedToken() public {
        _payUsdc(merchant, 1e6);
        vm.prank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPaymentProcessor.PaymentProcessorTokenNotRescuable.selector,
                address(usdc)
            )
        );
        processor.rescue(address(usdc), owner, 1e6);
    }

    function test_rescue_revertsForTokenRemovedFromAllowlist() public {
        _payUsdc(merchant, 1e6);
        vm.startPrank(owner);
        processor.setTokenAllowed(address(usdc), false);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPaymentProcessor.PaymentProcessorTokenNotRescuable.selector,
                address(usdc)
            )
        );
        processor.rescue(address(usdc), owner, 1e6);
        vm.stopPrank();
    }

    function test_rescue_revertsForEther() public {
        vm.prank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(IPaymentProcessor.PaymentProcessorTokenNotRescuable.selector, address(0))
        );
        processor.rescue(address(0), owner, 1);
    }

    function test_rescue_revertsForNonOwner() public {
        MockStablecoin stray = new MockStablecoin();
        vm.prank(merchant);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, merchant));
        processor.rescue(address(stray), merchant, 1);
    }

    function test_rescue_revertsWithZeroRecipient() public {
        MockStablecoin stray = new MockStablecoin();
        vm.prank(owner);
        vm.expectRevert(_err(IPaymentProcessor.PaymentProcessorZeroRecipient.selector));
        processor.rescue(address(stray), address(0), 1);
    }

    function test_rescue_revertsWithZeroAmount() public {
        MockStablecoin stray = new MockStablecoin();
        vm.prank(owner);
        vm.expectRevert(_err(IPaymentProcessor.PaymentProcessorZeroAmount.selector));
        processor.rescue(address(stray), owner, 0);
    }

    function testFuzz_rescue_neverTouchesCreditedTokens(uint256 amount, bool removeFirst) public {
        amount = bound(amount, 1, 1e30);
        _payUsdc(merchant, amount);
        vm.startPrank(owner);
        if (removeFirst) processor.setTokenAllowed(address(usdc), false);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPaymentProcessor.PaymentProcessorTokenNotRescuable.selector,
                address(usdc)
            )
        );
        processor.rescue(address(usdc), owner, amount);
        vm.stopPrank();
        assertEq(processor.balanceOf(merchant, address(usdc)), amount, "untouched");
    }

    // =============================================================================================
    // Helpers
    // =============================================================================================

    function _allowFeeToken(uint256 feeBps) internal returns (FeeOnTransferToken fee) {
        fee = new FeeOnTransferToken(feeBps);
        vm.prank(owner);
        processor.setTokenAllowed(address(fee), true);
        fee.mint(payer, 1e31);
        vm.prank(payer);
        fee.approve(address(processor), type(uint256).max);
    }

    function _allowFalseToken() internal returns (FalseReturningToken bad) {
        bad = new FalseReturningToken();
        vm.prank(owner);
        processor.setTokenAllowed(address(bad), true);
        bad.mint(payer, 1e30);
        vm.prank(payer);
        bad.approve(address(processor), type(uint256).max);
    }

    function _freshHolder(string memory name, uint256 amount) internal returns (uint256 key, address holder) {
        key = uint256(keccak256(bytes(name)));
        holder = vm.addr(key);
        vm.label(holder, name);
        usdc.mint(holder, amount);
    }
}
