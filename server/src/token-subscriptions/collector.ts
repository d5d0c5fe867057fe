import { firstLine } from "../lib/errors.ts";
import {
  BaseError,
  ContractFunctionRevertedError,
  createWalletClient,
  custom,
  encodeFunctionData,
  keccak256,
  type PublicClient,
  type TransactionReceipt,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { SecretKey } from "../config/sweeper.ts";
import type { Queryable } from "../db/types.ts";
import type { Logger } from "../lib/log.ts";
import { createSerial, type Serial } from "../lib/serial.ts";
import { sleep } from "../lib/sleep.ts";
import type { Price, PriceSource } from "../pricing/index.ts";
import { bumped, gasWithinShare, tokenValueWei, type TokenValuation } from "../sweeper/policy.ts";
import { subscriptionsAbi } from "./abi.ts";
import {
  collectInFlight,
  dueSubscriptions,
  type DueSubscription,
  recordCollectDone,
  recordCollectFailure,
  recordCollectRebroadcast,
  recordCollectSent,
} from "./repository.ts";

export interface CollectorDeps {
  db: Queryable;
  client: PublicClient;
  chainId: bigint;
  /** The Subscriptions contract whose `collect(id)` is called. */
  subscriptions: `0x${string}`;
  /** The chain's gas-only key (SWEEPER_PRIVATE_KEY), shared with the sweeper. */
  privateKey: SecretKey;
  /** COLLECT_RETRY_BLOCKS: the back-off after a collect fails in simulation (doubling, up to 32×). */
  retryBlocks: number;
  /**
   * SWEEP_MAX_GAS_SHARE (the key's setting) in millionths: a collect whose gas × current fee exceeds
   * this share of the value it collects is not sent.
   */
  maxGasSharePpm: bigint;
  /** The chain's tokens (TOKENS), to value a period in ETH; a token not listed is not collected. */
  tokens: readonly TokenValuation[];
  /** ETH/USD, to value a period in ETH; without a price the gas-share rule is skipped (as the sweeper does). */
  prices: PriceSource;
  /** SWEEP_STUCK_BLOCKS (the key's setting): a collect not mined after this many blocks is re-sent with a higher fee. */
  stuckBlocks: number;
  /** The newest block whose effects are in the database (the indexer's cursor). */
  indexedBlock: () => bigint | null;
  log: Logger;
  /** The section shared with every other sender of this key (the sweeper); default: its own. */
  serial?: Serial;
  /** Subscriptions simulated per tick at most (default 20). */
  maxPerTick?: number;
  /** Pause between two ticks in `run` (default 1 s). */
  pollIntervalMs?: number;
}

/** What one tick did, for logs and tests. */
export type CollectOutcome =
  | { kind: "not-indexed" }
  | { kind: "in-flight"; id: bigint; txHash: `0x${string}` }
  | { kind: "nothing"; refused: { id: bigint; error: string }[] }
  | {
      kind: "sent";
      id: bigint;
      txHash: `0x${string}`;
      nonce: bigint;
      refused: { id: bigint; error: string }[];
    }
  | { kind: "send-failed"; id: bigint; error: string };

export interface Collector {
  /** The keeper's address (gas money only). */
  readonly address: `0x${string}`;
  /** Follows the collect in flight; when there is none, simulates the due subscriptions and sends one. */
  tick(): Promise<CollectOutcome>;
  /** Ticks until `signal` aborts; errors are logged and retried on the next tick. */
  run(signal: AbortSignal): Promise<void>;
}

/** The contract's custom error as `Name(arg, …)`, else the error's first line. */
export function revertReason(error: unknown): string {
  if (error instanceof BaseError) {
    const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
    if (reverted instanceof ContractFunctionRevertedError && reverted.data?.errorName) {
      const args = (reverted.data.args ?? []).map((a) => String(a)).join(", ");
      return `${reverted.data.errorName}(${args})`;
    }
  }
  return firstLine(error);
}

/** Blocks to wait after `failures` consecutive failures: retryBlocks × 2^(failures − 1), at most 32×. */
export const backoffBlocks = (retryBlocks: number, failures: number): bigint =>
  BigInt(retryBlocks) * 2n ** BigInt(Math.min(Math.max(failures - 1, 0), 5));

/**
 * The token-subscription collector (keeper) of one chain. Each tick it follows its transaction in
 * flight (one at a time per chain) until it is mined and indexed; otherwise it takes the indexed
 * subscriptions that are open, due by chain time (the head block's timestamp) and asked for by this
 * server (a token_pull subscription of one of its merchants, with exactly its terms: anyone can
 * create an on-chain subscription, and this key pays the gas), least recently attempted first. For
 * each it simulates `collect(id)` (eth_call), applies the gas-share rule (SWEEP_MAX_GAS_SHARE of the
 * period's value), and sends the first that passes. A subscription whose simulation reverts
 * (allowance lowered, balance short, token refused, processor paused), whose collect costs too
 * much gas for its value, or whose collect reverted on chain gets its error recorded and is left
 * alone for COLLECT_RETRY_BLOCKS blocks, doubling per consecutive failure: no transaction is sent
 * for it, and the others are tried meanwhile.
 *
 * The key is the sweeper's gas-only key. `collect(id)` lets its caller choose nothing but the
 * timing: the contract pulls the bound amount for the oldest unpaid period, only once it is due,
 * into the bound merchant's balance in the PaymentProcessor. A leaked key can waste its own gas,
 * never redirect money.
 */
export function createCollector(deps: CollectorDeps): Collector {
  const { db, client, chainId, subscriptions, log } = deps;
  const account = privateKeyToAccount(deps.privateKey.reveal());
  const wallet = createWalletClient({
    account,
    transport: custom({ request: (args) => client.request(args as never) }),
  });
  const address = account.address;
  const serial = deps.serial ?? createSerial();
  const maxPerTick = deps.maxPerTick ?? 20;
  const calldata = (id: bigint) =>
    encodeFunctionData({ abi: subscriptionsAbi, functionName: "collect", args: [id] });

  async function fees() {
    const block = await client.getBlock({ blockTag: "latest" });
    const baseFee = block.baseFeePerGas ?? (await client.getGasPrice());
    const priority = await client.estimateMaxPriorityFeePerGas().catch(() => 1_000_000_000n);
    return { baseFee, priority, maxFee: baseFee * 2n + priority };
  }

  /** Follows the collect in flight; returns it while it still is. */
  async function follow(head: bigint, indexed: bigint): Promise<CollectOutcome | undefined> {
    const flight = await collectInFlight(db, chainId);
    if (!flight?.txHash) return undefined;
    const id = flight.id.toString();
    let receipt: TransactionReceipt | null = null;
    for (const hash of [...flight.txHashes].reverse()) {
      receipt = await client.getTransactionReceipt({ hash }).catch(() => null);
      if (receipt) break;
    }
    if (receipt) {
      if (receipt.status === "reverted") {
        // Someone collected first, or the customer lowered the allowance after the simulation. It
        // cost gas: a failure like any other (backing off, doubling), or a customer who front-runs
        // every collect would burn the key's gas one block after another.
        const wait = backoffBlocks(deps.retryBlocks, flight.failures + 1);
        log.warn(
          { subscription: id, tx: receipt.transactionHash, retryInBlocks: wait.toString() },
          "collector: collect reverted on chain; backing off",
        );
        await recordCollectFailure(db, chainId, flight.id, {
          error: "collect reverted on chain",
          retryBlock: head + wait,
          counts: true,
        });
        return undefined;
      }
      // Until the indexer has its block, the stored paid-through still says "due".
      if (indexed < receipt.blockNumber) return { kind: "in-flight", id: flight.id, txHash: flight.txHash };
      log.info(
        { subscription: id, tx: receipt.transactionHash, block: receipt.blockNumber.toString() },
        "collector: period collected",
      );
      await recordCollectDone(db, chainId, flight.id);
      return undefined;
    }
    const pending = await Promise.all(
      flight.txHashes.map((hash) =>
        client.getTransaction({ hash }).then(
          () => true,
          () => false,
        ),
      ),
    );
    const minedNonce = BigInt(await client.getTransactionCount({ address, blockTag: "latest" }));
    if (!pending.some(Boolean) || (flight.nonce !== null && minedNonce > flight.nonce)) {
      // Dropped by the node, reorged out and gone, or its nonce used by another transaction of the
      // key: simulated again from scratch.
      log.warn({ subscription: id, tx: flight.txHash }, "collector: collect dropped; retrying");
      await recordCollectFailure(db, chainId, flight.id, {
        error: "collect transaction dropped",
        retryBlock: head + 1n,
        counts: false,
      });
      return undefined;
    }
    const stuck =
      flight.sentBlock !== null &&
      head - flight.sentBlock >= BigInt(deps.stuckBlocks) &&
      flight.nonce !== null &&
      flight.gasLimit !== null &&
      flight.maxFeePerGas !== null &&
      flight.maxPriorityFeePerGas !== null;
    if (!stuck) return { kind: "in-flight", id: flight.id, txHash: flight.txHash };
    // Stuck for SWEEP_STUCK_BLOCKS (it also holds the sweeper's later nonces): the same nonce again
    // with both fees raised, so whichever is mined the period is collected once.
    const now = await fees();
    const maxPriorityFeePerGas = bumped(flight.maxPriorityFeePerGas as bigint, now.priority);
    const maxFeePerGas = bumped(
      flight.maxFeePerGas as bigint,
      now.maxFee - now.priority + maxPriorityFeePerGas,
    );
    const serialized = await wallet.signTransaction({
      account,
      chain: null,
      chainId: Number(chainId),
      type: "eip1559",
      to: subscriptions,
      data: calldata(flight.id),
      nonce: Number(flight.nonce),
      gas: flight.gasLimit as bigint,
      maxFeePerGas,
      maxPriorityFeePerGas,
      value: 0n,
    });
    const txHash = keccak256(serialized);
    try {
      await client.sendRawTransaction({ serializedTransaction: serialized });
    } catch (error) {
      log.warn({ subscription: id, err: firstLine(error) }, "collector: re-sending the stuck collect failed");
      return { kind: "in-flight", id: flight.id, txHash: flight.txHash };
    }
    await recordCollectRebroadcast(db, chainId, flight.id, {
      txHash,
      maxFeePerGas,
      maxPriorityFeePerGas,
      sentBlock: head,
    });
    log.info({ subscription: id, tx: txHash }, "collector: collect stuck; re-sent with a higher fee");
    return { kind: "in-flight", id: flight.id, txHash };
  }

  async function tick(): Promise<CollectOutcome> {
    const indexed = deps.indexedBlock();
    if (indexed === null) return { kind: "not-indexed" };
    const head = await client.getBlock({ blockTag: "latest" });
    const following = await follow(head.number, indexed);
    if (following) return following;

    const refused: { id: bigint; error: string }[] = [];
    /** Records a refusal and backs the subscription off (doubling per consecutive failure). */
    const refuse = async (due: DueSubscription, reason: string) => {
      const wait = backoffBlocks(deps.retryBlocks, due.failures + 1);
      await recordCollectFailure(db, chainId, due.id, {
        error: reason,
        retryBlock: head.number + wait,
        counts: true,
      });
      log.warn(
        { subscription: due.id.toString(), err: reason, retryInBlocks: wait.toString() },
        "collector: collect not sent; backing off",
      );
      refused.push({ id: due.id, error: reason });
    };
    let price: Price | undefined | null = null;
    for (const due of await dueSubscriptions(db, chainId, head.timestamp, head.number, maxPerTick)) {
      let gas: bigint;
      try {
        await client.simulateContract({
          address: subscriptions,
          abi: subscriptionsAbi,
          functionName: "collect",
          args: [due.id],
          account: address,
          blockTag: "latest",
        });
        gas = await client.estimateGas({ account: address, to: subscriptions, data: calldata(due.id) });
      } catch (error) {
        const reason = revertReason(error);
        // Not due on chain although the index says so: the indexer has not seen a collection yet
        // (someone else's). Not a failure; looked at again next block.
        if (reason.startsWith("SubscriptionsNotDue(")) {
          await recordCollectFailure(db, chainId, due.id, {
            error: reason,
            retryBlock: head.number + 1n,
            counts: false,
          });
          refused.push({ id: due.id, error: reason });
        } else await refuse(due, reason);
        continue;
      }
      const now = await fees();
      // SWEEP_MAX_GAS_SHARE: gas × (base fee + tip) against the period's value in ETH.
      const token = deps.tokens.find((t) => t.address.toLowerCase() === due.token.toLowerCase());
      if (!token) {
        await refuse(
          due,
          `token ${due.token} is not in TOKENS: its value (for the gas-share rule) is unknown`,
        );
        continue;
      }
      if (price === null) {
        price = await deps.prices.ethUsd().catch((error: unknown) => {
          log.warn(
            { err: firstLine(error) },
            "collector: no ETH/USD price; collecting without the gas-share rule",
          );
          return undefined;
        });
      }
      const valueWei = price ? tokenValueWei(due.amountPerPeriod, token, price) : undefined;
      const cost = gas * (now.baseFee + now.priority);
      if (!gasWithinShare(cost, valueWei ?? 0n, deps.maxGasSharePpm, valueWei === undefined)) {
        await refuse(
          due,
          `gas share: the collect costs ${cost} wei of gas, more than SWEEP_MAX_GAS_SHARE (${deps.maxGasSharePpm} ppm) of the ${valueWei} wei it collects`,
        );
        continue;
      }
      return serial(async (): Promise<CollectOutcome> => {
        const nonce = BigInt(await client.getTransactionCount({ address, blockTag: "pending" }));
        const gasLimit = gas + gas / 4n;
        const serialized = await wallet.signTransaction({
          account,
          chain: null,
          chainId: Number(chainId),
          type: "eip1559",
          to: subscriptions,
          data: calldata(due.id),
          nonce: Number(nonce),
          gas: gasLimit,
          maxFeePerGas: now.maxFee,
          maxPriorityFeePerGas: now.priority,
          value: 0n,
        });
        const txHash = keccak256(serialized);
        // Recorded before it is broadcast: a crash in between cannot lose track of it.
        await recordCollectSent(db, chainId, due.id, {
          txHash,
          nonce,
          gasLimit,
          maxFeePerGas: now.maxFee,
          maxPriorityFeePerGas: now.priority,
          sentBlock: head.number,
        });
        try {
          await client.sendRawTransaction({ serializedTransaction: serialized });
        } catch (error) {
          const message = firstLine(error);
          await recordCollectFailure(db, chainId, due.id, {
            error: `send failed: ${message}`,
            retryBlock: head.number + backoffBlocks(deps.retryBlocks, due.failures + 1),
            counts: true,
          });
          log.warn(
            { subscription: due.id.toString(), err: message },
            "collector: sending the collect failed",
          );
          return { kind: "send-failed", id: due.id, error: message };
        }
        log.info(
          { subscription: due.id.toString(), tx: txHash, nonce: nonce.toString() },
          "collector: collect sent",
        );
        return { kind: "sent", id: due.id, txHash, nonce, refused };
      });
    }
    return { kind: "nothing", refused };
  }

  return {
    address,
    tick,
    async run(signal) {
      log.info(
        { collector: address, subscriptions },
        "collector: collecting due token subscriptions on this chain (it leads the chain's indexer)",
      );
      const pause = deps.pollIntervalMs ?? 1_000;
      while (!signal.aborted) {
        try {
          await tick();
        } catch (error) {
          log.warn({ err: firstLine(error) }, "collector: tick failed; retrying");
        }
        await sleep(pause, signal);
      }
    },
  };
}
