/// <reference lib="dom" />
// The point-of-sale terminal: a keypad for the amount, a QR that fills the screen, and a paid
// (or underpaid, or expired) state no one can miss, pushed by the server (Server-Sent Events).
// Signed in with a terminal key (create orders and read their status, nothing else) or as the
// merchant from the console. Bundled by scripts/build-web.ts; no wallet code, no viem.

import { formatAmount, message } from "./i18n.js";
import type { PosKey } from "../i18n/messages/pos.ts";

interface WebChain {
  chainId: number;
  name: string;
  tokens: { symbol: string }[];
}
interface Session {
  kind: string;
  /** Null for a terminal session. */
  email: string | null;
  /** A terminal's label. */
  label?: string;
  display_name: string | null;
  address: string | null;
}
interface PayState {
  status: string;
  tone: string;
  title: string;
  detail: string;
  remaining: string;
  remaining_units: string;
  confirmations_text: string;
  /** The state's words as catalogue keys (pay-view.ts); the terminal needs the confirmations. */
  messages?: { confirmations: { key: string; vars?: Record<string, string | number> } | null };
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const config = JSON.parse($("config").textContent ?? "{}") as { chains: WebChain[] };
// The terminal's language and its catalogue (i18n/messages/pos.ts), written into the page by the server.
const i18n = JSON.parse($("pos-i18n").textContent ?? "{}") as {
  locale: string;
  messages: Record<string, string>;
};
const t = (key: PosKey, vars?: Record<string, string | number>, amounts?: Record<string, string>) =>
  message(i18n.messages, i18n.locale, key, vars, amounts);
/** Cents as an exact decimal ("4.50"), written the locale's way ("4,50"). */
const usd = (value: number) =>
  formatAmount(`${Math.floor(value / 100)}.${String(value % 100).padStart(2, "0")}`, i18n.locale);
let session: Session | null = null;
let cents = 0;
let stream: EventSource | undefined;

async function api<T>(
  method: string,
  path: string,
  body?: unknown,
  extraHeaders: Record<string, string> = {},
): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: {
        accept: "application/json",
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...extraHeaders,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    // Nothing came back (a dropped connection): a sale sent again keeps its Idempotency-Key.
    throw new Error(t("no_answer"));
  }
  const json = (await res.json().catch(() => ({}))) as { error?: { message: string } };
  if (!res.ok) {
    // The server explains in English for integrators; the cashier reads the terminal's language,
    // with the server's own words after it when they say what to fix.
    if (res.status === 401) throw new Error(t(path === "/console/session" ? "bad_key" : "signed_out"));
    if (res.status === 429) throw new Error(t("too_many"));
    throw new Error(t("refused", { message: json.error?.message ?? String(res.status) }));
  }
  return json as T;
}
const fail = (error: unknown) =>
  ($("error").textContent = error instanceof Error ? error.message : String(error));

function show(screen: "signin" | "keypad-screen" | "qr-screen") {
  for (const id of ["signin", "keypad-screen", "qr-screen"]) $(id).hidden = id !== screen;
}

// ---- Keypad ----------------------------------------------------------------------------------
function renderAmount() {
  $("pos-amount").textContent = usd(cents);
  $<HTMLButtonElement>("charge").disabled = cents === 0;
}
function press(key: string) {
  if (key === "C") cents = 0;
  else if (key === "⌫") cents = Math.floor(cents / 10);
  else if (/^[0-9]$/.test(key) && cents < 100_000_000) cents = cents * 10 + Number(key);
  renderAmount();
}
for (const button of Array.from(document.querySelectorAll<HTMLButtonElement>(".key"))) {
  button.addEventListener("click", () => press(button.dataset.key ?? ""));
}
document.addEventListener("keydown", (event) => {
  if ($("keypad-screen").hidden) return;
  if (/^[0-9]$/.test(event.key)) press(event.key);
  else if (event.key === "Backspace") press("⌫");
  else if (event.key === "Escape") press("C");
});

function fillTokens() {
  const select = $<HTMLSelectElement>("pos-token");
  select.replaceChildren();
  for (const chain of config.chains) {
    for (const symbol of ["ETH", ...chain.tokens.map((t) => t.symbol)]) {
      const option = document.createElement("option");
      option.value = `${symbol}@${chain.chainId}`;
      option.textContent =
        config.chains.length > 1 ? t("token_on_chain", { symbol, chain: chain.name }) : symbol;
      select.append(option);
    }
  }
  // One choice: nothing to choose.
  $("token-row").hidden = select.options.length < 2;
}

// ---- Charge: order, QR, then the pushed state --------------------------------------------------
/**
 * This sale's id, sent in the Idempotency-Key header: pressing Charge again after an answer was lost
 * (a dropped connection, a timeout) gives back the same order instead of a second one. A new sale,
 * or another amount or coin, is another key. getRandomValues, not randomUUID: a shop's terminal
 * may reach the server over plain http on the LAN, where randomUUID does not exist.
 */
let saleId = "";
function newSaleId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  saleId = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function charge() {
  $("error").textContent = "";
  const [token, chainId] = $<HTMLSelectElement>("pos-token").value.split("@");
  const amount = (cents / 100).toFixed(2);
  const body: Record<string, string> = { amount, token: token ?? "ETH", chain: chainId ?? "" };
  if (session?.kind === "console") {
    // A merchant signed in to the console names where the money goes (its proven address).
    if (!session.address) throw new Error(t("need_wallet"));
    const callback = $<HTMLInputElement>("pos-callback").value.trim();
    if (!callback) throw new Error(t("need_callback"));
    localStorage.setItem("pos-callback", callback);
    body.address = session.address;
    body.callback = callback;
  }
  $<HTMLButtonElement>("charge").disabled = true;
  try {
    const order = await api<{ id: number; expected_amount: string; token: string }>(
      "POST",
      "/pos/order",
      body,
      { "idempotency-key": encodeURIComponent(`pos-${saleId}-${amount}-${body.token}-${body.chain}`) },
    );
    $("qr-amount").textContent = t(
      "qr_amount",
      { symbol: order.token },
      { amount: order.expected_amount, usd: amount },
    );
    $("qr-order").textContent = String(order.id);
    $<HTMLAnchorElement>("qr-link").href = `/pay/${order.id}`;
    const img = $<HTMLImageElement>("pos-qr");
    img.src = `/order/${order.id}/qr.svg`;
    img.alt = t("qr_alt", { symbol: order.token }, { amount: order.expected_amount });
    render({
      status: "pending",
      tone: "waiting",
      title: t("waiting"),
      detail: "",
      remaining: order.expected_amount,
      remaining_units: "",
      confirmations_text: "",
    });
    show("qr-screen");
    stream?.close();
    stream = new EventSource(`/pay/${order.id}/events`);
    stream.addEventListener("status", (event) => {
      const state = JSON.parse((event as MessageEvent<string>).data) as PayState;
      render(state, order.id);
      if (["complete", "expired", "refunded"].includes(state.status)) stream?.close();
    });
  } finally {
    $<HTMLButtonElement>("charge").disabled = cents === 0;
  }
}

function render(state: PayState, id?: number) {
  const line = $("qr-state");
  // Paid as soon as the payment is seen (success): the shop's confirmations follow.
  const paid = state.status === "success" || state.status === "complete";
  line.dataset.tone = paid ? "paid" : state.tone;
  $("qr-screen").dataset.tone = paid ? "paid" : state.tone;
  line.textContent = paid
    ? t("paid")
    : state.tone === "partial"
      ? t("underpaid", {}, { remaining: state.remaining })
      : state.tone === "expired"
        ? t("expired")
        : state.tone === "refunded"
          ? t("refunded")
          : t("waiting");
  const confirmations = state.messages?.confirmations;
  if (paid && confirmations) {
    const small = document.createElement("small");
    small.textContent = t(confirmations.key as PosKey, confirmations.vars);
    line.append(small);
  }
  if (state.tone === "partial" && id !== undefined) {
    $<HTMLImageElement>("pos-qr").src = `/order/${id}/qr.svg?due=${state.remaining_units}`;
  }
}

function newSale() {
  stream?.close();
  newSaleId();
  cents = 0;
  renderAmount();
  show("keypad-screen");
}

// ---- Sign in ---------------------------------------------------------------------------------
function signedIn(s: Session) {
  session = s;
  $("who").hidden = false;
  // A terminal is not shown the merchant's email: it shows the shop's name or its own label.
  $("who-name").textContent =
    s.kind === "terminal"
      ? t("terminal_name", { name: s.display_name ?? s.label ?? t("terminal") })
      : (s.display_name ?? s.email ?? "");
  // A terminal key carries its payout address and callback; a console session names the callback.
  $("callback-row").hidden = s.kind !== "console";
  $<HTMLInputElement>("pos-callback").value = localStorage.getItem("pos-callback") ?? "";
  fillTokens();
  newSale();
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  $("error").textContent = "";
  const input = $<HTMLInputElement>("terminal-key");
  api<Session>("POST", "/console/session", { terminal_key: input.value })
    .then((s) => {
      input.value = "";
      signedIn(s);
    })
    .catch(fail);
});
$("sign-out").addEventListener("click", () => {
  void api("DELETE", "/console/session").finally(() => {
    session = null;
    $("who").hidden = true;
    show("signin");
  });
});
$("charge").addEventListener("click", () => void charge().catch(fail));
$("new-sale").addEventListener("click", newSale);

api<{ signed_in: boolean; session: Session | null }>("GET", "/console/session")
  .then((answer) => (answer.session ? signedIn(answer.session) : show("signin")))
  .catch((error) => {
    show("signin");
    fail(error);
  });
