-- Merchant plugins (the seed's "Plugin Features") and their notification settings.
--
-- Flags live in merchants.plugins: {"txt_messaging": bool, "recurring_payments": bool}.
-- TXT Messaging sends a text on every order status change through a notifier; the shipped
-- notifier is a signed webhook (notify_url) that stands in for an SMS provider, and it goes
-- through the callbacks outbox, so a notification is queued in the same transaction as the
-- status change it reports. notify_phone is passed on as the message's recipient.
ALTER TABLE merchants
  ADD COLUMN notify_url text CHECK (notify_url IS NULL OR notify_url ~ '^https?://'),
  ADD COLUMN notify_phone text CHECK (notify_phone IS NULL OR notify_phone ~ '^\+[1-9][0-9]{6,14}$'),
  -- The seed sells "TXT Messaging 150" and "TXT Messaging 500": messages per calendar month (UTC).
  ADD COLUMN txt_messaging_monthly_limit integer NOT NULL DEFAULT 150
    CHECK (txt_messaging_monthly_limit IN (150, 500)),
  ADD CONSTRAINT merchants_plugins_known CHECK (
    jsonb_typeof(plugins) = 'object'
    AND (plugins - 'txt_messaging' - 'recurring_payments') = '{}'::jsonb
    AND jsonb_typeof(COALESCE(plugins -> 'txt_messaging', 'false'::jsonb)) = 'boolean'
    AND jsonb_typeof(COALESCE(plugins -> 'recurring_payments', 'false'::jsonb)) = 'boolean'
  );

-- Notifications sent this month, per merchant (the TXT Messaging quota).
CREATE INDEX callbacks_notifications ON callbacks (merchant_id, created_at) WHERE kind LIKE 'notify.%';
