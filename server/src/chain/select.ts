import { badRequest } from "../lib/errors.ts";

/**
 * The configured chain a request names, by name or decimal id (case and surrounding spaces ignored);
 * the first configured chain when `wanted` is unset. An unknown chain is a 400 `unsupported_chain`
 * that lists the configured ones.
 */
export function selectChain<C extends { name: string; chainId: bigint }>(
  chains: readonly C[],
  wanted: string | undefined,
): C {
  const first = chains[0];
  if (!first) throw new Error("selectChain: no chain configured");
  if (wanted === undefined) return first;
  const key = wanted.trim().toLowerCase();
  const chain = chains.find((c) => c.name === key || c.chainId.toString() === key);
  if (!chain) {
    const known = chains.map((c) => `${c.name} (${c.chainId})`).join(", ");
    throw badRequest(`chain ${wanted} is not configured here; use one of ${known}`, "unsupported_chain");
  }
  return chain;
}
