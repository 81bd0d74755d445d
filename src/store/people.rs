//! The people who act and their console sessions, per special account.
//!
//! The rules of who may do what are enforced here, in the statements themselves, not only by the
//! pages and commands that call them: a decision is recorded only `WHERE` the deciding user
//! exists, is enabled and holds the role (see [`super::approvals`]).

use super::{Store, StoreError, StoreTx, built, now_text};
use crate::domain::Role;
use sqlx::Row;

/// A user as stored (without the password hash).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UserRow {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub disabled: bool,
    pub failed_logins: i64,
    /// Unix seconds until which the user is locked out, if locked.
    pub locked_until: Option<i64>,
}

/// A user with what logging in needs.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: UserRow,
    pub password_hash: String,
}

/// A console session as stored.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub username: String,
    pub csrf_token: String,
    pub last_seen_at: i64,
}

fn user_row(r: &sqlx::any::AnyRow) -> Result<UserRow, StoreError> {
    let role: String = r.try_get("role")?;
    let disabled: i64 = r.try_get("disabled")?;
    Ok(UserRow {
        username: r.try_get("username")?,
        display_name: r.try_get("display_name")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Invalid(format!("user with unknown role {role:?}")))?,
        disabled: disabled != 0,
        failed_logins: r.try_get("failed_logins")?,
        locked_until: r.try_get("locked_until")?,
    })
}

const USER_COLS: &str = "username, display_name, role, disabled, failed_logins, locked_until";

impl StoreTx {
    /// Adds a user; `false` when the name is taken.
    pub async fn insert_user(&mut self, username: &str, display_name: &str, role: Role, password_hash: &str) -> Result<bool, StoreError> {
        let now = now_text();
        let n = sqlx::query(
            "INSERT INTO users (account_no, username, display_name, role, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account_no, username) DO NOTHING",
        )
        .bind(self.account_no().to_string())
        .bind(username)
        .bind(display_name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(now.as_str())
        .bind(now.as_str())
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// A user with their password hash, if they exist.
    pub async fn credentials(&mut self, username: &str) -> Result<Option<Credentials>, StoreError> {
        let sql = format!("SELECT {USER_COLS}, password_hash FROM users WHERE account_no = $1 AND username = $2");
        let row = built(sql)
            .bind(self.account_no().to_string())
            .bind(username)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| Ok(Credentials { user: user_row(&r)?, password_hash: r.try_get("password_hash")? })).transpose()
    }

    /// Records a wrong password: counts it, and locks the user until `lock_until` when this
    /// is the `lock_after`-th in a row. Returns the count now.
    pub async fn login_failed(&mut self, username: &str, lock_after: i64, lock_until: i64) -> Result<i64, StoreError> {
        sqlx::query(
            "UPDATE users SET failed_logins = failed_logins + 1, \
             locked_until = CASE WHEN failed_logins + 1 >= $1 THEN $2 ELSE locked_until END, updated_at = $3 \
             WHERE account_no = $4 AND username = $5",
        )
        .bind(lock_after)
        .bind(lock_until)
        .bind(now_text())
        .bind(self.account_no().to_string())
        .bind(username)
        .execute(&mut *self.tx)
        .await?;
        Ok(self.credentials(username).await?.map(|c| c.user.failed_logins).unwrap_or(0))
    }

    /// A successful login: the count of wrong passwords starts again, any lock is lifted.
    pub async fn login_succeeded(&mut self, username: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL, updated_at = $1 WHERE account_no = $2 AND username = $3")
            .bind(now_text())
            .bind(self.account_no().to_string())
            .bind(username)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Sets a user's password hash (and lifts a lock); `false` when there is no such user.
    pub async fn set_password(&mut self, username: &str, password_hash: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE users SET password_hash = $1, failed_logins = 0, locked_until = NULL, updated_at = $2 WHERE account_no = $3 AND username = $4",
        )
        .bind(password_hash)
        .bind(now_text())
        .bind(self.account_no().to_string())
        .bind(username)
        .execute(&mut *self.tx)
        .await?
        .rows_affected()
            == 1)
    }

    /// Disables a user and ends their sessions; `false` when there is no such user.
    pub async fn disable_user(&mut self, username: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("UPDATE users SET disabled = 1, updated_at = $1 WHERE account_no = $2 AND username = $3")
            .bind(now_text())
            .bind(self.account_no().to_string())
            .bind(username)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM sessions WHERE account_no = $1 AND username = $2")
            .bind(self.account_no().to_string())
            .bind(username)
            .execute(&mut *self.tx)
            .await?;
        Ok(n == 1)
    }

    /// How many enabled users of a role there are.
    pub async fn count_users(&mut self, role: Role) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM users WHERE account_no = $1 AND role = $2 AND disabled = 0")
            .bind(self.account_no().to_string())
            .bind(role.as_str())
            .fetch_one(&mut *self.tx)
            .await?
            .try_get("n")?)
    }

    /// Starts a session (the token's hash and the CSRF token), at `now` (Unix seconds).
    pub async fn insert_session(&mut self, token_sha256: &str, username: &str, csrf: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (token_sha256, account_no, username, csrf_token, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_sha256)
        .bind(self.account_no().to_string())
        .bind(username)
        .bind(csrf)
        .bind(now)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// A session by its token's hash.
    pub async fn session(&mut self, token_sha256: &str) -> Result<Option<SessionRow>, StoreError> {
        let row = sqlx::query("SELECT username, csrf_token, last_seen_at FROM sessions WHERE token_sha256 = $1 AND account_no = $2")
            .bind(token_sha256)
            .bind(self.account_no().to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| Ok(SessionRow { username: r.try_get("username")?, csrf_token: r.try_get("csrf_token")?, last_seen_at: r.try_get("last_seen_at")? }))
            .transpose()
    }

    pub async fn touch_session(&mut self, token_sha256: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_sha256 = $2")
            .bind(now)
            .bind(token_sha256)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn delete_session(&mut self, token_sha256: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1").bind(token_sha256).execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Removes sessions idle since before `idle_before` (Unix seconds).
    pub async fn expire_sessions(&mut self, idle_before: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1").bind(idle_before).execute(&mut *self.tx).await?.rows_affected())
    }
}

impl Store {
    /// This account's users, by name.
    pub async fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE account_no = $1 ORDER BY username");
        let rows = built(sql).bind(self.account.clone().unwrap_or_default()).fetch_all(&self.pool).await?;
        rows.iter().map(user_row).collect()
    }
}
