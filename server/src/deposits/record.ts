import { eventsByOwner, type ChainEvent, type ContractEvent, type DepositEvent } from "../chain/events.ts";
import type { Queryable } from "../db/types.ts";
import { positionOf } from "../indexer/position.ts";
import type { LogPosition, Step } from "../indexer/types.ts";
import type { DepositSweep, TouchedDeposits } from "./events.ts";
import {
  depositBindings,
  recordBalances,
  recordSweeps,
  recordTransfers,
  rollbackDepositsPast,
} from "./repository.ts";

/**
 * The deposits module's side of each step, in the cursor's transaction, before the modules that
 * read deposits (payments, recurring, EletroPay):
 *  - block: records the step's observations (balances, token transfers, forwards) and its sweeps;
 *  - reorg: deletes what was recorded past the common ancestor;
 *  - finalize: nothing.
 * Returns the deposit addresses it touched, for the modules after it.
 */
export async function applyDeposits(tx: Queryable, step: Step<ChainEvent>): Promise<TouchedDeposits> {
  switch (step.type) {
    case "block": {
      const { contract, deposits } = eventsByOwner(step.events);
      return { addresses: await recordDeposits(tx, step.chainId, contract, deposits) };
    }
    case "reorg":
      return { addresses: await rollbackDepositsPast(tx, step.chainId, step.ancestor.number) };
    case "finalize":
      return { addresses: [] };
  }
}

/**
 * Stores the step's deposit observations, and recognises sweeps: a PaymentReceived whose payer is
 * the deposit address bound to its merchant and order id (a watched address, derived with
 * deposits/address.ts when its order was made) is a sweep, recorded beside the ledger's event;
 * DepositTokenForwarded is recorded as a forward. Returns the deposit addresses touched.
 */
async function recordDeposits(
  tx: Queryable,
  chainId: bigint,
  contractEvents: readonly ContractEvent[],
  depositEvents: readonly DepositEvent[],
): Promise<string[]> {
  const touched = new Set<string>();
  const payments = contractEvents.filter((e) => e.kind === "payment" && e.orderRef !== null);
  const bindings = await depositBindings(
    tx,
    chainId,
    payments.map((e) => e.counterparty),
  );
  const sweeps: DepositSweep[] = [];
  for (const e of payments) {
    const bound = bindings.get(e.counterparty);
    if (!bound || bound.merchant !== e.merchant || bound.orderRef !== e.orderRef) continue;
    sweeps.push({ ...sweepBase(e), kind: "credited", address: e.counterparty, orderRef: bound.orderRef });
  }
  for (const e of depositEvents) {
    touched.add(e.address);
    if (e.kind === "deposit_forwarded")
      sweeps.push({ ...sweepBase(e), kind: "forwarded", address: e.address, orderRef: e.orderRef });
  }
  for (const s of sweeps) touched.add(s.address);
  await recordBalances(
    tx,
    depositEvents.filter((e) => e.kind === "deposit_balance"),
  );
  await recordTransfers(
    tx,
    depositEvents.filter((e) => e.kind === "deposit_transfer"),
  );
  await recordSweeps(tx, sweeps);
  return [...touched];
}

const sweepBase = (e: LogPosition & { merchant: string; token: string; amount: bigint }) => ({
  ...positionOf(e),
  merchant: e.merchant,
  token: e.token,
  amount: e.amount,
});
