//! Exceptions: raised idempotently (by `dedup_key`), listed for the work list.

use super::{Store, StoreError, StoreTx, built, now_text, or_fail, state, state_opt, value_chunks};
use crate::domain::{ExceptionKind, ExceptionStatus, NewException, Resolution, Severity};
use serde::Serialize;
use sqlx::Row;

const EXC_COLS: usize = 12;

/// An exception as listed (`exceptions list --json`, INTERFACES.md), plus the school it concerns
/// and, once resolved, how, by whom and when — the one row the work list, the console's pages and
/// the command line read.
#[derive(Debug, Clone, Serialize)]
pub struct ExceptionRow {
    pub id: i64,
    pub kind: ExceptionKind,
    pub severity: Severity,
    pub status: ExceptionStatus,
    pub grant_id: Option<String>,
    pub payment_ref: Option<String>,
    pub reason_code: Option<String>,
    /// Yuan with two decimals, as text so no float is involved.
    pub amount: Option<String>,
    pub detail: String,
    pub created_at: String,
    pub school_code: Option<String>,
    pub school_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    /// The amount in fen, for sums (the JSON carries `amount`).
    #[serde(skip)]
    pub amount_fen: Option<i64>,
    /// The student, program and term of its grant, for the console's work list. Not in the JSON:
    /// scripts get the grant id.
    #[serde(skip)]
    pub student_name: Option<String>,
    #[serde(skip)]
    pub program: Option<String>,
    #[serde(skip)]
    pub period: Option<String>,
}

/// Every column of an [`ExceptionRow`]: the exception and its grant.
pub(super) const EXCEPTION_SELECT: &str = "SELECT e.id, e.kind, e.severity, e.status, e.grant_id, e.payment_ref, e.reason_code, e.amount_fen, \
     e.detail, e.created_at, e.resolution, e.note, e.resolved_by, e.resolved_at, g.school_code, g.school_name, g.name AS student_name, \
     g.program, g.period FROM exceptions e LEFT JOIN grants g ON g.account_no = e.account_no AND g.grant_id = e.grant_id";

impl ExceptionRow {
    /// A row of [`EXCEPTION_SELECT`]; the student's name is sealed at rest like the ID and card
    /// numbers beside it.
    pub(super) fn from_row(ring: Option<&crate::crypto::KeyRing>, r: &sqlx::any::AnyRow) -> Result<ExceptionRow, StoreError> {
        let amount_fen: Option<i64> = r.try_get("amount_fen")?;
        Ok(ExceptionRow {
            id: r.try_get("id")?,
            kind: state(r, "kind")?,
            severity: state(r, "severity")?,
            status: state(r, "status")?,
            grant_id: r.try_get("grant_id")?,
            payment_ref: r.try_get("payment_ref")?,
            reason_code: r.try_get("reason_code")?,
            amount: amount_fen.map(|a| crate::domain::Fen(a).to_string()),
            detail: r.try_get("detail")?,
            created_at: r.try_get("created_at")?,
            school_code: r.try_get("school_code")?,
            school_name: r.try_get("school_name")?,
            resolution: state_opt(r, "resolution")?,
            note: r.try_get("note")?,
            resolved_by: r.try_get("resolved_by")?,
            resolved_at: r.try_get("resolved_at")?,
            amount_fen,
            student_name: super::keys::unseal_opt(ring, crate::crypto::purpose::STUDENT_NAME, r.try_get("student_name")?)?,
            program: r.try_get("program")?,
            period: r.try_get("period")?,
        })
    }
}

/// Which exceptions to list.
#[derive(Debug, Clone, Default)]
pub struct ExceptionFilter {
    pub kind: Option<ExceptionKind>,
    /// Open (the work list), resolved, or None for all.
    pub status: Option<ExceptionStatus>,
    pub school: Option<String>,
}

impl StoreTx {
    /// Raises exceptions; one whose `dedup_key` exists already is skipped. Returns how many are new.
    pub async fn insert_exceptions(&mut self, list: &[NewException]) -> Result<u64, StoreError> {
        let mut inserted = 0;
        for (chunk, values) in value_chunks(self.backend, list, EXC_COLS) {
            let ids: Vec<i64> = self.alloc_ids("exceptions", chunk.len() as i64).await?.iter().collect();
            let sql = format!(
                "INSERT INTO exceptions (id, account_no, kind, severity, status, grant_id, payment_ref, reason_code, amount_fen, detail, \
                 dedup_key, created_at) VALUES {} ON CONFLICT (account_no, dedup_key) DO NOTHING",
                values
            );
            let now = now_text();
            let mut q = built(or_fail(self.backend, &sql).into_owned());
            for (i, e) in chunk.iter().enumerate() {
                q = q
                    .bind(ids[i])
                    .bind(self.account.clone().unwrap_or_default())
                    .bind(e.kind.as_str())
                    .bind(e.kind.severity().as_str())
                    .bind(ExceptionStatus::Open.as_str())
                    .bind(e.grant_id.clone())
                    .bind(e.payment_ref.clone())
                    .bind(e.reason_code.clone())
                    .bind(e.amount_fen)
                    .bind(e.detail.clone())
                    .bind(e.dedup_key.clone())
                    .bind(now.clone());
            }
            inserted += q.execute(&mut *self.tx).await?.rows_affected();
        }
        Ok(inserted)
    }
}

impl Store {
    /// The work list, oldest first.
    pub async fn list_exceptions(&self, f: &ExceptionFilter) -> Result<Vec<ExceptionRow>, StoreError> {
        let mut sql = format!("{EXCEPTION_SELECT} WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        let account = self.account.clone();
        let kind = f.kind.map(|k| k.as_str().to_string());
        let status = f.status.map(|s| s.as_str().to_string());
        for (column, value) in [("e.kind", &kind), ("e.status", &status), ("g.school_code", &f.school), ("e.account_no", &account)] {
            if let Some(v) = value {
                binds.push(v.clone());
                sql.push_str(&format!(" AND {column} = ${}", binds.len()));
            }
        }
        sql.push_str(" ORDER BY e.id");
        let mut q = built(sql);
        for b in binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(|r| ExceptionRow::from_row(self.ring(), r)).collect()
    }
}

/// An exception with what resolving it needs.
#[derive(Debug, Clone)]
pub struct ExceptionRecord {
    pub id: i64,
    pub kind: ExceptionKind,
    pub status: ExceptionStatus,
    pub grant_id: Option<String>,
    pub payment_ref: Option<String>,
    pub detail: String,
    /// What the finding is about (`delivery_uncertain:<batch>`, …).
    pub dedup_key: String,
}

impl StoreTx {
    pub async fn exception(&mut self, id: i64) -> Result<Option<ExceptionRecord>, StoreError> {
        // A district never acts on another district's exception: to it, that one does not exist.
        let row = sqlx::query(
            "SELECT id, kind, status, grant_id, payment_ref, detail, dedup_key FROM exceptions WHERE id = $1 AND ($2 = '' OR account_no = $2)",
        )
        .bind(id)
        .bind(self.account_no().to_string())
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(ExceptionRecord {
            id: r.try_get("id")?,
            kind: state(&r, "kind")?,
            status: state(&r, "status")?,
            grant_id: r.try_get("grant_id")?,
            payment_ref: r.try_get("payment_ref")?,
            detail: r.try_get("detail")?,
            dedup_key: r.try_get("dedup_key")?,
        }))
    }

    /// Closes an exception with the action taken, the note and who did it.
    pub async fn resolve_exception(&mut self, id: i64, resolution: Resolution, note: &str, actor: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE exceptions SET status = 'resolved', resolution = $1, note = $2, resolved_by = $3, resolved_at = $4 WHERE id = $5 AND status = 'open'",
        )
        .bind(resolution.as_str())
        .bind(note)
        .bind(actor)
        .bind(now_text())
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Closes the other open exceptions of a grant that an action made moot (e.g. a re-issue
    /// answers both the rejection and the no-answer of the same payment).
    pub async fn resolve_grant_exceptions(
        &mut self,
        grant_id: &str,
        kinds: &[ExceptionKind],
        resolution: Resolution,
        note: &str,
        actor: &str,
    ) -> Result<(), StoreError> {
        for k in kinds {
            sqlx::query(
                "UPDATE exceptions SET status = 'resolved', resolution = $1, note = $2, resolved_by = $3, resolved_at = $4 \
                 WHERE account_no = $5 AND grant_id = $6 AND kind = $7 AND status = 'open'",
            )
            .bind(resolution.as_str())
            .bind(note)
            .bind(actor)
            .bind(now_text())
            .bind(self.account_no().to_string())
            .bind(grant_id)
            .bind(k.as_str())
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }
}

impl StoreTx {
    /// Closes every open exception of a grant (e.g. when a corrected re-send supersedes it).
    pub async fn resolve_all_grant_exceptions(&mut self, grant_id: &str, resolution: Resolution, note: &str, actor: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE exceptions SET status = 'resolved', resolution = $1, note = $2, resolved_by = $3, resolved_at = $4 \
             WHERE account_no = $5 AND grant_id = $6 AND status = 'open'",
        )
        .bind(resolution.as_str())
        .bind(note)
        .bind(actor)
        .bind(now_text())
        .bind(self.account_no().to_string())
        .bind(grant_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected())
    }

    /// How many open exceptions of these kinds a grant has.
    pub async fn open_exceptions_of_grant(&mut self, grant_id: &str, kinds: &[ExceptionKind]) -> Result<i64, StoreError> {
        let mut n = 0;
        for k in kinds {
            let count: i64 = sqlx::query(
                "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM exceptions WHERE account_no = $1 AND grant_id = $2 AND kind = $3 AND status = 'open'",
            )
            .bind(self.account_no().to_string())
            .bind(grant_id)
            .bind(k.as_str())
            .fetch_one(&mut *self.tx)
            .await?
            .try_get("n")?;
            n += count;
        }
        Ok(n)
    }
}

/// One row of the exception report: the exception with its grant's school, student and card.
#[derive(Debug, Clone)]
pub struct ExceptionReportSource {
    pub id: i64,
    pub kind: ExceptionKind,
    pub grant_id: Option<String>,
    pub school_name: Option<String>,
    pub student: Option<String>,
    /// The full ID number; the report masks it.
    pub id_number: Option<String>,
    pub program: Option<String>,
    pub period: Option<String>,
    pub card_number: Option<String>,
    pub amount_fen: Option<i64>,
    pub reason_code: Option<String>,
    pub detail: String,
    pub created_at: String,
    /// The grant list the grant came from, and its line there.
    pub source_file: Option<String>,
    pub source_line: Option<i64>,
    /// For a resolved exception: how, the note, by whom, when.
    pub resolution: Option<Resolution>,
    pub note: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<String>,
}

const REPORT_SELECT: &str = "SELECT e.id, e.kind, e.grant_id, g.school_name, g.name, g.id_number, g.program, g.period, \
     COALESCE(p.card_number, g.card_number) AS card_number, e.amount_fen, e.reason_code, e.detail, e.created_at, f.name AS source_file, \
     g.source_line, \
     e.resolution, e.note, e.resolved_by, e.resolved_at \
     FROM exceptions e LEFT JOIN grants g ON g.account_no = e.account_no AND g.grant_id = e.grant_id \
     LEFT JOIN payments p ON p.payment_ref = e.payment_ref LEFT JOIN files f ON f.id = g.source_file_id";

/// A report row, its student's name, ID and card number opened (they are sealed at rest).
fn report_source(ring: Option<&crate::crypto::KeyRing>, r: &sqlx::any::AnyRow) -> Result<ExceptionReportSource, StoreError> {
    use crate::crypto::purpose;
    Ok(ExceptionReportSource {
        id: r.try_get("id")?,
        kind: state(r, "kind")?,
        grant_id: r.try_get("grant_id")?,
        school_name: r.try_get("school_name")?,
        student: super::keys::unseal_opt(ring, purpose::STUDENT_NAME, r.try_get("name")?)?,
        id_number: super::keys::unseal_opt(ring, purpose::ID_NUMBER, r.try_get("id_number")?)?,
        program: r.try_get("program")?,
        period: r.try_get("period")?,
        card_number: super::keys::unseal_opt(ring, purpose::CARD_NUMBER, r.try_get("card_number")?)?,
        amount_fen: r.try_get("amount_fen")?,
        reason_code: r.try_get("reason_code")?,
        detail: r.try_get("detail")?,
        created_at: r.try_get("created_at")?,
        source_file: r.try_get("source_file")?,
        source_line: r.try_get("source_line")?,
        resolution: state_opt(r, "resolution")?,
        note: r.try_get("note")?,
        resolved_by: r.try_get("resolved_by")?,
        resolved_at: r.try_get("resolved_at")?,
    })
}

impl Store {
    /// Open exceptions with what the report shows; the card is the payment's when there is one.
    pub async fn exception_report_rows(&self) -> Result<Vec<ExceptionReportSource>, StoreError> {
        let sql = format!("{REPORT_SELECT} WHERE e.status = 'open' AND ($1 = '' OR e.account_no = $1) ORDER BY g.school_name, e.id");
        let rows = built(sql).bind(self.account.clone().unwrap_or_default()).fetch_all(&self.pool).await?;
        rows.iter().map(|r| report_source(self.ring(), r)).collect()
    }

    /// Exceptions resolved at or after `since` (RFC 3339, compared as text: the store writes one
    /// format), oldest first.
    pub async fn resolved_exception_rows(&self, since: &str) -> Result<Vec<ExceptionReportSource>, StoreError> {
        let sql = format!(
            "{REPORT_SELECT} WHERE e.status = 'resolved' AND e.resolved_at >= $2 AND ($1 = '' OR e.account_no = $1) ORDER BY e.resolved_at, e.id"
        );
        let rows = built(sql).bind(self.account.clone().unwrap_or_default()).bind(since).fetch_all(&self.pool).await?;
        rows.iter().map(|r| report_source(self.ring(), r)).collect()
    }
}
