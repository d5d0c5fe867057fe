// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Create2} from "@openzeppelin/contracts/utils/Create2.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";

import {IPaymentProcessor} from "../interfaces/IPaymentProcessor.sol";

/// @title PaymentProcessor
/// @notice Accepts ETH and allowlisted ERC-20 payments tagged with an order id, credits them to the merchant
/// and lets the merchant withdraw or refund from its own balance. See {IPaymentProcessor}.
/// @dev Storage and gas notes (every figure is per call, EIP-2929 prices):
/// - Inheritance order puts `Pausable._paused` (1 byte) and `Ownable._owner` (20 bytes) in the same slot 0:
///   `pay` (ETH) reads exactly one cold slot besides the merchant's balance.
/// - ERC-20 payments read exactly one cold slot besides the merchant's balance too: `_tokenState[token]`
///   carries an `_ACCEPTING` bit that means "allowlisted and not paused". `pause` and `unpause` rewrite it for
///   every allowlisted token (the allowlist is capped at `_MAX_ALLOWED_TOKENS`, which bounds that loop), so
///   `payToken` never reads `_paused` (saves a cold SLOAD, 2,100 gas, per token payment). Invariant:
///   `_ACCEPTING` is set exactly when `_ALLOWED` is set and the contract is not paused.
/// - Balances are stored as `balance + 1` once a slot has been credited ("sentinel"): a withdrawal or refund
///   of the whole balance leaves 1 in the slot instead of 0, so the next payment to that merchant is a
///   nonzero-to-nonzero SSTORE (2,900 gas) instead of a zero-to-nonzero one (20,000 gas). A zero slot means
///   "never credited" and a balance of 0.
/// - ETH balances live in their own single-level mapping: one keccak instead of two on the `pay` hot path,
///   and `pay` credits and emits in a short, commented assembly block (no ABI encoder, scratch space only).
/// - Dispatch: solc finds a selector by binary search: it splits a sorted group of more than 4 selectors at
///   its middle (one comparison, ~22 gas) and compares one by one within groups of at most 4. With the 17
///   functions before deposit addresses `pay` was reached after 3 comparisons (66 gas); the names first tried
///   for the rescue function (`rescueToken` plus an `isTokenRescuable` view) made it 6 (132 gas). Four
///   selectors sort below `pay`'s, and with 18 to 32 functions no group reached after two splits starts at
///   that position, so any new external function costs `pay` at least one comparison (+22 gas). The
///   deposit functions' names were chosen so that it costs exactly one and no other hot path more than one
///   (`sweep`/`sweepBatch`/`depositAddress` plus a named callback made `pay` 5 comparisons, +45 gas): with
///   these 21, `pay` 4, `refund` 4 (one less), `payTokenWithPermit` 4, `withdraw` 5 and `payToken` 6 (as
///   before). The init code's question goes to `receive` for the same reason. Adding or renaming an external
///   function changes all this: re-run `npm run bench:gas`.
/// - `pay` (ETH) makes no external call, so it needs no reentrancy guard. ERC-20 paths share one transient
///   guard because the balance-delta measurement in `payToken` must not interleave with another payment,
///   withdrawal or refund of the same token.
/// - Deposit addresses are CREATE2 children of this contract itself rather than of a separate factory: the
///   sweep then credits with internal code (a factory would need an external, access-controlled credit call
///   into this contract, at least 2,600 gas more per sweep and one more contract to audit and deploy), and
///   the deposit's self-destruct pays ETH straight into the contract that keeps the books.
contract PaymentProcessor is IPaymentProcessor, Pausable, Ownable2Step {
    using SafeERC20 for IERC20;
    using EnumerableSet for EnumerableSet.AddressSet;

    /// @dev `_tokenState` bit: new payments in the token are accepted right now (allowlisted and not paused).
    uint256 private constant _ACCEPTING = 1;
    /// @dev `_tokenState` bit: the token is on the allowlist.
    uint256 private constant _ALLOWED = 2;
    /// @dev `_tokenState` bit: the token was allowlisted at least once, so balances of it may exist and it
    /// can never be rescued. Sticky.
    uint256 private constant _EVER_ALLOWED = 4;

    /// @dev Upper bound of the allowlist, which bounds the gas of `pause` and `unpause` (about 5,000 gas per
    /// token). A point of sale accepts a handful of stablecoins.
    uint256 private constant _MAX_ALLOWED_TOKENS = 32;

    /// @dev merchant => (ETH balance + 1), or 0 if never credited. See the sentinel note above.
    mapping(address merchant => uint256 storedBalance) private _ethBalances;

    /// @dev A merchant's stored token balance: `balance + 1`, or 0 if never credited. A struct so that a
    /// `storage` reference can hold the slot: the nested-mapping slot is hashed once per call instead of
    /// once for the read and again for the write (saves two KECCAK256 and their setup, ~100 gas).
    struct StoredBalance {
        uint256 value;
    }

    /// @dev token => merchant => stored balance.
    mapping(address token => mapping(address merchant => StoredBalance)) private _tokenBalances;

    /// @dev token => `_ACCEPTING | _ALLOWED | _EVER_ALLOWED` bits.
    mapping(address token => uint256 state) private _tokenState;

    /// @dev The allowlisted tokens, to update their `_ACCEPTING` bit on pause and unpause.
    EnumerableSet.AddressSet private _allowedTokens;

    /// @dev Reentrancy lock in transient storage (EIP-1153): same semantics as OpenZeppelin's
    /// `ReentrancyGuardTransient` (about 300 gas per guarded call instead of ~5,000 for a storage lock, and
    /// no storage slot). Written with the language's `transient` keyword because OpenZeppelin's version uses
    /// inline-assembly `tstore`, on which solc 0.8.30 always emits a warning, and this project builds with
    /// warnings as errors. The lock is released at the end of every guarded call, so it never leaks into a
    /// later call of the same transaction.
    /// A full-word `uint256` rather than a `bool`: writing a `bool` makes the compiler read the slot first to
    /// keep its other bytes (two extra TLOADs, 200 gas per guarded call).
    uint256 private transient _lock;

    /// @dev During a token sweep: the token the deposit being created must transfer, and its recipient,
    /// answered by `receive`. Zero otherwise: every sweep that sets `_depositToken` clears it right after
    /// the CREATE2, so an ETH sweep never writes it (saves a TSTORE, 100 gas, per ETH deposit). Full words for
    /// the same reason as `_lock`. Sweeps hold `_lock`, so no other sweep can see these values.
    uint256 private transient _depositToken;
    uint256 private transient _depositRecipient;

    /// @dev The deposit init code, hand-assembled (103 bytes; solc cannot be used because it warns on
    /// SELFDESTRUCT, and this project builds with warnings as errors). It runs only as the init code of a
    /// CREATE2 from this contract, in the deposit address's context, and never returns runtime code.
    ///
    ///     00  60 40 5f 5f 5f   PUSH1 0x40 PUSH0 PUSH0 PUSH0   retSize 64, retOffset 0, no calldata
    ///     05  33 5a fa         CALLER GAS STATICCALL          (token, to) = creator's `receive` answer
    ///     08  15 60 63 57      ISZERO PUSH1 fail JUMPI
    ///     0c  5f 51            PUSH0 MLOAD                    [token]
    ///     0e  80 15 60 60 57   DUP1 ISZERO PUSH1 end JUMPI    no token: ETH only
    ///     13  60 20 51         PUSH1 0x20 MLOAD               [token to]
    ///     16  63 70a08231 5f 52   PUSH4 balanceOf PUSH0 MSTORE
    ///     1d  30 60 20 52      ADDRESS PUSH1 0x20 MSTORE      calldata balanceOf(this) at 0x1c..0x40
    ///     21  60 20 5f 60 24 60 1c   retSize 32, retOffset 0, argsSize 0x24, argsOffset 0x1c
    ///     28  85 5a fa         DUP6(token) GAS STATICCALL     [token to ok]
    ///     2b  3d 60 1f 10 16   RETURNDATASIZE PUSH1 0x1f LT AND   ok && returndatasize >= 32
    ///     30  15 60 63 57      ISZERO PUSH1 fail JUMPI
    ///     34  5f 51            PUSH0 MLOAD                    [token to balance]
    ///     36  80 15 60 60 57   DUP1 ISZERO PUSH1 end JUMPI    nothing to transfer (some tokens revert on 0)
    ///     3b  60 40 52 60 20 52   mem[0x40] = balance, mem[0x20] = to
    ///     41  63 a9059cbb 5f 52   PUSH4 transfer PUSH0 MSTORE calldata transfer(to, balance) at 0x1c..0x60
    ///     48  60 20 5f 60 44 60 1c 5f   retSize 32, retOffset 0, argsSize 0x44, argsOffset 0x1c, value 0
    ///     50  85 5a f1         DUP6(token) GAS CALL           [token ok]
    ///     53  3d 15 5f 51 60 01 14 17 16   ok && (returndatasize == 0 || mload(0) == 1)  (SafeERC20's rule)
    ///     5c  15 60 63 57      ISZERO PUSH1 fail JUMPI
    ///     60  5b 33 ff         end: JUMPDEST CALLER SELFDESTRUCT  all ETH to the creator, no code runs there
    ///     63  5b 5f 5f fd      fail: JUMPDEST PUSH0 PUSH0 REVERT  CREATE2 returns 0
    ///
    /// A token that returns 1 to 31 bytes from `transfer` leaves part of the selector word at mem[0], which is
    /// not 1, so only "no return data" or a first word of exactly 1 counts as success.
    bytes private constant _DEPOSIT_INIT_CODE =
        hex"60405f5f5f335afa156063575f5180156060576020516370a082315f523060205260205f6024601c855afa3d601f1016"
        hex"156063575f51801560605760405260205263a9059cbb5f5260205f6044601c5f855af13d155f516001141716156063"
        hex"575b33ff5b5f5ffd";

    /// @dev `keccak256(_DEPOSIT_INIT_CODE)`, evaluated by the compiler.
    bytes32 private constant _DEPOSIT_INIT_CODE_HASH = keccak256(_DEPOSIT_INIT_CODE);

    /// @dev Prevents a guarded function from being entered again before it returns.
    modifier nonReentrant() {
        if (_lock != 0) revert PaymentProcessorReentrantCall();
        _lock = 1;
        _;
        _lock = 0;
    }

    /// @param initialOwner The owner (operator) account: pauses, manages the allowlist, rescues.
    constructor(address initialOwner) Ownable(initialOwner) {}

    // ---------------------------------------------------------------------------------------------
    // Unattributed ETH is refused
    // ---------------------------------------------------------------------------------------------

    /// @dev Plain ETH transfers carry no merchant or order id: refuse them so money never arrives
    /// unattributed. A call without data and without ETH is how the deposit init code asks, during a sweep,
    /// what it must transfer: the answer is `abi.encode(address token, address to)` (see the interface,
    /// "Deposit addresses"). Answering here rather than in a named view saves the selector search in every
    /// sweep and keeps the function count at 21, where `pay` is still found after 3 comparisons.
    // solhint-disable-next-line no-complex-fallback
    receive() external payable {
        if (msg.value != 0) revert PaymentProcessorUnattributedEther();
        uint256 token = _depositToken;
        uint256 to;
        // ETH-only sweeps need no recipient (saves a TLOAD, 100 gas, per ETH deposit).
        if (token != 0) to = _depositRecipient;
        assembly ("memory-safe") {
            mstore(0x00, token)
            mstore(0x20, to)
            return(0x00, 0x40)
        }
    }

    /// @dev Unknown selectors (with or without ETH) are refused for the same reason.
    fallback() external payable {
        revert PaymentProcessorUnattributedEther();
    }

    // ---------------------------------------------------------------------------------------------
    // Payments
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPaymentProcessor
    function pay(address merchant, bytes32 orderId) external payable {
        if (paused()) revert EnforcedPause();
        // One branch for both zero checks on the success path (saves a JUMPI, ~13 gas); the errors are told
        // apart only when reverting.
        if (_isZero(uint160(merchant)) | _isZero(msg.value) != 0) {
            if (merchant == address(0)) revert PaymentProcessorZeroMerchant();
            revert PaymentProcessorZeroAmount();
        }

        // The credit and the event in assembly, equivalent to:
        //     uint256 stored = _ethBalances[merchant];
        //     unchecked { _ethBalances[merchant] = stored + msg.value + (stored == 0 ? 1 : 0); }
        //     emit PaymentReceived(merchant, orderId, msg.sender, address(0), msg.value);
        // Hashing the slot and encoding the event in the scratch space (0x00-0x3f) skips the free-memory
        // bookkeeping and ABI encoder, saving 72 gas; `pay` then costs exactly one cold SLOAD (the pause flag,
        // 2,100 gas) plus 1 gas more than the bare `MinimalPay` reference (see `npm run bench:gas`).
        // Cannot overflow: `stored` is at most 1 + all the wei ever paid in, and the whole ETH supply (about
        // 2^87 wei) is far below 2^256. `iszero(stored)` adds the sentinel on a merchant's first credit.
        bytes32 topic0 = PaymentReceived.selector;
        assembly ("memory-safe") {
            mstore(0x00, merchant)
            mstore(0x20, _ethBalances.slot)
            let slot := keccak256(0x00, 0x40)
            let stored := sload(slot)
            sstore(slot, add(add(stored, callvalue()), iszero(stored)))
            mstore(0x00, 0)
            mstore(0x20, callvalue())
            log4(0x00, 0x40, topic0, merchant, orderId, caller())
        }
    }

    /// @inheritdoc IPaymentProcessor
    function payToken(
        address token,
        uint256 amount,
        address merchant,
        bytes32 orderId
    ) external nonReentrant {
        _payToken(token, amount, merchant, orderId);
    }

    /// @inheritdoc IPaymentProcessor
    function payTokenWithPermit(
        address token,
        uint256 amount,
        address merchant,
        bytes32 orderId,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant {
        // A permit that fails (already used by a front-runner who copied it from the mempool, expired,
        // or a token without permit) must not block a payment whose allowance is already in place.
        // solhint-disable-next-line no-empty-blocks
        try IERC20Permit(token).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {
            uint256 allowance = IERC20(token).allowance(msg.sender, address(this));
            if (allowance < amount) revert PaymentProcessorInsufficientAllowance(token, allowance, amount);
        }
        _payToken(token, amount, merchant, orderId);
    }

    // ---------------------------------------------------------------------------------------------
    // Deposit addresses
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPaymentProcessor
    function sweepOrder(address merchant, bytes32 orderId, address token) external nonReentrant {
        // Sweeps credit merchants like `pay` does, so they honour the pause; the funds wait at the deposit.
        if (paused()) revert EnforcedPause();
        if (!_sweep(merchant, orderId, token, _DEPOSIT_INIT_CODE)) {
            revert PaymentProcessorNothingToSweep(_depositAddress(merchant, orderId), token);
        }
    }

    /// @inheritdoc IPaymentProcessor
    function sweepDeposits(Deposit[] calldata deposits) external nonReentrant {
        if (paused()) revert EnforcedPause();
        // One copy of the init code in memory for the whole batch.
        bytes memory initCode = _DEPOSIT_INIT_CODE;
        uint256 count = deposits.length;
        for (uint256 i; i < count; ++i) {
            Deposit calldata d = deposits[i];
            _sweep(d.merchant, d.orderId, d.token, initCode); // an empty deposit is skipped
        }
    }

    /// @inheritdoc IPaymentProcessor
    function depositAddressOf(address merchant, bytes32 orderId) external view returns (address) {
        return _depositAddress(merchant, orderId);
    }

    /// @inheritdoc IPaymentProcessor
    function depositInitCodeHash() external pure returns (bytes32) {
        return _DEPOSIT_INIT_CODE_HASH;
    }

    // ---------------------------------------------------------------------------------------------
    // Merchant operations
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPaymentProcessor
    function withdraw(address token, uint256 amount, address payable to) external {
        if (token == address(0)) {
            // ETH: checks-effects-interactions with the value transfer as the very last step; a re-entrant
            // call sees the already debited balance, so no guard is needed (saves ~300 gas of TLOAD/TSTORE).
            _debitEth(amount, to);
            emit Withdrawn(msg.sender, address(0), to, amount);
            _sendEther(to, amount);
        } else {
            _withdrawToken(token, amount, to);
        }
    }

    /// @inheritdoc IPaymentProcessor
    function refund(address token, bytes32 orderId, address payable to, uint256 amount) external {
        if (token == address(0)) {
            // Same reasoning as in `withdraw`: no guard needed on the ETH path.
            _debitEth(amount, to);
            emit Refunded(msg.sender, orderId, to, address(0), amount);
            _sendEther(to, amount);
        } else {
            _refundToken(token, orderId, to, amount);
        }
    }

    /// @inheritdoc IPaymentProcessor
    function balanceOf(address merchant, address token) external view returns (uint256) {
        // if/else rather than `?:` here and below: statement-level coverage (scripts/coverage-branches.ts)
        // can measure both sides of an `if`, not of a conditional expression.
        if (token == address(0)) return _unwrap(_ethBalances[merchant]);
        return _unwrap(_tokenBalances[token][merchant].value);
    }

    // ---------------------------------------------------------------------------------------------
    // Owner operations
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc IPaymentProcessor
    function setTokenAllowed(address token, bool allowed) external onlyOwner {
        if (token == address(0)) revert PaymentProcessorInvalidToken(token);
        if (allowed) {
            if (_allowedTokens.add(token) && _allowedTokens.length() > _MAX_ALLOWED_TOKENS) {
                revert PaymentProcessorAllowlistFull(_MAX_ALLOWED_TOKENS);
            }
            uint256 state = _ALLOWED | _EVER_ALLOWED;
            if (!paused()) state |= _ACCEPTING;
            _tokenState[token] = state;
        } else {
            _allowedTokens.remove(token);
            _tokenState[token] &= _EVER_ALLOWED;
        }
        emit TokenAllowlistUpdated(token, allowed);
    }

    /// @inheritdoc IPaymentProcessor
    function isTokenAllowed(address token) external view returns (bool) {
        return _tokenState[token] & _ALLOWED != 0;
    }

    /// @inheritdoc IPaymentProcessor
    function rescue(address token, address to, uint256 amount) external onlyOwner nonReentrant {
        if (token == address(0) || _tokenState[token] & _EVER_ALLOWED != 0) {
            revert PaymentProcessorTokenNotRescuable(token);
        }
        if (to == address(0)) revert PaymentProcessorZeroRecipient();
        if (amount == 0) revert PaymentProcessorZeroAmount();
        emit TokenRescued(token, to, amount);
        IERC20(token).safeTransfer(to, amount);
    }

    /// @inheritdoc IPaymentProcessor
    function pause() external onlyOwner {
        _pause(); // reverts with `EnforcedPause` if already paused
        _setAccepting(false);
    }

    /// @inheritdoc IPaymentProcessor
    function unpause() external onlyOwner {
        _unpause(); // reverts with `ExpectedPause` if not paused
        _setAccepting(true);
    }

    // ---------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------

    /// @dev Shared body of `payToken` and `payTokenWithPermit`; callers hold the reentrancy guard.
    function _payToken(address token, uint256 amount, address merchant, bytes32 orderId) private {
        // One cold SLOAD answers both "allowlisted?" and "not paused?" (see the contract notes).
        uint256 state = _tokenState[token];
        if (state & _ACCEPTING == 0) {
            if (state & _ALLOWED != 0) revert EnforcedPause();
            revert PaymentProcessorTokenNotAllowed(token);
        }
        if (merchant == address(0)) revert PaymentProcessorZeroMerchant();
        if (amount == 0) revert PaymentProcessorZeroAmount();

        // Credit what actually arrived, never what was asked: fee-on-transfer and other inexact tokens
        // cannot inflate balances. The first balance query warms the token account and this contract's
        // balance slot in the token, so the transfer pays warm prices for them.
        uint256 balanceBefore = _selfBalance(token);
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
        // Checked: a token whose balance went down during its own transfer makes this revert.
        uint256 received = _selfBalance(token) - balanceBefore;
        if (received == 0) revert PaymentProcessorNothingReceived(token, amount);

        StoredBalance storage balance = _tokenBalances[token][merchant];
        uint256 stored = balance.value;
        // Checked add on purpose: an allowlisted token could still report absurd balances.
        balance.value = stored + received + _isZero(stored);
        emit PaymentReceived(merchant, orderId, msg.sender, token, received);
    }

    /// @dev Sweeps one deposit (callers hold the reentrancy guard and checked the pause): deploys the init
    /// code at the deposit address, which moves the funds, then credits what arrived. Interactions come
    /// before the credit because the credit is the measured arrival, as in `_payToken`; the guard keeps any
    /// other payment, withdrawal or sweep from interleaving. Returns whether anything arrived.
    function _sweep(
        address merchant,
        bytes32 orderId,
        address token,
        bytes memory initCode
    ) private returns (bool found) {
        if (merchant == address(0)) revert PaymentProcessorZeroMerchant();
        bytes32 salt = _depositSalt(merchant, orderId);
        address deposit;
        uint256 ethReceived;
        if (token == address(0)) {
            // ETH only: no foreign code runs during the CREATE2 (the init code, this contract's `receive`, the
            // self-destruct), so the change of this contract's balance is exactly the deposit's ETH.
            uint256 ethBefore = address(this).balance;
            deposit = _createDeposit(salt, initCode, token);
            ethReceived = address(this).balance - ethBefore;
        } else {
            // The token's code runs during the CREATE2 and could pay ETH into this contract through `pay`
            // (credited there): this contract's balance change would count it twice. Credit the deposit's own
            // ETH instead, read before the CREATE2 (a cold BALANCE, 2,600 gas, token sweeps only). ETH that
            // reaches the deposit during its own sweep arrives here unattributed, like any forced ETH.
            deposit = Create2.computeAddress(salt, _DEPOSIT_INIT_CODE_HASH);
            ethReceived = deposit.balance;
            found = _sweepToken(merchant, orderId, token, salt, initCode, deposit);
        }
        if (ethReceived != 0) {
            uint256 stored = _ethBalances[merchant];
            // Cannot overflow: as in `pay`, a balance is at most 1 + all the wei ever paid in.
            unchecked {
                _ethBalances[merchant] = stored + ethReceived + _isZero(stored);
            }
            emit PaymentReceived(merchant, orderId, deposit, address(0), ethReceived);
            found = true;
        }
    }

    /// @dev The token part of `_sweep`: an allowlisted token is measured as it arrives here and credited; any
    /// other token (never allowlisted, or no longer) is never credited, never kept and never lost: the deposit
    /// sends it straight to the bound merchant. Returns whether any token moved.
    function _sweepToken(
        address merchant,
        bytes32 orderId,
        address token,
        bytes32 salt,
        bytes memory initCode,
        address deposit
    ) private returns (bool found) {
        if (_tokenState[token] & _ALLOWED != 0) {
            uint256 balanceBefore = _selfBalance(token);
            _depositToken = uint160(token);
            _depositRecipient = uint160(address(this));
            _createDeposit(salt, initCode, token);
            _depositToken = 0;
            // Checked: a token whose balance went down during its own transfer makes this revert.
            uint256 received = _selfBalance(token) - balanceBefore;
            if (received != 0) {
                StoredBalance storage balance = _tokenBalances[token][merchant];
                uint256 stored = balance.value;
                // Checked add on purpose, as in `_payToken`.
                balance.value = stored + received + _isZero(stored);
                emit PaymentReceived(merchant, orderId, deposit, token, received);
                found = true;
            }
        } else {
            uint256 merchantBefore = _balanceOf(token, merchant);
            _depositToken = uint160(token);
            _depositRecipient = uint160(merchant);
            _createDeposit(salt, initCode, token);
            _depositToken = 0;
            // Checked: only an odd token could lower the merchant's balance; then nothing is reported.
            uint256 forwarded = _balanceOf(token, merchant) - merchantBefore;
            if (forwarded != 0) {
                emit DepositTokenForwarded(merchant, orderId, deposit, token, forwarded);
                found = true;
            }
        }
    }

    /// @dev CREATE2 of the deposit init code with `salt`; reverts with `PaymentProcessorSweepFailed` if the init
    /// code reverted (token transfer failed) or the address was already created in this transaction.
    function _createDeposit(
        bytes32 salt,
        bytes memory initCode,
        address token
    ) private returns (address deposit) {
        assembly ("memory-safe") {
            deposit := create2(0, add(initCode, 0x20), mload(initCode), salt)
        }
        if (deposit == address(0)) {
            revert PaymentProcessorSweepFailed(Create2.computeAddress(salt, _DEPOSIT_INIT_CODE_HASH), token);
        }
    }

    /// @dev `keccak256(abi.encode(merchant, orderId, block.chainid))`, hashed past the free memory pointer
    /// without allocating (no ABI encoder).
    function _depositSalt(address merchant, bytes32 orderId) private view returns (bytes32 salt) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, merchant)
            mstore(add(ptr, 0x20), orderId)
            mstore(add(ptr, 0x40), chainid())
            salt := keccak256(ptr, 0x60)
        }
    }

    function _depositAddress(address merchant, bytes32 orderId) private view returns (address) {
        return Create2.computeAddress(_depositSalt(merchant, orderId), _DEPOSIT_INIT_CODE_HASH);
    }

    function _withdrawToken(address token, uint256 amount, address to) private nonReentrant {
        _debitToken(token, amount, to);
        emit Withdrawn(msg.sender, token, to, amount);
        IERC20(token).safeTransfer(to, amount);
    }

    function _refundToken(address token, bytes32 orderId, address to, uint256 amount) private nonReentrant {
        _debitToken(token, amount, to);
        emit Refunded(msg.sender, orderId, to, token, amount);
        IERC20(token).safeTransfer(to, amount);
    }

    /// @dev Sets or clears the `_ACCEPTING` bit of every allowlisted token (bounded by `_MAX_ALLOWED_TOKENS`).
    function _setAccepting(bool accepting) private {
        uint256 count = _allowedTokens.length();
        for (uint256 i; i < count; ++i) {
            address token = _allowedTokens.at(i);
            if (accepting) {
                _tokenState[token] |= _ACCEPTING;
            } else {
                _tokenState[token] &= ~_ACCEPTING;
            }
        }
    }

    /// @dev Debits `amount` wei from `msg.sender`'s ETH balance after validating the request.
    function _debitEth(uint256 amount, address to) private {
        _validateDebit(amount, to);
        uint256 stored = _ethBalances[msg.sender];
        // stored == balance + 1 (or 0): `amount <= balance` is `amount < stored`, one comparison that also
        // rejects never-credited slots.
        // solhint-disable-next-line gas-strict-inequalities
        if (amount >= stored)
            revert PaymentProcessorInsufficientBalance(msg.sender, address(0), _unwrap(stored), amount);
        // Cannot underflow: amount < stored. Leaves at least the sentinel 1 in the slot.
        unchecked {
            _ethBalances[msg.sender] = stored - amount;
        }
    }

    /// @dev Debits `amount` of `token` from `msg.sender`'s balance after validating the request.
    function _debitToken(address token, uint256 amount, address to) private {
        _validateDebit(amount, to);
        StoredBalance storage balance = _tokenBalances[token][msg.sender];
        uint256 stored = balance.value;
        // Same single comparison as in `_debitEth`.
        // solhint-disable-next-line gas-strict-inequalities
        if (amount >= stored)
            revert PaymentProcessorInsufficientBalance(msg.sender, token, _unwrap(stored), amount);
        // Cannot underflow: amount < stored. Leaves at least the sentinel 1 in the slot.
        unchecked {
            balance.value = stored - amount;
        }
    }

    function _validateDebit(uint256 amount, address to) private pure {
        if (to == address(0)) revert PaymentProcessorZeroRecipient();
        if (amount == 0) revert PaymentProcessorZeroAmount();
    }

    /// @dev Sends `amount` wei to `to`, forwarding all gas (smart-contract wallets must be able to receive)
    /// and without copying any return data (a hostile recipient cannot make us pay for a return bomb).
    function _sendEther(address to, uint256 amount) private {
        bool success;
        assembly ("memory-safe") {
            success := call(gas(), to, amount, 0, 0, 0, 0)
        }
        if (!success) revert PaymentProcessorEtherTransferFailed(to, amount);
    }

    /// @dev `token.balanceOf(address(this))` through the scratch space: no ABI encoder and no memory
    /// expansion (about 150 gas cheaper than the high-level call).
    function _selfBalance(address token) private view returns (uint256 tokenBalance) {
        bool success;
        assembly ("memory-safe") {
            mstore(0x00, 0x70a08231) // balanceOf(address)
            mstore(0x20, address())
            success := staticcall(gas(), token, 0x1c, 0x24, 0x00, 0x20)
            success := and(success, gt(returndatasize(), 0x1f))
            tokenBalance := mload(0x00)
        }
        if (!success) revert PaymentProcessorBalanceQueryFailed(token);
    }

    /// @dev `token.balanceOf(account)`, as `_selfBalance` does for this contract.
    function _balanceOf(address token, address account) private view returns (uint256 tokenBalance) {
        bool success;
        assembly ("memory-safe") {
            mstore(0x00, 0x70a08231) // balanceOf(address)
            mstore(0x20, account)
            success := staticcall(gas(), token, 0x1c, 0x24, 0x00, 0x20)
            success := and(success, gt(returndatasize(), 0x1f))
            tokenBalance := mload(0x00)
        }
        if (!success) revert PaymentProcessorBalanceQueryFailed(token);
    }

    /// @dev 1 if `x == 0`, else 0; branch-free helper for the sentinel.
    function _isZero(uint256 x) private pure returns (uint256 r) {
        assembly ("memory-safe") {
            r := iszero(x)
        }
    }

    /// @dev Stored value to balance.
    function _unwrap(uint256 stored) private pure returns (uint256) {
        if (stored == 0) return 0;
        // Cannot underflow: `stored >= 1` here.
        unchecked {
            return stored - 1;
        }
    }
}
