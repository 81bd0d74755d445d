//! One daemon per special account: the daemon pays from the account only while it holds its lock.
//!
//! - SQLite: an advisory file lock (`flock`, through `File::try_lock`) on a file next to the
//!   database (`<database file>.lock`, or `daemon.lock_file`), with the holder's pid written in it.
//! - PostgreSQL: `pg_try_advisory_lock(key)`, the key derived from the account number, held on a
//!   dedicated connection for the daemon's whole life. The connection's `application_name`
//!   carries the daemon's pid, so a second instance can say who holds the lock.
//!
//! Both locks vanish with the process (a crash, `kill -9`): no stale lock to clean up by hand.

use crate::config::Config;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use sqlx::Connection;
use std::io::{Read, Seek, Write};
use std::path::PathBuf;

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another aidpay daemon pays from account {account}: the lock {what} is held{holder}")]
    Held { account: String, what: String, holder: String },
    #[error("lock file {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("PostgreSQL advisory lock: {0}")]
    Db(#[from] sqlx::Error),
}

/// The lock, held until dropped (or [`InstanceLock::release`]).
pub enum InstanceLock {
    File { file: std::fs::File, path: PathBuf },
    Advisory { conn: sqlx::PgConnection, key: i64 },
}

impl std::fmt::Debug for InstanceLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.describe())
    }
}

impl InstanceLock {
    /// What the lock is, for logs and messages.
    pub fn describe(&self) -> String {
        match self {
            InstanceLock::File { path, .. } => format!("lock file {}", path.display()),
            InstanceLock::Advisory { key, .. } => format!("PostgreSQL advisory lock {key}"),
        }
    }

    /// Lets the lock go (the process ending does the same).
    pub async fn release(self) {
        match self {
            InstanceLock::File { file, .. } => {
                // Emptied first, so the file names no holder once there is none.
                let _ = file.set_len(0);
                let _ = file.unlock();
            }
            InstanceLock::Advisory { mut conn, key } => {
                let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(key).execute(&mut conn).await;
                let _ = conn.close().await;
            }
        }
    }

    /// Checks the lock is still ours (the PostgreSQL connection can break).
    pub async fn check(&mut self) -> Result<(), LockError> {
        match self {
            InstanceLock::File { .. } => Ok(()),
            InstanceLock::Advisory { conn, .. } => Ok(conn.ping().await?),
        }
    }
}

/// The advisory-lock key of a special account: the first 8 bytes of SHA-256("aidpay:" + number).
pub fn advisory_key(account: &str) -> i64 {
    let digits: String = account.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    let h = Sha256::digest(format!("aidpay:{digits}").as_bytes());
    i64::from_be_bytes(h[..8].try_into().expect("8 bytes"))
}

/// The lock file used with SQLite.
pub fn lock_file_path(cfg: &Config) -> PathBuf {
    if let Some(p) = &cfg.daemon.lock_file {
        return p.clone();
    }
    let url = cfg.database.url.trim();
    let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = path.split('?').next().unwrap_or("");
    if path.is_empty() || path.starts_with(":memory:") {
        return cfg.paths.outbox.join("aidpay.lock");
    }
    PathBuf::from(format!("{path}.lock"))
}

/// Tries once to take the special account's lock.
pub async fn try_acquire(cfg: &Config) -> Result<InstanceLock, LockError> {
    if cfg.database.url.trim().starts_with("sqlite:") { try_file(cfg) } else { try_advisory(cfg).await }
}

fn try_file(cfg: &Config) -> Result<InstanceLock, LockError> {
    let path = lock_file_path(cfg);
    let io = |source| LockError::Io { path: path.display().to_string(), source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => {
            let text = format!("pid {}\naccount {}\nsince {}\n", std::process::id(), cfg.account.number, crate::scheduler::wall_clock_text());
            file.set_len(0).and_then(|_| file.rewind()).and_then(|_| file.write_all(text.as_bytes())).and_then(|_| file.sync_data()).map_err(io)?;
            Ok(InstanceLock::File { file, path })
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut held = String::new();
            let _ = file.read_to_string(&mut held);
            let pid = held.lines().find_map(|l| l.strip_prefix("pid ")).map(str::trim).unwrap_or("?");
            Err(LockError::Held {
                account: cfg.account.number.clone(),
                what: format!("file {}", path.display()),
                holder: format!(" by process {pid}"),
            })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

async fn try_advisory(cfg: &Config) -> Result<InstanceLock, LockError> {
    let key = advisory_key(&cfg.account.number);
    let url = cfg.database_url();
    let options: sqlx::postgres::PgConnectOptions = url.expose_secret().parse()?;
    let options = options.application_name(&format!("aidpay run pid {}", std::process::id()));
    let mut conn = sqlx::PgConnection::connect_with(&options).await?;
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(key).fetch_one(&mut conn).await?;
    if got {
        return Ok(InstanceLock::Advisory { conn, key });
    }
    // Who holds it: a bigint key is classid (high 32 bits) and objid (low 32 bits), objsubid 1.
    let holder: Option<(i32, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT a.pid, a.application_name, host(a.client_addr) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND l.classid = (($1 >> 32) & 4294967295)::bigint::oid AND l.objid = ($1 & 4294967295)::bigint::oid LIMIT 1",
    )
    .bind(key)
    .fetch_optional(&mut conn)
    .await
    .unwrap_or(None);
    let _ = conn.close().await;
    let holder = match holder {
        Some((pid, app, host)) => format!(
            " by PostgreSQL session {pid} ({}{})",
            app.filter(|a| !a.is_empty()).unwrap_or_else(|| "no application name".into()),
            host.map(|h| format!(", from {h}")).unwrap_or_default()
        ),
        None => String::new(),
    };
    Err(LockError::Held { account: cfg.account.number.clone(), what: format!("PostgreSQL advisory lock {key}"), holder })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_depends_on_the_account_only() {
        assert_eq!(advisory_key("1301 0000 1234"), advisory_key("130100001234"));
        assert_ne!(advisory_key("130100001234"), advisory_key("130100001235"));
    }
}
