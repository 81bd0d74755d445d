-- Issue 20: on PostgreSQL every look-up by key gets an index that begins with the key (the text
-- applied there is postgres/0012_lookup_indexes.sql, see store::migrator). SQLite plans its
-- look-ups without statistics and takes the account-and-key indexes it has, so nothing changes here.
SELECT 1;
