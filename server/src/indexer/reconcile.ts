import type { PublicClient } from "viem";
import { paymentProcessorAbi } from "../chain/abi.ts";
import type { Queryable } from "../db/types.ts";
import { loadCursor } from "./store.ts";

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
  const { rows } = await db.query<{
    merchant: string;
    token: string;
    credited: string;
    withdrawn: string;
    refunded: string;
  }>(
    "SELECT merchant, token, credited, withdrawn, refunded FROM merchant_ledger WHERE chain_id = $1 ORDER BY merchant, token",
    [chainId],
  );
  const result: ReconcileRow[] = [];
  for (const row of rows) {
    const ledger = BigInt(row.credited) - BigInt(row.withdrawn) - BigInt(row.refunded);
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
