// The payment page's script: countdown, status pushed by the server (SSE), copy buttons, and "Pay with browser
// wallet" through an injected EIP-1193 provider found by EIP-6963 (window.ethereum as fallback).
// Plain JavaScript, served same-origin; no third-party code and no third-party requests.
import {
  decodeUint,
  encodeAllowance,
  encodeApprove,
  encodeBalanceOf,
  encodePay,
  encodePayToken,
} from "./abi.js";
import {
  discoverWallets,
  explain as explainWallet,
  hex,
  waitForReceipt,
  WalletError,
} from "./injected-wallets.js";
import { fillNodes, formatAmount, formatCountdown, message } from "./i18n.js";

const data = JSON.parse(document.getElementById("pay-data").textContent);
// The page's language and its catalogue (i18n/messages/pay.ts), written into the page by the server.
const locale = data.locale;
const t = (key, vars, amounts) => message(data.messages, locale, key, vars, amounts);
/** An exact decimal amount with its symbol, written the locale's way. */
const money = (decimal, symbol = data.symbol) => formatAmount(decimal, locale) + " " + symbol;
// The browser wallet pays what is still due (all of it, or the rest after a partial payment).
data.expected = data.state.remaining;
data.amount = data.state.remaining_units;
const $ = (id) => document.getElementById(id);
const el = {
  state: $("state"),
  status: $("status"),
  confirmations: $("confirmations"),
  countdown: $("countdown"),
  txLine: $("tx-line"),
  txHash: $("tx-hash"),
  options: $("options"),
  hint: $("wallet-hint"),
  choice: $("wallet-choice"),
  button: $("wallet"),
  message: $("wallet-message"),
  error: $("wallet-error"),
};

const FINAL = ["complete", "expired", "refunded"];
const expiresAt = Date.parse(data.state.expires_at);
let status = data.state.status;

// ---- Countdown -------------------------------------------------------------------------------
function tick() {
  const left = Math.max(0, Math.floor((expiresAt - Date.now()) / 1000));
  el.countdown.textContent = formatCountdown(left, locale);
}

// ---- Status, pushed by the server (Server-Sent Events) ---------------------------------------
function showTx(hash) {
  if (!hash) return;
  el.txHash.textContent = hash;
  el.txLine.hidden = false;
}

const setText = (node, text) => {
  if (node.textContent !== text) node.textContent = text;
};

/** A pushed state's headline, detail and confirmations in the page's language (pay-view.ts stateWords). */
function stateWords(messages) {
  const write = (m, extra = {}) => t(m.key, { ...m.vars, ...extra }, m.amounts);
  const confirmations = messages.confirmations ? write(messages.confirmations) : "";
  // The chain's name in the page's language (the state carries the English one).
  const local = (m) => (m.vars && m.vars.network ? { network: data.chainName } : {});
  return {
    title: write(messages.title),
    detail: messages.detail.map((m) => write(m, { confirmations, ...local(m) })).join(" "),
    confirmations,
  };
}

const statusName = (value) => (data.messages["status_" + value] === undefined ? value : t("status_" + value));

/** The sentence "Send exactly <amount> on <network> …" with its marked-up parts. */
function sendLead(partial, due) {
  const strong = document.createElement("strong");
  strong.id = "send-amount";
  strong.textContent = due;
  const chain = document.createElement("span");
  chain.className = "muted";
  chain.textContent = t("chain_id", { id: data.chainId });
  const network = document.createDocumentFragment();
  network.append(data.chainName + " ", chain);
  return fillNodes(t(partial ? "hint_remaining" : "hint_exact"), { amount: strong, network });
}

let redirectTimer;
let shownPartial = data.state.tone === "partial";
function render(state) {
  status = state.status;
  const words = stateWords(state.messages);
  setText(el.status, statusName(state.status));
  el.status.dataset.status = state.status;
  el.state.dataset.status = state.status;
  el.state.dataset.tone = state.tone;
  setText($("state-title"), words.title);
  setText($("state-detail"), words.detail);
  $("progress-row").hidden = !words.confirmations;
  const progress = $("progress");
  progress.max = state.required_confirmations;
  progress.value = Math.min(state.confirmations, state.required_confirmations);
  setText(el.confirmations, words.confirmations);
  showTx(state.transaction_id);
  // Once anything but "pending", the page stops inviting payment: no QR, address or countdown.
  const closed = state.status !== "pending";
  el.options.hidden = closed;
  document.querySelector(".countdown").hidden = closed;
  data.expected = state.remaining;
  data.amount = state.remaining_units;
  if (wallets.size > 0 && !busy) renderWallets(false);
  if (!closed) {
    const partial = state.tone === "partial";
    const due = money(state.remaining);
    if (partial !== shownPartial) {
      $("send-lead").replaceChildren(...sendLead(partial, due));
      shownPartial = partial;
    }
    setText($("send-amount"), due);
    setText($("amount"), due);
    $("copy-amount").dataset.copy = state.remaining;
    setText($("amount-label"), t(partial ? "still_to_pay" : "amount"));
    $("open-wallet").href = state.uri;
    setText($("uri"), state.uri);
    const src = "/order/" + data.id + "/qr.svg?due=" + state.remaining_units;
    const qr = $("qr");
    if (qr.getAttribute("src") !== src) {
      qr.src = src;
      qr.alt = t("qr_alt", { amount: due, address: data.address, network: data.chainName });
    }
  }
  // Paid: offer the way back to the shop, and go there by itself once complete.
  const back = $("return-line");
  back.hidden = !(state.return_url && state.paid);
  if (state.return_url && state.status === "complete" && !redirectTimer) {
    let left = 5;
    const note = $("return-note");
    const step = () => {
      if (left === 0) {
        window.location.assign(state.return_url);
        return;
      }
      note.textContent = t("returning_in", { seconds: new Intl.NumberFormat(locale).format(left) });
      left -= 1;
      redirectTimer = setTimeout(step, 1000);
    };
    step();
  }
}

async function refresh() {
  try {
    const res = await fetch("/pay/" + data.id + "/status", { headers: { accept: "application/json" } });
    if (res.ok) render(await res.json());
  } catch {
    // Offline for a moment: the event stream catches up when it reconnects.
  }
}

function follow() {
  if (FINAL.includes(status)) return;
  const events = new EventSource("/pay/" + data.id + "/events");
  events.addEventListener("status", (event) => {
    render(JSON.parse(event.data));
    if (FINAL.includes(status)) events.close();
  });
  // On an error, EventSource reconnects by itself (the server asks for 1 s); nothing to do.
}

// ---- Copy buttons ----------------------------------------------------------------------------
async function copy(button) {
  const text = button.dataset.copy;
  let done = false;
  try {
    await navigator.clipboard.writeText(text);
    done = true;
  } catch {
    // No clipboard API (an insecure origin): select the value so the customer can copy it.
    const value = button.parentElement.querySelector(".value");
    const range = document.createRange();
    range.selectNodeContents(value);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    done = document.execCommand("copy");
  }
  const label = button.querySelector(".copy-text");
  label.textContent = t(done ? "copied" : "select");
  if (done) button.dataset.copied = "";
  setTimeout(() => {
    label.textContent = t("copy");
    delete button.dataset.copied;
  }, 2000);
}
for (const button of document.querySelectorAll("button.copy")) {
  button.addEventListener("click", () => copy(button));
}

// ---- Wallet discovery (EIP-6963, window.ethereum as fallback) --------------------------------
let wallets = new Map();
let chosen;
let busy = false;

function iconOf(info) {
  return typeof info.icon === "string" && /^data:image\/(svg\+xml|png|jpeg|webp|gif)[;,]/.test(info.icon)
    ? info.icon
    : undefined;
}

function renderWallets(final) {
  const list = [...wallets.values()];
  if (list.length === 0) {
    if (final) {
      el.hint.textContent = t("wallet_none");
      el.button.disabled = true;
    }
    return;
  }
  if (!chosen || !wallets.has(chosen)) chosen = list[0].info.uuid;
  el.hint.textContent = t("wallet_ready", { amount: money(data.expected) });
  el.choice.replaceChildren();
  el.choice.hidden = list.length < 2;
  if (list.length > 1) {
    const fieldset = document.createElement("fieldset");
    fieldset.className = "wallet-choice";
    const legend = document.createElement("legend");
    legend.textContent = t("wallet_choose");
    fieldset.append(legend);
    for (const { info } of list) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "radio";
      input.name = "wallet";
      input.value = info.uuid;
      input.checked = info.uuid === chosen;
      input.addEventListener("change", () => {
        chosen = info.uuid;
        renderButton();
      });
      label.append(input);
      const icon = iconOf(info);
      if (icon) {
        const img = document.createElement("img");
        img.src = icon;
        img.alt = "";
        label.append(img);
      }
      label.append(document.createTextNode(info.name));
      fieldset.append(label);
    }
    el.choice.append(fieldset);
  }
  renderButton();
}

function renderButton() {
  const wallet = wallets.get(chosen);
  el.button.replaceChildren();
  const icon = wallet && iconOf(wallet.info);
  if (icon) {
    const img = document.createElement("img");
    img.src = icon;
    img.alt = "";
    el.button.append(img);
  }
  el.button.append(
    document.createTextNode(wallet ? t("wallet_pay_with", { name: wallet.info.name }) : t("wallet_button")),
  );
  el.button.disabled = busy || !wallet || status !== "pending";
}

// A wallet may announce itself at once, during discoverWallets: the Map comes with each call.
discoverWallets(
  (found, final) => {
    wallets = found;
    renderWallets(final);
  },
  400,
  t("wallet_default_name"),
);

// ---- Paying through the wallet ---------------------------------------------------------------
const formatUnits = (value, decimals) => {
  const base = 10n ** BigInt(decimals);
  const fraction = (value % base).toString().padStart(decimals, "0").replace(/0+$/, "");
  return (value / base).toString() + (fraction ? "." + fraction : "");
};

function say(text) {
  el.message.textContent = text;
}
function fail(text) {
  el.error.textContent = text;
}

/** A wallet's error in words (injected-wallets.js), a node's "insufficient funds" in this order's terms. */
const explain = (error) =>
  explainWallet(error, t, (text) =>
    /insufficient funds/i.test(text)
      ? t("insufficient_fee", { symbol: data.symbol }, { amount: data.expected })
      : undefined,
  );

async function ensureChain(provider) {
  const current = BigInt(await provider.request({ method: "eth_chainId" }));
  if (current === BigInt(data.chainId)) return;
  say(t("wallet_switching", { network: data.chainName }));
  try {
    await provider.request({
      method: "wallet_switchEthereumChain",
      params: [{ chainId: hex(data.chainId) }],
    });
  } catch (error) {
    const code = error && error.code;
    if (code === 4902) {
      throw new WalletError(t("unknown_chain", { network: data.chainName, chainId: data.chainId }));
    }
    throw new WalletError(
      t("wrong_network", { network: data.chainName, chainId: data.chainId, current: String(current) }),
    );
  }
  const now = BigInt(await provider.request({ method: "eth_chainId" }));
  if (now !== BigInt(data.chainId)) {
    throw new WalletError(
      t("still_wrong_network", { network: data.chainName, chainId: data.chainId, current: String(now) }),
    );
  }
}

async function payWith(provider) {
  el.error.textContent = "";
  say(t("wallet_approve_connection"));
  const accounts = await provider.request({ method: "eth_requestAccounts" });
  const from = accounts && accounts[0];
  if (!from) throw new WalletError(t("wallet_no_account"));
  await ensureChain(provider);
  const amount = BigInt(data.amount);

  if (!data.token) {
    const balance = BigInt(await provider.request({ method: "eth_getBalance", params: [from, "latest"] }));
    if (balance < amount) {
      throw new WalletError(
        t("insufficient_eth", {}, { balance: formatUnits(balance, 18), amount: data.expected }),
      );
    }
    say(t("confirm_payment", { symbol: "ETH" }, { amount: data.expected }));
    const hash = await provider.request({
      method: "eth_sendTransaction",
      params: [
        { from, to: data.contract, value: hex(amount), data: encodePay(data.merchant, data.orderRef) },
      ],
    });
    return { provider, hash };
  }

  const call = (to, input) =>
    provider.request({ method: "eth_call", params: [{ from, to, data: input }, "latest"] });
  const balance = decodeUint(await call(data.token, encodeBalanceOf(from)));
  if (balance < amount) {
    throw new WalletError(
      t(
        "insufficient_token",
        { symbol: data.symbol },
        { balance: formatUnits(balance, data.decimals), amount: data.expected },
      ),
    );
  }
  const allowance = decodeUint(await call(data.token, encodeAllowance(from, data.contract)));
  if (allowance < amount) {
    say(t("step_approve", { symbol: data.symbol }, { amount: data.expected }));
    const approval = await provider.request({
      method: "eth_sendTransaction",
      params: [{ from, to: data.token, data: encodeApprove(data.contract, amount) }],
    });
    say(t("step_approve_wait", { hash: approval }));
    await waitForReceipt(provider, approval, t, 1500);
    say(t("step_pay", { symbol: data.symbol }, { amount: data.expected }));
  } else {
    say(t("confirm_payment", { symbol: data.symbol }, { amount: data.expected }));
  }
  const hash = await provider.request({
    method: "eth_sendTransaction",
    params: [
      { from, to: data.contract, data: encodePayToken(data.token, amount, data.merchant, data.orderRef) },
    ],
  });
  return { provider, hash };
}

el.button.addEventListener("click", async () => {
  const wallet = wallets.get(chosen);
  if (!wallet || busy || status !== "pending") return;
  busy = true;
  renderButton();
  try {
    const { provider, hash } = await payWith(wallet.provider);
    showTx(hash);
    say(t("sent"));
    await waitForReceipt(provider, hash, t, 1500);
    say(t("mined"));
    await refresh();
  } catch (error) {
    say("");
    fail(explain(error));
    busy = false;
    renderButton();
  }
});

tick();
setInterval(tick, 1000);
follow();
