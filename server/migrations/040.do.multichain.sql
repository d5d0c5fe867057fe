-- One runtime per chain.
--
-- 1. The chain identity in `meta` becomes per chain: `chain.<id>.genesis_hash` and
--    `chain.<id>.contract` instead of one `chain.id` / `chain.genesis_hash` / `chain.contract`.
INSERT INTO meta (key, value)
SELECT 'chain.' || id.value || '.' || substr(m.key, 7), m.value
  FROM meta m, (SELECT value FROM meta WHERE key = 'chain.id') id
 WHERE m.key IN ('chain.genesis_hash', 'chain.contract')
ON CONFLICT (key) DO NOTHING;
DELETE FROM meta WHERE key IN ('chain.id', 'chain.genesis_hash', 'chain.contract');

-- 2. A chain whose indexer stopped on a non-retryable error. Every process reads it, so an
--    API-only process refuses new orders on that chain too (503) and /health names it.
CREATE TABLE indexer_failures (
  chain_id   bigint PRIMARY KEY,
  message    text NOT NULL,
  failed_at  timestamptz NOT NULL DEFAULT now()
);
