// The subscription page's script, for a cancelled token_pull subscription that is still open on
// chain: "Cancel on chain" sends cancel(id) to the Subscriptions contract, "Revoke the allowance"
// sends approve(contract, 0) to the token, each through an injected EIP-1193 wallet found by
// EIP-6963 (window.ethereum as fallback). Plain JavaScript, served same-origin; no third-party code.
import { encodeApprove, encodeCancel } from "./abi.js";
import { discoverWallets, explain, hex, waitForReceipt, WalletError } from "./injected-wallets.js";

const data = JSON.parse(document.getElementById("subscription-data").textContent);
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
discoverWallets((wallets, final) => {
  const first = wallets.values().next().value;
  wallet ??= first && { name: first.info.name, provider: first.provider };
  if (wallet) ready();
  else if (final)
    el.hint.textContent =
      "No wallet extension found in this browser. Call the function above from the wallet that subscribed.";
});

function ready() {
  el.hint.textContent =
    "With " +
    wallet.name +
    ": connect the account that subscribed, and confirm the transaction in the wallet.";
  el.cancel.disabled = busy;
  el.revoke.disabled = busy;
}

// ---- Calls through the wallet ----------------------------------------------------------------
async function ensureChain(provider) {
  if (BigInt(await provider.request({ method: "eth_chainId" })) === BigInt(data.chainId)) return;
  say("Asking your wallet to switch to " + data.chainName + "…");
  try {
    await provider.request({
      method: "wallet_switchEthereumChain",
      params: [{ chainId: hex(data.chainId) }],
    });
  } catch {
    throw new WalletError(
      "Wrong network: switch your wallet to " +
        data.chainName +
        " (chain id " +
        data.chainId +
        "), then try again.",
    );
  }
  if (BigInt(await provider.request({ method: "eth_chainId" })) !== BigInt(data.chainId)) {
    throw new WalletError(
      "Your wallet is still on another network; switch it to " +
        data.chainName +
        " (chain id " +
        data.chainId +
        ").",
    );
  }
}

async function connect() {
  const provider = wallet.provider;
  say("Waiting for your wallet: approve the connection…");
  const accounts = await provider.request({ method: "eth_requestAccounts" });
  const from = accounts && accounts[0];
  if (!from) throw new WalletError("Your wallet shared no account with this page.");
  await ensureChain(provider);
  return { provider, from };
}

/** cancel(id) for each open on-chain subscription this account may cancel (its customer, or the merchant). */
async function cancelOnChain() {
  const { provider, from } = await connect();
  const mine = data.open.filter((s) => same(s.customer, from) || same(data.merchant, from));
  if (mine.length === 0) {
    throw new WalletError(
      "The account " +
        from +
        " did not make this subscription: connect " +
        data.open.map((s) => s.customer).join(" or ") +
        " (the customer) and try again.",
    );
  }
  for (const s of mine) {
    say("Confirm cancel(" + s.id + ") in your wallet…");
    const hash = await provider.request({
      method: "eth_sendTransaction",
      params: [{ from, to: data.contract, data: encodeCancel(s.id) }],
    });
    say("Cancelling on chain: waiting for " + hash + " to be mined…");
    await waitForReceipt(provider, hash);
  }
  return "Cancelled on chain: nobody can collect this subscription any more.";
}

/** approve(contract, 0) on the token: the contract can pull nothing more from this account. */
async function revokeAllowance() {
  const { provider, from } = await connect();
  say("Confirm approve(" + data.contract + ", 0) on the token in your wallet…");
  const hash = await provider.request({
    method: "eth_sendTransaction",
    params: [{ from, to: data.token, data: encodeApprove(data.contract, 0n) }],
  });
  say("Revoking: waiting for " + hash + " to be mined…");
  await waitForReceipt(provider, hash);
  return "Allowance revoked: the subscription contract can take nothing more from " + from + ".";
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
      fail(explain(error));
    } finally {
      busy = false;
      el.cancel.disabled = el.revoke.disabled = false;
    }
  });
}
