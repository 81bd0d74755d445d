//! The audit trail's SQL: the one place a line is appended ([`StoreTx::audit`], through
//! [`StoreTx::commit`]), the chain head, and the reads `audit verify` and `audit export` walk.
//!
//! # The chain
//! Line `n` carries `prev_hash` = the hash of line `n − 1` (64 zeros for line 1) and `hash` =
//! SHA-256 of [`canonical`]: a JSON array of a version tag, seq, time, account, actor, action,
//! subject, before, after (the stored JSON *text*, exactly as stored) and prev_hash. A JSON array
//! of strings, numbers and nulls has one serialisation, so the canonical form is unambiguous (no
//! field can bleed into the next) and can be recomputed by anyone with `sha256sum` and `jq`.
//!
//! # No fork under concurrency
//! The lines a transaction writes are kept in memory until its commit, then appended in one go:
//! the transaction takes the head (`UPDATE audit_head … RETURNING`, which on PostgreSQL locks the
//! row until commit and makes a second writer wait for the first one's new head; on SQLite the
//! transaction already holds the database's write lock), chains its lines after it, moves the
//! head, and commits. So the head is held only for the last statements of a transaction, and a
//! transaction that rolls back leaves no line and no gap.

use super::{Backend, StoreError, StoreTx, built};
use sqlx::Row;

/// The prev_hash of line 1.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Legacy lines chained per read at the first start after migration 0005.
const LEGACY_CHUNK: i64 = 5_000;

/// A line waiting for its transaction's commit.
#[derive(Debug, Clone)]
pub(crate) struct PendingAudit {
    at: String,
    actor: String,
    action: String,
    subject: String,
    before: Option<String>,
    after: Option<String>,
}

/// One line of the trail as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditLine {
    pub id: i64,
    /// Its place in the chain; `None` only for a line never chained (tampering, or a bug).
    pub seq: Option<i64>,
    pub at: String,
    pub account_no: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

/// The chain's head: the last line's seq and hash (0 and [`GENESIS`] on an empty trail).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

impl std::fmt::Display for ChainHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "第 {} 行 {}", self.seq, self.hash)
    }
}

/// The canonical text a line's hash is taken over.
#[allow(clippy::too_many_arguments)]
pub fn canonical(
    seq: i64,
    at: &str,
    account_no: &str,
    actor: &str,
    action: &str,
    subject: &str,
    before: Option<&str>,
    after: Option<&str>,
    prev_hash: &str,
) -> String {
    serde_json::json!(["aidpay-audit/1", seq, at, account_no, actor, action, subject, before, after, prev_hash]).to_string()
}

/// SHA-256 (hex) of a line's canonical form.
#[allow(clippy::too_many_arguments)]
pub fn line_hash(
    seq: i64,
    at: &str,
    account_no: &str,
    actor: &str,
    action: &str,
    subject: &str,
    before: Option<&str>,
    after: Option<&str>,
    prev_hash: &str,
) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(canonical(seq, at, account_no, actor, action, subject, before, after, prev_hash).as_bytes()))
}

impl AuditLine {
    /// The hash this line's content gives with `prev_hash` at place `seq`.
    pub fn computed_hash(&self, seq: i64, prev_hash: &str) -> String {
        line_hash(
            seq,
            &self.at,
            &self.account_no,
            &self.actor,
            &self.action,
            &self.subject,
            self.before.as_deref(),
            self.after.as_deref(),
            prev_hash,
        )
    }
}

impl StoreTx {
    /// Queues a line; it is chained and written by [`StoreTx::commit`].
    pub(crate) fn queue_audit(&mut self, e: &super::AuditEntry<'_>) {
        self.pending_audit.push(PendingAudit {
            at: super::now_text(),
            actor: e.actor.to_string(),
            action: e.action.to_string(),
            subject: e.subject.to_string(),
            before: e.before.as_ref().map(|v| v.to_string()),
            after: e.after.as_ref().map(|v| v.to_string()),
        });
    }

    /// Takes the chain head for this transaction (PostgreSQL: locks it until the end of the
    /// transaction), chaining the lines from before migration 0005 first if they still wait.
    async fn take_head(&mut self) -> Result<ChainHead, StoreError> {
        let row = sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash, legacy").fetch_one(&mut *self.tx).await?;
        let mut head = ChainHead { seq: row.try_get("seq")?, hash: row.try_get("hash")? };
        let legacy: i64 = row.try_get("legacy")?;
        if legacy > 0 {
            head = self.chain_legacy(head).await?;
        }
        Ok(head)
    }

    /// Chains the lines stored before migration 0005 (in id order), after `head`.
    async fn chain_legacy(&mut self, mut head: ChainHead) -> Result<ChainHead, StoreError> {
        let mut after_id = i64::MIN;
        loop {
            let rows = sqlx::query(
                "SELECT id, at, account_no, actor, action, subject, before_json, after_json FROM audit_log \
                 WHERE hash IS NULL AND id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after_id)
            .bind(LEGACY_CHUNK)
            .fetch_all(&mut *self.tx)
            .await?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let line = line_from_row(r)?;
                after_id = line.id;
                let seq = head.seq + 1;
                let hash = line.computed_hash(seq, &head.hash);
                sqlx::query("UPDATE audit_log SET seq = $1, prev_hash = $2, hash = $3 WHERE id = $4")
                    .bind(seq)
                    .bind(&head.hash)
                    .bind(&hash)
                    .bind(line.id)
                    .execute(&mut *self.tx)
                    .await?;
                head = ChainHead { seq, hash };
            }
        }
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2, legacy = 0 WHERE id = 1")
            .bind(head.seq)
            .bind(&head.hash)
            .execute(&mut *self.tx)
            .await?;
        tracing::info!(lines = head.seq, "audit trail: lines from before the upgrade chained");
        Ok(head)
    }

    /// Appends the queued lines after the chain head and moves the head; called by commit.
    pub(crate) async fn flush_audit(&mut self) -> Result<(), StoreError> {
        if self.pending_audit.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending_audit);
        let mut head = self.take_head().await?;
        let account = self.account_no().to_string();
        let ids: Vec<i64> = self.alloc_ids("audit_log", pending.len() as i64).await?.iter().collect();
        for (i, p) in pending.iter().enumerate() {
            let seq = head.seq + 1;
            let hash = line_hash(seq, &p.at, &account, &p.actor, &p.action, &p.subject, p.before.as_deref(), p.after.as_deref(), &head.hash);
            sqlx::query(
                "INSERT INTO audit_log (id, seq, at, account_no, actor, action, subject, before_json, after_json, prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(ids[i])
            .bind(seq)
            .bind(&p.at)
            .bind(&account)
            .bind(&p.actor)
            .bind(&p.action)
            .bind(&p.subject)
            .bind(&p.before)
            .bind(&p.after)
            .bind(&head.hash)
            .bind(&hash)
            .execute(&mut *self.tx)
            .await?;
            head = ChainHead { seq, hash };
        }
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(head.seq)
            .bind(&head.hash)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}

fn line_from_row(r: &sqlx::any::AnyRow) -> Result<AuditLine, StoreError> {
    Ok(AuditLine {
        id: r.try_get("id")?,
        seq: r.try_get("seq").ok().flatten(),
        at: r.try_get("at")?,
        account_no: r.try_get("account_no")?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        subject: r.try_get("subject")?,
        before: r.try_get("before_json")?,
        after: r.try_get("after_json")?,
        prev_hash: r.try_get("prev_hash").ok().flatten(),
        hash: r.try_get("hash").ok().flatten(),
    })
}

const LINE_COLUMNS: &str = "id, seq, at, account_no, actor, action, subject, before_json, after_json, prev_hash, hash";

impl super::Store {
    /// Chains the lines from before migration 0005, if any still wait (run at every start; a
    /// no-op once done). A store opened by a command that only reads is chained too: the
    /// verify that follows must see a chain.
    pub(crate) async fn chain_legacy_audit(&self) -> Result<(), StoreError> {
        let legacy: i64 = sqlx::query("SELECT legacy FROM audit_head WHERE id = 1").fetch_one(&self.pool).await?.try_get("legacy")?;
        if legacy == 0 {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        tx.take_head().await?;
        tx.commit().await
    }

    /// The chain head as the head row records it.
    pub async fn audit_head(&self) -> Result<ChainHead, StoreError> {
        let r = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&self.pool).await?;
        Ok(ChainHead { seq: r.try_get("seq")?, hash: r.try_get("hash")? })
    }

    /// Lines in chain order after `after_seq`, at most `limit`; lines without a seq come last
    /// (ordered by id), so a walk sees them too.
    pub async fn audit_lines(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditLine>, StoreError> {
        let rows = built(format!(
            "SELECT {LINE_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(line_from_row).collect()
    }

    /// Lines that have no place in the chain (written around it).
    pub async fn audit_lines_unchained(&self, limit: i64) -> Result<Vec<AuditLine>, StoreError> {
        let rows = built(format!("SELECT {LINE_COLUMNS} FROM audit_log WHERE seq IS NULL ORDER BY id LIMIT $1"))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(line_from_row).collect()
    }

    /// Lines written from `from` (inclusive) to `to` (exclusive), both `YYYY-MM-DD` China dates,
    /// in chain order; of `account` and of no account (`account` empty: every line).
    pub async fn audit_lines_between(&self, account: &str, from: &str, to: &str) -> Result<Vec<AuditLine>, StoreError> {
        let sql = match self.backend {
            Backend::Sqlite | Backend::Postgres => format!(
                "SELECT {LINE_COLUMNS} FROM audit_log WHERE at >= $1 AND at < $2 AND ($3 = '' OR account_no = $3 OR account_no = '') ORDER BY seq"
            ),
        };
        let rows = built(sql).bind(from).bind(to).bind(account).fetch_all(&self.pool).await?;
        rows.iter().map(line_from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_is_unambiguous() {
        let a = canonical(1, "t", "", "a", "b", "c|d", None, Some("{}"), GENESIS);
        let b = canonical(1, "t", "", "a", "b|c", "d", None, Some("{}"), GENESIS);
        assert_ne!(a, b);
        assert_eq!(a, format!(r#"["aidpay-audit/1",1,"t","","a","b","c|d",null,"{{}}","{GENESIS}"]"#));
        assert_eq!(line_hash(1, "t", "", "a", "b", "c", None, None, GENESIS).len(), 64);
        assert_ne!(line_hash(1, "t", "", "a", "b", "c", None, None, GENESIS), line_hash(2, "t", "", "a", "b", "c", None, None, GENESIS));
    }
}
