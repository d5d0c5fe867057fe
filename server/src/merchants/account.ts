import type { PublicClient } from "viem";
import { ETH_TOKEN, paymentProcessorAbi } from "../chain/abi.ts";
import type { Queryable } from "../db/types.ts";
import { ledgerEntries, orphanPayments, type OrphanPayment } from "../ledger/history.ts";
import { unavailable } from "../lib/errors.ts";
import { merchantOrdersToday, merchantStatusTotals, type StatusTotal } from "../orders/queries.ts";
import { provenAddresses } from "./addresses.ts";
import type { Merchant } from "./service.ts";

export interface AccountServiceDeps {
  db: Queryable;
  chain: {
    client: PublicClient;
    chainId: bigint;
    contract: `0x${string}`;
    /** Multicall3 on this chain: balances are read in one call; without it, one call each. */
    multicall3?: `0x${string}` | undefined;
  };
  /** Token addresses whose contract balances are shown next to ETH's. */
  tokens: readonly { address: string }[];
}

export interface TokenTotals {
  credited: bigint;
  withdrawn: bigint;
  refunded: bigint;
}

/** A merchant's money as the contract and the orders show it; amounts in the token's smallest unit. */
export interface AccountHistory {
  /** Sums over the merchant's proven payout addresses, by token address (lowercase), in first-seen order. */
  ledger: Map<string, TokenTotals>;
  statusTotals: StatusTotal[];
  /** The contract's withdrawable balance per payout address (lowercase) and token. */
  balances: { address: string; token: string; balance: bigint }[];
  orphans: OrphanPayment[];
}

/** GET /user and GET /user/history: reads across orders, the ledger and the contract. */
export function createAccountService(deps: AccountServiceDeps) {
  const { db, chain } = deps;

  async function history(merchant: Merchant): Promise<AccountHistory> {
    // Only addresses the merchant has proven it controls (POST /user/addresses): an order naming
    // someone else's address must not reveal that address's money.
    const addresses = await provenAddresses(db, merchant.id);
    const entries = await ledgerEntries(db, chain.chainId, addresses);
    const statusTotals = await merchantStatusTotals(db, merchant.id);
    const orphans = await orphanPayments(db, chain.chainId, addresses);

    const ledger = new Map<string, TokenTotals>();
    for (const row of entries) {
      const entry = ledger.get(row.token) ?? { credited: 0n, withdrawn: 0n, refunded: 0n };
      entry.credited += row.credited;
      entry.withdrawn += row.withdrawn;
      entry.refunded += row.refunded;
      ledger.set(row.token, entry);
    }

    const tokens = [ETH_TOKEN as string, ...deps.tokens.map((t) => t.address.toLowerCase())];
    const pairs = addresses.flatMap((address) => tokens.map((token) => ({ address, token })));
    const calls = pairs.map(({ address, token }) => ({
      address: chain.contract,
      abi: paymentProcessorAbi,
      functionName: "balanceOf" as const,
      args: [address as `0x${string}`, token as `0x${string}`] as const,
    }));
    let values: bigint[];
    try {
      values =
        calls.length === 0
          ? []
          : chain.multicall3
            ? await chain.client.multicall({
                contracts: calls,
                multicallAddress: chain.multicall3,
                allowFailure: false,
              })
            : await Promise.all(calls.map((call) => chain.client.readContract(call)));
    } catch {
      throw unavailable(
        "on-chain balances are unavailable right now; try again shortly",
        "chain_unavailable",
      );
    }
    const balances = pairs.map((pair, i) => ({ ...pair, balance: values[i] as bigint }));
    return { ledger, statusTotals, balances, orphans };
  }

  return {
    /** Orders created today (UTC), as counted against the plan's daily limit. */
    ordersToday: (merchant: Merchant) => merchantOrdersToday(db, merchant.id),
    history,
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
