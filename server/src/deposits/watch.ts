import { BaseError, BlockNotFoundError, numberToHex, RpcError } from "viem";
import type { BlockRef } from "../indexer/types.ts";

/**
 * How the deposit watch finds ETH that reaches a deposit address without a transaction to it (an
 * internal transfer from a contract wallet or an exchange's batch contract):
 *  - `block_traces`: the node's `debug_traceBlockByHash` with geth's `callTracer` (geth, reth,
 *    erigon, nethermind, most hosted providers' debug namespace): every value-moving call frame;
 *  - `trace_block`: the OpenEthereum-style `trace_block` (erigon, nethermind, reth): the same;
 *  - `rotation`: no traces; each block reads one slice of the open addresses' balances, so that
 *    every one is read at least every WATCH_FULL_CYCLE_SECONDS, and the addresses near their
 *    order's expiry every block.
 * Direct transfers (a transaction whose `to` is the address) are found in every mode from the
 * block's own transactions.
 */
export type WatchMode = "block_traces" | "trace_block" | "rotation";

type Request = <T>(method: string, params: unknown[]) => Promise<T>;

/** A block with its transactions, as eth_getBlockByHash(hash, true) returns it. */
export interface FullBlock {
  number: string;
  hash: string;
  parentHash: string;
  timestamp: string;
  transactions: ({ hash: string; to: string | null; value?: string } | string)[];
  /** EIP-4895 withdrawals (amounts in gwei): ETH credited without a transaction. */
  withdrawals?: { address: string; amount: string }[];
}

/** What one block moved ETH to: the recipients, and the last direct transfer's hash per recipient. */
export interface BlockContents {
  ref: BlockRef;
  /** Every address the block credited with ETH (lowercase): direct transfers, withdrawals, traces. */
  recipients: Set<string>;
  /** address → the hash of the last transaction in the block that sent it ETH directly. */
  direct: Map<string, string>;
  /**
   * address → the wei the block is known to have credited it: its value-moving call frames in a
   * traces mode (every credit, the top-level call included; a reverted frame moved nothing), the
   * values of the transactions sent to it in the rotation (internal transfers unknown), and its
   * withdrawals. A balance that rose by exactly these amounts since the stored one is dated to
   * these blocks without reading before the step (watch.ts `creditsExplain`).
   */
  credits: Map<string, bigint>;
}

const credit = (into: Map<string, bigint>, address: string, wei: bigint) =>
  into.set(address, (into.get(address) ?? 0n) + wei);

export const refOf = (raw: FullBlock): BlockRef => ({
  number: BigInt(raw.number),
  hash: raw.hash,
  parentHash: raw.parentHash,
  timestamp: new Date(Number(BigInt(raw.timestamp)) * 1000),
});

/** A JSON-RPC error answer (the node refused the method or its tracer), not a transport failure. */
export function isRefusal(error: unknown): boolean {
  return error instanceof BaseError && error.walk((e) => e instanceof RpcError) instanceof RpcError;
}

/**
 * Which mode the node allows, asked once at start-up with the newest block: `debug_traceBlockByHash`
 * with `callTracer`, else `trace_block`, else the rotation. A refusal (an error answer) means "not
 * offered"; a transport failure is thrown (the indexer retries).
 */
export async function detectWatchMode(request: Request, block: BlockRef): Promise<WatchMode> {
  try {
    const out = await request<unknown>("debug_traceBlockByHash", [block.hash, { tracer: "callTracer" }]);
    if (Array.isArray(out)) return "block_traces";
  } catch (error) {
    if (!isRefusal(error)) throw error;
  }
  try {
    const out = await request<unknown>("trace_block", [numberToHex(block.number)]);
    if (Array.isArray(out)) return "trace_block";
  } catch (error) {
    if (!isRefusal(error)) throw error;
  }
  return "rotation";
}

interface CallFrame {
  type?: string;
  to?: string;
  value?: string;
  error?: string;
  calls?: CallFrame[];
}

/**
 * Value credited by a callTracer frame tree (a reverted frame moved nothing, nor did its
 * children). DELEGATECALL and CALLCODE frames show their caller's value but move none to `to`.
 */
function collectFrames(frame: CallFrame | undefined, into: Map<string, bigint>): void {
  if (!frame || frame.error) return;
  const type = (frame.type ?? "CALL").toUpperCase();
  const moves = type !== "DELEGATECALL" && type !== "STATICCALL" && type !== "CALLCODE";
  if (moves && frame.to && frame.value && BigInt(frame.value) > 0n)
    credit(into, frame.to.toLowerCase(), BigInt(frame.value));
  for (const child of frame.calls ?? []) collectFrames(child, into);
}

interface ParityTrace {
  type: string;
  error?: string;
  action: {
    callType?: string;
    to?: string;
    value?: string;
    refundAddress?: string;
    balance?: string;
    author?: string;
  };
  result?: { address?: string } | null;
}

/**
 * Value credited in `trace_block` output (calls, creations, self-destructs, rewards). A delegate
 * or code call (`callType`) moves nothing to `to`; a frame under a reverted one has its own error.
 */
function collectParity(traces: readonly ParityTrace[], into: Map<string, bigint>): void {
  for (const t of traces) {
    if (t.error) continue;
    const a = t.action;
    const wei = (v: string | undefined) => (v === undefined ? 0n : BigInt(v));
    const moves = a.callType === undefined || a.callType === "call";
    if (t.type === "call" && moves && a.to && wei(a.value) > 0n)
      credit(into, a.to.toLowerCase(), wei(a.value));
    else if (t.type === "create" && t.result?.address && wei(a.value) > 0n)
      credit(into, t.result.address.toLowerCase(), wei(a.value));
    else if (t.type === "suicide" && a.refundAddress && wei(a.balance) > 0n)
      credit(into, a.refundAddress.toLowerCase(), wei(a.balance));
    else if (t.type === "reward" && a.author && wei(a.value) > 0n)
      credit(into, a.author.toLowerCase(), wei(a.value));
  }
}

/**
 * One block's ETH recipients: its transactions (one eth_getBlockByHash with full transactions,
 * unless the follower's copy is given) and withdrawals, and in a traces mode its internal transfers (one trace call). A block the node
 * no longer has is a retryable BlockNotFoundError.
 */
export async function readBlockContents(
  request: Request,
  block: BlockRef,
  mode: WatchMode,
  /** The block with its transactions, when the indexer's follower already fetched it. */
  known?: FullBlock,
): Promise<BlockContents> {
  const [raw, traced] = await Promise.all([
    known?.hash === block.hash && Array.isArray(known.transactions)
      ? Promise.resolve(known)
      : request<FullBlock | null>("eth_getBlockByHash", [block.hash, true]),
    mode === "block_traces"
      ? request<{ result?: CallFrame }[] | null>("debug_traceBlockByHash", [
          block.hash,
          { tracer: "callTracer" },
        ])
      : mode === "trace_block"
        ? request<ParityTrace[] | null>("trace_block", [numberToHex(block.number)])
        : Promise.resolve(undefined),
  ]);
  if (!raw) throw new BlockNotFoundError({ blockHash: block.hash as `0x${string}` });
  return contentsOf(block, raw, mode, traced);
}

/** What a block credited: its transactions and withdrawals, and in a traces mode its traces. */
export function contentsOf(block: BlockRef, raw: FullBlock, mode: WatchMode, traced: unknown): BlockContents {
  const credits = new Map<string, bigint>();
  const direct = new Map<string, string>();
  for (const t of raw.transactions) {
    if (typeof t === "string" || !t.to || BigInt(t.value ?? "0x0") === 0n) continue;
    const to = t.to.toLowerCase();
    direct.set(to, t.hash);
    // In a traces mode the transaction's own call frame says whether its value arrived.
    if (mode === "rotation") credit(credits, to, BigInt(t.value ?? "0x0"));
  }
  for (const w of raw.withdrawals ?? [])
    if (BigInt(w.amount) > 0n) credit(credits, w.address.toLowerCase(), BigInt(w.amount) * 1_000_000_000n);
  if (mode === "block_traces") {
    if (!traced) throw new BlockNotFoundError({ blockHash: block.hash as `0x${string}` });
    for (const tx of traced as { result?: CallFrame }[]) collectFrames(tx.result, credits);
  } else if (mode === "trace_block") {
    if (!traced) throw new BlockNotFoundError({ blockNumber: block.number });
    collectParity(traced as ParityTrace[], credits);
  }
  const recipients = new Set<string>([...credits.keys(), ...direct.keys()]);
  return { ref: block, recipients, direct, credits };
}

/**
 * Whether an address's balance at the step's end is its stored balance plus exactly what the
 * step's blocks are known to have credited it (no sweep in the step): then each credit is a
 * change in its own block, and nothing came before the step. A deposit address's balance only
 * rises between sweeps and every sweep is recorded, so the balance before the step is at least
 * the stored one and each known credit arrived; the sum can only match when nothing else did.
 * Returns the balance after each credited block, in block order, or undefined.
 */
export function creditsExplain(
  address: string,
  stored: bigint,
  end: bigint,
  blocks: readonly BlockContents[],
): { block: bigint; balance: bigint }[] | undefined {
  let running = stored;
  const out: { block: bigint; balance: bigint }[] = [];
  for (const c of [...blocks].sort((a, b) => (a.ref.number < b.ref.number ? -1 : 1))) {
    const wei = c.credits.get(address);
    if (wei === undefined || wei === 0n) continue;
    running += wei;
    out.push({ block: c.ref.number, balance: running });
  }
  return out.length > 0 && running === end ? out : undefined;
}

/**
 * The rotation's position over the open addresses (in address order): each call says how many
 * addresses are due, so that a full pass takes at most `cycleMs` of wall-clock time however fast
 * blocks come, and never fewer than `minSlice` (a chain with that few open addresses reads them
 * all every block: one Multicall3 call either way) nor more than `maxSlice` (one block's reads
 * stay bounded; where the cycle would need more, the pass takes longer, and `lastPassMs` says
 * so). The open count is taken again at each wrap.
 */
export function createRotation(
  cycleMs: number,
  minSlice: number,
  maxSlice: number,
  now: () => number = () => performance.now(),
) {
  let after = ""; // the last address read; "" = the start of a pass
  let lastAt: number | undefined;
  let open: number | undefined;
  let passStartedAt: number | undefined;
  let lastPassMs: number | undefined;
  return {
    /**
     * How many addresses to read now, and from where (`open` is asked at a pass's start);
     * `reserved` addresses are read beside the slice (the largest slice leaves room for them).
     */
    async due(count: () => Promise<number>, reserved = 0): Promise<{ after: string; limit: number }> {
      const t = now();
      if (open === undefined || after === "") {
        open = await count();
        if (passStartedAt !== undefined) lastPassMs = t - passStartedAt;
        passStartedAt = t;
      }
      const elapsed = lastAt === undefined ? 0 : t - lastAt;
      lastAt = t;
      const wanted = Math.max(minSlice, 1, Math.ceil((open * elapsed) / cycleMs));
      // Past the end of the pass, the slice comes back short and the next one starts over.
      return { after, limit: Math.min(wanted, Math.max(maxSlice - reserved, 1), open + 1) };
    },
    /** The slice that was read: the next one starts after its last address; a short one ends the pass. */
    advance(slice: readonly string[], limit: number): void {
      after = slice.length < limit ? "" : (slice.at(-1) ?? "");
    },
    /** The open count of the current pass (undefined before the first slice). */
    open: () => open,
    /** How long the last full pass took (undefined before one ended). */
    lastPassMs: () => lastPassMs,
  };
}
