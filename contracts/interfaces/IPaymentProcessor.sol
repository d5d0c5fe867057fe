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
interface IPaymentProcessor {
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
