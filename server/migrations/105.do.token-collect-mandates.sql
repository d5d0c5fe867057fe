-- Security review 2, finding R2-2: the collector collects only the on-chain subscriptions this
-- server asked for. Anyone can create an on-chain subscription (to any merchant, with any ref, of
-- one unit every second), so "indexed and due" is no reason to spend the shared gas key on it.
--
-- 1. One mandate per token_pull subscription created through the API: the exact terms its on-chain
--    `subscribe` must bind. The collector's due query joins on every term; an on-chain subscription
--    that differs in any of them is never simulated or sent. Written by server/src/recurring/ through
--    token-subscriptions' `allowCollecting`; not indexed data (a reindex keeps it).
CREATE TABLE token_collect_mandates (
  chain_id           bigint NOT NULL,
  ref                text NOT NULL,                 -- bytes32, lowercase hex
  merchant           text NOT NULL,                 -- lowercase: the payee bound on chain
  token              text NOT NULL,                 -- lowercase
  amount_per_period  numeric(78,0) NOT NULL,        -- token units
  interval_seconds   bigint NOT NULL,
  start_at           bigint NOT NULL,               -- unix seconds
  created_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (chain_id, ref)
);

-- The token_pull subscriptions created before this migration (period 0 holds the amount bound on
-- chain; the interval is the on-chain one of ON_CHAIN_INTERVAL_SECONDS).
INSERT INTO token_collect_mandates (chain_id, ref, merchant, token, amount_per_period, interval_seconds, start_at)
SELECT s.chain_id, lower(s.reference), lower(s.merchant_address), lower(s.token), p.expected_amount,
       CASE s.interval WHEN 'weekly' THEN 604800 WHEN 'monthly' THEN 2592000 ELSE 31536000 END,
       floor(extract(epoch FROM s.starts_at))::bigint
  FROM subscriptions s
  JOIN subscription_periods p ON p.subscription_id = s.id AND p.index = 0
 WHERE s.method = 'token_pull'
ON CONFLICT (chain_id, ref) DO NOTHING;

-- 2. Fair order: each attempt (a simulation, a refusal, a send) takes the next number; the due query
--    tries the least recently attempted subscription first, so no subscription (a griefer's, or one
--    many periods behind) can take every send while others wait.
CREATE SEQUENCE token_collect_attempt_seq;
ALTER TABLE token_subscription_keeper ADD COLUMN attempt_seq bigint;
