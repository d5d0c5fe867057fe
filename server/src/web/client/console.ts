/// <reference lib="dom" />
// The merchant console: sign in (Sign-In with Ethereum or the API key), balances, orders,
// callback deliveries, and withdraw / refund signed by the merchant's own wallet after a preview.
// Everything it shows comes from this server's API with the session cookie; the wallet talks to
// the chain. Bundled by scripts/build-web.ts.
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
  if (!chain) throw new WalletError("No chain is configured on this server.");
  if (symbol === "ETH") return { chain, address: zeroAddress, decimals: 18, symbol };
  const token = chain.tokens.find((t) => t.symbol === symbol);
  if (!token) throw new WalletError(`The token ${symbol} is not configured on ${chain.name}.`);
  return { chain, ...token };
}

function cell(row: HTMLTableRowElement, text: string) {
  const td = row.insertCell();
  td.textContent = text;
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
  if (!wallet)
    throw new WalletError("No wallet found in this browser. Install one, or sign in with your API key.");
  const address = getAddress(await account(wallet.provider));
  $("wallet-state").textContent = `${wallet.name}: ${address}`;
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
      statement: "Sign in to the Ethereum POS merchant console.",
      issuedAt: new Date(),
      expirationTime: new Date(Date.now() + 10 * 60_000),
    });
    notice("Sign the message in your wallet…");
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
    notice(`Signed in as ${address}.`);
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
  const body = $<HTMLTableElement>("linked").tBodies[0] as HTMLTableSectionElement;
  body.replaceChildren();
  for (const a of addresses) {
    const row = body.insertRow();
    cell(row, a.address);
    cell(row, new Date(a.proven_at).toLocaleString());
    button(row.insertCell(), "Unlink", () => void unlink(a.address), `Unlink ${a.address}`);
  }
}

async function unlink(address: string) {
  clearMessages();
  if (!window.confirm(`Unlink ${address}? It will no longer sign in to this account.`)) return;
  try {
    const r = await api<{ terminal_keys_revoked: number }>("DELETE", `/user/addresses/${address}`);
    notice(`Unlinked ${address}; ${r.terminal_keys_revoked} terminal key(s) revoked.`);
    if (session?.address?.toLowerCase() === address.toLowerCase()) return endSession("Signed out.");
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
    endSession(`Signed out everywhere (${ended} session${ended === 1 ? "" : "s"}).`);
  } catch (error) {
    fail(error);
  }
}

async function signOut() {
  await api("DELETE", "/console/session").catch(() => undefined);
  endSession("Signed out.");
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
    ? "The first day comes after the last: choose a From date on or before the Through date."
    : from || through
      ? `Exports cover ${from || "the start"} through ${through || "today"} (UTC).`
      : "";
  const search = query.toString();
  document.querySelectorAll<HTMLAnchorElement>("#export-links a[data-export]").forEach((link) => {
    link.href = `/export/${link.dataset.export}.csv${search ? `?${search}` : ""}`;
    if (wrong) link.setAttribute("aria-disabled", "true");
    else link.removeAttribute("aria-disabled");
  });
}

// ---- The signed-in console -------------------------------------------------------------------
async function showApp() {
  if (!session) return;
  $("signin").hidden = true;
  $("app").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = session.display_name ?? session.email ?? "";
  $("who-address").textContent = session.address ?? "(API key)";
  if (session.address) $("wallet-state").textContent = `Signed in with ${session.address}.`;
  await Promise.all([
    loadPlan().then(loadSubscriptions),
    loadBalances(),
    loadOrders(),
    loadDeposits(),
    loadLinked(),
  ]).catch(fail);
}

async function loadPlan() {
  const user = await api<{
    plan: string;
    limits: { daily_transactions: number; max_amount: string };
    transactions_today: number;
    plugins?: { recurring_payments?: boolean };
  }>("GET", "/user");
  $("plan").textContent =
    `${user.plan} plan: ${user.transactions_today} of ${user.limits.daily_transactions} orders today, ` +
    `up to $${user.limits.max_amount} each.`;
  return user;
}

async function loadBalances() {
  const history = await api<{
    balances: { address: `0x${string}`; token: string; balance: string; chain_id: number }[];
  }>("GET", "/user/history");
  const body = $<HTMLTableElement>("balances").tBodies[0] as HTMLTableSectionElement;
  body.replaceChildren();
  if (history.balances.length === 0) {
    const row = body.insertRow();
    const td = cell(row, "No proven payout address yet: connect the wallet of your payout address.");
    td.colSpan = 4;
  }
  for (const b of history.balances) {
    const row = body.insertRow();
    row.dataset.token = b.token;
    row.dataset.address = b.address;
    row.dataset.chain = String(b.chain_id);
    // Each balance is on its own chain's contract: withdraw it there.
    const chain = config.chains.find((c) => c.chainId === b.chain_id);
    cell(row, b.address);
    cell(row, config.chains.length > 1 ? `${b.token} (${chain?.name ?? b.chain_id})` : b.token);
    cell(row, b.balance).className = "balance";
    const action = row.insertCell();
    if (chain && b.balance !== "0") {
      button(
        action,
        "Withdraw",
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
        `Withdraw ${b.token} from ${b.address}${config.chains.length > 1 ? ` on ${chain.name}` : ""}`,
      );
    }
  }
}

function orderRow(body: HTMLTableSectionElement, order: Order) {
  const row = body.insertRow();
  row.id = `order-${order.id}`;
  const idCell = row.insertCell();
  const link = document.createElement("a");
  link.href = `/pay/${order.id}`;
  link.textContent = String(order.id);
  idCell.append(link);
  cell(row, new Date(order.created_at).toLocaleString());
  cell(row, `${order.expected_amount} ${order.token}`);
  cell(
    row,
    order.exception ? `${order.status} (${order.exception.replace("_", " ")})` : order.status,
  ).className = "status";
  // The row's buttons sit in one group with a gap between them, wrapping when the cell is narrow.
  const action = document.createElement("div");
  action.className = "row-actions";
  row.insertCell().append(action);
  button(
    action,
    "Deliveries",
    () => void loadCallbacks(order.id).catch(fail),
    `Callback deliveries of order ${order.id}`,
  );
  if (order.paid && order.status !== "refunded") {
    button(action, "Refund", () => void startRefund(order).catch(fail), `Refund order ${order.id}`);
  }
}

async function loadOrders(event?: Event) {
  event?.preventDefault();
  $("error").textContent = "";
  const body = $<HTMLTableElement>("orders").tBodies[0] as HTMLTableSectionElement;
  const search = $<HTMLInputElement>("order-search").value.trim();
  const status = $<HTMLSelectElement>("status-filter").value;
  body.replaceChildren();
  if (search) {
    if (!/^[0-9]{1,16}$/.test(search)) throw new WalletError("An order id is a number, e.g. 1234567890123.");
    const found = await api<{ order: Order | null }>("GET", `/console/orders/${search}`);
    if (found.order) orderRow(body, found.order);
    else cell(body.insertRow(), `No order ${search} in this account.`).colSpan = 5;
    return;
  }
  const list = await api<{ orders: Order[] }>(
    "GET",
    status ? `/history/${status}?limit=50` : "/history?limit=50",
  );
  if (list.orders.length === 0) cell(body.insertRow(), "No orders.").colSpan = 5;
  for (const order of list.orders) orderRow(body, order);
}

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
  const body = $<HTMLTableElement>("callbacks").tBodies[0] as HTMLTableSectionElement;
  body.replaceChildren();
  if (list.deliveries.length === 0)
    cell(body.insertRow(), `No callbacks for order ${orderId} yet.`).colSpan = 4;
  for (const d of list.deliveries) {
    const row = body.insertRow();
    cell(row, String(orderId));
    cell(row, d.kind);
    cell(
      row,
      `${d.status}, ${d.attempt_count} attempt${d.attempt_count === 1 ? "" : "s"}${d.last_error ? `: ${d.last_error}` : ""}`,
    );
    const action = row.insertCell();
    if (d.status === "delivered" || d.status === "failed") {
      button(
        action,
        "Redeliver",
        () => {
          api("POST", `/callbacks/${d.id}/redeliver`)
            .then(() => loadCallbacks(orderId))
            .then(() => notice(`Callback ${d.id} queued again.`))
            .catch(fail);
        },
        `Redeliver callback ${d.id}`,
      );
    }
  }
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
  const body = $<HTMLTableElement>("deposits").tBodies[0] as HTMLTableSectionElement;
  body.replaceChildren();
  if (waiting.length === 0) cell(body.insertRow(), "Nothing waiting.").colSpan = 3;
  for (const d of waiting) {
    const row = body.insertRow();
    row.dataset.chain = String(d.chain_id);
    cell(row, d.address);
    cell(row, multiChain ? `${d.token} (${chainName(d.chain_id)})` : d.token);
    cell(row, d.amount);
  }
  // One sweep per chain: each chain's deposits go into that chain's contract, in one transaction.
  const sweeps = $("sweeps");
  sweeps.replaceChildren();
  for (const chain of config.chains) {
    const deposits = waiting.filter((d) => d.chain_id === chain.chainId);
    if (deposits.length === 0) continue;
    const label = multiChain ? `Sweep ${deposits.length} on ${chain.name}` : "Sweep into the contract";
    button(
      sweeps,
      label,
      () => void startSweep(chain, deposits).catch(fail),
      `Sweep ${deposits.length} deposit(s) into the payment contract on ${chain.name}`,
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

const shortAddress = (address: string) => `${address.slice(0, 6)}…${address.slice(-4)}`;

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
  // Only accounts with the Recurring Payments plugin (Seller plan and above) have subscriptions.
  if (!config.recurring || !user.plugins?.recurring_payments) return;
  $("subscriptions").hidden = false;
  const body = $<HTMLTableElement>("subs").tBodies[0] as HTMLTableSectionElement;
  body.replaceChildren();
  $("subs-body").textContent = "";
  try {
    const data = await api<{ subscriptions: Subscription[] }>("GET", "/recurring?limit=100");
    if (data.subscriptions.length === 0) cell(body.insertRow(), "No subscriptions.").colSpan = 6;
    for (const sub of data.subscriptions) {
      const row = body.insertRow();
      const title = cell(row, `#${sub.id}`);
      if (sub.item_title) title.append(document.createElement("br"), sub.item_title);
      cell(row, `$${sub.currency_amount} ${sub.token} / ${sub.interval.replace(/ly$/, "")}`);
      cell(row, sub.cancelled_at ? `${sub.status} (cancelled)` : sub.status);
      cell(row, new Date(sub.paid_through).toLocaleDateString());
      const pay = cell(row, "");
      const link = document.createElement("a");
      link.href = sub.payment_url;
      link.textContent = sub.method === "token_pull" ? "token pull" : shortAddress(sub.address);
      pay.append(link);
      const action = row.insertCell();
      if (!sub.cancelled_at) {
        button(
          action,
          "Cancel",
          () =>
            void api("POST", `/recurring/${sub.id}/cancel`)
              .then(loadPlan)
              .then(loadSubscriptions)
              .catch((error: unknown) => {
                $("subs-body").textContent = error instanceof ApiError ? error.message : String(error);
              }),
          `Cancel subscription ${sub.id}`,
        );
      }
    }
  } catch (error) {
    $("subs-body").textContent = error instanceof ApiError ? error.message : "Subscriptions are unavailable.";
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
      ? "Withdraw from the payment contract"
      : action.kind === "sweep"
        ? `Sweep ${action.deposits?.length ?? 0} deposit(s) into the payment contract`
        : `Refund order ${action.order?.id}`;
  $<HTMLInputElement>("pv-amount").readOnly = action.kind === "sweep";
  $<HTMLInputElement>("pv-to").readOnly = action.kind === "sweep";
  $("pv-chain").textContent = `${action.chain.name} (chain id ${action.chain.chainId})`;
  $("pv-token").textContent = action.token.symbol;
  $<HTMLInputElement>("pv-amount").value = action.amount;
  $<HTMLInputElement>("pv-to").value = action.to;
  $("pv-from").textContent = action.from;
  $("pv-status").textContent = "";
  $("pv-error").textContent = "";
  $<HTMLButtonElement>("pv-confirm").disabled = false;
  $("pv-confirm").textContent = `Sign ${action.kind === "withdraw" ? "withdrawal" : action.kind} in wallet`;
  const dialog = $<HTMLDialogElement>("preview");
  if (!dialog.open) dialog.showModal();
  void checkChain();
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
      warning.textContent = `Your wallet is on chain id ${current}; this ${pending.kind} is on ${pending.chain.name} (chain id ${pending.chain.chainId}). Switch networks first.`;
      switcher.textContent = `Switch to ${pending.chain.name}`;
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
    error.textContent = `The amount must be a decimal number of ${action.token.symbol}, e.g. 0.5.`;
    return;
  }
  const to = $<HTMLInputElement>("pv-to").value.trim();
  if (amount <= 0n) {
    error.textContent = "The amount must be more than 0.";
    return;
  }
  if (!isAddress(to, { strict: false })) {
    error.textContent = "The recipient must be a 0x address of 40 hex digits.";
    return;
  }
  confirm.disabled = true;
  try {
    const { provider, address } = await connectWallet();
    if (address !== getAddress(action.from)) {
      throw new WalletError(
        `Your wallet's account is ${address}, but this ${action.kind} must be signed by ${action.from}. Switch accounts in your wallet.`,
      );
    }
    if (!(await checkChain())) throw new WalletError("Switch your wallet to the right network first.");
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
    status.textContent = "Confirm in your wallet…";
    const hash = (await provider.request({
      method: "eth_sendTransaction",
      params: [{ from: address, to: action.chain.contract, data }],
    })) as string;
    status.textContent = `Pending: transaction ${hash} sent, waiting for it to be mined…`;
    const receipt = await waitForReceipt(provider, hash);
    status.textContent = `Confirmed in block ${BigInt(receipt.blockNumber)}: ${formatUnits(amount, action.token.decimals)} ${action.token.symbol} ${action.kind === "withdraw" ? "withdrawn" : "refunded"} to ${getAddress(to)}.`;
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
    throw new WalletError(
      `Order ${order.id} is not an order of this account any more (a new local chain clears the dev orders): nothing was signed. Reload the orders.`,
    );
  }
}

async function confirmSweep(action: Action) {
  const status = $("pv-status");
  const confirm = $<HTMLButtonElement>("pv-confirm");
  confirm.disabled = true;
  try {
    const { provider, address } = await connectWallet();
    if (!(await checkChain())) throw new WalletError("Switch your wallet to the right network first.");
    const data = encodeFunctionData({
      abi: processorAbi,
      functionName: "sweepDeposits",
      args: [action.deposits ?? []],
    });
    status.textContent = "Confirm in your wallet…";
    const hash = (await provider.request({
      method: "eth_sendTransaction",
      params: [{ from: address, to: action.chain.contract, data }],
    })) as string;
    status.textContent = `Pending: transaction ${hash} sent, waiting for it to be mined…`;
    const receipt = await waitForReceipt(provider, hash);
    status.textContent = `Confirmed in block ${BigInt(receipt.blockNumber)}: ${action.deposits?.length ?? 0} deposit(s) swept into the contract.`;
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
        ? `Shown once: store it now. The previous secret signs too until ${new Date(rotated.previous_valid_until).toLocaleString()}.`
        : "Shown once: store it now. The previous secret no longer signs.";
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
