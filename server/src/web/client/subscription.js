// The subscription page's script, for a cancelled token_pull subscription that is still open on
// chain: "Cancel on chain" sends cancel(id) to the Subscriptions contract, "Revoke the allowance"
// sends approve(contract, 0) to the token, each through an injected EIP-1193 wallet found by
// EIP-6963 (window.ethereum as fallback). Plain JavaScript, served same-origin; no third-party code.
import { encodeApprove, encodeCancel } from "./abi.js";

const data = JSON.parse(document.getElementById("subscription-data").textContent);
const $ = (id) => document.getElementById(id);
const el = {
  hint: $("cancel-hint"),
  cancel: $("cancel-onchain"),
  revoke: $("revoke"),
  message: $("cancel-message"),
  error: $("cancel-error"),
};

class PageError extends Error {}
const hex = (n) => "0x" + BigInt(n).toString(16);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const say = (text) => (el.message.textContent = text);
const fail = (text) => (el.error.textContent = text);
const same = (a, b) => String(a).toLowerCase() === String(b).toLowerCase();

// ---- Wallet discovery (EIP-6963, window.ethereum as fallback) --------------------------------
let wallet;
let busy = false;
window.addEventListener("eip6963:announceProvider", (event) => {
  const detail = event.detail;
  if (wallet || !detail || !detail.info || !detail.provider) return;
  if (typeof detail.provider.request !== "function") return;
  wallet = { name: String(detail.info.name || "browser wallet"), provider: detail.provider };
  ready();
});
window.dispatchEvent(new Event("eip6963:requestProvider"));
setTimeout(() => {
  if (!wallet && window.ethereum && typeof window.ethereum.request === "function") {
    wallet = { name: "browser wallet", provider: window.ethereum };
  }
  if (wallet) ready();
  else
    el.hint.textContent =
      "No wallet extension found in this browser. Call the function above from the wallet that subscribed.";
}, 400);

function ready() {
  el.hint.textContent =
    "With " +
    wallet.name +
    ": connect the account that subscribed, and confirm the transaction in the wallet.";
  el.cancel.disabled = busy;
  el.revoke.disabled = busy;
}

// ---- Calls through the wallet ----------------------------------------------------------------
function explain(error) {
  if (error instanceof PageError) return error.message;
  const code = error && (error.code ?? (error.data && error.data.code));
  const text = String((error && (error.message || error.reason)) || error);
  if (code === 4001 || /user (rejected|denied|cancel)/i.test(text))
    return "You declined the request in your wallet. Nothing was sent.";
  if (code === -32002)
    return "Your wallet already has a request open: open the wallet, finish or dismiss it, then try again.";
  return "Your wallet reported an error: " + text.slice(0, 300);
}

async function ensureChain(provider) {
  if (BigInt(await provider.request({ method: "eth_chainId" })) === BigInt(data.chainId)) return;
  say("Asking your wallet to switch to " + data.chainName + "…");
  try {
    await provider.request({
      method: "wallet_switchEthereumChain",
      params: [{ chainId: hex(data.chainId) }],
    });
  } catch {
    throw new PageError(
      "Wrong network: switch your wallet to " +
        data.chainName +
        " (chain id " +
        data.chainId +
        "), then try again.",
    );
  }
  if (BigInt(await provider.request({ method: "eth_chainId" })) !== BigInt(data.chainId)) {
    throw new PageError(
      "Your wallet is still on another network; switch it to " +
        data.chainName +
        " (chain id " +
        data.chainId +
        ").",
    );
  }
}

async function waitForReceipt(provider, hash) {
  for (;;) {
    const receipt = await provider.request({ method: "eth_getTransactionReceipt", params: [hash] });
    if (receipt && receipt.blockNumber) {
      if (receipt.status !== "0x1")
        throw new PageError("The transaction " + hash + " failed on chain (it was reverted).");
      return receipt;
    }
    await sleep(1000);
  }
}

async function connect() {
  const provider = wallet.provider;
  say("Waiting for your wallet: approve the connection…");
  const accounts = await provider.request({ method: "eth_requestAccounts" });
  const from = accounts && accounts[0];
  if (!from) throw new PageError("Your wallet shared no account with this page.");
  await ensureChain(provider);
  return { provider, from };
}

/** cancel(id) for each open on-chain subscription this account may cancel (its customer, or the merchant). */
async function cancelOnChain() {
  const { provider, from } = await connect();
  const mine = data.open.filter((s) => same(s.customer, from) || same(data.merchant, from));
  if (mine.length === 0) {
    throw new PageError(
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
