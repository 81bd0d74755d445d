//! The people who act: users and their roles, passwords, lock-out, and console sessions.
//!
//! Every decision aidpay records names a person of this module — never the operating-system user,
//! never a shared login. A clerk (经办) works the exception list and proposes; a reviewer (复核)
//! approves or rejects what *someone else* proposed; an auditor (审计) reads everything and
//! changes nothing; an admin (管理员) manages users and makes no money decision
//! ([`crate::domain::Role`]).
//!
//! - Passwords are hashed with argon2id (a PHC string; the parameters travel with the hash).
//! - Five wrong passwords in a row lock the user for 15 minutes; logins, failures, lock-outs and
//!   logouts go to the audit trail.
//! - A console session is a random token in an HttpOnly cookie; the store keeps only its SHA-256
//!   and a CSRF token, and a session idle for 30 minutes is over.
//!
//! User management from the command line (`aidpay user …`) is the server administrator's: whoever
//! can run it as the service user could change the store anyway. It is audited as
//! `server-admin:<os user>`. In the console only an admin manages users.

use crate::domain::Role;
use crate::store::{AuditEntry, Store, StoreError, UserRow};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use sha2::{Digest, Sha256};

/// Wrong passwords in a row before the user is locked out.
pub const LOCK_AFTER: i64 = 5;
/// How long a lock-out lasts.
pub const LOCK_SECONDS: i64 = 15 * 60;
/// A console session idle for this long is over.
pub const IDLE_SECONDS: i64 = 30 * 60;
/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// A person acting now: who they are and what they may do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Person {
    pub username: String,
    pub display_name: String,
    pub role: Role,
}

impl Person {
    /// `张三 (zhangsan, 经办)`, as the audit trail and pages name them.
    pub fn label(&self) -> String {
        format!("{} ({}, {})", self.display_name, self.username, self.role.label_zh())
    }
}

/// Why a login or a user change failed. The texts are for finance staff and say nothing an
/// attacker could use (an unknown user and a wrong password read the same).
#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    #[error("用户名或密码错误 (wrong user name or password)")]
    WrongPassword,
    #[error("用户 {0} 因连续 5 次密码错误已被锁定，请 15 分钟后再试或请管理员重置密码 (locked)")]
    Locked(String),
    #[error("用户 {0} 已停用 (disabled)")]
    Disabled(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The real time in Unix seconds: lock-outs and session timeouts follow the wall clock, never
/// `AIDPAY_NOW`.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An argon2id PHC string for `password`.
pub fn hash_password(password: &str) -> Result<String, PeopleError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PeopleError::Invalid(format!("cannot hash the password: {e}")))
}

fn password_matches(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

fn check_username(name: &str) -> Result<(), PeopleError> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'));
    if ok { Ok(()) } else { Err(PeopleError::Invalid(format!("用户名 {name:?} 须为 1–32 个小写字母、数字或 _ - . (user names: a-z 0-9 _ - .)"))) }
}

fn check_password(username: &str, password: &str) -> Result<(), PeopleError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PeopleError::Invalid(format!("密码至少 {MIN_PASSWORD_CHARS} 个字符 (at least {MIN_PASSWORD_CHARS} characters)")));
    }
    if password.eq_ignore_ascii_case(username) {
        return Err(PeopleError::Invalid("密码不能与用户名相同 (not the user name)".into()));
    }
    Ok(())
}

/// Adds a user of this account. `actor` names who does it (an admin, or `server-admin:<os user>`).
pub async fn add_user(store: &Store, username: &str, display_name: &str, role: Role, password: &str, actor: &str) -> Result<UserRow, PeopleError> {
    check_username(username)?;
    check_password(username, password)?;
    let display = display_name.trim();
    if display.is_empty() || display.chars().count() > 32 {
        return Err(PeopleError::Invalid("显示名须为 1–32 个字符 (display name)".into()));
    }
    let hash = hash_password(password)?;
    let mut tx = store.begin().await?;
    if !tx.insert_user(username, display, role, &hash).await? {
        return Err(PeopleError::Invalid(format!("用户 {username} 已存在 (exists)")));
    }
    tx.audit(&AuditEntry {
        actor,
        action: "user.add",
        subject: username,
        before: None,
        after: Some(serde_json::json!({"display_name": display, "role": role.as_str()})),
    })
    .await?;
    let row = tx.credentials(username).await?.map(|c| c.user).ok_or_else(|| PeopleError::Invalid("user vanished".into()))?;
    tx.commit().await?;
    Ok(row)
}

/// Sets a user's password (and lifts a lock-out).
pub async fn set_password(store: &Store, username: &str, password: &str, actor: &str) -> Result<(), PeopleError> {
    check_password(username, password)?;
    let hash = hash_password(password)?;
    let mut tx = store.begin().await?;
    if !tx.set_password(username, &hash).await? {
        return Err(PeopleError::Invalid(format!("没有用户 {username} (no such user)")));
    }
    tx.audit(&AuditEntry { actor, action: "user.passwd", subject: username, before: None, after: None }).await?;
    tx.commit().await?;
    Ok(())
}

/// Disables a user: they can no longer log in or act, their sessions end. Kept for the trail.
pub async fn disable_user(store: &Store, username: &str, actor: &str) -> Result<(), PeopleError> {
    let mut tx = store.begin().await?;
    if !tx.disable_user(username).await? {
        return Err(PeopleError::Invalid(format!("没有用户 {username} (no such user)")));
    }
    tx.audit(&AuditEntry {
        actor,
        action: "user.disable",
        subject: username,
        before: Some(serde_json::json!({"disabled": false})),
        after: Some(serde_json::json!({"disabled": true})),
    })
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Checks a user's password; `channel` (`console`, `cli`) goes to the trail. Five wrong
/// passwords in a row lock the user for [`LOCK_SECONDS`].
pub async fn authenticate(store: &Store, username: &str, password: &str, channel: &str) -> Result<Person, PeopleError> {
    let now = unix_now();
    let mut tx = store.begin().await?;
    let Some(c) = tx.credentials(username).await? else {
        // The same work as for a real user, so timing tells nothing either.
        let _ = password_matches(password, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$YmFkYmFkYmFkYmFkYmFkYmFkYmFkYmFkYmFkYmFkYmE");
        tx.audit(&AuditEntry { actor: username, action: "login.failed", subject: username, before: None, after: Some(serde_json::json!({"channel": channel, "why": "unknown user"})) }).await?;
        tx.commit().await?;
        return Err(PeopleError::WrongPassword);
    };
    if c.user.disabled {
        tx.audit(&AuditEntry { actor: username, action: "login.failed", subject: username, before: None, after: Some(serde_json::json!({"channel": channel, "why": "disabled"})) }).await?;
        tx.commit().await?;
        return Err(PeopleError::Disabled(username.into()));
    }
    if c.user.locked_until.is_some_and(|until| until > now) {
        tx.audit(&AuditEntry { actor: username, action: "login.locked", subject: username, before: None, after: Some(serde_json::json!({"channel": channel})) }).await?;
        tx.commit().await?;
        return Err(PeopleError::Locked(username.into()));
    }
    if !password_matches(password, &c.password_hash) {
        let n = tx.login_failed(username, LOCK_AFTER, now + LOCK_SECONDS).await?;
        tx.audit(&AuditEntry {
            actor: username,
            action: "login.failed",
            subject: username,
            before: None,
            after: Some(serde_json::json!({"channel": channel, "failed_in_a_row": n, "locked": n >= LOCK_AFTER})),
        })
        .await?;
        tx.commit().await?;
        return Err(PeopleError::WrongPassword);
    }
    tx.login_succeeded(username).await?;
    tx.audit(&AuditEntry { actor: username, action: "login", subject: username, before: None, after: Some(serde_json::json!({"channel": channel})) }).await?;
    tx.commit().await?;
    Ok(Person { username: c.user.username, display_name: c.user.display_name, role: c.user.role })
}

/// A new console session for `person`: the cookie's token and the session's CSRF token.
pub async fn open_session(store: &Store, person: &Person) -> Result<(String, String), PeopleError> {
    let token = random_token();
    let csrf = random_token();
    let mut tx = store.begin().await?;
    tx.expire_sessions(unix_now() - IDLE_SECONDS).await?;
    tx.insert_session(&token_hash(&token), &person.username, &csrf, unix_now()).await?;
    tx.commit().await?;
    Ok((token, csrf))
}

/// The person and CSRF token of a live session (touched: its idle clock starts again), or `None`
/// for an unknown, ended or idle one, or a user disabled meanwhile.
pub async fn session(store: &Store, token: &str) -> Result<Option<(Person, String)>, PeopleError> {
    let now = unix_now();
    let hash = token_hash(token);
    let mut tx = store.begin().await?;
    let Some(s) = tx.session(&hash).await? else { return Ok(None) };
    if s.last_seen_at < now - IDLE_SECONDS {
        tx.delete_session(&hash).await?;
        tx.commit().await?;
        return Ok(None);
    }
    let Some(c) = tx.credentials(&s.username).await?.filter(|c| !c.user.disabled) else {
        tx.delete_session(&hash).await?;
        tx.commit().await?;
        return Ok(None);
    };
    tx.touch_session(&hash, now).await?;
    tx.commit().await?;
    Ok(Some((Person { username: c.user.username, display_name: c.user.display_name, role: c.user.role }, s.csrf_token)))
}

/// Ends a session (logout).
pub async fn close_session(store: &Store, token: &str, person: &Person) -> Result<(), PeopleError> {
    let mut tx = store.begin().await?;
    tx.delete_session(&token_hash(token)).await?;
    tx.audit(&AuditEntry { actor: &person.username, action: "logout", subject: &person.username, before: None, after: None }).await?;
    tx.commit().await?;
    Ok(())
}

fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(password_matches("correct horse battery", &h));
        assert!(!password_matches("correct horse batterY", &h));
        assert_ne!(h, hash_password("correct horse battery").unwrap(), "salted");
    }

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(check_username("zhang.san-2").is_ok());
        for bad in ["", "Zhang", "张三", "a b", &"x".repeat(33)] {
            assert!(check_username(bad).is_err(), "{bad:?}");
        }
        assert!(check_password("zhangsan", "short").is_err());
        assert!(check_password("zhangsan1234", "ZHANGSAN1234").is_err());
        assert!(check_password("zhangsan", "a long enough one").is_ok());
    }
}
