-- An order's fiat currency (ISO 4217, lower case) and the fiat rate it was locked at: USD per one
-- unit of the currency, fiat_rate / 10^fiat_rate_decimals, exactly. A USD order has rate 1 (0
-- decimals); orders made before this keep usd.
ALTER TABLE orders
  ADD COLUMN currency text NOT NULL DEFAULT 'usd',
  ADD COLUMN fiat_rate numeric(78, 0) NOT NULL DEFAULT 1,
  ADD COLUMN fiat_rate_decimals integer NOT NULL DEFAULT 0,
  ADD COLUMN fiat_rate_source text;

-- 'rates': the coin's USD price came from RATE_SOURCES other than one Chainlink feed (an exchange
-- ticker, or the median of several sources).
ALTER TABLE orders DROP CONSTRAINT orders_price_source_check;
ALTER TABLE orders ADD CONSTRAINT orders_price_source_check
  CHECK (price_source IS NULL OR price_source IN ('feed', 'static', 'peg', 'rates'));
