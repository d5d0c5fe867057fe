-- EletroPay for ETH and tokens (issue 12): every `GET /v1/clients/:token/ETH` (or a token symbol)
-- hands out a fresh deposit address of the merchant linked to the client. The address itself is an
-- ordinary watched deposit address (deposit_addresses, owned by server/src/deposits/); these
-- tables, owned by server/src/eletropay/, say whose it is and what EletroPay was told about it.

-- Which merchant account, and which payout address in the contract, an EletroPay client's ETH and
-- token payments are credited to. Set by the operator (`npm run merchant -- eletropay-link`), never
-- by the private API: a client token alone cannot redirect money.
CREATE TABLE eletropay_links (
  client_id       bigint PRIMARY KEY REFERENCES eletropay_clients (id),
  merchant_id     bigint NOT NULL REFERENCES merchants (id),
  payout_address  text NOT NULL,                 -- lowercase; the `merchant` bound in each deposit
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per issued address: the currency asked for and the binding that derived it.
CREATE TABLE eletropay_eth_addresses (
  chain_id        bigint NOT NULL,
  address         text NOT NULL,                 -- lowercase CREATE2 deposit address
  currency        text NOT NULL,                 -- 'ETH' or the token's symbol, as in the callback URL
  token           text NOT NULL,                 -- 0x0…0 for ETH
  decimals        integer NOT NULL,              -- of `token`, for the callback's decimal amount
  client_id       bigint NOT NULL REFERENCES eletropay_clients (id),
  merchant_id     bigint NOT NULL REFERENCES merchants (id),
  payout_address  text NOT NULL,
  order_ref       text NOT NULL,                 -- random bytes32 bound in the address
  issued_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (chain_id, address)
);
CREATE INDEX eletropay_eth_addresses_client ON eletropay_eth_addresses (client_id, issued_at);

-- What arrived at an issued address, one row per payment, and the confirmations last reported.
-- pay_key: the transfer's transaction hash, or 'block:<n>' for ETH that arrived without a
-- transaction of its own (an internal transfer from a contract wallet).
CREATE TABLE eletropay_eth_payments (
  chain_id               bigint NOT NULL,
  address                text NOT NULL,
  pay_key                text NOT NULL,
  currency               text NOT NULL,
  amount                 numeric(78,0) NOT NULL,
  txid                   text NOT NULL,           -- as last reported ('' until an internal transfer is swept)
  block_number           bigint NOT NULL,
  state                  text NOT NULL CHECK (state IN ('block', 'vanished')),
  reported_confirmations integer,
  final                  boolean NOT NULL DEFAULT false,
  first_seen_at          timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now(),
  vanished_at            timestamptz,
  PRIMARY KEY (chain_id, address, pay_key),
  FOREIGN KEY (chain_id, address) REFERENCES eletropay_eth_addresses (chain_id, address)
);
CREATE INDEX eletropay_eth_payments_open ON eletropay_eth_payments (chain_id) WHERE NOT final AND state = 'block';
CREATE INDEX eletropay_eth_payments_block ON eletropay_eth_payments (chain_id, block_number);
