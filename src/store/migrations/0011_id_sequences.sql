-- Issue 20: ids without a lock held across districts.
-- On PostgreSQL this version creates one SEQUENCE per id counter (the text applied there is
-- postgres/0011_id_sequences.sql, see store::migrator): the id_counters row was locked by every
-- importing and batching transaction of every district until it committed. On SQLite a writer
-- holds the database's one write lock anyway, so ids stay in id_counters and nothing changes.
SELECT 1;
