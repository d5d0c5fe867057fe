import { ETH_TOKEN } from "../chain/abi.ts";
import type { TokenConfig } from "../config/index.ts";
import type { DepositDerivation } from "../deposits/address.ts";
import { parseDecimal, quoteAmount } from "../lib/money.ts";
import type { PriceSource } from "../pricing/index.ts";
import type { SequencerGate } from "../pricing/sequencer.ts";

/** A chain subscriptions can be paid on, as the recurring module sees it (a ChainRuntime fits). */
export interface RecurringChain {
  name: string;
  chainId: bigint;
  tokens: readonly TokenConfig[];
  prices: PriceSource;
  /** Why payments on this chain would not be seen now, or null. */
  failure(): string | null;
  /** An L2's sequencer uptime gate: new subscriptions wait while it is down and for a grace period after. */
  sequencer?: SequencerGate | undefined;
  deposits?: { derivation: DepositDerivation; watchAfterExpirySeconds: number } | undefined;
  /** The Subscriptions contract (token_pull subscriptions), or undefined when it is off on this chain. */
  subscriptions?: `0x${string}` | undefined;
}

export interface LockedRate {
  /** USD per whole token × 10^priceDecimals. */
  price: bigint;
  priceDecimals: number;
}

const PEG_DECIMALS = 8;

/** The rate a period locks when it opens: ETH/USD from the chain's price source, a token's USD peg. */
export async function currentRate(chain: RecurringChain, token: string): Promise<LockedRate> {
  if (token === ETH_TOKEN) {
    const p = await chain.prices.ethUsd();
    return { price: p.value, priceDecimals: p.decimals };
  }
  const t = chain.tokens.find((x) => x.address.toLowerCase() === token.toLowerCase());
  if (!t) throw new Error(`token ${token} is no longer configured on ${chain.name}`);
  return { price: parseDecimal(t.usdPeg, PEG_DECIMALS), priceDecimals: PEG_DECIMALS };
}

export const expectedFor = (usdCents: bigint, rate: LockedRate, tokenDecimals: number): bigint =>
  quoteAmount(usdCents, rate.price, rate.priceDecimals, tokenDecimals);
