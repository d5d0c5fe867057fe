-- One transaction sender (server/src/sender/) for every key that signs: the sweeper and the
-- token-subscription collector no longer each keep their own copy of "nonce, fees, sign, record,
-- broadcast, follow, bump". Only server/src/sender/ runs SQL on this table.
--
-- One row per nonce of a key: recorded before it is broadcast, then followed to mined, confirmed,
-- reverted or replaced. A transaction re-sent with a higher fee keeps its row (same nonce), gets a
-- new tx_hash and one more attempt; tx_hashes keeps every hash broadcast, since any of them may be
-- the one that is mined. `to_address`, `data` and `value` are what was signed, so a transaction the
-- node dropped is signed again into the very same bytes and re-broadcast.
CREATE TABLE outgoing_transactions (
  id                        bigserial PRIMARY KEY,
  chain_id                  bigint NOT NULL,
  sender                    text,                       -- the key's address, lowercase (NULL: a collect recorded before this table; the key's sender claims it)
  purpose                   text NOT NULL,              -- who sent it: 'sweep', 'collect'
  nonce                     bigint NOT NULL,
  to_address                text,                       -- lowercase (NULL: recorded before this table, until its owner fills it in)
  data                      text,                       -- calldata (NULL: as to_address)
  value                     numeric(78,0) NOT NULL DEFAULT 0,
  gas_limit                 numeric(78,0) NOT NULL,
  max_fee_per_gas           numeric(78,0) NOT NULL,
  max_priority_fee_per_gas  numeric(78,0) NOT NULL,
  tx_hash                   text NOT NULL,              -- the newest version signed, or the one mined
  tx_hashes                 text[] NOT NULL,            -- every version of this nonce signed
  state                     text NOT NULL CHECK (state IN ('sent', 'mined', 'confirmed', 'reverted', 'replaced', 'failed')),
  attempts                  integer NOT NULL DEFAULT 1, -- broadcasts of this nonce (the first, re-broadcasts, fee bumps)
  sent_block                bigint NOT NULL,            -- chain head when its newest version was signed (the stuck clock)
  mined_block               bigint,
  mined_block_hash          text,
  error                     text,
  created_at                timestamptz NOT NULL DEFAULT now(),
  updated_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outgoing_transactions_open ON outgoing_transactions (chain_id, sender) WHERE state IN ('sent', 'mined');
CREATE INDEX outgoing_transactions_purpose ON outgoing_transactions (chain_id, purpose, id DESC);

-- The sweeps move in, every one (their history stays readable through the link), the open ones
-- (`sent`, `mined`) included: a server upgraded with a sweep in flight follows it on. A sweep that
-- failed after it was mined reverted on chain; one that failed unmined was refused at broadcast.
ALTER TABLE sweeps ADD COLUMN outgoing_id bigint;
UPDATE sweeps SET outgoing_id = nextval(pg_get_serial_sequence('outgoing_transactions', 'id'));
INSERT INTO outgoing_transactions (id, chain_id, sender, purpose, nonce, gas_limit, max_fee_per_gas,
  max_priority_fee_per_gas, tx_hash, tx_hashes, state, attempts, sent_block, mined_block, mined_block_hash,
  error, created_at, updated_at)
SELECT outgoing_id, chain_id, sender, 'sweep', nonce, gas_limit, max_fee_per_gas, max_priority_fee_per_gas,
       tx_hash, tx_hashes,
       CASE WHEN state = 'failed' AND mined_block IS NOT NULL THEN 'reverted' ELSE state END,
       attempts, sent_block, mined_block, mined_block_hash, error, created_at, updated_at
  FROM sweeps;

-- A sweep refused at broadcast never reached the chain and cost nothing: its transaction stays
-- (state `failed`, with the error), the sweep goes, as the sweeper now does at a refusal.
DELETE FROM sweeps WHERE state = 'failed' AND mined_block IS NULL;

-- The sweep keeps its policy's facts (its deposits, their value, the head when it was sent: the
-- SWEEP_INTERVAL_BLOCKS clock) and points at its transaction.
DROP INDEX IF EXISTS sweeps_open;
ALTER TABLE sweeps
  ALTER COLUMN outgoing_id SET NOT NULL,
  ADD CONSTRAINT sweeps_outgoing FOREIGN KEY (outgoing_id) REFERENCES outgoing_transactions (id),
  DROP COLUMN sender,
  DROP COLUMN nonce,
  DROP COLUMN tx_hash,
  DROP COLUMN tx_hashes,
  DROP COLUMN gas_limit,
  DROP COLUMN max_fee_per_gas,
  DROP COLUMN max_priority_fee_per_gas,
  DROP COLUMN state,
  DROP COLUMN attempts,
  DROP COLUMN mined_block,
  DROP COLUMN mined_block_hash,
  DROP COLUMN error,
  DROP COLUMN updated_at;
CREATE UNIQUE INDEX sweeps_outgoing_id ON sweeps (outgoing_id);

-- The collect in flight of each chain moves in too (the keeper never stored its key's address:
-- the chain's sender claims it, as it is the chain's one gas key).
ALTER TABLE token_subscription_keeper ADD COLUMN outgoing_id bigint;
UPDATE token_subscription_keeper
   SET outgoing_id = nextval(pg_get_serial_sequence('outgoing_transactions', 'id'))
 WHERE tx_hash IS NOT NULL AND nonce IS NOT NULL AND gas_limit IS NOT NULL AND max_fee_per_gas IS NOT NULL
   AND max_priority_fee_per_gas IS NOT NULL AND sent_block IS NOT NULL;
INSERT INTO outgoing_transactions (id, chain_id, sender, purpose, nonce, gas_limit, max_fee_per_gas,
  max_priority_fee_per_gas, tx_hash, tx_hashes, state, attempts, sent_block, updated_at)
SELECT outgoing_id, chain_id, NULL, 'collect', nonce, gas_limit, max_fee_per_gas, max_priority_fee_per_gas,
       tx_hash, COALESCE(tx_hashes, ARRAY[tx_hash]), 'sent', GREATEST(COALESCE(cardinality(tx_hashes), 1), 1),
       sent_block, updated_at
  FROM token_subscription_keeper
 WHERE outgoing_id IS NOT NULL;

DROP INDEX IF EXISTS token_subscription_keeper_in_flight;
ALTER TABLE token_subscription_keeper
  ADD CONSTRAINT token_subscription_keeper_outgoing FOREIGN KEY (outgoing_id) REFERENCES outgoing_transactions (id),
  DROP COLUMN tx_hash,
  DROP COLUMN tx_hashes,
  DROP COLUMN nonce,
  DROP COLUMN gas_limit,
  DROP COLUMN max_fee_per_gas,
  DROP COLUMN max_priority_fee_per_gas,
  DROP COLUMN sent_block;
CREATE INDEX token_subscription_keeper_in_flight ON token_subscription_keeper (chain_id) WHERE outgoing_id IS NOT NULL;
