// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
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
/// - Dispatch: solc finds a selector by binary search. With exactly these 17 external functions `pay` is
///   reached after 3 comparisons (66 gas); the names first tried for the rescue function (`rescueToken` plus
///   an `isTokenRescuable` view) made it 6 (132 gas). Adding or renaming an external function changes this:
///   re-run `npm run bench:gas`.
/// - `pay` (ETH) makes no external call, so it needs no reentrancy guard. ERC-20 paths share one transient
///   guard because the balance-delta measurement in `payToken` must not interleave with another payment,
///   withdrawal or refund of the same token.
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
    /// unattributed.
    receive() external payable {
        revert PaymentProcessorUnattributedEther();
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
