/**
 * The money checks: every on-chain payment reflected once, in order, with its amount; each order's
 * and each subscription's amount is what the chain paid it; no false complete; reconcile.
 */
import type { Hex, PublicClient } from "viem";
import type { Db } from "../../../server/src/db/index.ts";
import { reconcile } from "../../../server/src/ledger/reconcile.ts";
import { ETH, erc20, paymentReceived } from "../abi.ts";
import type { SoakChain, SoakContext } from "../context.ts";
import { headOf } from "../settle.ts";
import type { Checks } from "./record.ts";

export interface OrderRow {
  id: string;
  chain_id: string;
  reference: string;
  token: string;
  status: string;
  amount_paid: string;
  transaction_id: string | null;
  paid_block: string | null;
  deposit_address: string | null;
}

export interface SubscriptionRow {
  id: string;
  chain_id: string;
  method: string;
  token: string;
  reference: string;
  deposit_address: string;
  status: string;
  received: string;
}

interface EventRow {
  tx_hash: string;
  log_index: number;
  block_number: string;
  order_ref: string | null;
  amount: string;
  token: string;
  merchant: string;
}

/** Tallies of the first check, over every chain. */
interface EventTally {
  lost: number;
  duplicated: number;
  misattributed: number;
  problems: string[];
}

const eventKey = (tx: string, i: number) => `${tx.toLowerCase()}:${i}`;

/**
 * 1. Every on-chain event of the contract is in contract_events once, in chain order, with its
 * amount. Answers how many payments the chains have.
 */
export async function checkPaymentEvents(ctx: SoakContext, checks: Checks): Promise<number> {
  let onChainPayments = 0;
  const tally: EventTally = { lost: 0, duplicated: 0, misattributed: 0, problems: [] };
  for (const c of ctx.chains) onChainPayments += await compareEvents(ctx.db, c, tally);
  const { lost, duplicated, misattributed, problems } = tally;
  checks.check(
    "every on-chain payment reflected once, in order, with its amount",
    lost + duplicated + misattributed === 0 && !problems.some((p) => p.includes("out of chain order")),
    `${onChainPayments} payments on chain; lost ${lost}, duplicated ${duplicated}, misattributed ${misattributed}${problems.length ? `; ${problems.slice(0, 5).join("; ")}` : ""}`,
  );
  return onChainPayments;
}

/** Compares one chain's PaymentReceived logs with its contract_events rows; answers the logs' count. */
async function compareEvents(db: Db, c: SoakChain, tally: EventTally): Promise<number> {
  const head = await headOf(c);
  const logs = await c.node.client.getLogs({
    address: c.node.contract,
    event: paymentReceived,
    fromBlock: 0n,
    toBlock: head.number,
  });
  logs.sort((x, y) =>
    x.blockNumber === y.blockNumber ? x.logIndex - y.logIndex : x.blockNumber < y.blockNumber ? -1 : 1,
  );
  const { rows } = await db.query<EventRow>(
    `SELECT tx_hash, log_index, block_number::text, order_ref, amount::text, token, merchant FROM contract_events
      WHERE chain_id = $1 AND kind = 'payment' ORDER BY contract_events.block_number, contract_events.log_index`,
    [c.chainId.toString()],
  );
  const seen = new Map<string, number>();
  for (const r of rows)
    seen.set(eventKey(r.tx_hash, r.log_index), (seen.get(eventKey(r.tx_hash, r.log_index)) ?? 0) + 1);
  tally.duplicated += [...seen.values()].filter((n) => n > 1).length;
  const byKey = new Map(rows.map((r) => [eventKey(r.tx_hash, r.log_index), r]));
  for (const l of logs) {
    const r = byKey.get(eventKey(l.transactionHash, l.logIndex));
    if (!r) {
      tally.lost++;
      tally.problems.push(`${c.name}: ${l.transactionHash}#${l.logIndex} on chain, not in the database`);
      continue;
    }
    if (
      BigInt(r.amount) !== l.args.amount ||
      r.order_ref?.toLowerCase() !== l.args.orderId?.toLowerCase() ||
      r.token.toLowerCase() !== l.args.token?.toLowerCase() ||
      r.merchant.toLowerCase() !== l.args.merchant?.toLowerCase() ||
      BigInt(r.block_number) !== l.blockNumber
    ) {
      tally.misattributed++;
      tally.problems.push(`${c.name}: ${l.transactionHash}#${l.logIndex} differs: ${JSON.stringify(r)}`);
    }
  }
  const chainKeys = new Set(logs.map((l) => eventKey(l.transactionHash, l.logIndex)));
  for (const r of rows)
    if (!chainKeys.has(eventKey(r.tx_hash, r.log_index))) {
      tally.misattributed++;
      tally.problems.push(`${c.name}: ${r.tx_hash}#${r.log_index} in the database, not on the chain`);
    }
  const order = rows.map((r) => eventKey(r.tx_hash, r.log_index)).filter((k) => chainKeys.has(k));
  const chainOrder = logs.map((l) => eventKey(l.transactionHash, l.logIndex)).filter((k) => byKey.has(k));
  const firstDiff = order.findIndex((k, i) => k !== chainOrder[i]);
  if (firstDiff >= 0)
    tally.problems.push(
      `${c.name}: events out of chain order at ${firstDiff}: database ${order[firstDiff]}, chain ${chainOrder[firstDiff]}`,
    );
  return logs.length;
}

/** The chain's PaymentReceived amounts summed per (reference, token), as the chain finally is. */
async function paidByReference(c: SoakChain): Promise<Map<string, bigint>> {
  const logs = await c.node.client.getLogs({
    address: c.node.contract,
    event: paymentReceived,
    fromBlock: 0n,
  });
  const paid = new Map<string, bigint>();
  for (const l of logs) {
    const k = `${l.args.orderId?.toLowerCase()}:${l.args.token?.toLowerCase()}`;
    paid.set(k, (paid.get(k) ?? 0n) + (l.args.amount ?? 0n));
  }
  return paid;
}

/** What an address holds of a token (ETH: 0x0…0): money waiting in a deposit address, unswept. */
function heldAt(c: SoakChain, token: string, address: string): Promise<bigint> {
  return token === ETH
    ? c.node.client.getBalance({ address: address as `0x${string}` })
    : c.node.client.readContract({
        address: token as `0x${string}`,
        abi: erc20,
        functionName: "balanceOf",
        args: [address as `0x${string}`],
      });
}

export async function loadOrderRows(db: Db): Promise<OrderRow[]> {
  const { rows } = await db.query<OrderRow>(
    "SELECT id::text, chain_id::text, reference, token, status, amount_paid::text, transaction_id, paid_block::text, deposit_address FROM orders ORDER BY orders.id",
  );
  return rows;
}

/** Each order's paid amount is the sum of the canonical payments for its reference. */
export async function checkOrderAmounts(ctx: SoakContext, checks: Checks, orderRows: OrderRow[]) {
  let wrong = 0;
  let unswept = 0;
  const examples: string[] = [];
  for (const c of ctx.chains) {
    const paid = await paidByReference(c);
    for (const o of orderRows.filter((r) => r.chain_id === c.chainId.toString())) {
      const expected = paid.get(`${o.reference.toLowerCase()}:${o.token.toLowerCase()}`) ?? 0n;
      if (BigInt(o.amount_paid) === expected) continue;
      // Money still sitting in the deposit address (not swept yet) is counted as paid, not as a payment event.
      if (o.deposit_address) {
        const waiting = await heldAt(c, o.token, o.deposit_address);
        if (waiting > 0n && BigInt(o.amount_paid) === expected + waiting) {
          unswept++;
          continue;
        }
      }
      wrong++;
      if (examples.length < 5) examples.push(`order ${o.id}: paid ${o.amount_paid}, chain says ${expected}`);
    }
  }
  checks.check(
    "every order's amount is what the chain paid it",
    wrong === 0,
    `${orderRows.length} orders, ${wrong} wrong${unswept ? `, ${unswept} with a deposit not swept yet` : ""}${examples.length ? `; ${examples.join("; ")}` : ""}`,
  );
}

export async function loadSubscriptionRows(db: Db): Promise<SubscriptionRow[]> {
  const { rows } = await db.query<SubscriptionRow>(
    `SELECT s.id::text, s.chain_id::text, s.method, s.token, s.reference, s.deposit_address, s.status,
            (s.credit + COALESCE((SELECT sum(p.paid_amount) FROM subscription_periods p WHERE p.subscription_id = s.id), 0))::text AS received
       FROM subscriptions s ORDER BY s.id`,
  );
  return rows;
}

/**
 * 1b. Each subscription's receipts (its periods' paid amounts and its credit) are what the chain
 * paid its reference: the sweeps' and collections' PaymentReceived, plus what waits unswept.
 */
export async function checkSubscriptionAmounts(
  ctx: SoakContext,
  checks: Checks,
  subscriptionRows: SubscriptionRow[],
) {
  let wrong = 0;
  let unswept = 0;
  let paidSubscriptions = 0;
  const examples: string[] = [];
  for (const c of ctx.chains) {
    const paid = await paidByReference(c);
    for (const s of subscriptionRows.filter((r) => r.chain_id === c.chainId.toString())) {
      const swept = paid.get(`${s.reference.toLowerCase()}:${s.token.toLowerCase()}`) ?? 0n;
      const waiting = s.method === "deposit" ? await heldAt(c, s.token, s.deposit_address) : 0n;
      if (swept + waiting > 0n) paidSubscriptions++;
      if (waiting > 0n) unswept++;
      if (BigInt(s.received) === swept + waiting) continue;
      wrong++;
      if (examples.length < 5)
        examples.push(
          `subscription ${s.id} (${s.method}): received ${s.received}, chain says ${swept} swept or collected + ${waiting} waiting`,
        );
    }
  }
  checks.check(
    "every subscription's receipts are what the chain paid it",
    wrong === 0,
    `${subscriptionRows.length} subscriptions (${subscriptionRows.filter((r) => r.method === "token_pull").length} token_pull), ${paidSubscriptions} paid, ${wrong} wrong${unswept ? `, ${unswept} with a deposit not swept yet` : ""}${examples.length ? `; ${examples.join("; ")}` : ""}`,
  );
}

/** 2. No order shows complete for money that is not final. */
export async function checkNoFalseComplete(ctx: SoakContext, checks: Checks, orderRows: OrderRow[]) {
  let falseComplete = 0;
  const examples: string[] = [];
  for (const o of orderRows.filter((r) => r.status === "complete")) {
    const c = ctx.chains.find((x) => x.chainId.toString() === o.chain_id) as SoakChain;
    const head = (await headOf(c)).number;
    const receipt = o.transaction_id
      ? await c.node.client.getTransactionReceipt({ hash: o.transaction_id as Hex }).catch(() => undefined)
      : undefined;
    const ok =
      receipt !== undefined &&
      receipt.status === "success" &&
      head - receipt.blockNumber + 1n >= BigInt(ctx.profile.confirmations);
    if (!ok) {
      falseComplete++;
      if (examples.length < 5) examples.push(`order ${o.id} (${o.transaction_id})`);
    }
  }
  checks.check(
    "no false complete",
    falseComplete === 0,
    `${orderRows.filter((r) => r.status === "complete").length} complete orders, ${falseComplete} not backed by a final payment${examples.length ? `: ${examples.join(", ")}` : ""}`,
  );
}

/** 3. reconcile: the ledger equals balanceOf on every chain. */
export async function checkReconcile(ctx: SoakContext, checks: Checks) {
  let mismatches = 0;
  let rowsChecked = 0;
  for (const c of ctx.chains) {
    const report = await reconcile(ctx.db, c.node.client as PublicClient, c.chainId, c.node.contract);
    mismatches += report.mismatches;
    rowsChecked += report.rows.length;
  }
  checks.check(
    "reconcile: ledger equals balanceOf",
    mismatches === 0 && rowsChecked > 0,
    `${rowsChecked} balances, ${mismatches} mismatches`,
  );
}
