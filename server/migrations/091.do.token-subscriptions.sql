-- Token subscriptions (issue 14, the token-pull path): what the Subscriptions contract recorded on
-- chain, as the indexer saw it, and the keeper's own bookkeeping. Only server/src/token-subscriptions/
-- runs SQL on these tables. The contract is the source of truth (`paidThrough(id)` is on chain); these
-- rows mirror it for the server.
--
-- 1. One row per subscription (the Subscribed event), updated by its Collected and Cancelled events.
--    Keyed by the block that created it: a reorg past that block deletes the row, and the state columns
--    are recomputed from the collections and the cancellation that remain.
CREATE TABLE token_subscriptions (
  chain_id            bigint NOT NULL,
  subscription_id     numeric(78,0) NOT NULL,       -- the contract's id (1, 2, 3, …)
  contract            text NOT NULL,                -- the Subscriptions contract, lowercase
  ref                 text NOT NULL,                -- bytes32, lowercase hex (the orderId of every payment)
  merchant            text NOT NULL,
  customer            text NOT NULL,
  token               text NOT NULL,
  amount_per_period   numeric(78,0) NOT NULL,
  interval_seconds    bigint NOT NULL,
  start_at            bigint NOT NULL,              -- unix seconds: period 0 starts (and is due)
  paid_through        bigint NOT NULL,              -- unix seconds: the next period is due
  periods_collected   integer NOT NULL DEFAULT 0,
  cancelled           boolean NOT NULL DEFAULT false,
  cancelled_by        text,
  cancelled_block     bigint,
  cancelled_tx_hash   text,
  block_number        bigint NOT NULL,
  block_hash          text NOT NULL,
  block_timestamp     timestamptz NOT NULL,
  tx_hash             text NOT NULL,
  log_index           integer NOT NULL,
  PRIMARY KEY (chain_id, subscription_id)
);
CREATE INDEX token_subscriptions_ref ON token_subscriptions (chain_id, ref);
CREATE INDEX token_subscriptions_block ON token_subscriptions (chain_id, block_number);
CREATE INDEX token_subscriptions_due ON token_subscriptions (chain_id, paid_through) WHERE NOT cancelled;

-- 2. One row per collected period (the Collected event). The period number is unique per
--    subscription: the contract never charges a period twice, and this key says so here too.
CREATE TABLE token_subscription_collections (
  chain_id          bigint NOT NULL,
  subscription_id   numeric(78,0) NOT NULL,
  ref               text NOT NULL,
  period            bigint NOT NULL,
  amount            numeric(78,0) NOT NULL,
  paid_through      bigint NOT NULL,
  block_number      bigint NOT NULL,
  block_hash        text NOT NULL,
  block_timestamp   timestamptz NOT NULL,
  tx_hash           text NOT NULL,
  log_index         integer NOT NULL,
  PRIMARY KEY (chain_id, subscription_id, period)
);
CREATE INDEX token_subscription_collections_ref ON token_subscription_collections (chain_id, ref);
CREATE INDEX token_subscription_collections_block ON token_subscription_collections (chain_id, block_number);

-- 3. The collector's bookkeeping (not indexed data): its transaction in flight, per chain one at a
--    time, and its back-off after a failed simulation (allowance lowered, balance short, …).
CREATE TABLE token_subscription_keeper (
  chain_id           bigint NOT NULL,
  subscription_id    numeric(78,0) NOT NULL,
  tx_hash            text,                         -- the collect in flight (its newest broadcast), until mined or dropped
  tx_hashes          text[],                       -- every broadcast of that nonce (a stuck one is re-sent with a higher fee)
  nonce              bigint,
  gas_limit          numeric(78,0),
  max_fee_per_gas    numeric(78,0),
  max_priority_fee_per_gas numeric(78,0),
  sent_block         bigint,                       -- chain head at the newest broadcast
  last_error         text,                         -- the newest simulation (or send) failure
  failures           integer NOT NULL DEFAULT 0,   -- consecutive failures
  retry_block        bigint,                       -- no new attempt before this block
  updated_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (chain_id, subscription_id)
);
CREATE INDEX token_subscription_keeper_in_flight ON token_subscription_keeper (chain_id) WHERE tx_hash IS NOT NULL;
