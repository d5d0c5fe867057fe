import type { Queryable } from "../db/types.ts";
import { depositFlows } from "../deposits/flows.ts";
import { depositActivity, type DepositActivity } from "../deposits/repository.ts";
import { loadCursor } from "../indexer/store.ts";
import { formatDecimal } from "../lib/money.ts";
import type { MethodPayment } from "../orders/events.ts";
import type { OrderRow } from "../orders/serialize.ts";
import type { OrderMethodRow } from "./repository.ts";
import { usdValue, type SeenPayment } from "./state.ts";
import { utxoPaymentsAt, type UtxoPaymentRow } from "./utxo-repository.ts";

/** Where each chain's indexing stands, as the payments are judged: its indexed head and confirmations. */
export interface ChainHeads {
  /** The indexed head of `chainId`, or null before its first block. */
  head(tx: Queryable, chainId: bigint): Promise<bigint | null>;
  confirmations(chainId: bigint): number;
}

/**
 * Heads from the indexers' committed cursors, except `current`: the chain whose step is being
 * applied (its cursor is written after the step, so its clock is the truth).
 */
export function cursorHeads(
  confirmations: ReadonlyMap<bigint, number>,
  current?: { chainId: bigint; indexedBlock: bigint },
): ChainHeads {
  return {
    async head(tx, chainId) {
      if (current && current.chainId === chainId) return current.indexedBlock;
      return (await loadCursor(tx, chainId))?.blockNumber ?? null;
    },
    // A chain this process does not know is never confirmed (it would not be indexed here either).
    confirmations: (chainId) => confirmations.get(chainId) ?? Number.MAX_SAFE_INTEGER,
  };
}

/** What each method of some orders has received, from the deposits module's records. */
export async function seenPayments(
  tx: Queryable,
  methods: readonly OrderMethodRow[],
  heads: ChainHeads,
): Promise<Map<bigint, SeenPayment[]>> {
  const byChain = new Map<bigint, Set<string>>();
  const byCoin = new Map<string, Set<string>>();
  for (const m of methods) {
    if (m.chainId === null) {
      const set = byCoin.get(m.token) ?? new Set<string>();
      set.add(m.address);
      byCoin.set(m.token, set);
      continue;
    }
    const set = byChain.get(m.chainId) ?? new Set<string>();
    set.add(m.address);
    byChain.set(m.chainId, set);
  }
  const activity = new Map<bigint, Map<string, DepositActivity>>();
  const headOf = new Map<bigint, bigint | null>();
  for (const [chainId, addresses] of byChain) {
    activity.set(chainId, await depositActivity(tx, chainId, [...addresses]));
    headOf.set(chainId, await heads.head(tx, chainId));
  }
  const utxo = new Map<string, UtxoPaymentRow[]>();
  for (const [coin, addresses] of byCoin) utxo.set(coin, await utxoPaymentsAt(tx, coin, [...addresses]));
  const result = new Map<bigint, SeenPayment[]>();
  for (const m of methods) {
    if (m.chainId === null) {
      // A UTXO payment goes to the merchant's own wallet: final at its confirmations, no sweep.
      const list = result.get(m.orderId) ?? [];
      for (const p of utxo.get(m.token) ?? []) {
        if (p.address !== m.address) continue;
        list.push({
          method: m.method,
          amount: p.amount,
          value: usdValue(p.amount, m.decimals, m),
          at: p.blockTime ?? new Date(0),
          chainKey: m.token,
          blockNumber: BigInt(p.blockHeight ?? 0),
          logIndex: 0,
          txHash: p.txid,
          confirmed: p.final,
          swept: true,
          sweepTx: null,
        });
      }
      result.set(m.orderId, list);
      continue;
    }
    const flows = depositFlows(activity.get(m.chainId)?.get(m.address), m.token);
    const head = headOf.get(m.chainId) ?? null;
    const needed = BigInt(heads.confirmations(m.chainId));
    const sweeps = [...flows.sweeps];
    let received = 0n;
    const list = result.get(m.orderId) ?? [];
    for (const inflow of flows.inflows) {
      received += inflow.amount;
      // Swept once the sweeps so far hold everything received up to this payment.
      let swept = 0n;
      let sweepTx: string | null = null;
      for (const s of sweeps) {
        swept += s.amount;
        if (swept >= received) {
          sweepTx = s.txHash;
          break;
        }
      }
      list.push({
        method: m.method,
        amount: inflow.amount,
        value: usdValue(inflow.amount, m.decimals, m),
        at: inflow.blockTimestamp,
        chainKey: m.chainId.toString().padStart(20, "0"),
        blockNumber: inflow.blockNumber,
        logIndex: inflow.logIndex,
        txHash: inflow.txHash,
        confirmed: head !== null && head - inflow.blockNumber + 1n >= needed,
        swept: sweepTx !== null,
        sweepTx,
      });
    }
    result.set(m.orderId, list);
  }
  return result;
}

/** A payment as callbacks and GET /order/:id list it. */
export function paymentJson(p: SeenPayment, methods: readonly OrderMethodRow[]): MethodPayment {
  const decimals = methods.find((m) => m.method === p.method)?.decimals ?? 18;
  return { method: p.method, amount: formatDecimal(p.amount, decimals), transaction: p.txHash ?? "" };
}

/** The default method of an order: its seed fields (position 0), or one made from the order row. */
export function defaultMethodOf(order: OrderRow, methods: readonly OrderMethodRow[]): OrderMethodRow {
  const first = methods.find((m) => m.position === 0);
  if (first) return first;
  return {
    orderId: order.id,
    method: `${order.token_symbol}@${order.chain_id}`,
    position: 0,
    chainId: order.chain_id,
    token: order.token,
    symbol: order.token_symbol,
    decimals: order.token_decimals,
    address: order.deposit_address ?? order.pay_to,
    expectedAmount: BigInt(order.expected_amount),
    price: BigInt(order.price),
    priceDecimals: order.price_decimals,
    priceSource: order.price_source ?? "static",
  };
}
