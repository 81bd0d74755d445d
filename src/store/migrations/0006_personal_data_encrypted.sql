-- 0006: card numbers, ID numbers and the names beside them encrypted at rest (issue 18).
--
-- From this release the columns grants.name, grants.id_number, grants.card_holder,
-- grants.card_number, payments.card_number, payments.card_holder and the card and holder of a
-- proposal's after_json hold `v<N>:<base64url>` (XChaCha20-Poly1305 under key version N, see
-- src/crypto/mod.rs), never a clear value. Equality look-ups go through keyed hashes
-- (HMAC-SHA-256 under a key of their own): the *_hash columns added here.
--
-- SQL cannot encrypt, so this migration only adds columns and tables. A store of an earlier
-- release keeps its clear values until aidpay, started with a data key, encrypts them in place
-- (src/store/keys.rs): in chunks, each chunk one transaction, resumable after a kill; `status`
-- says how many clear values remain.

-- The key versions this store's values are under, by their one-way ids (never the keys): a key
-- file whose key of a version, or whose hash key, has another id is refused at start, before
-- anything is written.
CREATE TABLE data_keys (
    version      BIGINT PRIMARY KEY,
    key_id       TEXT NOT NULL,
    hash_key_id  TEXT NOT NULL,
    created_at   TEXT NOT NULL
);

-- Progress of the work done in chunks: `rotating_to` while a rotation re-encrypts.
CREATE TABLE crypto_state (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

ALTER TABLE grants ADD COLUMN id_hash TEXT;
ALTER TABLE grants ADD COLUMN card_hash TEXT;
ALTER TABLE payments ADD COLUMN card_hash TEXT;

-- The clear indexes go: they held every ID and card number a second time, in clear.
DROP INDEX grants_student;
DROP INDEX grants_card;
CREATE INDEX grants_student_hash ON grants (account_no, id_hash, program, period);
CREATE INDEX grants_card_hash ON grants (account_no, card_hash);

-- The aid cards by the hash of their number (aid_cards was keyed by the clear number). The rows of
-- aid_cards move here as they are encrypted; aid_cards stays empty from then on.
CREATE TABLE cards (
    card_hash    TEXT PRIMARY KEY,
    card_number  TEXT NOT NULL,           -- encrypted
    holder_name  TEXT NOT NULL,           -- encrypted
    bank         TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'active',   -- active | closed | frozen
    first_seen   TEXT NOT NULL
);
