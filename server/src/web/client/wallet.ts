/// <reference lib="dom" />
// The browser wallet for the console: an EIP-1193 provider found by EIP-6963 (window.ethereum
// as a fallback), the account, the chain check and the words for a wallet's errors.

export interface Eip1193 {
  request(args: { method: string; params?: unknown[] }): Promise<unknown>;
}

interface Announced {
  info: { uuid: string; name: string };
  provider: Eip1193;
}

const found = new Map<string, Announced>();
window.addEventListener("eip6963:announceProvider", (event) => {
  const detail = (event as CustomEvent<Announced>).detail;
  if (detail?.info?.uuid && typeof detail.provider?.request === "function")
    found.set(detail.info.uuid, detail);
});
window.dispatchEvent(new Event("eip6963:requestProvider"));

/** The first wallet that announced itself, or window.ethereum; waits up to `ms` for one. */
export async function findWallet(ms = 400): Promise<{ name: string; provider: Eip1193 } | undefined> {
  const deadline = Date.now() + ms;
  while (found.size === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const first = found.values().next().value as Announced | undefined;
  if (first) return { name: first.info.name, provider: first.provider };
  const injected = (window as unknown as { ethereum?: Eip1193 }).ethereum;
  return injected && typeof injected.request === "function"
    ? { name: "browser wallet", provider: injected }
    : undefined;
}

export class WalletError extends Error {}

export const hex = (n: bigint | number) => `0x${BigInt(n).toString(16)}`;

export async function account(provider: Eip1193): Promise<`0x${string}`> {
  const accounts = (await provider.request({ method: "eth_requestAccounts" })) as string[];
  const first = accounts?.[0];
  if (!first) throw new WalletError("Your wallet shared no account with this page.");
  return first as `0x${string}`;
}

export async function chainIdOf(provider: Eip1193): Promise<number> {
  return Number(BigInt((await provider.request({ method: "eth_chainId" })) as string));
}

/** Asks the wallet to switch to `chainId`; a refusal becomes a WalletError saying what to do. */
export async function switchChain(provider: Eip1193, chainId: number, name: string): Promise<void> {
  try {
    await provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId: hex(chainId) }] });
  } catch (error) {
    const code = (error as { code?: number }).code;
    if (code === 4902) {
      throw new WalletError(
        `Your wallet does not know ${name} (chain id ${chainId}). Add that network, then try again.`,
      );
    }
    throw new WalletError(
      `Your wallet stayed on another network. Switch it to ${name} (chain id ${chainId}) and try again.`,
    );
  }
  if ((await chainIdOf(provider)) !== chainId) {
    throw new WalletError(
      `Your wallet is still on another network; switch it to ${name} (chain id ${chainId}).`,
    );
  }
}

export async function waitForReceipt(
  provider: Eip1193,
  hash: string,
): Promise<{ status: string; blockNumber: string }> {
  for (;;) {
    const receipt = (await provider.request({ method: "eth_getTransactionReceipt", params: [hash] })) as {
      status: string;
      blockNumber: string;
    } | null;
    if (receipt?.blockNumber) {
      if (receipt.status !== "0x1")
        throw new WalletError(`The transaction ${hash} failed on chain (it was reverted).`);
      return receipt;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** A wallet's error in words: a refusal, a busy wallet, or what it said. */
export function explain(error: unknown): string {
  if (error instanceof WalletError) return error.message;
  const e = error as { code?: number; message?: string; data?: { code?: number } } | undefined;
  const code = e?.code ?? e?.data?.code;
  const text = String(e?.message ?? error);
  if (code === 4001 || /user (rejected|denied|cancel)/i.test(text)) {
    return "You declined the request in your wallet. Nothing was signed or sent.";
  }
  if (code === -32002) return "Your wallet already has a request open: finish or dismiss it, then try again.";
  if (code === 4100)
    return "The wallet did not allow this page to use your account. Unlock it and try again.";
  return `Your wallet reported an error: ${text.slice(0, 300)}`;
}
