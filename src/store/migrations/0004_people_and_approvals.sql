-- 0004: the people who act, their console sessions, and four-eyes approvals (双人复核).
-- Portable SQL that SQLite and PostgreSQL both run.

-- A person who may act for one special account (district). Passwords as argon2id PHC strings;
-- five wrong passwords lock the user until locked_until (Unix seconds).
CREATE TABLE users (
    account_no     TEXT NOT NULL,
    username       TEXT NOT NULL,
    display_name   TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('clerk', 'reviewer', 'auditor', 'admin')),
    password_hash  TEXT NOT NULL,
    disabled       BIGINT NOT NULL DEFAULT 0,
    failed_logins  BIGINT NOT NULL DEFAULT 0,
    locked_until   BIGINT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (account_no, username)
);

-- A console session. Only the SHA-256 of the cookie's token is kept, so reading the database does
-- not give a session away. Times are Unix seconds (the idle timeout is arithmetic on them).
CREATE TABLE sessions (
    token_sha256  TEXT PRIMARY KEY,
    account_no    TEXT NOT NULL,
    username      TEXT NOT NULL,
    csrf_token    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    FOREIGN KEY (account_no, username) REFERENCES users (account_no, username)
);

-- What awaits a second person: a batch before it reaches the bank, a re-issue to another card, a
-- cancellation, an acceptance. The database itself refuses a decision by the proposer.
CREATE TABLE approvals (
    id              BIGINT PRIMARY KEY,
    account_no      TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('batch', 'reissue', 'cancel', 'accept', 'card_change')),
    subject         TEXT NOT NULL,        -- the batch id, or the exception's number
    grant_id        TEXT,
    proposed_by     TEXT NOT NULL,
    proposed_at     TEXT NOT NULL,
    before_json     TEXT,                 -- the state before, as the reviewer sees it
    after_json      TEXT NOT NULL,        -- what is proposed (the action and its arguments)
    payload_sha256  TEXT,                 -- a batch: the hash of its exact payment list
    status          TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn')),
    decided_by      TEXT,
    decided_at      TEXT,
    note            TEXT,
    CHECK (decided_by IS NULL OR decided_by <> proposed_by)
);
CREATE INDEX approvals_status ON approvals (account_no, status, id);
-- One open proposal per subject at a time.
CREATE UNIQUE INDEX approvals_one_pending ON approvals (account_no, subject) WHERE status = 'pending';

INSERT INTO id_counters (name, next_id) VALUES ('approvals', 1);
