import { getAddress } from "viem";
import { formatDecimal } from "../lib/money.ts";
import { orderReference } from "../orders/ids.ts";
import { orderToJson, type OrderJson, type OrderRow } from "../orders/serialize.ts";
import { paymentUri } from "../orders/payment-uri.ts";
import { transferUri } from "./payment-uri.ts";
import { message as formatMessage } from "./client/i18n.js";
import { translate, type Locale } from "./i18n/index.ts";
import { CHAIN_MESSAGES } from "./i18n/messages/chains.ts";
import { PAY_MESSAGES, type PayKey } from "./i18n/messages/pay.ts";

/** Display names of well-known chains (the customer reads these; the chain id is shown beside them). */
const CHAIN_NAMES = new Map<number, string>([
  [1, "Ethereum"],
  [11155111, "Sepolia testnet"],
  [17000, "Holesky testnet"],
  [8453, "Base"],
  [84532, "Base Sepolia testnet"],
  [42161, "Arbitrum One"],
  [421614, "Arbitrum Sepolia testnet"],
  [10, "OP Mainnet"],
  [11155420, "OP Sepolia testnet"],
  [137, "Polygon"],
  [80002, "Polygon Amoy testnet"],
  [31337, "Hardhat local chain"],
  [1337, "Local chain"],
]);

export const chainName = (chainId: number) => CHAIN_NAMES.get(chainId) ?? `Chain ${chainId}`;

/** Testnets and local chains: their name and what kind they are, for the customer pages' languages. */
const CHAIN_KINDS = new Map<
  number,
  { key: "chain_testnet" | "chain_local" | "chain_local_plain"; name: string }
>([
  [11155111, { key: "chain_testnet", name: "Sepolia" }],
  [17000, { key: "chain_testnet", name: "Holesky" }],
  [84532, { key: "chain_testnet", name: "Base Sepolia" }],
  [421614, { key: "chain_testnet", name: "Arbitrum Sepolia" }],
  [11155420, { key: "chain_testnet", name: "OP Sepolia" }],
  [80002, { key: "chain_testnet", name: "Polygon Amoy" }],
  [31337, { key: "chain_local", name: "Hardhat" }],
  [1337, { key: "chain_local_plain", name: "" }],
]);

/** `chainName` in a page's language ("Sepolia (rede de testes)"); in English the same as chainName. */
export function chainNameIn(chainId: number, locale: Locale): string {
  const kind = CHAIN_KINDS.get(chainId);
  if (kind) return translate(CHAIN_MESSAGES, locale, kind.key, { name: kind.name });
  return CHAIN_NAMES.get(chainId) ?? translate(CHAIN_MESSAGES, locale, "chain_other", { id: chainId });
}

/**
 * What the payment page and its script need about one order: the public order JSON plus the
 * data a browser wallet needs to call the contract (contract, merchant, order reference, amount
 * in units). All of it is public: it is what anyone can read from the chain or the order JSON.
 */
export interface PayView {
  json: OrderJson;
  id: number;
  chainId: number;
  chainName: string;
  /** Where a plain transfer goes: the order's `address`. */
  address: `0x${string}`;
  /** The payment contract (`pay` / `payToken` for a browser wallet). */
  contract: `0x${string}`;
  /** The merchant's address the payment is credited to (`return_to`). */
  merchant: `0x${string}`;
  /** The order id as the contract's bytes32 order reference. */
  orderRef: `0x${string}`;
  /** The token contract, or null for ETH. */
  token: `0x${string}` | null;
  symbol: string;
  decimals: number;
  /** The expected amount in the smallest unit (wei or token units), as a decimal integer string. */
  amount: string;
  /** The plain-transfer EIP-681 URI (what the QR code carries). */
  uri: string;
}

export function payView(order: OrderRow, publicUrl: string, indexedBlock: bigint | null): PayView {
  const json = orderToJson(order, publicUrl, indexedBlock);
  const token = BigInt(order.token) === 0n ? null : getAddress(order.token);
  const amount = BigInt(order.expected_amount);
  return {
    json,
    id: json.id,
    chainId: json.chain_id,
    chainName: chainName(json.chain_id),
    address: getAddress(json.address),
    // The contract an order is paid through: today's `pay_to` column.
    contract: getAddress(order.pay_to),
    merchant: getAddress(json.return_to),
    orderRef: orderReference(order),
    token,
    symbol: json.token,
    decimals: order.token_decimals,
    amount: amount.toString(),
    // An order made before deposit addresses is paid by the contract call, never a plain transfer.
    uri:
      order.deposit_address === null
        ? paymentUri(order)
        : transferUri({ address: json.address, chainId: json.chain_id, token: token ?? undefined, amount }),
  };
}

/** How the page looks at a glance: which panel it shows. */
export type PayTone = "waiting" | "partial" | "confirming" | "paid" | "expired" | "refunded";

/**
 * What the payment page shows about an order now, with the words a customer reads. One place
 * decides them: the server-rendered page and the pushed updates (GET /pay/:id/events) use the
 * same text.
 */
export interface PayState {
  id: number;
  status: string;
  exception: string | null;
  tone: PayTone;
  /** A short headline ("Paid", "Waiting for payment", …). */
  title: string;
  /** One or two sentences: what happened and what to do next. */
  detail: string;
  /**
   * The same words as catalogue messages (title, detail sentences, confirmations), so that every
   * page writes them in its own language: `title`, `detail` and `confirmations_text` are English.
   */
  messages: { title: PayMessage; detail: PayMessage[]; confirmations: PayMessage | null };
  confirmations: number;
  required_confirmations: number;
  /** "1 of 2 confirmations" (singular for one), or "" before the payment is mined. */
  confirmations_text: string;
  paid: boolean;
  expired: boolean;
  expires_at: string;
  expected_amount: string;
  amount_paid: string;
  /** What is still to pay (decimal), "0" once covered. */
  remaining: string;
  /** The same in the smallest unit. */
  remaining_units: string;
  /** The EIP-681 URI for what is still to pay (the QR and "open in wallet" link carry it). */
  uri: string;
  transaction_id: string;
  /** Where the page sends the customer once the order is complete, or null. */
  return_url: string | null;
  chain_id: number;
  address: string;
  contract: string;
}

/** One message of the page's catalogue (i18n/messages/pay.ts): amounts are exact decimal strings, formatted per language. */
export interface PayMessage {
  key: PayKey;
  vars?: Record<string, string | number>;
  amounts?: Record<string, string>;
}

/** A state's words in one language: the page renders them on the server, pay.js and pos.js in the browser. */
export function payText(message: PayMessage, locale: Locale): string {
  return formatMessage(PAY_MESSAGES[locale], locale, message.key, message.vars, message.amounts);
}

/**
 * A state's headline, detail and confirmations in `locale`. The detail's "{confirmations}" is the
 * confirmations message in the same language, and its "{network}" is `network` (the chain's name
 * in that language) when given; pay.js does the same in the browser.
 */
export function stateWords(
  messages: PayState["messages"],
  locale: Locale,
  network?: string,
): { title: string; detail: string; confirmations: string } {
  const confirmations = messages.confirmations ? payText(messages.confirmations, locale) : "";
  const detail = messages.detail
    .map((m) => {
      const vars: Record<string, string | number> = { ...m.vars, confirmations };
      if (network !== undefined && m.vars?.network !== undefined) vars.network = network;
      return payText({ ...m, vars }, locale);
    })
    .join(" ");
  return { title: payText(messages.title, locale), detail, confirmations };
}

/** The order's state in a customer's words; `required` is the chain's CONFIRMATIONS. */
export function payState(view: PayView, order: OrderRow, required: number): PayState {
  const { json } = view;
  const symbol = view.symbol;
  const network = view.chainName;
  const expected = BigInt(order.expected_amount);
  const paidUnits = BigInt(order.amount_paid);
  const remainingUnits = expected > paidUnits ? expected - paidUnits : 0n;
  const fmt = (units: bigint) => formatDecimal(units, view.decimals);
  const remaining = fmt(remainingUnits);
  const amounts = { expected: json.expected_amount, paid: json.amount_paid, remaining };
  const confirmations: PayMessage | null =
    json.status === "success" || json.status === "complete"
      ? {
          key: required === 1 ? "confirmations_one" : "confirmations_other",
          vars: { n: Math.min(json.confirmations, required), required },
        }
      : null;
  let tone: PayTone;
  let title: PayMessage;
  const detail: PayMessage[] = [];
  switch (json.status) {
    case "pending":
      if (json.exception === "paid_partial") {
        tone = "partial";
        title = { key: "title_partial", vars: { symbol }, amounts };
        detail.push({ key: "detail_partial", vars: { symbol }, amounts });
      } else if (json.exception === "paid_late") {
        tone = "waiting";
        title = { key: "title_waiting" };
        detail.push({ key: "detail_late" });
      } else {
        tone = "waiting";
        title = { key: "title_waiting" };
        detail.push({ key: "detail_waiting", vars: { symbol, network }, amounts });
      }
      break;
    case "success":
      tone = "confirming";
      title = { key: "title_received" };
      detail.push({ key: "detail_confirming" });
      break;
    case "complete":
      tone = "paid";
      title = { key: "title_paid" };
      detail.push({ key: "detail_paid" });
      break;
    case "expired":
      tone = "expired";
      title = { key: "title_expired" };
      detail.push(
        json.exception === "paid_partial"
          ? { key: "detail_expired_partial", vars: { symbol }, amounts }
          : json.exception === "paid_late"
            ? { key: "detail_expired_late", vars: { symbol }, amounts }
            : { key: "detail_expired_none" },
      );
      break;
    case "refunded":
      tone = "refunded";
      title = { key: "title_refunded" };
      detail.push({
        key: "detail_refunded",
        vars: { symbol },
        amounts: { refunded: fmt(BigInt(order.amount_refunded)) },
      });
      break;
    default:
      tone = "waiting";
      title = { key: "title_waiting" };
  }
  if (json.exception === "paid_over" && (json.status === "success" || json.status === "complete")) {
    detail.push({ key: "detail_over", vars: { symbol }, amounts });
  }
  const messages = { title, detail, confirmations };
  const english = stateWords(messages, "en");
  return {
    id: json.id,
    status: json.status,
    exception: json.exception,
    tone,
    title: english.title,
    detail: english.detail,
    messages,
    confirmations: json.confirmations,
    required_confirmations: required,
    confirmations_text: english.confirmations,
    paid: json.paid,
    expired: json.expired,
    expires_at: json.expires_at,
    expected_amount: json.expected_amount,
    amount_paid: json.amount_paid,
    remaining,
    remaining_units: remainingUnits.toString(),
    uri:
      remainingUnits > 0n && remainingUnits < expected ? remainderUri(view, order, remainingUnits) : view.uri,
    transaction_id: json.transaction_id,
    return_url: json.return_url ?? null,
    chain_id: view.chainId,
    address: view.address,
    contract: view.contract,
  };
}

/** The plain-transfer URI for what is still to pay (the contract-call URI for orders without a deposit address). */
function remainderUri(view: PayView, order: OrderRow, units: bigint): string {
  if (order.deposit_address === null) return paymentUri({ ...order, expected_amount: units.toString() });
  return transferUri({
    address: view.address,
    chainId: view.chainId,
    token: view.token ?? undefined,
    amount: units,
  });
}
