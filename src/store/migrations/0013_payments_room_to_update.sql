-- Issue 20: on PostgreSQL payments are written with room beside them (the text applied there is
-- postgres/0013_payments_room_to_update.sql, see store::migrator). SQLite has no heap-only
-- updates: an UPDATE there rewrites only the indexes whose columns it changes, so nothing
-- changes here.
SELECT 1;
