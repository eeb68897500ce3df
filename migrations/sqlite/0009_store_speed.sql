-- Faster payment inserts and queries: buyers and sellers get integer ids from an
-- append-only dictionary (an id, once given, always names the same address), so
-- the per-address indexes hold 8-byte integers instead of 42-byte text and the
-- exact distinct counts compare integers. The text columns stay as they are;
-- the store's payment insert fills both ids (the only writer of payments).
CREATE TABLE addresses (
    id      INTEGER PRIMARY KEY,
    address TEXT NOT NULL UNIQUE
);
ALTER TABLE payments ADD COLUMN payer_id INTEGER;
ALTER TABLE payments ADD COLUMN pay_to_id INTEGER;
INSERT OR IGNORE INTO addresses (address) SELECT payer FROM payments;
INSERT OR IGNORE INTO addresses (address) SELECT pay_to FROM payments;
UPDATE payments SET
    payer_id = (SELECT id FROM addresses WHERE address = payments.payer),
    pay_to_id = (SELECT id FROM addresses WHERE address = payments.pay_to);
DROP INDEX payments_by_payer;
DROP INDEX payments_by_pay_to;
DROP INDEX payments_by_recency;
DROP INDEX payments_by_time;
-- Totals, series and pages by time read this index alone.
CREATE INDEX payments_by_time ON payments (block_time, amount_i64, payer_id, pay_to_id);
-- Buyers' and sellers' rows. Their keys are random, so each commit rewrites
-- pages all over these two indexes: they are kept as narrow as they can be.
CREATE INDEX payments_by_payer ON payments (payer_id);
CREATE INDEX payments_by_pay_to ON payments (pay_to_id);
-- mark_final looks only at rows not yet final.
CREATE INDEX payments_not_final ON payments (chain, block_number) WHERE is_final = 0;
