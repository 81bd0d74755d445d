//! The hand-over of batch files to the bank as intent and outcome records (see
//! [`crate::delivery`] for the protocol): a batch is claimed for delivery (`written` →
//! `delivering`) with its intent in one commit, before anything can reach the bank; its outcome
//! (`delivered`, back to `written`, or `in_doubt`) is another.

use super::{StoreError, StoreTx, now_text, or_fail};
use sqlx::Row;

/// What is about to be handed over, recorded before the hand-over can happen.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryIntent {
    pub batch_id: String,
    /// `dropfolder` or `gateway`.
    pub transport: String,
    /// The drop folder, or the bank profile whose gateway takes it.
    pub target: String,
    pub file_name: String,
    /// Drop folder: the staged (hidden) file the hand-over renames.
    pub staged_name: Option<String>,
    pub sha256: String,
    pub actor: String,
}

/// The latest delivery attempt of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub attempt: i64,
    pub intent: DeliveryIntent,
    pub started_at: String,
    pub outcome: Option<String>,
    pub detail: Option<String>,
}

impl StoreTx {
    /// Claims a `written` batch for delivery and records the intent. `false` when the batch is
    /// no longer `written` (another process claimed it first): then nothing is recorded.
    pub async fn claim_delivery(&mut self, i: &DeliveryIntent) -> Result<bool, StoreError> {
        let now = now_text();
        let claimed = sqlx::query("UPDATE batches SET status = 'delivering', updated_at = $1 WHERE batch_id = $2 AND status = 'written'")
            .bind(now.as_str())
            .bind(i.batch_id.as_str())
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        if claimed == 0 {
            return Ok(false);
        }
        let attempt: i64 = sqlx::query("SELECT CAST(COALESCE(MAX(attempt), 0) + 1 AS BIGINT) AS next_attempt FROM deliveries WHERE batch_id = $1")
            .bind(i.batch_id.as_str())
            .fetch_one(&mut *self.tx)
            .await?
            .try_get("next_attempt")?;
        sqlx::query(
            "INSERT INTO deliveries (batch_id, attempt, transport, target, file_name, staged_name, sha256, actor, started_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(i.batch_id.as_str())
        .bind(attempt)
        .bind(i.transport.as_str())
        .bind(i.target.as_str())
        .bind(i.file_name.as_str())
        .bind(i.staged_name.as_deref())
        .bind(i.sha256.as_str())
        .bind(i.actor.as_str())
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(true)
    }

    /// The latest delivery attempt of a batch, if it ever had one.
    pub async fn delivery_of(&mut self, batch_id: &str) -> Result<Option<DeliveryRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT attempt, transport, target, file_name, staged_name, sha256, actor, started_at, outcome, detail FROM deliveries \
             WHERE batch_id = $1 ORDER BY attempt DESC LIMIT 1",
        )
        .bind(batch_id)
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(DeliveryRecord {
            attempt: r.try_get("attempt")?,
            intent: DeliveryIntent {
                batch_id: batch_id.to_string(),
                transport: r.try_get("transport")?,
                target: r.try_get("target")?,
                file_name: r.try_get("file_name")?,
                staged_name: r.try_get("staged_name")?,
                sha256: r.try_get("sha256")?,
                actor: r.try_get("actor")?,
            },
            started_at: r.try_get("started_at")?,
            outcome: r.try_get("outcome")?,
            detail: r.try_get("detail")?,
        }))
    }

    /// The bank has the batch: `delivered` (from `delivering`, or `in_doubt` once a person
    /// confirmed it), its payments `sent`, the attempt's outcome recorded. `false` when the batch
    /// was in neither state (another process finished it first).
    pub async fn finish_delivery(&mut self, batch_id: &str, bank_ref: Option<&str>, detail: &str) -> Result<bool, StoreError> {
        let now = now_text();
        let done = sqlx::query(
            "UPDATE batches SET status = 'delivered', bank_ref = COALESCE($1, bank_ref), updated_at = $2 \
             WHERE batch_id = $3 AND status IN ('delivering', 'in_doubt')",
        )
        .bind(bank_ref)
        .bind(now.as_str())
        .bind(batch_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        if done == 0 {
            return Ok(false);
        }
        let sent = or_fail(self.backend, "UPDATE payments SET status = 'sent', updated_at = $1 WHERE batch_id = $2 AND status = 'created'");
        sqlx::query(sqlx::AssertSqlSafe(sent.into_owned()))
            .bind(now.as_str())
            .bind(batch_id)
            .execute(&mut *self.tx)
            .await?;
        self.close_attempt(batch_id, "delivered", detail, &now).await?;
        Ok(true)
    }

    /// The bank refused the batch outright (nothing stored there): back to `written`, to be
    /// handed over again by a later cycle.
    pub async fn release_delivery(&mut self, batch_id: &str, detail: &str) -> Result<(), StoreError> {
        let now = now_text();
        sqlx::query("UPDATE batches SET status = 'written', updated_at = $1 WHERE batch_id = $2 AND status = 'delivering'")
            .bind(now.as_str())
            .bind(batch_id)
            .execute(&mut *self.tx)
            .await?;
        self.close_attempt(batch_id, "refused", detail, &now).await
    }

    /// What can be observed does not decide whether the bank has the batch: `in_doubt`, never
    /// handed over again without a person.
    pub async fn doubt_delivery(&mut self, batch_id: &str, detail: &str) -> Result<(), StoreError> {
        let now = now_text();
        sqlx::query("UPDATE batches SET status = 'in_doubt', updated_at = $1 WHERE batch_id = $2 AND status = 'delivering'")
            .bind(now.as_str())
            .bind(batch_id)
            .execute(&mut *self.tx)
            .await?;
        self.close_attempt(batch_id, "in_doubt", detail, &now).await
    }

    /// A person confirmed the bank does not have an `in_doubt` batch: `written` again, so the
    /// next cycle hands it over (a new attempt).
    pub async fn retry_doubtful_delivery(&mut self, batch_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE batches SET status = 'written', updated_at = $1 WHERE batch_id = $2 AND status = 'in_doubt'")
            .bind(now_text())
            .bind(batch_id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        Ok(done == 1)
    }

    async fn close_attempt(&mut self, batch_id: &str, outcome: &str, detail: &str, now: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE deliveries SET outcome = $1, detail = $2, finished_at = $3 WHERE batch_id = $4 \
             AND attempt = (SELECT MAX(attempt) FROM deliveries WHERE batch_id = $4)",
        )
        .bind(outcome)
        .bind(detail)
        .bind(now)
        .bind(batch_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
