-- Security review 2, findings 1 and 3 (docs/security.md R2-1, R2-3).

-- Each SIWE nonce is bound to the browser that asked for it: the SHA-256 of a random
-- pre-session cookie (epos_siwe). A nonce posted from another browser is refused, so a nonce
-- fetched by an attacker is worthless in a victim's sign-in, and the reverse.
ALTER TABLE siwe_nonces ADD COLUMN client_hash text;
-- Nonces issued before this migration have no browser: they can no longer be used.
DELETE FROM siwe_nonces WHERE client_hash IS NULL;
ALTER TABLE siwe_nonces ALTER COLUMN client_hash SET NOT NULL;

-- Sessions are ended per merchant (key rotation, "sign out everywhere") and per address (unlink).
CREATE INDEX web_sessions_open ON web_sessions (merchant_id, address) WHERE revoked_at IS NULL;
