-- Payout addresses a merchant account has proven it controls (an EIP-191 signature over a
-- single-use challenge). Ledger views (/user/history) cover only these (docs/security.md).
CREATE TABLE merchant_addresses (
  merchant_id bigint NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
  address text NOT NULL,
  proven_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (merchant_id, address)
);

-- Challenges for the proof: each names the merchant and the address, expires, and is used once.
CREATE TABLE merchant_address_challenges (
  nonce text PRIMARY KEY,
  merchant_id bigint NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
  address text NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
