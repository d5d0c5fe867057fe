import { getAddress } from "viem";
import { formatDecimal } from "../lib/money.ts";
import { orderReference } from "./ids.ts";
import type { OrderException, OrderStatus } from "./state.ts";

/** An `orders` row as the database returns it (int8 → bigint, numeric → string). */
export interface OrderRow {
  id: bigint;
  merchant_id: bigint | null;
  chain_id: bigint;
  pay_to: string;
  /** The counterfactual deposit address a plain transfer pays; null for orders made before it existed. */
  deposit_address: string | null;
  /** The on-chain reference (bytes32 hex); NULL for orders made before migration 080 (see ids.ts). */
  reference: string | null;
  /** A covered, confirmed deposit waits for its sweep into the contract (the order stays success). */
  awaiting_sweep: boolean;
  merchant_address: string;
  token: string;
  token_symbol: string;
  token_decimals: number;
  currency_amount: string;
  usd_cents: bigint;
  expected_amount: string;
  price: string;
  price_decimals: number;
  /** "feed", "static" or "peg" (migration 150); null for orders made before it. */
  price_source?: string | null;
  /** The order's fiat currency (migration 195; "usd" for older orders). */
  currency?: string;
  /** USD per unit of `currency` locked with the order (numeric → string), at fiat_rate_decimals. */
  fiat_rate?: string;
  fiat_rate_decimals?: number;
  fiat_rate_source?: string | null;
  callback: string;
  item_title: string | null;
  item_description: string | null;
  item_image: string | null;
  /** Where the payment page sends the customer once paid (migration 095); null: nowhere. */
  return_url?: string | null;
  /** The terminal key that created the order at the point of sale (migration 111); null otherwise. */
  terminal_key_id?: bigint | null;
  status: OrderStatus;
  exception: OrderException | null;
  amount_paid: string;
  amount_refunded: string;
  transaction_id: string | null;
  paid_block: bigint | null;
  sent_transaction: string | null;
  created_at: Date;
  expires_at: Date;
}

/** The seed's order JSON, plus additive fields. Field order follows the seed's examples. */
export interface OrderJson {
  id: number;
  address: string;
  expected_amount: string;
  /** The fiat currency of currency_amount and eth_price ("usd", "eur", …). */
  currency: string;
  currency_amount: string;
  payment_url: string;
  status: OrderStatus;
  eth_price: string;
  qr_code: string;
  transaction_id: string;
  sent_transaction: string;
  created_at: string;
  return_to: string;
  paid: boolean;
  expired: boolean;
  item_title?: string;
  item_description?: string;
  item_image?: string;
  return_url?: string;
  expires_at: string;
  confirmations: number;
  token: string;
  exception: OrderException | null;
  amount_paid: string;
  /** The chain the order is paid on (an order carries its chain). */
  chain_id: number;
  /** The contract, for paying through `pay`/`payToken` (the browser-wallet button). */
  pay_to: string;
  /** A covered, confirmed deposit waits for its sweep into the contract; the order stays success. */
  awaiting_sweep: boolean;
  /** The order reference to pass to `pay`/`payToken` (bytes32); not the id, which never goes on chain. */
  reference: string;
  /**
   * Where `eth_price` came from: "feed" (a Chainlink feed; for a stablecoin, its own USD feed because
   * it was off its peg), "static" (ETH_USD_PRICE), "peg" (a token at its peg) or "rates" (RATE_SOURCES:
   * an exchange ticker or the median of several sources). Null for orders made
   * before it was recorded.
   */
  price_source: string | null;
}

/**
 * The locked price of one whole ETH (or token) in the order's currency: the USD price as stored,
 * divided by the locked fiat rate for other currencies (rounded down at 8 decimals at most).
 */
function orderPrice(row: OrderRow): string {
  const price = BigInt(row.price);
  const fiatRate = BigInt(row.fiat_rate ?? "1");
  const fiatDecimals = row.fiat_rate_decimals ?? 0;
  if ((row.currency ?? "usd") === "usd" || fiatRate <= 0n) return formatDecimal(price, row.price_decimals, 2);
  const digits = Math.min(row.price_decimals, 8);
  const scaled =
    (price * 10n ** BigInt(fiatDecimals + digits)) / (fiatRate * 10n ** BigInt(row.price_decimals));
  return formatDecimal(scaled, digits, 2);
}

const rfc3339 = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, "Z");

const isPaid = (row: OrderRow) =>
  row.status === "success" ||
  row.status === "complete" ||
  (row.status === "refunded" && row.transaction_id !== null);

/** The fields of an order's JSON that follow from its status (and nothing else that changes). */
export function statusFields(row: OrderRow): Pick<OrderJson, "status" | "paid" | "expired"> {
  return { status: row.status, paid: isPaid(row), expired: row.status === "expired" };
}

export function orderToJson(row: OrderRow, publicUrl: string, indexedBlock: bigint | null): OrderJson {
  const confirmations =
    row.paid_block !== null && indexedBlock !== null && indexedBlock >= row.paid_block
      ? Number(indexedBlock - row.paid_block + 1n)
      : 0;
  const json: OrderJson = {
    id: Number(row.id),
    // A plain transfer to the deposit address pays the order; older orders pay the contract.
    address: getAddress(row.deposit_address ?? row.pay_to),
    expected_amount: formatDecimal(BigInt(row.expected_amount), row.token_decimals),
    currency: row.currency ?? "usd",
    currency_amount: row.currency_amount,
    payment_url: `${publicUrl}/pay/${row.id}`,
    status: row.status,
    eth_price: orderPrice(row),
    qr_code: `${publicUrl}/order/${row.id}/qr.svg`,
    transaction_id: row.transaction_id ?? "",
    sent_transaction: row.sent_transaction ?? "",
    created_at: rfc3339(row.created_at),
    return_to: getAddress(row.merchant_address),
    paid: isPaid(row),
    expired: row.status === "expired",
    expires_at: rfc3339(row.expires_at),
    confirmations,
    token: row.token_symbol,
    exception: row.exception,
    amount_paid: formatDecimal(BigInt(row.amount_paid), row.token_decimals),
    chain_id: Number(row.chain_id),
    pay_to: getAddress(row.pay_to),
    awaiting_sweep: row.awaiting_sweep,
    reference: orderReference(row),
    price_source: row.price_source ?? null,
  };
  if (row.item_title !== null) json.item_title = row.item_title;
  if (row.item_description !== null) json.item_description = row.item_description;
  if (row.item_image !== null) json.item_image = row.item_image;
  if (row.return_url) json.return_url = row.return_url;
  return json;
}
