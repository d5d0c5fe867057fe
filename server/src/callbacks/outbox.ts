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
  /** Set by a manual redelivery: the callback this one repeats. */
  redeliveryOf?: bigint | null;
}

/**
 * Queues many callbacks inside the caller's transaction in one statement (an indexer step's
 * order changes), with the ordering guarantee of insertCallback: the advisory lock of every
 * stream involved is taken first (in a fixed order, so two such writers cannot deadlock), then
 * the rows are inserted in the given order, so ids within a stream follow it, then one NOTIFY.
 */
export async function enqueueCallbacks(tx: Queryable, entries: readonly OutboxEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await tx.query(
    `WITH input AS (
       SELECT * FROM ROWS FROM (
         json_to_recordset($1::json) AS (stream text, kind text, url text, body text, secret_ref text,
           order_id int8, merchant_id int8, redelivery_of int8)
       ) WITH ORDINALITY AS i (stream, kind, url, body, secret_ref, order_id, merchant_id, redelivery_of, n)
     ),
     stream_locks AS MATERIALIZED (
       SELECT count(*) AS locked FROM (
         SELECT pg_advisory_xact_lock(hashtextextended('ethpos.callbacks:' || stream, 0))
           FROM (SELECT DISTINCT stream FROM input ORDER BY stream) AS s
       ) AS l
     ),
     inserted AS (
       INSERT INTO callbacks (stream, kind, url, body, secret_ref, order_id, merchant_id, redelivery_of)
       SELECT stream, kind, url, body, secret_ref, order_id, merchant_id, redelivery_of
         FROM input, stream_locks ORDER BY input.n
       RETURNING 1
     )
     SELECT pg_notify($2::text, '') FROM (SELECT count(*) FROM inserted) AS c`,
    [
      // One JSON array rather than 8 text arrays: the bodies (JSON themselves) are escaped by
      // JSON.stringify, not character by character by the driver's array literal writer.
      JSON.stringify(
        entries.map((e) => ({
          stream: e.stream,
          kind: e.kind,
          url: e.url,
          body: e.body,
          secret_ref: e.secretRef,
          order_id: e.orderId == null ? null : e.orderId.toString(),
          merchant_id: e.merchantId == null ? null : e.merchantId.toString(),
          redelivery_of: e.redeliveryOf == null ? null : e.redeliveryOf.toString(),
        })),
      ),
      CALLBACKS_CHANNEL,
    ],
  );
}

/**
 * Queues a callback: writes one outbox row inside the caller's transaction, so it exists if and
 * only if the change that caused it commits. Delivery workers pick it up (see callbacks/worker.ts).
 * Returns the row id and the event id (X-EthPOS-Event-Id), which never changes across retries.
 * The outbox only transports: what to send, and to whom, is decided by its callers (order status
 * subscribers, the TXT notifier, EletroPay, redeliveries).
 *
 * Ordering: the insert first takes a transaction-scoped advisory lock on the stream, so two
 * transactions writing to one stream are serialized and ids within a stream follow commit
 * order. Workers deliver a stream strictly by id, so an event can never be overtaken by one
 * that was committed after it. One statement does the lock, the insert and the NOTIFY (which
 * Postgres delivers at commit).
 */
export async function insertCallback(
  tx: Queryable,
  entry: OutboxEntry,
): Promise<{ id: bigint; eventId: string }> {
  const { rows } = await tx.query<{ id: bigint; event_id: string }>(
    `WITH stream_lock AS (SELECT pg_advisory_xact_lock(hashtextextended('ethpos.callbacks:' || $1::text, 0))),
     inserted AS (
       INSERT INTO callbacks (stream, kind, url, body, secret_ref, order_id, merchant_id, redelivery_of)
       SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::bigint, $7::bigint, $8::bigint FROM stream_lock
       RETURNING id, event_id
     )
     SELECT id, event_id::text AS event_id, pg_notify($9::text, '') FROM inserted`,
    [
      entry.stream,
      entry.kind,
      entry.url,
      entry.body,
      entry.secretRef,
      entry.orderId ?? null,
      entry.merchantId ?? null,
      entry.redeliveryOf ?? null,
      CALLBACKS_CHANNEL,
    ],
  );
  const row = rows[0];
  if (!row) throw new Error("insertCallback: insert returned no row");
  return { id: row.id, eventId: row.event_id };
}

/** Deletes the callbacks (and, by cascade, their attempts) of deleted orders. */
/** Deletes every callback of these streams (`recurring:<id>` of a subscription that is gone). */
export async function deleteStreamCallbacks(tx: Queryable, streams: readonly string[]): Promise<void> {
  if (streams.length === 0) return;
  await tx.query("DELETE FROM callbacks WHERE stream = ANY($1::text[])", [streams]);
}

export async function deleteOrderCallbacks(tx: Queryable, orderIds: readonly bigint[]): Promise<void> {
  if (orderIds.length === 0) return;
  await tx.query("DELETE FROM callbacks WHERE order_id = ANY($1::int8[])", [orderIds.map(String)]);
}
