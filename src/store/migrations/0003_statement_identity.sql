-- 0003: statements kept per special account, entries that never merge, entries not booked.
--
-- Until now a statement was keyed by the bank's Stmt/Id alone (two districts of a province whose
-- bank numbers statements by date collided: the second district's header was dropped and its
-- entries listed under the first one's statement), and an entry by the bank's AcctSvcrRef alone
-- (a return or a reversal reusing the original's reference, or several credits booked under one
-- reference, were dropped as repeats). Now:
-- - a statement is (account_no, statement_id);
-- - an entry has an `identity` (the bank's reference with the entry's sign, reversal flag and
--   amount; see src/store/statements.rs for how entries with equal identities are told apart),
--   `identified_by` (how: acct_svcr_ref | ntry_ref | position; `legacy` for entries stored
--   before this migration), `bank_ref` (the reference as the bank wrote it), its `position` in
--   the statement that first carried it, and its `status` (booked | pending | info | future |
--   other): only booked entries move money;
-- - a statement keeps its `currency` and the `warnings` of a lenient reading.
--
-- SQLite cannot change a primary key in place, so the three statement tables are rebuilt, the
-- SQLite way that PostgreSQL runs too: CREATE the new tables, INSERT … SELECT, DROP the old ones
-- (children first, so that nothing references a dropped table), RENAME the new ones. The new
-- tables reference each other by their *_v3 names; renaming a table rewrites the references to
-- it (SQLite) or keeps them by identity (PostgreSQL).

CREATE TABLE statements_v3 (
    account_no     TEXT NOT NULL,         -- the special account the statement is for
    statement_id   TEXT NOT NULL,         -- the bank's Stmt/Id (or Ntfctn/Id), else MsgId#n, else file<id>#n
    kind           TEXT NOT NULL,         -- statement | notification
    currency       TEXT,                  -- Acct/Ccy (else the balances' or the entries'); NULL for rows from before 0003
    from_date      TEXT,
    to_date        TEXT,
    opening_fen    BIGINT,                -- signed; NULL when the file gives no balance
    closing_fen    BIGINT,
    credits_fen    BIGINT,                -- the sums of the statement's own booked entries, as sent
    debits_fen     BIGINT,
    entry_count    BIGINT,                -- booked entries in the statement
    not_booked     BIGINT,                -- entries listed but not booked (PDNG, INFO, FUTR)
    warnings       TEXT,                  -- what was read leniently, one line each (e.g. a balance without CdtDbtInd)
    file_id        BIGINT REFERENCES files (id),
    created_at     TEXT NOT NULL,
    PRIMARY KEY (account_no, statement_id)
);

INSERT INTO statements_v3 (account_no, statement_id, kind, currency, from_date, to_date, opening_fen, closing_fen,
                           credits_fen, debits_fen, entry_count, not_booked, warnings, file_id, created_at)
SELECT account_no, statement_id, kind, NULL, from_date, to_date, opening_fen, closing_fen,
       credits_fen, debits_fen, entry_count, NULL, NULL, file_id, created_at
FROM statements;

-- Entries stored under another account's statement header (the collision described above): they
-- keep their own account and get a header of their own, without balances (none were kept).
INSERT INTO statements_v3 (account_no, statement_id, kind, file_id, created_at)
SELECT DISTINCT e.account_no, e.statement_id, s.kind, s.file_id, s.created_at
FROM statement_entries e JOIN statements s ON s.statement_id = e.statement_id
WHERE e.account_no <> s.account_no;

CREATE TABLE statement_entries_v3 (
    id               BIGINT PRIMARY KEY,
    account_no       TEXT NOT NULL,
    statement_id     TEXT NOT NULL,       -- the statement that first carried it
    entry_key        TEXT NOT NULL,       -- unique per account: identity#n (entries from before 0003: their old key)
    identity         TEXT NOT NULL,       -- reference|C or D|R or -|amount in fen
    identified_by    TEXT NOT NULL,       -- acct_svcr_ref | ntry_ref | position | legacy
    bank_ref         TEXT,                -- AcctSvcrRef, else NtryRef, as written
    position         BIGINT,              -- 1-based place in that statement
    status           TEXT NOT NULL,       -- booked | pending | info | future | other
    booking_date     TEXT,
    credit           BIGINT NOT NULL,     -- 1 credit, 0 debit
    reversal         BIGINT NOT NULL,
    amount_fen       BIGINT NOT NULL,
    batch_ref        TEXT,                -- NtryDtls/Btch/PmtInfId: our batch id
    batch_nb_of_txs  BIGINT,
    batch_total_fen  BIGINT,
    bank_tx_code     TEXT,
    counterpart      TEXT,
    info             TEXT,
    matched          TEXT,                -- what reconciliation matched it to
    UNIQUE (account_no, entry_key),
    FOREIGN KEY (account_no, statement_id) REFERENCES statements_v3 (account_no, statement_id)
);

INSERT INTO statement_entries_v3 (id, account_no, statement_id, entry_key, identity, identified_by, bank_ref, position, status,
                                  booking_date, credit, reversal, amount_fen, batch_ref, batch_nb_of_txs, batch_total_fen,
                                  bank_tx_code, counterpart, info, matched)
SELECT id, account_no, statement_id, entry_key,
       entry_key || '|' || (CASE WHEN credit = 1 THEN 'C' ELSE 'D' END) || '|' || (CASE WHEN reversal = 1 THEN 'R' ELSE '-' END)
           || '|' || CAST(amount_fen AS TEXT),
       'legacy', entry_key, NULL, 'booked',
       booking_date, credit, reversal, amount_fen, batch_ref, batch_nb_of_txs, batch_total_fen,
       bank_tx_code, counterpart, info, matched
FROM statement_entries;

CREATE TABLE statement_details_v3 (
    entry_id        BIGINT NOT NULL REFERENCES statement_entries_v3 (id),
    position        BIGINT NOT NULL,
    end_to_end_id   TEXT,
    amount_fen      BIGINT,
    return_reason   TEXT,
    counterpart     TEXT,
    PRIMARY KEY (entry_id, position)
);

INSERT INTO statement_details_v3 (entry_id, position, end_to_end_id, amount_fen, return_reason, counterpart)
SELECT entry_id, position, end_to_end_id, amount_fen, return_reason, counterpart FROM statement_details;

DROP TABLE statement_details;
DROP TABLE statement_entries;
DROP TABLE statements;

ALTER TABLE statements_v3 RENAME TO statements;
ALTER TABLE statement_entries_v3 RENAME TO statement_entries;
ALTER TABLE statement_details_v3 RENAME TO statement_details;

CREATE INDEX statements_account ON statements (account_no, kind, to_date);
CREATE INDEX statement_entries_statement ON statement_entries (account_no, statement_id);
CREATE INDEX statement_entries_identity ON statement_entries (account_no, identity);
CREATE INDEX statement_entries_batch ON statement_entries (batch_ref);
CREATE INDEX statement_details_ref ON statement_details (end_to_end_id);
