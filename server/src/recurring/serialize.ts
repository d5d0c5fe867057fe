import { getAddress } from "viem";
import { formatDecimal, formatUsdCents } from "../lib/money.ts";
import type { PeriodRow, SubscriptionRow } from "./repository.ts";
import { periodBounds, scheduleOf } from "./schedule.ts";

const rfc3339 = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, "Z");

/**
 * One entry of `GET /status/recurring/:status`: the seed's "Recurring Billing Status" shape for
 * the period the status is about, with extra fields on top (never instead).
 */
export interface RecurringEntryJson {
  id: number;
  address: string;
  confirmations: number;
  currency: "usd";
  currency_amount: string;
  expected_amount: string;
  payment_url: string;
  status: string;
  paid: boolean;
  eth_price: string;
  qr_code: string;
  transaction_id: string;
  item_title: string;
  item_description: string;
  item_image: string;
  created_at: string;
  // Extras.
  subscription_id: number;
  period_index: number;
  period_start: string;
  period_end: string;
  interval: string;
  paid_through: string;
  amount_paid: string;
  credit: string;
  token: string;
  chain_id: number;
  method: string;
  cancelled_at: string | null;
}

export interface PeriodJson {
  index: number;
  starts_at: string;
  ends_at: string;
  opens_at: string;
  eth_price: string;
  expected_amount: string;
  amount_paid: string;
  paid: boolean;
  paid_at: string | null;
  transaction_id: string;
}

export interface SubscriptionJson {
  id: number;
  status: string;
  address: string;
  currency: "usd";
  currency_amount: string;
  interval: string;
  start: string;
  token: string;
  chain_id: number;
  method: string;
  return_to: string;
  callback: string;
  item_title: string;
  item_description: string;
  item_image: string;
  payment_url: string;
  qr_code: string;
  paid_through: string;
  credit: string;
  created_at: string;
  cancelled_at: string | null;
  current: RecurringEntryJson;
  periods: PeriodJson[];
}

export const subscriptionPageUrl = (s: SubscriptionRow, publicUrl: string) =>
  `${publicUrl}/subscription/${s.page_token}`;

const covered = (p: PeriodRow) => BigInt(p.paid_amount) >= BigInt(p.expected_amount);

export function entryToJson(
  s: SubscriptionRow,
  periods: readonly PeriodRow[],
  publicUrl: string,
  indexedBlock: bigint | null,
  periodIndex: number = s.shown_index,
): RecurringEntryJson {
  const period = periods.find((p) => p.index === periodIndex);
  const bounds = periodBounds(s.starts_at, s.interval, periodIndex, scheduleOf(s.method));
  const paidBlock = period?.paid_block ?? null;
  const confirmations =
    period && covered(period) && paidBlock !== null && indexedBlock !== null && indexedBlock >= paidBlock
      ? Number(indexedBlock - paidBlock + 1n)
      : 0;
  const page = subscriptionPageUrl(s, publicUrl);
  // A cancelled subscription owes nothing more: its amounts stay decimal strings (0 due; the last
  // rate locked, or 0.00 when none ever was), never empty.
  const cancelled = s.cancelled_at !== null;
  const lastLocked = cancelled
    ? [...periods].filter((p) => p.index <= periodIndex).sort((a, b) => b.index - a.index)[0]
    : undefined;
  return {
    id: Number(s.id),
    // token_pull: nothing is paid to an address; the money goes to the merchant (the contract's
    // call is in the subscription's `token_pull`).
    address: getAddress(s.method === "token_pull" ? s.merchant_address : s.deposit_address),
    confirmations,
    currency: "usd",
    currency_amount: formatUsdCents(s.usd_cents),
    expected_amount: period
      ? formatDecimal(BigInt(period.expected_amount), s.token_decimals)
      : cancelled
        ? "0"
        : "",
    payment_url: page,
    status: s.status,
    paid: period ? covered(period) : false,
    eth_price: period
      ? formatDecimal(BigInt(period.price), period.price_decimals, 2)
      : lastLocked
        ? formatDecimal(BigInt(lastLocked.price), lastLocked.price_decimals, 2)
        : cancelled
          ? "0.00"
          : "",
    qr_code: `${page}/qr.svg`,
    transaction_id: period && covered(period) ? (period.transaction_id ?? "") : "",
    item_title: s.item_title ?? "",
    item_description: s.item_description ?? "",
    item_image: s.item_image ?? "",
    created_at: rfc3339(s.created_at),
    subscription_id: Number(s.id),
    period_index: periodIndex,
    period_start: rfc3339(bounds.startsAt),
    period_end: rfc3339(bounds.endsAt),
    interval: s.interval,
    paid_through: rfc3339(s.paid_through),
    amount_paid: period ? formatDecimal(BigInt(period.paid_amount), s.token_decimals) : "0",
    credit: formatDecimal(BigInt(s.credit), s.token_decimals),
    token: s.token_symbol,
    chain_id: Number(s.chain_id),
    method: s.method,
    cancelled_at: s.cancelled_at ? rfc3339(s.cancelled_at) : null,
  };
}

export function periodToJson(s: SubscriptionRow, p: PeriodRow): PeriodJson {
  return {
    index: p.index,
    starts_at: rfc3339(p.starts_at),
    ends_at: rfc3339(p.ends_at),
    opens_at: rfc3339(p.opens_at),
    eth_price: formatDecimal(BigInt(p.price), p.price_decimals, 2),
    expected_amount: formatDecimal(BigInt(p.expected_amount), s.token_decimals),
    amount_paid: formatDecimal(BigInt(p.paid_amount), s.token_decimals),
    paid: covered(p),
    paid_at: p.paid_at ? rfc3339(p.paid_at) : null,
    transaction_id: p.transaction_id ?? "",
  };
}

export function subscriptionToJson(
  s: SubscriptionRow,
  periods: readonly PeriodRow[],
  publicUrl: string,
  indexedBlock: bigint | null,
): SubscriptionJson {
  const current = entryToJson(s, periods, publicUrl, indexedBlock);
  return {
    id: Number(s.id),
    status: s.status,
    address: current.address,
    currency: "usd",
    currency_amount: current.currency_amount,
    interval: s.interval,
    start: rfc3339(s.starts_at),
    token: s.token_symbol,
    chain_id: Number(s.chain_id),
    method: s.method,
    return_to: getAddress(s.merchant_address),
    callback: s.callback,
    item_title: current.item_title,
    item_description: current.item_description,
    item_image: current.item_image,
    payment_url: current.payment_url,
    qr_code: current.qr_code,
    paid_through: current.paid_through,
    credit: current.credit,
    created_at: current.created_at,
    cancelled_at: current.cancelled_at,
    current,
    periods: periods.map((p) => periodToJson(s, p)),
  };
}
