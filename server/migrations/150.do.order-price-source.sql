-- Where an order's price came from: 'feed' (a Chainlink feed; for a stablecoin, its own USD feed
-- because it was off its peg by more than PEG_MAX_DEVIATION), 'static' (ETH_USD_PRICE) or 'peg'
-- (a token quoted at its peg). NULL for orders made before it was recorded.
ALTER TABLE orders ADD COLUMN price_source text
  CHECK (price_source IS NULL OR price_source IN ('feed', 'static', 'peg'));
