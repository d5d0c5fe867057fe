// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "./utils/Test.sol";
import {Vm} from "./utils/Vm.sol";
import {ISubscriptions} from "../../contracts/interfaces/ISubscriptions.sol";
import {PaymentProcessor} from "../../contracts/payments/PaymentProcessor.sol";
import {Subscriptions} from "../../contracts/subscriptions/Subscriptions.sol";
import {MockStablecoin} from "../../contracts/mocks/MockStablecoin.sol";

// The handler lives in this file because the Solidity test runner resolves invariant targets only
// against artifacts of contracts/ and *.t.sol files.

/// @notice Drives random sequences of subscribe, collect, cancel, clock jumps, allowance and balance changes
/// by customers, and direct payments to the same merchants, against one Subscriptions contract bound to one
/// PaymentProcessor, and keeps ghost accounting per subscription.
/// @dev The runner ignores reverts inside handler calls, so the handler never asserts by reverting: it
/// predicts every outcome (success or the exact custom error) from its own ghost state and records the first
/// mismatch in `unexpected`, which the invariant checks.
contract SubscriptionsHandler {
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);
    uint256 internal constant MAX_SUBSCRIPTIONS = 24;

    PaymentProcessor public immutable processor;
    Subscriptions public immutable subs;
    MockStablecoin public immutable usdc;

    address[] public customers;
    address[] public merchants;
    address public immutable directPayer;
    address public immutable sink;

    // Ghost state per subscription id.
    mapping(uint256 id => uint256) public ghostStart;
    mapping(uint256 id => uint256) public ghostPeriods;
    mapping(uint256 id => uint256) public ghostCollected;
    mapping(uint256 id => bool) public ghostCancelled;
    // Every (id, period index) a successful collection charged; a second charge of one is recorded in
    // `collectedTwice`.
    mapping(uint256 id => mapping(uint256 period => bool)) public periodCharged;
    uint256 public collectedTwice;
    mapping(address merchant => uint256) public collectedFor;
    mapping(address merchant => uint256) public paidDirectly;
    uint256 public totalCollected;
    uint256 public totalPaidDirectly;

    string public unexpected;
    mapping(bytes32 action => uint256) public calls;

    constructor(PaymentProcessor processor_, Subscriptions subs_, MockStablecoin usdc_) {
        processor = processor_;
        subs = subs_;
        usdc = usdc_;
        for (uint256 i; i < 3; ++i) {
            address c = vm.addr(0xC0570 + i);
            customers.push(c);
            usdc.mint(c, 1e18);
            vm.prank(c);
            usdc.approve(address(subs), type(uint256).max);
        }
        for (uint256 i; i < 3; ++i) merchants.push(vm.addr(0x3E7C + i));
        directPayer = vm.addr(0xD1EC7);
        usdc.mint(directPayer, 1e18);
        vm.prank(directPayer);
        usdc.approve(address(processor), type(uint256).max);
        sink = vm.addr(0x5171C);
    }

    // ---------------------------------------------------------------------------------------------
    // Actions
    // ---------------------------------------------------------------------------------------------

    function subscribe(
        uint256 customerSeed,
        uint256 merchantSeed,
        uint256 amount,
        uint256 interval,
        uint256 delay
    ) external {
        ++calls["subscribe"];
        if (subs.subscriptionCount() >= MAX_SUBSCRIPTIONS) return;
        address c = customers[customerSeed % customers.length];
        address m = merchants[merchantSeed % merchants.length];
        amount = _bound(amount, 1, 1e12);
        interval = _bound(interval, 1, 90 days);
        uint256 start = block.timestamp + _bound(delay, 0, 30 days);
        bytes32 ref = bytes32(subs.subscriptionCount() + 1); // before the prank, which applies to the next call
        vm.prank(c);
        try subs.subscribe(m, address(usdc), amount, uint64(interval), uint64(start), ref) returns (
            uint256 id
        ) {
            if (id != subs.subscriptionCount()) _unexpected("subscribe: id is not the count");
            if (subs.getSubscription(id).customer != c) _unexpected("subscribe: customer is not the caller");
            ghostStart[id] = start;
        } catch {
            _unexpected("subscribe: valid terms refused");
        }
    }

    function collect(uint256 idSeed) external {
        ++calls["collect"];
        uint256 count = subs.subscriptionCount();
        if (count == 0) return;
        uint256 id = (idSeed % count) + 1;
        ISubscriptions.Subscription memory s = subs.getSubscription(id);
        uint256 dueAt = ghostStart[id] + ghostPeriods[id] * s.interval;
        uint256 allowance = usdc.allowance(s.customer, address(subs));
        uint256 balance = usdc.balanceOf(s.customer);
        uint256 creditBefore = processor.balanceOf(s.merchant, address(usdc));

        try subs.collect(id) {
            ++calls["collect.ok"];
            if (ghostCancelled[id]) _unexpected("collect: charged after cancel");
            if (block.timestamp < dueAt) _unexpected("collect: charged early");
            if (usdc.balanceOf(s.customer) != balance - s.amountPerPeriod)
                _unexpected("collect: customer debit");
            if (processor.balanceOf(s.merchant, address(usdc)) != creditBefore + s.amountPerPeriod) {
                _unexpected("collect: merchant credit");
            }
            if (subs.paidThrough(id) != dueAt + s.interval) _unexpected("collect: paidThrough");
            // The period this collection charged is the chain's counter before it.
            if (periodCharged[id][s.periodsCollected]) ++collectedTwice;
            periodCharged[id][s.periodsCollected] = true;
            if (subs.getSubscription(id).periodsCollected != s.periodsCollected + 1)
                _unexpected("collect: period counter");
            ++ghostPeriods[id];
            ghostCollected[id] += s.amountPerPeriod;
            collectedFor[s.merchant] += s.amountPerPeriod;
            totalCollected += s.amountPerPeriod;
        } catch (bytes memory err) {
            bytes memory expected;
            if (ghostCancelled[id]) {
                expected = abi.encodeWithSelector(ISubscriptions.SubscriptionsCancelledAlready.selector, id);
            } else if (block.timestamp < dueAt) {
                expected = abi.encodeWithSelector(
                    ISubscriptions.SubscriptionsNotDue.selector,
                    id,
                    uint64(dueAt),
                    block.timestamp
                );
            } else if (allowance < s.amountPerPeriod) {
                expected = abi.encodeWithSelector(
                    ISubscriptions.SubscriptionsInsufficientAllowance.selector,
                    id,
                    allowance,
                    s.amountPerPeriod
                );
            } else if (balance < s.amountPerPeriod) {
                expected = abi.encodeWithSelector(
                    ISubscriptions.SubscriptionsInsufficientBalance.selector,
                    id,
                    balance,
                    s.amountPerPeriod
                );
            } else {
                _unexpected("collect: refused although due and covered");
                return;
            }
            if (keccak256(err) != keccak256(expected)) _unexpected("collect: wrong error");
        }
    }

    function cancel(uint256 idSeed, uint256 whoSeed) external {
        ++calls["cancel"];
        uint256 count = subs.subscriptionCount();
        if (count == 0) return;
        uint256 id = (idSeed % count) + 1;
        ISubscriptions.Subscription memory s = subs.getSubscription(id);
        uint256 who = whoSeed % 3;
        address caller =
            who == 0
                ? s.customer
                : who == 1
                    ? s.merchant
                    : sink;
        vm.prank(caller);
        try subs.cancel(id) {
            if (who == 2 || ghostCancelled[id]) _unexpected("cancel: accepted from a stranger or twice");
            ghostCancelled[id] = true;
        } catch (bytes memory err) {
            bytes memory expected =
                who == 2
                    ? abi.encodeWithSelector(ISubscriptions.SubscriptionsUnauthorized.selector, id, caller)
                    : abi.encodeWithSelector(ISubscriptions.SubscriptionsCancelledAlready.selector, id);
            if (keccak256(err) != keccak256(expected)) _unexpected("cancel: wrong error");
        }
    }

    function warp(uint256 seconds_) external {
        ++calls["warp"];
        vm.warp(block.timestamp + _bound(seconds_, 0, 45 days));
    }

    function setAllowance(uint256 customerSeed, uint256 amount) external {
        ++calls["setAllowance"];
        address c = customers[customerSeed % customers.length];
        uint256 pick = amount % 3;
        uint256 value =
            pick == 0
                ? 0
                : pick == 1
                    ? _bound(amount, 0, 2e12)
                    : type(uint256).max;
        vm.prank(c);
        usdc.approve(address(subs), value);
    }

    function drain(uint256 customerSeed, uint256 amount) external {
        ++calls["drain"];
        address c = customers[customerSeed % customers.length];
        amount = _bound(amount, 0, usdc.balanceOf(c));
        vm.prank(c);
        usdc.transfer(sink, amount);
    }

    function refill(uint256 customerSeed, uint256 amount) external {
        ++calls["refill"];
        usdc.mint(customers[customerSeed % customers.length], _bound(amount, 1, 1e13));
    }

    /// A payment straight into the processor for the same merchants: it must not be mistaken for a collection.
    function payDirect(uint256 merchantSeed, uint256 amount) external {
        ++calls["payDirect"];
        address m = merchants[merchantSeed % merchants.length];
        amount = _bound(amount, 1, 1e12);
        vm.prank(directPayer);
        processor.payToken(address(usdc), amount, m, bytes32(uint256(0xD1EC7)));
        paidDirectly[m] += amount;
        totalPaidDirectly += amount;
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------

    function merchantCount() external view returns (uint256) {
        return merchants.length;
    }

    function _unexpected(string memory what) private {
        if (bytes(unexpected).length == 0) unexpected = what;
    }

    function _bound(uint256 x, uint256 min, uint256 max) private pure returns (uint256) {
        if (x >= min && x <= max) return x;
        return min + (x % (max - min + 1));
    }
}

/// @notice Handler-based invariant suite for Subscriptions (see SubscriptionsHandler). Runs and depth come from
/// INVARIANT_RUNS / INVARIANT_DEPTH (hardhat.config.ts).
contract SubscriptionsInvariantTest is Test {
    PaymentProcessor internal processor;
    Subscriptions internal subs;
    MockStablecoin internal usdc;
    SubscriptionsHandler internal handler;

    function setUp() public {
        vm.warp(1_750_000_000);
        address owner = makeAddr("owner");
        processor = new PaymentProcessor(owner);
        subs = new Subscriptions(processor);
        usdc = new MockStablecoin();
        vm.prank(owner);
        processor.setTokenAllowed(address(usdc), true);
        handler = new SubscriptionsHandler(processor, subs, usdc);

        bytes4[] memory selectors = new bytes4[](8);
        selectors[0] = SubscriptionsHandler.subscribe.selector;
        selectors[1] = SubscriptionsHandler.collect.selector;
        selectors[2] = SubscriptionsHandler.cancel.selector;
        selectors[3] = SubscriptionsHandler.warp.selector;
        selectors[4] = SubscriptionsHandler.setAllowance.selector;
        selectors[5] = SubscriptionsHandler.drain.selector;
        selectors[6] = SubscriptionsHandler.refill.selector;
        selectors[7] = SubscriptionsHandler.payDirect.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        // One fixed caller of the handler, as in PaymentProcessorInvariant.t.sol: random senders are filtered,
        // and the filter's rejections exhaust the fuzzer's reject budget near 100,000 runs.
        targetSender(address(0x5E4D));
    }

    /// Checked after every call of every run (one invariant function: the runner starts a campaign per
    /// invariant function). Each check fails with its own message.
    function invariant_periodsAreChargedOnceOnTimeAtTheCap() public view {
        // Every outcome matched the rules: never early, never after cancel, exactly the amount per period,
        // refusals with the right error and values.
        assertEq(bytes(handler.unexpected()).length, 0, handler.unexpected());
        // A period of a subscription is never collected twice.
        assertEq(handler.collectedTwice(), 0, "a period was collected twice");

        uint256 count = subs.subscriptionCount();
        for (uint256 id = 1; id <= count; ++id) {
            ISubscriptions.Subscription memory s = subs.getSubscription(id);
            uint256 start = handler.ghostStart(id);
            // Never charged twice: the chain's period counter is the number of successful collections.
            assertEq(s.periodsCollected, handler.ghostPeriods(id), "periods != successful collections");
            // Never above the cap: what was charged is exactly periods x amount per period.
            assertEq(
                handler.ghostCollected(id),
                s.periodsCollected * s.amountPerPeriod,
                "charged != periods x cap"
            );
            assertEq(
                s.paidThrough,
                start + s.periodsCollected * s.interval,
                "paidThrough != start + periods x interval"
            );
            // Never early: every charged period had started, so at most one period is paid ahead of now.
            if (s.periodsCollected > 0) {
                assertLe(
                    start + (s.periodsCollected - 1) * s.interval,
                    block.timestamp,
                    "a period charged early"
                );
            }
            assertEq(s.cancelled, handler.ghostCancelled(id), "cancelled flag");
        }

        // Sum collected == sum credited in the processor for the subscriptions (merchants' balances less
        // their direct payments), == what the processor holds less the direct payments.
        uint256 credited;
        for (uint256 i; i < handler.merchantCount(); ++i) {
            address m = handler.merchants(i);
            uint256 balance = processor.balanceOf(m, address(usdc));
            assertEq(
                balance - handler.paidDirectly(m),
                handler.collectedFor(m),
                "merchant credit != collected"
            );
            credited += balance;
        }
        assertEq(
            credited - handler.totalPaidDirectly(),
            handler.totalCollected(),
            "sum credited != sum collected"
        );
        assertEq(
            usdc.balanceOf(address(processor)),
            handler.totalCollected() + handler.totalPaidDirectly(),
            "processor holdings"
        );
        assertEq(usdc.balanceOf(address(subs)), 0, "Subscriptions holds tokens");
    }
}
