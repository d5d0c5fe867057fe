-- Orders created per merchant per UTC day, for the plan's daily limit. POST /order takes a slot
-- and inserts the order in one statement: the upsert's row lock serializes a merchant's
-- concurrent creations, and its WHERE is rechecked on the latest row version, so the limit holds
-- without a separate lock and count (which cost four round trips per order).
CREATE TABLE merchant_daily_orders (
  merchant_id  bigint NOT NULL REFERENCES merchants (id),
  day          date NOT NULL,
  count        integer NOT NULL CHECK (count >= 0),
  PRIMARY KEY (merchant_id, day)
);

INSERT INTO merchant_daily_orders (merchant_id, day, count)
SELECT merchant_id, (created_at AT TIME ZONE 'UTC')::date, count(*)
  FROM orders
 WHERE merchant_id IS NOT NULL
   AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
 GROUP BY 1, 2;
