import { parseDecimal } from "../lib/money.ts";
import type { Price } from "../pricing/index.ts";

/*
 * What a send may cost: the share of the value it moves that its gas may take
 * (SWEEP_MAX_GAS_SHARE), for the deposits module's sweeps and the token collector's pulls alike. On
 * an L2 the cost includes the L1 data fee (sender.cost, ./l1-fee.ts).
 */

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
 * SWEEP_MAX_GAS_SHARE: true when `cost` (the sender's `cost().total`: gas × fee, plus an L2's L1
 * data fee) is at most `sharePpm` millionths of `valueWei`.
 * `unpriced` (a token the price source could not value) lets the batch through: the rule is
 * skipped for it, as documented.
 */
export function gasWithinShare(cost: bigint, valueWei: bigint, sharePpm: bigint, unpriced = false): boolean {
  if (unpriced) return true;
  return cost * 1_000_000n <= valueWei * sharePpm;
}
