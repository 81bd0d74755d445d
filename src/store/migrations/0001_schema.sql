-- aidpay schema: the whole life of a grant and its payments.
-- Portable SQL that SQLite and PostgreSQL both run: only BIGINT and TEXT columns (money in fen,
-- flags 0/1, times as RFC 3339 text written by aidpay), ids handed out from id_counters rather
-- than by backend-specific auto-increment.

-- Next free id per table; aidpay takes blocks of ids inside the inserting transaction.
CREATE TABLE id_counters (
    name    TEXT PRIMARY KEY,
    next_id BIGINT NOT NULL
);
INSERT INTO id_counters (name, next_id) VALUES ('files', 1), ('exceptions', 1), ('audit_log', 1),
    ('statement_entries', 1), ('payment_events', 1), ('payments', 1), ('batches', 1);

-- Every file that came in or went out: grant lists, bank batch files, bank answers, statements.
CREATE TABLE files (
    id          BIGINT PRIMARY KEY,
    direction   TEXT NOT NULL,            -- in | out
    kind        TEXT NOT NULL,            -- grant_list | pain001 | domestic | pain002 | camt053 | camt054 | domestic_result
    name        TEXT NOT NULL,            -- the file name as received or written
    sha256      TEXT NOT NULL,
    size_bytes  BIGINT NOT NULL,
    status      TEXT NOT NULL,            -- applied | quarantined | written | delivered
    detail      TEXT,
    created_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX files_direction_sha ON files (direction, kind, sha256);

-- The dedicated aid cards seen, by number. A card the bank reported closed or frozen is marked.
CREATE TABLE aid_cards (
    card_number TEXT PRIMARY KEY,
    holder_name TEXT NOT NULL,
    bank        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'active',   -- active | closed | frozen
    first_seen  TEXT NOT NULL
);

-- An approved grant, as imported. Never overwritten by a later import (a change is a conflict).
CREATE TABLE grants (
    grant_id        TEXT PRIMARY KEY,
    account_no      TEXT NOT NULL,        -- the special account that pays it (one district)
    name            TEXT NOT NULL,        -- normalised
    id_number       TEXT NOT NULL,
    school_code     TEXT NOT NULL,
    school_name     TEXT NOT NULL,
    stage           TEXT NOT NULL,
    grade           TEXT NOT NULL,
    program         TEXT NOT NULL,
    tier            TEXT NOT NULL,
    priority        TEXT NOT NULL,        -- labels joined by ';'
    period          TEXT NOT NULL,
    amount_fen      BIGINT NOT NULL,
    card_holder     TEXT NOT NULL,        -- normalised
    card_number     TEXT NOT NULL,
    bank            TEXT NOT NULL,
    notice_end      TEXT NOT NULL,        -- YYYY-MM-DD; not paid before
    status          TEXT NOT NULL,        -- valid | held | paid | cancelled
    fingerprint     TEXT NOT NULL,        -- sha256 of the imported content
    source_file_id  BIGINT NOT NULL REFERENCES files (id),
    source_line     BIGINT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX grants_student ON grants (id_number, program, period);
-- Eligible grants are read in grant-id order from a status: this index serves that walk.
CREATE INDEX grants_status ON grants (account_no, status, grant_id);

-- A bank batch: one file to the bank, per account × bank profile × execution date.
CREATE TABLE batches (
    batch_id        TEXT PRIMARY KEY,     -- also the file's message id and the bank's idempotency key
    account_no      TEXT NOT NULL,
    profile         TEXT NOT NULL,        -- the [banks.<profile>] it goes through
    execution_date  TEXT NOT NULL,        -- YYYY-MM-DD
    format          TEXT NOT NULL,        -- pain.001.001.09 | pain.001.001.03 | domestic
    nb_of_txs       BIGINT NOT NULL,
    ctrl_sum_fen    BIGINT NOT NULL,
    status          TEXT NOT NULL,        -- held | created | written | delivered | debited | closed
    file_name       TEXT,
    file_id         BIGINT REFERENCES files (id),
    bank_ref        TEXT,                 -- the bank's id for the batch, when it gives one
    created_at      TEXT NOT NULL,        -- also written into the file, so it can be made again byte for byte
    updated_at      TEXT NOT NULL
);
CREATE INDEX batches_status ON batches (account_no, status);

-- One attempt to pay a grant. A re-issue is a new row with the next attempt number.
CREATE TABLE payments (
    payment_ref     TEXT PRIMARY KEY,     -- the end-to-end reference sent to the bank
    grant_id        TEXT NOT NULL REFERENCES grants (grant_id),
    attempt         BIGINT NOT NULL,
    account_no      TEXT NOT NULL,
    profile         TEXT NOT NULL,
    batch_id        TEXT REFERENCES batches (batch_id),
    amount_fen      BIGINT NOT NULL,
    card_number     TEXT NOT NULL,
    card_holder     TEXT NOT NULL,
    bank            TEXT NOT NULL,
    remittance      TEXT NOT NULL,
    status          TEXT NOT NULL,        -- created | sent | accepted | settled | rejected | returned | cancelled
    reason_code     TEXT,
    money_out       BIGINT NOT NULL DEFAULT 0,  -- 1 while the batch debit has taken this payment's money
    credit_back     BIGINT NOT NULL DEFAULT 0,  -- 1 once its return credit (退票) is matched on a statement
    live            BIGINT,               -- 1 while the attempt can still pay the grant, NULL once it cannot
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (grant_id, attempt),
    -- live follows the status, whatever statement changes it (a NULL-safe test: COALESCE).
    CHECK ((COALESCE(live, 0) = 1 AND status IN ('created', 'sent', 'accepted', 'settled'))
        OR (live IS NULL AND status NOT IN ('created', 'sent', 'accepted', 'settled')))
);
-- Never pay twice: at most one live attempt per grant, enforced by the database itself. Keyed on
-- `live` rather than on the status, so the many moves between live states (created → sent →
-- settled) leave this index alone; only an attempt that dies leaves it.
CREATE UNIQUE INDEX payments_one_live_per_grant ON payments (grant_id) WHERE live = 1;
CREATE INDEX payments_batch ON payments (batch_id);
-- The payments still to batch (re-issues), in reference order. Partial, so that it stays small and
-- a payment inserted already in its batch, or changing status, never touches it.
CREATE INDEX payments_unbatched ON payments (account_no, profile, payment_ref) WHERE batch_id IS NULL;

-- Every status the bank reported for a payment, in order (also repeated ones).
CREATE TABLE payment_events (
    id           BIGINT PRIMARY KEY,
    payment_ref  TEXT NOT NULL,
    status       TEXT NOT NULL,
    reason_code  TEXT,
    reason_text  TEXT,
    file_id      BIGINT REFERENCES files (id),
    created_at   TEXT NOT NULL
);
CREATE INDEX payment_events_ref ON payment_events (payment_ref);

-- The special account's statements (camt.053) and notifications (camt.054), and their entries.
CREATE TABLE statements (
    statement_id   TEXT PRIMARY KEY,      -- the bank's Stmt/Id (or Ntfctn/Id)
    kind           TEXT NOT NULL,         -- statement | notification
    account_no     TEXT NOT NULL,
    from_date      TEXT,
    to_date        TEXT,
    opening_fen    BIGINT,                -- signed; NULL when the file gives no balance
    closing_fen    BIGINT,
    credits_fen    BIGINT,                -- the sums of the statement's own entries, as sent
    debits_fen     BIGINT,
    entry_count    BIGINT,
    file_id        BIGINT REFERENCES files (id),
    created_at     TEXT NOT NULL
);
CREATE INDEX statements_account ON statements (account_no, kind, to_date);

-- One booked entry. The bank's reference (AcctSvcrRef) identifies it across statements, so an
-- overlapping statement or a camt.054 and the camt.053 that repeats it store the entry once.
CREATE TABLE statement_entries (
    id               BIGINT PRIMARY KEY,
    statement_id     TEXT NOT NULL REFERENCES statements (statement_id),
    account_no       TEXT NOT NULL,
    entry_key        TEXT NOT NULL,       -- AcctSvcrRef, else NtryRef, else statement + position
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
    UNIQUE (account_no, entry_key)
);
CREATE INDEX statement_entries_statement ON statement_entries (statement_id);
CREATE INDEX statement_entries_batch ON statement_entries (batch_ref);

-- Per-transaction details of an entry (NtryDtls/TxDtls), when the bank sends them.
CREATE TABLE statement_details (
    entry_id        BIGINT NOT NULL REFERENCES statement_entries (id),
    position        BIGINT NOT NULL,
    end_to_end_id   TEXT,
    amount_fen      BIGINT,
    return_reason   TEXT,
    counterpart     TEXT,
    PRIMARY KEY (entry_id, position)
);
CREATE INDEX statement_details_ref ON statement_details (end_to_end_id);

-- The finance staff's work list.
CREATE TABLE exceptions (
    id           BIGINT PRIMARY KEY,
    account_no   TEXT NOT NULL,           -- the special account (district) it belongs to
    kind         TEXT NOT NULL,
    severity     TEXT NOT NULL,
    status       TEXT NOT NULL,           -- open | resolved
    grant_id     TEXT,
    payment_ref  TEXT,
    reason_code  TEXT,
    amount_fen   BIGINT,
    detail       TEXT NOT NULL,
    dedup_key    TEXT NOT NULL UNIQUE,    -- the same finding raised again is the same exception
    resolution   TEXT,                    -- reissue | cancel | accept
    note         TEXT,
    resolved_by  TEXT,
    resolved_at  TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX exceptions_status ON exceptions (account_no, status, kind);
CREATE INDEX exceptions_grant ON exceptions (grant_id);

-- Who did what, when, with the state before and after (JSON text).
CREATE TABLE audit_log (
    id          BIGINT PRIMARY KEY,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    before_json TEXT,
    after_json  TEXT
);

-- The last runs of each job, for `status` and the scheduler.
CREATE TABLE job_runs (
    account_no   TEXT NOT NULL,           -- the special account of the daemon that ran it
    job          TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    outcome      TEXT,
    detail       TEXT,
    PRIMARY KEY (account_no, job, started_at)
);
