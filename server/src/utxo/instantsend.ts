/**
 * Dash InstantSend and ChainLocks.
 *
 * dashd adds two booleans to every wallet transaction it reports (`listsinceblock`,
 * `gettransaction`, `listtransactions`):
 * - `instantlock`: the transaction is locked by an InstantSend quorum; its inputs cannot be
 *   double-spent, so it is as good as confirmed a few seconds after broadcast;
 * - `chainlock`: the block containing it is ChainLocked and cannot be reorganised away.
 * (`instantlock_internal` is the local node's view only and is ignored.)
 *
 * With `DASH_INSTANTSEND_AS_CONFIRMED=true`, a locked payment is reported with the required
 * number of confirmations at once. bitcoind and litecoind never send these fields, so the
 * option is inert for them.
 */

export interface LockState {
  instantLock: boolean;
  chainLock: boolean;
}

export function dashLockState(entry: { instantlock?: unknown; chainlock?: unknown }): LockState {
  return { instantLock: entry.instantlock === true, chainLock: entry.chainlock === true };
}

/**
 * The confirmation count to report: block confirmations, raised to `required` when the option
 * is on and the payment is InstantSend-locked or ChainLocked (and has not vanished).
 */
export function effectiveConfirmations(
  confirmations: number,
  locks: LockState,
  required: number,
  instantSendAsConfirmed: boolean,
): number {
  if (instantSendAsConfirmed && (locks.instantLock || locks.chainLock))
    return Math.max(confirmations, required);
  return confirmations;
}
