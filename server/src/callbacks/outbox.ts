import type { Queryable } from "../db/types.ts";

/** Channel used to wake delivery workers right after a callback is committed. */
export const CALLBACKS_CHANNEL = "ethpos_callbacks";

export interface OutboxEntry {
  /** Delivery order is kept within a stream: one stream per (subject, receiver). */
  stream: string;
  /** Event kind, e.g. `order.success` or `eletropay.payment`. */
  kind: string;
  url: string;
  /** The exact JSON text to send; it is signed byte for byte. */
  body: string;
  /** Which secret signs it: `merchant:<id>`, `system` or `eletropay`. */
  secretRef: string;
  orderId?: bigint | null;
  merchantId?: bigint | null;
}

/**
 * Queues a callback inside the caller's transaction, so it exists if and only if the change
 * that caused it commits. Delivery workers pick it up (see callbacks/worker.ts).
 * Returns the row id and the event id (X-EthPOS-Event-Id), which never changes across retries.
 */
export async function enqueueCallback(tx: Queryable, entry: OutboxEntry): Promise<{ id: bigint; eventId: string }> {
  const { rows } = await tx.query<{ id: bigint; event_id: string }>(
    `INSERT INTO callbacks (stream, kind, url, body, secret_ref, order_id, merchant_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     RETURNING id, event_id`,
    [entry.stream, entry.kind, entry.url, entry.body, entry.secretRef, entry.orderId ?? null, entry.merchantId ?? null],
  );
  const row = rows[0];
  if (!row) throw new Error("enqueueCallback: insert returned no row");
  await tx.query("SELECT pg_notify($1, '')", [CALLBACKS_CHANNEL]);
  return { id: row.id, eventId: row.event_id };
}
