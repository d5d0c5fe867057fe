import { firstLine } from "../lib/errors.ts";
import {
  createWalletClient,
  custom,
  encodeFunctionData,
  keccak256,
  type PublicClient,
  type TransactionReceipt,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { ETH_TOKEN } from "../chain/abi.ts";
import type { SweeperConfig } from "../config/sweeper.ts";
import type { Queryable } from "../db/types.ts";
import { depositsAbi } from "../deposits/abi.ts";
import { depositsReadyToSweep } from "../deposits/repository.ts";
import type { Logger } from "../lib/log.ts";
import { createSerial, type Serial } from "../lib/serial.ts";
import { sleep } from "../lib/sleep.ts";
import type { PriceSource } from "../pricing/index.ts";
import {
  bumped,
  entriesFrom,
  gasWithinShare,
  tokenValueWei,
  type BatchEntry,
  type TokenValuation,
} from "./policy.ts";
import {
  insertSweep,
  lastSweepBlock,
  openSweeps,
  recordRebroadcast,
  setSweepState,
  type SweepRecord,
  type SweptDeposit,
} from "./repository.ts";

const erc20BalanceAbi = [
  {
    type: "function",
    name: "balanceOf",
    stateMutability: "view",
    inputs: [{ name: "owner", type: "address" }],
    outputs: [{ name: "", type: "uint256" }],
  },
] as const;

export interface SweeperDeps {
  db: Queryable;
  client: PublicClient;
  chainId: bigint;
  /** The PaymentProcessor whose `sweepDeposits` is called. */
  contract: `0x${string}`;
  confirmations: number;
  /** The key and the policy. */
  config: SweeperConfig;
  /** Allowlisted tokens, to value token deposits in ETH for the gas-share rule. */
  tokens: readonly TokenValuation[];
  prices: PriceSource;
  /** The newest block whose effects are in the database (the indexer's cursor). */
  indexedBlock: () => bigint | null;
  log: Logger;
  /** Pause between two ticks in `run` (default 1 s). */
  pollIntervalMs?: number;
  /**
   * The section every sender with this key runs its "pending nonce → sign → broadcast" in (the
   * chain's collector shares the key); default: one of its own.
   */
  serial?: Serial;
}

/** What one tick did, for logs and tests. */
export type TickOutcome =
  | { kind: "not-indexed" }
  | { kind: "in-flight"; sweep: bigint }
  | { kind: "interval"; nextBlock: bigint }
  | { kind: "nothing" }
  | { kind: "uneconomic"; entries: number; costWei: bigint; valueWei: bigint }
  | { kind: "sent"; txHash: `0x${string}`; nonce: bigint; entries: number }
  | { kind: "send-failed"; error: string };

export interface Sweeper {
  /** The sweeper's address (gas money only; it can only credit the merchant bound in each deposit). */
  readonly address: `0x${string}`;
  /** Tracks the open sweeps (receipts, confirmations, stuck or dropped transactions), then maybe sends one. */
  tick(): Promise<TickOutcome>;
  /** Ticks until `signal` aborts; errors are logged and retried on the next tick. */
  run(signal: AbortSignal): Promise<void>;
}

/**
 * The sweeper of one chain: a key holding only gas money that calls `sweepDeposits` for confirmed
 * deposits, in batches, on the operator's policy (CONFIRMATIONS, SWEEP_INTERVAL_BLOCKS,
 * SWEEP_MAX_GAS_SHARE, SWEEP_MAX_BATCH), and tracks each transaction until it is confirmed
 * (SWEEP_STUCK_BLOCKS: re-sent with a higher fee under the same nonce). The indexer records what a
 * mined sweep did (deposit_sweeps) and completes the orders; the sweeper only gets it mined.
 */
export function createSweeper(deps: SweeperDeps): Sweeper {
  const { db, client, chainId, contract, config, log } = deps;
  const account = privateKeyToAccount(config.privateKey.reveal());
  // A local account: transactions are signed in this process, then sent raw through the chain's client.
  const wallet = createWalletClient({
    account,
    transport: custom({ request: (args) => client.request(args as never) }),
  });
  const address = account.address;
  const sender = address.toLowerCase();
  const tokenInfo = new Map(deps.tokens.map((t) => [t.address.toLowerCase(), t]));
  const serial = deps.serial ?? createSerial();

  async function fees() {
    const block = await client.getBlock({ blockTag: "latest" });
    const baseFee = block.baseFeePerGas ?? (await client.getGasPrice());
    const priority = await client.estimateMaxPriorityFeePerGas().catch(() => 1_000_000_000n);
    return { baseFee, priority, maxFee: baseFee * 2n + priority };
  }

  async function sign(tx: {
    data: `0x${string}`;
    nonce: bigint;
    gas: bigint;
    maxFeePerGas: bigint;
    maxPriorityFeePerGas: bigint;
  }) {
    const serialized = await wallet.signTransaction({
      account,
      chain: null,
      chainId: Number(chainId),
      type: "eip1559",
      to: contract,
      data: tx.data,
      nonce: Number(tx.nonce),
      gas: tx.gas,
      maxFeePerGas: tx.maxFeePerGas,
      maxPriorityFeePerGas: tx.maxPriorityFeePerGas,
      value: 0n,
    });
    return { serialized, hash: keccak256(serialized) };
  }

  const calldata = (entries: readonly BatchEntry[]) =>
    encodeFunctionData({
      abi: depositsAbi,
      functionName: "sweepDeposits",
      args: [
        entries.map((e) => ({
          merchant: e.merchant as `0x${string}`,
          orderId: e.orderRef as `0x${string}`,
          token: e.token as `0x${string}`,
        })),
      ],
    });
  const estimate = (entries: readonly BatchEntry[]) =>
    client.estimateGas({ account: address, to: contract, data: calldata(entries) });

  async function receiptOf(hash: `0x${string}`): Promise<TransactionReceipt | null> {
    return client.getTransactionReceipt({ hash }).catch(() => null);
  }

  /** Follows one open sweep: mined, confirmed, reverted, reorged out, stuck, dropped or replaced. */
  async function track(s: SweepRecord, head: bigint, indexed: bigint | null): Promise<void> {
    let receipt: TransactionReceipt | null = null;
    for (const hash of [...s.txHashes].reverse()) {
      receipt = await receiptOf(hash);
      if (receipt) break;
    }
    if (receipt) {
      if (receipt.status === "reverted") {
        // Its deposits are free again; the next batch is simulated first, so a bad entry is dropped.
        log.warn({ sweep: s.id.toString(), tx: receipt.transactionHash }, "sweeper: sweep reverted on chain");
        await setSweepState(db, s.id, "failed", {
          txHash: receipt.transactionHash,
          minedBlock: receipt.blockNumber,
          minedBlockHash: receipt.blockHash,
          error: "reverted on chain",
        });
        return;
      }
      const confirmed = indexed !== null && indexed - receipt.blockNumber + 1n >= BigInt(deps.confirmations);
      const state = confirmed ? "confirmed" : "mined";
      if (state !== s.state || receipt.blockHash !== s.minedBlockHash) {
        await setSweepState(db, s.id, state, {
          txHash: receipt.transactionHash,
          minedBlock: receipt.blockNumber,
          minedBlockHash: receipt.blockHash,
        });
        log.info(
          { sweep: s.id.toString(), tx: receipt.transactionHash, block: receipt.blockNumber.toString() },
          `sweeper: sweep ${state}`,
        );
      }
      return;
    }
    if (s.state === "mined") {
      // A reorg took the mined transaction away: it is pending again (or gone; handled below next time).
      log.warn(
        { sweep: s.id.toString(), tx: s.txHash },
        "sweeper: mined sweep reorged out; tracking it again",
      );
      await setSweepState(db, s.id, "sent", { minedBlock: null, minedBlockHash: null, sentBlock: head });
      return;
    }
    const minedNonce = BigInt(await client.getTransactionCount({ address, blockTag: "latest" }));
    if (minedNonce > s.nonce) {
      // The nonce was used, but by none of our hashes: another transaction from this key replaced it.
      // Its deposits are free again (anything already swept reads as empty and is left out).
      log.warn(
        { sweep: s.id.toString(), nonce: s.nonce.toString() },
        "sweeper: sweep replaced by another transaction",
      );
      await setSweepState(db, s.id, "replaced", { error: "nonce used by another transaction" });
      return;
    }
    const pending = await Promise.all(
      s.txHashes.map((hash) =>
        client.getTransaction({ hash }).then(
          () => true,
          () => false,
        ),
      ),
    );
    const dropped = !pending.some(Boolean);
    if (!dropped && head - s.sentBlock < BigInt(config.stuckBlocks)) return;
    // Stuck (not mined within SWEEP_STUCK_BLOCKS) or dropped from the pool: the same nonce again,
    // with a higher fee, so whichever is mined the deposits are swept once.
    const now = await fees();
    const maxPriorityFeePerGas = bumped(s.maxPriorityFeePerGas, now.priority);
    const maxFeePerGas = bumped(s.maxFeePerGas, now.baseFee * 2n + maxPriorityFeePerGas);
    const entries = s.deposits.map((d) => ({
      address: d.address,
      merchant: d.merchant,
      orderRef: d.orderRef,
      token: d.token,
    }));
    const { serialized, hash } = await sign({
      data: calldata(entries),
      nonce: s.nonce,
      gas: s.gasLimit,
      maxFeePerGas,
      maxPriorityFeePerGas,
    });
    try {
      await client.sendRawTransaction({ serializedTransaction: serialized });
    } catch (error) {
      log.warn({ sweep: s.id.toString(), err: firstLine(error) }, "sweeper: re-sending the sweep failed");
      return;
    }
    await recordRebroadcast(db, s.id, { txHash: hash, maxFeePerGas, maxPriorityFeePerGas, sentBlock: head });
    log.info(
      { sweep: s.id.toString(), tx: hash, attempt: s.attempts + 1, maxFeePerGas: maxFeePerGas.toString() },
      dropped
        ? "sweeper: sweep dropped by the node; re-sent"
        : "sweeper: sweep stuck; re-sent with a higher fee",
    );
  }

  /** On-chain holdings of each entry now (an entry swept by someone else reads empty). */
  async function holdings(entries: readonly BatchEntry[]) {
    return Promise.all(
      entries.map(async (e) => {
        const eth = await client.getBalance({ address: e.address as `0x${string}` });
        const tokenAmount =
          e.token === ETH_TOKEN
            ? 0n
            : await client.readContract({
                address: e.token as `0x${string}`,
                abi: erc20BalanceAbi,
                functionName: "balanceOf",
                args: [e.address as `0x${string}`],
              });
        return { ...e, eth, tokenAmount };
      }),
    );
  }

  async function tick(): Promise<TickOutcome> {
    const indexed = deps.indexedBlock();
    if (indexed === null) return { kind: "not-indexed" };
    const head = await client.getBlockNumber();

    const open = await openSweeps(db, chainId);
    for (const s of open) await track(s, head, indexed);
    const stillOpen = await openSweeps(db, chainId);
    const inFlight = stillOpen.find((s) => s.state === "sent");
    if (inFlight) return { kind: "in-flight", sweep: inFlight.id };

    const last = await lastSweepBlock(db, chainId);
    if (last !== null && head < last + BigInt(config.intervalBlocks)) {
      return { kind: "interval", nextBlock: last + BigInt(config.intervalBlocks) };
    }

    // Deposits with CONFIRMATIONS, not in a sweep that is on its way (sent, or mined but not yet indexed).
    const busy = new Set(stillOpen.flatMap((s) => s.deposits.map((d) => d.address)));
    const candidates = await depositsReadyToSweep(db, chainId, indexed - BigInt(deps.confirmations) + 1n);
    const entries = entriesFrom(candidates, busy);
    if (entries.length === 0) return { kind: "nothing" };

    // Read what each deposit holds now: an empty entry still costs ~40k gas, and a deposit swept by
    // someone else since it was indexed reads empty here.
    const valued: ((typeof entries)[number] & {
      eth: bigint;
      tokenAmount: bigint;
      valueWei: bigint | undefined;
    })[] = (await holdings(entries))
      .filter((e) => e.eth > 0n || e.tokenAmount > 0n)
      .map((e) => ({ ...e, valueWei: e.tokenAmount > 0n ? undefined : e.eth }));
    // Tokens are valued in ETH with the chain's price source (usdPeg ÷ ETH/USD); without a price the
    // gas-share rule is skipped for a batch holding them.
    if (valued.some((e) => e.tokenAmount > 0n)) {
      const price = await deps.prices.ethUsd().catch((error: unknown) => {
        log.warn(
          { err: firstLine(error) },
          "sweeper: no ETH/USD price; token deposits are swept without the gas-share rule",
        );
        return undefined;
      });
      for (const e of valued) {
        if (e.tokenAmount === 0n || !price) continue;
        const tokenWei = tokenValueWei(e.tokenAmount, tokenInfo.get(e.token), price);
        e.valueWei = tokenWei === undefined ? undefined : e.eth + tokenWei;
      }
    }
    if (valued.length === 0) return { kind: "nothing" };
    // Biggest first: the gas-share rule keeps the largest prefix that pays for itself.
    valued.sort((a, b) =>
      (b.valueWei ?? 0n) > (a.valueWei ?? 0n) ? 1 : (b.valueWei ?? 0n) < (a.valueWei ?? 0n) ? -1 : 0,
    );
    let batch = valued.slice(0, config.maxBatch);

    // Simulate; if the batch fails, simulate each entry alone and drop those that fail.
    let gas: bigint;
    try {
      gas = await estimate(batch);
    } catch (error) {
      log.warn({ err: firstLine(error) }, "sweeper: batch simulation failed; checking each deposit");
      const ok = await Promise.all(
        batch.map((e) =>
          estimate([e]).then(
            () => true,
            () => false,
          ),
        ),
      );
      const dropped = batch.filter((_, i) => !ok[i]);
      for (const e of dropped) {
        log.warn(
          { deposit: e.address, token: e.token },
          "sweeper: deposit left out: its sweep fails in simulation",
        );
      }
      batch = batch.filter((_, i) => ok[i]);
      if (batch.length === 0) return { kind: "nothing" };
      gas = await estimate(batch);
    }

    // SWEEP_MAX_GAS_SHARE: gas × (base fee + tip) against the value swept.
    const now = await fees();
    const feeNow = now.baseFee + now.priority;
    const passes = (b: typeof batch, g: bigint) =>
      gasWithinShare(
        g * feeNow,
        b.reduce((sum, e) => sum + (e.valueWei ?? 0n), 0n),
        config.maxGasSharePpm,
        b.some((e) => e.valueWei === undefined),
      );
    if (!passes(batch, gas)) {
      // The largest prefix (by value) that passes, by bisection over fresh estimates.
      let lo = 0;
      let hi = batch.length - 1;
      let best: { n: number; gas: bigint } | undefined;
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        const g = await estimate(batch.slice(0, mid));
        if (passes(batch.slice(0, mid), g)) {
          best = { n: mid, gas: g };
          lo = mid;
        } else hi = mid - 1;
      }
      if (!best) {
        const valueWei = batch.reduce((sum, e) => sum + (e.valueWei ?? 0n), 0n);
        return { kind: "uneconomic", entries: batch.length, costWei: gas * feeNow, valueWei };
      }
      batch = batch.slice(0, best.n);
      gas = best.gas;
    }

    // Nonce, signature and broadcast in one section shared with every sender of this key (the
    // token-subscription collector): two transactions never get the same pending nonce.
    return serial(async (): Promise<TickOutcome> => {
      const nonce = BigInt(await client.getTransactionCount({ address, blockTag: "pending" }));
      const gasLimit = gas + gas / 4n;
      const maxPriorityFeePerGas = now.priority;
      const maxFeePerGas = now.maxFee;
      const { serialized, hash } = await sign({
        data: calldata(batch),
        nonce,
        gas: gasLimit,
        maxFeePerGas,
        maxPriorityFeePerGas,
      });
      const deposits: SweptDeposit[] = batch.map((e) => ({
        address: e.address,
        merchant: e.merchant,
        orderRef: e.orderRef,
        token: e.token,
        eth: e.eth,
        tokenAmount: e.tokenAmount,
      }));
      // Recorded before it is broadcast: a crash in between cannot lose track of it.
      const record = await insertSweep(db, {
        chainId,
        sender,
        nonce,
        txHash: hash,
        deposits,
        value: batch.reduce((sum, e) => sum + (e.valueWei ?? e.eth), 0n),
        gasLimit,
        maxFeePerGas,
        maxPriorityFeePerGas,
        sentBlock: head,
      });
      try {
        await client.sendRawTransaction({ serializedTransaction: serialized });
      } catch (error) {
        const message = firstLine(error);
        await setSweepState(db, record.id, "failed", { error: message });
        log.warn(
          { err: message, nonce: nonce.toString() },
          "sweeper: sending the sweep failed; retrying later",
        );
        return { kind: "send-failed", error: message };
      }
      log.info(
        { tx: hash, nonce: nonce.toString(), deposits: batch.length, gas: gas.toString() },
        "sweeper: sweep sent",
      );
      return { kind: "sent", txHash: hash, nonce, entries: batch.length };
    });
  }

  return {
    address,
    tick,
    async run(signal) {
      log.info({ sweeper: address }, "sweeper: running on this chain (it leads the chain's indexer)");
      const pause = deps.pollIntervalMs ?? 1_000;
      while (!signal.aborted) {
        try {
          const outcome = await tick();
          if (outcome.kind === "uneconomic") {
            log.debug(
              {
                deposits: outcome.entries,
                cost: outcome.costWei.toString(),
                value: outcome.valueWei.toString(),
              },
              "sweeper: not sweeping yet, gas would exceed SWEEP_MAX_GAS_SHARE",
            );
          }
        } catch (error) {
          log.warn({ err: firstLine(error) }, "sweeper: tick failed; retrying");
        }
        await sleep(pause, signal);
      }
    },
  };
}
