//! What `/metrics` and the alerts read ([`crate::metrics`], [`crate::alerts`]): counts by status and kind, the job runs with
//! their times, the account's last statement. Read-only, and none of it per person.

use super::{Store, StoreError};
use sqlx::Row;

/// One finished job run (or alert) as the metrics count it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTiming {
    pub job: String,
    pub outcome: crate::domain::RunOutcome,
    pub started_at: String,
    pub finished_at: Option<String>,
}

impl Store {
    /// Every run that has an outcome other than `running`, oldest first.
    pub async fn run_timings(&self) -> Result<Vec<RunTiming>, StoreError> {
        let rows = sqlx::query(
            "SELECT job, outcome, started_at, finished_at FROM job_runs \
             WHERE outcome IS NOT NULL AND outcome <> 'running' AND ($1 = '' OR account_no = $1) ORDER BY started_at",
        )
        .bind(self.account.clone().unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RunTiming {
                    job: r.try_get("job")?,
                    outcome: super::state(r, "outcome")?,
                    started_at: r.try_get("started_at")?,
                    finished_at: r.try_get("finished_at")?,
                })
            })
            .collect()
    }

    /// Open exceptions by kind (machine names).
    pub async fn count_open_exceptions_by_kind(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, CAST(COUNT(*) AS BIGINT) AS n FROM exceptions WHERE status = 'open' AND ($1 = '' OR account_no = $1) GROUP BY kind ORDER BY kind",
        )
        .bind(self.account.clone().unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("kind")?, r.try_get("n")?))).collect()
    }

    /// Payments still on their way (created, sent, accepted): how many and their sum in fen.
    pub async fn payments_in_flight(&self) -> Result<(i64, i64), StoreError> {
        let row = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n, CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) AS amount_fen FROM payments \
             WHERE status IN ('created', 'sent', 'accepted') AND ($1 = '' OR account_no = $1)",
        )
        .bind(self.account.clone().unwrap_or_default())
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("n")?, row.try_get("amount_fen")?))
    }

    /// The last day a statement of the account covers (`YYYY-MM-DD`), if any came.
    pub async fn last_statement_date(&self, account: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT MAX(to_date) AS to_date FROM statements WHERE account_no = $1 AND kind = 'statement'")
            .bind(account)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("to_date")?)
    }
}

/// A batch's payments of one school.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchoolTotal {
    pub school_name: String,
    pub payments: i64,
    pub amount_fen: i64,
}

impl Store {
    /// A batch's payments per school, largest sum first — for the "batch delivered" alert.
    pub async fn batch_schools(&self, batch_id: &str) -> Result<Vec<SchoolTotal>, StoreError> {
        let rows = sqlx::query(
            "SELECT g.school_name, CAST(COUNT(*) AS BIGINT) AS payments, CAST(COALESCE(SUM(p.amount_fen), 0) AS BIGINT) AS amount_fen \
             FROM payments p JOIN grants g ON g.grant_id = p.grant_id WHERE p.batch_id = $1 \
             GROUP BY g.school_name ORDER BY 3 DESC, 1",
        )
        .bind(batch_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SchoolTotal { school_name: r.try_get("school_name")?, payments: r.try_get("payments")?, amount_fen: r.try_get("amount_fen")? })
            })
            .collect()
    }
}

impl Store {
    /// The schools of the grants imported from a file (by its content hash), for the
    /// "rows rejected" alert.
    pub async fn file_schools(&self, sha256: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT g.school_name FROM grants g JOIN files f ON f.id = g.source_file_id WHERE f.sha256 = $1 ORDER BY g.school_name",
        )
        .bind(sha256)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("school_name")?)).collect()
    }
}
