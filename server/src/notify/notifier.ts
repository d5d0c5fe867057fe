/**
 * A short message to a merchant about activity on its account (the seed's TXT Messaging plugin).
 * Providers differ (an SMS gateway, a chat bot, a webhook); every one of them implements
 * Notifier. Shipped: smsNotifier (./channel.ts), a text through the operator's SMS provider
 * (callbacks/sms.ts: Twilio or any HTTP gateway), and webhookNotifier (./webhook.ts), a signed
 * POST to the merchant's notify URL. Both are delivered by the durable callbacks outbox.
 */
export interface Notification {
  merchantId: bigint;
  /** What happened, e.g. `order.success`. */
  event: string;
  /** The recipient's phone number (E.164), when the merchant has set one. */
  to: string | null;
  /** The text message itself: plain text, at most one SMS (160 characters) in practice. */
  text: string;
  orderId: bigint | null;
  /** The order's status after the change, for order events. */
  status: string | null;
}

export interface Notifier {
  /**
   * Hands the message over for delivery. Implementations bound to a database transaction (the
   * webhook one) queue it there, so it is sent if and only if that transaction commits.
   */
  send(message: Notification): Promise<void>;
}
