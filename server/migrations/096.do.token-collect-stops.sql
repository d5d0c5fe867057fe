-- Refs the collector no longer collects (issue 14, token pulls): the merchant cancelled the
-- token_pull subscription that owns the ref through the API. The on-chain subscription may stay open
-- (only the customer or the merchant can cancel it on chain), but nothing more is owed, so this
-- server stops pulling it. Written by server/src/recurring/ through token-subscriptions'
-- `stopCollecting`; read by the collector's due query. Not indexed data: a reindex keeps it.
CREATE TABLE token_collect_stops (
  chain_id    bigint NOT NULL,
  ref         text NOT NULL,                 -- bytes32, lowercase hex
  stopped_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (chain_id, ref)
);
