// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IPaymentProcessor
/// @notice Non-custodial-for-the-operator payment processor: customers pay a merchant in ETH or in an
/// allowlisted ERC-20 token, tagged with an order id. The contract credits the merchant's balance
/// (per token) and the merchant withdraws or refunds from that balance with its own key.
/// @dev This interface is the whole public surface that wallets, the indexer, QR codes and auditors rely on.
/// Conventions:
/// - `token == address(0)` means native ETH wherever a token address is taken (except in `payToken`,
///   `setTokenAllowed` and `rescue`, which are about ERC-20 tokens only).
/// - Amounts are in the token's smallest unit (wei for ETH).
/// - The owner (Ownable2Step) can pause new payments, manage the allowlist and rescue tokens that were
///   never allowlisted. The owner can never move a merchant's credited funds, and pausing never blocks
///   withdrawals or refunds.
/// - Pausing emits OpenZeppelin's `Paused(address account)`, unpausing `Unpaused(address account)`.
/// - The contract is not upgradeable.
/// - Deposit addresses: every (merchant, orderId) pair also has a counterfactual deposit address (see
///   {depositAddressOf}) that accepts a plain transfer of ETH or of any ERC-20 token. Anyone can {sweepOrder} it into
///   this contract, which credits the merchant bound in the address. See "Deposit addresses" below.
interface IPaymentProcessor {
    // ---------------------------------------------------------------------------------------------
    // Types
    // ---------------------------------------------------------------------------------------------

    /// @notice One deposit to sweep in {sweepDeposits}.
    /// @param merchant The merchant bound in the deposit address.
    /// @param orderId The order reference bound in the deposit address.
    /// @param token The ERC-20 token to sweep, or `address(0)` to sweep ETH only. ETH held by the deposit is
    /// swept in either case.
    struct Deposit {
        address merchant;
        bytes32 orderId;
        address token;
    }

    // ---------------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------------

    /// @notice A payment was credited to `merchant`.
    /// @param merchant The merchant credited.
    /// @param orderId The merchant's order reference, as given by the payer.
    /// @param payer The account that paid (`msg.sender`).
    /// @param token The token paid, `address(0)` for ETH.
    /// @param amount The amount credited. For ERC-20 tokens this is the amount that actually arrived
    /// (measured as the change in the contract's token balance), which can be lower than requested
    /// for fee-on-transfer tokens.
    event PaymentReceived(
        address indexed merchant,
        bytes32 indexed orderId,
        address indexed payer,
        address token,
        uint256 amount
    );

    /// @notice A token that is not on the allowlist was swept from a deposit address and sent straight to
    /// the merchant bound in it, instead of being credited (only allowlisted tokens are credited, and a
    /// token sent to a deposit address must never be lost).
    /// @param merchant The merchant bound in the deposit address, which received the tokens.
    /// @param orderId The order reference bound in the deposit address.
    /// @param deposit The deposit address.
    /// @param token The ERC-20 token.
    /// @param amount The increase of the merchant's token balance measured across the transfer.
    event DepositTokenForwarded(
        address indexed merchant,
        bytes32 indexed orderId,
        address indexed deposit,
        address token,
        uint256 amount
    );

    /// @notice `merchant` withdrew `amount` of `token` from its balance to `to`.
    /// @param merchant The merchant debited (`msg.sender`).
    /// @param token The token withdrawn, `address(0)` for ETH.
    /// @param to The recipient of the funds.
    /// @param amount The amount debited and sent.
    // solhint-disable-next-line gas-indexed-events
    event Withdrawn(address indexed merchant, address indexed token, address to, uint256 amount);

    /// @notice `merchant` refunded `amount` of `token` for `orderId` to `to`, from its own balance.
    /// @param merchant The merchant debited (`msg.sender`).
    /// @param orderId The order being refunded.
    /// @param to The recipient of the refund (usually the customer).
    /// @param token The token refunded, `address(0)` for ETH.
    /// @param amount The amount debited and sent.
    event Refunded(
        address indexed merchant,
        bytes32 indexed orderId,
        address indexed to,
        address token,
        uint256 amount
    );

    /// @notice The owner added `token` to (`allowed == true`) or removed it from the payment allowlist.
    /// @param token The ERC-20 token.
    /// @param allowed Whether new payments in `token` are accepted.
    // solhint-disable-next-line gas-indexed-events
    event TokenAllowlistUpdated(address indexed token, bool allowed);

    /// @notice The owner sent `amount` of `token`, which was never allowlisted and therefore never
    /// credited to any merchant, to `to`.
    /// @param token The ERC-20 token rescued.
    /// @param to The recipient.
    /// @param amount The amount sent.
    // solhint-disable-next-line gas-indexed-events
    event TokenRescued(address indexed token, address indexed to, uint256 amount);

    // ---------------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------------

    /// @notice A payment, withdrawal, refund or rescue of zero was requested.
    error PaymentProcessorZeroAmount();

    /// @notice A payment named the zero address as merchant.
    error PaymentProcessorZeroMerchant();

    /// @notice A withdrawal, refund or rescue named the zero address as recipient.
    error PaymentProcessorZeroRecipient();

    /// @notice `token` is not on the payment allowlist (or is the zero address).
    /// @param token The token that was refused.
    error PaymentProcessorTokenNotAllowed(address token);

    /// @notice The allowlist already holds its maximum number of tokens.
    /// @param max The maximum number of allowlisted tokens.
    error PaymentProcessorAllowlistFull(uint256 max);

    /// @notice The zero address cannot be allowlisted: ETH is always accepted through `pay`.
    error PaymentProcessorInvalidToken(address token);

    /// @notice `merchant`'s balance of `token` is lower than the amount to debit.
    /// @param merchant The merchant whose balance was checked.
    /// @param token The token, `address(0)` for ETH.
    /// @param balance The merchant's balance.
    /// @param needed The amount requested.
    error PaymentProcessorInsufficientBalance(
        address merchant,
        address token,
        uint256 balance,
        uint256 needed
    );

    /// @notice Sending `amount` wei to `to` failed (the recipient reverted).
    /// @param to The recipient.
    /// @param amount The amount of wei.
    error PaymentProcessorEtherTransferFailed(address to, uint256 amount);

    /// @notice ETH was sent without order data (a plain transfer or an unknown function selector).
    /// Use `pay(merchant, orderId)`.
    error PaymentProcessorUnattributedEther();

    /// @notice The transfer of `token` did not increase the contract's balance at all.
    /// @param token The token.
    /// @param requested The amount the payer asked to transfer.
    error PaymentProcessorNothingReceived(address token, uint256 requested);

    /// @notice The token's `balanceOf` could not be read (call reverted or returned malformed data).
    /// @param token The token.
    error PaymentProcessorBalanceQueryFailed(address token);

    /// @notice The permit failed (for instance because it was already used by someone else) and the
    /// allowance in place does not cover the payment.
    /// @param token The token.
    /// @param allowance The payer's allowance to this contract.
    /// @param needed The payment amount.
    error PaymentProcessorInsufficientAllowance(address token, uint256 allowance, uint256 needed);

    /// @notice A payment, withdrawal, refund or rescue of an ERC-20 token was entered again while one was
    /// in progress (through a token callback or a recipient's code).
    error PaymentProcessorReentrantCall();

    /// @notice `token` is or was allowlisted, so merchants may hold credited balances of it: the owner
    /// cannot rescue it.
    /// @param token The token.
    error PaymentProcessorTokenNotRescuable(address token);

    /// @notice {sweepOrder} found nothing at `deposit`: no ETH and none of `token` (an empty address, or one that
    /// was already swept). {sweepDeposits} skips such deposits instead.
    /// @param deposit The deposit address.
    /// @param token The token asked for, `address(0)` for ETH only.
    error PaymentProcessorNothingToSweep(address deposit, address token);

    /// @notice Deploying the sweeper code at `deposit` failed: the token's `balanceOf` or `transfer` reverted
    /// or returned `false`, or the same deposit was swept twice in one transaction (an address that
    /// self-destructed in this transaction cannot be created again before it ends, EIP-6780/EIP-684).
    /// @param deposit The deposit address.
    /// @param token The token asked for, `address(0)` for ETH only.
    error PaymentProcessorSweepFailed(address deposit, address token);

    // ---------------------------------------------------------------------------------------------
    // Payments
    // ---------------------------------------------------------------------------------------------

    /// @notice Pay `msg.value` wei to `merchant` for `orderId`.
    /// @dev Reverts with `EnforcedPause` while paused, `PaymentProcessorZeroMerchant` for a zero merchant and
    /// `PaymentProcessorZeroAmount` for a zero value. Emits {PaymentReceived} with `token == address(0)`.
    /// @param merchant The merchant to credit.
    /// @param orderId The merchant's order reference.
    function pay(address merchant, bytes32 orderId) external payable;

    /// @notice Pay `amount` of the allowlisted ERC-20 `token` to `merchant` for `orderId`. The payer must
    /// have approved this contract for at least `amount`.
    /// @dev The merchant is credited with the amount that actually arrived (the change in this
    /// contract's token balance), never more. Reverts with `EnforcedPause` while paused and
    /// `PaymentProcessorTokenNotAllowed` for a token not on the allowlist. Emits {PaymentReceived}.
    /// @param token The ERC-20 token.
    /// @param amount The amount to transfer from the payer.
    /// @param merchant The merchant to credit.
    /// @param orderId The merchant's order reference.
    function payToken(address token, uint256 amount, address merchant, bytes32 orderId) external;

    /// @notice Same as {payToken}, with an EIP-2612 permit for `amount` in the same transaction.
    /// @dev If the permit call fails (for example because someone front-ran it by submitting the same
    /// signature), the payment still goes through as long as the allowance in place covers `amount`;
    /// otherwise it reverts with `PaymentProcessorInsufficientAllowance`.
    /// @param token The ERC-20 token, which must implement EIP-2612.
    /// @param amount The amount to transfer from the payer (and the permit value).
    /// @param merchant The merchant to credit.
    /// @param orderId The merchant's order reference.
    /// @param deadline The permit deadline.
    /// @param v The permit signature's `v`.
    /// @param r The permit signature's `r`.
    /// @param s The permit signature's `s`.
    function payTokenWithPermit(
        address token,
        uint256 amount,
        address merchant,
        bytes32 orderId,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;

    // ---------------------------------------------------------------------------------------------
    // Deposit addresses
    // ---------------------------------------------------------------------------------------------
    //
    // Every (merchant, orderId) pair has a deposit address, derived with CREATE2 from this contract:
    //
    //     salt    = keccak256(abi.encode(merchant, orderId, block.chainid))      // 3 words, 96 bytes
    //     deposit = address(uint160(uint256(keccak256(abi.encodePacked(
    //                   bytes1(0xff), address(this), salt, depositInitCodeHash())))))
    //
    // The address has no code until it is swept and none afterwards: a sweep deploys a fixed 103-byte init
    // code there, which moves the funds and self-destructs in the same transaction (EIP-6780), so a plain
    // 21,000-gas ETH transfer or a token `transfer` to it always works, before and after a sweep, and a late
    // payment can be swept again. The address does not depend on the token: one address per order for ETH
    // and every token. It does depend on the chain, so an address is never valid on two chains.
    //
    // The init code asks this contract what to move, with a static call without data and without ETH (which
    // `receive` answers with `abi.encode(address token, address to)`: the token to transfer, zero for ETH
    // only, and its recipient; zeros outside a sweep, which is harmless since only code this contract deploys
    // acts on the answer; `receive` still refuses any ETH), then:
    // - if a token is named, transfers its whole `balanceOf(deposit)` to the recipient named (this contract
    //   for an allowlisted token, the bound merchant otherwise), and reverts if that fails;
    // - in every case self-destructs with this contract as beneficiary, which moves all of its ETH here
    //   without running any code of this contract.
    // This contract measures what arrived (its own ETH and token balance before and after) and credits it
    // to the merchant bound in the salt. Funds can therefore only go to this contract, credited to that
    // merchant, or (tokens off the allowlist) to that merchant's own address: the caller of `sweep` chooses
    // nothing but the timing and which token to sweep.
    //
    // Events, and the rule for the indexer:
    // - Every amount credited by a sweep emits {PaymentReceived} exactly as `pay` and `payToken` do, with
    //   `payer` = the deposit address. A {PaymentReceived} log is a sweep if and only if its `payer` equals
    //   the deposit address computed from its own `merchant` and `orderId` topics with the formula above
    //   (the deposit address never calls `pay`: only the init code above ever runs there). Otherwise it is
    //   a direct payment and `payer` is the account that called `pay*`.
    // - A token sweep emits the token's {PaymentReceived} first, then ETH's if the deposit also held ETH.
    // - A token that is not allowlisted emits {DepositTokenForwarded} instead (nothing is credited).
    // - Nothing is emitted for an empty deposit skipped by {sweepDeposits}.

    /// @notice Sweep the deposit address of (`merchant`, `orderId`): credit `merchant` for `orderId` with the
    /// ETH it holds and, if `token` is not zero, with all of its `token` (or send that token to `merchant`
    /// if `token` is not allowlisted). Anyone may call it; the caller chooses nothing else.
    /// @dev Reverts with `EnforcedPause` while paused (the funds wait safely at the deposit address until
    /// unpause; withdrawals and refunds are never blocked), `PaymentProcessorZeroMerchant` for a zero
    /// merchant, `PaymentProcessorNothingToSweep` if nothing arrived, `PaymentProcessorSweepFailed` if the
    /// token transfer failed, `PaymentProcessorReentrantCall` if entered from a token callback. Emits
    /// {PaymentReceived} (payer = the deposit address) per asset credited, or {DepositTokenForwarded}.
    /// @param merchant The merchant bound in the deposit address.
    /// @param orderId The order reference bound in the deposit address.
    /// @param token The ERC-20 token to sweep, or `address(0)` to sweep ETH only.
    function sweepOrder(address merchant, bytes32 orderId, address token) external;

    /// @notice {sweepOrder} for many deposits in one transaction (ETH and tokens mixed). An entry that finds
    /// nothing is skipped without an event, so a deposit swept by someone else just before does not make
    /// the batch fail.
    /// @dev Reverts as {sweepOrder} does otherwise (one failing entry reverts the batch: simulate first and
    /// drop it). List each deposit once: a second sweep of an address in the same transaction fails
    /// (`PaymentProcessorSweepFailed`) after burning the gas forwarded to CREATE2 (EIP-684 collision);
    /// sweep a deposit's ETH and one token with a single entry naming the token.
    /// @param deposits The deposits to sweep.
    function sweepDeposits(Deposit[] calldata deposits) external;

    /// @notice The deposit address of (`merchant`, `orderId`) on this chain (see the formula above).
    /// @param merchant The merchant.
    /// @param orderId The merchant's order reference.
    /// @return deposit The counterfactual address.
    function depositAddressOf(address merchant, bytes32 orderId) external view returns (address deposit);

    /// @notice `keccak256` of the deposit init code, for computing deposit addresses off-chain.
    /// @return The init code hash (a constant).
    function depositInitCodeHash() external pure returns (bytes32);

    // ---------------------------------------------------------------------------------------------
    // Merchant operations (never blocked by pause, never subject to the allowlist)
    // ---------------------------------------------------------------------------------------------

    /// @notice Withdraw `amount` of `token` (`address(0)` for ETH) from the caller's balance to `to`.
    /// @dev Emits {Withdrawn}. Reverts with `PaymentProcessorInsufficientBalance` if the caller's balance
    /// is too low.
    /// @param token The token, `address(0)` for ETH.
    /// @param amount The amount to withdraw.
    /// @param to The recipient.
    function withdraw(address token, uint256 amount, address payable to) external;

    /// @notice Refund `amount` of `token` (`address(0)` for ETH) for `orderId` from the caller's balance
    /// to `to`.
    /// @dev Emits {Refunded}. The contract does not check `orderId` against past payments: the merchant
    /// decides what to refund, from its own money.
    /// @param token The token, `address(0)` for ETH.
    /// @param orderId The order being refunded.
    /// @param to The recipient of the refund.
    /// @param amount The amount to refund.
    function refund(address token, bytes32 orderId, address payable to, uint256 amount) external;

    /// @notice The balance of `token` (`address(0)` for ETH) credited to `merchant` and not yet withdrawn or
    /// refunded.
    /// @param merchant The merchant.
    /// @param token The token, `address(0)` for ETH.
    /// @return The balance in the token's smallest unit.
    function balanceOf(address merchant, address token) external view returns (uint256);

    // ---------------------------------------------------------------------------------------------
    // Owner operations
    // ---------------------------------------------------------------------------------------------

    /// @notice Add `token` to (`allowed == true`) or remove it from the payment allowlist. Removing a token
    /// blocks new payments in it; merchants can still withdraw and refund it.
    /// @dev Only the owner. Emits {TokenAllowlistUpdated}, even when nothing changes. Once allowlisted, a token
    /// can never be rescued. At most 32 tokens can be allowlisted at the same time
    /// (`PaymentProcessorAllowlistFull`), which bounds the cost of `pause` and `unpause`.
    /// @param token The ERC-20 token (not the zero address).
    /// @param allowed Whether new payments in `token` are accepted.
    function setTokenAllowed(address token, bool allowed) external;

    /// @notice Whether new payments in `token` are accepted (ignoring the pause).
    /// @param token The ERC-20 token.
    /// @return True if `token` is on the allowlist.
    function isTokenAllowed(address token) external view returns (bool);

    /// @notice Send `amount` of `token`, sent to this contract by mistake, to `to`.
    /// @dev Only the owner, and only for a token that was never allowlisted, so that credited funds can never
    /// be moved: a token that was never allowlisted can never have been credited to a merchant. Reverts with
    /// `PaymentProcessorTokenNotRescuable` otherwise. Emits {TokenRescued}.
    /// @param token The ERC-20 token.
    /// @param to The recipient.
    /// @param amount The amount to send.
    function rescue(address token, address to, uint256 amount) external;

    /// @notice Stop accepting new payments. Withdrawals and refunds keep working.
    /// @dev Only the owner. Emits OpenZeppelin's `Paused(address)`.
    function pause() external;

    /// @notice Accept new payments again.
    /// @dev Only the owner. Emits OpenZeppelin's `Unpaused(address)`.
    function unpause() external;
}
