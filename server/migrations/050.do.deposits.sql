-- Deposit addresses (issue 12): every new order gets a counterfactual CREATE2 address that a plain
-- transfer pays; the indexer watches it and records what arrives and when it is swept.
--
-- 1. Orders: the deposit address (NULL for orders made before this migration, which keep paying
--    the contract through `pay`), and whether a covered, confirmed deposit waits for its sweep.
ALTER TABLE orders ADD COLUMN deposit_address text;
ALTER TABLE orders ADD COLUMN awaiting_sweep boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX orders_deposit_address ON orders (chain_id, deposit_address)
  WHERE deposit_address IS NOT NULL;

-- 2. The deposits module's tables (server/src/deposits/): only it runs SQL on them.
--    The watched addresses, with what the contract binds in each (merchant, bytes32 order id).
CREATE TABLE deposit_addresses (
  chain_id     bigint NOT NULL,
  address      text NOT NULL,                  -- lowercase
  merchant     text NOT NULL,
  order_ref    text NOT NULL,                  -- bytes32, lowercase hex
  token        text NOT NULL,                  -- what the order expects; 0x0…0 for ETH
  watch_until  timestamptz NOT NULL,           -- expiry + DEPOSIT_WATCH_HOURS
  balance      numeric(78,0) NOT NULL DEFAULT 0, -- newest observed ETH balance (watched while > 0)
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (chain_id, address)
);
CREATE INDEX deposit_addresses_watch ON deposit_addresses (chain_id, watch_until);
CREATE INDEX deposit_addresses_unswept ON deposit_addresses (chain_id) WHERE balance > 0;

-- ETH balance of a deposit address, one row per block where it changed (read at that block).
CREATE TABLE deposit_balances (
  chain_id         bigint NOT NULL,
  address          text NOT NULL,
  block_number     bigint NOT NULL,
  block_hash       text NOT NULL,
  block_timestamp  timestamptz NOT NULL,
  balance          numeric(78,0) NOT NULL,
  tx_hash          text,                        -- a direct transfer to the address in that block, if any
  PRIMARY KEY (chain_id, address, block_number)
);
CREATE INDEX deposit_balances_block ON deposit_balances (chain_id, block_number);

-- ERC-20 Transfer logs to a deposit address (allowlisted tokens).
CREATE TABLE deposit_transfers (
  chain_id         bigint NOT NULL,
  block_number     bigint NOT NULL,
  tx_index         integer NOT NULL,
  log_index        integer NOT NULL,
  block_hash       text NOT NULL,
  block_timestamp  timestamptz NOT NULL,
  tx_hash          text NOT NULL,
  token            text NOT NULL,
  address          text NOT NULL,               -- the deposit address (Transfer `to`)
  sender           text NOT NULL,
  amount           numeric(78,0) NOT NULL,
  PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX deposit_transfers_block ON deposit_transfers (chain_id, block_number);
CREATE INDEX deposit_transfers_address ON deposit_transfers (chain_id, address);

-- Sweeps observed: a PaymentReceived whose payer is the deposit address (credited), or a
-- DepositTokenForwarded (a token that is not allowlisted, sent to the merchant, nothing credited).
CREATE TABLE deposit_sweeps (
  chain_id         bigint NOT NULL,
  block_number     bigint NOT NULL,
  tx_index         integer NOT NULL,
  log_index        integer NOT NULL,
  block_hash       text NOT NULL,
  block_timestamp  timestamptz NOT NULL,
  tx_hash          text NOT NULL,
  kind             text NOT NULL CHECK (kind IN ('credited', 'forwarded')),
  address          text NOT NULL,
  merchant         text NOT NULL,
  order_ref        text NOT NULL,
  token            text NOT NULL,
  amount           numeric(78,0) NOT NULL,
  PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX deposit_sweeps_block ON deposit_sweeps (chain_id, block_number);
CREATE INDEX deposit_sweeps_address ON deposit_sweeps (chain_id, address);
