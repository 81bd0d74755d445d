//! `job_runs`: every run of a daemon job (and every alert sent or failed), for `status`, the
//! scheduler and the alerts. Times are the real wall clock (see [`crate::scheduler`]), with
//! milliseconds, so two runs of a job never share a key.

use super::{Store, StoreError, state_opt};
use crate::domain::RunOutcome;
use serde::Serialize;
use sqlx::Row;

/// One row of `job_runs`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct JobRun {
    pub job: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// `None` only for a row of an earlier release that never recorded one.
    pub outcome: Option<RunOutcome>,
    pub detail: Option<String>,
}

/// An exception as the alerts see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewExceptionRef {
    pub id: i64,
    pub kind: String,
}

impl Store {
    /// Records that a run started (`outcome = running`).
    pub async fn job_started(&self, job: &str, started_at: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO job_runs (job, started_at, finished_at, outcome, detail, account_no) VALUES ($1, $2, NULL, $4, NULL, $3)")
            .bind(job)
            .bind(started_at)
            .bind(self.account.clone().unwrap_or_default())
            .bind(RunOutcome::Running.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records how a run ended.
    pub async fn job_finished(&self, job: &str, started_at: &str, finished_at: &str, outcome: RunOutcome, detail: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE job_runs SET finished_at = $1, outcome = $2, detail = $3 WHERE job = $4 AND started_at = $5 AND account_no = $6")
            .bind(finished_at)
            .bind(outcome.as_str())
            .bind(detail)
            .bind(job)
            .bind(started_at)
            .bind(self.account.clone().unwrap_or_default())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A finished record in one step (alerts).
    pub async fn record_run(&self, run: &JobRun) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO job_runs (job, started_at, finished_at, outcome, detail, account_no) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&run.job)
            .bind(&run.started_at)
            .bind(&run.finished_at)
            .bind(run.outcome.map(RunOutcome::as_str))
            .bind(&run.detail)
            .bind(self.account.clone().unwrap_or_default())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Runs still marked `running` from a daemon that died: marked `interrupted`. Called only by
    /// the daemon holding the special account's lock, so no other daemon's run is touched.
    pub async fn mark_interrupted_runs(&self, at: &str) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE job_runs SET outcome = 'interrupted', finished_at = $1, detail = '守护进程在任务结束前停止' WHERE outcome = 'running' AND account_no = $2",
        )
        .bind(at)
        .bind(self.account.clone().unwrap_or_default())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// The last run of every job (the latest `started_at` per job).
    pub async fn last_runs(&self) -> Result<Vec<JobRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.job, r.started_at, r.finished_at, r.outcome, r.detail FROM job_runs r \
             JOIN (SELECT job, account_no, MAX(started_at) AS last FROM job_runs WHERE ($1 = '' OR account_no = $1) GROUP BY job, account_no) m \
             ON m.job = r.job AND m.account_no = r.account_no AND m.last = r.started_at ORDER BY r.job",
        )
        .bind(self.account.clone().unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_of).collect()
    }

    /// The runs of one job, newest first.
    pub async fn runs_of(&self, job: &str, limit: i64) -> Result<Vec<JobRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT job, started_at, finished_at, outcome, detail FROM job_runs WHERE job = $1 AND ($3 = '' OR account_no = $3) ORDER BY started_at DESC LIMIT $2",
        )
        .bind(job)
        .bind(limit)
        .bind(self.account.clone().unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_of).collect()
    }

    /// The highest exception id so far (0 when there is none).
    pub async fn max_exception_id(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) AS last_id FROM exceptions WHERE ($1 = '' OR account_no = $1)").bind(self.account.clone().unwrap_or_default()).fetch_one(&self.pool).await?;
        Ok(row.try_get("last_id")?)
    }

    /// Exceptions raised after `id` (still open), oldest first.
    pub async fn open_exceptions_after(&self, id: i64) -> Result<Vec<NewExceptionRef>, StoreError> {
        let rows = sqlx::query("SELECT id, kind FROM exceptions WHERE id > $1 AND status = 'open' AND ($2 = '' OR account_no = $2) ORDER BY id")
            .bind(id)
            .bind(self.account.clone().unwrap_or_default())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(NewExceptionRef { id: r.try_get("id")?, kind: r.try_get("kind")? })).collect()
    }
}

fn run_of(r: &sqlx::any::AnyRow) -> Result<JobRun, StoreError> {
    Ok(JobRun {
        job: r.try_get("job")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        outcome: state_opt(r, "outcome")?,
        detail: r.try_get("detail")?,
    })
}
