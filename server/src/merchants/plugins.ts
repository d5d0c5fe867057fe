/**
 * The seed's plugin features, as per-merchant flags:
 * - `txt_messaging` ("TXT Messaging 150" / "TXT Messaging 500"): a text on every order status
 *   change, up to the monthly limit, through the merchant's notifier (see server/src/notify);
 * - `recurring_payments` ("Recurring Payments"): recurring billing, on the Seller plan or above.
 */
export const PLUGIN_NAMES = ["txt_messaging", "recurring_payments"] as const;
export type PluginName = (typeof PLUGIN_NAMES)[number];
export type PluginFlags = Record<PluginName, boolean>;

export const TXT_MESSAGING_LIMITS = [150, 500] as const;
export type TxtMessagingLimit = (typeof TXT_MESSAGING_LIMITS)[number];

export interface NotificationSettings {
  /** The webhook that receives notifications (it stands in for an SMS provider). */
  url: string | null;
  /** E.164 phone number passed on as the recipient, e.g. +15551234567. */
  phone: string | null;
  /** Messages per calendar month (UTC): 150 or 500, as the seed's two TXT Messaging tiers. */
  monthlyLimit: TxtMessagingLimit;
  /** The events the merchant wants a message for (NOTIFY_EVENTS); null: every one. */
  events: NotifyEvent[] | null;
}

/** Every event TXT Messaging can report: order status changes and subscription events. */
export const NOTIFY_EVENTS = [
  "order.success",
  "order.complete",
  "order.expired",
  "order.refunded",
  "order.pending",
  "recurring.period_paid",
  "recurring.upcoming",
  "recurring.status_changed",
] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

export const PHONE_PATTERN = /^\+[1-9][0-9]{6,14}$/;

export const pluginFlags = (raw: unknown): PluginFlags => {
  const value = (raw ?? {}) as Partial<Record<string, unknown>>;
  return {
    txt_messaging: value.txt_messaging === true,
    recurring_payments: value.recurring_payments === true,
  };
};
