-- Issue 20 (PostgreSQL's text of migration 0015; SQLite applies ../0015_foreign_keys_deferred.sql).
--
-- There the foreign keys of grants, payments, payment_events, statement_entries and
-- statement_details become DEFERRABLE INITIALLY DEFERRED, so that SQLite's multi-row writes
-- need no statement journal. PostgreSQL keeps no such journal, and a deferred key would queue
-- a check per row until the commit (a million payments' worth of queued triggers in memory):
-- its keys stay immediate, and this text does nothing.
SELECT 1;
