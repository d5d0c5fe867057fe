-- The terminal key an order was created with at the point of sale (POST /pos/order from a
-- terminal session), or NULL. A terminal session reads only its own key's orders (security
-- review 2, finding 8); the merchant's API key and console read all of the account's orders.
ALTER TABLE orders ADD COLUMN terminal_key_id bigint REFERENCES terminal_keys (id) ON DELETE SET NULL;
CREATE INDEX orders_terminal_key ON orders (terminal_key_id) WHERE terminal_key_id IS NOT NULL;
