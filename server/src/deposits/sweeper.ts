import { encodeFunctionData, type PublicClient } from "viem";
import { ETH_TOKEN } from "../chain/abi.ts";
import type { SweeperConfig } from "../config/sweeper.ts";
import type { Queryable } from "../db/types.ts";
import { firstLine } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import type { PriceSource } from "../pricing/index.ts";
import { gasWithinShare, tokenValueWei, type TokenValuation } from "../sender/gas-share.ts";
import type { Sender, SendingPolicy } from "../sender/sender.ts";
import { depositsAbi } from "./abi.ts";
import { depositsReadyToSweep } from "./repository.ts";
import { entriesFrom, type BatchEntry } from "./sweep-policy.ts";
import { deleteSweepOf, insertSweep, lastSweepBlock, sweepsOf, type SweptDeposit } from "./sweeps.ts";

/** The purpose the sweeper's transactions are recorded with by the sender. */
export const SWEEP_PURPOSE = "sweep";

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
  /** The policy (the key and SWEEP_STUCK_BLOCKS are the sender's). */
  config: SweeperConfig;
  /** The chain's sender for the key: nonce, fees, signing, recording, following, fee bumps. */
  sender: Sender;
  /** Allowlisted tokens, to value token deposits in ETH for the gas-share rule. */
  tokens: readonly TokenValuation[];
  prices: PriceSource;
  /** The newest block whose effects are in the database (the indexer's cursor). */
  indexedBlock: () => bigint | null;
  log: Logger;
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

export interface Sweeper extends SendingPolicy {
  /** The sweeper's address (gas money only; it can only credit the merchant bound in each deposit). */
  readonly address: `0x${string}`;
  /** Maybe sends one sweep, from where the key's transactions stand (the sender has followed them). */
  step(): Promise<TickOutcome>;
  /** Has the sender follow the key's transactions, then steps. */
  tick(): Promise<TickOutcome>;
}

/**
 * The sweeper of one chain: a key holding only gas money that calls `sweepDeposits` for confirmed
 * deposits, in batches, on the operator's policy (CONFIRMATIONS, SWEEP_INTERVAL_BLOCKS,
 * SWEEP_MAX_GAS_SHARE, SWEEP_MAX_BATCH; the gas share counts an L2's L1 data fee). It keeps only that policy: the chain's sender signs, records
 * and follows each transaction until it is confirmed (SWEEP_STUCK_BLOCKS: re-sent with a higher fee
 * under the same nonce). The indexer records what a mined sweep did (deposit_sweeps) and completes
 * the orders; the sweeper only gets it sent.
 */
export function createSweeper(deps: SweeperDeps): Sweeper {
  const { db, client, chainId, contract, config, log, sender } = deps;
  const address = sender.address;
  const tokenInfo = new Map(deps.tokens.map((t) => [t.address.toLowerCase(), t]));

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

  async function step(): Promise<TickOutcome> {
    const indexed = deps.indexedBlock();
    if (indexed === null) return { kind: "not-indexed" };
    // The sender has followed the key's transactions (mined, confirmed, reverted, reorged out,
    // replaced, dropped, stuck); the sweeper reads where its own stand.
    const head = await client.getBlockNumber();

    const open = await sweepsOf(db, await sender.open(SWEEP_PURPOSE));
    for (const s of open) {
      // Recorded before the sender kept calldata (migration 130): what it was signed with.
      if (s.callMissing) await sender.fillIn(s.outgoingId, { to: contract, data: calldata(s.deposits) });
    }
    const inFlight = open.find((s) => s.state === "sent");
    if (inFlight) return { kind: "in-flight", sweep: inFlight.id };

    const last = await lastSweepBlock(db, chainId);
    if (last !== null && head < last + BigInt(config.intervalBlocks)) {
      return { kind: "interval", nextBlock: last + BigInt(config.intervalBlocks) };
    }

    // Deposits with CONFIRMATIONS, not in a sweep that is on its way (sent, or mined but not yet
    // confirmed in the indexed chain).
    const busy = new Set(open.flatMap((s) => s.deposits.map((d) => d.address)));
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

    // SWEEP_MAX_GAS_SHARE: gas × (base fee + tip), plus the L1 data fee on an L2, against the
    // value swept.
    const now = await sender.fees();
    const costOf = async (b: typeof batch, g: bigint) =>
      (await sender.cost({ to: contract, data: calldata(b), gas: g, fees: now })).total;
    const passes = (b: typeof batch, cost: bigint) =>
      gasWithinShare(
        cost,
        b.reduce((sum, e) => sum + (e.valueWei ?? 0n), 0n),
        config.maxGasSharePpm,
        b.some((e) => e.valueWei === undefined),
      );
    const fullCost = await costOf(batch, gas);
    if (!passes(batch, fullCost)) {
      // The largest prefix (by value) that passes, by bisection over fresh estimates.
      let lo = 0;
      let hi = batch.length - 1;
      let best: { n: number; gas: bigint } | undefined;
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        const g = await estimate(batch.slice(0, mid));
        if (passes(batch.slice(0, mid), await costOf(batch.slice(0, mid), g))) {
          best = { n: mid, gas: g };
          lo = mid;
        } else hi = mid - 1;
      }
      if (!best) {
        const valueWei = batch.reduce((sum, e) => sum + (e.valueWei ?? 0n), 0n);
        log.debug(
          { deposits: batch.length, cost: fullCost.toString(), value: valueWei.toString() },
          "sweeper: not sweeping yet, gas would exceed SWEEP_MAX_GAS_SHARE",
        );
        return { kind: "uneconomic", entries: batch.length, costWei: fullCost, valueWei };
      }
      batch = batch.slice(0, best.n);
      gas = best.gas;
    }

    const deposits: SweptDeposit[] = batch.map((e) => ({
      address: e.address,
      merchant: e.merchant,
      orderRef: e.orderRef,
      token: e.token,
      eth: e.eth,
      tokenAmount: e.tokenAmount,
    }));
    // The sender picks the nonce, signs, records the transaction and this sweep in one database
    // transaction, then broadcasts: a crash in between cannot lose track of it.
    const outcome = await sender.send(
      { purpose: SWEEP_PURPOSE, to: contract, data: calldata(batch), gas, fees: now },
      {
        recorded: (tx, t) =>
          insertSweep(tx, {
            chainId,
            outgoingId: t.id,
            deposits,
            value: batch.reduce((sum, e) => sum + (e.valueWei ?? e.eth), 0n),
            sentBlock: head,
          }),
        // Refused: nothing pending; the deposits are tried again next tick.
        refused: (tx, t) => deleteSweepOf(tx, t.id),
      },
    );
    if (outcome.kind === "refused") {
      log.warn({ err: outcome.error }, "sweeper: the node refused the sweep; retrying later");
      return { kind: "send-failed", error: outcome.error };
    }
    const { txHash, nonce } = outcome.transaction;
    log.info(
      { tx: txHash, nonce: nonce.toString(), deposits: batch.length, gas: gas.toString() },
      "sweeper: sweep sent",
    );
    return { kind: "sent", txHash, nonce, entries: batch.length };
  }

  return {
    name: "sweeper",
    address,
    step,
    async tick() {
      await sender.follow();
      return step();
    },
  };
}
