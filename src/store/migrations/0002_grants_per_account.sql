-- 0002: districts side by side, and no grant without an owner.
--
-- 1. A grant id (资助编号) is the upstream system's reference of one district: two districts on one
--    database may both have 2026Q-0001. Grants are keyed by (account_no, grant_id), payments refer
--    to their grant by both, and an exception's dedup key is unique per account. SQLite cannot
--    change a primary key or an inline UNIQUE in place, so grants, payments and exceptions are
--    rebuilt (create new, copy, drop old, rename); nothing references payments or exceptions, and
--    payments are dropped before the grants they refer to.
-- 2. Files in and out are recorded per account (the same bytes imported by two districts are two
--    files of two districts).
-- 3. A grant whose attempts have all failed is `held` (it waits for a person), no longer `valid`
--    with a dead payment that no batch picks up. A grant stranded by an earlier release's
--    `--accept` (held, no open exception) gets that exception reopened, so it is on the work list.
-- Portable SQL: SQLite and PostgreSQL run it as it is.

CREATE TABLE grants_v2 (
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
    status          TEXT NOT NULL,        -- valid | held | paid | cancelled
    fingerprint     TEXT NOT NULL,
    source_file_id  BIGINT NOT NULL REFERENCES files (id),
    source_line     BIGINT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (account_no, grant_id)
);
INSERT INTO grants_v2 (grant_id, account_no, name, id_number, school_code, school_name, stage, grade, program, tier, priority,
    period, amount_fen, card_holder, card_number, bank, notice_end, status, fingerprint, source_file_id, source_line, created_at,
    updated_at)
SELECT grant_id, account_no, name, id_number, school_code, school_name, stage, grade, program, tier, priority,
    period, amount_fen, card_holder, card_number, bank, notice_end, status, fingerprint, source_file_id, source_line, created_at,
    updated_at FROM grants;

CREATE TABLE payments_v2 (
    payment_ref     TEXT PRIMARY KEY,
    grant_id        TEXT NOT NULL,
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
    money_out       BIGINT NOT NULL DEFAULT 0,
    credit_back     BIGINT NOT NULL DEFAULT 0,
    live            BIGINT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (account_no, grant_id, attempt),
    FOREIGN KEY (account_no, grant_id) REFERENCES grants_v2 (account_no, grant_id),
    CHECK ((COALESCE(live, 0) = 1 AND status IN ('created', 'sent', 'accepted', 'settled'))
        OR (live IS NULL AND status NOT IN ('created', 'sent', 'accepted', 'settled')))
);
INSERT INTO payments_v2 (payment_ref, grant_id, attempt, account_no, profile, batch_id, amount_fen, card_number, card_holder, bank,
    remittance, status, reason_code, money_out, credit_back, live, created_at, updated_at)
SELECT payment_ref, grant_id, attempt, account_no, profile, batch_id, amount_fen, card_number, card_holder, bank,
    remittance, status, reason_code, money_out, credit_back, live, created_at, updated_at FROM payments;

CREATE TABLE exceptions_v2 (
    id           BIGINT PRIMARY KEY,
    account_no   TEXT NOT NULL,
    kind         TEXT NOT NULL,
    severity     TEXT NOT NULL,
    status       TEXT NOT NULL,           -- open | resolved
    grant_id     TEXT,
    payment_ref  TEXT,
    reason_code  TEXT,
    amount_fen   BIGINT,
    detail       TEXT NOT NULL,
    dedup_key    TEXT NOT NULL,           -- the same finding raised again is the same exception (per account)
    resolution   TEXT,                    -- reissue | cancel | accept | superseded
    note         TEXT,
    resolved_by  TEXT,
    resolved_at  TEXT,
    created_at   TEXT NOT NULL,
    UNIQUE (account_no, dedup_key)
);
INSERT INTO exceptions_v2 (id, account_no, kind, severity, status, grant_id, payment_ref, reason_code, amount_fen, detail, dedup_key,
    resolution, note, resolved_by, resolved_at, created_at)
SELECT id, account_no, kind, severity, status, grant_id, payment_ref, reason_code, amount_fen, detail, dedup_key,
    resolution, note, resolved_by, resolved_at, created_at FROM exceptions;

DROP TABLE payments;
DROP TABLE grants;
DROP TABLE exceptions;
ALTER TABLE grants_v2 RENAME TO grants;
ALTER TABLE payments_v2 RENAME TO payments;
ALTER TABLE exceptions_v2 RENAME TO exceptions;

-- The indexes of 0001, now per account; and cards by number, for "a card is one person's".
CREATE INDEX grants_student ON grants (account_no, id_number, program, period);
CREATE INDEX grants_status ON grants (account_no, status, grant_id);
CREATE INDEX grants_card ON grants (account_no, card_number);
CREATE UNIQUE INDEX payments_one_live_per_grant ON payments (account_no, grant_id) WHERE live = 1;
CREATE INDEX payments_batch ON payments (batch_id);
CREATE INDEX payments_unbatched ON payments (account_no, profile, payment_ref) WHERE batch_id IS NULL;
CREATE INDEX exceptions_status ON exceptions (account_no, status, kind);
CREATE INDEX exceptions_grant ON exceptions (account_no, grant_id);

-- 2. Files per account: the account of the grants, batches or statements a file brought, else ''.
ALTER TABLE files ADD COLUMN account_no TEXT NOT NULL DEFAULT '';
UPDATE files SET account_no = COALESCE(
    (SELECT MIN(g.account_no) FROM grants g WHERE g.source_file_id = files.id),
    (SELECT MIN(b.account_no) FROM batches b WHERE b.file_id = files.id),
    (SELECT MIN(s.account_no) FROM statements s WHERE s.file_id = files.id),
    (SELECT MIN(p.account_no) FROM payment_events e JOIN payments p ON p.payment_ref = e.payment_ref WHERE e.file_id = files.id),
    '');
DROP INDEX files_direction_sha;
CREATE UNIQUE INDEX files_account_sha ON files (account_no, direction, kind, sha256);

-- 3. Grants whose attempts all failed wait for a person: held.
UPDATE grants SET status = 'held'
WHERE status IN ('valid', 'paid')
  AND EXISTS (SELECT 1 FROM payments p WHERE p.account_no = grants.account_no AND p.grant_id = grants.grant_id)
  AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.account_no = grants.account_no AND p.grant_id = grants.grant_id AND p.live = 1);

-- A held grant with no open exception was stranded (an earlier release closed its exception with
-- --accept and left it): its latest exception is open again.
UPDATE exceptions SET status = 'open', resolution = NULL, note = NULL, resolved_by = NULL, resolved_at = NULL
WHERE id IN (
    SELECT MAX(e.id) FROM exceptions e JOIN grants g ON g.account_no = e.account_no AND g.grant_id = e.grant_id
    WHERE g.status = 'held'
      AND NOT EXISTS (SELECT 1 FROM exceptions o WHERE o.account_no = g.account_no AND o.grant_id = g.grant_id AND o.status = 'open')
    GROUP BY e.account_no, e.grant_id
);

-- 4. The hand-over to the bank as intent and outcome. A batch is `delivering` from the moment
--    its hand-over may have happened (the intent is committed first) until the outcome is known:
--    `delivered`, or `in_doubt` when what can be observed does not decide it (a person checks with
--    the bank). One row per attempt; the staged file's name is what a recovery renames.
CREATE TABLE deliveries (
    batch_id     TEXT NOT NULL REFERENCES batches (batch_id),
    attempt      BIGINT NOT NULL,
    transport    TEXT NOT NULL,           -- dropfolder | gateway
    target       TEXT NOT NULL,           -- the drop folder, or the bank profile of the gateway
    file_name    TEXT NOT NULL,
    staged_name  TEXT,                    -- drop folder: the hidden file the hand-over renames
    sha256       TEXT NOT NULL,
    actor        TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    outcome      TEXT,                    -- delivered | refused | in_doubt
    detail       TEXT,                    -- what was observed or answered
    PRIMARY KEY (batch_id, attempt)
);
