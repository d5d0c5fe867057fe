import { getAddress } from "viem";
import { ETH_TOKEN } from "../chain/abi.ts";
import { chainNameForId } from "../config/presets.ts";
import type { Queryable } from "../db/types.ts";
import { sweepsForExport } from "../deposits/repository.ts";
import { ledgerEventsForExport, type LedgerEventRow } from "../ledger/history.ts";
import { fiatCents, formatDecimal, formatUsdCents } from "../lib/money.ts";
import type { DateRange } from "../lib/range.ts";
import { provenAddresses } from "../merchants/addresses.ts";
import {
  merchantOrderRates,
  merchantOrderRatesByDepositAddress,
  merchantOrdersForExport,
  nearestEarlierQuotes,
  type LockedRate,
} from "../orders/queries.ts";
import type { OrderRow } from "../orders/serialize.ts";
import { merchantPeriodsForExport, type PeriodExportRow } from "../recurring/repository.ts";

/**
 * The accountant's CSV exports (docs/exports.md): orders, payments, refunds, withdrawals, sweeps
 * and subscription periods, each row with its transaction, chain, coin amount and fiat value at
 * the rate locked or observed at the time. It lives with the API, above the modules it reads
 * (orders, ledger, deposits, recurring, merchants), and reads each through that module's own
 * paged export query, so an export of any size streams a page (1,000 rows) at a time.
 */

export const EXPORT_KINDS = [
  "orders",
  "payments",
  "refunds",
  "withdrawals",
  "sweeps",
  "subscription-periods",
] as const;
export type ExportKind = (typeof EXPORT_KINDS)[number];

/** The fiat currency of every value and rate today; a column, so another can come later. */
const FIAT = "USD";

/** The columns that price a coin amount, shared by every export. */
const FIAT_COLUMNS = ["fiat_currency", "fiat_value", "rate", "rate_source"] as const;

/** Every export's columns, in order; the header row names them. */
export const EXPORT_COLUMNS = {
  orders: [
    "created_at",
    "order_id",
    "status",
    "exception",
    "item_title",
    "chain_id",
    "chain_name",
    "coin",
    "token_address",
    "payout_address",
    "deposit_address",
    "order_reference",
    "order_fiat_amount",
    "expected_amount",
    "amount",
    "amount_refunded",
    ...FIAT_COLUMNS,
    "transaction_hash",
    "refund_transaction_hash",
    "expires_at",
  ],
  payments: [
    "date",
    "chain_id",
    "chain_name",
    "transaction_hash",
    "block_number",
    "log_index",
    "payout_address",
    "payer",
    "order_id",
    "order_reference",
    "coin",
    "token_address",
    "amount",
    ...FIAT_COLUMNS,
  ],
  refunds: [
    "date",
    "chain_id",
    "chain_name",
    "transaction_hash",
    "block_number",
    "log_index",
    "payout_address",
    "refunded_to",
    "order_id",
    "order_reference",
    "coin",
    "token_address",
    "amount",
    ...FIAT_COLUMNS,
  ],
  withdrawals: [
    "date",
    "chain_id",
    "chain_name",
    "transaction_hash",
    "block_number",
    "log_index",
    "payout_address",
    "withdrawn_to",
    "coin",
    "token_address",
    "amount",
    ...FIAT_COLUMNS,
  ],
  sweeps: [
    "date",
    "chain_id",
    "chain_name",
    "transaction_hash",
    "block_number",
    "log_index",
    "kind",
    "deposit_address",
    "payout_address",
    "order_id",
    "order_reference",
    "coin",
    "token_address",
    "amount",
    ...FIAT_COLUMNS,
  ],
  "subscription-periods": [
    "due_at",
    "subscription_id",
    "period",
    "period_end",
    "method",
    "item_title",
    "chain_id",
    "chain_name",
    "coin",
    "token_address",
    "payout_address",
    "deposit_address",
    "period_fiat_amount",
    "expected_amount",
    "amount",
    ...FIAT_COLUMNS,
    "rate_locked_at",
    "paid_at",
    "transaction_hash",
  ],
} as const satisfies Record<ExportKind, readonly string[]>;

/** One CSV row: every value a string (or empty), in the export's columns. */
export type ExportRow = Record<string, string>;

/** A chain as the exports name it, with its allowlisted tokens. */
export interface ExportChain {
  chainId: bigint;
  name: string;
  tokens: readonly { address: string; symbol: string; decimals: number }[];
}

export interface ExportServiceDeps {
  db: Queryable;
  /** The configured chains: the ledger exports cover these, as GET /user/history does. */
  chains: readonly ExportChain[];
}

const iso = (date: Date | null) => (date ? date.toISOString() : "");
const checksum = (address: string | null) => (address ? getAddress(address) : "");

/** A rate: `price / 10^priceDecimals` fiat per whole token. */
type Rate = { price: bigint; priceDecimals: number };

/**
 * How a coin amount is valued: at the rate its order or period locked, at the nearest earlier
 * quote (another order of the merchant's), or not at all.
 */
type Valuation = { source: "locked"; rate: Rate } | { source: "quote"; rate: LockedRate } | undefined;

function fiatColumns(amount: bigint, decimals: number, valuation: Valuation) {
  if (!valuation) return { fiat_currency: FIAT, fiat_value: "", rate: "", rate_source: "none" };
  const { rate } = valuation;
  return {
    fiat_currency: FIAT,
    fiat_value: formatUsdCents(fiatCents(amount, decimals, rate.price, rate.priceDecimals)),
    rate: formatDecimal(rate.price, rate.priceDecimals, 2),
    rate_source:
      valuation.source === "locked"
        ? "locked"
        : `quote of order ${valuation.rate.orderId} at ${iso(valuation.rate.lockedAt)}`,
  };
}

export function createExportService(deps: ExportServiceDeps) {
  const { db, chains } = deps;
  const chainIds = chains.map((c) => c.chainId);
  const byId = new Map(chains.map((c) => [c.chainId, c]));

  const chainName = (chainId: bigint) =>
    byId.get(chainId)?.name ?? chainNameForId(chainId) ?? `chain-${chainId}`;

  /** A token's symbol and decimals as configured; an unknown token is named by its address, in its smallest unit. */
  function tokenOf(chainId: bigint, token: string): { symbol: string; decimals: number } {
    if (token === ETH_TOKEN) return { symbol: "ETH", decimals: 18 };
    const known = byId.get(chainId)?.tokens.find((t) => t.address.toLowerCase() === token);
    return known
      ? { symbol: known.symbol, decimals: known.decimals }
      : { symbol: checksum(token), decimals: 0 };
  }

  /** The nearest earlier quote for each of these rows that has no rate of its own. */
  async function quotesFor(
    merchantId: bigint,
    rows: readonly { chainId: bigint; token: string; blockTimestamp: Date }[],
    own: readonly (LockedRate | undefined)[],
  ): Promise<Valuation[]> {
    const missing = rows.flatMap((row, i) => (own[i] ? [] : [{ i, row }]));
    const quotes = await nearestEarlierQuotes(
      db,
      merchantId,
      missing.map(({ row }) => ({ chainId: row.chainId, token: row.token, at: row.blockTimestamp })),
    );
    const valuations: Valuation[] = own.map((rate) => (rate ? { rate, source: "locked" } : undefined));
    missing.forEach(({ i }, j) => {
      const rate = quotes[j];
      if (rate) valuations[i] = { rate, source: "quote" };
    });
    return valuations;
  }

  function orderRow(o: OrderRow): ExportRow {
    const paid = BigInt(o.amount_paid);
    const rate = { price: BigInt(o.price), priceDecimals: o.price_decimals };
    return {
      created_at: iso(o.created_at),
      order_id: o.id.toString(),
      status: o.status,
      exception: o.exception ?? "",
      item_title: o.item_title ?? "",
      chain_id: o.chain_id.toString(),
      chain_name: chainName(o.chain_id),
      coin: o.token_symbol,
      token_address: checksum(o.token),
      payout_address: checksum(o.merchant_address),
      deposit_address: checksum(o.deposit_address),
      order_reference: o.reference ?? "",
      order_fiat_amount: formatUsdCents(o.usd_cents),
      expected_amount: formatDecimal(BigInt(o.expected_amount), o.token_decimals),
      amount: formatDecimal(paid, o.token_decimals),
      amount_refunded: formatDecimal(BigInt(o.amount_refunded), o.token_decimals),
      ...fiatColumns(paid, o.token_decimals, { rate, source: "locked" }),
      transaction_hash: o.transaction_id ?? "",
      refund_transaction_hash: o.sent_transaction ?? "",
      expires_at: iso(o.expires_at),
    };
  }

  function periodRow({ subscription: s, period: p }: PeriodExportRow): ExportRow {
    const paid = BigInt(p.paid_amount);
    const rate = { price: BigInt(p.price), priceDecimals: p.price_decimals };
    return {
      due_at: iso(p.starts_at),
      subscription_id: s.id.toString(),
      period: String(p.index),
      period_end: iso(p.ends_at),
      method: s.method,
      item_title: s.item_title ?? "",
      chain_id: s.chain_id.toString(),
      chain_name: chainName(s.chain_id),
      coin: s.token_symbol,
      token_address: checksum(s.token),
      payout_address: checksum(s.merchant_address),
      deposit_address: checksum(s.deposit_address),
      period_fiat_amount: formatUsdCents(s.usd_cents),
      expected_amount: formatDecimal(BigInt(p.expected_amount), s.token_decimals),
      amount: formatDecimal(paid, s.token_decimals),
      ...fiatColumns(paid, s.token_decimals, { rate, source: "locked" }),
      rate_locked_at: iso(p.opened_at),
      paid_at: iso(p.paid_at),
      transaction_hash: p.transaction_id ?? "",
    };
  }

  /** Payments, refunds or withdrawals: an event's own order's locked rate, else the nearest earlier quote. */
  async function* eventPages(
    kind: LedgerEventRow["kind"],
    merchantId: bigint,
    range: DateRange,
  ): AsyncGenerator<ExportRow[]> {
    const addresses = await provenAddresses(db, merchantId);
    for await (const page of ledgerEventsForExport(db, kind, chainIds, addresses, range)) {
      const rates = await merchantOrderRates(
        db,
        merchantId,
        page.flatMap((e) => (e.orderId === null ? [] : [e.orderId])),
      );
      // An order of another account is not this merchant's: neither its id nor its rate shows.
      const own = page.map((e) => (e.orderId === null ? undefined : rates.get(e.orderId)));
      const valuations = await quotesFor(merchantId, page, own);
      yield page.map((e, i) => {
        const { symbol, decimals } = tokenOf(e.chainId, e.token);
        const counterparty = checksum(e.counterparty);
        return {
          date: iso(e.blockTimestamp),
          chain_id: e.chainId.toString(),
          chain_name: chainName(e.chainId),
          transaction_hash: e.txHash,
          block_number: e.blockNumber.toString(),
          log_index: String(e.logIndex),
          payout_address: checksum(e.merchant),
          ...(kind === "payment"
            ? { payer: counterparty }
            : kind === "refund"
              ? { refunded_to: counterparty }
              : { withdrawn_to: counterparty }),
          ...(kind === "withdrawal"
            ? {}
            : { order_id: own[i]?.orderId.toString() ?? "", order_reference: e.orderRef ?? "" }),
          coin: symbol,
          token_address: checksum(e.token),
          amount: formatDecimal(e.amount, decimals),
          ...fiatColumns(e.amount, decimals, valuations[i]),
        };
      });
    }
  }

  /** Sweeps: the locked rate of the merchant's order behind the deposit address, else the nearest earlier quote. */
  async function* sweepPages(merchantId: bigint, range: DateRange): AsyncGenerator<ExportRow[]> {
    const addresses = await provenAddresses(db, merchantId);
    for await (const page of sweepsForExport(db, chainIds, addresses, range)) {
      const perChain = new Map<bigint, string[]>();
      for (const s of page) {
        const list = perChain.get(s.chainId) ?? [];
        list.push(s.address);
        perChain.set(s.chainId, list);
      }
      const rates = new Map<string, LockedRate>();
      for (const [chainId, deposits] of perChain) {
        const found = await merchantOrderRatesByDepositAddress(db, merchantId, chainId, deposits);
        for (const [address, rate] of found) rates.set(`${chainId}:${address}`, rate);
      }
      const own = page.map((s) => rates.get(`${s.chainId}:${s.address}`));
      const valuations = await quotesFor(merchantId, page, own);
      yield page.map((s, i) => {
        const { symbol, decimals } = tokenOf(s.chainId, s.token);
        return {
          date: iso(s.blockTimestamp),
          chain_id: s.chainId.toString(),
          chain_name: chainName(s.chainId),
          transaction_hash: s.txHash,
          block_number: s.blockNumber.toString(),
          log_index: String(s.logIndex),
          kind: s.kind,
          deposit_address: checksum(s.address),
          payout_address: checksum(s.merchant),
          order_id: own[i]?.orderId.toString() ?? "",
          order_reference: s.orderRef,
          coin: symbol,
          token_address: checksum(s.token),
          amount: formatDecimal(s.amount, decimals),
          ...fiatColumns(s.amount, decimals, valuations[i]),
        };
      });
    }
  }

  async function* orderPages(merchantId: bigint, range: DateRange): AsyncGenerator<ExportRow[]> {
    for await (const page of merchantOrdersForExport(db, merchantId, range)) yield page.map(orderRow);
  }

  async function* periodPages(merchantId: bigint, range: DateRange): AsyncGenerator<ExportRow[]> {
    for await (const page of merchantPeriodsForExport(db, merchantId, range)) yield page.map(periodRow);
  }

  return {
    columns: (kind: ExportKind): readonly string[] => EXPORT_COLUMNS[kind],

    /** The export's rows for a merchant in a range, oldest first, a page at a time. */
    pages(kind: ExportKind, merchantId: bigint, range: DateRange): AsyncGenerator<ExportRow[]> {
      switch (kind) {
        case "orders":
          return orderPages(merchantId, range);
        case "payments":
          return eventPages("payment", merchantId, range);
        case "refunds":
          return eventPages("refund", merchantId, range);
        case "withdrawals":
          return eventPages("withdrawal", merchantId, range);
        case "sweeps":
          return sweepPages(merchantId, range);
        case "subscription-periods":
          return periodPages(merchantId, range);
        default: {
          const never: never = kind;
          throw new Error(`unknown export ${String(never)}`);
        }
      }
    },
  };
}

export type ExportService = ReturnType<typeof createExportService>;
