//! The data key at the store's edge (issue 18): which key a store needs, values sealed on the way
//! in and opened on the way out, look-up hashes, and the chunked, resumable passes that encrypt a
//! clear store in place and re-encrypt after a rotation.
//!
//! # Which key, at start
//!
//! The key ring comes from [`crate::crypto::load`] (systemd credential `data_key`,
//! `AIDPAY_DATA_KEY`, `[security] data_key_file`), else from the key file beside the store
//! ([`KeyOptions::beside_store`]) when that exists. The store records the one-way id of every
//! data key version its values are under, and of the hash key (`data_keys`); before the
//! migrations run (so before anything is written) the ring is checked against them:
//! - a key whose ids differ from the recorded ones is refused (a wrong key, or another store's);
//! - no key at all, for a store that holds encrypted values, is refused;
//! - no key, for a new and empty store, makes one beside it (mode 0600), with a warning that
//!   production keeps it as a credential;
//! - no key, for a store of an earlier release that holds clear values, is refused with the way
//!   on: `aidpay keys init`, then start again (the start then encrypts the store in place).
//!
//! A command that only reads (`status`, reports) opens a clear store without a key; clear values
//! read as they are, and `status` counts them.
//!
//! # The passes
//!
//! [`Store::encrypt_pass`] walks each table in key order, a chunk of rows per transaction, and
//! rewrites every value that is clear or under an older key version (and fills a missing look-up
//! hash). A value already under the current version is left alone, so a pass killed at any
//! instant is resumed by running it again: the first start after `keys init` encrypts a clear
//! store this way, `aidpay keys rotate` re-encrypts under a new version. The old versions stay in
//! the key file, so every value stays readable throughout.

use super::{Backend, Store, StoreError, built, now_text};
use crate::crypto::{self, KeyError, KeyRing, KeySource, purpose};
use sqlx::{AnyPool, Row};
use std::path::PathBuf;
use std::sync::Arc;

/// Where a store's data key may come from, besides the credential and the environment.
#[derive(Debug, Clone, Default)]
pub struct KeyOptions {
    /// `[security] data_key_file`.
    pub data_key_file: Option<PathBuf>,
    /// The key file beside the store (SQLite: `<database file>.data_key`; PostgreSQL:
    /// `data_key` in the folder above `paths.outbox`): read when it exists and nothing else is
    /// configured, created for a new, empty store.
    pub beside_store: Option<PathBuf>,
    /// Only the files above: no credential, no `AIDPAY_DATA_KEY` (the demo and the bench, whose
    /// throw-away stores must never take a production key from the environment).
    pub isolated: bool,
}

impl KeyOptions {
    /// The key file a rotation works on: the configured one, else the one beside the store.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.data_key_file.as_deref().or(self.beside_store.as_deref())
    }
}

/// Loads the ring from the configured sources, else from the file beside the store; `None` when
/// there is no key anywhere.
pub fn load_keys(opts: &KeyOptions) -> Result<Option<(KeyRing, KeySource)>, KeyError> {
    let file = match (&opts.data_key_file, &opts.beside_store) {
        (Some(f), _) => Some(f.as_path()),
        (None, Some(b)) if std::fs::symlink_metadata(b).is_ok() => Some(b.as_path()),
        _ => None,
    };
    let loaded = if opts.isolated { crypto::load_with_env(file, |_| None) } else { crypto::load(file) };
    match loaded {
        Ok(k) => Ok(Some(k)),
        Err(KeyError::Missing { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn key_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Key(e.to_string())
}

/// `clear` encrypted for `purpose` under the current key version.
pub(crate) fn seal(keys: Option<&KeyRing>, purpose: &str, clear: &str) -> Result<String, StoreError> {
    let ring = keys.ok_or_else(|| StoreError::Key("no data key is loaded: card and ID numbers cannot be written".into()))?;
    ring.encrypt(clear, purpose).map_err(key_error)
}

/// A stored value in clear: decrypted, or (a store not yet encrypted in place) as it is.
pub(crate) fn unseal(keys: Option<&KeyRing>, purpose: &str, stored: String) -> Result<String, StoreError> {
    if !crypto::is_encrypted(&stored) {
        return Ok(stored);
    }
    let ring = keys.ok_or_else(|| StoreError::Key("the store holds encrypted values and no data key is loaded".into()))?;
    ring.decrypt(&stored, purpose).map_err(|e| StoreError::Key(format!("a stored {purpose}: {e}")))
}

pub(crate) fn unseal_opt(keys: Option<&KeyRing>, purpose: &str, stored: Option<String>) -> Result<Option<String>, StoreError> {
    stored.map(|s| unseal(keys, purpose, s)).transpose()
}

/// The look-up hash of a clear value.
pub(crate) fn lookup(keys: Option<&KeyRing>, purpose: &str, clear: &str) -> Result<String, StoreError> {
    let ring = keys.ok_or_else(|| StoreError::Key("no data key is loaded: card and ID numbers cannot be looked up".into()))?;
    Ok(ring.lookup_hash(purpose, clear))
}

/// The fields of a proposal's `after_json` that carry personal data.
const APPROVAL_FIELDS: [(&str, &str); 2] = [("card", purpose::CARD_NUMBER), ("holder", purpose::CARD_HOLDER)];

/// A proposal's `after` with its card and holder sealed (or opened, `seal = false`).
pub(crate) fn approval_after(keys: Option<&KeyRing>, after: &serde_json::Value, seal_it: bool) -> Result<serde_json::Value, StoreError> {
    let mut v = after.clone();
    for (field, p) in APPROVAL_FIELDS {
        if let Some(text) = v.get(field).and_then(|c| c.as_str()).map(str::to_string) {
            let new = if seal_it {
                match keys {
                    Some(r) if r.needs_reencrypt(&text) => r.reencrypt(&text, p).map_err(key_error)?,
                    Some(_) => text,
                    None => seal(None, p, &text)?,
                }
            } else {
                unseal(keys, p, text)?
            };
            v[field] = serde_json::Value::String(new);
        }
    }
    Ok(v)
}

/// What the store says about its keys before migrations run: the recorded versions with their
/// key ids and the hash key id, and whether it holds personal data at all.
struct Recorded {
    versions: Vec<(u32, String, String)>,
    has_data: bool,
}

async fn recorded(pool: &AnyPool) -> Result<Recorded, StoreError> {
    let versions = match sqlx::query("SELECT version, key_id, hash_key_id FROM data_keys ORDER BY version").fetch_all(pool).await {
        Ok(rows) => rows
            .iter()
            .map(|r| Ok((r.try_get::<i64, _>(0)? as u32, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?,
        // No such table: a new store, or one of a release before 0006.
        Err(_) => Vec::new(),
    };
    let mut has_data = false;
    for sql in ["SELECT 1 FROM grants LIMIT 1", "SELECT 1 FROM payments LIMIT 1", "SELECT 1 FROM aid_cards LIMIT 1", "SELECT 1 FROM approvals LIMIT 1"] {
        if let Ok(Some(_)) = sqlx::query(sql).fetch_optional(pool).await {
            has_data = true;
            break;
        }
    }
    Ok(Recorded { versions, has_data })
}

/// Decides the store's key before anything is written (see the module's text). `writable`:
/// the command may change the store (then a new, empty store gets a key file beside it).
pub(super) async fn prepare(pool: &AnyPool, opts: &KeyOptions, writable: bool) -> Result<Option<Arc<KeyRing>>, StoreError> {
    let rec = recorded(pool).await?;
    let loaded = load_keys(opts).map_err(key_error)?;
    let (ring, source) = match loaded {
        Some(k) => k,
        None if !rec.versions.is_empty() => {
            return Err(StoreError::Key(format!(
                "this store holds card and ID numbers encrypted under data key v{} (id {}), and no data key was found \
                 (a systemd credential data_key, AIDPAY_DATA_KEY, [security] data_key_file{}): aidpay will not start without it. \
                 存储中的卡号与身份证号已加密，但未找到数据密钥，拒绝启动",
                rec.versions.last().map(|v| v.0).unwrap_or(1),
                rec.versions.last().map(|v| v.1.as_str()).unwrap_or(""),
                opts.beside_store.as_ref().map(|p| format!(", or {}", p.display())).unwrap_or_default()
            )));
        }
        None if !writable => return Ok(None),
        None if rec.has_data => {
            let at = opts.file().map(|p| p.display().to_string()).unwrap_or_else(|| "FILE".into());
            return Err(StoreError::Key(format!(
                "this store (of an earlier release) holds card and ID numbers in clear, and there is no data key to encrypt them: \
                 run `aidpay keys init` (it writes {at}; or give it the file to write), then start again: the store is then \
                 encrypted in place. 存储中的卡号与身份证号仍为明文：请先运行 aidpay keys init 生成数据密钥，再启动以就地加密"
            )));
        }
        None => {
            let Some(path) = opts.beside_store.as_deref() else {
                return Err(StoreError::Key("no data key, and no place beside the store for a new one: set [security] data_key_file".into()));
            };
            match crypto::init_key_file(path) {
                Ok(_) => {}
                // Another process starting on the same new store made it first: take that one.
                Err(KeyError::Exists { .. }) => return Box::pin(prepare(pool, opts, writable)).await,
                Err(e) => return Err(key_error(e)),
            }
            tracing::warn!(
                key_file = %path.display(),
                "a new, empty store: made a data key file beside it (mode 0600). Production keeps the key as a systemd \
                 credential data_key, not beside the store and its backups. 已在存储旁生成数据密钥文件；生产环境请改为 systemd 凭据"
            );
            match load_keys(opts).map_err(key_error)? {
                Some(k) => k,
                None => return Err(StoreError::Key(format!("the new key file {} cannot be read back", path.display()))),
            }
        }
    };
    for (version, key_id, hash_key_id) in &rec.versions {
        match ring.data_key_id(*version) {
            None => {
                return Err(StoreError::Key(format!(
                    "the data key from {source} has no version v{version}, under which this store holds values (key id {key_id}): \
                     a key file older than the store, or another store's. 数据密钥不匹配，拒绝启动"
                )));
            }
            Some(id) if &id != key_id || &ring.hash_key_id() != hash_key_id => {
                return Err(StoreError::Key(format!(
                    "the data key from {source} is not this store's: its v{version} has id {id}, the store's values are under id {key_id}{}. \
                     Nothing was written. 数据密钥不是本存储的密钥，拒绝启动，未写入任何数据",
                    if &ring.hash_key_id() != hash_key_id { " (and its hash key differs)" } else { "" }
                )));
            }
            Some(_) => {}
        }
    }
    tracing::debug!(%source, versions = ?ring.versions(), "data key loaded");
    Ok(Some(Arc::new(ring)))
}

/// Records the ring's current version (before any value is written under it).
pub(super) async fn register(pool: &AnyPool, ring: &KeyRing) -> Result<(), StoreError> {
    let v = ring.current_version();
    // Read first: a start writes nothing when the version is recorded (processes starting
    // together on SQLite then do not queue for the write lock).
    if sqlx::query("SELECT 1 FROM data_keys WHERE version = $1").bind(v as i64).fetch_optional(pool).await?.is_some() {
        return Ok(());
    }
    sqlx::query("INSERT INTO data_keys (version, key_id, hash_key_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (version) DO NOTHING")
        .bind(v as i64)
        .bind(ring.data_key_id(v).unwrap_or_default())
        .bind(ring.hash_key_id())
        .bind(now_text())
        .execute(pool)
        .await?;
    Ok(())
}

/// A column holding a sealed value, and the look-up hash column filled from it.
struct Col {
    name: &'static str,
    purpose: &'static str,
    hash: Option<&'static str>,
}

/// A table whose rows the passes rewrite, walked in the order of `key`.
struct Table {
    name: &'static str,
    key: &'static [&'static str],
    /// The key columns are BIGINT (else TEXT).
    int_key: bool,
    cols: &'static [Col],
}

const TABLES: [Table; 5] = [
    Table {
        name: "grants",
        key: &["account_no", "grant_id"],
        int_key: false,
        cols: &[
            Col { name: "name", purpose: purpose::STUDENT_NAME, hash: None },
            Col { name: "id_number", purpose: purpose::ID_NUMBER, hash: Some("id_hash") },
            Col { name: "card_holder", purpose: purpose::CARD_HOLDER, hash: None },
            Col { name: "card_number", purpose: purpose::CARD_NUMBER, hash: Some("card_hash") },
        ],
    },
    Table {
        name: "payments",
        key: &["payment_ref"],
        int_key: false,
        cols: &[
            Col { name: "card_number", purpose: purpose::CARD_NUMBER, hash: Some("card_hash") },
            Col { name: "card_holder", purpose: purpose::CARD_HOLDER, hash: None },
        ],
    },
    Table {
        name: "cards",
        key: &["card_hash"],
        int_key: false,
        cols: &[
            Col { name: "card_number", purpose: purpose::CARD_NUMBER, hash: None },
            Col { name: "holder_name", purpose: purpose::CARD_HOLDER, hash: None },
        ],
    },
    Table {
        name: "statement_entries",
        key: &["id"],
        int_key: true,
        cols: &[Col { name: "counterpart", purpose: purpose::COUNTERPART, hash: None }],
    },
    Table {
        name: "statement_details",
        key: &["entry_id", "position"],
        int_key: true,
        cols: &[Col { name: "counterpart", purpose: purpose::COUNTERPART, hash: None }],
    },
];

/// A key column's value.
#[derive(Clone, Debug)]
enum KeyVal {
    Text(String),
    Int(i64),
}

/// Values still clear in a store, per table (for `status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClearValues {
    pub grants: i64,
    pub payments: i64,
    pub cards: i64,
    pub approvals: i64,
    /// Statement entries and their transactions with a clear counterpart account.
    pub statements: i64,
}

impl ClearValues {
    pub fn total(&self) -> i64 {
        self.grants + self.payments + self.cards + self.approvals + self.statements
    }
}

/// The data at rest as `status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct KeyStatus {
    /// Rows that still hold a clear card number, ID number or name (0: everything is encrypted).
    pub clear_values: i64,
    pub clear_by_table: ClearValues,
    /// The key versions the store's values have been written under.
    pub key_versions: Vec<u32>,
    /// A rotation not yet finished (`aidpay keys rotate` again finishes it): the version it re-encrypts to.
    pub rotating_to: Option<u32>,
}

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PassReport {
    /// Rows rewritten (encrypted from clear, or re-encrypted under the current version).
    pub rows: u64,
    /// Of those, rows that held a clear value.
    pub clear_rows: u64,
    /// The key version every value is now under.
    pub version: u32,
}

/// Rows per transaction of a pass (`AIDPAY_KEYS_CHUNK` overrides it, for the tests that kill one half-way).
fn chunk_rows() -> i64 {
    std::env::var("AIDPAY_KEYS_CHUNK").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(2_000)
}

/// The SQL test "this row has a value not under version `v`, or a missing hash".
fn needs_work(t: &Table, v: u32) -> String {
    let mut parts: Vec<String> = t.cols.iter().map(|c| format!("{} NOT LIKE 'v{v}:%'", c.name)).collect();
    parts.extend(t.cols.iter().filter_map(|c| c.hash).map(|h| format!("{h} IS NULL")));
    parts.join(" OR ")
}

impl Store {
    pub(crate) fn ring(&self) -> Option<&KeyRing> {
        self.keys.as_deref()
    }

    /// A value as stored, opened with this store's key (for tools and tests that read the
    /// tables directly): a clear value comes back as it is.
    pub fn reveal(&self, purpose: &str, stored: String) -> Result<String, StoreError> {
        unseal(self.ring(), purpose, stored)
    }

    /// Uses `ring` from now on (a rotation's new version), recording its current version first.
    pub async fn set_keys(&mut self, ring: KeyRing) -> Result<(), StoreError> {
        register(&self.pool, &ring).await?;
        self.keys = Some(Arc::new(ring));
        Ok(())
    }

    /// The recorded key versions (version, key id), lowest first.
    pub async fn key_versions(&self) -> Result<Vec<(u32, String)>, StoreError> {
        let rows = sqlx::query("SELECT version, key_id FROM data_keys ORDER BY version").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get::<i64, _>(0)? as u32, r.try_get(1)?))).collect()
    }

    /// A value of `crypto_state`.
    pub async fn crypto_state(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM crypto_state WHERE name = $1").bind(name).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    pub async fn set_crypto_state(&self, name: &str, value: Option<&str>) -> Result<(), StoreError> {
        match value {
            Some(v) => sqlx::query("INSERT INTO crypto_state (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value")
                .bind(name)
                .bind(v)
                .execute(&self.pool)
                .await?,
            None => sqlx::query("DELETE FROM crypto_state WHERE name = $1").bind(name).execute(&self.pool).await?,
        };
        Ok(())
    }

    /// Clear values left, key versions, a rotation under way: for `status`.
    pub async fn key_status(&self) -> Result<KeyStatus, StoreError> {
        let clear = self.clear_values().await?;
        Ok(KeyStatus {
            clear_values: clear.total(),
            clear_by_table: clear,
            key_versions: self.key_versions().await?.into_iter().map(|(v, _)| v).collect(),
            rotating_to: self.crypto_state("rotating_to").await?.and_then(|v| v.parse().ok()),
        })
    }

    /// How many rows still hold a clear card number, ID number or name.
    pub async fn clear_values(&self) -> Result<ClearValues, StoreError> {
        let count = |sql: &'static str| async move {
            let row = sqlx::query(sql).fetch_one(&self.pool).await?;
            Ok::<i64, StoreError>(row.try_get(0)?)
        };
        let grants = count(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM grants WHERE card_hash IS NULL OR id_hash IS NULL OR name NOT LIKE 'v%:%' \
             OR id_number NOT LIKE 'v%:%' OR card_holder NOT LIKE 'v%:%' OR card_number NOT LIKE 'v%:%'",
        )
        .await?;
        let payments =
            count("SELECT CAST(COUNT(*) AS BIGINT) FROM payments WHERE card_hash IS NULL OR card_number NOT LIKE 'v%:%' OR card_holder NOT LIKE 'v%:%'")
                .await?;
        let cards = count("SELECT CAST(COUNT(*) AS BIGINT) FROM aid_cards").await?
            + count("SELECT CAST(COUNT(*) AS BIGINT) FROM cards WHERE card_number NOT LIKE 'v%:%' OR holder_name NOT LIKE 'v%:%'").await?;
        let mut approvals = 0;
        let rows = sqlx::query("SELECT after_json FROM approvals WHERE after_json LIKE '%\"card\"%' OR after_json LIKE '%\"holder\"%'")
            .fetch_all(&self.pool)
            .await?;
        for r in rows {
            let after: String = r.try_get(0)?;
            let v: serde_json::Value = serde_json::from_str(&after).unwrap_or(serde_json::Value::Null);
            if APPROVAL_FIELDS.iter().any(|(f, _)| v.get(*f).and_then(|c| c.as_str()).is_some_and(|c| !crypto::is_encrypted(c))) {
                approvals += 1;
            }
        }
        let statements = count("SELECT CAST(COUNT(*) AS BIGINT) FROM statement_entries WHERE counterpart NOT LIKE 'v%:%'").await?
            + count("SELECT CAST(COUNT(*) AS BIGINT) FROM statement_details WHERE counterpart NOT LIKE 'v%:%'").await?;
        Ok(ClearValues { grants, payments, cards, approvals, statements })
    }

    /// Rows with a value under another version than the current one (or clear), all tables.
    pub async fn values_to_reencrypt(&self) -> Result<i64, StoreError> {
        let Some(ring) = self.ring() else { return Ok(0) };
        let v = ring.current_version();
        let mut n = 0;
        for t in &TABLES {
            let sql = format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {} WHERE {}", t.name, needs_work(t, v));
            n += built(sql).fetch_one(&self.pool).await?.try_get::<i64, _>(0)?;
        }
        n += sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM aid_cards").fetch_one(&self.pool).await?.try_get::<i64, _>(0)?;
        Ok(n)
    }

    /// Brings every value under the ring's current version, a chunk per transaction (see the
    /// module's text): clear values are encrypted (and their look-up hashes filled), values under
    /// older versions re-encrypted. Resumable: run it again after a kill.
    pub async fn encrypt_pass(&self) -> Result<PassReport, StoreError> {
        let ring = self.keys.clone().ok_or_else(|| StoreError::Key("no data key loaded".into()))?;
        let v = ring.current_version();
        let chunk = chunk_rows();
        let mut report = PassReport { version: v, ..Default::default() };

        // The aid cards keyed by their clear number move to `cards`.
        loop {
            let mut tx = self.begin().await?;
            let rows = sqlx::query("SELECT card_number, holder_name, bank, status, first_seen FROM aid_cards ORDER BY card_number LIMIT $1")
                .bind(chunk)
                .fetch_all(&mut *tx.tx)
                .await?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let card: String = r.try_get(0)?;
                let holder: String = r.try_get(1)?;
                sqlx::query(
                    "INSERT INTO cards (card_hash, card_number, holder_name, bank, status, first_seen) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (card_hash) DO NOTHING",
                )
                .bind(ring.lookup_hash(purpose::CARD_NUMBER, &card))
                .bind(ring.encrypt(&card, purpose::CARD_NUMBER).map_err(key_error)?)
                .bind(ring.encrypt(&holder, purpose::CARD_HOLDER).map_err(key_error)?)
                .bind(r.try_get::<String, _>(2)?)
                .bind(r.try_get::<String, _>(3)?)
                .bind(r.try_get::<String, _>(4)?)
                .execute(&mut *tx.tx)
                .await?;
                sqlx::query("DELETE FROM aid_cards WHERE card_number = $1").bind(card).execute(&mut *tx.tx).await?;
            }
            tx.commit().await?;
            report.rows += rows.len() as u64;
            report.clear_rows += rows.len() as u64;
            crate::batch::crash_point("keys_chunk");
        }

        for t in &TABLES {
            let key_list = t.key.join(", ");
            let value_list: Vec<&str> = t.cols.iter().map(|c| c.name).collect();
            let hash_list: Vec<&str> = t.cols.iter().filter_map(|c| c.hash).collect();
            let mut select_cols: Vec<&str> = t.key.to_vec();
            select_cols.extend(&value_list);
            select_cols.extend(&hash_list);
            let after = if t.key.len() == 1 {
                format!("{} > $1", t.key[0])
            } else {
                format!("({}) > ({})", key_list, (1..=t.key.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", "))
            };
            let limit = format!("${}", t.key.len() + 1);
            let select = format!(
                "SELECT {} FROM {} WHERE {after} AND ({}) ORDER BY {key_list} LIMIT {limit}",
                select_cols.join(", "),
                t.name,
                needs_work(t, v)
            );
            let mut sets: Vec<String> = value_list.iter().chain(&hash_list).enumerate().map(|(i, c)| format!("{c} = ${}", i + 1)).collect();
            let n_sets = sets.len();
            let wheres: Vec<String> = t.key.iter().enumerate().map(|(i, k)| format!("{k} = ${}", n_sets + i + 1)).collect();
            let update = format!("UPDATE {} SET {} WHERE {}", t.name, std::mem::take(&mut sets).join(", "), wheres.join(" AND "));

            let mut last: Vec<KeyVal> = vec![if t.int_key { KeyVal::Int(i64::MIN) } else { KeyVal::Text(String::new()) }; t.key.len()];
            loop {
                let mut tx = self.begin().await?;
                let mut q = built(select.clone());
                for k in &last {
                    q = match k {
                        KeyVal::Text(t) => q.bind(t.clone()),
                        KeyVal::Int(i) => q.bind(*i),
                    };
                }
                let rows = q.bind(chunk).fetch_all(&mut *tx.tx).await?;
                if rows.is_empty() {
                    break;
                }
                for r in &rows {
                    let keys: Vec<KeyVal> = (0..t.key.len())
                        .map(|i| if t.int_key { r.try_get::<i64, _>(i).map(KeyVal::Int) } else { r.try_get::<String, _>(i).map(KeyVal::Text) })
                        .collect::<Result<_, _>>()?;
                    let mut values: Vec<Option<String>> = Vec::with_capacity(t.cols.len());
                    let mut hashes = Vec::new();
                    let mut was_clear = false;
                    for (i, c) in t.cols.iter().enumerate() {
                        let stored: Option<String> = r.try_get(t.key.len() + i)?;
                        let Some(stored) = stored else {
                            values.push(None);
                            continue;
                        };
                        was_clear |= !crypto::is_encrypted(&stored);
                        let new = if ring.needs_reencrypt(&stored) {
                            ring.reencrypt(&stored, c.purpose).map_err(|e| StoreError::Key(format!("{} {:?}: {}: {e}", t.name, keys, c.name)))?
                        } else {
                            stored.clone()
                        };
                        if c.hash.is_some() {
                            let clear = unseal(Some(&ring), c.purpose, stored)?;
                            hashes.push(ring.lookup_hash(c.purpose, &clear));
                        }
                        values.push(Some(new));
                    }
                    let mut q = built(update.clone());
                    for v in values.into_iter().chain(hashes.into_iter().map(Some)) {
                        q = q.bind(v);
                    }
                    for k in &keys {
                        q = match k {
                            KeyVal::Text(t) => q.bind(t.clone()),
                            KeyVal::Int(i) => q.bind(*i),
                        };
                    }
                    q.execute(&mut *tx.tx).await?;
                    report.rows += 1;
                    report.clear_rows += was_clear as u64;
                    last = keys;
                }
                tx.commit().await?;
                crate::batch::crash_point("keys_chunk");
            }
        }

        // Proposals carry a new card and holder in their after_json (few rows: one transaction).
        let mut tx = self.begin().await?;
        let rows = sqlx::query("SELECT id, after_json FROM approvals WHERE after_json LIKE '%\"card\"%' OR after_json LIKE '%\"holder\"%'")
            .fetch_all(&mut *tx.tx)
            .await?;
        for r in rows {
            let id: i64 = r.try_get(0)?;
            let text: String = r.try_get(1)?;
            let Ok(after) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
            let sealed = approval_after(Some(&ring), &after, true)?;
            if sealed != after {
                let was_clear = APPROVAL_FIELDS.iter().any(|(f, _)| after.get(*f).and_then(|c| c.as_str()).is_some_and(|c| !crypto::is_encrypted(c)));
                sqlx::query("UPDATE approvals SET after_json = $1 WHERE id = $2").bind(sealed.to_string()).bind(id).execute(&mut *tx.tx).await?;
                report.rows += 1;
                report.clear_rows += was_clear as u64;
            }
        }
        tx.commit().await?;

        Ok(report)
    }

    /// After a store's clear values were encrypted in place: old row versions may still hold them
    /// — SQLite in the freed space of the file's pages and in the WAL, PostgreSQL in dead tuples
    /// of its data files. Rebuilds the file (SQLite `VACUUM`, the WAL emptied) or the tables
    /// (`VACUUM FULL`), so that neither holds a clear value any more.
    pub async fn scrub_old_versions(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await?;
                sqlx::query("VACUUM").execute(&self.pool).await?;
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await?;
            }
            Backend::Postgres => {
                sqlx::query("VACUUM FULL grants, payments, aid_cards, cards, approvals, statement_entries, statement_details")
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }
}
