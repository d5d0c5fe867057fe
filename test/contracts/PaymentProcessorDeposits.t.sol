// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {PaymentProcessorFixture} from "./utils/PaymentProcessorFixture.sol";
import {IPaymentProcessor} from "../../contracts/interfaces/IPaymentProcessor.sol";
import {FalseReturningToken} from "../../contracts/mocks/FalseReturningToken.sol";
import {FeeOnTransferToken} from "../../contracts/mocks/FeeOnTransferToken.sol";
import {MockStablecoin} from "../../contracts/mocks/MockStablecoin.sol";
import {NoReturnToken} from "../../contracts/mocks/NoReturnToken.sol";
import {ReentrantToken} from "../../contracts/mocks/ReentrantToken.sol";

/// @notice Deposit addresses: derivation, sweeps of ETH and tokens (single and batch), the pause, failures,
/// and attacks (strangers, front-running, double sweeps, re-entrant tokens, tokens off the allowlist).
contract PaymentProcessorDepositsTest is PaymentProcessorFixture {
    /// @dev The documented init code hash (docs/contracts.md, IPaymentProcessor "Deposit addresses").
    bytes32 internal constant INIT_CODE_HASH =
        0x170705579b341e4926d5292dd690808fce74db546893c036007040cab888b4b4;

    address internal stranger;
    address internal deposit;

    function setUp() public override {
        super.setUp();
        stranger = makeAddr("stranger");
        deposit = processor.depositAddressOf(merchant, ORDER);
        vm.label(deposit, "deposit");
    }

    // =============================================================================================
    // Helpers
    // =============================================================================================

    function _sendEth(address to, uint256 amount) internal {
        vm.prank(payer);
        (bool ok, ) = to.call{value: amount}("");
        assertTrue(ok, "plain transfer to a deposit address failed");
    }

    function _sendUsdc(address to, uint256 amount) internal {
        vm.prank(payer);
        usdc.transfer(to, amount);
    }

    function _sweep(address m, bytes32 orderId, address token) internal {
        vm.prank(stranger);
        processor.sweepOrder(m, orderId, token);
    }

    function _nothing(address d, address token) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IPaymentProcessor.PaymentProcessorNothingToSweep.selector, d, token);
    }

    function _failed(address d, address token) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IPaymentProcessor.PaymentProcessorSweepFailed.selector, d, token);
    }

    function _formula(address m, bytes32 orderId, uint256 chainId) internal view returns (address) {
        bytes32 salt = keccak256(abi.encode(m, orderId, chainId));
        return
            address(
                uint160(
                    uint256(
                        keccak256(abi.encodePacked(bytes1(0xff), address(processor), salt, INIT_CODE_HASH))
                    )
                )
            );
    }

    // =============================================================================================
    // Derivation
    // =============================================================================================

    function test_depositInitCodeHash_isTheDocumentedConstant() public view {
        assertEq(processor.depositInitCodeHash(), INIT_CODE_HASH, "init code hash");
    }

    function testFuzz_depositAddressOf_matchesTheDocumentedFormula(address m, bytes32 orderId) public view {
        assertEq(processor.depositAddressOf(m, orderId), _formula(m, orderId, block.chainid), "formula");
    }

    function test_depositAddressOf_bindsMerchantOrderAndChain() public {
        assertTrue(processor.depositAddressOf(otherMerchant, ORDER) != deposit, "merchant bound");
        assertTrue(
            processor.depositAddressOf(merchant, bytes32(uint256(ORDER) + 1)) != deposit,
            "order bound"
        );
        vm.chainId(11155111);
        address onSepolia = processor.depositAddressOf(merchant, ORDER);
        assertTrue(onSepolia != deposit, "chain bound");
        assertEq(onSepolia, _formula(merchant, ORDER, 11155111), "formula on another chain");
    }

    function test_depositAddress_hasNoCodeBeforeOrAfterASweep() public {
        assertEq(deposit.code.length, 0, "code before");
        _sendEth(deposit, 1 ether);
        _sweep(merchant, ORDER, ETH);
        assertEq(deposit.code.length, 0, "code after");
        assertEq(deposit.balance, 0, "ETH left behind");
    }

    /// `receive` answers the init code's question; outside a sweep the answer is zeros and it never takes ETH.
    function test_receive_answersZerosOutsideASweep() public view {
        (bool ok, bytes memory answer) = address(processor).staticcall("");
        assertTrue(ok, "question refused");
        assertEq(keccak256(answer), keccak256(abi.encode(address(0), address(0))), "answer");
    }

    /// The sweep's transient recipient outlives the sweep until the transaction ends, but the answer to an
    /// ETH-only question never carries it: later in the same transaction the answer is zeros again.
    function test_receive_answersZerosLaterInTheSweepsTransaction() public {
        _sendUsdc(deposit, 4e6);
        _sweep(merchant, ORDER, address(usdc));
        (bool ok, bytes memory answer) = address(processor).staticcall("");
        assertTrue(ok, "question refused");
        assertEq(
            keccak256(answer),
            keccak256(abi.encode(address(0), address(0))),
            "answer after a token sweep"
        );
    }

    // =============================================================================================
    // sweepOrder: ETH
    // =============================================================================================

    function test_sweepOrder_creditsEthToBoundMerchantAndEmits() public {
        _sendEth(deposit, 1.5 ether);
        vm.expectEmit(address(processor));
        emit IPaymentProcessor.PaymentReceived(merchant, ORDER, deposit, ETH, 1.5 ether);
        _sweep(merchant, ORDER, ETH);
        assertEq(processor.balanceOf(merchant, ETH), 1.5 ether, "credited");
        assertEq(address(processor).balance, 1.5 ether, "held");
        assertEq(processor.balanceOf(stranger, ETH), 0, "the caller gets nothing");
    }

    // A late payment swept again and a second sweep finding nothing need two transactions (a Solidity test is
    // one): test/contracts/PaymentProcessorDeposits.test.ts covers them. Within one transaction, a deposit that
    // self-destructed cannot be created again (EIP-6780 deletes it at the end of the transaction, EIP-684).

    function test_sweepOrder_revertsWhenEmpty() public {
        vm.prank(stranger);
        vm.expectRevert(_nothing(deposit, ETH));
        processor.sweepOrder(merchant, ORDER, ETH);
    }

    function test_sweepOrder_secondSweepInTheSameTransactionFails() public {
        _sendEth(deposit, 1 ether);
        _sweep(merchant, ORDER, ETH);
        _sendEth(deposit, 1 ether);
        vm.prank(stranger);
        vm.expectRevert(_failed(deposit, ETH));
        processor.sweepOrder{gas: 1_000_000}(merchant, ORDER, ETH);
        assertEq(processor.balanceOf(merchant, ETH), 1 ether, "credited once");
        assertEq(deposit.balance, 1 ether, "the late payment waits for the next transaction");
    }

    function test_sweepOrder_revertsWhenPausedAndWorksAfterUnpause() public {
        _sendEth(deposit, 1 ether);
        vm.prank(owner);
        processor.pause();
        vm.prank(stranger);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        processor.sweepOrder(merchant, ORDER, ETH);
        assertEq(deposit.balance, 1 ether, "funds wait at the deposit");

        vm.prank(owner);
        processor.unpause();
        _sweep(merchant, ORDER, ETH);
        assertEq(processor.balanceOf(merchant, ETH), 1 ether, "credited after unpause");
    }

    function test_sweepOrder_revertsWithZeroMerchant() public {
        address zeroDeposit = processor.depositAddressOf(address(0), ORDER);
        _sendEth(zeroDeposit, 1 ether);
        vm.expectRevert(IPaymentProcessor.PaymentProcessorZeroMerchant.selector);
        processor.sweepOrder(address(0), ORDER, ETH);
    }

    function testFuzz_sweepOrder_creditsExactlyWhatWasSent(
        address m,
        bytes32 orderId,
        uint256 a,
        uint256 b
    ) public {
        vm.assume(m != address(0));
        a = bound(a, 1, 1_000 ether);
        b = bound(b, 0, 1_000 ether);
        address d = processor.depositAddressOf(m, orderId);
        vm.assume(d.balance == 0);
        _payEth(otherMerchant, 3 ether); // someone else's money in the contract
        _sendEth(d, a);
        if (b != 0) _sendEth(d, b); // a top-up before the sweep
        _sweep(m, orderId, ETH);
        uint256 other = m == otherMerchant ? 3 ether : 0;
        assertEq(processor.balanceOf(m, ETH), a + b + other, "credited");
        assertEq(address(processor).balance, a + b + 3 ether, "held");
        assertEq(d.balance, 0, "deposit emptied");
    }

    // =============================================================================================
    // sweepOrder: tokens
    // =============================================================================================

    function test_sweepOrder_creditsAllowlistedTokenAndEmits() public {
        _sendUsdc(deposit, 25e6);
        vm.expectEmit(address(processor));
        emit IPaymentProcessor.PaymentReceived(merchant, ORDER, deposit, address(usdc), 25e6);
        _sweep(merchant, ORDER, address(usdc));
        assertEq(processor.balanceOf(merchant, address(usdc)), 25e6, "credited");
        assertEq(usdc.balanceOf(address(processor)), 25e6, "held");
        assertEq(usdc.balanceOf(deposit), 0, "deposit emptied");
        assertEq(deposit.code.length, 0, "no code after");
    }

    function test_sweepOrder_sweepsEthAndTokenOnTheSameAddress() public {
        _sendEth(deposit, 1 ether);
        _sendUsdc(deposit, 10e6);
        vm.expectEmit(address(processor));
        emit IPaymentProcessor.PaymentReceived(merchant, ORDER, deposit, address(usdc), 10e6);
        vm.expectEmit(address(processor));
        emit IPaymentProcessor.PaymentReceived(merchant, ORDER, deposit, ETH, 1 ether);
        _sweep(merchant, ORDER, address(usdc));
        assertEq(processor.balanceOf(merchant, address(usdc)), 10e6, "token credited");
        assertEq(processor.balanceOf(merchant, ETH), 1 ether, "ETH credited");
    }

    function test_sweepOrder_tokenSweepOfAnAddressHoldingOnlyEth() public {
        _sendEth(deposit, 1 ether);
        _sweep(merchant, ORDER, address(usdc));
        assertEq(processor.balanceOf(merchant, ETH), 1 ether, "ETH credited");
        assertEq(processor.balanceOf(merchant, address(usdc)), 0, "no token");
    }

    function test_sweepOrder_revertsWhenTokenDepositEmpty() public {
        vm.expectRevert(_nothing(deposit, address(usdc)));
        processor.sweepOrder(merchant, ORDER, address(usdc));
    }

    function test_sweepOrder_feeOnTransferCreditsOnlyWhatArrived() public {
        FeeOnTransferToken fee = new FeeOnTransferToken(100); // 1 %
        vm.prank(owner);
        processor.setTokenAllowed(address(fee), true);
        fee.mint(deposit, 10_000);
        _sweep(merchant, ORDER, address(fee));
        assertEq(processor.balanceOf(merchant, address(fee)), 9_900, "credited what arrived");
        assertEq(fee.balanceOf(address(processor)), 9_900, "held");
    }

    function test_sweepOrder_acceptsTokenReturningNothing() public {
        NoReturnToken usdt = new NoReturnToken();
        vm.prank(owner);
        processor.setTokenAllowed(address(usdt), true);
        usdt.mint(deposit, 7e6);
        _sweep(merchant, ORDER, address(usdt));
        assertEq(processor.balanceOf(merchant, address(usdt)), 7e6, "credited");
    }

    function test_sweepOrder_revertsWhenTokenTransferReturnsFalse() public {
        FalseReturningToken bad = new FalseReturningToken();
        vm.prank(owner);
        processor.setTokenAllowed(address(bad), true);
        bad.mint(deposit, 1000);
        bad.setModes(true, false, false);
        vm.expectRevert(_failed(deposit, address(bad)));
        processor.sweepOrder(merchant, ORDER, address(bad));
        assertEq(bad.balanceOf(deposit), 1000, "tokens stay at the deposit");
    }

    function test_sweepOrder_revertsWhenTokenHasNoCode() public {
        address ghost = makeAddr("ghostToken");
        vm.prank(owner);
        processor.setTokenAllowed(ghost, true);
        vm.expectRevert(
            abi.encodeWithSelector(IPaymentProcessor.PaymentProcessorBalanceQueryFailed.selector, ghost)
        );
        processor.sweepOrder(merchant, ORDER, ghost);
    }

    // =============================================================================================
    // Tokens off the allowlist go to the merchant
    // =============================================================================================

    function test_sweepOrder_forwardsTokenNotAllowlistedToMerchant() public {
        MockStablecoin stray = new MockStablecoin();
        stray.mint(deposit, 5e6);
        vm.expectEmit(address(processor));
        emit IPaymentProcessor.DepositTokenForwarded(merchant, ORDER, deposit, address(stray), 5e6);
        _sweep(merchant, ORDER, address(stray));
        assertEq(stray.balanceOf(merchant), 5e6, "merchant got the tokens");
        assertEq(stray.balanceOf(address(processor)), 0, "nothing kept");
        assertEq(processor.balanceOf(merchant, address(stray)), 0, "nothing credited");
    }

    function test_sweepOrder_forwardsTokenRemovedFromAllowlist() public {
        _sendUsdc(deposit, 3e6);
        vm.prank(owner);
        processor.setTokenAllowed(address(usdc), false);
        _sweep(merchant, ORDER, address(usdc));
        assertEq(usdc.balanceOf(merchant), 3e6, "merchant got the tokens");
        assertEq(processor.balanceOf(merchant, address(usdc)), 0, "nothing credited");
    }

    function test_sweepOrder_forwardsTokenAndCreditsEth() public {
        MockStablecoin stray = new MockStablecoin();
        stray.mint(deposit, 5e6);
        _sendEth(deposit, 2 ether);
        _sweep(merchant, ORDER, address(stray));
        assertEq(stray.balanceOf(merchant), 5e6, "tokens forwarded");
        assertEq(processor.balanceOf(merchant, ETH), 2 ether, "ETH credited");
    }

    /// The event reports what the merchant's wallet gained, not what it holds: here it already held some.
    function test_sweepOrder_forwardReportsOnlyWhatArrivedAtAMerchantHoldingTheToken() public {
        MockStablecoin stray = new MockStablecoin();
        stray.mint(merchant, 7e6);
        stray.mint(deposit, 5e6);
        vm.expectEmit(address(processor));
        emit IPaymentProcessor.DepositTokenForwarded(merchant, ORDER, deposit, address(stray), 5e6);
        _sweep(merchant, ORDER, address(stray));
        assertEq(stray.balanceOf(merchant), 12e6, "merchant holds both");
    }

    function test_sweepOrder_revertsWhenNonAllowlistedDepositEmpty() public {
        MockStablecoin stray = new MockStablecoin();
        vm.expectRevert(_nothing(deposit, address(stray)));
        processor.sweepOrder(merchant, ORDER, address(stray));
    }

    function test_sweepOrder_revertsWhenNonAllowlistedBalanceQueryFails() public {
        FalseReturningToken bad = new FalseReturningToken();
        bad.mint(deposit, 1000);
        bad.setModes(false, true, false);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPaymentProcessor.PaymentProcessorBalanceQueryFailed.selector,
                address(bad)
            )
        );
        processor.sweepOrder(merchant, ORDER, address(bad));
    }

    // =============================================================================================
    // sweepDeposits
    // =============================================================================================

    function _entry(
        address m,
        bytes32 orderId,
        address token
    ) internal pure returns (IPaymentProcessor.Deposit memory) {
        return IPaymentProcessor.Deposit({merchant: m, orderId: orderId, token: token});
    }

    function test_sweepDeposits_sweepsEthAndTokensForSeveralMerchantsAndSkipsEmpty() public {
        bytes32 order2 = bytes32(uint256(2));
        address d2 = processor.depositAddressOf(otherMerchant, order2);
        address d3 = processor.depositAddressOf(merchant, bytes32(uint256(3)));
        _sendEth(deposit, 1 ether);
        _sendUsdc(d2, 20e6);
        _sendEth(d2, 0.5 ether);

        IPaymentProcessor.Deposit[] memory list = new IPaymentProcessor.Deposit[](3);
        list[0] = _entry(merchant, ORDER, ETH);
        list[1] = _entry(otherMerchant, order2, address(usdc));
        list[2] = _entry(merchant, bytes32(uint256(3)), ETH); // empty: skipped
        vm.expectEmit(address(processor));
        emit IPaymentProcessor.PaymentReceived(merchant, ORDER, deposit, ETH, 1 ether);
        vm.expectEmit(address(processor));
        emit IPaymentProcessor.PaymentReceived(otherMerchant, order2, d2, address(usdc), 20e6);
        vm.expectEmit(address(processor));
        emit IPaymentProcessor.PaymentReceived(otherMerchant, order2, d2, ETH, 0.5 ether);
        vm.prank(stranger);
        processor.sweepDeposits(list);

        assertEq(processor.balanceOf(merchant, ETH), 1 ether, "merchant ETH");
        assertEq(processor.balanceOf(otherMerchant, address(usdc)), 20e6, "other token");
        assertEq(processor.balanceOf(otherMerchant, ETH), 0.5 ether, "other ETH");
        assertEq(d3.balance, 0, "empty");
    }

    /// A forward off the allowlist leaves no token behind for the next deposit of the batch: an ETH-only
    /// deposit swept right after it is asked for ETH only and credited.
    function test_sweepDeposits_ethDepositAfterAForwardedTokenInTheSameBatch() public {
        MockStablecoin stray = new MockStablecoin();
        bytes32 order2 = bytes32(uint256(2));
        address d2 = processor.depositAddressOf(merchant, order2);
        stray.mint(deposit, 5e6);
        _sendEth(d2, 1 ether);

        IPaymentProcessor.Deposit[] memory list = new IPaymentProcessor.Deposit[](2);
        list[0] = _entry(merchant, ORDER, address(stray));
        list[1] = _entry(merchant, order2, ETH);
        vm.expectEmit(address(processor));
        emit IPaymentProcessor.DepositTokenForwarded(merchant, ORDER, deposit, address(stray), 5e6);
        vm.expectEmit(address(processor));
        emit IPaymentProcessor.PaymentReceived(merchant, order2, d2, ETH, 1 ether);
        vm.prank(stranger);
        processor.sweepDeposits(list);

        assertEq(stray.balanceOf(merchant), 5e6, "tokens forwarded");
        assertEq(processor.balanceOf(merchant, ETH), 1 ether, "ETH credited");
        assertEq(d2.balance, 0, "ETH swept");
    }

    function test_sweepDeposits_emptyListDoesNothing() public {
        processor.sweepDeposits(new IPaymentProcessor.Deposit[](0));
    }

    function test_sweepDeposits_revertsWhenPaused() public {
        vm.prank(owner);
        processor.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        processor.sweepDeposits(new IPaymentProcessor.Deposit[](0));
    }

    /// The same deposit twice in one transaction: the second CREATE2 collides (EIP-684) and the batch fails.
    function test_sweepDeposits_revertsOnTheSameDepositTwice() public {
        _sendEth(deposit, 1 ether);
        IPaymentProcessor.Deposit[] memory list = new IPaymentProcessor.Deposit[](2);
        list[0] = _entry(merchant, ORDER, ETH);
        list[1] = _entry(merchant, ORDER, address(usdc));
        vm.expectRevert(_failed(deposit, address(usdc)));
        processor.sweepDeposits{gas: 2_000_000}(list);
        assertEq(deposit.balance, 1 ether, "nothing moved");
    }

    function testFuzz_sweepDeposits_creditsEveryDeposit(uint8 count, uint256 seed) public {
        count = uint8(bound(count, 1, 12));
        IPaymentProcessor.Deposit[] memory list = new IPaymentProcessor.Deposit[](count);
        uint256 ethTotal;
        uint256 usdcTotal;
        for (uint256 i; i < count; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            address m = r % 2 == 0 ? merchant : otherMerchant;
            bytes32 orderId = bytes32(i + 100);
            address d = processor.depositAddressOf(m, orderId);
            uint256 eth = (r >> 8) % 3 ether;
            uint256 tok = (r >> 80) % 1e9;
            if (eth != 0) _sendEth(d, eth);
            if (tok != 0) _sendUsdc(d, tok);
            ethTotal += eth;
            usdcTotal += tok;
            list[i] = _entry(m, orderId, (r >> 160) % 2 == 0 ? ETH : address(usdc));
            if (list[i].token == ETH) usdcTotal -= tok; // left at the deposit
        }
        vm.prank(stranger);
        processor.sweepDeposits(list);
        assertEq(
            processor.balanceOf(merchant, ETH) + processor.balanceOf(otherMerchant, ETH),
            ethTotal,
            "ETH credited"
        );
        assertEq(address(processor).balance, ethTotal, "ETH held");
        assertEq(
            processor.balanceOf(merchant, address(usdc)) + processor.balanceOf(otherMerchant, address(usdc)),
            usdcTotal,
            "USDC credited"
        );
        assertEq(usdc.balanceOf(address(processor)), usdcTotal, "USDC held");
    }
}
