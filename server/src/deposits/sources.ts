import { BlockNotFoundError, decodeFunctionResult, encodeFunctionData, type PublicClient } from "viem";
import type { Db } from "../db/types.ts";
import { FatalIndexerError } from "../indexer/rpc.ts";
import type { BlockReader, BlockRef, RawLog, Source } from "../indexer/types.ts";
import { DEPOSIT_TOKEN_FORWARDED_TOPIC, TRANSFER_TOPIC } from "./abi.ts";
import type {
  DepositBalanceObserved,
  DepositEvent,
  DepositTokenForwarded,
  DepositTransferObserved,
} from "./events.ts";
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
}

/**
 * Reads the ETH balance of every open deposit address at the last block of each step (by hash,
 * EIP-1898), in ⌈n / 2,000⌉ `eth_call`s to Multicall3's `getEthBalance`, and emits an observation
 * for each balance that differs from the stored one. Plain transfers leave no log, and ETH sent by
 * a contract wallet or an exchange's batcher is not even a transaction to the address: a balance
 * read sees both. When something changed in a step of several blocks, the changed addresses are
 * read at each of its blocks, so each change is dated to its block; a block where a balance rose
 * is fetched with its transactions, and a direct transfer to the address gives the observation
 * its transaction hash.
 */
export function depositBalanceReader(options: BalanceReaderOptions): BlockReader<DepositEvent> & {
  /** Balances of `addresses` at a block (exposed for benchmarks). */
  balancesAt(addresses: readonly string[], blockHash: string): Promise<bigint[]>;
} {
  const { client, multicall3 } = options;
  const request = async <T>(method: string, params: unknown[]): Promise<T> => {
    options.onRequest?.(method);
    return (await client.request({ method, params } as never)) as T;
  };

  async function balancesAt(addresses: readonly string[], blockHash: string): Promise<bigint[]> {
    const at = { blockHash, requireCanonical: false };
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

  /** The hash of the last direct ETH transfer to each of `wanted` in one block. */
  async function directTransfers(block: BlockRef, wanted: Set<string>): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const full = await request<{ transactions: { hash: string; to: string | null; value: string }[] } | null>(
      "eth_getBlockByHash",
      [block.hash, true],
    );
    for (const t of full?.transactions ?? []) {
      const to = t.to?.toLowerCase();
      if (to && wanted.has(to) && BigInt(t.value) > 0n) found.set(to, t.hash);
    }
    return found;
  }

  return {
    name: "deposit balances",
    balancesAt,
    async read(blocks, ctx) {
      const at = blocks.at(-1);
      if (!at) return [];
      const watched = await watchedAddresses(options.db, ctx.chainId);
      if (watched.length === 0) return [];
      let balances: bigint[];
      try {
        balances = await balancesAt(
          watched.map((w) => w.address),
          at.hash,
        );
      } catch (error) {
        // The block was replaced while we read: a retryable error, the step is read again.
        const now = await client.getBlock({ blockNumber: at.number }).catch(() => undefined);
        if (now && now.hash !== at.hash)
          throw new BlockNotFoundError({ blockHash: at.hash as `0x${string}` });
        throw error;
      }
      const changed: { address: string; previous: bigint }[] = [];
      watched.forEach((w, i) => {
        if (balances[i] !== w.balance) changed.push({ address: w.address, previous: w.balance });
      });
      if (changed.length === 0) return [];
      // A step of several blocks: the changed addresses are read at each of them too (only they),
      // so every change is dated to its own block (its confirmations, its lateness).
      const addresses = changed.map((c) => c.address);
      const last = new Map(watched.map((w, i) => [w.address, balances[i] as bigint]));
      const perBlock = await Promise.all(
        blocks.map((b, i) =>
          i === blocks.length - 1
            ? Promise.resolve(addresses.map((a) => last.get(a) as bigint))
            : balancesAt(addresses, b.hash),
        ),
      );
      const observed: DepositBalanceObserved[] = [];
      const increasedIn = new Map<number, Set<string>>(); // block index → addresses whose balance rose
      changed.forEach((c, j) => {
        let previous = c.previous;
        blocks.forEach((b, i) => {
          const balance = (perBlock[i] as bigint[])[j] as bigint;
          if (balance === previous) return;
          if (balance > previous) {
            const set = increasedIn.get(i) ?? new Set<string>();
            set.add(c.address);
            increasedIn.set(i, set);
          }
          observed.push({
            kind: "deposit_balance",
            chainId: ctx.chainId,
            blockNumber: b.number,
            blockHash: b.hash,
            blockTimestamp: b.timestamp,
            address: c.address,
            balance,
            txHash: null,
          });
          previous = balance;
        });
      });
      // The direct transfer behind a rise, from that block's transactions.
      const hashes = new Map<string, string>(); // `${block}:${address}` → tx hash
      await Promise.all(
        [...increasedIn].map(async ([i, wanted]) => {
          const b = blocks[i] as BlockRef;
          for (const [address, hash] of await directTransfers(b, wanted))
            hashes.set(`${b.number}:${address}`, hash);
        }),
      );
      for (const o of observed) o.txHash = hashes.get(`${o.blockNumber}:${o.address}`) ?? null;
      return observed;
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
        chainId: ctx.chainId,
        blockNumber: BigInt(log.blockNumber),
        blockHash: log.blockHash,
        blockTimestamp: ctx.blockTimestamp,
        txIndex: Number(log.transactionIndex),
        logIndex: Number(log.logIndex),
        txHash: log.transactionHash,
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
        chainId: ctx.chainId,
        blockNumber: BigInt(log.blockNumber),
        blockHash: log.blockHash,
        blockTimestamp: ctx.blockTimestamp,
        txIndex: Number(log.transactionIndex),
        logIndex: Number(log.logIndex),
        txHash: log.transactionHash,
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
