//! Four-eyes approvals (双人复核): what awaits a second person, and their decisions.
//!
//! The store enforces the rule itself: [`StoreTx::decide_approval`] records a decision only where
//! the deciding user exists, is enabled, is a reviewer and is not the proposer — in the `UPDATE`'s
//! own `WHERE` — and the table's CHECK refuses a decision by the proposer whatever writes it.

use super::{Store, StoreError, StoreTx, built, now_text};
use crate::domain::{ApprovalKind, ApprovalStatus, Role};
use serde::Serialize;
use sqlx::Row;

/// A proposal to record.
#[derive(Debug, Clone)]
pub struct NewApproval {
    pub kind: ApprovalKind,
    /// The batch id, or the exception's number.
    pub subject: String,
    pub grant_id: Option<String>,
    pub proposed_by: String,
    pub before: Option<serde_json::Value>,
    pub after: serde_json::Value,
    pub payload_sha256: Option<String>,
}

/// A proposal as stored (the console API's `approvals` rows).
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalRow {
    pub id: i64,
    pub kind: ApprovalKind,
    pub subject: String,
    pub grant_id: Option<String>,
    pub proposed_by: String,
    pub proposed_at: String,
    pub before: Option<serde_json::Value>,
    /// What is proposed; it keeps a new card number in full (to apply it), but whoever reads a
    /// proposal sees it masked.
    #[serde(serialize_with = "masked")]
    pub after: serde_json::Value,
    #[serde(skip)]
    pub payload_sha256: Option<String>,
    pub status: ApprovalStatus,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub note: Option<String>,
}

/// A proposal's `after` as people read it: a card number masked.
fn masked<S: serde::Serializer>(after: &serde_json::Value, s: S) -> Result<S::Ok, S::Error> {
    let mut shown = after.clone();
    if let Some(card) = shown.get("card").and_then(|c| c.as_str()).map(crate::domain::card::mask_card) {
        shown["card"] = serde_json::Value::String(card);
    }
    serde::Serialize::serialize(&shown, s)
}

/// Why a decision was not recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionRefused {
    NotFound,
    NotPending(ApprovalStatus),
    /// The proposer cannot decide their own proposal.
    OwnProposal,
    /// The user may not decide (not a reviewer, disabled, unknown).
    NotAllowed,
}

const COLS: &str = "id, kind, subject, grant_id, proposed_by, proposed_at, before_json, after_json, payload_sha256, status, decided_by, decided_at, note";

fn approval_row(keys: Option<&crate::crypto::KeyRing>, r: &sqlx::any::AnyRow) -> Result<ApprovalRow, StoreError> {
    let kind: String = r.try_get("kind")?;
    let status: String = r.try_get("status")?;
    let before: Option<String> = r.try_get("before_json")?;
    let after: String = r.try_get("after_json")?;
    Ok(ApprovalRow {
        id: r.try_get("id")?,
        kind: ApprovalKind::parse(&kind).ok_or_else(|| StoreError::Invalid(format!("approval of unknown kind {kind:?}")))?,
        subject: r.try_get("subject")?,
        grant_id: r.try_get("grant_id")?,
        proposed_by: r.try_get("proposed_by")?,
        proposed_at: r.try_get("proposed_at")?,
        before: before.and_then(|b| serde_json::from_str(&b).ok()),
        after: super::keys::approval_after(keys, &serde_json::from_str(&after).unwrap_or(serde_json::Value::Null), false)?,
        payload_sha256: r.try_get("payload_sha256")?,
        status: ApprovalStatus::parse(&status).ok_or_else(|| StoreError::Invalid(format!("approval in unknown state {status:?}")))?,
        decided_by: r.try_get("decided_by")?,
        decided_at: r.try_get("decided_at")?,
        note: r.try_get("note")?,
    })
}

impl StoreTx {
    /// Records a proposal; `Err(id)` of the pending proposal already open for the same subject.
    pub async fn insert_approval(&mut self, a: &NewApproval) -> Result<Result<i64, i64>, StoreError> {
        if let Some(open) = self.pending_approval_for(&a.subject).await? {
            return Ok(Err(open.id));
        }
        let id = self.alloc_id("approvals").await?;
        sqlx::query(
            "INSERT INTO approvals (id, account_no, kind, subject, grant_id, proposed_by, proposed_at, before_json, after_json, payload_sha256, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending')",
        )
        .bind(id)
        .bind(self.account_no().to_string())
        .bind(a.kind.as_str())
        .bind(a.subject.as_str())
        .bind(a.grant_id.as_deref())
        .bind(a.proposed_by.as_str())
        .bind(now_text())
        .bind(a.before.as_ref().map(|v| v.to_string()))
        .bind(super::keys::approval_after(self.keys.as_deref(), &a.after, true)?.to_string())
        .bind(a.payload_sha256.as_deref())
        .execute(&mut *self.tx)
        .await?;
        Ok(Ok(id))
    }

    /// The pending proposal about a subject (a batch id, an exception's number), if any.
    pub async fn pending_approval_for(&mut self, subject: &str) -> Result<Option<ApprovalRow>, StoreError> {
        let sql = format!("SELECT {COLS} FROM approvals WHERE account_no = $1 AND subject = $2 AND status = 'pending'");
        let row = built(sql)
            .bind(self.account_no().to_string())
            .bind(subject)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(|r| approval_row(self.keys.as_deref(), r)).transpose()
    }

    /// The latest approved proposal about a subject (a batch's approval, checked before it goes out).
    pub async fn approved_for(&mut self, subject: &str) -> Result<Option<ApprovalRow>, StoreError> {
        let sql = format!("SELECT {COLS} FROM approvals WHERE account_no = $1 AND subject = $2 AND status = 'approved' ORDER BY id DESC LIMIT 1");
        let row = built(sql)
            .bind(self.account_no().to_string())
            .bind(subject)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(|r| approval_row(self.keys.as_deref(), r)).transpose()
    }

    pub async fn approval(&mut self, id: i64) -> Result<Option<ApprovalRow>, StoreError> {
        let sql = format!("SELECT {COLS} FROM approvals WHERE account_no = $1 AND id = $2");
        let row = built(sql).bind(self.account_no().to_string()).bind(id).fetch_optional(&mut *self.tx).await?;
        row.as_ref().map(|r| approval_row(self.keys.as_deref(), r)).transpose()
    }

    /// Records `decided_by`'s decision (`Approved` or `Rejected`) on a pending proposal — only
    /// when `decided_by` is an enabled reviewer of this account and not the proposer.
    pub async fn decide_approval(
        &mut self,
        id: i64,
        decided_by: &str,
        status: ApprovalStatus,
        note: &str,
    ) -> Result<Result<(), DecisionRefused>, StoreError> {
        let n = sqlx::query(
            "UPDATE approvals SET status = $1, decided_by = $2, decided_at = $3, note = $4 \
             WHERE account_no = $5 AND id = $6 AND status = 'pending' AND proposed_by <> $2 \
             AND EXISTS (SELECT 1 FROM users u WHERE u.account_no = approvals.account_no AND u.username = $2 \
                 AND u.role = $7 AND u.disabled = 0)",
        )
        .bind(status.as_str())
        .bind(decided_by)
        .bind(now_text())
        .bind(note)
        .bind(self.account_no().to_string())
        .bind(id)
        .bind(Role::Reviewer.as_str())
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        if n == 1 {
            return Ok(Ok(()));
        }
        Ok(Err(match self.approval(id).await? {
            None => DecisionRefused::NotFound,
            Some(a) if a.status != ApprovalStatus::Pending => DecisionRefused::NotPending(a.status),
            Some(a) if a.proposed_by == decided_by => DecisionRefused::OwnProposal,
            Some(_) => DecisionRefused::NotAllowed,
        }))
    }

    /// A pending proposal overtaken by events (its exception was resolved another way).
    pub async fn withdraw_approval(&mut self, id: i64, note: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE approvals SET status = 'withdrawn', note = $1, decided_at = $2 WHERE account_no = $3 AND id = $4 AND status = 'pending'")
            .bind(note)
            .bind(now_text())
            .bind(self.account_no().to_string())
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// An enabled user of this account who holds one of `roles`; `None` otherwise. The store's
    /// own check of who may act, whatever page or command asks.
    pub async fn acting_user(&mut self, username: &str, roles: &[Role]) -> Result<Option<Role>, StoreError> {
        let row = sqlx::query("SELECT role FROM users WHERE account_no = $1 AND username = $2 AND disabled = 0")
            .bind(self.account_no().to_string())
            .bind(username)
            .fetch_optional(&mut *self.tx)
            .await?;
        let role = row.map(|r| r.try_get::<String, _>("role")).transpose()?.and_then(|r| Role::parse(&r));
        Ok(role.filter(|r| roles.contains(r)))
    }
}

impl Store {
    /// This account's proposals, newest first; only pending ones unless `all`.
    pub async fn approvals(&self, all: bool, limit: i64) -> Result<Vec<ApprovalRow>, StoreError> {
        let sql = format!(
            "SELECT {COLS} FROM approvals WHERE account_no = $1 AND ($2 = 1 OR status = 'pending') ORDER BY id DESC LIMIT $3"
        );
        let rows = built(sql)
            .bind(self.account.clone().unwrap_or_default())
            .bind(all as i64)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| approval_row(self.ring(), r)).collect()
    }
}
