-- Issue 20: the look-up hash indexes of grants hold a 64-bit prefix of the hash, nothing else
-- (SQLite's text; PostgreSQL applies postgres/0016_lookup_hash_prefix_indexes.sql, which
-- changes nothing).
--
-- An import writes grants_student_hash (account, ID hash, program, term) and grants_card_hash
-- (account, card hash) in random order, one entry a grant: 60-75 bytes an entry with the
-- account's 18 digits and the 32 hex digits of the hash, about 150 MB for a million grants.
-- Against a page cache of tens of MB nearly every entry read a leaf back from the operating
-- system and wrote one out to the WAL. The first 16 hex digits of the hash as 8 bytes
-- (`unhex(substr(…, 1, 16))`) make an entry of about 14 bytes, both indexes together about
-- 30 MB at a million. A probe finds the grants whose hash begins with the same 64 bits (at a
-- million grants another grant's hash does about once in twenty million imports) and the
-- store compares the account and the whole hash on the row, so such a grant is set aside.
DROP INDEX grants_student_hash;
DROP INDEX grants_card_hash;
CREATE INDEX grants_id_key ON grants (unhex(substr(id_hash, 1, 16)));
CREATE INDEX grants_card_key ON grants (unhex(substr(card_hash, 1, 16)));
