-- Issue 20: a grant's owner state in a narrow table of its own (SQLite's text; PostgreSQL
-- applies postgres/0014_grant_states.sql, the same but for WITHOUT ROWID).
--
-- A grant's status (valid | held | paid | cancelled) is the one column of it that changes in
-- bulk: reconciliation turns a term's valid grants paid, a million at a province. The batch
-- step finds the grants to pay through an index on the status, so that turn could never leave
-- the grants row in place: PostgreSQL wrote a new version of the whole grant (its sealed
-- name, ID and card numbers) and a new entry into each of its five indexes, 110 s of the
-- million's 126 s reconcile; SQLite rewrote the whole row. Here a state is a row of its own,
-- (account, grant id, status, when it last changed), with the status index beside it: the
-- turn rewrites a row of four short values and two small indexes, and the grants row is
-- written once, at import, and again only when finance staff correct its card.
--
-- Every grant has exactly one state row: inserted with the grant in the same transaction,
-- removed with it (a superseded re-send), keyed by the grant's own key, so never two.
-- `aidpay verify` reports a grant without one and a state row without its grant. No foreign
-- key: PostgreSQL checks one by a trigger per row that locks the grants row it finds, and
-- that more than doubled the state rows' insert (100,000: 2.3 s against 1.0 s).
CREATE TABLE grant_states (
    account_no  TEXT NOT NULL,
    grant_id    TEXT NOT NULL,
    status      TEXT NOT NULL,        -- valid | held | paid | cancelled
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (account_no, grant_id)
) WITHOUT ROWID;
INSERT INTO grant_states (account_no, grant_id, status, updated_at) SELECT account_no, grant_id, status, updated_at FROM grants;
CREATE INDEX grant_states_status ON grant_states (account_no, status, grant_id);

-- The state lives there only: the grants' own column and its index go.
DROP INDEX grants_status;
ALTER TABLE grants DROP COLUMN status;
