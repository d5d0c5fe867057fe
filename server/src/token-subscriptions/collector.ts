import {
  BaseError,
  ContractFunctionRevertedError,
  decodeFunctionData,
  encodeFunctionData,
  type PublicClient,
} from "viem";
import type { Queryable } from "../db/types.ts";
import { firstLine } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import type { Price, PriceSource } from "../pricing/index.ts";
import type { Sender, SendingPolicy } from "../sender/sender.ts";
import { gasWithinShare, tokenValueWei, type TokenValuation } from "../sender/gas-share.ts";
import { subscriptionsAbi } from "./abi.ts";
import {
  collectInFlight,
  dueSubscriptions,
  type DueSubscription,
  recordCollectDone,
  recordCollectFailure,
  recordCollectSent,
} from "./repository.ts";

/** The purpose the collector's transactions are recorded with by the sender. */
export const COLLECT_PURPOSE = "collect";

export interface CollectorDeps {
  db: Queryable;
  client: PublicClient;
  chainId: bigint;
  /** The Subscriptions contract whose `collect(id)` is called. */
  subscriptions: `0x${string}`;
  /**
   * The chain's sender for its gas-only key (SWEEPER_PRIVATE_KEY, shared with the sweeper): nonce,
   * fees, signing, recording, following, fee bumps (SWEEP_STUCK_BLOCKS).
   */
  sender: Sender;
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
  /** The newest block whose effects are in the database (the indexer's cursor). */
  indexedBlock: () => bigint | null;
  log: Logger;
  /** Subscriptions simulated per tick at most (default 20). */
  maxPerTick?: number;
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

export interface Collector extends SendingPolicy {
  /** The keeper's address (gas money only). */
  readonly address: `0x${string}`;
  /**
   * Reads where the collect in flight stands (the sender has followed the key's transactions);
   * when there is none, simulates the due subscriptions and sends one.
   */
  step(): Promise<CollectOutcome>;
  /** Has the sender follow the key's transactions, then steps. */
  tick(): Promise<CollectOutcome>;
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

/** The subscription id a `collect(id)` calldata names (0 when there is none to read). */
function collectedId(data: `0x${string}` | null): bigint {
  if (!data) return 0n;
  try {
    const call = decodeFunctionData({ abi: subscriptionsAbi, data });
    return call.functionName === "collect" ? call.args[0] : 0n;
  } catch {
    return 0n;
  }
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
  const { db, client, chainId, subscriptions, log, sender } = deps;
  const address = sender.address;
  const maxPerTick = deps.maxPerTick ?? 20;
  const calldata = (id: bigint) =>
    encodeFunctionData({ abi: subscriptionsAbi, functionName: "collect", args: [id] });

  /** Where the collect in flight stands (the sender follows it); returns it while it still is in flight. */
  async function follow(head: bigint, indexed: bigint): Promise<CollectOutcome | undefined> {
    const flight = await collectInFlight(db, chainId);
    if (!flight) return undefined;
    const t = (await sender.transactions([flight.outgoingId])).get(flight.outgoingId);
    if (!t) return undefined;
    const id = flight.id.toString();
    // Recorded before the sender kept calldata (migration 130): what it was signed with.
    if (t.data === null) await sender.fillIn(t.id, { to: subscriptions, data: calldata(flight.id) });
    switch (t.state) {
      case "sent":
        return { kind: "in-flight", id: flight.id, txHash: t.txHash };
      case "mined":
      case "confirmed": {
        // Until the indexer has its block, the stored paid-through still says "due".
        if (t.minedBlock === null || indexed < t.minedBlock) {
          return { kind: "in-flight", id: flight.id, txHash: t.txHash };
        }
        log.info(
          { subscription: id, tx: t.txHash, block: t.minedBlock.toString() },
          "collector: period collected",
        );
        await recordCollectDone(db, chainId, flight.id);
        return undefined;
      }
      case "reverted": {
        // Someone collected first, or the customer lowered the allowance after the simulation. It
        // cost gas: a failure like any other (backing off, doubling), or a customer who front-runs
        // every collect would burn the key's gas one block after another.
        const wait = backoffBlocks(deps.retryBlocks, flight.failures + 1);
        log.warn(
          { subscription: id, tx: t.txHash, retryInBlocks: wait.toString() },
          "collector: collect reverted on chain; backing off",
        );
        await recordCollectFailure(db, chainId, flight.id, {
          error: "collect reverted on chain",
          retryBlock: head + wait,
          counts: true,
        });
        return undefined;
      }
      case "replaced":
        // Its nonce was used by another transaction of the key: simulated again from scratch.
        log.warn({ subscription: id, tx: t.txHash }, "collector: collect replaced; retrying");
        await recordCollectFailure(db, chainId, flight.id, {
          error: "collect transaction replaced",
          retryBlock: head + 1n,
          counts: false,
        });
        return undefined;
      case "failed":
        // Refused at broadcast (recorded by the refusal hook unless the process stopped in between).
        await recordCollectFailure(db, chainId, flight.id, {
          error: `send failed: ${t.error ?? "refused"}`,
          retryBlock: head + backoffBlocks(deps.retryBlocks, flight.failures + 1),
          counts: true,
        });
        return undefined;
      default: {
        const unhandled: never = t.state;
        throw new Error(`collector: unknown transaction state ${String(unhandled)}`);
      }
    }
  }

  async function step(): Promise<CollectOutcome> {
    const indexed = deps.indexedBlock();
    if (indexed === null) return { kind: "not-indexed" };
    // The sender has followed the key's transactions (mined, reverted, reorged out, replaced,
    // dropped, stuck); the collector reads where its own stands.
    const head = await client.getBlock({ blockTag: "latest" });
    const following = await follow(head.number, indexed);
    if (following) return following;
    // A collect already done that a reorg took away is pending again (the sender follows it and
    // broadcasts it again): it is still one collect in flight.
    const pending = (await sender.open(COLLECT_PURPOSE)).find((t) => t.state === "sent");
    if (pending) return { kind: "in-flight", id: collectedId(pending.data), txHash: pending.txHash };

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
      const now = await sender.fees();
      // SWEEP_MAX_GAS_SHARE: what the collect costs against the period's value in ETH.
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
      // Gas × (base fee + tip), plus the L1 data fee on an L2.
      const { total: cost } = await sender.cost({
        to: subscriptions,
        data: calldata(due.id),
        gas,
        fees: now,
      });
      if (!gasWithinShare(cost, valueWei ?? 0n, deps.maxGasSharePpm, valueWei === undefined)) {
        await refuse(
          due,
          `gas share: the collect costs ${cost} wei of gas, more than SWEEP_MAX_GAS_SHARE (${deps.maxGasSharePpm} ppm) of the ${valueWei} wei it collects`,
        );
        continue;
      }
      const backoff = head.number + backoffBlocks(deps.retryBlocks, due.failures + 1);
      const outcome = await sender.send(
        { purpose: COLLECT_PURPOSE, to: subscriptions, data: calldata(due.id), gas, fees: now },
        {
          // In the sender's transaction, before the broadcast: a crash in between cannot lose it.
          recorded: (tx, t) => recordCollectSent(tx, chainId, due.id, t.id),
          refused: (tx, _t, error) =>
            recordCollectFailure(tx, chainId, due.id, {
              error: `send failed: ${error}`,
              retryBlock: backoff,
              counts: true,
            }),
        },
      );
      if (outcome.kind === "refused") {
        log.warn(
          { subscription: due.id.toString(), err: outcome.error },
          "collector: the node refused the collect",
        );
        return { kind: "send-failed", id: due.id, error: outcome.error };
      }
      const { txHash, nonce } = outcome.transaction;
      log.info(
        { subscription: due.id.toString(), tx: txHash, nonce: nonce.toString() },
        "collector: collect sent",
      );
      return { kind: "sent", id: due.id, txHash, nonce, refused };
    }
    return { kind: "nothing", refused };
  }

  return {
    name: "collector",
    address,
    step,
    async tick() {
      await sender.follow();
      return step();
    },
  };
}
