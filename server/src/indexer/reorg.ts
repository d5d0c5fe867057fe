import type { BlockRef } from "./types.ts";

/**
 * The newest stored block the chain still has at its height (the common ancestor of our branch
 * and the node's), walking the stored window newest first. Undefined when no stored block
 * matches: the reorg reaches below the window, past finality.
 */
export async function findCommonAncestor(
  storedDescending: readonly BlockRef[],
  head: bigint,
  header: (blockNumber: bigint) => Promise<BlockRef>,
): Promise<BlockRef | undefined> {
  for (const block of storedDescending) {
    if (block.number > head) continue;
    if ((await header(block.number)).hash === block.hash) return block;
  }
  return undefined;
}

/**
 * Whether `child` builds on `parentHash`. Hardhat's `hardhat_mine` creates placeholder blocks
 * whose parentHash is zero; those carry no linkage to check, so only a real mismatch counts.
 */
export const ZERO_HASH = /^0x0{64}$/;
export const linked = (child: BlockRef, parentHash: string) =>
  child.parentHash === parentHash || ZERO_HASH.test(child.parentHash);
