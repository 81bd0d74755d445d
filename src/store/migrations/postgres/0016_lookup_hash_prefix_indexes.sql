-- Issue 20 (PostgreSQL's text of migration 0016; SQLite applies ../0016_lookup_hash_prefix_indexes.sql).
--
-- There the two look-up hash indexes of grants become indexes of a 64-bit prefix of the hash,
-- a sixth of their size, so that a million grants' import, which writes them in random order,
-- finds their leaves in SQLite's page cache. PostgreSQL's indexes begin with the hash already
-- (migration 0012) and live in the server's own buffers: they stay, and this text does nothing.
SELECT 1;
