-- EletroPay refuses a client a new address while its addresses since its last payment are all
-- unpaid and number GAP_LIMIT (security review 2, finding 12): each request counts the client's
-- run of unpaid addresses per currency and key.
CREATE INDEX eletropay_addresses_client ON eletropay_addresses (client_id, currency, key_id, idx);
