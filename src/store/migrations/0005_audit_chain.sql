-- 0005: the audit trail becomes a hash chain (issue 16).
--
-- Every line gets its place in the chain (`seq`, 1, 2, 3, … without gaps), the hash of the line
-- before it (`prev_hash`; 64 zeros before line 1) and its own `hash`: SHA-256 over a canonical
-- form of seq, time, account, actor, action, subject, before, after and prev_hash (see
-- src/store/audit.rs). `account_no` is the special account whose process wrote the line (empty for
-- lines written before this migration and by tools not scoped to an account). One database holds
-- one chain, whatever the number of districts on it.
--
-- `audit_head` is the chain's head in one row: the last line's seq and hash. A writer takes it
-- with an UPDATE inside its own transaction (a row lock on PostgreSQL, the database's write lock
-- on SQLite), so writers in concurrent transactions queue for it and never fork the chain.
--
-- Lines written before this migration are chained at the first start of the new binary (the
-- migration cannot compute SHA-256 in SQL that both backends run): `legacy` counts them until
-- then, and the first transaction that finds it non-zero chains them in id order, before anything
-- else is appended. Their content from before the upgrade is vouched for only from then on.

ALTER TABLE audit_log ADD COLUMN seq BIGINT;
ALTER TABLE audit_log ADD COLUMN account_no TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_log_seq ON audit_log (seq);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE audit_head (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    seq     BIGINT NOT NULL,              -- the last line's seq (0: no line yet)
    hash    TEXT NOT NULL,                -- the last line's hash (64 zeros: no line yet)
    legacy  BIGINT NOT NULL               -- lines from before 0005 still to chain (0 once done)
);
INSERT INTO audit_head (id, seq, hash, legacy)
    SELECT 1, 0, '0000000000000000000000000000000000000000000000000000000000000000', CAST(COUNT(*) AS BIGINT) FROM audit_log;
