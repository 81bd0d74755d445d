//! What `aidpay verify` reads: each grant's owner state, live payments, batch sums and the files
//! recorded for batches. Read-only.

use super::{Store, StoreError, state, state_opt};
use crate::domain::{BatchStatus, GrantStatus};
use sqlx::Row;

/// A grant whose state does not fit any owner state, and why (the facts, not yet the verdict).
#[derive(Debug, Clone, PartialEq)]
pub struct GrantFacts {
    pub grant_id: String,
    /// Its row in `grant_states`; `None` when it has none (a damaged store).
    pub status: Option<GrantStatus>,
    pub notice_end: String,
    /// Live payment attempts (created, sent, accepted or settled).
    pub live: i64,
    /// Of those, settled.
    pub settled: i64,
    /// Attempts the bank refused or returned (cancelled ones, of a rejected batch, do not count).
    pub failed: i64,
    pub open_exceptions: i64,
}

/// A batch's recorded sums beside those of its payments, and its file.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchFacts {
    pub batch_id: String,
    pub status: BatchStatus,
    pub nb_of_txs: i64,
    pub ctrl_sum_fen: i64,
    pub payments: i64,
    pub payments_sum_fen: i64,
    /// Payments of the batch whose state does not fit the batch's (e.g. `created` in a delivered batch).
    pub payments_out_of_step: i64,
    pub file_name: Option<String>,
    pub sha256: Option<String>,
}

/// Its state by a subquery (`None` when the row is missing), so each chunk probes the states of
/// its own grants and never hashes the account's all.
const GRANT_FACTS: &str = concat!(
    "SELECT g.grant_id, ",
    super::grants::grant_state!(),
    " AS status, g.notice_end, \
    (SELECT CAST(COUNT(*) AS BIGINT) FROM payments p WHERE p.account_no = g.account_no AND p.grant_id = g.grant_id AND p.live = 1) AS live, \
    (SELECT CAST(COUNT(*) AS BIGINT) FROM payments p WHERE p.account_no = g.account_no AND p.grant_id = g.grant_id AND p.live = 1 \
        AND p.status = 'settled') AS settled, \
    (SELECT CAST(COUNT(*) AS BIGINT) FROM payments p WHERE p.account_no = g.account_no AND p.grant_id = g.grant_id \
        AND p.status IN ('rejected', 'returned')) AS failed, \
    (SELECT CAST(COUNT(*) AS BIGINT) FROM exceptions e WHERE e.account_no = g.account_no AND e.grant_id = g.grant_id \
        AND e.status = 'open') AS open_exceptions \
    FROM grants g WHERE g.account_no = $1 AND g.grant_id > $2 ORDER BY g.grant_id LIMIT $3"
);

impl Store {
    /// The facts of up to `limit` grants after `after` (by grant id), for the owner-state check.
    pub async fn grant_facts(&self, account: &str, after: &str, limit: i64) -> Result<Vec<GrantFacts>, StoreError> {
        let rows = sqlx::query(GRANT_FACTS).bind(account).bind(after).bind(limit).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(GrantFacts {
                    grant_id: r.try_get("grant_id")?,
                    status: state_opt(r, "status")?,
                    notice_end: r.try_get("notice_end")?,
                    live: r.try_get("live")?,
                    settled: r.try_get("settled")?,
                    failed: r.try_get("failed")?,
                    open_exceptions: r.try_get("open_exceptions")?,
                })
            })
            .collect()
    }

    /// State rows (`grant_states`) of the account whose grant is gone, by grant id (up to `limit`).
    pub async fn states_without_grant(&self, account: &str, limit: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.grant_id FROM grant_states s WHERE s.account_no = $1 \
             AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.account_no = s.account_no AND g.grant_id = s.grant_id) ORDER BY s.grant_id LIMIT $2",
        )
        .bind(account)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("grant_id")?)).collect()
    }

    /// Grants with more than one live payment (the database's unique index forbids it; checked anyway).
    pub async fn grants_with_two_live(&self, account: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT grant_id, CAST(COUNT(*) AS BIGINT) AS n FROM payments WHERE account_no = $1 AND live = 1 \
             GROUP BY grant_id HAVING COUNT(*) > 1 ORDER BY grant_id",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("grant_id")?, r.try_get("n")?))).collect()
    }

    /// Every batch of the account with the sums of its payments and its recorded file.
    pub async fn batch_facts(&self, account: &str) -> Result<Vec<BatchFacts>, StoreError> {
        let rows = sqlx::query(
            "SELECT b.batch_id, b.status, b.nb_of_txs, b.ctrl_sum_fen, b.file_name, f.sha256, \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM payments p WHERE p.batch_id = b.batch_id) AS payments, \
             (SELECT CAST(COALESCE(SUM(p.amount_fen), 0) AS BIGINT) FROM payments p WHERE p.batch_id = b.batch_id) AS payments_sum, \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM payments p WHERE p.batch_id = b.batch_id AND ( \
                 (b.status IN ('held', 'created', 'written', 'delivering', 'in_doubt') AND p.status NOT IN ('created', 'cancelled')) \
              OR (b.status IN ('delivered', 'debited', 'closed') AND p.status = 'created'))) AS out_of_step \
             FROM batches b LEFT JOIN files f ON f.id = b.file_id WHERE b.account_no = $1 ORDER BY b.batch_id",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BatchFacts {
                    batch_id: r.try_get("batch_id")?,
                    status: state(r, "status")?,
                    nb_of_txs: r.try_get("nb_of_txs")?,
                    ctrl_sum_fen: r.try_get("ctrl_sum_fen")?,
                    payments: r.try_get("payments")?,
                    payments_sum_fen: r.try_get("payments_sum")?,
                    payments_out_of_step: r.try_get("out_of_step")?,
                    file_name: r.try_get("file_name")?,
                    sha256: r.try_get("sha256")?,
                })
            })
            .collect()
    }
}
