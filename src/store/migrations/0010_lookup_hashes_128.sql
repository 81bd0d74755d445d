-- 0010: look-up hashes keep 128 bits (32 hex digits) instead of 256 (64).
--
-- grants.id_hash, grants.card_hash, payments.card_hash and cards.card_hash hold a keyed
-- HMAC-SHA-256 (src/crypto/keyring.rs, KeyRing::lookup_hash). From this release the hash is its
-- first 16 bytes, so the hashes already stored are cut to their first 32 hex digits: the same
-- value then hashes to what is stored, and every look-up keeps matching. No key is needed here
-- (truncation is all it takes), and nothing else changes. The three hash indexes are written in
-- random order; at a province's million grants their size against the page cache was most of
-- the import's time. Why 128 bits are enough (no weaker against a dictionary, no collision
-- among 10⁸ values in practice): the doc comment of KeyRing::lookup_hash.
--
-- A hash of 32 digits or fewer is left as it is, so a store that already holds short hashes is
-- unchanged; cards.card_hash is the primary key: cutting keeps it unique (two 256-bit hashes
-- alike in their first 128 bits do not occur).
UPDATE grants SET id_hash = substr(id_hash, 1, 32) WHERE length(id_hash) > 32;
UPDATE grants SET card_hash = substr(card_hash, 1, 32) WHERE length(card_hash) > 32;
UPDATE payments SET card_hash = substr(card_hash, 1, 32) WHERE length(card_hash) > 32;
UPDATE cards SET card_hash = substr(card_hash, 1, 32) WHERE length(card_hash) > 32;
