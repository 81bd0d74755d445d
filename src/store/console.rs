//! What the console's pages read: a page of the work list with its filters, the trail of one
//! exception, batches with their totals per school and program, the audit log, and the series
//! the dashboard charts. Read-only, scoped to the handle's special account, and bounded: every
//! list is paged or limited, so a page costs the same at 100 exceptions and at 100,000.

use super::{Backend, ExceptionRow, Store, StoreError, built, state};
use crate::domain::{ExceptionKind, ExceptionStatus};
use serde::Serialize;
use sqlx::Row;

/// Which exceptions a page of the work list shows (every filter optional).
#[derive(Debug, Clone, Default)]
pub struct ExceptionQuery {
    pub kind: Option<ExceptionKind>,
    /// Open, resolved, or `None` for all.
    pub status: Option<ExceptionStatus>,
    pub school: Option<String>,
    pub program: Option<String>,
    /// The grant's term (`2026秋`).
    pub period: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

/// A page of the work list and how many lines the filters match in all.
#[derive(Debug, Clone, Serialize)]
pub struct ExceptionPage {
    pub rows: Vec<ExceptionRow>,
    pub total: i64,
}

/// The values the work list's filters offer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FilterChoices {
    /// `(code, name)`
    pub schools: Vec<(String, String)>,
    pub programs: Vec<String>,
    pub periods: Vec<String>,
}

/// One line of the audit log as people read it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A batch's money per school and program.
#[derive(Debug, Clone, Serialize)]
pub struct BatchTotal {
    pub batch_id: String,
    pub school_name: String,
    pub program: String,
    pub count: i64,
    pub total_fen: i64,
}

/// Paid (settled or accepted) money per month and program, for the dashboard's bar chart.
#[derive(Debug, Clone, Serialize)]
pub struct PaidInMonth {
    /// `2026-11`
    pub month: String,
    pub program: String,
    pub total_fen: i64,
}

fn text_filters(q: &ExceptionQuery) -> [(&'static str, Option<String>); 5] {
    [
        ("e.kind", q.kind.map(|k| k.as_str().to_string())),
        ("e.status", q.status.map(|s| s.as_str().to_string())),
        ("g.school_code", q.school.clone()),
        ("g.program", q.program.clone()),
        ("g.period", q.period.clone()),
    ]
}

impl Store {
    fn account_key(&self) -> String {
        self.account.clone().unwrap_or_default()
    }

    /// A page of the work list, newest first, and the number of lines the filters match.
    pub async fn exception_page(&self, q: &ExceptionQuery) -> Result<ExceptionPage, StoreError> {
        let needs_grant = q.school.is_some() || q.program.is_some() || q.period.is_some();
        let mut filter = String::from(" WHERE ($1 = '' OR e.account_no = $1)");
        let mut binds = vec![self.account_key()];
        for (column, value) in text_filters(q) {
            if let Some(v) = value {
                binds.push(v);
                filter.push_str(&format!(" AND {column} = ${}", binds.len()));
            }
        }
        let join = " LEFT JOIN grants g ON g.account_no = e.account_no AND g.grant_id = e.grant_id";
        let count_sql = format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM exceptions e{}{filter}", if needs_grant { join } else { "" });
        let mut cq = built(count_sql);
        for b in &binds {
            cq = cq.bind(b.clone());
        }
        let total: i64 = cq.fetch_one(&self.pool).await?.try_get("n")?;
        let page_sql =
            format!("{}{filter} ORDER BY e.id DESC LIMIT {} OFFSET {}", super::exceptions::EXCEPTION_SELECT, q.limit.clamp(1, 500), q.offset.max(0));
        let mut pq = built(page_sql);
        for b in binds {
            pq = pq.bind(b);
        }
        let rows = pq.fetch_all(&self.pool).await?.iter().map(|r| ExceptionRow::from_row(self.ring(), r)).collect::<Result<Vec<_>, StoreError>>()?;
        Ok(ExceptionPage { rows, total })
    }

    /// One exception of this account, or `None` (another district's does not exist here).
    pub async fn exception_detail(&self, id: i64) -> Result<Option<ExceptionRow>, StoreError> {
        let sql = format!("{} WHERE e.id = $1 AND ($2 = '' OR e.account_no = $2)", super::exceptions::EXCEPTION_SELECT);
        let row = built(sql).bind(id).bind(self.account_key()).fetch_optional(&self.pool).await?;
        Ok(match row {
            Some(r) => Some(ExceptionRow::from_row(self.ring(), &r)?),
            None => None,
        })
    }

    /// Open exceptions by kind, most first.
    pub async fn open_exceptions_by_kind(&self) -> Result<Vec<(ExceptionKind, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, CAST(COUNT(*) AS BIGINT) AS n FROM exceptions WHERE ($1 = '' OR account_no = $1) AND status = 'open' \
             GROUP BY kind ORDER BY n DESC, kind",
        )
        .bind(self.account_key())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((state(r, "kind")?, r.try_get("n")?))).collect()
    }

    /// The schools, programs and terms of this account's grants, for the work list's filters.
    /// The id of the newest file recorded (any kind, any account; 0 for none): what the
    /// console's cached filter choices are checked against (`console::ChoicesCache`).
    pub async fn newest_file_id(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) AS v FROM files").fetch_one(&self.pool).await?.try_get("v")?)
    }

    /// Every school, program and term among the account's grants: a walk over all of them
    /// (the console keeps the answer, see `console::ChoicesCache`).
    pub async fn filter_choices(&self) -> Result<FilterChoices, StoreError> {
        let acct = self.account_key();
        let schools = sqlx::query(
            "SELECT school_code, MIN(school_name) AS school_name FROM grants WHERE ($1 = '' OR account_no = $1) GROUP BY school_code ORDER BY school_code LIMIT 2000",
        )
        .bind(acct.clone())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("school_code")?, r.try_get("school_name")?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let distinct = |column: &'static str| {
            let acct = acct.clone();
            let pool = self.pool.clone();
            async move {
                let sql = format!("SELECT DISTINCT {column} AS v FROM grants WHERE ($1 = '' OR account_no = $1) ORDER BY v LIMIT 200");
                let rows = built(sql).bind(acct).fetch_all(&pool).await?;
                rows.iter().map(|r| r.try_get::<String, _>("v")).collect::<Result<Vec<_>, sqlx::Error>>()
            }
        };
        let programs = distinct("program").await?;
        let periods = distinct("period").await?;
        Ok(FilterChoices { schools, programs, periods })
    }

    /// The audit lines about any of `subjects`, oldest first.
    pub async fn audit_of(&self, subjects: &[String], limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        if subjects.is_empty() {
            return Ok(Vec::new());
        }
        let list = super::in_placeholders(self.backend, 1, subjects.len());
        let sql = format!(
            "SELECT id, at, actor, action, subject, before_json, after_json FROM audit_log WHERE subject IN ({list}) ORDER BY id LIMIT {}",
            limit.clamp(1, 1000)
        );
        let mut q = built(sql);
        for s in subjects {
            q = q.bind(s.clone());
        }
        q.fetch_all(&self.pool).await?.iter().map(|r| Ok(audit_row(r)?)).collect()
    }

    /// A page of the whole audit log, newest first, optionally only one actor's or one action's lines.
    pub async fn audit_page(&self, actor: Option<&str>, action: Option<&str>, offset: i64, limit: i64) -> Result<(Vec<AuditRow>, i64), StoreError> {
        let mut filter = String::from(" WHERE 1 = 1");
        let mut binds = Vec::new();
        for (column, value) in [("actor", actor), ("action", action)] {
            if let Some(v) = value {
                binds.push(v.to_string());
                filter.push_str(&format!(" AND {column} = ${}", binds.len()));
            }
        }
        let mut cq = built(format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM audit_log{filter}"));
        for b in &binds {
            cq = cq.bind(b.clone());
        }
        let total: i64 = cq.fetch_one(&self.pool).await?.try_get("n")?;
        let sql = format!(
            "SELECT id, at, actor, action, subject, before_json, after_json FROM audit_log{filter} ORDER BY id DESC LIMIT {} OFFSET {}",
            limit.clamp(1, 500),
            offset.max(0)
        );
        let mut q = built(sql);
        for b in binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await?.iter().map(audit_row).collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok((rows, total))
    }

    /// This account's batches, newest first (at most `limit`).
    pub async fn account_batches(&self, limit: i64) -> Result<Vec<super::BatchRow>, StoreError> {
        let sql = format!(
            "{} WHERE ($1 = '' OR account_no = $1) ORDER BY created_at DESC, batch_id DESC LIMIT {}",
            super::payments::BATCH_SELECT,
            limit.clamp(1, 1000)
        );
        let rows = built(sql).bind(self.account_key()).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(super::payments::batch_row(r)?)).collect()
    }

    /// One batch of this account, or `None` (another district's does not exist here).
    pub async fn account_batch(&self, batch_id: &str) -> Result<Option<super::BatchRow>, StoreError> {
        let sql = format!("{} WHERE batch_id = $1 AND ($2 = '' OR account_no = $2)", super::payments::BATCH_SELECT);
        let row = built(sql).bind(batch_id).bind(self.account_key()).fetch_optional(&self.pool).await?;
        row.map(|r| super::payments::batch_row(&r)).transpose()
    }

    /// The money of `batch_ids` per school and program.
    pub async fn batch_totals(&self, batch_ids: &[String]) -> Result<Vec<BatchTotal>, StoreError> {
        if batch_ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = super::in_placeholders(self.backend, 1, batch_ids.len());
        let sql = format!(
            "SELECT p.batch_id, g.school_name, g.program, CAST(COUNT(*) AS BIGINT) AS n, CAST(SUM(p.amount_fen) AS BIGINT) AS total \
             FROM payments p JOIN grants g ON g.account_no = p.account_no AND g.grant_id = p.grant_id \
             WHERE p.batch_id IN ({list}) GROUP BY p.batch_id, g.school_name, g.program ORDER BY p.batch_id, g.school_name, g.program"
        );
        let mut q = built(sql);
        for b in batch_ids {
            q = q.bind(b.clone());
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(BatchTotal {
                    batch_id: r.try_get("batch_id")?,
                    school_name: r.try_get("school_name")?,
                    program: r.try_get("program")?,
                    count: r.try_get("n")?,
                    total_fen: r.try_get("total")?,
                })
            })
            .collect()
    }

    /// Money paid out per month and program: payments accepted or settled by the bank, by the
    /// month their batch was made.
    pub async fn paid_per_month(&self) -> Result<Vec<PaidInMonth>, StoreError> {
        let month = match self.backend {
            Backend::Sqlite => "substr(b.execution_date, 1, 7)",
            Backend::Postgres => "substring(b.execution_date from 1 for 7)",
        };
        let sql = format!(
            "SELECT {month} AS month, g.program, CAST(SUM(p.amount_fen) AS BIGINT) AS total FROM payments p \
             JOIN batches b ON b.batch_id = p.batch_id JOIN grants g ON g.account_no = p.account_no AND g.grant_id = p.grant_id \
             WHERE ($1 = '' OR p.account_no = $1) AND p.status IN ('accepted', 'settled') GROUP BY {month}, g.program ORDER BY month, g.program"
        );
        let rows = built(sql).bind(self.account_key()).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(PaidInMonth { month: r.try_get("month")?, program: r.try_get("program")?, total_fen: r.try_get("total")? })).collect()
    }

    /// The special account's closing balance by statement date (`YYYY-MM-DD`, fen), oldest first.
    pub async fn balance_series(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT to_date, closing_fen FROM statements WHERE ($1 = '' OR account_no = $1) AND kind = 'statement' \
             AND closing_fen IS NOT NULL AND to_date IS NOT NULL ORDER BY to_date, statement_id",
        )
        .bind(self.account_key())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("to_date")?, r.try_get("closing_fen")?))).collect()
    }
}

fn audit_row(r: &sqlx::any::AnyRow) -> Result<AuditRow, sqlx::Error> {
    Ok(AuditRow {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        subject: r.try_get("subject")?,
        before: r.try_get("before_json")?,
        after: r.try_get("after_json")?,
    })
}
