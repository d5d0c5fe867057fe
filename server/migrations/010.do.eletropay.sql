-- EletroPay private API: clients, watch-only deposit addresses for DASH/LTC/BTC, and the
-- payments the watcher detects on each UTXO chain. Amounts are numeric(78,0) in the smallest unit.

-- A POS operator registered by EletroPay. The token is a bearer secret: it is stored as
--   token_hash: sha256(token), for lookup (160 random bits: a hash cannot be brute-forced), and
--   token_enc:  AES-256-GCM(token) under a key derived from ELETROPAY_TOKEN_KEY, which lives in
--               the environment and never in this database; the email is the associated data.
-- So the same email gets the same token back, and a database leak alone hands out no token.
CREATE TABLE eletropay_clients (
  id            bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
  email         text NOT NULL UNIQUE,
  token_hash    text NOT NULL UNIQUE,
  token_enc     text NOT NULL,
  token_key_id  text NOT NULL,                   -- which ELETROPAY_TOKEN_KEY encrypted it
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- One allocation counter per configured extended public key (a new XPUB_<CUR> starts at 0,
-- the old key's addresses stay watched).
CREATE TABLE eletropay_keys (
  currency     text NOT NULL,
  key_id       text NOT NULL,                    -- sha256 of chain code and public key, truncated
  next_index   bigint NOT NULL DEFAULT 0,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (currency, key_id)
);

CREATE TABLE eletropay_addresses (
  currency        text NOT NULL,
  key_id          text NOT NULL,
  idx             bigint NOT NULL,               -- m/0/idx below the account-level key
  address         text NOT NULL,
  client_id       bigint NOT NULL REFERENCES eletropay_clients (id),
  issued_at       timestamptz NOT NULL DEFAULT now(),
  last_issued_at  timestamptz NOT NULL DEFAULT now(),
  reissue_count   integer NOT NULL DEFAULT 0,
  imported_at     timestamptz,                   -- watch-only import into the node wallet
  paid_at         timestamptz,                   -- first payment seen (any state); never cleared
  PRIMARY KEY (currency, key_id, idx),
  UNIQUE (currency, address)
);
CREATE INDEX eletropay_addresses_unimported ON eletropay_addresses (currency, issued_at) WHERE imported_at IS NULL;
CREATE INDEX eletropay_addresses_reissue ON eletropay_addresses (client_id, currency, last_issued_at)
  WHERE paid_at IS NULL;

-- One row per (transaction, address): outputs of one transaction to one address are summed.
CREATE TABLE eletropay_payments (
  currency               text NOT NULL,
  txid                   text NOT NULL,
  address                text NOT NULL,
  amount                 numeric(78,0) NOT NULL,
  vouts                  text NOT NULL,           -- e.g. "0,2"
  state                  text NOT NULL CHECK (state IN ('mempool', 'block', 'vanished')),
  block_hash             text,
  block_height           bigint,
  confirmations          integer NOT NULL,        -- effective confirmations last observed
  reported_confirmations integer,                 -- last value queued in a callback
  final                  boolean NOT NULL DEFAULT false, -- reported the required count
  first_seen_at          timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now(),
  vanished_at            timestamptz,
  PRIMARY KEY (currency, txid, address),
  FOREIGN KEY (currency, address) REFERENCES eletropay_addresses (currency, address)
);
CREATE INDEX eletropay_payments_open ON eletropay_payments (currency) WHERE NOT final AND state <> 'vanished';

-- Where each currency's watcher resumes: the listsinceblock cursor, committed with the
-- payments and callbacks it produced.
CREATE TABLE eletropay_chain_state (
  currency     text PRIMARY KEY,
  cursor_hash  text,
  tip_height   bigint,
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Visible log of payments that vanished (reorged out and neither re-mined nor in the mempool).
CREATE TABLE eletropay_events (
  id          bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
  currency    text NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('vanished', 'reorg', 'revived', 'cursor_reset')),
  txid        text,
  address     text,
  detail      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
