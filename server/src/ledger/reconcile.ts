import type { PublicClient } from "viem";
import { paymentProcessorAbi } from "../chain/abi.ts";
import type { Queryable } from "../db/types.ts";
import { loadCursor } from "../indexer/store.ts";
import { ledgerBalances } from "./contract-events.ts";

export interface ReconcileRow {
  merchant: string;
  token: string;
  ledger: bigint;
  onChain: bigint;
  ok: boolean;
}

/**
 * Compares the ledger mirrored from events with the contract's balances, read at the indexed
 * block so that blocks the indexer has not applied yet cannot cause false mismatches.
 */
export async function reconcile(
  db: Queryable,
  client: PublicClient,
  chainId: bigint,
  contract: `0x${string}`,
) {
  const cursor = await loadCursor(db, chainId);
  const blockNumber = cursor?.blockNumber ?? (await client.getBlockNumber());
  const result: ReconcileRow[] = [];
  for (const row of await ledgerBalances(db, chainId)) {
    const ledger = row.credited - row.withdrawn - row.refunded;
    const onChain = await client.readContract({
      address: contract,
      abi: paymentProcessorAbi,
      functionName: "balanceOf",
      args: [row.merchant as `0x${string}`, row.token as `0x${string}`],
      blockNumber,
    });
    result.push({ merchant: row.merchant, token: row.token, ledger, onChain, ok: ledger === onChain });
  }
  return { blockNumber, rows: result, mismatches: result.filter((r) => !r.ok).length };
}
