// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @dev Stands for OpenZeppelin's EnumerableSet.AddressSet where a loop reads the set (`LedgerPause`): an
/// append-only list.
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

/// @dev The allowlist of the harness contracts whose properties never read its elements: a count of the
/// additions, so that the cap is checked with no array in the state.
library AddressCount {
    struct Count {
        uint256 n;
    }

    // solhint-disable-next-line no-unused-vars
    function add(Count storage count, address) internal returns (bool) {
        // Unchecked: the BMC contracts start from any state, a count of 2^256 - 1 included; none of their
        // properties depends on the count, only the cap's check does.
        unchecked {
            count.n += 1;
        }
        return true;
    }

    // solhint-disable-next-line no-unused-vars
    function remove(Count storage, address) internal pure returns (bool) {
        return true;
    }

    function length(Count storage count) internal view returns (uint256) {
        return count.n;
    }
}

/// @title LedgerBase (model-checking harness; never deployed, never compiled by `hardhat build`)
/// @notice The money arithmetic of `contracts/payments/PaymentProcessor.sol`, with the properties as assertions,
/// for solc's SMTChecker (CHC and BMC engines) run by `npm run verify:smt` (scripts/verify-smt.ts).
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
/// - A token balance is written through a `storage` pointer in production (`balance.value = …` with
///   `StoredBalance storage balance = _tokenBalances[token][merchant]`). By the language's definition that is
///   the write `_tokenBalances[token][merchant].value = …` (neither key changes in between), and the harness
///   writes it in that form: solc 0.8.30's SMTChecker models a write through a local storage pointer by
///   forgetting the whole of every state variable the pointer may point into (`SMTEncoder::resetReferences`),
///   so after `balance.value = …` it knows nothing of `_tokenBalances`, not even the slot just written, and
///   reports a violation of any assertion that reads the mapping (this was the "counterexample without a
///   trace" of P3b). The pointer's declaration and read stay verbatim.
/// - The debit contracts have `anyBalance`, a harness-only setter that can put any stored value in any slot:
///   without a function that credits, every balance of such a contract stays 0, every debit reverts, and the
///   debit properties would hold vacuously. With it the properties are proved from every state, reachable or
///   not, which covers every state that credits and debits can reach.
/// - The owner's functions are split into one contract per property, each with only the state it needs. The
///   properties of `setTokenAllowed` (P8, P9) and of `pause`/`unpause` (P10) concern one call, so they are
///   checked by the BMC engine from an arbitrary state (every state, reachable or not): complete for
///   `setTokenAllowed`, which has no loop, and for `_setAccepting`, whose loop BMC unrolls as many times as the
///   allowlist cap allows. `rescue` (P11) needs a fact about every reachable state and is checked by CHC.
/// - The allowlist set (OpenZeppelin's EnumerableSet) is an append-only list (`AddressList`) where a loop reads
///   it (`_setAccepting`), and a count of additions (`AddressCount`) elsewhere; its bookkeeping touches no
///   balance and no token bit. The size cap is production's check on the model's length.
/// - `_setAccepting`'s loop is checked with the allowlist length bounded by `_MAX_ALLOWED_TOKENS` (32): the cap
///   `setTokenAllowed` enforces in production, restated as a `require` in `setPaused` so that the loop's bound
///   is in the function.
abstract contract LedgerBase {
    /// @dev The physical bound on any amount or balance (see above).
    uint256 internal constant _BOUND = 2 ** 128;

    uint256 internal constant _ACCEPTING = 1;
    uint256 internal constant _ALLOWED = 2;
    uint256 internal constant _EVER_ALLOWED = 4;
    uint256 internal constant _MAX_ALLOWED_TOKENS = 32;

    struct StoredBalance {
        uint256 value;
    }

    mapping(address merchant => uint256 storedBalance) internal _ethBalances;
    mapping(address token => mapping(address merchant => StoredBalance)) internal _tokenBalances;
    mapping(address token => uint256 state) internal _tokenState;
    bool internal _paused;

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
    error PaymentProcessorAllowlistFull(uint256 max);

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
        // Any merchant: the caller's address is as arbitrary to the checker as a parameter.
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
        // Production: `balance.value = stored + received + _isZero(stored);` (see the header).
        _tokenBalances[token][merchant].value = stored + received + (stored == 0 ? 1 : 0);
        /// @property P3 a token payment or sweep credits exactly the amount that arrived
        assert(_tokenBalances[token][merchant].value == (storedBefore == 0 ? 1 : storedBefore) + received);
        /// @property P3b a token payment or sweep credits the bound merchant only
        assert(_tokenBalances[token][other].value == otherBefore);
    }
}

/// @notice ETH debits: `withdraw` and `refund` of ETH.
contract LedgerEthDebit is LedgerBase {
    /// Harness only: any stored value in any slot (see the header).
    function anyBalance(address merchant, uint256 stored) external {
        _ethBalances[merchant] = stored;
    }

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
    /// Harness only: any stored value in any slot (see the header).
    function anyBalance(address token, address merchant, uint256 stored) external {
        _tokenBalances[token][merchant].value = stored;
    }

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
            // </verbatim>
            // Production: `balance.value = stored - amount;` (see the header).
            _tokenBalances[token][msg.sender].value = stored - amount;
        }
        /// @property P6 a token withdrawal or refund never debits more than the merchant's balance, and debits it exactly
        // (In stored values: the balance is stored - 1, so `amount <= balance` is `amount < stored`.)
        assert(amount < stored && _tokenBalances[token][msg.sender].value == stored - amount);
        /// @property P7 a token debit leaves the sentinel and no other merchant's balance moves
        assert(
            _tokenBalances[token][msg.sender].value >= 1 && _tokenBalances[token][other].value == otherBefore
        );
    }
}

/// @notice `setTokenAllowed`, for the owner contracts below (each analysed on its own, with only the state its
/// properties need).
abstract contract LedgerOwnerBase is LedgerBase {
    using AddressCount for AddressCount.Count;

    AddressCount.Count internal _allowedTokens;

    /// `setTokenAllowed`, with the allowlist set modelled by a count (see `AddressCount`).
    function _setTokenAllowed(address token, bool allowed) internal {
        // <verbatim PaymentProcessor.sol>
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
        // </verbatim>
    }

    function paused() public view returns (bool) {
        return _paused;
    }
}

/// @notice `setTokenAllowed` never changes a balance: one call from any state (BMC).
/// @custom:smt engine=bmc
contract LedgerAllowlistBalances is LedgerOwnerBase {
    function setTokenAllowed(address token, bool allowed, address merchant, address anyToken) external {
        uint256 eth = _ethBalances[merchant];
        uint256 tok = _tokenBalances[anyToken][merchant].value;
        _setTokenAllowed(token, allowed);
        /// @property P8 the owner's functions never change a merchant's balance (setTokenAllowed)
        assert(_ethBalances[merchant] == eth && _tokenBalances[anyToken][merchant].value == tok);
    }
}

/// @notice `setTokenAllowed`'s token bits: one call from any state (BMC), any pause state included.
/// @custom:smt engine=bmc rlimit=300000000 timeout=60000
contract LedgerAllowlistBits is LedgerOwnerBase {
    function setTokenAllowed(address token, bool allowed) external {
        _setTokenAllowed(token, allowed);
        /// @property P9 allowing sets ALLOWED and EVER_ALLOWED (ACCEPTING exactly when not paused); removing keeps only EVER_ALLOWED
        assert(
            allowed
                ? _tokenState[token] ==
                    (_paused ? _ALLOWED | _EVER_ALLOWED : _ALLOWED | _EVER_ALLOWED | _ACCEPTING)
                : _tokenState[token] & (_ALLOWED | _ACCEPTING) == 0
        );
    }
}

/// @notice `rescue`'s check, with `setTokenAllowed`, the only function that writes the ALLOWED and EVER_ALLOWED
/// bits (`pause` and `unpause` write only the ACCEPTING bit, so they are left out of this contract).
contract LedgerRescue is LedgerOwnerBase {
    function setTokenAllowed(address token, bool allowed) external {
        _setTokenAllowed(token, allowed);
    }

    /// `rescue`'s check: never ETH, never a token that is or ever was allowlisted (whose balances may exist).
    /// It changes no balance: production's `rescue` writes no storage (a token transfer and an event after
    /// this check), which the harness states by being `view` (the compiler rejects a write).
    function rescue(address token) external view {
        // <verbatim PaymentProcessor.sol>
        if (token == address(0) || _tokenState[token] & _EVER_ALLOWED != 0) {
            revert PaymentProcessorTokenNotRescuable(token);
        }
        // </verbatim>
        /// @property P11 rescue never reaches ETH or an allowlisted token, and changes no balance
        assert(token != address(0) && _tokenState[token] & _ALLOWED == 0);
    }
}

/// @notice `pause` / `unpause`: the flag, then `_setAccepting` over the allowlist (a list here: the loop reads
/// it). One call from any state (BMC), any allowlist of up to `_MAX_ALLOWED_TOKENS` entries and any balances;
/// the loop is unrolled `_MAX_ALLOWED_TOKENS` times, every iteration it can make, so the check is complete.
/// @custom:smt engine=bmc loops=32
contract LedgerPause is LedgerBase {
    using AddressList for AddressList.List;

    AddressList.List internal _allowedTokens;

    function setPaused(bool paused_, address merchant, address anyToken) external {
        uint256 eth = _ethBalances[merchant];
        uint256 tok = _tokenBalances[anyToken][merchant].value;
        require(_paused != paused_);
        _paused = paused_;
        bool accepting = !paused_;
        uint256 count = _allowedTokens.length();
        // The cap that `setTokenAllowed` enforces, restated so that the loop's bound is in the function (see
        // the header): BMC checks every iteration up to it.
        require(count <= _MAX_ALLOWED_TOKENS);
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
}
