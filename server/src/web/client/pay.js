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

const data = JSON.parse(document.getElementById("pay-data").textContent);
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
  el.countdown.textContent =
    String(Math.floor(left / 60)).padStart(2, "0") + ":" + String(left % 60).padStart(2, "0");
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

let redirectTimer;
function render(state) {
  status = state.status;
  setText(el.status, state.status);
  el.status.dataset.status = state.status;
  el.state.dataset.status = state.status;
  el.state.dataset.tone = state.tone;
  setText($("state-title"), state.title);
  setText($("state-detail"), state.detail);
  $("progress-row").hidden = !state.confirmations_text;
  const progress = $("progress");
  progress.max = state.required_confirmations;
  progress.value = Math.min(state.confirmations, state.required_confirmations);
  setText(el.confirmations, state.confirmations_text);
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
    const due = state.remaining + " " + data.symbol;
    setText($("send-amount"), due);
    setText($("amount"), due);
    $("copy-amount").dataset.copy = state.remaining;
    setText($("amount-label"), partial ? "Still to pay" : "Amount");
    setText($("send-hint").firstChild, partial ? "Send the remaining " : "Send exactly ");
    $("open-wallet").href = state.uri;
    setText($("uri"), state.uri);
    const src = "/order/" + data.id + "/qr.svg?due=" + state.remaining_units;
    const qr = $("qr");
    if (qr.getAttribute("src") !== src) {
      qr.src = src;
      qr.alt = "QR code: send " + due + " to " + data.address + " on " + data.chainName;
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
      note.textContent = "Returning in " + left + " s…";
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
  label.textContent = done ? "Copied" : "Select";
  if (done) button.dataset.copied = "";
  setTimeout(() => {
    label.textContent = "Copy";
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
      el.hint.textContent =
        "No wallet extension found in this browser. Scan the QR code with a phone wallet, or send from any wallet or exchange to the address above.";
      el.button.disabled = true;
    }
    return;
  }
  if (!chosen || !wallets.has(chosen)) chosen = list[0].info.uuid;
  el.hint.textContent =
    "Pay " +
    data.expected +
    " " +
    data.symbol +
    " from a wallet in this browser. You confirm every step in the wallet.";
  el.choice.replaceChildren();
  el.choice.hidden = list.length < 2;
  if (list.length > 1) {
    const fieldset = document.createElement("fieldset");
    fieldset.className = "wallet-choice";
    const legend = document.createElement("legend");
    legend.textContent = "Choose a wallet";
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
    document.createTextNode(wallet ? "Pay with " + wallet.info.name : "Pay with browser wallet"),
  );
  el.button.disabled = busy || !wallet || status !== "pending";
}

// A wallet may announce itself at once, during discoverWallets: the Map comes with each call.
discoverWallets((found, final) => {
  wallets = found;
  renderWallets(final);
});

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
  explainWallet(error, (text) =>
    /insufficient funds/i.test(text)
      ? "Insufficient funds: the account in your wallet cannot cover " +
        data.expected +
        " " +
        data.symbol +
        " plus the network fee."
      : undefined,
  );

async function ensureChain(provider) {
  const current = BigInt(await provider.request({ method: "eth_chainId" }));
  if (current === BigInt(data.chainId)) return;
  say("Asking your wallet to switch to " + data.chainName + "…");
  try {
    await provider.request({
      method: "wallet_switchEthereumChain",
      params: [{ chainId: hex(data.chainId) }],
    });
  } catch (error) {
    const code = error && error.code;
    if (code === 4902) {
      throw new WalletError(
        "Your wallet does not know " +
          data.chainName +
          " (chain id " +
          data.chainId +
          "). Add that network to your wallet, then try again.",
      );
    }
    throw new WalletError(
      "Wrong network: this order is paid on " +
        data.chainName +
        " (chain id " +
        data.chainId +
        "), and your wallet is on chain id " +
        current +
        ". Switch networks in your wallet, then try again.",
    );
  }
  const now = BigInt(await provider.request({ method: "eth_chainId" }));
  if (now !== BigInt(data.chainId)) {
    throw new WalletError(
      "Wrong network: your wallet is still on chain id " +
        now +
        "; switch it to " +
        data.chainName +
        " (chain id " +
        data.chainId +
        ") and try again.",
    );
  }
}

async function payWith(provider) {
  el.error.textContent = "";
  say("Waiting for your wallet: approve the connection…");
  const accounts = await provider.request({ method: "eth_requestAccounts" });
  const from = accounts && accounts[0];
  if (!from) throw new WalletError("Your wallet shared no account with this page.");
  await ensureChain(provider);
  const amount = BigInt(data.amount);

  if (!data.token) {
    const balance = BigInt(await provider.request({ method: "eth_getBalance", params: [from, "latest"] }));
    if (balance < amount) {
      throw new WalletError(
        "Insufficient funds: your account holds " +
          formatUnits(balance, 18) +
          " ETH, and this order needs " +
          data.expected +
          " ETH plus the network fee.",
      );
    }
    say("Confirm the payment of " + data.expected + " ETH in your wallet…");
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
      "Insufficient funds: your account holds " +
        formatUnits(balance, data.decimals) +
        " " +
        data.symbol +
        ", and this order needs " +
        data.expected +
        " " +
        data.symbol +
        ".",
    );
  }
  const allowance = decodeUint(await call(data.token, encodeAllowance(from, data.contract)));
  if (allowance < amount) {
    say(
      "Step 1 of 2: allow the payment contract to take " +
        data.expected +
        " " +
        data.symbol +
        " (confirm in your wallet)…",
    );
    const approval = await provider.request({
      method: "eth_sendTransaction",
      params: [{ from, to: data.token, data: encodeApprove(data.contract, amount) }],
    });
    say("Step 1 of 2: waiting for the approval " + approval + " to be mined…");
    await waitForReceipt(provider, approval, 1500);
    say("Step 2 of 2: confirm the payment of " + data.expected + " " + data.symbol + " in your wallet…");
  } else {
    say("Confirm the payment of " + data.expected + " " + data.symbol + " in your wallet…");
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
    say("Payment sent. Waiting for the network to confirm it…");
    await waitForReceipt(provider, hash, 1500);
    say("Payment mined. This page updates by itself when the shop sees it.");
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
