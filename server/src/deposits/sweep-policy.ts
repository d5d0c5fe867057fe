import { ETH_TOKEN } from "../chain/abi.ts";
import type { SweepCandidate } from "./repository.ts";

/** One `Deposit` entry of `sweepDeposits`: each address at most once per transaction. */
export interface BatchEntry {
  address: string;
  merchant: string;
  orderRef: string;
  /** The token to sweep (its entry sweeps the address's ETH too), or 0x0…0 for ETH only. */
  token: string;
}

/**
 * The entries to consider, one per deposit address: the contract fails a second sweep of the same
 * address in one transaction, and an entry naming a token also sweeps the address's ETH. So an
 * address with ETH and a token gets one entry naming the token; a second token of the same address
 * waits for the next sweep.
 */
export function entriesFrom(
  candidates: readonly SweepCandidate[],
  exclude: ReadonlySet<string>,
): BatchEntry[] {
  const byAddress = new Map<string, BatchEntry>();
  for (const c of candidates) {
    const address = c.address.toLowerCase();
    if (exclude.has(address)) continue;
    const current = byAddress.get(address);
    if (!current || (current.token === ETH_TOKEN && c.token !== ETH_TOKEN)) {
      byAddress.set(address, {
        address,
        merchant: c.merchant,
        orderRef: c.orderRef,
        token: c.token.toLowerCase(),
      });
    }
  }
  return [...byAddress.values()];
}
