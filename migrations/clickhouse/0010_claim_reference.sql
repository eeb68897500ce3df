-- A claim's strong reference beyond its transaction: the EVM authorization nonce
-- (0x hex, lowercase) or the Solana memo. Empty when the source did not say.
-- The correlation's R2 and R3 match on it.
ALTER TABLE claims ADD COLUMN reference String DEFAULT ''
;
