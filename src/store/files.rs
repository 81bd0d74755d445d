//! Files in and out: each recorded once per special account by direction, kind and content
//! hash, so the same file twice is recognised (and two districts' files stay apart).

use super::{StoreError, StoreTx, now_text};
use sqlx::Row;

/// A file about to be recorded.
#[derive(Debug, Clone)]
pub struct FileRecord<'a> {
    pub direction: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
    pub sha256: &'a str,
    pub size_bytes: i64,
    pub status: &'a str,
    pub detail: Option<&'a str>,
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
            Some(r) => Some(r.try_get(0)?),
            None => None,
        })
    }

    /// Records a file and returns its id; a file with the same content returns the existing id.
    pub async fn record_file(&mut self, f: &FileRecord<'_>) -> Result<(i64, bool), StoreError> {
        if let Some(id) = self.find_file(f.direction, f.kind, f.sha256).await? {
            return Ok((id, false));
        }
        let id = self.alloc_ids("files", 1).await?;
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
        .bind(f.status)
        .bind(f.detail)
        .bind(now_text())
        .execute(&mut *self.tx)
        .await?;
        Ok((id, true))
    }
}

impl StoreTx {
    /// True when a file with this content came in before (any kind, also quarantined).
    pub async fn file_seen_in(&mut self, sha256: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT id FROM files WHERE account_no = $1 AND direction = 'in' AND sha256 = $2 AND kind <> 'grant_list' LIMIT 1")
            .bind(self.account_no().to_string())
            .bind(sha256)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.is_some())
    }
}
