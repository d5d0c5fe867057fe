-- Recurring billing (issue 14): subscriptions paid period by period with plain transfers to a
-- dedicated deposit address. Only server/src/recurring/ runs SQL on these tables; the deposit
-- address itself is registered (and watched, swept) through server/src/deposits/.
CREATE TABLE subscriptions (
  id                bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,   -- the seed's integer `id`
  merchant_id       bigint NOT NULL REFERENCES merchants (id),
  chain_id          bigint NOT NULL,
  -- How periods are paid: plain transfers to the deposit address, or (later) the token-pull
  -- contract's collections.
  method            text NOT NULL DEFAULT 'deposit' CHECK (method IN ('deposit', 'token_pull')),
  token             text NOT NULL,                    -- 0x0…0 for ETH
  token_symbol      text NOT NULL,
  token_decimals    integer NOT NULL,
  usd_cents         bigint NOT NULL CHECK (usd_cents > 0),
  interval          text NOT NULL CHECK (interval IN ('weekly', 'monthly', 'yearly')),
  starts_at         timestamptz NOT NULL,             -- the first period's due date
  merchant_address  text NOT NULL,                    -- lowercase; bound in the deposit address
  callback          text NOT NULL,
  item_title        text,
  item_description  text,
  item_image        text,
  reference         text NOT NULL,                    -- bytes32 bound in the deposit address (lowercase hex)
  deposit_address   text NOT NULL,                    -- lowercase
  page_token        text NOT NULL UNIQUE,             -- the hosted page's unguessable link
  -- Last computed state (server/src/recurring/state.ts), kept current by the indexer sink and
  -- the scheduler tick.
  status            text NOT NULL DEFAULT 'upcoming'
                    CHECK (status IN ('expired', 'active', 'pending', 'upcoming')),
  paid_through      timestamptz NOT NULL,             -- end of the last of the consecutive paid periods
  shown_index       integer NOT NULL DEFAULT 0,       -- the period the status is about
  credit            numeric(78,0) NOT NULL DEFAULT 0, -- received but not owed by any open period
  credit_block      bigint,                           -- newest block of a credit seen (reorg recompute)
  next_check_at     timestamptz,                      -- when the clock alone can change the state
  cancelled_at      timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  UNIQUE (chain_id, reference),
  UNIQUE (chain_id, deposit_address)
);
CREATE INDEX subscriptions_merchant ON subscriptions (merchant_id, id);
CREATE INDEX subscriptions_merchant_status ON subscriptions (merchant_id, status, id);
CREATE INDEX subscriptions_next_check ON subscriptions (next_check_at) WHERE next_check_at IS NOT NULL;

-- One row per period whose invoice is open: its USD rate is locked when it opens.
CREATE TABLE subscription_periods (
  subscription_id  bigint NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
  index            integer NOT NULL CHECK (index >= 0),
  starts_at        timestamptz NOT NULL,              -- due date
  ends_at          timestamptz NOT NULL,
  opens_at         timestamptz NOT NULL,              -- due − 10 days
  opened_at        timestamptz NOT NULL,              -- when its rate was locked
  price            numeric(78,0) NOT NULL,            -- USD per whole token × 10^price_decimals
  price_decimals   integer NOT NULL,
  expected_amount  numeric(78,0) NOT NULL,            -- smallest unit (wei / token units)
  paid_amount      numeric(78,0) NOT NULL DEFAULT 0,  -- allocated to it, oldest period first
  paid_at          timestamptz,                       -- block time of the credit that covered it
  paid_block       bigint,
  transaction_id   text,
  reminded_at      timestamptz,                       -- the `recurring.upcoming` reminder was queued
  PRIMARY KEY (subscription_id, index)
);
