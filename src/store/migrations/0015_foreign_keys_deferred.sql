-- Issue 20: no statement journal for the bulk writes (SQLite's text; PostgreSQL applies
-- postgres/0015_foreign_keys_deferred.sql, which changes nothing).
--
-- A multi-row INSERT or UPDATE that SQLite plans as one that may abort half-way first copies
-- every existing page it is about to change into a statement journal (a temporary file,
-- /var/tmp/etilqs_*), so that it can undo its own rows and leave the transaction's earlier
-- statements standing. Two things make a statement one that may abort: a constraint with the
-- default ABORT, which the store's bulk writes avoid by saying `OR FAIL` (every one of them runs
-- in a transaction that an error rolls back whole, so a statement's own half is never kept),
-- and an immediate foreign key, whatever the statement says. At 300,000 grants the import wrote
-- 15,000-17,000 pages in 3 s into that journal against 6,000-7,000 into the WAL.
--
-- So the foreign keys of the five tables written in bulk — grants (to the file it came from),
-- payments (to its grant and its batch), payment_events (to the answer file), statement_entries
-- (to their statement) and statement_details (to their entry) — are
-- DEFERRABLE INITIALLY DEFERRED: SQLite counts a violation and refuses the COMMIT while any is
-- left, instead of undoing the statement. Nothing is less checked: a transaction that would
-- leave a payment without its grant still never commits. SQLite cannot change a constraint in
-- place, so the five are rebuilt (create, copy, drop, rename; a rename carries the references
-- of the others along), with their indexes as they were. payment_events' id becomes the table's
-- rowid (INTEGER PRIMARY KEY: the same 64-bit ids, one b-tree fewer to write per event).

CREATE TABLE grants_v15 (
    grant_id        TEXT NOT NULL,
    account_no      TEXT NOT NULL,
    name            TEXT NOT NULL,
    id_number       TEXT NOT NULL,
    school_code     TEXT NOT NULL,
    school_name     TEXT NOT NULL,
    stage           TEXT NOT NULL,
    grade           TEXT NOT NULL,
    program         TEXT NOT NULL,
    tier            TEXT NOT NULL,
    priority        TEXT NOT NULL,
    period          TEXT NOT NULL,
    amount_fen      BIGINT NOT NULL,
    card_holder     TEXT NOT NULL,
    card_number     TEXT NOT NULL,
    bank            TEXT NOT NULL,
    notice_end      TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    source_file_id  BIGINT NOT NULL REFERENCES files (id) DEFERRABLE INITIALLY DEFERRED,
    source_line     BIGINT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    id_hash         TEXT,
    card_hash       TEXT,
    PRIMARY KEY (account_no, grant_id)
);
INSERT INTO grants_v15 (grant_id, account_no, name, id_number, school_code, school_name, stage, grade, program, tier, priority,
    period, amount_fen, card_holder, card_number, bank, notice_end, fingerprint, source_file_id, source_line, created_at,
    updated_at, id_hash, card_hash)
SELECT grant_id, account_no, name, id_number, school_code, school_name, stage, grade, program, tier, priority,
    period, amount_fen, card_holder, card_number, bank, notice_end, fingerprint, source_file_id, source_line, created_at,
    updated_at, id_hash, card_hash FROM grants;

CREATE TABLE payments_v15 (
    payment_ref     TEXT PRIMARY KEY,
    grant_id        TEXT NOT NULL,
    attempt         BIGINT NOT NULL,
    account_no      TEXT NOT NULL,
    profile         TEXT NOT NULL,
    batch_id        TEXT REFERENCES batches (batch_id) DEFERRABLE INITIALLY DEFERRED,
    amount_fen      BIGINT NOT NULL,
    card_number     TEXT NOT NULL,
    card_holder     TEXT NOT NULL,
    bank            TEXT NOT NULL,
    remittance      TEXT NOT NULL,
    status          TEXT NOT NULL,        -- created | sent | accepted | settled | rejected | returned | cancelled
    reason_code     TEXT,
    money_out       BIGINT NOT NULL DEFAULT 0,
    credit_back     BIGINT NOT NULL DEFAULT 0,
    live            BIGINT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    card_hash       TEXT,
    UNIQUE (account_no, grant_id, attempt),
    FOREIGN KEY (account_no, grant_id) REFERENCES grants_v15 (account_no, grant_id) DEFERRABLE INITIALLY DEFERRED,
    CHECK ((COALESCE(live, 0) = 1 AND status IN ('created', 'sent', 'accepted', 'settled'))
        OR (live IS NULL AND status NOT IN ('created', 'sent', 'accepted', 'settled')))
);
INSERT INTO payments_v15 (payment_ref, grant_id, attempt, account_no, profile, batch_id, amount_fen, card_number, card_holder, bank,
    remittance, status, reason_code, money_out, credit_back, live, created_at, updated_at, card_hash)
SELECT payment_ref, grant_id, attempt, account_no, profile, batch_id, amount_fen, card_number, card_holder, bank,
    remittance, status, reason_code, money_out, credit_back, live, created_at, updated_at, card_hash FROM payments;

CREATE TABLE payment_events_v15 (
    id           INTEGER PRIMARY KEY,
    payment_ref  TEXT NOT NULL,
    status       TEXT NOT NULL,
    reason_code  TEXT,
    reason_text  TEXT,
    file_id      BIGINT REFERENCES files (id) DEFERRABLE INITIALLY DEFERRED,
    created_at   TEXT NOT NULL
);
INSERT INTO payment_events_v15 (id, payment_ref, status, reason_code, reason_text, file_id, created_at)
SELECT id, payment_ref, status, reason_code, reason_text, file_id, created_at FROM payment_events;

CREATE TABLE statement_entries_v15 (
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
    FOREIGN KEY (account_no, statement_id) REFERENCES statements (account_no, statement_id) DEFERRABLE INITIALLY DEFERRED
);
INSERT INTO statement_entries_v15 (id, account_no, statement_id, entry_key, identity, identified_by, bank_ref, position, status,
    booking_date, credit, reversal, amount_fen, batch_ref, batch_nb_of_txs, batch_total_fen, bank_tx_code, counterpart, info, matched)
SELECT id, account_no, statement_id, entry_key, identity, identified_by, bank_ref, position, status,
    booking_date, credit, reversal, amount_fen, batch_ref, batch_nb_of_txs, batch_total_fen, bank_tx_code, counterpart, info, matched
FROM statement_entries;

CREATE TABLE statement_details_v15 (
    entry_id        BIGINT NOT NULL REFERENCES statement_entries_v15 (id) DEFERRABLE INITIALLY DEFERRED,
    position        BIGINT NOT NULL,
    end_to_end_id   TEXT,
    amount_fen      BIGINT,
    return_reason   TEXT,
    counterpart     TEXT,
    PRIMARY KEY (entry_id, position)
);
INSERT INTO statement_details_v15 (entry_id, position, end_to_end_id, amount_fen, return_reason, counterpart)
SELECT entry_id, position, end_to_end_id, amount_fen, return_reason, counterpart FROM statement_details;

DROP TABLE statement_details;
DROP TABLE statement_entries;
DROP TABLE payment_events;
DROP TABLE payments;
DROP TABLE grants;
ALTER TABLE grants_v15 RENAME TO grants;
ALTER TABLE payments_v15 RENAME TO payments;
ALTER TABLE payment_events_v15 RENAME TO payment_events;
ALTER TABLE statement_entries_v15 RENAME TO statement_entries;
ALTER TABLE statement_details_v15 RENAME TO statement_details;

CREATE INDEX grants_student_hash ON grants (account_no, id_hash, program, period);
CREATE INDEX grants_card_hash ON grants (account_no, card_hash);
CREATE UNIQUE INDEX payments_one_live_per_grant ON payments (account_no, grant_id) WHERE live = 1;
CREATE INDEX payments_batch ON payments (batch_id);
CREATE INDEX payments_unbatched ON payments (account_no, profile, payment_ref) WHERE batch_id IS NULL;
CREATE INDEX payment_events_ref ON payment_events (payment_ref);
CREATE INDEX statement_entries_statement ON statement_entries (account_no, statement_id);
CREATE INDEX statement_entries_identity ON statement_entries (account_no, identity);
CREATE INDEX statement_entries_batch ON statement_entries (batch_ref);
CREATE INDEX statement_details_ref ON statement_details (end_to_end_id);
