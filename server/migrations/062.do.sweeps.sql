-- The sweeper (server/src/sweeper/, issue 12): every `sweepDeposits` transaction it sends, tracked
-- until it is confirmed. Only server/src/sweeper/ runs SQL on this table. What a mined sweep did to
-- the deposits is recorded by the indexer in deposit_sweeps (migration 050), not here.
--
-- One row per sweep, i.e. per nonce of the sweeper's account: a stuck transaction re-sent with a
-- higher fee keeps its row (same nonce), gets a new tx_hash and one more attempt; tx_hashes keeps
-- every hash broadcast, since any of them may be the one that is mined.
CREATE TABLE sweeps (
  id                        bigserial PRIMARY KEY,
  chain_id                  bigint NOT NULL,
  sender                    text NOT NULL,              -- the sweeper's address, lowercase
  nonce                     bigint NOT NULL,
  tx_hash                   text NOT NULL,              -- the newest broadcast, or the one mined
  tx_hashes                 text[] NOT NULL,            -- every broadcast of this nonce
  deposits                  jsonb NOT NULL,             -- [{address, merchant, orderRef, token, amount}]
  addresses                 text[] NOT NULL,            -- the deposit addresses in it (lowercase)
  value                     numeric(78,0) NOT NULL,     -- ETH value swept, as estimated when sent (wei)
  gas_limit                 numeric(78,0) NOT NULL,
  max_fee_per_gas           numeric(78,0) NOT NULL,
  max_priority_fee_per_gas  numeric(78,0) NOT NULL,
  state                     text NOT NULL CHECK (state IN ('sent', 'mined', 'confirmed', 'failed', 'replaced')),
  attempts                  integer NOT NULL DEFAULT 1, -- broadcasts of this nonce (1 + fee bumps)
  sent_block                bigint NOT NULL,            -- chain head at the newest broadcast
  mined_block               bigint,
  mined_block_hash          text,
  error                     text,
  created_at                timestamptz NOT NULL DEFAULT now(),
  updated_at                timestamptz NOT NULL DEFAULT now(),
  UNIQUE (chain_id, sender, nonce)
);
CREATE INDEX sweeps_open ON sweeps (chain_id) WHERE state IN ('sent', 'mined');
CREATE INDEX sweeps_recent ON sweeps (chain_id, id DESC);
