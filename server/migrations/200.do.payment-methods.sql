-- Payment methods (server/src/payment-methods/): one order, payable by each method the merchant
-- accepts (ETH and each allowlisted token on each configured chain). Each method has its own
-- address for the order and its own rate, locked when the order is made. Only the payment-methods
-- module runs SQL on this table.
CREATE TABLE order_methods (
  order_id         bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  method           text NOT NULL,                -- "ETH@31337", "USDC@8453"
  position         integer NOT NULL,             -- 0: the order's default method (its seed fields)
  chain_id         bigint NOT NULL,
  token            text NOT NULL,                -- lowercase; 0x0…0 for ETH
  symbol           text NOT NULL,
  decimals         integer NOT NULL,
  address          text NOT NULL,                -- where it is paid (lowercase): the order's deposit address on that chain
  expected_amount  numeric(78,0) NOT NULL,       -- the whole order in this method, smallest units
  price            numeric(78,0) NOT NULL,       -- the locked rate: USD per whole coin, scaled by 10^price_decimals
  price_decimals   integer NOT NULL,
  price_source     text NOT NULL,                -- "feed", "static" or "peg"
  PRIMARY KEY (order_id, method)
);
CREATE INDEX order_methods_address ON order_methods (chain_id, address);

-- The orders whose state the module computes (a method other than the default was used), with
-- the status it last computed: the `success` ones are looked at again on each block of their
-- methods' chains, until their confirmations and sweeps are in.
CREATE TABLE method_orders (
  order_id    bigint PRIMARY KEY REFERENCES orders (id) ON DELETE CASCADE,
  status      text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX method_orders_open ON method_orders (order_id) WHERE status = 'success';
