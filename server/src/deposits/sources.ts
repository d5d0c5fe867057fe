import {
  BlockNotFoundError,
  decodeFunctionResult,
  encodeFunctionData,
  numberToHex,
  type PublicClient,
} from "viem";
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
import { watchedAddresses } from "./repository.ts";

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
  /** Counts RPC requests (benchmarks). */
  onRequest?: (method: string) => void;
  /** The address a step event takes ETH out of, and its block (default: `ethOutflowOf`). */
  outflowOf?: (event: ChainEvent) => { address: string; blockNumber: bigint } | undefined;
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
 * Reads the ETH balance of every open deposit address at the last block of each step (by hash,
 * EIP-1898), in ⌈n / 2,000⌉ `eth_call`s to Multicall3's `getEthBalance`, and dates every change to
 * its own block, exactly as a block-by-block follower would. Plain transfers leave no log, and ETH
 * sent by a contract wallet or an exchange's batcher is not even a transaction to the address: a
 * balance read sees both.
 *
 * Inside a step of several blocks (a historical chunk of thousands, a realtime catch-up of a few)
 * the reader bisects: a deposit address has no code, so its balance only rises, except at a sweep
 * (a step event, `outflowOf`), which empties it. Between two reads with no sweep in between, an
 * equal balance means nothing happened; otherwise the range is halved until each rise is pinned to
 * its block. A sweep splits the range: the address is read just before and at the sweep's block.
 * So an address that changed reads ⌈log2(blocks)⌉ more balances per rise, and every probe block
 * is one Multicall3 call for all the addresses that probe it. Inside a historical chunk (final
 * blocks, checked by the core) reads are by block number; realtime blocks are read by hash. The
 * block where a balance rose is fetched with its transactions, and a direct transfer to the
 * address gives the observation its transaction hash.
 */
export function depositBalanceReader(options: BalanceReaderOptions): BlockReader<ChainEvent> & {
  /** Balances of `addresses` at a block, by hash or by number (exposed for benchmarks). */
  /** Balances at a block: by number, by hash, or by hash with its number (the fallback for providers without EIP-1898). */
  balancesAt(
    addresses: readonly string[],
    block: string | bigint | { hash: string; number: bigint },
  ): Promise<bigint[]>;
} {
  const { client, multicall3 } = options;
  const outflowOf = options.outflowOf ?? ethOutflowOf;
  const request = async <T>(method: string, params: unknown[]): Promise<T> => {
    options.onRequest?.(method);
    return (await client.request({ method, params } as never)) as T;
  };

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
    if (!multicall3) return batch(addresses);
    const calls: Promise<bigint[]>[] = [];
    for (let start = 0; start < addresses.length; start += BALANCES_PER_CALL) {
      const slice = addresses.slice(start, start + BALANCES_PER_CALL);
      const data = encodeGetEthBalances(multicall3, slice);
      calls.push(
        request<`0x${string}`>("eth_call", [{ to: multicall3, data }, at]).then((out) => {
          // No code answered (a block before Multicall3 was deployed): one eth_getBalance each.
          if (out === "0x") return batch(slice);
          return decodeGetEthBalances(out, slice.length);
        }),
      );
    }
    return (await Promise.all(calls)).flat();
  }

  type RawBlock = {
    number: string;
    hash: string;
    parentHash: string;
    timestamp: string;
    transactions: ({ hash: string; to: string | null; value: string } | string)[];
  };

  /**
   * The header of each block in `numbers` (known ones are not fetched unless their transactions
   * are wanted), and for the blocks in `wanted` the hash of the last direct ETH transfer to each
   * of its addresses.
   */
  async function blocksAt(
    numbers: readonly bigint[],
    known: ReadonlyMap<bigint, BlockRef>,
    wanted: ReadonlyMap<bigint, Set<string>>,
  ): Promise<{ refs: Map<bigint, BlockRef>; hashes: Map<string, string> }> {
    const refs = new Map<bigint, BlockRef>();
    const hashes = new Map<string, string>(); // `${block}:${address}` → tx hash
    await Promise.all(
      numbers.map(async (n) => {
        const ref = known.get(n);
        const want = wanted.get(n);
        if (ref && !want) return void refs.set(n, ref);
        const full = want !== undefined;
        const raw = ref
          ? await request<RawBlock | null>("eth_getBlockByHash", [ref.hash, full])
          : await request<RawBlock | null>("eth_getBlockByNumber", [numberToHex(n), full]);
        if (!raw) {
          if (ref) throw new BlockNotFoundError({ blockHash: ref.hash as `0x${string}` });
          throw new BlockNotFoundError({ blockNumber: n });
        }
        refs.set(
          n,
          ref ?? {
            number: n,
            hash: raw.hash,
            parentHash: raw.parentHash,
            timestamp: new Date(Number(BigInt(raw.timestamp)) * 1000),
          },
        );
        for (const t of raw.transactions) {
          if (typeof t === "string") continue;
          const to = t.to?.toLowerCase();
          if (to && want?.has(to) && BigInt(t.value) > 0n) hashes.set(`${n}:${to}`, t.hash);
        }
      }),
    );
    return { refs, hashes };
  }

  return {
    name: "deposit balances",
    balancesAt,
    async read(blocks, ctx) {
      const last = blocks.at(-1);
      if (!last) return [];
      const watched = await watchedAddresses(options.db, ctx.chainId);
      if (watched.length === 0) return [];
      const from = ctx.from <= last.number ? ctx.from : last.number;
      const known = new Map(blocks.map((b) => [b.number, b]));
      const readAt = (addresses: readonly string[], n: bigint) => balancesAt(addresses, known.get(n) ?? n);
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

      // ETH taken out of watched addresses in the step (sweeps): the only falls of a balance.
      const index = new Map(watched.map((w, i) => [w.address, i]));
      const outflows = new Map<string, Set<bigint>>();
      for (const e of ctx.events) {
        const out = outflowOf(e);
        if (!out || !index.has(out.address) || out.blockNumber < from || out.blockNumber > last.number)
          continue;
        const set = outflows.get(out.address) ?? new Set<bigint>();
        set.add(out.blockNumber);
        outflows.set(out.address, set);
      }
      // Addresses to look into: a changed balance, or a sweep (money may have come and gone).
      const readings = new Map<string, Readings>();
      watched.forEach((w, i) => {
        const end = balances[i] as bigint;
        if (end === w.balance && !outflows.has(w.address)) return;
        readings.set(
          w.address,
          new Map([
            [from - 1n, w.balance],
            [last.number, end],
          ]),
        );
      });
      if (readings.size === 0) return [];

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

      // Each sweep splits the range: read just before and at its block.
      const anchors = new Map<bigint, string[]>();
      for (const [address, sweeps] of outflows) {
        const r = readings.get(address) as Readings;
        for (const s of sweeps) for (const n of [s - 1n, s]) if (!r.has(n)) want(anchors, n, address);
      }
      await readAll(anchors);

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
      const { refs, hashes } = await blocksAt([...new Set(changes.map((c) => c.block))], known, rises);
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
 * the token payments to deposit addresses. The address list is asked before every fetch.
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
