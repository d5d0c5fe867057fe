import type { UtxoCurrency } from "./networks.ts";
import { dashLockState } from "./instantsend.ts";
import {
  RPC_INVALID_ADDRESS_OR_KEY,
  RPC_WALLET_ALREADY_LOADED,
  RPC_WALLET_NOT_FOUND,
  RpcError,
  type RpcClient,
} from "./rpc.ts";

/** An address to watch, and from when the node must look for its history. */
export interface WatchAddress {
  address: string;
  label?: string;
  /** Unix seconds of the first possible payment (triggers a rescan from then), or "now" (no rescan). */
  since: number | "now";
}

/** A payment the watcher already reported and must keep following until it is final. */
export interface TrackedPayment {
  txid: string;
  address: string;
}

export type PaymentState = "block" | "mempool" | "vanished";

/**
 * What one transaction paid to one watched address, now.
 *
 * Several outputs of one transaction to the same address are SUMMED into one observation (their
 * vouts are listed): they always share one confirmation count, and the EletroPay callback
 * `{amount, confirmations, address, txid}` is keyed by (txid, address), so one callback stream
 * per (txid, address) with the total is the only reading that cannot double- or under-count.
 */
export interface PaymentObservation {
  txid: string;
  address: string;
  /** Total paid to `address` by this transaction, in the smallest unit (satoshi/duff/litoshi). */
  amount: bigint;
  vouts: number[];
  state: PaymentState;
  blockHash: string | null;
  blockHeight: number | null;
  /** tipHeight - blockHeight + 1 for mined payments, 0 otherwise. */
  confirmations: number;
  /** Dash only: the transaction is InstantSend-locked / its block is ChainLocked. */
  instantLock: boolean;
  chainLock: boolean;
}

export interface PollResult {
  /** The block hash to pass as the next cursor. */
  cursor: string;
  tipHeight: number;
  observations: PaymentObservation[];
  /** The stored cursor was unknown to the node (reset chain?): the listing started from scratch. */
  cursorReset: boolean;
}

/** A UTXO chain as the EletroPay watcher sees it. */
export interface UtxoChainAdapter {
  readonly currency: UtxoCurrency;
  /** Makes sure the watch-only wallet exists and is loaded. */
  ensureReady(): Promise<void>;
  /** Imports addresses watch-only. Concurrent calls are coalesced into few node calls. */
  importAddresses(addresses: readonly WatchAddress[]): Promise<void>;
  /**
   * Everything that changed since `cursor` (null: since the beginning) for the watched
   * addresses: new payments, confirmation changes, payments removed by reorgs, plus the current
   * state of every `tracked` payment. Payments with fewer than `targetConfirmations` are
   * reported again on every poll, so each confirmation increase is seen.
   */
  poll(
    cursor: string | null,
    targetConfirmations: number,
    tracked: readonly TrackedPayment[],
  ): Promise<PollResult>;
}

/** Converts an exact decimal amount string from the node ("0.00028443", "-1.5") to smallest units. */
export function parseCoinAmount(value: unknown, decimals = 8): bigint {
  const text = typeof value === "number" ? String(value) : value;
  if (typeof text !== "string") throw new Error(`amount is not a number: ${String(value)}`);
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) throw new Error(`amount is not a plain decimal: ${text}`);
  const fraction = match[3] ?? "";
  if (fraction.length > decimals && /[1-9]/.test(fraction.slice(decimals))) {
    throw new Error(`amount has more than ${decimals} decimals: ${text}`);
  }
  const units = BigInt((match[2] ?? "0") + fraction.slice(0, decimals).padEnd(decimals, "0"));
  return match[1] === "-" ? -units : units;
}

/** Formats smallest units as the shortest exact decimal ("0.00028443", "1", "0.5"). */
export function formatCoinAmount(units: bigint, decimals = 8): string {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(decimals + 1, "0");
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${fraction ? `.${fraction}` : ""}`;
}

/** One entry of listsinceblock / gettransaction details, as Core returns it. */
interface WalletEntry {
  address?: string;
  category: string;
  amount: string | number;
  vout: number;
  txid: string;
  confirmations: number;
  blockhash?: string;
  blockheight?: number;
  instantlock?: boolean;
  chainlock?: boolean;
}

interface ListSinceBlock {
  transactions: WalletEntry[];
  removed?: WalletEntry[];
  lastblock: string;
}

interface GetTransaction {
  txid: string;
  confirmations: number;
  blockhash?: string;
  blockheight?: number;
  instantlock?: boolean;
  chainlock?: boolean;
  details: Array<Omit<WalletEntry, "txid" | "confirmations">>;
}

export interface BitcoinCoreAdapterOptions {
  currency: UtxoCurrency;
  /** Client on the wallet endpoint (`…/wallet/<name>`), or the node root for the default wallet. */
  rpc: RpcClient;
  log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

/**
 * The adapter for bitcoind, litecoind and dashd, which share the Bitcoin Core wallet RPC.
 * Addresses go into a watch-only wallet (legacy wallets: `importmulti`; descriptor wallets:
 * `importdescriptors` with `addr()`), and the chain is followed with `listsinceblock` from a
 * stored block-hash cursor, which also lists transactions removed by reorgs.
 */
export class BitcoinCoreAdapter implements UtxoChainAdapter {
  readonly currency: UtxoCurrency;
  readonly #rpc: RpcClient;
  readonly #log: BitcoinCoreAdapterOptions["log"];
  #descriptors: boolean | undefined;
  #pending: WatchAddress[] = [];
  #pendingBatch: Promise<void> | undefined;
  #running: Promise<void> = Promise.resolve();

  constructor(options: BitcoinCoreAdapterOptions) {
    this.currency = options.currency;
    this.#rpc = options.rpc;
    this.#log = options.log;
  }

  async ensureReady(): Promise<void> {
    let info: { descriptors?: boolean; private_keys_enabled?: boolean };
    try {
      info = await this.#rpc.call("getwalletinfo");
    } catch (error) {
      const walletName = /\/wallet\/([^/]+)$/.exec(new URL(this.#rpc.safeUrl).pathname)?.[1];
      if (!(error instanceof RpcError) || error.code !== RPC_WALLET_NOT_FOUND || !walletName) throw error;
      const name = decodeURIComponent(walletName);
      const root = this.#rpc.withPath("/");
      try {
        await root.call("loadwallet", [name]);
      } catch (loadError) {
        if (loadError instanceof RpcError && loadError.code === RPC_WALLET_ALREADY_LOADED) {
          // Another caller loaded it meanwhile.
        } else {
          // Not on disk: create a blank wallet without private keys (watch-only).
          await root.call("createwallet", [name, true, true, "", false]);
          this.#log?.info({ currency: this.currency, wallet: name }, "created watch-only wallet");
        }
      }
      info = await this.#rpc.call("getwalletinfo");
    }
    this.#descriptors = info.descriptors === true;
    if (info.private_keys_enabled) {
      this.#log?.warn(
        { currency: this.currency, rpc: this.#rpc.safeUrl },
        "the EletroPay wallet has private keys enabled; a dedicated watch-only wallet is recommended",
      );
    }
  }

  importAddresses(addresses: readonly WatchAddress[]): Promise<void> {
    if (addresses.length === 0) return Promise.resolve();
    this.#pending.push(...addresses);
    // Every caller that arrives while a batch runs joins the next one: N concurrent requests
    // become at most two node calls instead of N (Core's RPC work queue is small).
    if (!this.#pendingBatch) {
      this.#pendingBatch = this.#running.then(() => {
        const batch = this.#pending;
        this.#pending = [];
        this.#pendingBatch = undefined;
        return this.#importNow(batch);
      });
      this.#running = this.#pendingBatch.catch(() => {});
    }
    return this.#pendingBatch;
  }

  async #importNow(batch: readonly WatchAddress[]): Promise<void> {
    if (this.#descriptors === undefined) await this.ensureReady();
    const rescan = batch.some((a) => a.since !== "now");
    let results: Array<{ success: boolean; error?: { message: string } }>;
    if (this.#descriptors) {
      const requests = [];
      for (const a of batch) {
        const info = await this.#rpc.call<{ descriptor: string }>("getdescriptorinfo", [
          `addr(${a.address})`,
        ]);
        requests.push({ desc: info.descriptor, timestamp: a.since, label: a.label ?? "" });
      }
      results = await this.#rpc.call("importdescriptors", [requests]);
    } else {
      const requests = batch.map((a) => ({
        scriptPubKey: { address: a.address },
        timestamp: a.since,
        watchonly: true,
        label: a.label ?? "",
      }));
      results = await this.#rpc.call("importmulti", [requests, { rescan }]);
    }
    const failed = results.map((r, i) => ({ r, a: batch[i] })).filter(({ r }) => !r.success);
    if (failed.length > 0) {
      const first = failed[0];
      throw new Error(
        `${this.currency}: import of ${failed.length} address(es) failed: ${first?.a?.address}: ${first?.r.error?.message ?? "unknown"}`,
      );
    }
  }

  async poll(
    cursor: string | null,
    targetConfirmations: number,
    tracked: readonly TrackedPayment[],
  ): Promise<PollResult> {
    let cursorReset = false;
    let listing: ListSinceBlock;
    try {
      listing = await this.#rpc.call("listsinceblock", [cursor ?? "", targetConfirmations, true, true]);
    } catch (error) {
      if (!(cursor && error instanceof RpcError && error.code === RPC_INVALID_ADDRESS_OR_KEY)) throw error;
      cursorReset = true;
      listing = await this.#rpc.call("listsinceblock", ["", targetConfirmations, true, true]);
    }
    // `lastblock` is the wallet's tip minus (target - 1), read under the same lock as the
    // listing, so the tip height it implies is consistent with every entry.
    const lastHeader = await this.#rpc.call<{ height: number }>("getblockheader", [listing.lastblock]);
    const tipHeight =
      lastHeader.height > 0
        ? lastHeader.height + targetConfirmations - 1
        : await this.#rpc.call<number>("getblockcount");

    const groups = new Map<string, WalletEntry[]>();
    for (const entry of listing.transactions) {
      if (entry.category !== "receive" || !entry.address) continue;
      const key = `${entry.txid}:${entry.address}`;
      const group = groups.get(key);
      if (group) group.push(entry);
      else groups.set(key, [entry]);
    }

    const mempool = new Map<string, boolean>();
    const inMempool = async (txid: string): Promise<boolean> => {
      const known = mempool.get(txid);
      if (known !== undefined) return known;
      let present = true;
      try {
        await this.#rpc.call("getmempoolentry", [txid]);
      } catch (error) {
        if (!(error instanceof RpcError && error.code === RPC_INVALID_ADDRESS_OR_KEY)) throw error;
        present = false;
      }
      mempool.set(txid, present);
      return present;
    };

    const heights = new Map<string, number>();
    const heightOf = async (hash: string): Promise<number> => {
      let height = heights.get(hash);
      if (height === undefined) {
        height = (await this.#rpc.call<{ height: number }>("getblockheader", [hash])).height;
        heights.set(hash, height);
      }
      return height;
    };

    const observations: PaymentObservation[] = [];
    const observe = async (entries: WalletEntry[]): Promise<PaymentObservation> => {
      const first = entries[0]!;
      const locks = dashLockState(first);
      const base = {
        txid: first.txid,
        address: first.address!,
        amount: entries.reduce((sum, e) => sum + parseCoinAmount(e.amount), 0n),
        vouts: entries.map((e) => e.vout).sort((a, b) => a - b),
        ...locks,
      };
      if (first.confirmations > 0 && first.blockhash) {
        // Bitcoin Core >= 0.20 and Litecoin Core 0.21 report `blockheight`; Dash Core reports only
        // the block hash, so its height comes from the header (once per block per poll).
        const blockHeight = first.blockheight ?? (await heightOf(first.blockhash));
        const confirmations = tipHeight - blockHeight + 1;
        return { ...base, state: "block", blockHash: first.blockhash, blockHeight, confirmations };
      }
      // Depth 0: unconfirmed, but the wallet also keeps transactions that left the mempool.
      // Negative depth: conflicted by a transaction in the best chain.
      const state = first.confirmations === 0 && (await inMempool(first.txid)) ? "mempool" : "vanished";
      return { ...base, state, blockHash: null, blockHeight: null, confirmations: 0 };
    };

    for (const entries of groups.values()) observations.push(await observe(entries));

    // Removed by a reorg, or tracked but no longer listed: ask the wallet where they are now.
    const unresolved = new Map<string, TrackedPayment>();
    for (const entry of listing.removed ?? []) {
      if (entry.category === "receive" && entry.address) {
        unresolved.set(`${entry.txid}:${entry.address}`, { txid: entry.txid, address: entry.address });
      }
    }
    for (const t of tracked) unresolved.set(`${t.txid}:${t.address}`, t);
    for (const [key, t] of unresolved) {
      if (groups.has(key)) continue;
      observations.push(await this.#resolve(t, observe));
    }
    return { cursor: listing.lastblock, tipHeight, observations, cursorReset };
  }

  /** Where a payment is now, from the wallet's own record (past the listing window, or reorged). */
  async #resolve(
    t: TrackedPayment,
    observe: (entries: WalletEntry[]) => Promise<PaymentObservation>,
  ): Promise<PaymentObservation> {
    let tx: GetTransaction;
    try {
      tx = await this.#rpc.call("gettransaction", [t.txid, true]);
    } catch (error) {
      if (!(error instanceof RpcError && error.code === RPC_INVALID_ADDRESS_OR_KEY)) throw error;
      const none = { instantLock: false, chainLock: false, blockHash: null, blockHeight: null };
      return { ...t, amount: 0n, vouts: [], state: "vanished", confirmations: 0, ...none };
    }
    const entries: WalletEntry[] = tx.details
      .filter((d) => d.category === "receive" && d.address === t.address)
      .map((d) => ({
        ...d,
        txid: tx.txid,
        confirmations: tx.confirmations,
        ...(tx.blockhash ? { blockhash: tx.blockhash } : {}),
        ...(tx.blockheight !== undefined ? { blockheight: tx.blockheight } : {}),
        ...(tx.instantlock !== undefined ? { instantlock: tx.instantlock } : {}),
        ...(tx.chainlock !== undefined ? { chainlock: tx.chainlock } : {}),
      }));
    if (entries.length === 0) {
      const none = { instantLock: false, chainLock: false, blockHash: null, blockHeight: null };
      return { ...t, amount: 0n, vouts: [], state: "vanished", confirmations: 0, ...none };
    }
    return observe(entries);
  }
}
