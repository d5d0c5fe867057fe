/// <reference lib="dom" />
// The merchant console: sign in (Sign-In with Ethereum or the API key), then a dashboard in
// sections, each at its own address (/console/<section>, history.pushState): overview (income
// chart, totals, orders waiting, subscriptions due, today's rates), orders, subscriptions,
// balances and withdrawals, callbacks, settings. Withdraw / refund / sweep are signed by the
// merchant's own wallet after a preview. Everything it shows comes from this server's API with the
// session cookie; the wallet talks to the chain. Every string comes from the page's catalogue
// (server/src/web/i18n/messages/console.ts), in the page's language. Bundled by scripts/build-web.ts.
import {
  encodeFunctionData,
  formatUnits,
  getAddress,
  isAddress,
  parseUnits,
  stringToHex,
  zeroAddress,
} from "viem";
import { createSiweMessage } from "viem/siwe";
import {
  account,
  chainIdOf,
  explain,
  findWallet,
  switchChain,
  waitForReceipt,
  WalletError,
  type Eip1193,
} from "./wallet.ts";
import { drawIncomeChart } from "./chart.ts";
import { addDecimals, formatDecimal, multiplyDecimals, shortHex } from "./format.ts";
import type { ConsoleMessage } from "../i18n/messages/console.ts";
import { mountCallbackTools } from "./console-callbacks.ts";

interface WebChain {
  chainId: number;
  name: string;
  contract: `0x${string}`;
  tokens: { symbol: string; address: `0x${string}`; decimals: number }[];
}
interface Config {
  chains: WebChain[];
  /** The console's configured domain and origin, which a SIWE message names. */
  domain: string;
  origin: string;
  recurring: boolean;
  /** The page's language (BCP 47) and its messages. */
  locale: string;
  sections: string[];
  messages: Record<ConsoleMessage, string>;
}
interface Session {
  kind: string;
  /** Null for a terminal session. */
  email: string | null;
  display_name: string | null;
  address: string | null;
}
interface Order {
  id: number;
  status: string;
  exception: string | null;
  expected_amount: string;
  amount_paid: string;
  token: string;
  chain_id: number;
  created_at: string;
  paid: boolean;
  transaction_id: string;
  return_to: `0x${string}`;
  reference: `0x${string}`;
}

const processorAbi = [
  {
    type: "function",
    name: "withdraw",
    stateMutability: "nonpayable",
    inputs: [
      { name: "token", type: "address" },
      { name: "amount", type: "uint256" },
      { name: "to", type: "address" },
    ],
    outputs: [],
  },
  {
    type: "function",
    name: "refund",
    stateMutability: "nonpayable",
    inputs: [
      { name: "token", type: "address" },
      { name: "orderId", type: "bytes32" },
      { name: "to", type: "address" },
      { name: "amount", type: "uint256" },
    ],
    outputs: [],
  },
  {
    type: "function",
    name: "sweepDeposits",
    stateMutability: "nonpayable",
    inputs: [
      {
        name: "deposits",
        type: "tuple[]",
        components: [
          { name: "merchant", type: "address" },
          { name: "orderId", type: "bytes32" },
          { name: "token", type: "address" },
        ],
      },
    ],
    outputs: [],
  },
] as const;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const config = JSON.parse($("config").textContent ?? "{}") as Config;

// ---- Language: messages, numbers and dates in the page's locale --------------------------------
/** The message `key`, with `{name}` placeholders filled. */
function t(key: ConsoleMessage, vars: Record<string, string | number> = {}): string {
  return (config.messages[key] ?? key).replace(/\{(\w+)\}/g, (whole, name: string) =>
    Object.hasOwn(vars, name) ? String(vars[name]) : whole,
  );
}
/** A message key built from data (a status, an interval…), or the data itself when there is none. */
const tOr = (key: string, fallback: string) =>
  Object.hasOwn(config.messages, key) ? t(key as ConsoleMessage) : fallback;
const locale = config.locale;
/** The merchant's currency: every fiat value the overview gives is in it. */
let currency = "USD";
const money = (value: string) => formatDecimal(locale, value, { currency });
const amount = (value: string) => formatDecimal(locale, value);
const dateTime = (iso: string) =>
  new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
const dateOnly = (iso: string) =>
  new Intl.DateTimeFormat(locale, { dateStyle: "medium" }).format(new Date(iso));
/** A yyyy-mm-dd UTC day, as the locale writes a short date. */
const dayLabel = (day: string) =>
  new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", timeZone: "UTC" }).format(
    new Date(`${day}T00:00:00Z`),
  );
const statusText = (status: string) => tOr(`status_${status}`, status);
let session: Session | null = null;
let wallet: { name: string; provider: Eip1193 } | undefined;

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers:
      body === undefined
        ? { accept: "application/json" }
        : { accept: "application/json", "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const json = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
  if (!res.ok)
    throw new ApiError(res.status, json.error?.code ?? "error", json.error?.message ?? res.statusText);
  return json as T;
}

const notice = (text: string) => ($("notice").textContent = text);
const fail = (error: unknown) => {
  $("error").textContent = error instanceof ApiError ? error.message : explain(error);
};
const clearMessages = () => {
  $("error").textContent = "";
  notice("");
};

function tokenOf(chainId: number, symbol: string) {
  const chain = config.chains.find((c) => c.chainId === chainId) ?? config.chains[0];
  if (!chain) throw new WalletError(t("noChain"));
  if (symbol === "ETH") return { chain, address: zeroAddress, decimals: 18, symbol };
  const token = chain.tokens.find((t) => t.symbol === symbol);
  if (!token) throw new WalletError(t("tokenNotConfigured", { token: symbol, chain: chain.name }));
  return { chain, ...token };
}

function cell(row: HTMLTableRowElement, text: string) {
  const td = row.insertCell();
  td.textContent = text;
  return td;
}
/** A table's empty state: what will appear there and how to make it happen. */
function emptyRow(body: HTMLTableSectionElement, text: string) {
  const row = body.insertRow();
  row.className = "empty";
  const td = cell(row, text);
  td.colSpan = (body.parentElement as HTMLTableElement).tHead?.rows[0]?.cells.length ?? 1;
  return td;
}
/**
 * Gives every cell of `table` its column's name (data-label), which the phone layout shows
 * beside the value when a row becomes a card.
 */
function labelCells(table: HTMLTableElement) {
  const names = Array.from(table.tHead?.rows[0]?.cells ?? []).map((th) =>
    th.querySelector(".sr-only") ? "" : (th.textContent ?? "").trim(),
  );
  for (const body of Array.from(table.tBodies))
    for (const row of Array.from(body.rows)) {
      if (row.classList.contains("empty")) continue;
      Array.from(row.cells).forEach((td, i) => (td.dataset.label = names[i] ?? ""));
    }
}
/** An address or hash, shortened (0x14dC…9955), the full value in its title, with a copy button. */
function hexValue(value: string): HTMLElement {
  const wrap = document.createElement("span");
  wrap.className = "hex";
  const code = document.createElement("code");
  code.textContent = shortHex(value);
  code.title = value;
  const copy = document.createElement("button");
  copy.type = "button";
  copy.className = "copy";
  copy.textContent = t("copy");
  copy.setAttribute("aria-label", t("copyLabel", { value }));
  copy.addEventListener("click", () => {
    void navigator.clipboard
      ?.writeText(value)
      .then(() => notice(t("copied", { value: shortHex(value) })))
      .catch(() => undefined);
  });
  wrap.append(code, copy);
  return wrap;
}
function hexCell(row: HTMLTableRowElement, value: string) {
  const td = row.insertCell();
  td.append(hexValue(value));
  return td;
}
function button(td: HTMLElement, label: string, onClick: () => void, accessible?: string) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "secondary-button";
  b.textContent = label;
  if (accessible) b.setAttribute("aria-label", accessible);
  b.addEventListener("click", onClick);
  td.append(b);
  return b;
}

// ---- Sign in ---------------------------------------------------------------------------------
async function connectWallet(): Promise<{ provider: Eip1193; address: `0x${string}` }> {
  wallet ??= await findWallet();
  if (!wallet) throw new WalletError(t("noWallet"));
  const address = getAddress(await account(wallet.provider));
  $("wallet-state").replaceChildren(`${wallet.name}: `, hexValue(address));
  return { provider: wallet.provider, address };
}

async function signInWithEthereum() {
  clearMessages();
  try {
    const { provider, address } = await connectWallet();
    const walletChain = await chainIdOf(provider);
    // The message names a chain of this server; a wallet on another network signs the same way.
    const chainId = config.chains.some((c) => c.chainId === walletChain)
      ? walletChain
      : (config.chains[0]?.chainId ?? walletChain);
    const { nonce } = await api<{ nonce: string }>("GET", "/console/siwe/nonce");
    const message = createSiweMessage({
      address,
      chainId,
      domain: config.domain,
      nonce,
      uri: config.origin,
      version: "1",
      statement: t("siweStatement"),
      issuedAt: new Date(),
      expirationTime: new Date(Date.now() + 10 * 60_000),
    });
    notice(t("signMessage"));
    const signature = (await provider.request({
      method: "personal_sign",
      params: [stringToHex(message), address],
    })) as string;
    // Signed in already, a wallet not yet linked is linked with the API key again.
    const linkKey = session ? $<HTMLInputElement>("link-key").value.trim() : "";
    session = await api<Session>("POST", "/console/siwe", {
      message,
      signature,
      ...(linkKey ? { api_key: linkKey } : {}),
    });
    $<HTMLInputElement>("link-key").value = "";
    notice(t("signedInAs", { address }));
    await showApp();
  } catch (error) {
    notice("");
    fail(error);
  }
}

async function signInWithApiKey(event: Event) {
  event.preventDefault();
  clearMessages();
  try {
    const input = $<HTMLInputElement>("apikey");
    session = await api<Session>("POST", "/console/session", { api_key: input.value });
    input.value = "";
    await showApp();
  } catch (error) {
    fail(error);
  }
}

async function loadLinked() {
  const { addresses } = await api<{ addresses: { address: string; proven_at: string }[] }>(
    "GET",
    "/user/addresses",
  );
  const table = $<HTMLTableElement>("linked");
  const body = table.tBodies[0] as HTMLTableSectionElement;
  body.replaceChildren();
  if (addresses.length === 0) emptyRow(body, t("linkedEmpty"));
  for (const a of addresses) {
    const row = body.insertRow();
    hexCell(row, a.address);
    cell(row, dateTime(a.proven_at));
    button(
      row.insertCell(),
      t("unlink"),
      () => void unlink(a.address),
      t("unlinkLabel", { address: a.address }),
    );
  }
  labelCells(table);
}

async function unlink(address: string) {
  clearMessages();
  if (!window.confirm(t("unlinkConfirm", { address }))) return;
  try {
    const r = await api<{ terminal_keys_revoked: number }>("DELETE", `/user/addresses/${address}`);
    notice(t("unlinked", { address, n: r.terminal_keys_revoked }));
    if (session?.address?.toLowerCase() === address.toLowerCase()) return endSession(t("signedOut"));
    await Promise.all([loadLinked(), loadBalances()]);
  } catch (error) {
    fail(error);
  }
}

function endSession(message: string) {
  session = null;
  $("app").hidden = true;
  $("who").hidden = true;
  $("signin").hidden = false;
  notice(message);
}

async function signOutEverywhere() {
  clearMessages();
  try {
    const { ended } = await api<{ ended: number }>("DELETE", "/user/sessions");
    endSession(t("signedOutEverywhere", { n: ended }));
  } catch (error) {
    fail(error);
  }
}

async function signOut() {
  await api("DELETE", "/console/session").catch(() => undefined);
  endSession(t("signedOut"));
}

// ---- Exports for the accountant ---------------------------------------------------------------
/** The day after a yyyy-mm-dd date: the API's `to` is exclusive, the console's "through" date included. */
function dayAfter(date: string): string {
  const next = new Date(`${date}T00:00:00Z`);
  next.setUTCDate(next.getUTCDate() + 1);
  return next.toISOString().slice(0, 10);
}

/** Points every export link at the chosen range (GET with the session cookie; docs/exports.md). */
function updateExportLinks() {
  const from = $<HTMLInputElement>("export-from").value;
  const through = $<HTMLInputElement>("export-through").value;
  const query = new URLSearchParams();
  if (from) query.set("from", from);
  if (through) query.set("to", dayAfter(through));
  const wrong = from !== "" && through !== "" && from > through;
  $("export-note").textContent = wrong
    ? t("exportWrongRange")
    : from || through
      ? t("exportRange", { from: from || t("exportStart"), through: through || t("exportToday") })
      : "";
  const search = query.toString();
  document.querySelectorAll<HTMLAnchorElement>("#export-links a[data-export]").forEach((link) => {
    link.href = `/export/${link.dataset.export}.csv${search ? `?${search}` : ""}`;
    if (wrong) link.setAttribute("aria-disabled", "true");
    else link.removeAttribute("aria-disabled");
  });
}

// ---- Sections: one per address, the back button included ----------------------------------------
type Section = "overview" | "orders" | "subscriptions" | "balances" | "callbacks" | "settings";
const SECTIONS = config.sections as Section[];

/** The section an address names: /console and anything unknown are the overview. */
function sectionOf(path: string): Section {
  const name = path.replace(/^\/console\/?/, "").split("/")[0] ?? "";
  return (SECTIONS as string[]).includes(name) ? (name as Section) : "overview";
}
/** A section's address, keeping the ?lang= the page was opened with. */
function sectionUrl(section: Section): string {
  const lang = new URLSearchParams(location.search).get("lang");
  return `/console/${section}${lang ? `?lang=${encodeURIComponent(lang)}` : ""}`;
}
let current: Section | undefined;

/** Shows one section (and marks its tab); `push` adds it to the history. */
function showSection(section: Section, push = false) {
  if (push && section !== current) history.pushState({ section }, "", sectionUrl(section));
  current = section;
  for (const el of Array.from(document.querySelectorAll<HTMLElement>("#app > [data-section]")))
    el.hidden = el.dataset.section !== section;
  for (const link of Array.from(document.querySelectorAll<HTMLAnchorElement>("nav.tabs a[data-section]"))) {
    link.href = sectionUrl(link.dataset.section as Section);
    if (link.dataset.section === section) {
      link.setAttribute("aria-current", "page");
      link.scrollIntoView({ block: "nearest", inline: "nearest" });
    } else link.removeAttribute("aria-current");
  }
  document.title = `${document.querySelector(`nav.tabs a[data-section="${section}"]`)?.textContent ?? ""} · ${t("title")} · Ethereum POS`;
}

// ---- Today's rates: every coin's value in the merchant's currency ---------------------------------
interface Rate {
  chain_id: number;
  token: string;
  token_address: string;
  decimals: number;
  currency: string;
  value: string | null;
  source: string | null;
  updated_at: string | null;
  error: string | null;
}
let rates: Rate[] = [];
const rateOf = (chainId: number, symbol: string) =>
  rates.find((r) => r.chain_id === chainId && r.token === symbol);

/** Where a rate comes from and how old it is, in words. */
function rateSource(rate: Rate): string {
  if (rate.value === null) return t("rateUnavailable", { error: rate.error ?? "" });
  const source =
    rate.source === "static"
      ? t("sourceStatic")
      : rate.source === "peg"
        ? t("sourcePeg")
        : rate.source?.startsWith("chainlink:")
          ? t("sourceChainlink", { feed: shortHex(rate.source.slice("chainlink:".length)) })
          : (rate.source ?? "");
  if (!rate.updated_at) return t("rateSourceNoAge", { source });
  const minutes = Math.max(0, Math.floor((Date.now() - Date.parse(rate.updated_at)) / 60_000));
  const age =
    minutes < 1
      ? t("ageNow")
      : minutes < 60
        ? t("ageMinutes", { n: minutes })
        : minutes < 48 * 60
          ? t("ageHours", { n: Math.floor(minutes / 60) })
          : t("ageDays", { n: Math.floor(minutes / 1440) });
  return t("rateSource", { source, age });
}

/**
 * A cell with `coins` of `symbol` in the merchant's currency at today's rate (exact: bigint
 * math on the decimal strings), the rate's source and age in its title.
 */
function valueCell(row: HTMLTableRowElement, chainId: number, symbol: string, coins: string) {
  const rate = rateOf(chainId, symbol);
  const td = row.insertCell();
  td.className = "fiat";
  if (!rate || rate.value === null) {
    td.textContent = t("noRate");
    if (rate) td.title = rateSource(rate);
    return td;
  }
  td.textContent = t("valueAt", { value: money(multiplyDecimals(coins, rate.value)) });
  td.title = `${t("rateLine", { coin: symbol, value: money(rate.value) })} · ${rateSource(rate)}`;
  return td;
}

async function loadRates() {
  const answer = await api<{ currency: string; rates: Rate[] }>("GET", "/user/rates");
  currency = answer.currency;
  rates = answer.rates;
}

// ---- Overview: totals, the income chart, orders waiting, subscriptions due, rates -----------------
interface OverviewAnswer {
  currency: string;
  from: string;
  through: string;
  income: { day: string; chain_id: number; token: string; amount: string; value: string; orders: number }[];
  days: { day: string; value: string }[];
  today: { value: string; orders: number };
  month: { value: string; orders: number };
  waiting: {
    count: number;
    orders: {
      id: number;
      created_at: string;
      expires_at: string;
      value: string;
      expected_amount: string;
      token: string;
      chain_id: number;
      payment_url: string;
    }[];
  };
  subscriptions_due: {
    id: number;
    item_title: string | null;
    value: string;
    token: string;
    status: string;
    paid_through: string;
    payment_url: string;
  }[];
  rates: Rate[];
}

async function loadOverview() {
  const view = await api<OverviewAnswer>("GET", "/user/overview");
  currency = view.currency;
  rates = view.rates;
  $("today-total").textContent = money(view.today.value);
  $("today-orders").textContent = t("ordersCount", { n: view.today.orders });
  $("month-total").textContent = money(view.month.value);
  $("month-orders").textContent = t("ordersCount", { n: view.month.orders });
  $("waiting-count").textContent = String(view.waiting.count);
  drawOverviewChart(view);
  fillWaiting(view.waiting.orders);
  fillDue(view.subscriptions_due);
  fillRates();
}

function drawOverviewChart(view: OverviewAnswer) {
  const multiChain = config.chains.length > 1;
  const coinName = (chainId: number, token: string) =>
    multiChain ? `${token} (${config.chains.find((c) => c.chainId === chainId)?.name ?? chainId})` : token;
  $("income-note").textContent = view.income.length === 0 ? t("incomeEmpty") : t("incomeNote", { currency });
  drawIncomeChart(
    $("income-chart"),
    $("income-legend"),
    {
      days: view.days,
      slices: view.income.map((r) => ({ day: r.day, coin: coinName(r.chain_id, r.token), value: r.value })),
    },
    {
      label: t("chartLabel", {
        from: dayLabel(view.from),
        through: dayLabel(view.through),
        total: money(addDecimals(view.days.map((d) => d.value))),
      }),
      money,
      dayLabel,
      bar: (day, value) => t("chartDay", { day, value }),
    },
  );
}
function fillWaiting(orders: OverviewAnswer["waiting"]["orders"]) {
  const table = $<HTMLTableElement>("waiting");
  const body = table.tBodies[0] as HTMLTableSectionElement;
  body.replaceChildren();
  if (orders.length === 0) emptyRow(body, t("waitingEmpty"));
  for (const o of orders) {
    const row = body.insertRow();
    const link = document.createElement("a");
    link.href = o.payment_url;
    link.textContent = String(o.id);
    link.setAttribute("aria-label", t("openPayment", { id: o.id }));
    row.insertCell().append(link);
    cell(row, dateTime(o.created_at));
    cell(
      row,
      t("expiresIn", { n: Math.max(0, Math.ceil((Date.parse(o.expires_at) - Date.now()) / 60_000)) }),
    );
    cell(row, `${amount(o.expected_amount)} ${o.token}`);
    cell(row, money(o.value)).className = "fiat";
  }
  labelCells(table);
}

function fillDue(subs: OverviewAnswer["subscriptions_due"]) {
  const table = $<HTMLTableElement>("due");
  const body = table.tBodies[0] as HTMLTableSectionElement;
  body.replaceChildren();
  if (subs.length === 0) emptyRow(body, t("dueEmpty"));
  for (const s of subs) {
    const row = body.insertRow();
    const link = document.createElement("a");
    link.href = s.payment_url;
    link.textContent = `#${s.id}${s.item_title ? ` ${s.item_title}` : ""}`;
    row.insertCell().append(link);
    cell(row, `${money(s.value)} ${s.token}`);
    cell(row, statusText(s.status));
    cell(row, dateOnly(s.paid_through));
  }
  labelCells(table);
}

function fillRates() {
  const table = $<HTMLTableElement>("rates");
  const body = table.tBodies[0] as HTMLTableSectionElement;
  body.replaceChildren();
  if (rates.length === 0) emptyRow(body, t("ratesEmpty"));
  const multiChain = config.chains.length > 1;
  for (const r of rates) {
    const row = body.insertRow();
    const chain = config.chains.find((c) => c.chainId === r.chain_id);
    cell(row, multiChain ? `${r.token} (${chain?.name ?? r.chain_id})` : r.token);
    cell(
      row,
      r.value === null ? t("noRate") : t("rateLine", { coin: r.token, value: money(r.value) }),
    ).className = "fiat";
    cell(row, rateSource(r));
  }
  labelCells(table);
}

// ---- The signed-in console -------------------------------------------------------------------
async function showApp() {
  if (!session) return;
  $("signin").hidden = true;
  $("app").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = session.display_name ?? session.email ?? "";
  const who = $("who-address");
  if (session.address) who.replaceChildren(hexValue(session.address));
  else who.textContent = t("apiKeySession");
  if (session.address) $("wallet-state").textContent = t("signedInWith", { address: session.address });
  showSection(sectionOf(location.pathname));
  // The rates first: every amount's value in the merchant's currency needs them.
  await Promise.all([loadOverview().catch(() => loadRates()), loadNotifications()])
    .catch(fail)
    .then(() =>
      Promise.all([
        loadPlan().then(loadSubscriptions),
        loadBalances(),
        loadOrders(),
        loadDeposits(),
        loadLinked(),
      ]),
    )
    .catch(fail);
}

interface User {
  plan: string;
  limits: { daily_transactions: number; max_amount: string };
  transactions_today: number;
  plugins?: { recurring_payments?: boolean; txt_messaging?: boolean };
  notifications?: { url: string | null; phone: string | null; events: string[] | null; channel: string };
}

async function loadPlan() {
  const user = await api<User>("GET", "/user");
  $("plan").textContent = t("planLine", {
    plan: user.plan,
    used: user.transactions_today,
    limit: user.limits.daily_transactions,
    max: money(user.limits.max_amount),
  });
  return user;
}

async function loadNotifications() {
  const user = await api<User>("GET", "/user");
  const out = $("notifications");
  const n = user.notifications;
  if (!user.plugins?.txt_messaging || !n) {
    out.textContent = t("notificationsOff");
    return;
  }
  const channel =
    n.channel === "sms"
      ? t("channel_sms", { phone: n.phone ?? "" })
      : n.channel === "webhook"
        ? t("channel_webhook", { url: n.url ?? "" })
        : t("channel_none");
  out.textContent = t("notificationsLine", {
    channel,
    events: n.events === null ? t("notificationsAll") : n.events.join(", "),
  });
}

async function loadBalances() {
  const history = await api<{
    balances: { address: `0x${string}`; token: string; balance: string; chain_id: number }[];
  }>("GET", "/user/history");
  const table = $<HTMLTableElement>("balances");
  const body = table.tBodies[0] as HTMLTableSectionElement;
  body.replaceChildren();
  if (history.balances.length === 0) emptyRow(body, t("balancesEmpty"));
  for (const b of history.balances) {
    const row = body.insertRow();
    row.dataset.token = b.token;
    row.dataset.address = b.address;
    row.dataset.chain = String(b.chain_id);
    // Each balance is on its own chain's contract: withdraw it there.
    const chain = config.chains.find((c) => c.chainId === b.chain_id);
    hexCell(row, b.address);
    cell(row, config.chains.length > 1 ? `${b.token} (${chain?.name ?? b.chain_id})` : b.token);
    const balance = cell(row, amount(b.balance));
    balance.className = "balance";
    balance.dataset.amount = b.balance;
    valueCell(row, b.chain_id, b.token, b.balance);
    const action = row.insertCell();
    if (chain && b.balance !== "0") {
      button(
        action,
        t("withdraw"),
        () => {
          const token = tokenOf(chain.chainId, b.token);
          openPreview({
            kind: "withdraw",
            chain: token.chain,
            token,
            amount: b.balance,
            to: b.address,
            from: b.address,
          });
        },
        config.chains.length > 1
          ? t("withdrawLabelChain", { token: b.token, address: b.address, chain: chain.name })
          : t("withdrawLabel", { token: b.token, address: b.address }),
      );
    }
  }
  labelCells(table);
}

function orderRow(body: HTMLTableSectionElement, order: Order) {
  const row = body.insertRow();
  row.id = `order-${order.id}`;
  const idCell = row.insertCell();
  const link = document.createElement("a");
  link.href = `/pay/${order.id}`;
  link.textContent = String(order.id);
  idCell.append(link);
  cell(row, dateTime(order.created_at));
  cell(row, `${amount(order.expected_amount)} ${order.token}`);
  valueCell(row, order.chain_id, order.token, order.paid ? order.amount_paid : order.expected_amount);
  cell(
    row,
    order.exception
      ? `${statusText(order.status)} (${tOr(`exception_${order.exception}`, order.exception)})`
      : statusText(order.status),
  ).className = "status";
  // The row's buttons sit in one group with a gap between them, wrapping when the cell is narrow.
  const action = document.createElement("div");
  action.className = "row-actions";
  row.insertCell().append(action);
  button(
    action,
    t("deliveries"),
    () => {
      showSection("callbacks", true);
      void loadCallbacks(order.id).catch(fail);
    },
    t("deliveriesLabel", { id: order.id }),
  );
  if (order.paid && order.status !== "refunded") {
    button(
      action,
      t("refund"),
      () => void startRefund(order).catch(fail),
      t("refundLabel", { id: order.id }),
    );
  }
  // A row made apart (followOrder) is labelled once it is in its table.
  if (body.parentElement instanceof HTMLTableElement) labelCells(body.parentElement);
}

async function loadOrders(event?: Event) {
  event?.preventDefault();
  $("error").textContent = "";
  const body = $<HTMLTableElement>("orders").tBodies[0] as HTMLTableSectionElement;
  const search = $<HTMLInputElement>("order-search").value.trim();
  const status = $<HTMLSelectElement>("status-filter").value;
  body.replaceChildren();
  if (search) {
    if (!/^[0-9]{1,16}$/.test(search)) throw new WalletError(t("orderIdNumber"));
    const found = await api<{ order: Order | null }>("GET", `/console/orders/${search}`);
    if (found.order) orderRow(body, found.order);
    else emptyRow(body, t("orderNotFound", { id: search }));
    return;
  }
  const list = await api<{ orders: Order[] }>(
    "GET",
    status ? `/history/${status}?limit=50` : "/history?limit=50",
  );
  if (list.orders.length === 0)
    emptyRow(body, status ? t("ordersEmptyStatus", { status: statusText(status) }) : t("ordersEmpty"));
  for (const order of list.orders) orderRow(body, order);
}

// ---- Callbacks section: one order's deliveries (#callbacks), the signing secret (#rotate-secret) ----
async function loadCallbacks(orderId: number) {
  const list = await api<{
    deliveries: {
      id: number;
      kind: string;
      status: string;
      attempt_count: number;
      last_error: string | null;
    }[];
  }>("GET", `/callbacks?order=${orderId}`);
  const table = $<HTMLTableElement>("callbacks");
  const body = table.tBodies[0] as HTMLTableSectionElement;
  body.replaceChildren();
  if (list.deliveries.length === 0) emptyRow(body, t("callbacksNone", { id: orderId }));
  for (const d of list.deliveries) {
    const row = body.insertRow();
    cell(row, String(orderId));
    cell(row, d.kind);
    cell(
      row,
      `${t("callbackState", { status: d.status, attempts: d.attempt_count })}${d.last_error ? `: ${d.last_error}` : ""}`,
    );
    const action = row.insertCell();
    if (d.status === "delivered" || d.status === "failed") {
      button(
        action,
        t("redeliver"),
        () => {
          api("POST", `/callbacks/${d.id}/redeliver`)
            .then(() => loadCallbacks(orderId))
            .then(() => notice(t("redelivered", { id: d.id })))
            .catch(fail);
        },
        t("redeliverLabel", { id: d.id }),
      );
    }
  }
  labelCells(table);
}

interface Deposit {
  chain_id: number;
  address: string;
  merchant: `0x${string}`;
  order_ref: `0x${string}`;
  token: string;
  token_address: `0x${string}`;
  amount: string;
}
/** Shows the deposits waiting on every chain, with a sweep button per chain; returns them. */
async function loadDeposits(): Promise<Deposit[]> {
  const { deposits: waiting } = await api<{ deposits: Deposit[] }>("GET", "/console/deposits");
  const multiChain = config.chains.length > 1;
  const chainName = (chainId: number) => config.chains.find((c) => c.chainId === chainId)?.name ?? chainId;
  const table = $<HTMLTableElement>("deposits");
  const body = table.tBodies[0] as HTMLTableSectionElement;
  body.replaceChildren();
  if (waiting.length === 0) emptyRow(body, t("depositsEmpty"));
  for (const d of waiting) {
    const row = body.insertRow();
    row.dataset.chain = String(d.chain_id);
    hexCell(row, d.address);
    cell(row, multiChain ? `${d.token} (${chainName(d.chain_id)})` : d.token);
    cell(row, amount(d.amount));
    valueCell(row, d.chain_id, d.token, d.amount);
  }
  labelCells(table);
  // One sweep per chain: each chain's deposits go into that chain's contract, in one transaction.
  const sweeps = $("sweeps");
  sweeps.replaceChildren();
  for (const chain of config.chains) {
    const deposits = waiting.filter((d) => d.chain_id === chain.chainId);
    if (deposits.length === 0) continue;
    const label = multiChain ? t("sweepOn", { n: deposits.length, chain: chain.name }) : t("sweep");
    button(
      sweeps,
      label,
      () => void startSweep(chain, deposits).catch(fail),
      t("sweepLabel", { n: deposits.length, chain: chain.name }),
    ).dataset.chain = String(chain.chainId);
  }
  return waiting;
}

async function startSweep(chain: WebChain, waiting: Deposit[]) {
  clearMessages();
  const { address } = await connectWallet();
  const symbols = [...new Set(waiting.map((d) => d.token))].join(", ");
  openPreview({
    kind: "sweep",
    chain,
    token: { symbol: symbols, address: zeroAddress, decimals: 18 },
    amount: waiting.map((d) => `${d.amount} ${d.token}`).join(" + "),
    to: chain.contract,
    from: address,
    deposits: waiting.map((d) => ({ merchant: d.merchant, orderId: d.order_ref, token: d.token_address })),
  });
}

interface Subscription {
  id: number;
  status: string;
  address: string;
  currency_amount: string;
  interval: string;
  token: string;
  method: string;
  item_title: string;
  payment_url: string;
  paid_through: string;
  cancelled_at: string | null;
}

async function loadSubscriptions(user: { plugins?: { recurring_payments?: boolean } }) {
  const table = $<HTMLTableElement>("subs");
  const body = table.tBodies[0] as HTMLTableSectionElement;
  body.replaceChildren();
  $("subs-body").textContent = "";
  // Only accounts with the Recurring Payments plugin (Seller plan and above) have subscriptions.
  if (!config.recurring || !user.plugins?.recurring_payments) {
    emptyRow(body, t("subsOff"));
    return;
  }
  try {
    const data = await api<{ subscriptions: Subscription[] }>("GET", "/recurring?limit=100");
    if (data.subscriptions.length === 0) emptyRow(body, t("subsEmpty"));
    for (const sub of data.subscriptions) {
      const row = body.insertRow();
      const title = cell(row, `#${sub.id}`);
      if (sub.item_title) title.append(document.createElement("br"), sub.item_title);
      cell(
        row,
        t("subAmount", {
          amount: money(sub.currency_amount),
          token: sub.token,
          interval: tOr(`interval_${sub.interval}`, sub.interval),
        }),
      );
      cell(row, sub.cancelled_at ? `${statusText(sub.status)} (${t("cancelled")})` : statusText(sub.status));
      cell(row, dateOnly(sub.paid_through));
      const pay = row.insertCell();
      const link = document.createElement("a");
      link.href = sub.payment_url;
      link.textContent = sub.method === "token_pull" ? t("tokenPull") : shortHex(sub.address);
      if (sub.method !== "token_pull") link.title = sub.address;
      pay.append(link);
      const action = row.insertCell();
      if (!sub.cancelled_at) {
        button(
          action,
          t("cancel"),
          () =>
            void api("POST", `/recurring/${sub.id}/cancel`)
              .then(loadPlan)
              .then(loadSubscriptions)
              .catch((error: unknown) => {
                $("subs-body").textContent = error instanceof ApiError ? error.message : String(error);
              }),
          t("cancelSubLabel", { id: sub.id }),
        );
      }
    }
    labelCells(table);
  } catch (error) {
    $("subs-body").textContent = error instanceof ApiError ? error.message : t("subsUnavailable");
  }
}

// ---- Withdraw and refund, signed by the wallet after a preview --------------------------------
interface Action {
  kind: "withdraw" | "refund" | "sweep";
  deposits?: { merchant: `0x${string}`; orderId: `0x${string}`; token: `0x${string}` }[];
  chain: WebChain;
  token: { symbol: string; address: `0x${string}`; decimals: number };
  amount: string;
  to: string;
  from: `0x${string}`;
  order?: Order;
}
let pending: Action | undefined;

async function startRefund(order: Order) {
  clearMessages();
  const token = tokenOf(order.chain_id, order.token);
  let payer = "";
  try {
    const { provider } = await connectWallet();
    const tx = (await provider.request({
      method: "eth_getTransactionByHash",
      params: [order.transaction_id],
    })) as {
      from?: string;
    } | null;
    payer = tx?.from ? getAddress(tx.from) : "";
  } catch (error) {
    fail(error);
  }
  openPreview({
    kind: "refund",
    chain: token.chain,
    token,
    amount: order.amount_paid,
    to: payer,
    from: order.return_to,
    order,
  });
}

function openPreview(action: Action) {
  pending = action;
  $("pv-action").textContent =
    action.kind === "withdraw"
      ? t("actionWithdraw")
      : action.kind === "sweep"
        ? t("actionSweep", { n: action.deposits?.length ?? 0 })
        : t("actionRefund", { id: action.order?.id ?? "" });
  $<HTMLInputElement>("pv-amount").readOnly = action.kind === "sweep";
  $<HTMLInputElement>("pv-to").readOnly = action.kind === "sweep";
  $("pv-chain").textContent = t("chainLine", { chain: action.chain.name, id: action.chain.chainId });
  $("pv-token").textContent = action.token.symbol;
  $<HTMLInputElement>("pv-amount").value = action.amount;
  $<HTMLInputElement>("pv-to").value = action.to;
  $("pv-from").textContent = action.from;
  $("pv-status").textContent = "";
  $("pv-error").textContent = "";
  $<HTMLButtonElement>("pv-confirm").disabled = false;
  $("pv-confirm").textContent =
    action.kind === "withdraw"
      ? t("signWithdrawal")
      : action.kind === "refund"
        ? t("signRefund")
        : t("signSweep");
  updatePreviewValue();
  const dialog = $<HTMLDialogElement>("preview");
  if (!dialog.open) dialog.showModal();
  void checkChain();
}

/** The preview's amount in the merchant's currency at today's rate, as the amount is typed. */
function updatePreviewValue() {
  const out = $("pv-value");
  const typed = $<HTMLInputElement>("pv-amount").value.trim();
  const rate =
    pending && pending.kind !== "sweep" ? rateOf(pending.chain.chainId, pending.token.symbol) : undefined;
  out.title = rate ? rateSource(rate) : "";
  out.textContent =
    rate?.value && /^\d+(\.\d+)?$/.test(typed)
      ? t("valueAt", { value: money(multiplyDecimals(typed, rate.value)) })
      : rate
        ? ""
        : t("noRate");
}

/** Shows a switch-network prompt when the wallet is on another chain than the action's. */
async function checkChain(): Promise<boolean> {
  if (!pending) return false;
  const warning = $("pv-chain-warning");
  const switcher = $("pv-switch");
  try {
    const { provider } = await connectWallet();
    const current = await chainIdOf(provider);
    const wrong = current !== pending.chain.chainId;
    warning.hidden = !wrong;
    switcher.hidden = !wrong;
    if (wrong) {
      warning.textContent = t("wrongChain", {
        current,
        action: t(`action_${pending.kind}`),
        chain: pending.chain.name,
        id: pending.chain.chainId,
      });
      switcher.textContent = t("switchTo", { chain: pending.chain.name });
    }
    return !wrong;
  } catch (error) {
    $("pv-error").textContent = explain(error);
    return false;
  }
}

async function confirmAction() {
  const action = pending;
  if (!action) return;
  const status = $("pv-status");
  const error = $("pv-error");
  const confirm = $<HTMLButtonElement>("pv-confirm");
  error.textContent = "";
  if (action.kind === "sweep") {
    await confirmSweep(action);
    return;
  }
  let amount: bigint;
  try {
    amount = parseUnits($<HTMLInputElement>("pv-amount").value.trim(), action.token.decimals);
  } catch {
    error.textContent = t("amountNotDecimal", { token: action.token.symbol });
    return;
  }
  const to = $<HTMLInputElement>("pv-to").value.trim();
  if (amount <= 0n) {
    error.textContent = t("amountZero");
    return;
  }
  if (!isAddress(to, { strict: false })) {
    error.textContent = t("recipientInvalid");
    return;
  }
  confirm.disabled = true;
  try {
    const { provider, address } = await connectWallet();
    if (address !== getAddress(action.from)) {
      throw new WalletError(
        t("wrongAccount", { address, action: t(`action_${action.kind}`), from: action.from }),
      );
    }
    if (!(await checkChain())) throw new WalletError(t("switchFirst"));
    if (action.kind === "refund") await checkRefundable(action.order as Order, address);
    const data =
      action.kind === "withdraw"
        ? encodeFunctionData({
            abi: processorAbi,
            functionName: "withdraw",
            args: [action.token.address, amount, getAddress(to)],
          })
        : encodeFunctionData({
            abi: processorAbi,
            functionName: "refund",
            args: [action.token.address, (action.order as Order).reference, getAddress(to), amount],
          });
    status.textContent = t("confirmInWallet");
    const hash = (await provider.request({
      method: "eth_sendTransaction",
      params: [{ from: address, to: action.chain.contract, data }],
    })) as string;
    status.textContent = t("pendingTx", { hash });
    const receipt = await waitForReceipt(provider, hash);
    status.textContent = t(action.kind === "withdraw" ? "confirmedWithdrawn" : "confirmedRefunded", {
      block: String(BigInt(receipt.blockNumber)),
      amount: formatUnits(amount, action.token.decimals),
      token: action.token.symbol,
      to: getAddress(to),
    });
    notice(status.textContent);
    if (action.order) await followOrder(action.order);
    await loadBalances().catch(fail);
  } catch (e) {
    status.textContent = "";
    error.textContent = e instanceof ApiError ? e.message : explain(e);
    confirm.disabled = false;
  }
}

/**
 * Asks the server, right before the wallet signs, whether the order is still this account's, with
 * the same reference and payout address: a refund names its order only by reference, and one that
 * matches no order (the page was loaded before a new local chain cleared the dev orders) takes the
 * money and reaches no order.
 */
async function checkRefundable(order: Order, signer: `0x${string}`) {
  const { order: now } = await api<{ order: Order | null }>("GET", `/console/orders/${order.id}`);
  if (!now || now.reference !== order.reference || getAddress(now.return_to) !== signer) {
    throw new WalletError(t("orderGone", { id: order.id }));
  }
}

async function confirmSweep(action: Action) {
  const status = $("pv-status");
  const confirm = $<HTMLButtonElement>("pv-confirm");
  confirm.disabled = true;
  try {
    const { provider, address } = await connectWallet();
    if (!(await checkChain())) throw new WalletError(t("switchFirst"));
    const data = encodeFunctionData({
      abi: processorAbi,
      functionName: "sweepDeposits",
      args: [action.deposits ?? []],
    });
    status.textContent = t("confirmInWallet");
    const hash = (await provider.request({
      method: "eth_sendTransaction",
      params: [{ from: address, to: action.chain.contract, data }],
    })) as string;
    status.textContent = t("pendingTx", { hash });
    const receipt = await waitForReceipt(provider, hash);
    status.textContent = t("confirmedSwept", {
      block: String(BigInt(receipt.blockNumber)),
      n: action.deposits?.length ?? 0,
    });
    notice(status.textContent);
    // Until the indexer has seen the sweep: none of this chain's deposits waits any more.
    for (let i = 0; i < 20; i += 1) {
      await new Promise((r) => setTimeout(r, 500));
      const waiting = await loadDeposits();
      if (!waiting.some((d) => d.chain_id === action.chain.chainId)) break;
    }
    await Promise.all([loadBalances(), loadOrders()]).catch(fail);
  } catch (e) {
    status.textContent = "";
    $("pv-error").textContent = e instanceof ApiError ? e.message : explain(e);
    confirm.disabled = false;
  }
}

/** After a refund, waits for the indexer to record it and updates the order's row. */
async function followOrder(before: Order) {
  for (let i = 0; i < 40; i += 1) {
    const { order: now } = await api<{ order: Order | null }>("GET", `/console/orders/${before.id}`);
    if (!now) return;
    const row = document.getElementById(`order-${before.id}`);
    if (row) {
      const body = row.parentElement as HTMLTableSectionElement;
      const fresh = document.createElement("tbody");
      orderRow(fresh as HTMLTableSectionElement, now);
      row.replaceWith(fresh.rows[0] as HTMLTableRowElement);
      labelCells($<HTMLTableElement>("orders"));
      void body;
    }
    if (now.status !== before.status || JSON.stringify(now) !== JSON.stringify(before)) return;
    await new Promise((r) => setTimeout(r, 500));
  }
}

// ---- Wiring ------------------------------------------------------------------------------------
$("siwe").addEventListener("click", () => void signInWithEthereum());
$("connect").addEventListener("click", () => void signInWithEthereum());
$("apikey-form").addEventListener("submit", (e) => void signInWithApiKey(e));
$("sign-out").addEventListener("click", () => void signOut());
$("sign-out-everywhere").addEventListener("click", () => void signOutEverywhere());
$("order-filter").addEventListener("submit", (e) => void loadOrders(e).catch(fail));
for (const id of ["export-from", "export-through"]) $(id).addEventListener("input", updateExportLinks);
$("export-links").addEventListener("click", (e) => {
  // A link is off while the range is wrong: the server would answer 400, not a file.
  if ((e.target as HTMLElement).closest("a[aria-disabled=true]")) e.preventDefault();
});
$("status-filter").addEventListener("change", () => void loadOrders().catch(fail));
$("pv-confirm").addEventListener("click", () => void confirmAction());
$("pv-amount").addEventListener("input", updatePreviewValue);
// Navigation: the tabs change the address (pushState) and the back button comes back.
document.querySelector("nav.tabs")?.addEventListener("click", (e) => {
  const link = (e.target as HTMLElement).closest<HTMLAnchorElement>("a[data-section]");
  const mouse = e as MouseEvent;
  if (!link || mouse.ctrlKey || mouse.metaKey || mouse.shiftKey || mouse.button !== 0) return;
  e.preventDefault();
  showSection(link.dataset.section as Section, true);
  window.scrollTo({ top: 0 });
});
window.addEventListener("popstate", () => {
  if (session) showSection(sectionOf(location.pathname));
});
// The language picker: the same section in the chosen language (?lang= keeps it on every tab).
$<HTMLSelectElement>("language").addEventListener("change", (e) => {
  const url = new URL(location.href);
  url.searchParams.set("lang", (e.target as HTMLSelectElement).value);
  location.assign(url.toString());
});
$("pv-switch").addEventListener("click", () => {
  if (!pending || !wallet) return;
  const { chainId, name } = pending.chain;
  switchChain(wallet.provider, chainId, name)
    .then(() => checkChain())
    .catch((e) => ($("pv-error").textContent = explain(e)));
});
$("rotate-secret").addEventListener("click", () => {
  const hours = Number($<HTMLSelectElement>("overlap").value);
  api<{ secret: string; previous_valid_until: string | null }>("POST", "/user/callback-secret", {
    overlap_hours: hours,
  })
    .then((rotated) => {
      $("secret-value").textContent = rotated.secret;
      $("secret-note").textContent = rotated.previous_valid_until
        ? t("secretShownOverlap", { until: dateTime(rotated.previous_valid_until) })
        : t("secretShown");
      $("secret-box").hidden = false;
    })
    .catch(fail);
});
mountCallbackTools({ root: $("callback-tools"), api, fail });
$("pv-close").addEventListener("click", () => {
  $<HTMLDialogElement>("preview").close();
  pending = undefined;
});

api<{ signed_in: boolean; session: Session | null }>("GET", "/console/session")
  .then((answer) => {
    session = answer.session;
    if (session) return showApp();
    $("signin").hidden = false;
  })
  .catch((error) => {
    $("signin").hidden = false;
    fail(error);
  });
