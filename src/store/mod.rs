//! The store: every SQL statement aidpay runs lives under this folder.
//!
//! One code path for both backends through sqlx's `Any` driver: SQLite (a file, the embedded
//! default) and PostgreSQL. To keep one SQL text valid on both, the rules are: `$N` placeholders
//! only; columns are BIGINT or TEXT (money in fen, times as text written by aidpay); aggregates are
//! wrapped in `CAST(… AS BIGINT)`; ids come from `id_counters` (SQLite) or one sequence per counter
//! (PostgreSQL), not backend auto-increment ([`StoreTx::alloc_ids`]). Bulk inserts go through
//! `bulk::Bulk`: multi-row `VALUES` on SQLite, one array per column on PostgreSQL.
//!
//! Callers work inside a [`StoreTx`]: one file imported, one batch created — all or nothing.

mod answers;
mod approvals;
mod audit;
mod bulk;
mod console;
mod deliveries;
mod exceptions;
mod files;
mod grants;
mod keys;
mod metrics;
mod payments;
mod people;
mod period;
mod reconcile;
mod runs;
mod statements;
mod verify;

pub use answers::{PaymentEvent, PaymentState};
pub use approvals::{ApprovalRow, DecisionRefused, NewApproval};
pub use audit::{AuditLine, ChainHead, GENESIS, canonical, line_hash};
pub use console::{AuditRow, BatchTotal, ExceptionPage, ExceptionQuery, FilterChoices, PaidInMonth};
pub use deliveries::{DeliveryIntent, DeliveryRecord};
pub use exceptions::{ExceptionFilter, ExceptionRecord, ExceptionReportSource, ExceptionRow};
pub use files::{AwaitingBatch, FileRecord, RecordedFile};
pub use grants::{CardUse, GrantAttempt, GrantRecord, KnownGrant, SealedGrant, Sealer, StoredGrant};
pub use keys::{ClearValues, KeyOptions, KeyStatus, PassReport, load_keys};
pub use metrics::{RunTiming, SchoolTotal};
pub use payments::{BatchLine, BatchRow, EligibleGrant, NewPayment, PaymentRow, SealedCard};
pub use people::{Credentials, SessionRow, UserRow};
pub use period::{PeriodEntry, PeriodEvent, PeriodException, PeriodGrant, PeriodPayment, PeriodStatement};
pub use reconcile::{EntryDetail, EntryRow, OpenEntryPages, PaymentMoney, Position, ReportEntry, StatementRow};
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

/// Migrations whose PostgreSQL text differs from the portable one (SQLite has no sequences):
/// on PostgreSQL the text in `migrations/postgres/` is applied instead under the same version.
/// sqlx records the checksum of the text it applied, so each backend keeps seeing its own text.
const POSTGRES_TEXT: &[(i64, &str)] = &[
    (11, include_str!("migrations/postgres/0011_id_sequences.sql")),
    (12, include_str!("migrations/postgres/0012_lookup_indexes.sql")),
    (13, include_str!("migrations/postgres/0013_payments_room_to_update.sql")),
    (14, include_str!("migrations/postgres/0014_grant_states.sql")),
    (15, include_str!("migrations/postgres/0015_foreign_keys_deferred.sql")),
    (16, include_str!("migrations/postgres/0016_lookup_hash_prefix_indexes.sql")),
];

/// The migrations for `backend` ([`POSTGRES_TEXT`]).
pub(crate) fn migrator(backend: Backend) -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr;
    let migrations = MIGRATOR
        .migrations
        .iter()
        .map(|m| match POSTGRES_TEXT.iter().find(|(v, _)| *v == m.version) {
            Some((_, sql)) if backend == Backend::Postgres => {
                sqlx::migrate::Migration::new(m.version, m.description.clone(), m.migration_type, sql.into_sql_str(), m.no_tx)
            }
            _ => m.clone(),
        })
        .collect();
    sqlx::migrate::Migrator::with_migrations(migrations)
}

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
    /// The store cannot be used at all (down, refused, wrong password, a corrupt file): which
    /// store, what failed and how to check, in Chinese, then the technical cause.
    #[error("{0}")]
    Unavailable(String),
    /// The data key: missing, wrong for this store, or a value that does not open.
    #[error("{0}")]
    Key(String),
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
    /// The data key ring: card and ID numbers are sealed with it (see `keys.rs`). `None` only
    /// for a command that reads a store of an earlier release, whose values are still clear.
    keys: Option<std::sync::Arc<crate::crypto::KeyRing>>,
}

/// A change of at least this many rows counts as bulk: the planner statistics are refreshed after it.
pub const BULK_ROWS: u64 = 10_000;

/// Binds per statement stay well under SQLite's 32,766 and PostgreSQL's 65,535.
pub const MAX_BINDS: usize = 30_000;

/// How big a store's connection pool is: how many connections, and on SQLite the page cache
/// they may hold together (`[database] page_cache_mb`).
///
/// The cache is a budget, not a side effect: SQLite's cache belongs to each connection, so the
/// budget is shared out evenly — 64 MB over 4 connections is 16 MB each — and the process's
/// memory is the same whether a run opened one pooled connection or all of them, for a district
/// of a thousand grants as for a province's million. The import is what a bigger budget buys:
/// the look-up hash indexes (grants_id_key, grants_card_key, cards) grow in random order — a
/// keyed hash has no locality — so at a million grants most rows read a page back and spill one
/// to the WAL once they no longer fit (migration 0016 made the two of grants a fifth of their
/// size for that reason). Measured 2026-12-08 after 0016, a million grants' import took 57.5 s
/// with 16 MB per connection and 52.4 s with 64 MB (a 256 MB budget, 265 MB peak); the other
/// stages were as fast with the smaller cache. PostgreSQL keeps its cache in the server
/// (`shared_buffers`); there the budget does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSize {
    pub connections: u32,
    pub page_cache_mb: u32,
}

impl PoolSize {
    /// The least page cache a connection gets, whatever the budget: SQLite's own default (2 MB).
    const MIN_KIB_PER_CONNECTION: u64 = 2048;

    /// The pool `[database]` configures.
    pub fn of(db: &crate::config::DatabaseSettings) -> PoolSize {
        PoolSize { connections: db.max_connections, page_cache_mb: db.page_cache_mb }
    }

    /// `connections` with the default budget (tests, tools).
    pub fn connections(connections: u32) -> PoolSize {
        PoolSize { connections, page_cache_mb: crate::config::DEFAULT_PAGE_CACHE_MB }
    }

    /// Each connection's share of the budget, in KiB (SQLite's `cache_size = -N`).
    pub fn cache_kib_per_connection(&self) -> u64 {
        (u64::from(self.page_cache_mb) * 1024 / u64::from(self.connections.max(1))).max(Self::MIN_KIB_PER_CONNECTION)
    }
}

impl Store {
    /// The store a configuration names, for its special account: created when new (SQLite file,
    /// folder, data key), migrated, scoped to `[account] number`. Every command that changes the
    /// store, the daemon and the console open it so.
    pub async fn open(cfg: &crate::config::Config) -> Result<Store, StoreError> {
        Store::open_with(cfg, &cfg.key_options()).await
    }

    /// [`Store::open`] with other key options: the demo and the bench take only the key file
    /// beside their throw-away store ([`KeyOptions::isolated`]).
    pub async fn open_with(cfg: &crate::config::Config, keys: &KeyOptions) -> Result<Store, StoreError> {
        Ok(Store::connect(&cfg.database_url(), PoolSize::of(&cfg.database), keys).await?.scoped(&cfg.account.number))
    }

    /// The store a configuration names, which must exist already (commands that only read).
    pub async fn open_existing(cfg: &crate::config::Config) -> Result<Store, StoreError> {
        Ok(Store::connect_existing(&cfg.database_url(), PoolSize::of(&cfg.database), &cfg.key_options()).await?.scoped(&cfg.account.number))
    }

    /// Connects, creating a SQLite file (and its folder) when missing, checks the data key
    /// against the store (see `keys.rs`: a new, empty store gets a key file beside it), applies
    /// migrations, and encrypts a store of an earlier release in place.
    pub async fn connect(url: &SecretString, pool: PoolSize, keys: &KeyOptions) -> Result<Store, StoreError> {
        let raw = url.expose_secret();
        if raw.starts_with("sqlite:") {
            ensure_sqlite_folder(raw)?;
            create_private(sqlite_path(raw)).map_err(|source| StoreError::Folder { url: raw.to_string(), source })?;
        }
        Store::open_url(raw, pool, keys, true).await
    }

    /// Connects to a store that must exist already, for commands that only read: a missing
    /// SQLite file, or a PostgreSQL database without aidpay's tables, is an error that names
    /// it — never a new, empty store that would report a false all-clear.
    pub async fn connect_existing(url: &SecretString, pool: PoolSize, keys: &KeyOptions) -> Result<Store, StoreError> {
        let raw = url.expose_secret();
        if raw.starts_with("sqlite:") {
            let path = sqlite_path(raw);
            if !path.is_empty() && !path.starts_with(":memory:") && !std::path::Path::new(path).exists() {
                return Err(StoreError::Missing(format!("the store {path} does not exist")));
            }
            // Opened read-write but never created.
            let url = raw.replace("mode=rwc", "mode=rw");
            return Store::open_url(&url, pool, keys, false).await;
        }
        sqlx::any::install_default_drivers();
        probe(raw, Backend::Postgres).await?;
        let probe_pool = AnyPoolOptions::new().max_connections(1).acquire_timeout(Duration::from_secs(30)).connect(raw).await?;
        let has_schema = sqlx::query("SELECT 1 FROM _sqlx_migrations LIMIT 1").fetch_optional(&probe_pool).await.is_ok();
        probe_pool.close().await;
        if !has_schema {
            return Err(StoreError::Missing(format!("the database {} holds no aidpay store", crate::config::redact_url(raw))));
        }
        Store::open_url(raw, pool, keys, false).await
    }

    async fn open_url(raw: &str, size: PoolSize, key_options: &KeyOptions, writable: bool) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if raw.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres };
        probe(raw, backend).await?;
        // Two first starts at once (the daemon and a clerk's command) would both create the
        // schema: on SQLite, whose migrations take no lock of their own, they take turns on a
        // lock file beside the database (PostgreSQL's migrator takes an advisory lock).
        let _turn = match backend {
            Backend::Sqlite => migration_turn(sqlite_path(raw)).await?,
            Backend::Postgres => None,
        };
        let options = AnyConnectOptions::from_str(raw)?;
        let pool = AnyPoolOptions::new()
            .max_connections(size.connections)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers go on while a batch is written; FULL makes a commit
                        // survive a power cut, which "never pay twice" needs more than speed.
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        // The pool's page-cache budget, shared out (see `PoolSize`).
                        conn.execute(sqlx::AssertSqlSafe(format!("PRAGMA cache_size = -{}", size.cache_kib_per_connection()))).await?;
                    } else {
                        // No JIT compilation: PostgreSQL compiles a statement whose estimated
                        // cost passes jit_above_cost, and ours are many statements over a chunk
                        // each, with costs estimated high (a look-up's thousand probes): compiling
                        // took ~0.2 s a statement, against 5 ms to run it — three quarters of a
                        // 100,000-grant import.
                        conn.execute("SET jit = off").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        // The key is checked before the migrations write anything.
        let keys = keys::prepare(&pool, key_options, writable).await?;
        migrator(backend).run(&pool).await?;
        let store = Store { pool, backend, account: None, keys };
        store.chain_legacy_audit().await?;
        if let Some(ring) = store.ring().filter(|_| writable) {
            keys::register(&store.pool, ring).await?;
            if store.crypto_state("encrypted").await?.is_none() {
                let done = store.encrypt_pass().await?;
                if done.clear_rows > 0 {
                    tracing::warn!(rows = done.clear_rows, "card and ID numbers of an earlier release encrypted in place 已就地加密");
                }
                // Also when this start only finished a pass a kill interrupted (then it found
                // nothing clear): whatever held clear values before has grants.
                let any = sqlx::query("SELECT 1 FROM grants LIMIT 1").fetch_optional(&store.pool).await?.is_some();
                if done.clear_rows > 0 || any {
                    store.scrub_old_versions().await?;
                }
                store.set_crypto_state("encrypted", Some("1")).await?;
            }
        }
        Ok(store)
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
        Ok(StoreTx { tx, backend: self.backend, account: self.account.clone(), pending_audit: Vec::new(), keys: self.keys.clone() })
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
            built(format!("ANALYZE {}", tables.join(", "))).execute(&self.pool).await?;
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

/// Creates a new SQLite database file readable by its owner only (0600, whatever the umask);
/// SQLite gives its `-wal` and `-shm` files the database file's mode. An existing file is left
/// as it is (`status` warns when others may read it).
fn create_private(path: &str) -> std::io::Result<()> {
    if path.is_empty() || path.starts_with(":memory:") {
        return Ok(());
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    match o.open(path) {
        Ok(_) => crate::files::make_private(std::path::Path::new(path)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The SQLite database file of a URL, if it is a file (for `status`'s check of its mode).
pub fn sqlite_file(url: &SecretString) -> Option<std::path::PathBuf> {
    let raw = url.expose_secret();
    let path = sqlite_path(raw);
    (raw.starts_with("sqlite:") && !path.is_empty() && !path.starts_with(":memory:")).then(|| std::path::PathBuf::from(path))
}

/// Holds `<database>.migrate.lock` (an advisory `flock`, waited for) while a process opens the
/// SQLite store and applies migrations.
async fn migration_turn(db: &str) -> Result<Option<std::fs::File>, StoreError> {
    if db.is_empty() || db.starts_with(":memory:") {
        return Ok(None);
    }
    let path = format!("{db}.migrate.lock");
    let io = |source: std::io::Error| StoreError::Unavailable(format!("无法使用迁移锁文件 {path}: {source} (migration lock file)"));
    let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
    let file = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(|e| StoreError::Invalid(format!("migration lock: {e}")))?
        .map_err(io)?;
    Ok(Some(file))
}

/// How long a store may take to answer a first connection before it is called unavailable.
pub const PROBE_SECS: u64 = 5;

/// One connection, and one statement that reads the database, within [`PROBE_SECS`]: a store
/// that is down, refuses us or is not a database is named at once, instead of the pool's
/// "timed out" after half a minute.
async fn probe(raw: &str, backend: Backend) -> Result<(), StoreError> {
    use sqlx::Connection;
    let attempt = async {
        let mut c = sqlx::AnyConnection::connect(raw).await?;
        let check = match backend {
            // SQLite reads the file's header only at the first statement.
            Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master",
            Backend::Postgres => "SELECT 1",
        };
        sqlx::query(check).fetch_one(&mut c).await?;
        c.close().await
    };
    match tokio::time::timeout(Duration::from_secs(PROBE_SECS), attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(StoreError::Unavailable(describe_unavailable(raw, backend, Some(&e)))),
        Err(_) => Err(StoreError::Unavailable(describe_unavailable(raw, backend, None))),
    }
}

/// Host and port of a `postgres://user@host:port/db` URL, for the `pg_isready` hint.
fn pg_host_port(raw: &str) -> (String, String) {
    let rest = raw.split_once("://").map(|(_, r)| r).unwrap_or(raw);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    match hostport.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => (h.to_string(), p.to_string()),
        _ => (if hostport.is_empty() { "localhost".into() } else { hostport.to_string() }, "5432".into()),
    }
}

/// The message for a store that cannot be used: which store, what failed, how to check.
fn describe_unavailable(raw: &str, backend: Backend, e: Option<&sqlx::Error>) -> String {
    let cause = e.map(|e| e.to_string()).unwrap_or_else(|| format!("no answer within {PROBE_SECS} s"));
    let code = e.and_then(|e| e.as_database_error()).and_then(|d| d.code()).map(|c| c.into_owned()).unwrap_or_default();
    let io_kind = match e {
        Some(sqlx::Error::Io(io)) => Some(io.kind()),
        _ => None,
    };
    match backend {
        Backend::Postgres => {
            let (host, port) = pg_host_port(raw);
            let store = format!("PostgreSQL 数据库 {}", crate::config::redact_url(raw));
            let (what, check) = match (io_kind, code.as_str()) {
                (Some(std::io::ErrorKind::ConnectionRefused), _) => (
                    "连接被拒绝：数据库服务没有运行，或地址、端口不对".to_string(),
                    format!("pg_isready -h {host} -p {port}；systemctl status postgresql；核对配置 database.url"),
                ),
                (_, "28P01" | "28000") => (
                    "认证失败：用户名或密码不对，或 pg_hba.conf 不允许此连接".to_string(),
                    format!("psql -h {host} -p {port} -U <用户> 试登录；核对 database.url 与密码（凭据文件 aidpay_database_password）"),
                ),
                (_, "3D000") => ("数据库不存在".to_string(), format!("psql -h {host} -p {port} -l 查看已有数据库；核对 database.url")),
                _ if e.is_none() => (
                    format!("{PROBE_SECS} 秒内没有应答（网络不通、防火墙或数据库过载）"),
                    format!("pg_isready -h {host} -p {port}；检查网络与防火墙"),
                ),
                _ => ("无法连接".to_string(), format!("pg_isready -h {host} -p {port}；查看 PostgreSQL 日志")),
            };
            format!("存储不可用 — {store}：{what}。请检查：{check}。(store unavailable: {cause})")
        }
        Backend::Sqlite => {
            let path = sqlite_path(raw);
            let store = format!("SQLite 数据库文件 {path}");
            let (what, check) = match code.as_str() {
                "26" | "11" => (
                    "文件已损坏或不是 SQLite 数据库".to_string(),
                    format!("sqlite3 {path} 'PRAGMA integrity_check'；若已损坏，请停止 aidpay 并从备份恢复该文件"),
                ),
                "14" => ("无法打开文件（路径不存在或没有权限）".to_string(), format!("ls -l {path}；检查运行 aidpay 的用户对该文件及目录的权限")),
                "5" | "6" => ("数据库被另一个进程长时间锁住".to_string(), format!("fuser {path}；查看是否有卡住的 aidpay 进程")),
                _ if e.is_none() => (format!("{PROBE_SECS} 秒内没有应答（文件被锁或磁盘无响应）"), format!("fuser {path}；检查磁盘")),
                _ => ("无法打开".to_string(), format!("sqlite3 {path} 'PRAGMA integrity_check'；ls -l {path}")),
            };
            format!("存储不可用 — {store}：{what}。请检查：{check}。(store unavailable: {cause})")
        }
    }
}

/// A transaction on the store, with the operations of the modules beside this one.
pub struct StoreTx {
    pub(crate) tx: sqlx::Transaction<'static, Any>,
    pub(crate) backend: Backend,
    pub(crate) account: Option<String>,
    /// Audit lines of this transaction, chained and written at commit ([`audit`]).
    pub(crate) pending_audit: Vec<audit::PendingAudit>,
    pub(crate) keys: Option<std::sync::Arc<crate::crypto::KeyRing>>,
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

    /// `clear` sealed for `purpose` (see `keys.rs`).
    pub(crate) fn seal(&self, purpose: &str, clear: &str) -> Result<String, StoreError> {
        keys::seal(self.keys.as_deref(), purpose, clear)
    }

    /// A stored value opened.
    pub(crate) fn unseal(&self, purpose: &str, stored: String) -> Result<String, StoreError> {
        keys::unseal(self.keys.as_deref(), purpose, stored)
    }

    /// The look-up hash of a clear value.
    pub(crate) fn lookup(&self, purpose: &str, clear: &str) -> Result<String, StoreError> {
        keys::lookup(self.keys.as_deref(), purpose, clear)
    }

    /// Commits, appending the transaction's audit lines to the chain first.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        self.flush_audit().await?;
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
            sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock($1)) AS l").bind(i64::from_be_bytes(first)).execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Takes `n` ids for `table`: unique across every process and district of the store, in
    /// increasing order, in one or more runs of consecutive values (gaps are fine).
    ///
    /// SQLite: from `id_counters`, inside the caller's transaction — which holds the database's
    /// one write lock anyway — so a rolled-back import gives its ids back and they come as one run.
    ///
    /// PostgreSQL: from the counter's SEQUENCE `id_seq_<table>` (migration 0011). The counter
    /// row was a row lock every importing and batching transaction of every district took and
    /// held until it committed, so two districts' imports ran one after the other. `nextval`
    /// is not transactional and holds no lock past the call: ids of a rolled-back transaction
    /// are lost (a gap), and two districts taking ids at the same moment may interleave, hence
    /// the runs. One statement whatever `n`: the values, folded into runs by the database.
    pub async fn alloc_ids(&mut self, table: &'static str, n: i64) -> Result<Ids, StoreError> {
        if n <= 0 {
            return Ok(Ids { runs: Vec::new() });
        }
        match self.backend {
            Backend::Sqlite => {
                let row = sqlx::query("UPDATE id_counters SET next_id = next_id + $1 WHERE name = $2 RETURNING next_id")
                    .bind(n)
                    .bind(table)
                    .fetch_one(&mut *self.tx)
                    .await?;
                let next: i64 = row.try_get("next_id")?;
                Ok(Ids { runs: vec![(next - n, n)] })
            }
            Backend::Postgres => {
                let rows = built(format!(
                    "SELECT CAST(MIN(v) AS BIGINT) AS first, CAST(COUNT(*) AS BIGINT) AS n FROM \
                     (SELECT v, v - ROW_NUMBER() OVER (ORDER BY v) AS run FROM \
                      (SELECT nextval('{}') AS v FROM generate_series(1, $1)) AS taken) AS numbered \
                     GROUP BY run ORDER BY first",
                    sequence_name(table)?
                ))
                .bind(n)
                .fetch_all(&mut *self.tx)
                .await?;
                let runs = rows.iter().map(|r| Ok((r.try_get("first")?, r.try_get("n")?))).collect::<Result<Vec<(i64, i64)>, sqlx::Error>>()?;
                let ids = Ids { runs };
                if ids.len() as i64 != n {
                    return Err(StoreError::Invalid(format!("{table}: {} ids taken of {n}", ids.len())));
                }
                Ok(ids)
            }
        }
    }

    /// Takes one id for `table` ([`StoreTx::alloc_ids`]).
    pub async fn alloc_id(&mut self, table: &'static str) -> Result<i64, StoreError> {
        let ids = self.alloc_ids(table, 1).await?;
        ids.iter().next().ok_or_else(|| StoreError::Invalid(format!("{table}: no id taken")))
    }

    /// Appends a line to the audit trail — the only way one is written. The line is chained
    /// (its seq, prev_hash and hash) when the transaction commits, and vanishes with a rollback.
    pub async fn audit(&mut self, e: &AuditEntry<'_>) -> Result<(), StoreError> {
        self.queue_audit(e);
        Ok(())
    }
}

/// Ids from [`StoreTx::alloc_ids`]: increasing, in runs of consecutive values `(first, count)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    runs: Vec<(i64, i64)>,
}

impl Ids {
    /// How many ids.
    pub fn len(&self) -> usize {
        self.runs.iter().map(|&(_, n)| n as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        self.runs.iter().flat_map(|&(first, n)| first..first + n)
    }
}

/// A statement that writes many rows, as it is run on `backend`: on SQLite its first words
/// say `OR FAIL` (`INSERT OR FAIL INTO …`, `UPDATE OR FAIL …`); PostgreSQL has no such clause
/// and gets `sql` as it is.
///
/// SQLite's default for a broken constraint, `ABORT`, undoes the statement's own rows and
/// leaves the transaction's earlier ones standing; to be able to, a statement writing several
/// rows first copies every existing page it changes into a statement journal (a temporary
/// file): at 300,000 grants the import wrote twice as many pages there as into the WAL.
/// `FAIL` stops at the broken row and keeps the statement's rows before it, which is safe here
/// because the store's writes never go on after an error: the transaction is rolled back
/// whole. An immediate foreign key needs the journal whatever the statement says, which is why
/// the tables written in bulk have theirs deferred (migration 0015).
pub(crate) fn or_fail(backend: Backend, sql: &str) -> std::borrow::Cow<'_, str> {
    if backend == Backend::Sqlite {
        for verb in ["INSERT ", "UPDATE "] {
            if let Some(rest) = sql.strip_prefix(verb) {
                return format!("{verb}OR FAIL {rest}").into();
            }
        }
    }
    sql.into()
}

/// The PostgreSQL sequence of an id counter (migration 0011). A counter added later needs its
/// sequence in the same migration that adds its `id_counters` row (`migrations/postgres/`).
fn sequence_name(table: &str) -> Result<String, StoreError> {
    if table.is_empty() || !table.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return Err(StoreError::Invalid(format!("no id counter may be called {table:?}")));
    }
    Ok(format!("id_seq_{table}"))
}

/// A statement whose text is built at run time — an IN-list or multi-row VALUES of a chunk's
/// length, a console filter — prepared for this one execution and not kept.
///
/// sqlx keeps up to 100 prepared statements per connection; ours differ with every list length,
/// and one with a thousand values is a few hundred KB of SQLite's memory (its program and
/// constants). Kept, they held ~30 MB at a time across the pool — half as much again as the
/// page-cache budget — and grew with the pool, not with the work. Preparing one again costs far
/// less than running it over a chunk.
pub(crate) fn built<'q>(sql: String) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false)
}

/// `($1, $2, …), ($k+1, …)` for a multi-row insert of `rows` rows of `cols` values.
///
/// On SQLite the placeholders are anonymous `?`: SQLite looks a numbered parameter's name up in
/// a linear list, which makes binding n `$N` parameters O(n²) — 100 s instead of 3 s for
/// 100,000 grants. PostgreSQL only takes `$N`.
pub(crate) fn values_placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    values_placeholders_from(backend, 1, rows, cols)
}

/// [`values_placeholders`] numbered from `first`.
pub(crate) fn values_placeholders_from(backend: Backend, first: usize, rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    let mut n = first;
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

/// A long list of values cut for `IN (…)` lists: chunks of at most `per` values, each with its
/// list of placeholders numbered from `first` (the statement's other parameters take `1..first`).
/// The one loop behind every "these ids, however many" statement; an empty list gives none.
pub(crate) fn in_chunks<T>(backend: Backend, items: &[T], per: usize, first: usize) -> impl Iterator<Item = (&[T], String)> {
    in_chunks_after(backend, items, per, move |_| first)
}

/// [`in_chunks`] for a statement whose parameters before the list depend on the chunk's length
/// (`first(len)` is the number of the list's first placeholder).
pub(crate) fn in_chunks_after<T>(backend: Backend, items: &[T], per: usize, first: impl Fn(usize) -> usize) -> impl Iterator<Item = (&[T], String)> {
    items.chunks(per).map(move |c| (c, in_placeholders(backend, first(c.len()), c.len())))
}

/// A look-up of an account's rows by a chunk of key values: `SELECT {cols} FROM {from} WHERE
/// {account} = (the account, the first parameter) AND {also} AND {key} IN (…the values…)`.
///
/// On SQLite that is the statement. On PostgreSQL an `IN` list is planned from statistics,
/// and the look-ups that need it most meet none: a district's first import or batch fills the
/// table in one transaction, which `ANALYZE` cannot see into. PostgreSQL then takes the list to
/// match nearly every row (a thousand values at the default 0.5 % each) and walks the account's
/// whole index range per chunk: quadratic (a million grants did not import in 8 minutes). So
/// on PostgreSQL each value is probed on its own, `(VALUES …) CROSS JOIN LATERAL (SELECT … WHERE
/// {key} = v.k OFFSET 0)`, on an index that begins with the key (migration 0012); the
/// `OFFSET 0` keeps the probe from being flattened into a hash join that reads the account's
/// rows again, and the account is compared after the probe: in the probe's condition it let
/// PostgreSQL take an index with the account alone whenever the district looked rare (a second
/// district on a table analysed with the first one's rows: one probe walked 100,000 rows). The
/// values go as one array parameter (`unnest($2::text[])`, as [`bulk`] inserts do), so the
/// statement's text is the same for every chunk and is parsed and planned once per connection.
///
/// A key that is a look-up hash has, on SQLite, an index of its first 64 bits alone
/// ([`ByKeys::prefix_index`], migration 0016): the look-up goes through it by name and compares
/// the account on the row; the caller compares the whole hash, so that a grant whose hash only
/// begins the same is set aside.
pub(crate) struct ByKeys {
    /// The columns (expressions over `from`) each found row gives.
    pub cols: &'static str,
    /// The table, with its alias if the other parts use one.
    pub from: &'static str,
    /// The account column.
    pub account: &'static str,
    /// Further conditions without parameters (`""`: none).
    pub also: &'static str,
    /// The column the values are compared with.
    pub key: &'static str,
    /// On SQLite, the index of `unhex(substr(key, 1, 16))` the look-up takes, where the key is
    /// a look-up hash (`None`: an index that begins with the account and the key).
    pub prefix_index: Option<&'static str>,
}

impl ByKeys {
    /// The statement for `n` values: the account is parameter 1, the values 2 to n + 1 (on
    /// PostgreSQL parameter 2, an array of them, whatever `n`).
    pub(crate) fn sql(&self, backend: Backend, n: usize) -> String {
        let ByKeys { cols, from, account, also, key, prefix_index } = self;
        let also = if also.is_empty() { String::new() } else { format!(" AND {also}") };
        match (backend, prefix_index) {
            (Backend::Sqlite, None) => format!("SELECT {cols} FROM {from} WHERE {account} = ?{also} AND {key} IN ({})", in_placeholders(backend, 2, n)),
            (Backend::Sqlite, Some(index)) => {
                let mut prefixes = String::with_capacity(n * 24);
                for i in 2..2 + n {
                    if i > 2 {
                        prefixes.push(',');
                    }
                    prefixes.push_str("unhex(substr(");
                    push_placeholder(&mut prefixes, backend, i);
                    prefixes.push_str(", 1, 16))");
                }
                format!("SELECT {cols} FROM {from} INDEXED BY {index} WHERE {account} = ?{also} AND unhex(substr({key}, 1, 16)) IN ({prefixes})")
            }
            (Backend::Postgres, _) => format!(
                "SELECT l.* FROM unnest($2::text[]) AS v(k) CROSS JOIN LATERAL (SELECT {cols}, {account} AS keyed_account FROM {from} \
                 WHERE {key} = v.k{also} OFFSET 0) AS l WHERE l.keyed_account = $1"
            ),
        }
    }
}

impl StoreTx {
    /// The rows `look` finds for these keys of `account`, every chunk's (see [`ByKeys`]).
    pub(crate) async fn by_keys<K: AsRef<str>>(&mut self, look: &ByKeys, account: &str, keys: &[K]) -> Result<Vec<sqlx::any::AnyRow>, StoreError> {
        let mut rows = Vec::new();
        if keys.is_empty() {
            return Ok(rows);
        }
        for chunk in keys.chunks(MAX_BINDS / 2) {
            // On PostgreSQL the same text for every chunk, kept prepared ([`keyed`]).
            let q = bind_keys(self.backend, keyed(self.backend, look.sql(self.backend, chunk.len())).bind(account.to_string()), chunk);
            rows.extend(q.fetch_all(&mut *self.tx).await?);
        }
        Ok(rows)
    }
}

/// `{col} IN (…)` for a chunk of `n` text keys whose first parameter is number `first`: on
/// SQLite one `?` per key; on PostgreSQL `{col} = ANY(${first}::text[])`, the keys as one array
/// ([`bind_keys`]), so that the statement's text is the same for every chunk and is kept
/// prepared ([`keyed`]) instead of parsed and planned anew for each list of a new length.
pub(crate) fn keys_condition(backend: Backend, col: &str, first: usize, n: usize) -> String {
    match backend {
        Backend::Sqlite => format!("{col} IN ({})", in_placeholders(backend, first, n)),
        Backend::Postgres => format!("{col} = ANY(${first}::text[])"),
    }
}

/// Binds the keys of a [`keys_condition`].
pub(crate) fn bind_keys<'q, K: AsRef<str>>(
    backend: Backend,
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    keys: &[K],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    match backend {
        Backend::Sqlite => {
            for k in keys {
                q = q.bind(k.as_ref().to_string());
            }
            q
        }
        Backend::Postgres => q.bind(bulk::text_array(keys)),
    }
}

/// A statement with a [`keys_condition`]: prepared for this one execution on SQLite, whose text
/// differs with the list's length ([`built`]); kept prepared on PostgreSQL, whose text does not.
pub(crate) fn keyed<'q>(backend: Backend, sql: String) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(backend == Backend::Postgres)
}

/// Rows cut for multi-row inserts of `cols` values each: chunks that stay under [`MAX_BINDS`],
/// each with its `VALUES` placeholders ([`values_placeholders`]); no rows give none.
pub(crate) fn value_chunks<T>(backend: Backend, rows: &[T], cols: usize) -> impl Iterator<Item = (&[T], String)> {
    rows.chunks(MAX_BINDS / cols).map(move |c| (c, values_placeholders(backend, c.len(), cols)))
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

/// Reads a state column into its enum ([`crate::domain::state`]): the one place stored state text
/// becomes a type. A text that names no state is a damaged store, and said so.
pub(crate) fn state<S, I>(row: &sqlx::any::AnyRow, column: I) -> Result<S, StoreError>
where
    S: crate::domain::StateText,
    I: sqlx::ColumnIndex<sqlx::any::AnyRow> + std::fmt::Debug + Copy,
{
    let text: String = row.try_get(column)?;
    S::from_text(&text).ok_or_else(|| StoreError::Invalid(format!("存储中的 {} 状态无法识别 ({column:?} = {text:?})", S::WHAT)))
}

/// A nullable state column (a resolution not made yet).
pub(crate) fn state_opt<S, I>(row: &sqlx::any::AnyRow, column: I) -> Result<Option<S>, StoreError>
where
    S: crate::domain::StateText,
    I: sqlx::ColumnIndex<sqlx::any::AnyRow> + std::fmt::Debug + Copy,
{
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| S::from_text(&t).ok_or_else(|| StoreError::Invalid(format!("存储中的 {} 状态无法识别 ({column:?} = {t:?})", S::WHAT)))).transpose()
}

/// `'a', 'b'` for states written into a statement's text (they are fixed words, never input).
pub(crate) fn state_list<S: crate::domain::StateText>(states: &[S]) -> String {
    states.iter().map(|s| format!("'{}'", s.as_text())).collect::<Vec<_>>().join(", ")
}

/// The time now in China (UTC+8, no daylight saving), as stored: `2026-11-25T19:55:00+08:00`.
pub fn now_text() -> String {
    crate::clock::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every look-up by key finds its rows through an index on the account and the key (SQLite's
    /// plan of the statement, on the real schema), never by walking the account. PostgreSQL's
    /// probes: tests/concurrency.rs, `a_districts_first_import_and_batch_probe_each_key_…`.
    #[tokio::test]
    async fn look_ups_by_key_take_the_keys_index_on_sqlite() {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect("sqlite::memory:").await.unwrap();
        MIGRATOR.run(&pool).await.unwrap();
        for (look, index) in [
            (&grants::KNOWN_GRANTS, "(account_no=? AND grant_id=?)"),
            (&grants::GRANTS_BY_CARDS, "grants_card_key (<expr>=?)"),
            (&grants::GRANTS_OF_STUDENTS, "grants_id_key (<expr>=?)"),
            (&grants::GRANTS_TO_PAY, "(account_no=? AND grant_id=?)"),
            (&payments::ATTEMPTS_OF_GRANTS, "(account_no=? AND grant_id=?)"),
        ] {
            let mut q = built(format!("EXPLAIN QUERY PLAN {}", look.sql(Backend::Sqlite, 1000))).bind("130100000012345678");
            for i in 0..1000 {
                q = q.bind(format!("K{i:012}"));
            }
            let plan: Vec<String> = q.fetch_all(&pool).await.unwrap().iter().map(|r| r.try_get::<String, _>(3).unwrap()).collect();
            let first = &plan[0];
            assert!(first.contains(index) && !first.contains("SCAN"), "{}: {plan:?}", look.key);
            // A grant's state (`grant_states`), where it is asked for, by the grant's key.
            assert!(plan.iter().all(|step| !step.contains("SCAN")), "{}: {plan:?}", look.key);
        }
    }

    #[test]
    fn postgres_probes_each_key_on_its_own() {
        let sql = grants::GRANTS_OF_STUDENTS.sql(Backend::Postgres, 2);
        // One array of the keys, whatever their number: the same text for every chunk.
        assert_eq!(sql, grants::GRANTS_OF_STUDENTS.sql(Backend::Postgres, 1000));
        assert_eq!(
            sql,
            "SELECT l.* FROM unnest($2::text[]) AS v(k) CROSS JOIN LATERAL (SELECT g.id_hash, g.program, g.period, g.grant_id, g.account_no AS keyed_account \
             FROM grants g WHERE g.id_hash = v.k AND (SELECT s.status FROM grant_states s WHERE s.account_no = g.account_no AND s.grant_id = g.grant_id) \
             <> 'cancelled' OFFSET 0) AS l WHERE l.keyed_account = $1"
        );
    }

    #[test]
    fn the_page_cache_budget_is_shared_out_among_the_connections() {
        assert_eq!(PoolSize { connections: 4, page_cache_mb: 64 }.cache_kib_per_connection(), 16 * 1024);
        assert_eq!(PoolSize { connections: 1, page_cache_mb: 64 }.cache_kib_per_connection(), 64 * 1024);
        // Never below SQLite's own default, however many connections share a small budget.
        assert_eq!(PoolSize { connections: 64, page_cache_mb: 8 }.cache_kib_per_connection(), 2048);
    }

    /// A fresh SQLite store in `dir` (`s.db`, its data key beside it), for the store's own tests.
    pub(super) async fn sqlite_store(dir: &std::path::Path, size: PoolSize) -> Store {
        let url = SecretString::from(format!("sqlite://{}?mode=rwc", dir.join("s.db").display()));
        let keys = KeyOptions { data_key_file: None, beside_store: Some(dir.join("s.db.data_key")), isolated: true };
        Store::connect(&url, size, &keys).await.unwrap()
    }

    #[tokio::test]
    async fn every_pooled_sqlite_connection_gets_its_share_of_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite_store(dir.path(), PoolSize { connections: 3, page_cache_mb: 30 }).await;
        // Three connections at once, so the pool opens all of them.
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(store.pool.acquire().await.unwrap());
        }
        for conn in &mut held {
            let kib: i64 = sqlx::query_scalar("PRAGMA cache_size").fetch_one(&mut **conn).await.unwrap();
            assert_eq!(kib, -10 * 1024);
        }
    }

    #[test]
    fn bulk_writes_say_or_fail_on_sqlite_only() {
        assert_eq!(or_fail(Backend::Sqlite, "INSERT INTO t (a) VALUES (?)"), "INSERT OR FAIL INTO t (a) VALUES (?)");
        assert_eq!(or_fail(Backend::Sqlite, "UPDATE t SET a = 1 WHERE b IN (?)"), "UPDATE OR FAIL t SET a = 1 WHERE b IN (?)");
        assert_eq!(or_fail(Backend::Postgres, "UPDATE t SET a = 1"), "UPDATE t SET a = 1");
        // Anything else is left as it is.
        assert_eq!(or_fail(Backend::Sqlite, "SELECT 1"), "SELECT 1");
    }

    #[test]
    fn placeholders() {
        assert_eq!(values_placeholders(Backend::Postgres, 2, 3), "($1,$2,$3),($4,$5,$6)");
        assert_eq!(values_placeholders(Backend::Sqlite, 2, 2), "(?,?),(?,?)");
        assert_eq!(in_placeholders(Backend::Postgres, 3, 2), "$3,$4");
    }

    #[test]
    fn chunks_with_their_lists() {
        let ids = [1, 2, 3, 4, 5];
        let got: Vec<(&[i32], String)> = in_chunks(Backend::Postgres, &ids, 2, 3).collect();
        assert_eq!(got, vec![(&ids[0..2], "$3,$4".to_string()), (&ids[2..4], "$3,$4".to_string()), (&ids[4..], "$3".to_string())]);
        let got: Vec<String> = in_chunks_after(Backend::Postgres, &ids, 3, |n| 2 * n + 1).map(|(_, l)| l).collect();
        assert_eq!(got, vec!["$7,$8,$9", "$5,$6"]);
        assert_eq!(in_chunks(Backend::Sqlite, &ids, 5, 2).map(|(_, l)| l).collect::<Vec<_>>(), vec!["?,?,?,?,?"]);
        assert_eq!(in_chunks(Backend::Sqlite, &[] as &[i32], 5, 1).count(), 0);
        let rows: Vec<u8> = vec![0; MAX_BINDS / 3 + 1];
        let got: Vec<(usize, usize)> = value_chunks(Backend::Sqlite, &rows, 3).map(|(c, v)| (c.len(), v.matches('(').count())).collect();
        assert_eq!(got, vec![(MAX_BINDS / 3, MAX_BINDS / 3), (1, 1)]);
    }
}
