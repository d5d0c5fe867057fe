-- Safe retries (docs/api.md, "Idempotency-Key"): a client that retries POST /order, POST /recurring
-- or POST /pos/order with the same Idempotency-Key gets the first answer again instead of a second
-- order. Only server/src/idempotency/ runs SQL on this table.
--
-- One row per (scope, key). The first request claims the row ('running') before its handler runs;
-- its 2xx answer is stored ('done') and replayed to every later request with the same key and the
-- same body until expires_at (24 hours after the claim). A request that did not succeed removes
-- its claim, so a retry runs again. A claim left 'running' by a process that stopped is never taken
-- over: the order may exist, so a retry is told so (409) rather than risk a second one.
CREATE TABLE idempotency_keys (
  scope         text NOT NULL,          -- whose key: 'merchant:<id>', 'terminal:<key id>' or 'anonymous'
  key           text NOT NULL,          -- the Idempotency-Key header (1 to 255 printable ASCII characters)
  route         text NOT NULL,          -- 'POST /order': a key names one request of one route
  fingerprint   text NOT NULL,          -- sha256 of the route and the canonical JSON body
  state         text NOT NULL CHECK (state IN ('running', 'done')),
  status_code   integer,                -- the stored answer (state 'done')
  response      text,
  created_at    timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
