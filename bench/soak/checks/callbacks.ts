/**
 * 4. Callbacks: every status change delivered at least once, with a stable event id, in order per
 * stream (an order's, a subscription's), and each order's last callback carries its final status.
 */
import type { SoakContext } from "../context.ts";
import type { OrderRow } from "./payments.ts";
import type { Checks } from "./record.ts";

export interface CallbackFigures {
  rows: number;
  delivered: number;
  undelivered: number;
  unstable: number;
  outOfOrder: number;
  lastNotFinal: number;
  deliveries: number;
  duplicates: number;
}

interface CallbackRow {
  id: string;
  event_id: string;
  order_id: string | null;
  url: string;
  body: string;
  status: string;
  stream: string;
}

/** What the receivers accepted, by event id: each acceptance's body and time. */
type Accepted = Map<string, { body: string; at: number }[]>;

export async function checkCallbacks(
  ctx: SoakContext,
  checks: Checks,
  orderRows: OrderRow[],
): Promise<CallbackFigures> {
  const figures: CallbackFigures = {
    rows: 0,
    delivered: 0,
    undelivered: 0,
    unstable: 0,
    outOfOrder: 0,
    lastNotFinal: 0,
    deliveries: 0,
    duplicates: 0,
  };
  const { rows } = await ctx.db.query<CallbackRow>(
    "SELECT id::text, event_id::text, order_id::text, url, body, status, stream FROM callbacks WHERE url = ANY($1) ORDER BY callbacks.id",
    [ctx.receivers.map((r) => r.url)],
  );
  figures.rows = rows.length;
  const accepted: Accepted = new Map();
  // Accepted: answered 200 (the only answer the sender may count as delivered), timed by that answer.
  for (const r of ctx.receivers)
    for (const d of r.deliveries) {
      if (d.answered !== 200 || d.answeredAt === undefined) continue;
      const eventId = d.eventId ?? "";
      const list = accepted.get(eventId) ?? [];
      list.push({ body: d.body, at: d.answeredAt });
      accepted.set(eventId, list);
      figures.deliveries++;
    }
  const examples: string[] = [];
  const { byOrder, byStream } = matchDeliveries(rows, accepted, figures, examples);
  for (const list of byStream.values()) {
    const firsts = list.map((r) => Math.min(...(accepted.get(r.event_id) ?? []).map((g) => g.at)));
    for (let i = 1; i < firsts.length; i++)
      if ((firsts[i] as number) < (firsts[i - 1] as number)) figures.outOfOrder++;
  }
  const statusById = new Map(orderRows.map((o) => [o.id, o.status]));
  for (const [orderId, list] of byOrder) {
    const last = list[list.length - 1];
    const lastStatus = last ? (JSON.parse(last.body) as { status?: string }).status : undefined;
    if (lastStatus !== statusById.get(orderId)) {
      figures.lastNotFinal++;
      if (examples.length < 8)
        examples.push(`order ${orderId}: last callback ${lastStatus}, order ${statusById.get(orderId)}`);
    }
  }
  checks.check(
    "every callback delivered, stable event id, in order per order and per subscription",
    figures.undelivered === 0 && figures.unstable === 0 && figures.outOfOrder === 0 && rows.length > 0,
    `${rows.length} callbacks, ${figures.deliveries} deliveries accepted (${figures.duplicates} repeats), undelivered ${figures.undelivered}, unstable ${figures.unstable}, out of order ${figures.outOfOrder} (${byStream.size} streams)${examples.length ? `; ${examples.join("; ")}` : ""}`,
  );
  checks.check(
    "each order's last callback carries its final status",
    figures.lastNotFinal === 0,
    `${byOrder.size} orders with callbacks, ${figures.lastNotFinal} whose last callback is not the final status`,
  );
  return figures;
}

/**
 * Counts each row delivered or not, its repeats and unstable bodies, and groups the delivered rows
 * per order and per stream. Delivery order is promised per stream: one per order, one per
 * subscription (and receiver).
 */
function matchDeliveries(
  rows: CallbackRow[],
  accepted: Accepted,
  figures: CallbackFigures,
  examples: string[],
) {
  const byOrder = new Map<string, CallbackRow[]>();
  const byStream = new Map<string, CallbackRow[]>();
  for (const r of rows) {
    const got = accepted.get(r.event_id);
    if (!got || r.status !== "delivered") {
      figures.undelivered++;
      if (examples.length < 5) examples.push(`callback ${r.id} (${r.status}) not accepted`);
      continue;
    }
    figures.delivered++;
    if (got.length > 1) figures.duplicates += got.length - 1;
    if (got.some((g) => g.body !== r.body)) figures.unstable++;
    if (r.order_id) byOrder.set(r.order_id, [...(byOrder.get(r.order_id) ?? []), r]);
    const stream = `${r.stream} ${r.url}`;
    byStream.set(stream, [...(byStream.get(stream) ?? []), r]);
  }
  return { byOrder, byStream };
}
