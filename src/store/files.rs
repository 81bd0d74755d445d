//! Files in and out: each recorded once per special account by direction, kind and content
//! hash, so the same file twice is recognised (and two districts' files stay apart).

use super::{StoreError, StoreTx, now_text};
use crate::domain::FileStatus;
use sqlx::Row;

/// A file about to be recorded.
#[derive(Debug, Clone)]
pub struct FileRecord<'a> {
    pub direction: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
    pub sha256: &'a str,
    pub size_bytes: i64,
    pub status: FileStatus,
    pub detail: Option<&'a str>,
}

/// A file [`StoreTx::record_file`] recorded: its id, and whether it is new (`false`: the same
/// content was on file already, under this id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedFile {
    pub id: i64,
    pub new: bool,
}

impl StoreTx {
    /// The id of a file already recorded with this content, if any.
    pub async fn find_file(&mut self, direction: &str, kind: &str, sha256: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT id FROM files WHERE account_no = $1 AND direction = $2 AND kind = $3 AND sha256 = $4")
            .bind(self.account_no().to_string())
            .bind(direction)
            .bind(kind)
            .bind(sha256)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get("id")?),
            None => None,
        })
    }

    /// Records a file and returns its id; a file with the same content returns the existing id.
    pub async fn record_file(&mut self, f: &FileRecord<'_>) -> Result<RecordedFile, StoreError> {
        if let Some(id) = self.find_file(f.direction, f.kind, f.sha256).await? {
            return Ok(RecordedFile { id, new: false });
        }
        let id = self.alloc_id("files").await?;
        sqlx::query(
            "INSERT INTO files (id, account_no, direction, kind, name, sha256, size_bytes, status, detail, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id)
        .bind(self.account_no().to_string())
        .bind(f.direction)
        .bind(f.kind)
        .bind(f.name)
        .bind(f.sha256)
        .bind(f.size_bytes)
        .bind(f.status.as_str())
        .bind(f.detail)
        .bind(now_text())
        .execute(&mut *self.tx)
        .await?;
        Ok(RecordedFile { id, new: true })
    }
}

impl StoreTx {
    /// True when a file with this content came in before, whatever became of it (also
    /// quarantined): the gateways' result files are fetched once.
    pub async fn file_seen_in(&mut self, sha256: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT id FROM files WHERE account_no = $1 AND direction = 'in' AND sha256 = $2 AND kind <> 'grant_list' LIMIT 1")
            .bind(self.account_no().to_string())
            .bind(sha256)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.is_some())
    }

    /// True when a bank file with this content was applied before: ingesting it again is a
    /// no-op. A quarantined file is not applied — once it reads (a profile corrected, say) it
    /// may be ingested again.
    pub async fn file_applied_in(&mut self, sha256: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT id FROM files WHERE account_no = $1 AND direction = 'in' AND sha256 = $2 AND kind <> 'grant_list' AND status = 'applied' LIMIT 1",
        )
        .bind(self.account_no().to_string())
        .bind(sha256)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.is_some())
    }

    /// Records a quarantined file (once per content) with the latest reason.
    pub async fn record_quarantined(&mut self, name: &str, sha256: &str, size_bytes: i64, reason: &str) -> Result<i64, StoreError> {
        let RecordedFile { id, new } = self
            .record_file(&FileRecord {
                direction: "in",
                kind: "quarantined",
                name,
                sha256,
                size_bytes,
                status: FileStatus::Quarantined,
                detail: Some(reason),
            })
            .await?;
        if !new {
            sqlx::query("UPDATE files SET name = $1, detail = $2 WHERE id = $3").bind(name).bind(reason).bind(id).execute(&mut *self.tx).await?;
        }
        Ok(id)
    }

    /// The batches of `account` handed to one of `profiles` and not answered at all yet: no
    /// payment of theirs has any status from the bank (all still `sent`). What a bank's
    /// rejection of "a file" naming no file may be about.
    pub async fn batches_awaiting_answer(&mut self, account: &str, profiles: &[String]) -> Result<Vec<AwaitingBatch>, StoreError> {
        let rows = sqlx::query(
            "SELECT b.batch_id, b.profile, b.execution_date, b.nb_of_txs, b.ctrl_sum_fen, b.file_name FROM batches b \
             WHERE b.account_no = $1 AND b.status = 'delivered' \
             AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.batch_id = b.batch_id AND p.status <> 'sent') ORDER BY b.batch_id",
        )
        .bind(account)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let b = AwaitingBatch {
                batch_id: r.try_get("batch_id")?,
                profile: r.try_get("profile")?,
                execution_date: r.try_get("execution_date")?,
                nb_of_txs: r.try_get("nb_of_txs")?,
                ctrl_sum_fen: r.try_get("ctrl_sum_fen")?,
                file_name: r.try_get("file_name")?,
            };
            if profiles.iter().any(|p| p == &b.profile) {
                out.push(b);
            }
        }
        Ok(out)
    }
}

/// A batch delivered to the bank and not answered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitingBatch {
    pub batch_id: String,
    pub profile: String,
    pub execution_date: String,
    pub nb_of_txs: i64,
    pub ctrl_sum_fen: i64,
    pub file_name: Option<String>,
}
