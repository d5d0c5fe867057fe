import { BlockNotFoundError, numberToHex, type PublicClient } from "viem";
import {
  unreachable,
  type ChainEvent,
  type DepositBalanceObserved,
  type DepositEvent,
  type DepositTokenForwarded,
  type DepositTransferObserved,
} from "../chain/events.ts";
import type { Db } from "../db/types.ts";
import { logPosition } from "../indexer/position.ts";
import { FatalIndexerError, readAtBlockHash } from "../indexer/rpc.ts";
import type { BlockReader, BlockRef, RawLog, Source } from "../indexer/types.ts";
import { DEPOSIT_TOKEN_FORWARDED_TOPIC, TRANSFER_TOPIC } from "./abi.ts";
import {
  addressesEndingBetween,
  countWatched,
  watchedAddresses,
  watchedDetails,
  watchedSlice,
  type WatchedAddress,
} from "./repository.ts";
import {
  createRotation,
  creditsExplain,
  detectWatchMode,
  isRefusal,
  readBlockContents,
  refOf,
  type BlockContents,
  type FullBlock,
  type WatchMode,
} from "./watch.ts";

/** Addresses per Multicall3 `aggregate3` call (≈ 8 M gas of cold `BALANCE`s, under the usual 50 M eth_call cap). */
export const BALANCES_PER_CALL = 2_000;

const word = (hex: string, at: number) => hex.slice(2 + at * 64, 2 + (at + 1) * 64);
const addressOf = (topicOrWord: string) => `0x${topicOrWord.slice(-40)}`.toLowerCase();
const topicOf = (address: string) => `0x${address.slice(2).toLowerCase().padStart(64, "0")}`;

export interface BalanceReaderOptions {
  db: Db;
  client: PublicClient;
  chainId: bigint;
  /** Multicall3 on this chain; without one, a JSON-RPC batch of eth_getBalance (one per address). */
  multicall3?: `0x${string}` | undefined;
  /** Sees every RPC request (benchmarks, tests). */
  onRequest?: (method: string, params: readonly unknown[]) => void;
  /** The address a step event takes ETH out of, and its block (default: `ethOutflowOf`). */
  outflowOf?: (event: ChainEvent) => { address: string; blockNumber: bigint } | undefined;
  /** WATCH_FULL_CYCLE_SECONDS: in the rotation, every open address is read at least this often (default 30). */
  fullCycleSeconds?: number;
  /**
   * How long an address stays watched after its order's expiry (DEPOSIT_WATCH_HOURS, in seconds),
   * to find the addresses near their order's expiry, read every block in the rotation (default 24 h).
   */
  watchAfterExpirySeconds?: number;
  /** A mode to use instead of asking the node at start-up (tests, benchmarks). */
  mode?: WatchMode;
  /** The rotation's smallest slice (default MIN_SLICE_ADDRESSES). */
  minSliceAddresses?: number;
  /** The rotation's largest slice (default BALANCES_PER_CALL: one Multicall3 call per block). */
  maxSliceAddresses?: number;
  /** The rotation's clock in ms (default performance.now; tests move it by hand). */
  clock?: () => number;
  /**
   * False: never read balances through eth_call's state override (BALANCE_READER_CODE), only
   * Multicall3 or eth_getBalance (tests of those paths). Default: tried first, dropped for good
   * when the node refuses it.
   */
  stateOverrides?: boolean;
  /** Called once when the node refused the state override (the reader falls back to Multicall3). */
  onOverridesRefused?: () => void;
}

/** The rotation's default full pass, WATCH_FULL_CYCLE_SECONDS. */
export const DEFAULT_FULL_CYCLE_SECONDS = 30;
/** In the rotation, addresses whose order expires within this many seconds are read every block... */
export const HOT_BEFORE_EXPIRY_SECONDS = 300;
/** ...and those whose order expired at most this many seconds ago. */
export const HOT_AFTER_EXPIRY_SECONDS = 120;
/**
 * The rotation reads at least this many addresses per block: a chain with no more open addresses
 * reads them all every block (a few hundred balances cost one Multicall3 call like one does).
 */
export const MIN_SLICE_ADDRESSES = 200;
/** Multicall3 calls sent at once (one HTTP batch of at most ≈ 2.5 MB; viem refuses a response over 10 MB). */
const CALLS_PER_WAVE = 4;

/** What /health says of a chain's deposit watch. */
export interface DepositWatchStatus {
  /** How internal transfers are found; `detecting` until the first block at the head is read. */
  mode: WatchMode | "detecting";
  fullCycleSeconds: number;
  /** Open addresses in the rotation's current pass (rotation only). */
  openAddresses?: number;
  /** How long the rotation's last full pass took, in seconds (rotation only, after one pass). */
  lastFullCycleSeconds?: number;
}

/**
 * The events that can take ETH out of a deposit address: a sweep (a PaymentReceived paid by the
 * address, `kind: "payment"`) and a DepositTokenForwarded (its sweep may carry the ETH too). Any
 * other event leaves a deposit address's balance alone: it has no code, so only a sweep empties it.
 */
export function ethOutflowOf(e: ChainEvent): { address: string; blockNumber: bigint } | undefined {
  switch (e.kind) {
    case "payment":
      return { address: e.counterparty.toLowerCase(), blockNumber: e.blockNumber };
    case "deposit_forwarded":
      return { address: e.address.toLowerCase(), blockNumber: e.blockNumber };
    case "withdrawal":
    case "refund":
    case "deposit_balance":
    case "deposit_transfer":
    case "token_subscribed":
    case "token_collected":
    case "token_cancelled":
      return undefined;
    default:
      return unreachable(e, "chain event");
  }
}

/** Balances of one address at the blocks read so far (block number → balance at its end). */
type Readings = Map<bigint, bigint>;

/**
 * The ETH watch of open deposit addresses (docs/deposits.md, "Detection"). Which addresses a step
 * reads, at its last block (by hash, EIP-1898, ⌈n / 2,000⌉ `eth_call`s to Multicall3's
 * `getEthBalance`):
 *  - at the head (realtime), what the step's blocks contain: the recipients of their transactions
 *    (one eth_getBlockByHash with transactions per block) and, where the node offers call traces,
 *    of their internal transfers (one trace call per block), matched against the open addresses
 *    in one indexed query; without traces, one rotating slice of the open addresses (so each is
 *    read at least every `fullCycleSeconds`) and those near their order's expiry; and the
 *    addresses a sweep in the step emptied. An address open forever costs its slice, nothing more.
 *  - in a historical chunk (final blocks, one read per thousands of blocks): every open address.
 *
 * Each change is then dated to its own block, exactly as a block-by-block follower would: a
 * deposit address has no code, so its balance only rises, except at a sweep (a step event,
 * `outflowOf`), which empties it, and every sweep is recorded. So from a block where the address
 * is known to hold its stored balance (the last read of it in this process, its newest
 * observation, or a block found by reading backwards, 1, 2, 4, … blocks before the step, until
 * the balance is the stored one), an equal balance means nothing happened, and a different one is
 * halved until each rise is pinned to its block. A sweep splits the range: the address is read
 * just before and at the sweep's block. Every probe block is one Multicall3 call for all the
 * addresses that probe it; the step's own blocks are read by hash, earlier ones by number. The
 * block where a balance rose gives the direct transfer's transaction hash, if there is one.
 */
export function depositBalanceReader(options: BalanceReaderOptions): BlockReader<ChainEvent> & {
  /** Balances of `addresses` at a block, by hash or by number (exposed for benchmarks). */
  /** Balances at a block: by number, by hash, or by hash with its number (the fallback for providers without EIP-1898). */
  balancesAt(
    addresses: readonly string[],
    block: string | bigint | { hash: string; number: bigint },
  ): Promise<bigint[]>;
  /** The watch's mode and rotation (the /health report). */
  status(): DepositWatchStatus;
} {
  const { client, multicall3, db } = options;
  const outflowOf = options.outflowOf ?? ethOutflowOf;
  const fullCycleSeconds = options.fullCycleSeconds ?? DEFAULT_FULL_CYCLE_SECONDS;
  const watchAfterExpiry = options.watchAfterExpirySeconds ?? 24 * 3600;
  const request = async <T>(method: string, params: unknown[]): Promise<T> => {
    options.onRequest?.(method, params);
    return (await client.request({ method, params } as never)) as T;
  };
  let mode: WatchMode | undefined = options.mode;
  const rotation = createRotation(
    fullCycleSeconds * 1000,
    options.minSliceAddresses ?? MIN_SLICE_ADDRESSES,
    options.maxSliceAddresses ?? BALANCES_PER_CALL,
    options.clock,
  );
  /**
   * address → a block at or before which every change of its balance is recorded (the last read
   * of it in this process that the cursor has passed). Only blocks before a step's first block
   * are trusted: a step read again (its transaction failed) or after a reorg starts at or below.
   */
  const checked = new Map<string, bigint>();
  let highest = -1n;
  /** Whether the node runs eth_call with a state override (the balance reader); undefined: not tried yet. */
  let overrides: boolean | undefined = options.stateOverrides === false ? false : undefined;

  async function balancesAt(
    addresses: readonly string[],
    block: string | bigint | { hash: string; number: bigint },
  ): Promise<bigint[]> {
    if (typeof block === "bigint") return readBalances(addresses, numberToHex(block));
    const hash = typeof block === "string" ? block : block.hash;
    // By hash: a block a reorg removed meanwhile is a retryable BlockNotFoundError.
    return readAtBlockHash(
      client,
      hash,
      () => readBalances(addresses, { blockHash: hash, requireCanonical: false }),
      typeof block === "string"
        ? undefined
        : { number: block.number, read: () => readBalances(addresses, numberToHex(block.number)) },
    );
  }

  async function readBalances(
    addresses: readonly string[],
    at: string | { blockHash: string; requireCanonical: boolean },
  ): Promise<bigint[]> {
    const batch = async (list: readonly string[]) =>
      (await Promise.all(list.map((a) => request<string>("eth_getBalance", [a, at])))).map((r) => BigInt(r));
    const out: bigint[] = [];
    if (!multicall3 && overrides === false) {
      for (let start = 0; start < addresses.length; start += BALANCES_PER_CALL * CALLS_PER_WAVE)
        out.push(...(await batch(addresses.slice(start, start + BALANCES_PER_CALL * CALLS_PER_WAVE))));
      return out;
    }
    const viaMulticall3 = async (slice: readonly string[]) => {
      if (!multicall3) return batch(slice);
      const data = encodeGetEthBalances(multicall3, slice);
      const result = await request<`0x${string}`>("eth_call", [{ to: multicall3, data }, at]);
      // No code answered (a block before Multicall3 was deployed): one eth_getBalance each.
      if (result === "0x") return batch(slice);
      return decodeGetEthBalances(result, slice.length);
    };
    const call = async (slice: readonly string[]) => {
      if (overrides === false) return viaMulticall3(slice);
      try {
        const out = await request<string>("eth_call", [
          { to: BALANCE_READER, data: packAddresses(slice) },
          at,
          { [BALANCE_READER]: { code: BALANCE_READER_CODE } },
        ]);
        // A node that ignores the override runs no code and answers "0x".
        if (out.length === 2 + slice.length * 64) {
          overrides = true;
          return decodeWords(out, slice.length);
        }
        if (overrides === true) throw new Error(`the balance reader returned ${out.length} characters`);
      } catch (error) {
        if (overrides === true || !isRefusal(error)) throw error;
      }
      // Refused or ignored on the first try: the node has no state overrides; Multicall3 from now on.
      const balances = await viaMulticall3(slice);
      overrides = false;
      options.onOverridesRefused?.();
      return balances;
    };
    // In waves of CALLS_PER_WAVE calls, so that no batched response outgrows the client's limit.
    for (let wave = 0; wave < addresses.length; wave += BALANCES_PER_CALL * CALLS_PER_WAVE) {
      const calls: Promise<bigint[]>[] = [];
      const end = Math.min(addresses.length, wave + BALANCES_PER_CALL * CALLS_PER_WAVE);
      for (let start = wave; start < end; start += BALANCES_PER_CALL)
        calls.push(call(addresses.slice(start, Math.min(end, start + BALANCES_PER_CALL))));
      for (const part of await Promise.all(calls)) out.push(...part);
    }
    return out;
  }

  /**
   * The header of each block in `numbers` (known ones are not fetched unless their transactions
   * are wanted), and for the blocks in `wanted` the hash of the last direct ETH transfer to each
   * of its addresses.
   */
  async function blocksAt(
    numbers: readonly bigint[],
    known: ReadonlyMap<bigint, BlockRef>,
    contents: ReadonlyMap<bigint, BlockContents>,
    wanted: ReadonlyMap<bigint, Set<string>>,
  ): Promise<{ refs: Map<bigint, BlockRef>; hashes: Map<string, string> }> {
    const refs = new Map<bigint, BlockRef>();
    const hashes = new Map<string, string>(); // `${block}:${address}` → tx hash
    await Promise.all(
      numbers.map(async (n) => {
        const ref = known.get(n);
        const want = wanted.get(n);
        const read = contents.get(n);
        if (read) {
          refs.set(n, read.ref);
          for (const a of want ?? []) {
            const hash = read.direct.get(a);
            if (hash) hashes.set(`${n}:${a}`, hash);
          }
          return;
        }
        if (ref && !want) return void refs.set(n, ref);
        const full = want !== undefined;
        const raw = ref
          ? await request<FullBlock | null>("eth_getBlockByHash", [ref.hash, full])
          : await request<FullBlock | null>("eth_getBlockByNumber", [numberToHex(n), full]);
        if (!raw) {
          if (ref) throw new BlockNotFoundError({ blockHash: ref.hash as `0x${string}` });
          throw new BlockNotFoundError({ blockNumber: n });
        }
        refs.set(n, ref ?? refOf(raw));
        for (const t of raw.transactions) {
          if (typeof t === "string") continue;
          const to = t.to?.toLowerCase();
          if (to && want?.has(to) && BigInt(t.value ?? "0x0") > 0n) hashes.set(`${n}:${to}`, t.hash);
        }
      }),
    );
    return { refs, hashes };
  }

  /** Forgets reads at or past `from`: the step is read again, or a reorg rolled them back. */
  function forgetFrom(from: bigint) {
    if (from > highest) return;
    for (const [address, block] of checked) if (block >= from) checked.delete(address);
    highest = from - 1n;
  }

  /** The open addresses a realtime step reads, and what its blocks hold. */
  async function realtimeSelection(
    blocks: readonly BlockRef[],
    last: BlockRef,
    outflowAddresses: Iterable<string>,
    bodies: ReadonlyMap<string, unknown> | undefined,
  ): Promise<{ wanted: Set<string>; sliced: WatchedAddress[]; contents: Map<bigint, BlockContents> }> {
    mode ??= await detectWatchMode(request, last);
    const current = mode;
    const read = await Promise.all(
      blocks.map((b) => readBlockContents(request, b, current, bodies?.get(b.hash) as FullBlock | undefined)),
    );
    const contents = new Map(read.map((c) => [c.ref.number, c]));
    const wanted = new Set<string>(outflowAddresses);
    for (const c of read) for (const r of c.recipients) wanted.add(r);
    if (current === "rotation") {
      const { after, limit } = await rotation.due(() => countWatched(db, options.chainId), wanted.size);
      const [slice, hot] = await Promise.all([
        watchedSlice(db, options.chainId, after, limit),
        addressesEndingBetween(
          db,
          options.chainId,
          watchAfterExpiry - HOT_AFTER_EXPIRY_SECONDS,
          watchAfterExpiry + HOT_BEFORE_EXPIRY_SECONDS,
        ),
      ]);
      rotation.advance(
        slice.map((a) => a.address),
        limit,
      );
      for (const a of hot) wanted.add(a);
      // The slice came with its balances; only the others are looked up.
      for (const a of slice) wanted.delete(a.address);
      return { wanted, sliced: slice, contents };
    }
    return { wanted, sliced: [], contents };
  }

  return {
    name: "deposit balances",
    // The follower fetches each block at the head with its transactions: no second fetch here.
    wantsTransactions: true,
    balancesAt,
    status: () => ({
      mode: mode ?? "detecting",
      fullCycleSeconds,
      ...(mode === "rotation" && rotation.open() !== undefined ? { openAddresses: rotation.open() } : {}),
      ...(mode === "rotation" && rotation.lastPassMs() !== undefined
        ? { lastFullCycleSeconds: Math.round((rotation.lastPassMs() as number) / 100) / 10 }
        : {}),
    }),
    async read(blocks, ctx) {
      const last = blocks.at(-1);
      if (!last) return [];
      const from = ctx.from <= last.number ? ctx.from : last.number;
      forgetFrom(from);
      const known = new Map(blocks.map((b) => [b.number, b]));
      const readAt = (addresses: readonly string[], n: bigint) => balancesAt(addresses, known.get(n) ?? n);

      // ETH taken out of deposit addresses in the step (sweeps): the only falls of a balance.
      const outflows = new Map<string, Set<bigint>>();
      for (const e of ctx.events) {
        const out = outflowOf(e);
        if (!out || out.blockNumber < from || out.blockNumber > last.number) continue;
        const set = outflows.get(out.address) ?? new Set<bigint>();
        set.add(out.blockNumber);
        outflows.set(out.address, set);
      }

      // The addresses read at the step's last block, with their stored balances.
      let contents = new Map<bigint, BlockContents>();
      let watched: { address: string; balance: bigint; observedAt?: bigint | null }[];
      if (ctx.historical) {
        watched = await watchedAddresses(db, ctx.chainId);
      } else {
        const selection = await realtimeSelection(blocks, last, outflows.keys(), ctx.bodies);
        contents = selection.contents;
        watched = [...selection.sliced, ...(await watchedDetails(db, ctx.chainId, [...selection.wanted]))];
      }
      const done = () => {
        for (const w of watched) checked.set(w.address, last.number);
        if (last.number > highest) highest = last.number;
        // Closed addresses linger: past twice the open count, start over (read back if needed).
        if (checked.size > 2 * (rotation.open() ?? watched.length) + 100_000) checked.clear();
      };
      if (watched.length === 0) return [];
      let balances: bigint[];
      try {
        balances = await readAt(
          watched.map((w) => w.address),
          last.number,
        );
      } catch (error) {
        // The block was replaced while we read: a retryable error, the step is read again.
        const now = await client.getBlock({ blockNumber: last.number }).catch(() => undefined);
        if (now && now.hash !== last.hash)
          throw new BlockNotFoundError({ blockHash: last.hash as `0x${string}` });
        throw error;
      }

      // Addresses to look into: a changed balance, or a sweep (money may have come and gone).
      const changed = watched.filter(
        (w, i) => (balances[i] as bigint) !== w.balance || outflows.has(w.address),
      );
      const endOf = new Map(watched.map((w, i) => [w.address, balances[i] as bigint]));
      for (const address of [...outflows.keys()]) if (!endOf.has(address)) outflows.delete(address);
      if (changed.length === 0) {
        done();
        return [];
      }
      // Their newest observations (a historical chunk read the full list without them).
      const observed = new Map<string, bigint | null>();
      const missing = changed.filter((w) => w.observedAt === undefined).map((w) => w.address);
      for (const d of await watchedDetails(db, ctx.chainId, missing)) observed.set(d.address, d.observedAt);
      for (const w of changed) if (w.observedAt !== undefined) observed.set(w.address, w.observedAt);

      const readings = new Map<string, Readings>();
      /** Reads each address at each of its blocks; one balancesAt per block for all its addresses. */
      async function readAll(wants: Map<bigint, string[]>): Promise<void> {
        await Promise.all(
          [...wants].map(async ([n, addresses]) => {
            const got = await readAt(addresses, n);
            addresses.forEach((a, j) => readings.get(a)?.set(n, got[j] as bigint));
          }),
        );
      }
      const want = (wants: Map<bigint, string[]>, n: bigint, address: string) => {
        const list = wants.get(n) ?? [];
        list.push(address);
        wants.set(n, list);
      };

      // A base for each: a block where it held its stored balance with every change before recorded.
      type Search = { address: string; stored: bigint; floor: bigint | null; back: bigint; at: bigint };
      let searches: Search[] = [];
      const stepContents = [...contents.values()];
      for (const w of changed) {
        const r: Readings = new Map([[last.number, endOf.get(w.address) as bigint]]);
        readings.set(w.address, r);
        // Explained by the step's known credits: each is a change in its block, no read before.
        const explained = outflows.has(w.address)
          ? undefined
          : creditsExplain(w.address, w.balance, endOf.get(w.address) as bigint, stepContents);
        if (explained) {
          let before = w.balance;
          for (const { block, balance } of explained) {
            if (!r.has(block - 1n)) r.set(block - 1n, before);
            r.set(block, balance);
            before = balance;
          }
          r.set(from - 1n, w.balance);
          continue;
        }
        const seen = observed.get(w.address) ?? null;
        const read = checked.get(w.address);
        // The last read in this process, or the newest observation when it is the step's parent;
        // else a search backwards (its newest observation is a base too, but may be far back).
        if (read !== undefined && read < from) r.set(seen !== null && seen > read ? seen : read, w.balance);
        else if (seen !== null && seen >= from - 1n) r.set(seen, w.balance);
        else searches.push({ address: w.address, stored: w.balance, floor: seen, back: 1n, at: from - 1n });
      }
      // Each sweep splits the range: read just before and at its block.
      const anchors = new Map<bigint, string[]>();
      for (const [address, sweeps] of outflows) {
        const r = readings.get(address);
        if (!r) continue;
        for (const s of sweeps) for (const n of [s - 1n, s]) if (!r.has(n)) want(anchors, n, address);
      }
      await readAll(anchors);
      // Backwards from the step, 1, 2, 4, … blocks, down to the newest observation (or block 0).
      while (searches.length > 0) {
        const probes = new Map<bigint, string[]>();
        for (const s of searches) {
          const r = readings.get(s.address) as Readings;
          if (s.floor !== null && s.at <= s.floor) r.set(s.floor, s.stored);
          else if (!r.has(s.at)) want(probes, s.at < 0n ? 0n : s.at, s.address);
        }
        await readAll(probes);
        searches = searches.filter((s) => {
          const r = readings.get(s.address) as Readings;
          if (s.floor !== null && s.at <= s.floor) return false;
          if (s.at <= 0n || r.get(s.at) === s.stored) return false;
          s.back *= 2n;
          s.at = from - 1n - s.back;
          if (s.at < 0n) s.at = 0n;
          return true;
        });
      }

      // Bisection, level by level across all addresses: a span (p, q] with different balances at
      // p and q and no sweep inside holds a rise; halve it until it is one block.
      type Span = { address: string; p: bigint; q: bigint };
      const spansOf = (address: string): Span[] => {
        const r = readings.get(address) as Readings;
        const points = [...r.keys()].sort((a, b) => (a < b ? -1 : 1));
        const spans: Span[] = [];
        for (let i = 1; i < points.length; i++) {
          const p = points[i - 1] as bigint;
          const q = points[i] as bigint;
          if (q - p > 1n && r.get(p) !== r.get(q)) spans.push({ address, p, q });
        }
        return spans;
      };
      let spans = [...readings.keys()].flatMap(spansOf);
      while (spans.length > 0) {
        const probes = new Map<bigint, string[]>();
        for (const { address, p, q } of spans) want(probes, p + (q - p) / 2n, address);
        await readAll(probes);
        spans = [...new Set(spans.map((s) => s.address))].flatMap(spansOf);
      }

      // Every change is now between two adjacent blocks: an observation at the later one.
      const changes: { address: string; block: bigint; balance: bigint; rose: boolean }[] = [];
      for (const [address, r] of readings) {
        const points = [...r].sort((a, b) => (a[0] < b[0] ? -1 : 1));
        for (let i = 1; i < points.length; i++) {
          const [, before] = points[i - 1] as [bigint, bigint];
          const [block, balance] = points[i] as [bigint, bigint];
          if (balance !== before) changes.push({ address, block, balance, rose: balance > before });
        }
      }
      changes.sort((a, b) => (a.block < b.block ? -1 : a.block > b.block ? 1 : 0));
      const rises = new Map<bigint, Set<string>>(); // block → addresses whose balance rose in it
      for (const c of changes) {
        if (!c.rose) continue;
        const set = rises.get(c.block) ?? new Set<string>();
        set.add(c.address);
        rises.set(c.block, set);
      }
      const { refs, hashes } = await blocksAt(
        [...new Set(changes.map((c) => c.block))],
        known,
        contents,
        rises,
      );
      done();
      return changes.map((c): DepositBalanceObserved => {
        const b = refs.get(c.block) as BlockRef;
        return {
          kind: "deposit_balance",
          chainId: ctx.chainId,
          blockNumber: b.number,
          blockHash: b.hash,
          blockTimestamp: b.timestamp,
          address: c.address,
          balance: c.balance,
          txHash: hashes.get(`${c.block}:${c.address}`) ?? null,
        };
      });
    },
  };
}

/**
 * ERC-20 `Transfer` logs of the allowlisted tokens whose `to` (topic2) is an open deposit address:
 * the token payments to deposit addresses. Over a historical range, a topic filter of the open
 * addresses (asked before every fetch); at the head, every Transfer of the tokens in the block,
 * kept when its `to` is open.
 */
export function depositTransferSource(
  db: Db,
  chainId: bigint,
  tokens: readonly string[],
): Source<DepositEvent> {
  return {
    name: "deposit token transfers",
    addresses: tokens.map((t) => t.toLowerCase()),
    topics: [TRANSFER_TOPIC],
    topicFilters: [
      {
        position: 2,
        values: async () => (await watchedAddresses(db, chainId)).map((w) => topicOf(w.address)),
      },
    ],
    // At the head: the block's Transfer logs of the tokens, matched against the open addresses in
    // one indexed query (a filter listing 100,000 addresses would be 100 eth_getLogs per block).
    async matchAtHead(logs) {
      const transfers = logs.filter((l) => l.topics.length === 3);
      const open = new Set(
        (
          await watchedDetails(
            db,
            chainId,
            transfers.map((l) => addressOf(l.topics[2] as string)),
          )
        ).map((w) => w.address),
      );
      return transfers.filter((l) => open.has(addressOf(l.topics[2] as string)));
    },
    decode(log: RawLog, ctx): DepositTransferObserved | undefined {
      // A Transfer with `to` indexed has 3 topics and the value as its only data word.
      if (log.topics.length !== 3 || log.data.length !== 2 + 64) return undefined;
      return {
        kind: "deposit_transfer",
        ...logPosition(log, ctx),
        token: log.address.toLowerCase(),
        address: addressOf(log.topics[2] as string),
        sender: addressOf(log.topics[1] as string),
        amount: BigInt(log.data),
      };
    },
  };
}

/** The PaymentProcessor's `DepositTokenForwarded` (a token that is not allowlisted, sent on to the merchant). */
export function depositForwardedSource(contract: string): Source<DepositEvent> {
  return {
    name: "deposit token forwards",
    addresses: [contract.toLowerCase()],
    topics: [DEPOSIT_TOKEN_FORWARDED_TOPIC],
    decode(log, ctx): DepositTokenForwarded {
      if (log.topics.length !== 4 || log.data.length !== 2 + 128) {
        throw new FatalIndexerError(
          `log ${log.transactionHash}:${log.logIndex} from ${log.address} does not match DepositTokenForwarded; ` +
            "check CONTRACT_ADDRESS",
        );
      }
      return {
        kind: "deposit_forwarded",
        ...logPosition(log, ctx),
        merchant: addressOf(log.topics[1] as string),
        orderRef: (log.topics[2] as string).toLowerCase(),
        address: addressOf(log.topics[3] as string),
        token: addressOf(word(log.data, 0)),
        amount: BigInt(`0x${word(log.data, 1)}`),
      };
    },
  };
}

/**
 * Where the balance reader's code is put by eth_call's state override (geth's third eth_call
 * parameter, also served by erigon, nethermind, besu, reth, Hardhat and anvil): an address no
 * contract lives at; its code is replaced for this one call only.
 */
export const BALANCE_READER = "0x0000000000000000000000000000000000ba1a9c";
/**
 * The balance reader's runtime code (52 bytes): the calldata is the addresses packed, 20 bytes
 * each; it copies them to memory, and for each one writes BALANCE(address) as a 32-byte word after
 * them, then returns those words. One call reads 2,000 addresses with 2,000 BALANCE opcodes and no
 * inner calls: 40 kB of calldata instead of Multicall3's 450 kB of ABI, and no call frames (a
 * Multicall3 read of 2,000 balances is 2,000 internal calls, 20 times slower on a Hardhat node).
 *
 *   CALLDATASIZE DUP1 PUSH1 0 PUSH1 0 CALLDATACOPY PUSH1 0        ; memory[0, n) = calldata; j = 0
 *   loop: JUMPDEST DUP2 DUP2 LT ISZERO PUSH1 end JUMPI             ; while j < n
 *   DUP1 MLOAD PUSH1 96 SHR BALANCE                                ;   BALANCE(memory[j, j + 20))
 *   DUP3 DUP3 PUSH1 20 SWAP1 DIV PUSH1 32 MUL ADD MSTORE            ;   at n + j / 20 * 32
 *   PUSH1 20 ADD PUSH1 loop JUMP                                   ;   j += 20
 *   end: JUMPDEST POP DUP1 PUSH1 20 SWAP1 DIV PUSH1 32 MUL SWAP1 RETURN  ; memory[n, n + n / 20 * 32)
 *
 * (The last address's 32-byte load reaches 12 bytes into the first result; the shift drops them.)
 */
export const BALANCE_READER_CODE =
  "0x3680600060003760005b81811015602857805160601c318282601490046020020152601401600956" +
  "5b50806014900460200290f3";

/** The addresses packed, 20 bytes each: the balance reader's calldata. */
export const packAddresses = (addresses: readonly string[]): `0x${string}` =>
  `0x${addresses.map((a) => a.slice(2).toLowerCase().padStart(40, "0")).join("")}`;

/** `n` 32-byte words as bigints (the balance reader's answer). */
export function decodeWords(out: string, n: number): bigint[] {
  const words = new Array<bigint>(n);
  for (let i = 0; i < n; i++) words[i] = BigInt(`0x${out.slice(2 + i * 64, 2 + (i + 1) * 64)}`);
  return words;
}

const hex32 = (n: number) => n.toString(16).padStart(64, "0");
/** `aggregate3((address,bool,bytes)[])` and `getEthBalance(address)` selectors. */
const AGGREGATE3 = "82ad56cb";
const GET_ETH_BALANCE = "4d2301cc";

/**
 * Calldata of Multicall3 `aggregate3` with one `getEthBalance(address)` per address, written
 * directly (viem's generic ABI encoder takes ~40 ms per 1,000 calls; this is string concatenation):
 * head offset, array length, one offset per tuple, then tuples of 6 words each (target,
 * allowFailure = false, bytes offset 0x60, bytes length 36, selector + address padded to 2 words).
 */
export function encodeGetEthBalances(multicall3: string, addresses: readonly string[]): `0x${string}` {
  const n = addresses.length;
  const target = multicall3.slice(2).toLowerCase().padStart(64, "0");
  const parts: string[] = [`0x${AGGREGATE3}`, hex32(0x20), hex32(n)];
  for (let i = 0; i < n; i++) parts.push(hex32(n * 32 + i * 192));
  const tail = `${hex32(0)}${hex32(0x60)}${hex32(36)}`;
  for (const a of addresses) {
    parts.push(target, tail, GET_ETH_BALANCE, a.slice(2).toLowerCase().padStart(64, "0"), "0".repeat(56));
  }
  return parts.join("") as `0x${string}`;
}

/** The balances in an `aggregate3` result of `n` `getEthBalance` calls, following the ABI offsets. */
export function decodeGetEthBalances(out: string, n: number): bigint[] {
  const word = (byte: number) => out.slice(2 + byte * 2, 2 + byte * 2 + 64);
  const at = (byte: number) => Number.parseInt(word(byte), 16);
  const array = at(0);
  if (at(array) !== n) throw new Error(`Multicall3 returned ${at(array)} results for ${n} calls`);
  const base = array + 32;
  const balances = new Array<bigint>(n);
  for (let i = 0; i < n; i++) {
    const tuple = base + at(base + i * 32);
    if (at(tuple) !== 1) throw new Error("Multicall3 getEthBalance failed");
    const bytes = tuple + at(tuple + 32);
    if (at(bytes) !== 32) throw new Error("Multicall3 getEthBalance returned no word");
    balances[i] = BigInt(`0x${word(bytes + 32)}`);
  }
  return balances;
}
