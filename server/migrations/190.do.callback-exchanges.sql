-- What each callback attempt sent and what came back (docs/callbacks.md, "The delivery log"): the
-- request headers and body, and the response status, headers and body, for the merchant to read
-- in GET /callbacks and the console. Bodies are cut at 4 KiB (`*_truncated`, with the full length
-- in bytes when it is known). No secret is stored: the request carries only the signature header
-- (an HMAC, not the secret), and credential headers of the response (Set-Cookie, …) are redacted.
-- A row of its own per attempt, so the callback worker can prune the bulky part after
-- CALLBACK_EXCHANGE_RETENTION (30 days) by `recorded_at` while the attempt summary stays.
CREATE TABLE callback_exchanges (
  attempt_id          bigint PRIMARY KEY REFERENCES callback_attempts (id) ON DELETE CASCADE,
  recorded_at         timestamptz NOT NULL DEFAULT now(),
  request_headers     jsonb NOT NULL,
  request_body        text NOT NULL,
  request_body_bytes  integer NOT NULL,
  request_truncated   boolean NOT NULL,
  -- NULL when no response arrived (connection refused, timeout).
  response_status     integer,
  response_headers    jsonb,
  response_body       text,
  -- NULL when the read stopped at CALLBACK_MAX_RESPONSE_BYTES and no Content-Length told the size.
  response_body_bytes integer,
  response_truncated  boolean
);
CREATE INDEX callback_exchanges_recorded ON callback_exchanges (recorded_at);
