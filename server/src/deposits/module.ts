import { DEFAULT_DEPOSIT_WATCH_HOURS } from "../config/chains.ts";
import { fact, type ChainModule, type DepositReuse } from "../chain/module.ts";
import type { TouchedDeposits } from "./events.ts";
import { applyDeposits } from "./record.ts";
import { deleteChainDeposits } from "./repository.ts";
import {
  depositBalanceReader,
  depositForwardedSource,
  depositTransferSource,
  type DepositWatchStatus,
} from "./sources.ts";
import { createSweeper } from "./sweeper.ts";
import { deleteChainSweeps } from "./sweeps.ts";

/** The deposit addresses the step touched (published by the deposits module's sink). */
export const touchedDeposits = fact<TouchedDeposits>("touched deposit addresses");

/**
 * Deposit addresses: token transfers to them and forwards of other tokens (logs), their ETH
 * balances (read per block), their sweeps (PaymentReceived paid by a bound deposit address), and
 * the sweeper that sends what they hold to the contract. Its sink records all of it and publishes
 * the addresses touched (`touchedDeposits`) for the modules after it.
 */
export const depositsModule: ChainModule = {
  name: "deposits",
  sources: (ctx) => [
    depositForwardedSource(ctx.contract),
    depositTransferSource(
      ctx.db,
      ctx.chainId,
      ctx.tokens.map((t) => t.address),
    ),
  ],
  readers: (ctx) => {
    const reader = depositBalanceReader({
      db: ctx.db,
      client: ctx.client,
      chainId: ctx.chainId,
      multicall3: ctx.multicall3,
      fullCycleSeconds: ctx.config.watchFullCycleSeconds,
      watchAfterExpirySeconds: (ctx.config.depositWatchHours ?? DEFAULT_DEPOSIT_WATCH_HOURS) * 3600,
      onOverridesRefused: () =>
        ctx.log.info(
          `the node of ${ctx.name} refuses eth_call state overrides: deposit balances are read through ${ctx.multicall3 ? "Multicall3" : "eth_getBalance"} (slower per address)`,
        ),
    });
    watches.set(ctx, reader);
    return [reader];
  },
  sink: () => ({
    async apply(tx, step, facts) {
      facts.publish(touchedDeposits, await applyDeposits(tx, step));
    },
  }),
  keeper(ctx, run) {
    if (!run.sender || !ctx.config.sweeper) {
      ctx.log.info(
        `no ${ctx.config.prefix}SWEEPER_PRIVATE_KEY: deposits on ${ctx.name} wait for a sweep by anyone (sweepOrder is permissionless); their orders stay success with awaiting_sweep`,
      );
      return undefined;
    }
    return createSweeper({
      db: ctx.db,
      client: ctx.client,
      chainId: ctx.chainId,
      contract: ctx.contract,
      confirmations: ctx.confirmations,
      config: ctx.config.sweeper,
      tokens: ctx.tokens,
      prices: ctx.prices,
      indexedBlock: run.indexedBlock,
      log: ctx.log.child({ component: "sweeper" }),
      sender: run.sender,
    });
  },
  async deleteChainData(tx, chainId) {
    await deleteChainDeposits(tx, chainId);
    await deleteChainSweeps(tx, chainId);
  },
  health: (ctx) => ({
    deposit_addresses: depositAddresses(ctx.depositReuse),
    deposit_watch: depositWatch(watches.get(ctx)?.status(), ctx.config.watchFullCycleSeconds),
  }),
};

/** Each chain's balance reader, by the context its pipeline was built with (for /health). */
const watches = new WeakMap<object, { status(): DepositWatchStatus }>();

/**
 * How the chain's deposit addresses are watched (docs/deposits.md): direct transfers from each
 * block's transactions in every mode; internal transfers from call traces (`block_traces`,
 * `trace_block`: found in their own block) or from the rotating balance check (`rotation`: found
 * within `full_cycle_seconds`). `detecting` until the indexer reads its first block at the head
 * (on a replica that does not lead the chain, it stays so).
 */
function depositWatch(status: DepositWatchStatus | undefined, fullCycleSeconds: number) {
  const mode = status?.mode ?? "detecting";
  return {
    mode,
    internal_transfers:
      mode === "rotation"
        ? `rotating balance check: every open address read at least every ${fullCycleSeconds} s`
        : mode === "detecting"
          ? "not known yet"
          : "call traces: seen in their own block",
    ...(status?.openAddresses === undefined ? {} : { open_addresses: status.openAddresses }),
    // Longer than the goal when one slice per block (at most 2,000 addresses) cannot cover them
    // all in time: a node with call traces, or a longer WATCH_FULL_CYCLE_SECONDS, is then needed.
    ...(status?.lastFullCycleSeconds === undefined
      ? {}
      : { last_full_cycle_seconds: status.lastFullCycleSeconds }),
  };
}

/**
 * Whether orders on a chain get deposit addresses: `on` (checked: two sweeps of one address were
 * simulated), `unverified` (the node could not simulate them) or `off` (the chain cannot sweep an
 * address twice: orders are paid through the contract only).
 */
function depositAddresses(reuse: DepositReuse) {
  switch (reuse.state) {
    case "ok":
      return { state: "on", checked_with: reuse.how };
    case "unknown":
      return { state: "unverified", reason: reuse.reason };
    case "broken":
      return { state: "off", reason: reuse.reason, payments: "contract only (pay / payToken)" };
  }
}
