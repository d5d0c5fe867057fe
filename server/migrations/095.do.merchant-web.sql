-- The merchant's browser: a display name on the payment page, a return URL per order, console
-- sessions signed in with Sign-In with Ethereum (EIP-4361), point-of-sale terminal keys, and an
-- overlap window for callback secret rotation.

-- The name a customer sees on the payment page ("Paid to <display_name>").
ALTER TABLE merchants ADD COLUMN display_name text CHECK (char_length(display_name) <= 80);
-- Until when the previous callback secret still signs beside the new one (NULL: no rotation).
ALTER TABLE merchants ADD COLUMN callback_secret_previous_until timestamptz;

-- Where the payment page sends the customer once the order is paid (http or https, optional).
ALTER TABLE orders ADD COLUMN return_url text;

-- Single-use SIWE nonces: issued by GET /console/siwe/nonce, used once by POST /console/siwe.
CREATE TABLE siwe_nonces (
  nonce      text PRIMARY KEY,
  expires_at timestamptz NOT NULL,
  used_at    timestamptz
);

-- Terminal keys: a merchant's key limited to creating orders and reading their status.
-- Shown once; stored as sha256 with a lookup prefix, like API keys.
CREATE TABLE terminal_keys (
  id          bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
  merchant_id bigint NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
  label       text NOT NULL CHECK (char_length(label) BETWEEN 1 AND 80),
  key_prefix  text NOT NULL UNIQUE,
  key_hash    text NOT NULL,
  -- Orders from this terminal pay this proven payout address and call back this URL; the
  -- terminal cannot choose others.
  payout_address text NOT NULL,
  callback    text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);

-- Browser sessions. The cookie carries a random token; only its sha256 is stored. `kind`
-- 'console' is a merchant signed in (by SIWE, `address` is the proven payout address, or by API
-- key); 'terminal' is a point-of-sale terminal that can only create orders and read their status.
CREATE TABLE web_sessions (
  token_hash  text PRIMARY KEY,
  merchant_id bigint NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
  kind        text NOT NULL CHECK (kind IN ('console', 'terminal')),
  address     text,
  -- The terminal key a terminal session was opened with (its payout address and callback).
  terminal_key_id bigint REFERENCES terminal_keys (id) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  revoked_at  timestamptz
);
CREATE INDEX web_sessions_merchant ON web_sessions (merchant_id);
