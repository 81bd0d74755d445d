//! Reports built from the store: the query, then the table, then the file.

use super::{ExceptionReportRow, ReportError, ReportFormat, exception_table, write_report};
use crate::config::Config;
use crate::domain::Fen;
use crate::exceptions::ExceptionKind;
use crate::store::{Store, StoreError};
use std::path::{Path, PathBuf};

/// What can stop a report.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// The exception report (资助发放异常清单) of every open exception, written to `dir`.
pub async fn exception_report(store: &Store, cfg: &Config, format: ReportFormat, dir: &Path) -> Result<PathBuf, BuildError> {
    let rows: Vec<ExceptionReportRow> = store
        .exception_report_rows()
        .await?
        .into_iter()
        .filter_map(|r| {
            Some(ExceptionReportRow {
                id: r.id,
                kind: ExceptionKind::parse(&r.kind)?,
                school: r.school_name.unwrap_or_default(),
                student: r.student.unwrap_or_default(),
                card_number: r.card_number,
                amount: r.amount_fen.map(Fen),
                reason_code: r.reason_code,
                detail: r.detail,
                created_at: r.created_at,
            })
        })
        .collect();
    let now = crate::clock::now();
    let table = exception_table(&rows, &cfg.account.name, &now.format("%Y-%m-%d %H:%M").to_string());
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.to_path_buf(), source })?;
    let stem = format!("exceptions-{}", now.format("%Y%m%d-%H%M%S"));
    Ok(write_report(&table, format, dir, &stem)?)
}
