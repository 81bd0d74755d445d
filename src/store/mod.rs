//! The store: every SQL statement aidpay runs lives under this folder.
//!
//! One code path for both backends through sqlx's `Any` driver: SQLite (a file, the embedded
//! default) and PostgreSQL. To keep one SQL text valid on both, the rules are: `$N` placeholders
//! only; columns are BIGINT or TEXT (money in fen, times as text written by aidpay); aggregates are
//! wrapped in `CAST(… AS BIGINT)`; ids come from `id_counters`, not backend auto-increment.
//!
//! Callers work inside a [`StoreTx`]: one file imported, one batch created — all or nothing.

mod answers;
mod approvals;
mod console;
mod deliveries;
mod exceptions;
mod files;
mod grants;
mod metrics;
mod payments;
mod people;
mod reconcile;
mod runs;
mod statements;
mod verify;

pub use answers::{PaymentEvent, PaymentState};
pub use console::{AuditRow, BatchTotal, ExceptionDetail, ExceptionListRow, ExceptionPage, ExceptionQuery, FilterChoices, PaidInMonth};
pub use approvals::{ApprovalRow, DecisionRefused, NewApproval};
pub use deliveries::{DeliveryIntent, DeliveryRecord};
pub use exceptions::{ExceptionFilter, ExceptionRecord, ExceptionReportSource, ExceptionRow};
pub use files::{AwaitingBatch, FileRecord};
pub use grants::{CardUse, GrantRecord, KnownGrant, StoredGrant};
pub use metrics::RunTiming;
pub use payments::{BatchLine, BatchRow, EligibleGrant, NewPayment, PaymentRow};
pub use people::{Credentials, SessionRow, UserRow};
pub use reconcile::{EntryDetail, EntryRow, PaymentMoney, Position, ReportEntry, StatementRow};
pub use runs::{JobRun, NewExceptionRef};
pub use statements::{DetailRecord, EntriesStored, EntryRecord, EntryStatus, IdentifiedBy, StatementRecord, StatementSums, entry_identity};
pub use verify::{BatchFacts, GrantFacts};

use secrecy::{ExposeSecret, SecretString};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Row};
use std::str::FromStr;
use std::time::Duration;

/// The embedded migrations, applied at every start (already applied ones are skipped).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/migrations");

/// What went wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database {url}: cannot create its folder: {source}")]
    Folder { url: String, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
    /// A command that only reads found no store where the configuration points.
    #[error("{0}")]
    Missing(String),
}

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The special account (district) this handle works for; one database may hold many.
    account: Option<String>,
}

/// A change of at least this many rows counts as bulk: the planner statistics are refreshed after it.
pub const BULK_ROWS: u64 = 10_000;

/// Binds per statement stay well under SQLite's 32,766 and PostgreSQL's 65,535.
pub const MAX_BINDS: usize = 30_000;

impl Store {
    /// Connects, creating a SQLite file (and its folder) when missing, and applies migrations.
    pub async fn connect(url: &SecretString, max_connections: u32) -> Result<Store, StoreError> {
        let raw = url.expose_secret();
        if raw.starts_with("sqlite:") {
            ensure_sqlite_folder(raw)?;
        }
        Store::open(raw, max_connections).await
    }

    /// Connects to a store that must exist already, for commands that only read: a missing
    /// SQLite file, or a PostgreSQL database without aidpay's tables, is an error that names
    /// it — never a new, empty store that would report a false all-clear.
    pub async fn connect_existing(url: &SecretString, max_connections: u32) -> Result<Store, StoreError> {
        let raw = url.expose_secret();
        if raw.starts_with("sqlite:") {
            let path = sqlite_path(raw);
            if !path.is_empty() && !path.starts_with(":memory:") && !std::path::Path::new(path).exists() {
                return Err(StoreError::Missing(format!("the store {path} does not exist")));
            }
            // Opened read-write but never created.
            let url = raw.replace("mode=rwc", "mode=rw");
            return Store::open(&url, max_connections).await;
        }
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new().max_connections(1).acquire_timeout(Duration::from_secs(30)).connect(raw).await?;
        let has_schema = sqlx::query("SELECT 1 FROM _sqlx_migrations LIMIT 1").fetch_optional(&pool).await.is_ok();
        pool.close().await;
        if !has_schema {
            return Err(StoreError::Missing(format!("the database {} holds no aidpay store", crate::config::redact_url(raw))));
        }
        Store::open(raw, max_connections).await
    }

    async fn open(raw: &str, max_connections: u32) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if raw.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres };
        let options = AnyConnectOptions::from_str(raw)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers go on while a batch is written; FULL makes a commit
                        // survive a power cut, which "never pay twice" needs more than speed.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        // 32 MB of page cache per connection: a batch of a province's term reads
                        // the same grant and payment pages many times (the default is 2 MB).
                        conn.execute("PRAGMA cache_size = -32768").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Store { pool, backend, account: None })
    }

    /// The same store, scoped to one special account: exceptions it raises carry the account,
    /// and lists and counts show that account's only (districts kept apart in one database).
    pub fn scoped(mut self, account: &str) -> Store {
        self.account = Some(account.to_string());
        self
    }

    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a transaction; nothing in it is visible to others until [`StoreTx::commit`].
    ///
    /// On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken at the start, so a second
    /// writer waits (busy_timeout) instead of failing later with SQLITE_BUSY when it tries to
    /// turn its read snapshot into a write. On PostgreSQL, concurrent work on the same thing is
    /// serialised with [`StoreTx::lock`].
    pub async fn begin(&self) -> Result<StoreTx, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(StoreTx { tx, backend: self.backend, account: self.account.clone() })
    }

    /// Refreshes PostgreSQL's planner statistics of these tables (SQLite: nothing to do).
    ///
    /// PostgreSQL plans from statistics that autovacuum refreshes only some time after a bulk
    /// change. A plan made while a table of a million rows is still believed empty can be
    /// quadratic (reconciling 100,000 grants ran for over ten minutes). So the statistics are
    /// refreshed right after a bulk change and before reconciliation's joins; it samples a
    /// bounded number of rows, a fraction of a second even at a province's size.
    pub async fn refresh_statistics(&self, tables: &[&str]) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres && !tables.is_empty() {
            sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {}", tables.join(", ")))).execute(&self.pool).await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Writes one line to the audit log in its own transaction.
    pub async fn audit(&self, entry: &AuditEntry<'_>) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.audit(entry).await?;
        tx.commit().await
    }
}

/// The file of a `sqlite://PATH?…` URL.
fn sqlite_path(url: &str) -> &str {
    let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
    path.split('?').next().unwrap_or("")
}

fn ensure_sqlite_folder(url: &str) -> Result<(), StoreError> {
    let path = sqlite_path(url);
    if path.is_empty() || path.starts_with(":memory:") {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|source| StoreError::Folder { url: url.to_string(), source })?;
    }
    Ok(())
}

/// A transaction on the store, with the operations of the modules beside this one.
pub struct StoreTx {
    pub(crate) tx: sqlx::Transaction<'static, Any>,
    pub(crate) backend: Backend,
    pub(crate) account: Option<String>,
}

/// One line of the audit trail.
#[derive(Debug)]
pub struct AuditEntry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl StoreTx {
    /// The special account this transaction works for, or `""` on a store not scoped to one
    /// (tests and tools that look across districts): queries then match every account.
    pub(crate) fn account_no(&self) -> &str {
        self.account.as_deref().unwrap_or("")
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Serialises work on `key` (an account's batch cycle, one batch, one file) across
    /// processes until this transaction ends: a PostgreSQL transaction-level advisory lock. On
    /// SQLite the transaction already holds the database's write lock.
    pub async fn lock(&mut self, key: &str) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            use sha2::{Digest, Sha256};
            let digest = Sha256::digest(key.as_bytes());
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest[..8]);
            // Selecting a constant: the lock function returns `void`, which the Any driver cannot decode.
            sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock($1)) AS l")
                .bind(i64::from_be_bytes(first))
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    /// Takes `n` consecutive ids for `table` and returns the first. Inside the caller's
    /// transaction, so a rolled-back import gives its ids back.
    pub async fn alloc_ids(&mut self, table: &'static str, n: i64) -> Result<i64, StoreError> {
        let row = sqlx::query("UPDATE id_counters SET next_id = next_id + $1 WHERE name = $2 RETURNING next_id")
            .bind(n)
            .bind(table)
            .fetch_one(&mut *self.tx)
            .await?;
        let next: i64 = row.try_get(0)?;
        Ok(next - n)
    }

    /// Appends to the audit log.
    pub async fn audit(&mut self, e: &AuditEntry<'_>) -> Result<(), StoreError> {
        let id = self.alloc_ids("audit_log", 1).await?;
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, action, subject, before_json, after_json) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(now_text())
        .bind(e.actor)
        .bind(e.action)
        .bind(e.subject)
        .bind(e.before.as_ref().map(|v| v.to_string()))
        .bind(e.after.as_ref().map(|v| v.to_string()))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

/// `($1, $2, …), ($k+1, …)` for a multi-row insert of `rows` rows of `cols` values.
///
/// On SQLite the placeholders are anonymous `?`: SQLite looks a numbered parameter's name up in
/// a linear list, which makes binding n `$N` parameters O(n²) — 100 s instead of 3 s for
/// 100,000 grants. PostgreSQL only takes `$N`.
pub(crate) fn values_placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    let mut n = 1;
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push(',');
            }
            push_placeholder(&mut s, backend, n);
            n += 1;
        }
        s.push(')');
    }
    s
}

/// `$from, $from+1, …` (or `?, ?, …` on SQLite) for an `IN (…)` list of `n` values.
pub(crate) fn in_placeholders(backend: Backend, from: usize, n: usize) -> String {
    let mut s = String::with_capacity(n * 6);
    for i in from..from + n {
        if i > from {
            s.push(',');
        }
        push_placeholder(&mut s, backend, i);
    }
    s
}

/// The placeholder of parameter `n`: `$n` on PostgreSQL, `?` on SQLite. On SQLite every
/// placeholder of a statement that has an `in_placeholders` list must be `?` (sqlx numbers the
/// anonymous ones on their own, so a `$1` beside them would take the first `?`'s value): bind
/// in the order they appear.
pub(crate) fn placeholder(backend: Backend, n: usize) -> String {
    let mut s = String::new();
    push_placeholder(&mut s, backend, n);
    s
}

fn push_placeholder(s: &mut String, backend: Backend, n: usize) {
    match backend {
        Backend::Sqlite => s.push('?'),
        Backend::Postgres => {
            s.push('$');
            s.push_str(&n.to_string());
        }
    }
}

/// The time now in China (UTC+8, no daylight saving), as stored: `2026-11-25T19:55:00+08:00`.
pub fn now_text() -> String {
    crate::clock::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(values_placeholders(Backend::Postgres, 2, 3), "($1,$2,$3),($4,$5,$6)");
        assert_eq!(values_placeholders(Backend::Sqlite, 2, 2), "(?,?),(?,?)");
        assert_eq!(in_placeholders(Backend::Postgres, 3, 2), "$3,$4");
    }
}
