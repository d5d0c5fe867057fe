import { formatUsdCents } from "../lib/money.ts";

/** The seed's membership table. Max amounts are in USD cents. */
export const PLAN_NAMES = ["free", "basic", "seller", "premium", "exclusive"] as const;
export type PlanName = (typeof PLAN_NAMES)[number];

export interface Plan {
  name: PlanName;
  label: string;
  monthlyPrice: string;
  dailyTransactions: number;
  maxAmountCents: bigint;
  /**
   * Whether an order of exactly `maxAmountCents` is allowed. The seed's table gives "Max Amount";
   * its text says Free forwards "amounts under $10.00", so Free's limit is exclusive.
   */
  maxAmountInclusive: boolean;
  recurring: boolean;
}

export const PLANS: Record<PlanName, Plan> = {
  free: {
    name: "free",
    label: "Free",
    monthlyPrice: "0.00",
    dailyTransactions: 10,
    maxAmountCents: 1_000n,
    maxAmountInclusive: false,
    recurring: false,
  },
  basic: {
    name: "basic",
    label: "Basic",
    monthlyPrice: "5.00",
    dailyTransactions: 25,
    maxAmountCents: 3_000n,
    maxAmountInclusive: true,
    recurring: false,
  },
  seller: {
    name: "seller",
    label: "Seller",
    monthlyPrice: "12.00",
    dailyTransactions: 50,
    maxAmountCents: 10_000n,
    maxAmountInclusive: true,
    recurring: true,
  },
  premium: {
    name: "premium",
    label: "Premium",
    monthlyPrice: "20.00",
    dailyTransactions: 150,
    maxAmountCents: 50_000n,
    maxAmountInclusive: true,
    recurring: true,
  },
  // "500+": Exclusive is negotiated; 500 is the default daily allowance.
  exclusive: {
    name: "exclusive",
    label: "Exclusive",
    monthlyPrice: "contact us",
    dailyTransactions: 500,
    maxAmountCents: 100_000n,
    maxAmountInclusive: true,
    recurring: true,
  },
};

export const isPlanName = (value: string): value is PlanName =>
  (PLAN_NAMES as readonly string[]).includes(value);

/** Whether the plan allows an order of `usdCents` (the seed's table; Free is "under $10.00"). */
export const planAllowsAmount = (plan: Plan, usdCents: bigint): boolean =>
  plan.maxAmountInclusive ? usdCents <= plan.maxAmountCents : usdCents < plan.maxAmountCents;

/** "up to $30.00", or "up to $10.00, exclusive (under $10.00)" for Free, for messages. */
export const planAmountLimitText = (plan: Plan): string => {
  const max = `$${formatUsdCents(plan.maxAmountCents)}`;
  return plan.maxAmountInclusive ? `up to ${max}` : `up to ${max}, exclusive (under ${max})`;
};
