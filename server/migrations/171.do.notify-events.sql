-- TXT Messaging (docs/notifications.md): the events a merchant wants a message for. NULL: every
-- event, as before. Set with PUT /user/notifications, with the phone number the texts go to.
ALTER TABLE merchants ADD COLUMN notify_events text[];
