// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {SubscriptionsFixture} from "./utils/SubscriptionsFixture.sol";
import {IPaymentProcessor} from "../../contracts/interfaces/IPaymentProcessor.sol";
import {ISubscriptions} from "../../contracts/interfaces/ISubscriptions.sol";
import {FalseReturningToken} from "../../contracts/mocks/FalseReturningToken.sol";
import {ReentrantToken} from "../../contracts/mocks/ReentrantToken.sol";
import {SubscriptionGate} from "../../contracts/mocks/SubscriptionGate.sol";

/// @notice Unit and fuzz tests of the Subscriptions money rules: a period is charged exactly once, never
/// before its start, never for more than the amount per period, only into the processor for the bound
/// merchant, and never after a cancel.
contract SubscriptionsTest is SubscriptionsFixture {
    // ---------------------------------------------------------------------------------------------
    // subscribe
    // ---------------------------------------------------------------------------------------------

    function test_subscribe_storesTermsAndEmits() public {
        vm.expectEmit(address(subs));
        emit ISubscriptions.Subscribed(1, merchant, REF, customer, address(usdc), AMOUNT, MONTH, uint64(T0));
        uint256 id = _subscribe();
        assertEq(id, 1, "first id");
        assertEq(subs.subscriptionCount(), 1, "count");
        ISubscriptions.Subscription memory s = subs.getSubscription(id);
        assertEq(s.customer, customer, "customer");
        assertEq(s.merchant, merchant, "merchant");
        assertEq(s.token, address(usdc), "token");
        assertEq(s.amountPerPeriod, AMOUNT, "amount");
        assertEq(s.interval, MONTH, "interval");
        assertEq(s.paidThrough, T0, "paidThrough = start");
        assertEq(s.periodsCollected, 0, "periods");
        assertEq(s.ref, REF, "ref");
        assertFalse(s.cancelled, "cancelled");
        assertEq(subs.paidThrough(id), T0, "paidThrough view");
        assertEq(address(subs.processor()), address(processor), "processor");
        assertEq(usdc.balanceOf(customer), 1e15, "nothing charged at subscribe");
    }

    function test_subscribe_futureStartAndSequentialIds() public {
        vm.prank(customer);
        uint256 a = subs.subscribe(merchant, address(usdc), AMOUNT, MONTH, uint64(T0 + 10 days), REF);
        uint256 b = _subscribe();
        assertEq(a, 1, "a");
        assertEq(b, 2, "b");
        assertEq(subs.paidThrough(a), T0 + 10 days, "future start");
    }

    function test_subscribe_approvesProcessorOnceForMax() public {
        assertEq(usdc.allowance(address(subs), address(processor)), 0, "before");
        _subscribe();
        assertEq(usdc.allowance(address(subs), address(processor)), type(uint256).max, "after");
        _subscribe(); // allowance already in place: no second approval needed
        assertEq(usdc.allowance(address(subs), address(processor)), type(uint256).max, "still max");
    }

    function test_subscribe_revertsOnBadTerms() public {
        vm.startPrank(customer);
        vm.expectRevert(ISubscriptions.SubscriptionsZeroMerchant.selector);
        subs.subscribe(address(0), address(usdc), AMOUNT, MONTH, 0, REF);
        vm.expectRevert(ISubscriptions.SubscriptionsZeroAmount.selector);
        subs.subscribe(merchant, address(usdc), 0, MONTH, 0, REF);
        uint256 tooMuch = uint256(type(uint96).max) + 1;
        vm.expectRevert(
            abi.encodeWithSelector(
                ISubscriptions.SubscriptionsAmountTooLarge.selector,
                tooMuch,
                uint256(type(uint96).max)
            )
        );
        subs.subscribe(merchant, address(usdc), tooMuch, MONTH, 0, REF);
        vm.expectRevert(ISubscriptions.SubscriptionsZeroInterval.selector);
        subs.subscribe(merchant, address(usdc), AMOUNT, 0, 0, REF);
        vm.expectRevert(
            abi.encodeWithSelector(ISubscriptions.SubscriptionsStartInPast.selector, uint64(T0 - 1), T0)
        );
        subs.subscribe(merchant, address(usdc), AMOUNT, MONTH, uint64(T0 - 1), REF);
        vm.expectRevert(
            abi.encodeWithSelector(ISubscriptions.SubscriptionsTokenNotAllowed.selector, address(0xdead))
        );
        subs.subscribe(merchant, address(0xdead), AMOUNT, MONTH, 0, REF);
        vm.stopPrank();
        assertEq(subs.subscriptionCount(), 0, "nothing created");
    }

    function test_subscribe_maxAmountIsAccepted() public {
        vm.prank(customer);
        uint256 id = subs.subscribe(merchant, address(usdc), type(uint96).max, MONTH, 0, REF);
        assertEq(subs.getSubscription(id).amountPerPeriod, type(uint96).max, "uint96 max");
    }

    // ---------------------------------------------------------------------------------------------
    // subscribeWithPermit
    // ---------------------------------------------------------------------------------------------

    function test_subscribeWithPermit_setsAllowanceAndSubscribes() public {
        vm.prank(customer);
        usdc.approve(address(subs), 0);
        uint256 cap = 12 * AMOUNT;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(customerKey, address(subs), cap, T0 + 1 hours);
        vm.prank(customer);
        uint256 id = subs.subscribeWithPermit(
            merchant,
            address(usdc),
            AMOUNT,
            MONTH,
            0,
            REF,
            cap,
            T0 + 1 hours,
            v,
            r,
            s
        );
        assertEq(usdc.allowance(customer, address(subs)), cap, "permit allowance");
        subs.collect(id);
        assertEq(processor.balanceOf(merchant, address(usdc)), AMOUNT, "first period credited");
    }

    function test_subscribeWithPermit_frontRunPermitStillSubscribes() public {
        vm.prank(customer);
        usdc.approve(address(subs), 0);
        uint256 cap = 12 * AMOUNT;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(customerKey, address(subs), cap, T0 + 1 hours);
        usdc.permit(customer, address(subs), cap, T0 + 1 hours, v, r, s); // copied from the mempool
        vm.prank(customer);
        uint256 id = subs.subscribeWithPermit(
            merchant,
            address(usdc),
            AMOUNT,
            MONTH,
            0,
            REF,
            cap,
            T0 + 1 hours,
            v,
            r,
            s
        );
        assertEq(id, 1, "created");
    }

    function test_subscribeWithPermit_revertsWhenPermitFailsWithoutAllowance() public {
        vm.prank(customer);
        usdc.approve(address(subs), AMOUNT - 1);
        vm.prank(customer);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISubscriptions.SubscriptionsPermitFailed.selector,
                address(usdc),
                AMOUNT - 1,
                AMOUNT
            )
        );
        subs.subscribeWithPermit(
            merchant,
            address(usdc),
            AMOUNT,
            MONTH,
            0,
            REF,
            AMOUNT,
            T0,
            27,
            bytes32(0),
            bytes32(0)
        );
    }

    // ---------------------------------------------------------------------------------------------
    // collect
    // ---------------------------------------------------------------------------------------------

    function test_collect_chargesOnePeriodIntoTheProcessor() public {
        uint256 id = _subscribe();
        vm.expectEmit(address(subs));
        emit ISubscriptions.Collected(id, 0, uint64(T0 + MONTH), AMOUNT);
        vm.expectEmit(address(processor));
        emit IPaymentProcessor.PaymentReceived(merchant, REF, address(subs), address(usdc), AMOUNT);
        vm.prank(stranger);
        subs.collect(id);
        assertEq(usdc.balanceOf(customer), 1e15 - AMOUNT, "customer debited once");
        assertEq(processor.balanceOf(merchant, address(usdc)), AMOUNT, "merchant credited");
        assertEq(usdc.balanceOf(address(processor)), AMOUNT, "processor holds it");
        assertEq(usdc.balanceOf(address(subs)), 0, "subscriptions holds nothing");
        assertEq(usdc.balanceOf(stranger), 0, "caller gets nothing");
        assertEq(subs.paidThrough(id), T0 + MONTH, "paid through");
        assertEq(subs.getSubscription(id).periodsCollected, 1, "one period");
    }

    function test_collect_revertsWhenCollectedTwiceInAPeriod() public {
        uint256 id = _subscribe();
        subs.collect(id);
        vm.warp(T0 + MONTH - 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISubscriptions.SubscriptionsNotDue.selector,
                id,
                uint64(T0 + MONTH),
                T0 + MONTH - 1
            )
        );
        subs.collect(id);
        vm.warp(T0 + MONTH);
        subs.collect(id);
        assertEq(processor.balanceOf(merchant, address(usdc)), 2 * AMOUNT, "two periods");
    }

    function test_collect_revertsBeforeStart() public {
        vm.prank(customer);
        uint256 id = subs.subscribe(merchant, address(usdc), AMOUNT, MONTH, uint64(T0 + 1 days), REF);
        vm.expectRevert(
            abi.encodeWithSelector(ISubscriptions.SubscriptionsNotDue.selector, id, uint64(T0 + 1 days), T0)
        );
        subs.collect(id);
        vm.warp(T0 + 1 days);
        subs.collect(id);
        assertEq(subs.paidThrough(id), T0 + 1 days + MONTH, "first period from its start");
    }

    function test_collect_overduePeriodsOnePerCallInOrder() public {
        uint256 id = _subscribe();
        vm.warp(T0 + 2 * MONTH + 5); // periods 0, 1 and 2 are due
        for (uint256 k; k < 3; ++k) {
            vm.expectEmit(address(subs));
            emit ISubscriptions.Collected(id, k, uint64(T0 + (k + 1) * MONTH), AMOUNT);
            subs.collect(id);
        }
        vm.expectRevert(
            abi.encodeWithSelector(
                ISubscriptions.SubscriptionsNotDue.selector,
                id,
                uint64(T0 + 3 * MONTH),
                T0 + 2 * MONTH + 5
            )
        );
        subs.collect(id);
        assertEq(processor.balanceOf(merchant, address(usdc)), 3 * AMOUNT, "three periods");
    }

    function test_collect_revertsForUnknownId() public {
        vm.expectRevert(abi.encodeWithSelector(ISubscriptions.SubscriptionsNotFound.selector, 7));
        subs.collect(7);
    }

    function test_collect_revertsAfterCancel() public {
        uint256 id = _subscribe();
        subs.collect(id);
        vm.prank(customer);
        subs.cancel(id);
        vm.warp(T0 + 5 * MONTH);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptions.SubscriptionsCancelledAlready.selector, id));
        subs.collect(id);
        assertEq(subs.paidThrough(id), T0 + MONTH, "paid period stays paid");
    }

    function test_collect_revertsWhenAllowanceReduced() public {
        uint256 id = _subscribe();
        vm.prank(customer);
        usdc.approve(address(subs), AMOUNT - 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISubscriptions.SubscriptionsInsufficientAllowance.selector,
                id,
                AMOUNT - 1,
                AMOUNT
            )
        );
        subs.collect(id);
        assertEq(subs.paidThrough(id), T0, "period still unpaid");
        vm.prank(customer);
        usdc.approve(address(subs), AMOUNT);
        subs.collect(id);
        assertEq(subs.paidThrough(id), T0 + MONTH, "collected once allowance is back");
    }

    function test_collect_revertsWhenBalanceTooLow() public {
        uint256 id = _subscribe();
        uint256 all = usdc.balanceOf(customer);
        vm.prank(customer);
        usdc.transfer(stranger, all - 1);
        vm.expectRevert(
            abi.encodeWithSelector(ISubscriptions.SubscriptionsInsufficientBalance.selector, id, 1, AMOUNT)
        );
        subs.collect(id);
    }

    function test_collect_revertsWhenTokenReturnsFalse() public {
        FalseReturningToken bad = new FalseReturningToken();
        vm.prank(owner);
        processor.setTokenAllowed(address(bad), true);
        bad.mint(customer, 1e12);
        vm.startPrank(customer);
        bad.approve(address(subs), type(uint256).max);
        uint256 id = subs.subscribe(merchant, address(bad), AMOUNT, MONTH, 0, REF);
        vm.stopPrank();
        bad.setModes(true, false, false);
        vm.expectRevert(
            abi.encodeWithSelector(ISubscriptions.SubscriptionsTransferFailed.selector, id, address(bad))
        );
        subs.collect(id);
    }

    function test_collect_revertsWhileProcessorPausedAndTokenRemoved() public {
        uint256 id = _subscribe();
        vm.prank(owner);
        processor.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        subs.collect(id);
        vm.prank(owner);
        processor.unpause();
        vm.prank(owner);
        processor.setTokenAllowed(address(usdc), false);
        vm.expectRevert(
            abi.encodeWithSelector(IPaymentProcessor.PaymentProcessorTokenNotAllowed.selector, address(usdc))
        );
        subs.collect(id);
        assertEq(subs.paidThrough(id), T0, "unpaid after both refusals");
        assertEq(usdc.balanceOf(customer), 1e15, "customer untouched");
    }

    function test_collect_reentryFromTokenIsRefused() public {
        ReentrantToken evil = new ReentrantToken();
        vm.prank(owner);
        processor.setTokenAllowed(address(evil), true);
        evil.mint(customer, 1e12);
        vm.startPrank(customer);
        evil.approve(address(subs), type(uint256).max);
        uint256 id = subs.subscribe(merchant, address(evil), AMOUNT, 1, 0, REF);
        vm.stopPrank();
        vm.warp(T0 + 10); // many periods due: a successful reentry would charge a second one
        evil.arm(address(subs), abi.encodeCall(subs.collect, (id)));
        subs.collect(id);
        assertEq(evil.reentryCount(), 1, "token re-entered");
        assertFalse(evil.lastReentrySucceeded(), "reentry refused");
        assertEq(
            keccak256(evil.lastReentryReturnData()),
            keccak256(abi.encodeWithSelector(ISubscriptions.SubscriptionsReentrantCall.selector)),
            "with SubscriptionsReentrantCall"
        );
        assertEq(subs.getSubscription(id).periodsCollected, 1, "one period");
        assertEq(processor.balanceOf(merchant, address(evil)), AMOUNT, "one amount");
    }

    function test_collect_revertsWhenPaidThroughWouldOverflow() public {
        vm.prank(customer);
        uint256 id = subs.subscribe(merchant, address(usdc), AMOUNT, type(uint64).max, 0, REF);
        vm.expectRevert(abi.encodeWithSignature("Panic(uint256)", 0x11));
        subs.collect(id);
    }

    // ---------------------------------------------------------------------------------------------
    // cancel
    // ---------------------------------------------------------------------------------------------

    function test_cancel_byCustomerEmits() public {
        uint256 id = _subscribe();
        vm.expectEmit(address(subs));
        emit ISubscriptions.Cancelled(id, customer, uint64(T0));
        vm.prank(customer);
        subs.cancel(id);
        assertTrue(subs.getSubscription(id).cancelled, "cancelled");
    }

    function test_cancel_byMerchant() public {
        uint256 id = _subscribe();
        vm.prank(merchant);
        subs.cancel(id);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptions.SubscriptionsCancelledAlready.selector, id));
        subs.collect(id);
    }

    function test_cancel_revertsForStrangerUnknownAndTwice() public {
        uint256 id = _subscribe();
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(ISubscriptions.SubscriptionsUnauthorized.selector, id, stranger)
        );
        subs.cancel(id);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptions.SubscriptionsNotFound.selector, 99));
        subs.cancel(99);
        vm.prank(customer);
        subs.cancel(id);
        vm.prank(merchant);
        vm.expectRevert(abi.encodeWithSelector(ISubscriptions.SubscriptionsCancelledAlready.selector, id));
        subs.cancel(id);
    }

    // ---------------------------------------------------------------------------------------------
    // paidThrough read by another contract
    // ---------------------------------------------------------------------------------------------

    function test_gate_readsPaidThroughAndTerms() public {
        SubscriptionGate gate = new SubscriptionGate(subs, merchant, address(usdc), AMOUNT, MONTH);
        uint256 id = _subscribe();
        assertFalse(gate.hasAccess(id), "nothing paid yet");
        subs.collect(id);
        assertTrue(gate.hasAccess(id), "paid");
        gate.enter(id);
        vm.warp(T0 + MONTH);
        assertFalse(gate.hasAccess(id), "period over");
        vm.expectRevert(abi.encodeWithSelector(SubscriptionGate.SubscriptionGateNoAccess.selector, id));
        gate.enter(id);

        // A cheap subscription to the same merchant, and one to somebody else, open nothing.
        vm.startPrank(customer);
        uint256 cheap = subs.subscribe(merchant, address(usdc), AMOUNT - 1, MONTH, 0, REF);
        uint256 other = subs.subscribe(stranger, address(usdc), AMOUNT, MONTH, 0, REF);
        vm.stopPrank();
        subs.collect(cheap);
        subs.collect(other);
        assertFalse(gate.hasAccess(cheap), "below price");
        assertFalse(gate.hasAccess(other), "other merchant");
    }

    // ---------------------------------------------------------------------------------------------
    // Fuzz
    // ---------------------------------------------------------------------------------------------

    /// Random waits between collect attempts: a collect succeeds exactly when the next period has started,
    /// charges exactly the amount per period, and the number of periods charged never exceeds the number
    /// started.
    function testFuzz_collect_neverEarlyNeverTwiceNeverAboveCap(
        uint96 amount,
        uint64 interval,
        uint32 startDelay,
        uint32[8] memory waits
    ) public {
        amount = uint96(bound(amount, 1, 1e15 / 8));
        interval = uint64(bound(interval, 1, 400 days));
        uint64 start = uint64(T0 + bound(startDelay, 0, 60 days));
        vm.prank(customer);
        uint256 id = subs.subscribe(merchant, address(usdc), amount, interval, start, REF);

        uint256 charged;
        for (uint256 i; i < waits.length; ++i) {
            vm.warp(block.timestamp + bound(waits[i], 0, 2 * uint256(interval)));
            uint64 dueAt = subs.paidThrough(id);
            uint256 customerBefore = usdc.balanceOf(customer);
            try subs.collect(id) {
                assertGe(block.timestamp, dueAt, "never early");
                assertEq(customerBefore - usdc.balanceOf(customer), amount, "exactly one period");
                assertEq(subs.paidThrough(id), dueAt + interval, "one period further");
                charged += amount;
            } catch (bytes memory err) {
                assertTrue(block.timestamp < dueAt, "refused only when not due");
                assertEq(
                    keccak256(err),
                    keccak256(
                        abi.encodeWithSelector(
                            ISubscriptions.SubscriptionsNotDue.selector,
                            id,
                            dueAt,
                            block.timestamp
                        )
                    ),
                    "NotDue"
                );
            }
            uint256 periods = subs.getSubscription(id).periodsCollected;
            uint256 started = block.timestamp < start ? 0 : (block.timestamp - start) / interval + 1;
            assertLe(periods, started, "never more periods than started");
            assertEq(subs.paidThrough(id), start + periods * interval, "paidThrough formula");
        }
        assertEq(processor.balanceOf(merchant, address(usdc)), charged, "credited == charged");
        assertEq(usdc.balanceOf(address(subs)), 0, "nothing held");
    }

    /// Valid terms are stored exactly; nothing is charged by subscribing.
    function testFuzz_subscribe_storesExactTerms(
        address m,
        uint256 amount,
        uint64 interval,
        uint32 delay,
        bytes32 ref
    ) public {
        vm.assume(m != address(0));
        amount = bound(amount, 1, type(uint96).max);
        interval = uint64(bound(interval, 1, type(uint64).max));
        uint64 start = uint64(T0 + delay);
        vm.prank(customer);
        uint256 id = subs.subscribe(m, address(usdc), amount, interval, start, ref);
        ISubscriptions.Subscription memory s = subs.getSubscription(id);
        assertEq(s.merchant, m, "merchant");
        assertEq(s.amountPerPeriod, amount, "amount");
        assertEq(s.interval, interval, "interval");
        assertEq(s.paidThrough, start, "start");
        assertEq(s.ref, ref, "ref");
        assertEq(usdc.balanceOf(customer), 1e15, "nothing charged");
    }
}
