import { linked, ZERO_HASH } from "./reorg.ts";
import type { BlockRef, Cursor, RawLog } from "./types.ts";

export interface RealtimeSyncOptions<E> {
  /** Blocks read per call (each needs its header). */
  batch: bigint;
  header(blockNumber: bigint): Promise<BlockRef>;
  headers(numbers: readonly bigint[]): Promise<Map<bigint, BlockRef>>;
  /** The logs of one block, by its hash (EIP-234; by number and checked where the provider lacks it). */
  getBlockLogs(block: BlockRef): Promise<RawLog[]>;
  decode(logs: RawLog[], known: readonly BlockRef[]): Promise<E[]>;
}

/** What one realtime read found. */
export type RealtimeRead<E> =
  | { type: "blocks"; blocks: BlockRef[]; events: E[] }
  /** The first new block does not build on our cursor: walk back to the common ancestor. */
  | { type: "reorg" }
  /** The chain moved while we read (a branch switch mid-read): read again. */
  | { type: "moved" };

/**
 * Realtime sync over unfinalized blocks: block by block from the cursor, each header checked
 * against its parent's hash, and each block's logs read by its hash, so the logs belong to exactly
 * the header we checked. A range query could answer from another branch, and a branch without
 * logs would go unnoticed.
 */
export function createRealtimeSync<E>(options: RealtimeSyncOptions<E>) {
  async function read(from: bigint, head: bigint, cursor: Cursor | undefined): Promise<RealtimeRead<E>> {
    const to = from + options.batch - 1n < head ? from + options.batch - 1n : head;
    const numbers: bigint[] = [];
    for (let n = from; n <= to; n++) numbers.push(n);
    const blockMap = await options.headers(numbers);
    const blocks = numbers.map((n) => blockMap.get(n) as BlockRef);
    const first = blocks[0];
    if (cursor && first) {
      // Without a parent hash to compare (placeholder blocks), ask the chain for our cursor block.
      const onOurChain = ZERO_HASH.test(first.parentHash)
        ? (await options.header(cursor.blockNumber)).hash === cursor.blockHash
        : first.parentHash === cursor.blockHash;
      if (!onOurChain) return { type: "reorg" };
    }
    for (let i = 1; i < blocks.length; i++) {
      const [child, parent] = [blocks[i], blocks[i - 1]];
      if (child && parent && !linked(child, parent.hash)) return { type: "moved" };
    }
    const perBlock = await Promise.all(
      blocks.map((block) =>
        options.getBlockLogs(block).catch(async (error: unknown) => {
          // A node that no longer knows the hash has moved to another branch: read again.
          if ((await options.header(block.number).catch(() => undefined))?.hash !== block.hash)
            return undefined;
          throw error;
        }),
      ),
    );
    if (perBlock.some((l) => l === undefined)) return { type: "moved" };
    const logs = perBlock.flatMap((l) => l ?? []);
    if (logs.some((l) => blockMap.get(BigInt(l.blockNumber))?.hash !== l.blockHash)) return { type: "moved" };
    return { type: "blocks", blocks, events: await options.decode(logs, blocks) };
  }

  return { read };
}
