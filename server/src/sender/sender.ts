import {
  createWalletClient,
  custom,
  keccak256,
  TransactionNotFoundError,
  TransactionReceiptNotFoundError,
  type PublicClient,
  type TransactionReceipt,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { SecretKey } from "../config/sweeper.ts";
import type { Db, Queryable } from "../db/types.ts";
import { isRetryable } from "../indexer/rpc.ts";
import { firstLine } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import { createSerial, type Serial } from "../lib/serial.ts";
import type { L1DataFee } from "./l1-fee.ts";
import { sleep } from "../lib/sleep.ts";
import {
  claimUnowned,
  fillCall,
  highestPendingNonce,
  insertOutgoing,
  newestFeeCaps,
  openCounts,
  openOutgoing,
  outgoingByIds,
  recordBump,
  recordRebroadcast,
  setOutgoingState,
  type OutgoingState,
  type OutgoingTransaction,
} from "./repository.ts";

/** EIP-1559 fees as read from the chain now. */
export interface Fees {
  baseFee: bigint;
  /** The tip (maxPriorityFeePerGas). */
  priority: bigint;
  /** maxFeePerGas: 2 × base fee + tip (room for the base fee to double). */
  maxFee: bigint;
}

/** A fee raised by at least 12.5 % (nodes want 10 % to replace a pending transaction), and at least `floor`. */
export function bumped(previous: bigint, floor: bigint): bigint {
  const raised = previous + previous / 8n + 1n;
  return raised > floor ? raised : floor;
}

export interface SendRequest {
  /** Who sends it and why, recorded with it ('sweep', 'collect'). */
  purpose: string;
  to: `0x${string}`;
  data: `0x${string}`;
  value?: bigint;
  /** The gas estimate; the limit signed is 25 % above it. */
  gas: bigint;
  /** The fees the caller's policy was decided with (the gas-share rule); default: read now. */
  fees?: Fees;
}

/** What a transaction would cost now, in wei (the gas-share rule weighs `total`). */
export interface SendCost {
  /** L2 execution: gas × (base fee + tip). */
  l2: bigint;
  /** The L1 data fee (0 on a chain without one). */
  l1: bigint;
  total: bigint;
}

export interface SendHooks {
  /**
   * The caller's own bookkeeping, in the database transaction that records the outgoing row (before
   * the broadcast): e.g. the sweep row that references `sent.id`. A throw records nothing.
   */
  recorded?(tx: Queryable, sent: OutgoingTransaction): Promise<void>;
  /** The node refused the broadcast (nothing is pending): in the transaction that marks the row `failed`. */
  refused?(tx: Queryable, sent: OutgoingTransaction, error: string): Promise<void>;
}

export type SendOutcome =
  /**
   * Recorded and broadcast. `broadcastError`: the broadcast met an RPC error (a timeout, a 5xx, a
   * lost connection), so whether the node has it is unknown; it stays recorded and followed (a
   * transaction the node does not have is broadcast again).
   */
  | { kind: "sent"; transaction: OutgoingTransaction; broadcastError?: string }
  /** The node refused it (nonce too low, insufficient funds, …): recorded as `failed`. */
  | { kind: "refused"; transaction: OutgoingTransaction; error: string };

/** What following one transaction did. */
export interface FollowEvent {
  id: bigint;
  purpose: string;
  kind: "mined" | "confirmed" | "reverted" | "reorged-out" | "replaced" | "rebroadcast" | "bumped";
  txHash: `0x${string}`;
}

export interface FollowReport {
  events: FollowEvent[];
  /** Transactions that could not be followed this time (an RPC error): left as they were. */
  errors: { id: bigint; error: string }[];
}

/**
 * A module that sends through the sender. `step` decides what to send from where the key's
 * transactions stand after the round's follow (the run loop follows once per round, before every
 * step); `tick` is one step on its own: the sender follows first, then `step`.
 */
export interface SendingPolicy {
  readonly name: string;
  step(): Promise<unknown>;
  tick(): Promise<unknown>;
}

export interface SenderDeps {
  db: Db;
  client: PublicClient;
  chainId: bigint;
  /** The key (gas money only). */
  privateKey: SecretKey;
  /** SWEEP_STUCK_BLOCKS: a transaction not mined this many blocks after it was signed is signed again under its nonce with higher fees. */
  stuckBlocks: number;
  /** CONFIRMATIONS: a mined transaction is settled (`confirmed`) once `settledBlock` is this many blocks into its block. */
  confirmations: number;
  /** The newest block the owners have taken in (the indexer's cursor); default: the chain head. */
  settledBlock?: () => bigint | null;
  log: Logger;
  /**
   * The section in which "nonce → sign → record → broadcast" and the following run, one at a time;
   * two senders of one key in one process must share it (default: one of its own).
   */
  serial?: Serial;
  /** Pause between two rounds of `run` (default 1 s). */
  pollIntervalMs?: number;
  /** The chain's L1 data fee (L1_DATA_FEE=op or arbitrum), counted by `cost`; undefined on an L1. */
  l1DataFee?: L1DataFee;
}

export interface Sender {
  /** The key's address. */
  readonly address: `0x${string}`;
  readonly chainId: bigint;
  /** Fees now: base fee of the latest block, the node's suggested tip, 2 × base fee + tip. */
  fees(): Promise<Fees>;
  /**
   * What sending this call with this gas estimate would cost now: gas × (base fee + tip), plus the
   * chain's L1 data fee (an OP stack's GasPriceOracle, Arbitrum's NodeInterface). An RPC error is
   * thrown, never read as "free".
   */
  cost(call: { to: `0x${string}`; data: `0x${string}`; gas: bigint; fees?: Fees }): Promise<SendCost>;
  /** Picks the nonce, signs, records the transaction (and the caller's bookkeeping), then broadcasts it. */
  send(request: SendRequest, hooks?: SendHooks): Promise<SendOutcome>;
  /**
   * Follows every open transaction of the key once: mined (then confirmed, or reverted), reorged out
   * (back to `sent`), replaced, dropped (the same bytes broadcast again), stuck (signed again under
   * its nonce with higher fees). An RPC error leaves a transaction as it was. Calls made while one
   * runs share it.
   */
  follow(): Promise<FollowReport>;
  /** The open transactions (`sent`, `mined`) of one purpose, by nonce. */
  open(purpose: string): Promise<OutgoingTransaction[]>;
  /** These transactions, by id. */
  transactions(ids: readonly bigint[]): Promise<Map<bigint, OutgoingTransaction>>;
  /**
   * What a transaction recorded before the sender (migration 130) was signed with, given by its
   * owner: until then it is followed, but not signed again (dropped or stuck).
   */
  fillIn(id: bigint, call: { to: `0x${string}`; data: `0x${string}` }): Promise<void>;
  /**
   * For the operator (/metrics): the key's open transactions by purpose and state, and what the
   * newest transaction of each purpose could cost at most (gas limit × max fee), in wei.
   */
  stats(): Promise<SenderStats>;
  /**
   * The key's one loop: each round, one follow of the key's transactions, then each policy's step
   * in turn; every pollIntervalMs, until `signal` aborts.
   */
  run(signal: AbortSignal, policies: readonly SendingPolicy[]): Promise<void>;
}

export interface SenderStats {
  open: { purpose: string; state: OutgoingState; count: bigint }[];
  newestFeeCap: { purpose: string; wei: bigint }[];
}

/** The JSON-RPC error's own words when there are some (viem's message starts with a generic line). */
function reason(error: unknown): string {
  const e = error as { details?: unknown; shortMessage?: unknown };
  if (typeof e.details === "string" && e.details) return e.details.split("\n")[0] as string;
  if (typeof e.shortMessage === "string" && e.shortMessage) return e.shortMessage;
  return firstLine(error);
}

/**
 * The one transaction sender of a key on one chain (docs/sender.md). Every module that signs with
 * the key (the sweeper, the token-subscription collector) sends through it, keeping only its policy:
 * what to send, and when.
 */
export function createSender(deps: SenderDeps): Sender {
  const { db, client, chainId, log } = deps;
  const account = privateKeyToAccount(deps.privateKey.reveal());
  // A local account: transactions are signed in this process, then sent raw through the chain's client.
  const wallet = createWalletClient({
    account,
    transport: custom({ request: (args) => client.request(args as never) }),
  });
  const address = account.address;
  const serial = deps.serial ?? createSerial();
  let claimed = false;
  let following: Promise<FollowReport> | undefined;

  async function fees(): Promise<Fees> {
    const block = await client.getBlock({ blockTag: "latest" });
    const baseFee = block.baseFeePerGas ?? (await client.getGasPrice());
    // A node without eth_maxPriorityFeePerGas gets 1 gwei; an RPC error is an error.
    const priority = await client.estimateMaxPriorityFeePerGas().catch((error: unknown) => {
      if (isRetryable(error)) throw error;
      return 1_000_000_000n;
    });
    return { baseFee, priority, maxFee: baseFee * 2n + priority };
  }

  async function cost(call: {
    to: `0x${string}`;
    data: `0x${string}`;
    gas: bigint;
    fees?: Fees;
  }): Promise<SendCost> {
    const now = call.fees ?? (await fees());
    const perGas = now.baseFee + now.priority;
    if (!deps.l1DataFee) {
      const l2 = call.gas * perGas;
      return { l2, l1: 0n, total: l2 };
    }
    const nonce = await client.getTransactionCount({ address, blockTag: "pending" });
    const l1 = await deps.l1DataFee.estimate({
      chainId,
      nonce,
      to: call.to,
      data: call.data,
      // What send() signs: the estimate and 25 %.
      gas: call.gas + call.gas / 4n,
      maxFeePerGas: now.maxFee,
      maxPriorityFeePerGas: now.priority,
    });
    // On Arbitrum the estimate already holds the L1 part (in L2 gas): counted once, as L1.
    const l2Gas = call.gas > l1.gasInEstimate ? call.gas - l1.gasInEstimate : 0n;
    const l2 = l2Gas * perGas;
    return { l2, l1: l1.wei, total: l2 + l1.wei };
  }

  interface Version {
    nonce: bigint;
    to: `0x${string}`;
    data: `0x${string}`;
    value: bigint;
    gas: bigint;
    maxFeePerGas: bigint;
    maxPriorityFeePerGas: bigint;
  }

  /** Signs one version (deterministic signatures, RFC 6979: the same version gives the same bytes). */
  async function sign(v: Version) {
    const serialized = await wallet.signTransaction({
      account,
      chain: null,
      chainId: Number(chainId),
      type: "eip1559",
      to: v.to,
      data: v.data,
      value: v.value,
      nonce: Number(v.nonce),
      gas: v.gas,
      maxFeePerGas: v.maxFeePerGas,
      maxPriorityFeePerGas: v.maxPriorityFeePerGas,
    });
    return { serialized, hash: keccak256(serialized) };
  }

  type Broadcast =
    { kind: "accepted" } | { kind: "unknown"; error: string } | { kind: "refused"; error: string };

  /** An RPC error (the node may have it or not) is not a refusal (the node said no). */
  async function broadcast(serialized: `0x${string}`): Promise<Broadcast> {
    try {
      await client.sendRawTransaction({ serializedTransaction: serialized });
      return { kind: "accepted" };
    } catch (error) {
      if (/already known|known transaction|already imported/i.test((error as Error).message ?? "")) {
        return { kind: "accepted" };
      }
      if (isRetryable(error)) return { kind: "unknown", error: firstLine(error) };
      return { kind: "refused", error: reason(error) };
    }
  }

  /** The receipt of any version, newest first; null only when the node says it has none. */
  async function receiptOfAny(hashes: readonly `0x${string}`[]): Promise<TransactionReceipt | null> {
    for (const hash of [...hashes].reverse()) {
      try {
        return await client.getTransactionReceipt({ hash });
      } catch (error) {
        // Absent means the node answered "no such receipt"; a timeout, a 429 or a 5xx is not an answer.
        if (!(error instanceof TransactionReceiptNotFoundError)) throw error;
      }
    }
    return null;
  }

  /** Whether the node knows any version (in its pool); false only when it says it knows none. */
  async function anyKnown(hashes: readonly `0x${string}`[]): Promise<boolean> {
    for (const hash of [...hashes].reverse()) {
      try {
        await client.getTransaction({ hash });
        return true;
      } catch (error) {
        if (!(error instanceof TransactionNotFoundError)) throw error;
      }
    }
    return false;
  }

  const versionOf = (t: OutgoingTransaction): Version => ({
    nonce: t.nonce,
    to: t.to as `0x${string}`,
    data: t.data as `0x${string}`,
    value: t.value,
    gas: t.gasLimit,
    maxFeePerGas: t.maxFeePerGas,
    maxPriorityFeePerGas: t.maxPriorityFeePerGas,
  });

  async function send(request: SendRequest, hooks: SendHooks = {}): Promise<SendOutcome> {
    return serial(async (): Promise<SendOutcome> => {
      const head = await client.getBlockNumber({ cacheTime: 0 });
      // The node's pending nonce, past every transaction of ours not yet mined: one the node
      // dropped (to be broadcast again) keeps its nonce.
      const pending = BigInt(await client.getTransactionCount({ address, blockTag: "pending" }));
      const ours = await highestPendingNonce(db, chainId, address);
      const nonce = ours !== null && ours + 1n > pending ? ours + 1n : pending;
      const now = request.fees ?? (await fees());
      const version: Version = {
        nonce,
        to: request.to,
        data: request.data,
        value: request.value ?? 0n,
        gas: request.gas + request.gas / 4n,
        maxFeePerGas: now.maxFee,
        maxPriorityFeePerGas: now.priority,
      };
      const { serialized, hash } = await sign(version);
      // Recorded before it is broadcast: a crash in between cannot lose track of it.
      const transaction = await db.transaction(async (tx) => {
        const t = await insertOutgoing(tx, {
          chainId,
          sender: address,
          purpose: request.purpose,
          nonce,
          to: version.to,
          data: version.data,
          value: version.value,
          gasLimit: version.gas,
          maxFeePerGas: version.maxFeePerGas,
          maxPriorityFeePerGas: version.maxPriorityFeePerGas,
          txHash: hash,
          sentBlock: head,
        });
        await hooks.recorded?.(tx, t);
        return t;
      });
      const sent = await broadcast(serialized);
      const context = { purpose: request.purpose, tx: hash, nonce: nonce.toString() };
      if (sent.kind === "refused") {
        await db.transaction(async (tx) => {
          await setOutgoingState(tx, transaction.id, "failed", { error: sent.error });
          await hooks.refused?.(tx, transaction, sent.error);
        });
        log.warn({ ...context, err: sent.error }, "sender: the node refused the transaction");
        return {
          kind: "refused",
          transaction: { ...transaction, state: "failed", error: sent.error },
          error: sent.error,
        };
      }
      if (sent.kind === "unknown") {
        log.warn(
          { ...context, err: sent.error },
          "sender: broadcasting met an RPC error; the transaction stays recorded and is followed",
        );
        return { kind: "sent", transaction, broadcastError: sent.error };
      }
      log.info(context, "sender: transaction sent");
      return { kind: "sent", transaction };
    });
  }

  /** Follows one open transaction; what changed, if anything. Throws on an RPC error. */
  async function followOne(
    t: OutgoingTransaction,
    head: bigint,
    settled: bigint,
  ): Promise<FollowEvent | undefined> {
    const context = { id: t.id.toString(), purpose: t.purpose, nonce: t.nonce.toString() };
    const event = (kind: FollowEvent["kind"], txHash: `0x${string}`): FollowEvent => ({
      id: t.id,
      purpose: t.purpose,
      kind,
      txHash,
    });
    const receipt = await receiptOfAny(t.txHashes);
    if (receipt) {
      const mined = {
        txHash: receipt.transactionHash,
        minedBlock: receipt.blockNumber,
        minedBlockHash: receipt.blockHash,
      };
      if (receipt.status === "reverted") {
        await setOutgoingState(db, t.id, "reverted", { ...mined, error: "reverted on chain" });
        log.warn({ ...context, tx: receipt.transactionHash }, "sender: transaction reverted on chain");
        return event("reverted", receipt.transactionHash);
      }
      const confirmed = settled - receipt.blockNumber + 1n >= BigInt(deps.confirmations);
      const state = confirmed ? "confirmed" : "mined";
      if (state === t.state && receipt.blockHash === t.minedBlockHash) return undefined;
      await setOutgoingState(db, t.id, state, mined);
      log.info(
        { ...context, tx: receipt.transactionHash, block: receipt.blockNumber.toString() },
        `sender: transaction ${state}`,
      );
      return event(state, receipt.transactionHash);
    }
    if (t.state === "mined") {
      // A reorg took it away: pending again (or gone: then it is broadcast again, next time). The
      // stuck clock starts over.
      await setOutgoingState(db, t.id, "sent", { minedBlock: null, minedBlockHash: null, sentBlock: head });
      log.warn({ ...context, tx: t.txHash }, "sender: mined transaction reorged out; following it again");
      return event("reorged-out", t.txHash);
    }
    const used = BigInt(await client.getTransactionCount({ address, blockTag: "latest" }));
    if (used > t.nonce) {
      // Mined between the two reads? Then it is followed next time.
      if (await receiptOfAny(t.txHashes)) return undefined;
      // The nonce was used, by none of our versions: another transaction of the key replaced it.
      await setOutgoingState(db, t.id, "replaced", { error: "nonce used by another transaction" });
      log.warn({ ...context, tx: t.txHash }, "sender: transaction replaced by another one of the key");
      return event("replaced", t.txHash);
    }
    if (t.to === null || t.data === null) return undefined;
    if (!(await anyKnown(t.txHashes))) {
      // Dropped from the node's pool (or never broadcast: a crash, an RPC error): the newest
      // version again, the very same bytes.
      const { serialized, hash } = await sign(versionOf(t));
      await recordRebroadcast(db, t.id);
      const sent = await broadcast(serialized);
      log.warn(
        {
          ...context,
          tx: hash,
          broadcast: sent.kind,
          ...(sent.kind === "accepted" ? {} : { err: sent.error }),
        },
        "sender: transaction not known to the node; broadcast again",
      );
      return event("rebroadcast", hash);
    }
    if (head - t.sentBlock < BigInt(deps.stuckBlocks)) return undefined;
    // Stuck: the same nonce with both fees raised, so whichever version is mined it happens once.
    const now = await fees();
    const maxPriorityFeePerGas = bumped(t.maxPriorityFeePerGas, now.priority);
    const maxFeePerGas = bumped(t.maxFeePerGas, now.baseFee * 2n + maxPriorityFeePerGas);
    const { serialized, hash } = await sign({ ...versionOf(t), maxFeePerGas, maxPriorityFeePerGas });
    await recordBump(db, t.id, { txHash: hash, maxFeePerGas, maxPriorityFeePerGas, sentBlock: head });
    const sent = await broadcast(serialized);
    log.info(
      {
        ...context,
        tx: hash,
        attempt: t.attempts + 1,
        maxFeePerGas: maxFeePerGas.toString(),
        broadcast: sent.kind,
        ...(sent.kind === "accepted" ? {} : { err: sent.error }),
      },
      "sender: transaction stuck; signed again with higher fees under its nonce",
    );
    return event("bumped", hash);
  }

  async function followAll(): Promise<FollowReport> {
    if (!claimed) {
      await claimUnowned(db, chainId, address);
      claimed = true;
    }
    const report: FollowReport = { events: [], errors: [] };
    const open = await openOutgoing(db, chainId, address);
    if (open.length === 0) return report;
    const head = await client.getBlockNumber({ cacheTime: 0 });
    const settled = deps.settledBlock ? deps.settledBlock() : head;
    for (const t of open) {
      try {
        const e = await followOne(t, head, settled ?? -1n);
        if (e) report.events.push(e);
      } catch (error) {
        // An RPC error is an error: the transaction stays as it was, followed again next time.
        const message = firstLine(error);
        report.errors.push({ id: t.id, error: message });
        log.warn(
          { id: t.id.toString(), purpose: t.purpose, err: message },
          "sender: following failed; retrying",
        );
      }
    }
    return report;
  }

  function follow(): Promise<FollowReport> {
    following ??= serial(followAll).finally(() => {
      following = undefined;
    });
    return following;
  }

  return {
    address,
    chainId,
    fees,
    cost,
    send,
    follow,
    open: (purpose) => openOutgoing(db, chainId, address, purpose),
    transactions: (ids) => outgoingByIds(db, ids),
    fillIn: (id, call) => fillCall(db, id, call),
    async stats() {
      const [open, newestFeeCap] = await Promise.all([
        openCounts(db, chainId, address),
        newestFeeCaps(db, chainId, address),
      ]);
      return { open, newestFeeCap };
    },
    async run(signal, policies) {
      log.info(
        { sender: address, policies: policies.map((p) => p.name) },
        "sender: sending for this chain's key (it leads the chain's indexer)",
      );
      const pause = deps.pollIntervalMs ?? 1_000;
      while (!signal.aborted) {
        // Once per round for every policy: they read where their transactions stand after it. A
        // failed follow leaves the transactions as they were, which the steps still read safely.
        await follow().catch((error: unknown) =>
          log.warn({ err: firstLine(error) }, "sender: following failed; retrying"),
        );
        for (const p of policies) {
          if (signal.aborted) break;
          try {
            await p.step();
          } catch (error) {
            log.warn({ err: firstLine(error) }, `${p.name}: tick failed; retrying`);
          }
        }
        await sleep(pause, signal);
      }
    },
  };
}
