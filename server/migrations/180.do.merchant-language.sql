-- The language the merchant's customer pages (payment page, subscription page, point of sale) use
-- when the customer's browser asks for none of ours: en, pt-BR or es; NULL means English.
ALTER TABLE merchants ADD COLUMN language text CHECK (language IN ('en', 'pt-BR', 'es'));
