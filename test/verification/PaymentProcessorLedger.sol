// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @dev Stands for OpenZeppelin's EnumerableSet.AddressSet in the harness: an append-only list (see
/// `PaymentProcessorLedger.setTokenAllowed`).
library AddressList {
    struct List {
        address[] items;
    }

    function add(List storage list, address a) internal returns (bool) {
        list.items.push(a);
        return true;
    }

    // solhint-disable-next-line no-unused-vars
    function remove(List storage, address) internal pure returns (bool) {
        return true;
    }

    function length(List storage list) internal view returns (uint256) {
        return list.items.length;
    }

    function at(List storage list, uint256 i) internal view returns (address) {
        return list.items[i];
    }
}

/// @title LedgerBase (model-checking harness; never deployed, never compiled by `hardhat build`)
/// @notice The money arithmetic of `contracts/payments/PaymentProcessor.sol`, with the properties as assertions,
/// for solc's SMTChecker (CHC engine) run by `npm run verify:smt` (scripts/verify-smt.ts).
/// @dev Why a harness and not the contract itself: on the whole PaymentProcessor the CHC engine gave no verdict
/// within 15 minutes (external calls into tokens, CREATE2, the inline assembly of `pay` and of the balance
/// queries, and OpenZeppelin's EnumerableSet all widen the state space). The accounting functions are
/// `private` there, so they cannot be inherited; the lines between `<verbatim>` markers below are the
/// production lines themselves, and `npm run verify:smt` fails if any of them no longer appears, in order, in
/// PaymentProcessor.sol. What differs, and why:
/// - `_isZero(x)` (one assembly opcode, `iszero`) is written `(x == 0 ? 1 : 0)`: the SMTChecker does not model
///   inline assembly.
/// - `pay`'s assembly credit is written as the Solidity its comment states it is equivalent to; that the assembly
///   matches is what the Solidity tests check (`testFuzz_pay_creditsExactly` and the invariant suite).
/// - Token transfers and balance queries are external calls; the harness takes what they measured
///   (`balanceBefore`, `balanceAfter`) as inputs. Whatever they are, the properties must hold.
/// - Physical bounds are stated as `require`: no single balance exceeds 2^128 (the whole ETH supply is about
///   2^87 wei, and a token whose supply exceeds 2^128 units makes the checked additions revert instead).
abstract contract LedgerBase {
    /// @dev The physical bound on any amount or balance (see above).
    uint256 internal constant _BOUND = 2 ** 128;

    uint256 internal constant _ACCEPTING = 1;
    uint256 internal constant _ALLOWED = 2;
    uint256 internal constant _EVER_ALLOWED = 4;

    using AddressList for AddressList.List;

    struct StoredBalance {
        uint256 value;
    }

    mapping(address merchant => uint256 storedBalance) internal _ethBalances;
    mapping(address token => mapping(address merchant => StoredBalance)) internal _tokenBalances;
    mapping(address token => uint256 state) internal _tokenState;
    bool internal _paused;
    AddressList.List internal _allowedTokens;

    error PaymentProcessorInsufficientBalance(
        address merchant,
        address token,
        uint256 balance,
        uint256 needed
    );
    error PaymentProcessorZeroRecipient();
    error PaymentProcessorZeroAmount();
    error PaymentProcessorInvalidToken(address token);
    error PaymentProcessorNothingReceived(address token, uint256 amount);
    error PaymentProcessorTokenNotRescuable(address token);

    function _validateDebit(uint256 amount, address to) internal pure {
        if (to == address(0)) revert PaymentProcessorZeroRecipient();
        if (amount == 0) revert PaymentProcessorZeroAmount();
    }

    function _unwrap(uint256 stored) internal pure returns (uint256) {
        if (stored == 0) return 0;
        // Cannot underflow: `stored >= 1` here.
        unchecked {
            return stored - 1;
        }
    }

    /// @dev Stands for the token's `balanceOf(this)` after the transfer.
    function _selfBalance(uint256 measured) internal pure returns (uint256) {
        return measured;
    }
}

/// @notice ETH credits: `pay` and the ETH part of `_sweep`.
contract LedgerEthCredit is LedgerBase {
    /// `pay`: the merchant's ETH balance rises by exactly `value`; the unchecked credit never wraps.
    function pay(address merchant) external payable {
        require(merchant != address(0) && msg.value != 0);
        uint256 stored = _ethBalances[merchant];
        require(stored <= _BOUND && msg.value <= _BOUND);
        // <verbatim PaymentProcessor.sol> (the Solidity that `pay`'s assembly is commented as equivalent to)
        unchecked {
            _ethBalances[merchant] = stored + msg.value + (stored == 0 ? 1 : 0);
        }
        // </verbatim>
        /// @property P1 pay credits exactly msg.value and the unchecked credit never wraps
        // (Stored values: balance + 1, or 0 if never credited. Balance after == balance before + msg.value is
        // stored after == max(stored before, 1) + msg.value.)
        assert(
            _ethBalances[merchant] == (stored == 0 ? 1 : stored) + msg.value &&
                _ethBalances[merchant] > stored
        );
    }

    /// `_sweep`, ETH part: the merchant is credited exactly what arrived (this contract's balance change during
    /// the CREATE2, or the deposit's own balance on a token sweep), and nobody else is.
    function sweepEth(address merchant, address other, uint256 ethBefore, uint256 ethAfter) external {
        require(merchant != address(0) && other != merchant);
        require(ethAfter <= _BOUND && _ethBalances[merchant] <= _BOUND);
        uint256 otherBefore = _ethBalances[other];
        uint256 storedBefore = _ethBalances[merchant];
        // During an ETH sweep no foreign code runs, so the contract's balance can only grow; on a token sweep the
        // measurement is the deposit's own balance (`ethBefore` is 0 then).
        require(ethAfter >= ethBefore);
        uint256 ethReceived = ethAfter - ethBefore;
        // <verbatim PaymentProcessor.sol>
        if (ethReceived != 0) {
            uint256 stored = _ethBalances[merchant];
            // Cannot overflow: as in `pay`, a balance is at most 1 + all the wei ever paid in.
            unchecked {
                // </verbatim>
                _ethBalances[merchant] = stored + ethReceived + (stored == 0 ? 1 : 0);
            }
        }
        /// @property P2 an ETH sweep credits exactly the amount that arrived, to the bound merchant only
        assert(
            (
                ethReceived == 0
                    ? _ethBalances[merchant] == storedBefore
                    : _ethBalances[merchant] == (storedBefore == 0 ? 1 : storedBefore) + ethReceived
            ) && _ethBalances[other] == otherBefore
        );
    }
}

/// @notice Token credits: `_payToken` and `_sweepToken` (allowlisted token).
contract LedgerTokenCredit is LedgerBase {
    /// `_payToken` (and `_sweepToken`, whose credit is the same lines, skipped when nothing arrived): the credit
    /// is the measured arrival, never the amount asked, and only the bound merchant's balance moves.
    function creditToken(
        address token,
        address other,
        uint256 amount,
        uint256 balanceBefore,
        uint256 balanceAfter
    ) external {
        // Any merchant: the caller's address is as arbitrary to the checker as a parameter, and with it the
        // checker keeps the two mapping keys apart (with a parameter it reported P3b violated without a trace).
        address merchant = msg.sender;
        require(other != merchant);
        require(balanceAfter <= _BOUND && _tokenBalances[token][merchant].value <= _BOUND);
        uint256 otherBefore = _tokenBalances[token][other].value;
        uint256 storedBefore = _tokenBalances[token][merchant].value;
        // The measurement is checked: a token whose balance went down during its own transfer makes it revert.
        // The property is about the other paths.
        require(balanceAfter >= balanceBefore);
        uint256 received = _selfBalance(balanceAfter) - balanceBefore;
        // <verbatim PaymentProcessor.sol>
        if (received == 0) revert PaymentProcessorNothingReceived(token, amount);

        StoredBalance storage balance = _tokenBalances[token][merchant];
        uint256 stored = balance.value;
        // Checked add on purpose: an allowlisted token could still report absurd balances.
        // </verbatim>
        balance.value = stored + received + (stored == 0 ? 1 : 0);
        /// @property P3 a token payment or sweep credits exactly the amount that arrived
        assert(balance.value == (storedBefore == 0 ? 1 : storedBefore) + received);
        /// @property P3b a token payment or sweep credits the bound merchant only
        assert(_tokenBalances[token][other].value == otherBefore);
    }
}

/// @notice ETH debits: `withdraw` and `refund` of ETH.
contract LedgerEthDebit is LedgerBase {
    /// `withdraw` / `refund` of ETH (`_debitEth`): never more than the balance, exactly `amount`, and the slot
    /// keeps its sentinel.
    function debitEth(address other, uint256 amount, address to) external {
        require(other != msg.sender);
        uint256 before = _unwrap(_ethBalances[msg.sender]);
        uint256 otherBefore = _ethBalances[other];
        // <verbatim PaymentProcessor.sol>
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
        // </verbatim>
        /// @property P4 an ETH withdrawal or refund never debits more than the merchant's balance, and debits it exactly
        assert(amount <= before && _unwrap(_ethBalances[msg.sender]) == before - amount);
        /// @property P5 an ETH debit leaves the sentinel (the unchecked subtraction never wraps) and no other merchant's balance moves
        assert(
            _ethBalances[msg.sender] >= 1 &&
                _ethBalances[msg.sender] < stored &&
                _ethBalances[other] == otherBefore
        );
    }
}

/// @notice Token debits: `withdraw` and `refund` of a token.
contract LedgerTokenDebit is LedgerBase {
    /// `withdraw` / `refund` of a token (`_debitToken`).
    function debitToken(address token, address other, uint256 amount, address to) external {
        require(other != msg.sender);
        uint256 otherBefore = _tokenBalances[token][other].value;
        // <verbatim PaymentProcessor.sol>
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
        // </verbatim>
        /// @property P6 a token withdrawal or refund never debits more than the merchant's balance, and debits it exactly
        // (In stored values: the balance is stored - 1, so `amount <= balance` is `amount < stored`.)
        assert(amount < stored && _tokenBalances[token][msg.sender].value == stored - amount);
        /// @property P7 a token debit leaves the sentinel and no other merchant's balance moves
        assert(balance.value >= 1 && _tokenBalances[token][other].value == otherBefore);
    }
}

/// @notice The owner's functions.
contract LedgerOwner is LedgerBase {
    using AddressList for AddressList.List;

    /// `setTokenAllowed`. The allowlist set is modelled by `AddressList` (append-only; its bookkeeping touches no
    /// balance and no token bit, and the size cap is left out for the same reason).
    function setTokenAllowed(address token, bool allowed, address merchant, address anyToken) external {
        uint256 eth = _ethBalances[merchant];
        uint256 tok = _tokenBalances[anyToken][merchant].value;
        // <verbatim PaymentProcessor.sol>
        if (token == address(0)) revert PaymentProcessorInvalidToken(token);
        if (allowed) {
            // </verbatim>
            _allowedTokens.add(token);
            // <verbatim PaymentProcessor.sol>
            uint256 state = _ALLOWED | _EVER_ALLOWED;
            if (!paused()) state |= _ACCEPTING;
            _tokenState[token] = state;
        } else {
            _allowedTokens.remove(token);
            _tokenState[token] &= _EVER_ALLOWED;
        }
        // </verbatim>
        /// @property P8 the owner's functions never change a merchant's balance (setTokenAllowed)
        assert(_ethBalances[merchant] == eth && _tokenBalances[anyToken][merchant].value == tok);
        /// @property P9 allowing sets ALLOWED and EVER_ALLOWED (ACCEPTING exactly when not paused); removing keeps only EVER_ALLOWED
        if (allowed) {
            assert(
                _tokenState[token] & (_ALLOWED | _EVER_ALLOWED) == (_ALLOWED | _EVER_ALLOWED) &&
                    (_tokenState[token] & _ACCEPTING != 0) == !_paused
            );
        } else {
            assert(_tokenState[token] & (_ALLOWED | _ACCEPTING) == 0);
        }
    }

    /// `pause` / `unpause`: the flag, then `_setAccepting` over the allowlist.
    function setPaused(bool paused_, address merchant, address anyToken) external {
        uint256 eth = _ethBalances[merchant];
        uint256 tok = _tokenBalances[anyToken][merchant].value;
        require(_paused != paused_);
        _paused = paused_;
        bool accepting = !paused_;
        uint256 count = _allowedTokens.length();
        // <verbatim PaymentProcessor.sol>
        for (uint256 i; i < count; ++i) {
            address token = _allowedTokens.at(i);
            if (accepting) {
                _tokenState[token] |= _ACCEPTING;
            } else {
                _tokenState[token] &= ~_ACCEPTING;
            }
        }
        // </verbatim>
        /// @property P10 the owner's functions never change a merchant's balance (pause, unpause)
        assert(_ethBalances[merchant] == eth && _tokenBalances[anyToken][merchant].value == tok);
    }

    /// `rescue`'s check: never ETH, never a token that is or ever was allowlisted (whose balances may exist).
    function rescue(address token, address merchant) external view {
        uint256 eth = _ethBalances[merchant];
        uint256 tok = _tokenBalances[token][merchant].value;
        // <verbatim PaymentProcessor.sol>
        if (token == address(0) || _tokenState[token] & _EVER_ALLOWED != 0) {
            revert PaymentProcessorTokenNotRescuable(token);
        }
        // </verbatim>
        /// @property P11 rescue never reaches ETH or an allowlisted token, and changes no balance
        assert(token != address(0) && _tokenState[token] & _ALLOWED == 0);
        assert(_ethBalances[merchant] == eth && _tokenBalances[token][merchant].value == tok);
    }

    function paused() public view returns (bool) {
        return _paused;
    }
}
