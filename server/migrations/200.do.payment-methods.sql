-- Payment methods (server/src/payment-methods/): one order, payable by each method the merchant
-- accepts (ETH and each allowlisted token on each configured chain; LTC, BTC or DASH to the
-- merchant's own watch-only xpub). Each method has its own
-- address for the order and its own rate, locked when the order is made. Only the payment-methods
-- module runs SQL on this table.
CREATE TABLE order_methods (
  order_id         bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  method           text NOT NULL,                -- "ETH@31337", "USDC@8453", "LTC"
  position         integer NOT NULL,             -- 0: the order's default method (its seed fields)
  chain_id         bigint,                       -- the EVM chain; NULL for a UTXO coin
  token            text NOT NULL,                -- lowercase; 0x0…0 for ETH; the coin for UTXO
  symbol           text NOT NULL,
  decimals         integer NOT NULL,
  address          text NOT NULL,                -- where it is paid: the order's deposit address on that chain
                                                 -- (lowercase), or the address derived from the merchant's xpub
  expected_amount  numeric(78,0) NOT NULL,       -- the whole order in this method, smallest units
  price            numeric(78,0) NOT NULL,       -- the locked rate: USD per whole coin, scaled by 10^price_decimals
  price_decimals   integer NOT NULL,
  price_source     text NOT NULL,                -- "feed", "static" or "peg"
  PRIMARY KEY (order_id, method)
);
CREATE INDEX order_methods_address ON order_methods (chain_id, address);
CREATE INDEX order_methods_utxo ON order_methods (token, address) WHERE chain_id IS NULL;

-- The orders whose state the module computes (a method other than the default was used), with
-- the status it last computed: the `success` ones are looked at again on each block of their
-- methods' chains, until their confirmations and sweeps are in.
CREATE TABLE method_orders (
  order_id    bigint PRIMARY KEY REFERENCES orders (id) ON DELETE CASCADE,
  status      text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX method_orders_open ON method_orders (order_id) WHERE status = 'success';

-- UTXO methods: the merchant's own account-level extended public keys (watch-only: the server
-- derives receive addresses m/0/i from them and never holds a private key; funds go straight to
-- the merchant's wallet), and the next index to hand out.
CREATE TABLE merchant_xpubs (
  merchant_id  bigint NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
  coin         text NOT NULL,                    -- LTC, BTC, DASH
  xpub         text NOT NULL,
  next_index   integer NOT NULL DEFAULT 0,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (merchant_id, coin)
);

-- What each UTXO method's watcher saw at order addresses: one row per (transaction, address),
-- kept current (confirmations, a reorg that removed it) until it is final.
CREATE TABLE utxo_method_payments (
  coin           text NOT NULL,
  txid           text NOT NULL,
  address        text NOT NULL,
  amount         numeric(78,0) NOT NULL,         -- smallest units (litoshi, satoshi, duff)
  block_height   integer,                        -- NULL while in the mempool
  block_time     timestamptz,
  confirmations  integer NOT NULL,
  final          boolean NOT NULL,               -- confirmations reached PAY_<COIN>_CONFIRMATIONS
  PRIMARY KEY (coin, txid, address)
);
CREATE INDEX utxo_method_payments_address ON utxo_method_payments (coin, address);

-- Each coin watcher's listsinceblock cursor (a block hash).
CREATE TABLE utxo_method_cursors (
  coin        text PRIMARY KEY,
  cursor      text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
