import { insertCallback } from "../callbacks/outbox.ts";
import type { Queryable } from "../db/types.ts";
import { pluginFlags } from "../merchants/plugins.ts";
import { notificationsThisMonth } from "../merchants/service.ts";
import type { Notification, Notifier } from "./notifier.ts";
import { SMS_URL_PREFIX } from "../callbacks/sms.ts";
import { webhookNotifier, type Enqueue, type NotificationBody } from "./webhook.ts";

/** How TXT Messaging reaches a merchant; `sms` when the operator has an SMS provider (SMS_PROVIDER). */
export interface TxtOptions {
  sms?: boolean;
}

/** A merchant as TXT Messaging sees it. */
export interface TxtMerchant {
  id: bigint;
  plugins: unknown;
  notify_url: string | null;
  notify_phone: string | null;
  /** The events the merchant wants texts for; null: every event. */
  notify_events: string[] | null;
  txt_messaging_monthly_limit: number;
}

/**
 * The merchants of `ids` that TXT Messaging can reach: the plugin on, and a phone number (with an
 * SMS provider) or a notify URL.
 */
export async function txtMerchants(
  tx: Queryable,
  ids: readonly bigint[],
  options: TxtOptions,
): Promise<Map<bigint, TxtMerchant>> {
  if (ids.length === 0) return new Map();
  const { rows } = await tx.query<TxtMerchant>(
    `SELECT id, plugins, notify_url, notify_phone, notify_events, txt_messaging_monthly_limit FROM merchants
      WHERE id = ANY($1::int8[]) AND (notify_url IS NOT NULL OR ($2 AND notify_phone IS NOT NULL))`,
    [ids.map(String), options.sms === true],
  );
  return new Map(rows.filter((r) => pluginFlags(r.plugins).txt_messaging).map((r) => [r.id, r]));
}

/** Queues a text to `phone` in the callbacks outbox: the worker sends it through the SMS provider. */
export function smsNotifier(tx: Queryable, phone: string, enqueue: Enqueue): Notifier {
  return {
    async send(message: Notification) {
      const body: NotificationBody = {
        type: "notification",
        event: message.event,
        to: phone,
        text: message.text,
        order_id: message.orderId === null ? null : Number(message.orderId),
        status: message.status,
      };
      await enqueue(tx, {
        stream: `notify:${message.merchantId}`,
        kind: `notify.${message.event}`,
        url: `${SMS_URL_PREFIX}${phone}`,
        body: JSON.stringify(body),
        secretRef: `merchant:${message.merchantId}`,
        orderId: message.orderId,
        merchantId: message.merchantId,
      });
    },
  };
}

/**
 * Sends one TXT Messaging notification if the merchant wants this event and is under its monthly
 * limit: as a text when the operator has an SMS provider and the merchant a phone number, else as
 * a signed webhook to its notify URL. Returns whether it was queued.
 */
export async function sendTxt(
  tx: Queryable,
  merchant: TxtMerchant,
  message: Omit<Notification, "merchantId" | "to">,
  options: TxtOptions,
  enqueue: Enqueue = insertCallback,
): Promise<boolean> {
  if (merchant.notify_events !== null && !merchant.notify_events.includes(message.event)) return false;
  const sms = options.sms === true && merchant.notify_phone !== null;
  if (!sms && merchant.notify_url === null) return false;
  if ((await notificationsThisMonth(tx, merchant.id)) >= merchant.txt_messaging_monthly_limit) return false;
  const notifier = sms
    ? smsNotifier(tx, merchant.notify_phone as string, enqueue)
    : webhookNotifier(tx, merchant.notify_url as string, enqueue);
  await notifier.send({ ...message, merchantId: merchant.id, to: merchant.notify_phone });
  return true;
}
