import type { ChainModule } from "../chain/module.ts";
import { createSweeper } from "../sweeper/service.ts";
import { deleteChainSweeps } from "../sweeper/repository.ts";
import { deleteChainDeposits } from "./repository.ts";
import { depositBalanceReader, depositForwardedSource, depositTransferSource } from "./sources.ts";

/**
 * Deposit addresses: token transfers to them and forwards of other tokens (logs), their ETH
 * balances (read per block), and the sweeper that sends what they hold to the contract.
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
  readers: (ctx) => [
    depositBalanceReader({
      db: ctx.db,
      client: ctx.client,
      chainId: ctx.chainId,
      multicall3: ctx.multicall3,
    }),
  ],
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
};
