import type { PublicClient } from "viem";
import { ETH_TOKEN, paymentProcessorAbi } from "../chain/abi.ts";
import type { Queryable } from "../db/types.ts";
import { ledgerEntries, orphanPayments, type OrphanPayment } from "../ledger/history.ts";
import { unavailable } from "../lib/errors.ts";
import { provenAddresses } from "../merchants/addresses.ts";
import type { Merchant } from "../merchants/service.ts";
import { merchantOrdersToday, merchantStatusTotals, type StatusTotal } from "../orders/queries.ts";
import { subscriptionReferences } from "../recurring/repository.ts";

/** One chain whose contract holds merchants' balances. */
export interface AccountChain {
  name?: string;
  client: PublicClient;
  chainId: bigint;
  contract: `0x${string}`;
  /** Multicall3 on this chain: balances are read in one call; without it, one call each. */
  multicall3?: `0x${string}` | undefined;
  /** The Subscriptions contract: its collections are no orphans (nor is any payment with a subscription's ref). */
  subscriptions?: `0x${string}` | undefined;
  /** Allowlisted tokens whose contract balances are shown next to ETH's. */
  tokens: readonly { address: string; symbol?: string; decimals?: number }[];
}

export interface AccountServiceDeps {
  db: Queryable;
  /** Every configured chain: the ledger and balances cover them all, each entry naming its chain. */
  chains: readonly AccountChain[];
}

/** A token on a chain, as the account views name it. */
export interface AccountToken {
  chainId: bigint;
  /** Token address, lowercase (the zero address for ETH). */
  token: string;
  symbol: string;
  decimals: number;
}

export interface TokenTotals extends AccountToken {
  credited: bigint;
  withdrawn: bigint;
  refunded: bigint;
}

/** A merchant's money as the contract and the orders show it; amounts in the token's smallest unit. */
export interface AccountHistory {
  /** Sums over the merchant's proven payout addresses, per chain and token, in chain then first-seen order. */
  ledger: TokenTotals[];
  statusTotals: StatusTotal[];
  /** The contract's withdrawable balance per chain, payout address (lowercase) and token. */
  balances: (AccountToken & { address: string; balance: bigint })[];
  orphans: (OrphanPayment & AccountToken)[];
}

/**
 * GET /user and GET /user/history: reads across orders, the ledger and every chain's contract.
 * It lives with the API, above the modules it reads (merchants, orders, recurring, ledger), so
 * none of them has to import another to answer these views.
 */
export function createAccountService(deps: AccountServiceDeps) {
  const { db } = deps;

  function tokenOf(chain: AccountChain, token: string): AccountToken {
    if (token === ETH_TOKEN) return { chainId: chain.chainId, token, symbol: "ETH", decimals: 18 };
    const known = chain.tokens.find((t) => t.address.toLowerCase() === token);
    return {
      chainId: chain.chainId,
      token,
      symbol: known?.symbol ?? token,
      decimals: known?.decimals ?? 0,
    };
  }

  async function balancesOn(chain: AccountChain, addresses: readonly string[]) {
    const tokens = [ETH_TOKEN as string, ...chain.tokens.map((t) => t.address.toLowerCase())];
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
      const name = chain.name ? `${chain.name} (${chain.chainId})` : `chain ${chain.chainId}`;
      throw unavailable(
        `on-chain balances on ${name} are unavailable right now; try again shortly`,
        "chain_unavailable",
      );
    }
    return pairs.map((pair, i) => ({
      ...tokenOf(chain, pair.token),
      address: pair.address,
      balance: values[i] as bigint,
    }));
  }

  async function history(merchant: Merchant): Promise<AccountHistory> {
    // Only addresses the merchant has proven it controls (POST /user/addresses): an order naming
    // someone else's address must not reveal that address's money.
    const addresses = await provenAddresses(db, merchant.id);
    const statusTotals = await merchantStatusTotals(db, merchant.id);
    const ledger: TokenTotals[] = [];
    const orphans: AccountHistory["orphans"] = [];
    for (const chain of deps.chains) {
      const perToken = new Map<string, TokenTotals>();
      for (const row of await ledgerEntries(db, chain.chainId, addresses)) {
        const entry = perToken.get(row.token) ?? {
          ...tokenOf(chain, row.token),
          credited: 0n,
          withdrawn: 0n,
          refunded: 0n,
        };
        entry.credited += row.credited;
        entry.withdrawn += row.withdrawn;
        entry.refunded += row.refunded;
        perToken.set(row.token, entry);
      }
      ledger.push(...perToken.values());
      for (const orphan of await orphanPayments(db, chain.chainId, addresses, {
        knownPayers: chain.subscriptions ? [chain.subscriptions] : [],
        knownRefs: await subscriptionReferences(db, chain.chainId, addresses),
      }))
        orphans.push({ ...orphan, ...tokenOf(chain, orphan.token) });
    }
    const balances = (await Promise.all(deps.chains.map((chain) => balancesOn(chain, addresses)))).flat();
    return { ledger, statusTotals, balances, orphans };
  }

  return {
    /** Orders created today (UTC), as counted against the plan's daily limit. */
    ordersToday: (merchant: Merchant) => merchantOrdersToday(db, merchant.id),
    history,
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
