import { ETH_TOKEN } from "../chain/abi.ts";
import type { SweepCandidate } from "../deposits/repository.ts";
import { parseDecimal } from "../lib/money.ts";
import type { Price } from "../pricing/index.ts";

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

export interface TokenValuation {
  address: string;
  decimals: number;
  /** USD value of one whole token, as an exact decimal. */
  usdPeg: string;
}

/**
 * The value in wei of `amount` units of a token: amount × usdPeg ÷ (ETH/USD), exact integer
 * arithmetic rounded down. Undefined when the token is unknown.
 */
export function tokenValueWei(
  amount: bigint,
  token: TokenValuation | undefined,
  price: Price,
): bigint | undefined {
  if (!token || price.value <= 0n) return undefined;
  const PEG_DECIMALS = 18;
  const peg = parseDecimal(token.usdPeg, PEG_DECIMALS);
  return (
    (amount * peg * 10n ** 18n * 10n ** BigInt(price.decimals)) /
    (10n ** BigInt(token.decimals) * 10n ** BigInt(PEG_DECIMALS) * price.value)
  );
}

/**
 * SWEEP_MAX_GAS_SHARE: true when gas × fee is at most `sharePpm` millionths of `valueWei`.
 * `unpriced` (a token the price source could not value) lets the batch through: the rule is
 * skipped for it, as documented.
 */
export function gasWithinShare(cost: bigint, valueWei: bigint, sharePpm: bigint, unpriced = false): boolean {
  if (unpriced) return true;
  return cost * 1_000_000n <= valueWei * sharePpm;
}
