-- Callback delivery bookkeeping (server/src/callbacks).

-- A manual redelivery is a new row (new event id) that points at the delivery it repeats.
ALTER TABLE callbacks ADD COLUMN redelivery_of bigint REFERENCES callbacks (id) ON DELETE SET NULL;
-- Summary of the latest attempt, for /health and listings without scanning callback_attempts.
ALTER TABLE callbacks ADD COLUMN last_attempt_at timestamptz;
ALTER TABLE callbacks ADD COLUMN last_status_code integer;

-- Attempt number (1-based) and the first bytes of the receiver's answer, for debugging.
ALTER TABLE callback_attempts ADD COLUMN attempt integer;
ALTER TABLE callback_attempts ADD COLUMN response_excerpt text;

-- Failing receivers in /health: recent permanent failures.
CREATE INDEX callbacks_failed ON callbacks (created_at) WHERE status = 'failed';
-- Merchant-scoped listings.
CREATE INDEX callbacks_merchant ON callbacks (merchant_id, id) WHERE merchant_id IS NOT NULL;
