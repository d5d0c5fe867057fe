// The subscription page's script, for a cancelled token_pull subscription that is still open on
// chain: "Cancel on chain" sends cancel(id) to the Subscriptions contract, "Revoke the allowance"
// sends approve(contract, 0) to the token, each through an injected EIP-1193 wallet found by
// EIP-6963 (window.ethereum as fallback). Plain JavaScript, served same-origin; no third-party code.
import { encodeApprove, encodeCancel } from "./abi.js";
import { discoverWallets, explain, hex, waitForReceipt, WalletError } from "./injected-wallets.js";
import { message } from "./i18n.js";

const data = JSON.parse(document.getElementById("subscription-data").textContent);
// The page's language and its catalogue (i18n/messages/subscription.ts), written in by the server.
const t = (key, vars) => message(data.messages, data.locale, key, vars);
const $ = (id) => document.getElementById(id);
const el = {
  hint: $("cancel-hint"),
  cancel: $("cancel-onchain"),
  revoke: $("revoke"),
  message: $("cancel-message"),
  error: $("cancel-error"),
};

const say = (text) => (el.message.textContent = text);
const fail = (text) => (el.error.textContent = text);
const same = (a, b) => String(a).toLowerCase() === String(b).toLowerCase();

// ---- Wallet discovery (EIP-6963, window.ethereum as fallback) --------------------------------
// The first wallet found; with none after the wait, say how to cancel without one.
let wallet;
let busy = false;
discoverWallets(
  (wallets, final) => {
    const first = wallets.values().next().value;
    wallet ??= first && { name: first.info.name, provider: first.provider };
    if (wallet) ready();
    else if (final) el.hint.textContent = t("wallet_none");
  },
  400,
  t("wallet_default_name"),
);

function ready() {
  el.hint.textContent = t("wallet_ready", { name: wallet.name });
  el.cancel.disabled = busy;
  el.revoke.disabled = busy;
}

// ---- Calls through the wallet ----------------------------------------------------------------
async function ensureChain(provider) {
  if (BigInt(await provider.request({ method: "eth_chainId" })) === BigInt(data.chainId)) return;
  say(t("wallet_switching", { network: data.chainName }));
  try {
    await provider.request({
      method: "wallet_switchEthereumChain",
      params: [{ chainId: hex(data.chainId) }],
    });
  } catch {
    throw new WalletError(t("wrong_network", { network: data.chainName, chainId: data.chainId }));
  }
  if (BigInt(await provider.request({ method: "eth_chainId" })) !== BigInt(data.chainId)) {
    throw new WalletError(t("still_wrong_network", { network: data.chainName, chainId: data.chainId }));
  }
}

async function connect() {
  const provider = wallet.provider;
  say(t("wallet_approve_connection"));
  const accounts = await provider.request({ method: "eth_requestAccounts" });
  const from = accounts && accounts[0];
  if (!from) throw new WalletError(t("wallet_no_account"));
  await ensureChain(provider);
  return { provider, from };
}

/** cancel(id) for each open on-chain subscription this account may cancel (its customer, or the merchant). */
async function cancelOnChain() {
  const { provider, from } = await connect();
  const mine = data.open.filter((s) => same(s.customer, from) || same(data.merchant, from));
  if (mine.length === 0) {
    const customers = new Intl.ListFormat(data.locale, { type: "disjunction" }).format(
      data.open.map((s) => s.customer),
    );
    throw new WalletError(t("not_subscriber", { account: from, customers }));
  }
  for (const s of mine) {
    say(t("confirm_cancel", { id: s.id }));
    const hash = await provider.request({
      method: "eth_sendTransaction",
      params: [{ from, to: data.contract, data: encodeCancel(s.id) }],
    });
    say(t("cancelling", { hash }));
    await waitForReceipt(provider, hash, t);
  }
  return t("cancelled_on_chain");
}

/** approve(contract, 0) on the token: the contract can pull nothing more from this account. */
async function revokeAllowance() {
  const { provider, from } = await connect();
  say(t("confirm_revoke", { contract: data.contract }));
  const hash = await provider.request({
    method: "eth_sendTransaction",
    params: [{ from, to: data.token, data: encodeApprove(data.contract, 0n) }],
  });
  say(t("revoking", { hash }));
  await waitForReceipt(provider, hash, t);
  return t("revoked", { account: from });
}

for (const [button, action] of [
  [el.cancel, cancelOnChain],
  [el.revoke, revokeAllowance],
]) {
  button.addEventListener("click", async () => {
    if (!wallet || busy) return;
    busy = true;
    el.cancel.disabled = el.revoke.disabled = true;
    fail("");
    try {
      say(await action());
    } catch (error) {
      say("");
      fail(explain(error, t));
    } finally {
      busy = false;
      el.cancel.disabled = el.revoke.disabled = false;
    }
  });
}
