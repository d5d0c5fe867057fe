-- The on-chain order reference is no longer the API id (security finding: `pay(merchant, orderId)`
-- puts it in an indexed topic, so anyone could harvest paid order ids and open their pages).
-- New orders get a random 16-byte reference (as a bytes32: 16 zero bytes, then 16 random ones),
-- which `pay`/`payToken` and the deposit-address salt use. Orders made before this migration keep
-- their id as reference: `reference` is NULL for them and `order_reference(id, reference)` reads
-- it as the id's bytes32, so old QR codes, pay pages and deposits keep working.
ALTER TABLE orders ADD COLUMN reference text;

CREATE FUNCTION order_reference(id bigint, reference text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN COALESCE(reference, '0x' || lpad(to_hex(id), 64, '0'));

CREATE UNIQUE INDEX orders_reference ON orders (order_reference(id, reference));
