import type { OutboxEntry } from "../callbacks/outbox.ts";
import type { Queryable } from "../db/types.ts";
import type { Notification, Notifier } from "./notifier.ts";

/** The body a notification webhook receives, signed like every callback (X-EthPOS-Signature). */
export interface NotificationBody {
  type: "notification";
  event: string;
  to: string | null;
  text: string;
  order_id: number | null;
  status: string | null;
}

export type Enqueue = (tx: Queryable, entry: OutboxEntry) => Promise<unknown>;

/**
 * Sends notifications as signed POSTs to the merchant's notify URL. Nothing is sent from here:
 * `send` writes the message into the callbacks outbox inside `tx`, and the callback workers
 * sign it with the merchant's secret, POST it, and retry it with backoff until it is delivered
 * (docs/callbacks.md). The stream is per merchant, so one merchant's messages arrive in order.
 */
export function webhookNotifier(tx: Queryable, url: string, enqueue: Enqueue): Notifier {
  return {
    async send(message: Notification) {
      const body: NotificationBody = {
        type: "notification",
        event: message.event,
        to: message.to,
        text: message.text,
        order_id: message.orderId === null ? null : Number(message.orderId),
        status: message.status,
      };
      await enqueue(tx, {
        stream: `notify:${message.merchantId}`,
        kind: `notify.${message.event}`,
        url,
        body: JSON.stringify(body),
        secretRef: `merchant:${message.merchantId}`,
        orderId: message.orderId,
        merchantId: message.merchantId,
      });
    },
  };
}
