-- Issue 20 (PostgreSQL's text of migration 0011; SQLite applies ../0011_id_sequences.sql):
-- one SEQUENCE per id counter, id_seq_<name>, starting at the counter's next id, so existing
-- rows keep their ids and new ones never meet them. From here on StoreTx::alloc_ids takes ids
-- with nextval, which holds no lock past the call; id_counters is no longer advanced on
-- PostgreSQL. A counter added by a later migration needs its sequence in that migration too.
-- The table is locked first: a process of the last release still running waits, and cannot
-- take ids between the reading of its counters and the sequences' creation.
LOCK TABLE id_counters IN EXCLUSIVE MODE;
DO $$
DECLARE c RECORD;
BEGIN
    FOR c IN SELECT name, next_id FROM id_counters LOOP
        EXECUTE format('CREATE SEQUENCE %I AS BIGINT START WITH %s MINVALUE 1', 'id_seq_' || c.name, GREATEST(c.next_id, 1));
    END LOOP;
END $$;
