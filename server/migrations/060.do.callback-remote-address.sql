-- The address each callback attempt connected to (after DNS and the SSRF check), so a stored
-- response is shown only when it came from a target the guard allows (docs/security.md).
ALTER TABLE callback_attempts ADD COLUMN remote_address text;
