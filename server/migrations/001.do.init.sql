-- Ethereum POS schema, version 1.
-- Money is numeric(78,0) in the smallest unit (wei, token units); never a float.
-- Addresses are stored lowercase hex; the API checksums them on the way out.

CREATE TABLE meta (
  key   text PRIMARY KEY,
  value text NOT NULL
);

CREATE TABLE merchants (
  id                      bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
  email                   text NOT NULL UNIQUE,
  plan                    text NOT NULL DEFAULT 'free'
                          CHECK (plan IN ('free', 'basic', 'seller', 'premium', 'exclusive')),
  -- API key: random, shown once; stored as sha256 with a short lookup prefix.
  api_key_prefix          text UNIQUE,
  api_key_hash            text,
  -- Callback signing secrets; during a rotation the previous one is kept and both sign.
  callback_secret         text NOT NULL,
  callback_secret_previous text,
  plugins                 jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
  id                bigint PRIMARY KEY,            -- random, not sequential (see orders/ids.ts)
  merchant_id       bigint REFERENCES merchants (id),
  chain_id          bigint NOT NULL,
  pay_to            text NOT NULL,                 -- the contract the customer pays
  merchant_address  text NOT NULL,                 -- payout address credited in the contract (return_to)
  token             text NOT NULL,                 -- 0x0…0 for ETH
  token_symbol      text NOT NULL,
  token_decimals    integer NOT NULL,
  currency_amount   text NOT NULL,                 -- USD as given, normalised ("13.54")
  usd_cents         bigint NOT NULL,
  expected_amount   numeric(78,0) NOT NULL,        -- smallest unit, rounded up
  price             numeric(78,0) NOT NULL,        -- locked USD price of one whole token
  price_decimals    integer NOT NULL,
  callback          text NOT NULL,
  item_title        text,
  item_description  text,
  item_image        text,
  status            text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'success', 'complete', 'expired', 'refunded')),
  exception         text CHECK (exception IN ('paid_partial', 'paid_over', 'paid_late')),
  amount_paid       numeric(78,0) NOT NULL DEFAULT 0,
  amount_refunded   numeric(78,0) NOT NULL DEFAULT 0,
  transaction_id    text,                          -- the payment that made the order whole
  paid_block        bigint,                        -- its block number
  sent_transaction  text,                          -- the refund transaction, when refunded
  -- Millisecond precision keeps the history's keyset cursor exact in JSON.
  created_at        timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  expires_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_merchant_history ON orders (merchant_id, created_at DESC, id DESC);
CREATE INDEX orders_merchant_status_history ON orders (merchant_id, status, created_at DESC, id DESC);
CREATE INDEX orders_open ON orders (expires_at) WHERE status = 'pending';
CREATE INDEX orders_success ON orders (paid_block) WHERE status = 'success';

-- Every contract event, keyed by its checkpoint. Rows past a reorg's common ancestor are deleted.
CREATE TABLE contract_events (
  chain_id         bigint NOT NULL,
  block_number     bigint NOT NULL,
  tx_index         integer NOT NULL,
  log_index        integer NOT NULL,
  block_hash       text NOT NULL,
  block_timestamp  timestamptz NOT NULL,
  tx_hash          text NOT NULL,
  kind             text NOT NULL CHECK (kind IN ('payment', 'withdrawal', 'refund')),
  merchant         text NOT NULL,
  order_ref        text,                           -- bytes32 order id (payments, refunds)
  order_id         bigint,                         -- matched order, when one exists
  counterparty     text NOT NULL,                  -- payer, withdrawal target or refund recipient
  token            text NOT NULL,
  amount           numeric(78,0) NOT NULL,
  PRIMARY KEY (chain_id, tx_hash, log_index)
);
CREATE INDEX contract_events_block ON contract_events (chain_id, block_number);
CREATE INDEX contract_events_order ON contract_events (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX contract_events_merchant ON contract_events (merchant, token);

-- Unfinalized blocks the indexer has applied: the reorg window.
CREATE TABLE indexer_blocks (
  chain_id     bigint NOT NULL,
  number       bigint NOT NULL,
  hash         text NOT NULL,
  parent_hash  text NOT NULL,
  timestamp    timestamptz NOT NULL,
  PRIMARY KEY (chain_id, number)
);

CREATE TABLE indexer_cursor (
  chain_id      bigint PRIMARY KEY,
  block_number  bigint NOT NULL,
  block_hash    text NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Merchant ledger mirrored from events.
CREATE VIEW merchant_ledger AS
SELECT chain_id, merchant, token,
       COALESCE(SUM(amount) FILTER (WHERE kind = 'payment'), 0)    AS credited,
       COALESCE(SUM(amount) FILTER (WHERE kind = 'withdrawal'), 0) AS withdrawn,
       COALESCE(SUM(amount) FILTER (WHERE kind = 'refund'), 0)     AS refunded
FROM contract_events
GROUP BY chain_id, merchant, token;

-- Callback outbox: a row is written in the same transaction as the change it reports.
CREATE TABLE callbacks (
  id               bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
  event_id         uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
  stream           text NOT NULL,                  -- delivery order is kept within a stream
  kind             text NOT NULL,                  -- e.g. order.success, eletropay.payment
  order_id         bigint,
  merchant_id      bigint,
  url              text NOT NULL,
  body             text NOT NULL,                  -- the exact bytes sent and signed
  secret_ref       text NOT NULL,                  -- 'merchant:<id>', 'system' or 'eletropay'
  status           text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  lease_until      timestamptz,
  last_error       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz
);
CREATE INDEX callbacks_due ON callbacks (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX callbacks_stream ON callbacks (stream, id) WHERE status IN ('pending', 'sending');
CREATE INDEX callbacks_order ON callbacks (order_id, id);

CREATE TABLE callback_attempts (
  id            bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
  callback_id   bigint NOT NULL REFERENCES callbacks (id) ON DELETE CASCADE,
  attempted_at  timestamptz NOT NULL DEFAULT now(),
  status_code   integer,
  latency_ms    integer NOT NULL,
  error         text
);
CREATE INDEX callback_attempts_callback ON callback_attempts (callback_id, id);
