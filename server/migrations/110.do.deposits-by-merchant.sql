-- The console lists one merchant's deposits waiting to be swept (GET /console/deposits): it looks
-- them up by the payout addresses the merchant proved, not by scanning the chain's deposits
-- (security review 2, finding 7).
CREATE INDEX deposit_addresses_merchant ON deposit_addresses (chain_id, merchant);
