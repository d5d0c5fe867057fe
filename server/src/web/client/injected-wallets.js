// What the payment page (pay.js) and the subscription page (subscription.js) share about browser
// wallets: finding them (EIP-6963, window.ethereum as fallback), waiting for a receipt, and a
// wallet's errors in words. Plain JavaScript, served same-origin like abi.js; no third-party code.
// The words come from the page's catalogue (i18n/messages/wallet.ts): `t(key, vars)` writes one.

/** A failure the page explains itself: its message is shown as it is. */
export class WalletError extends Error {}

export const hex = (n) => "0x" + BigInt(n).toString(16);

/**
 * Listens for wallets announcing themselves (EIP-6963) and asks them to. `onChange(wallets, final)`
 * is called with the Map (uuid → { info: { uuid, name, icon }, provider }) after each new wallet,
 * and once more, with `final` true, after `fallbackMs`: by then, with no wallet announced, an
 * EIP-1193 window.ethereum is taken as `name` ("browser wallet"). Returns the Map, which keeps filling.
 */
export function discoverWallets(onChange, fallbackMs = 400, name = "browser wallet") {
  const wallets = new Map();
  window.addEventListener("eip6963:announceProvider", (event) => {
    const detail = event.detail;
    if (!detail || !detail.info || typeof detail.info.uuid !== "string") return;
    if (!detail.provider || typeof detail.provider.request !== "function") return;
    wallets.set(detail.info.uuid, {
      info: {
        uuid: detail.info.uuid,
        name: String(detail.info.name || name),
        icon: detail.info.icon,
      },
      provider: detail.provider,
    });
    onChange(wallets, false);
  });
  window.dispatchEvent(new Event("eip6963:requestProvider"));
  setTimeout(() => {
    if (wallets.size === 0 && window.ethereum && typeof window.ethereum.request === "function") {
      wallets.set("injected", {
        info: { uuid: "injected", name },
        provider: window.ethereum,
      });
    }
    onChange(wallets, true);
  }, fallbackMs);
  return wallets;
}

/** The receipt of `hash`, polled every `everyMs`; a reverted transaction is a WalletError. */
export async function waitForReceipt(provider, hash, t, everyMs = 1000) {
  for (;;) {
    const receipt = await provider.request({ method: "eth_getTransactionReceipt", params: [hash] });
    if (receipt && receipt.blockNumber) {
      if (receipt.status !== "0x1") throw new WalletError(t("wallet_reverted", { hash }));
      return receipt;
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * A wallet's error in words: the page's own (WalletError), a refusal, a busy or locked wallet,
 * what `special(text)` says of it (a page's own reading of a wallet's message), or what it said.
 */
export function explain(error, t, special = () => undefined) {
  if (error instanceof WalletError) return error.message;
  const code = error && (error.code ?? (error.data && error.data.code));
  const text = String((error && (error.message || error.reason)) || error);
  if (code === 4001 || /user (rejected|denied|cancel)/i.test(text)) {
    return t("wallet_declined");
  }
  if (code === -32002) return t("wallet_busy");
  if (code === 4100) return t("wallet_denied");
  return special(text) ?? t("wallet_error", { text: text.slice(0, 300) });
}
