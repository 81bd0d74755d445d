//! Reports for finance staff (财务人员): tables they open in Excel, print, or read in a browser,
//! with Chinese labels.
//!
//! Two layers:
//! - [`table`]: a report table that knows nothing about where its data came from — a title, an
//!   optional subtitle, typed columns, rows of cells, an optional totals row (合计) — and its three
//!   writers: XLSX ([`write_xlsx`]), CSV ([`write_csv`]) and HTML ([`write_html`]), plus
//!   [`write_report`], which writes any of them to a directory atomically;
//! - one module per report that turns plain rows into a [`Table`]: [`exceptions`] is the
//!   exception report (资助发放异常清单).
//!
//! Two rules hold in every report:
//! - **Amounts come from integer fen** ([`Fen`](crate::domain::Fen)), never from a float, so a
//!   total in a report is the exact integer sum the batch files and the bank's control sums use.
//!   Only the XLSX writer converts to a floating-point number, for Excel's sake, at the very end
//!   (see [`table`] for why that conversion is exact enough to be the same number Excel would
//!   store had someone typed it).
//! - **Card numbers are masked** (`6222 **** **** 1234`) in ordinary reports: they are personal
//!   information (PIPL). Report builders receive the full number and mask it themselves, so a
//!   caller cannot forget to.

pub mod charts;
pub mod exceptions;
pub mod from_store;
pub mod period;
pub mod table;

pub use exceptions::{ExceptionReportRow, exception_table};
pub use from_store::{exception_report, reconciliation_report};
pub use table::{
    Cell, Column, ColumnKind, ReportFormat, Table, add_table_sheet, html_escape, html_page_start, html_table_section, write_csv,
    write_file_atomically, write_html, write_report, write_xlsx,
};

use std::path::PathBuf;

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file or directory aidpay itself creates, renames or syncs.
    #[error("cannot write report file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The writer the caller handed in (CSV and HTML stream into any `Write`).
    #[error("cannot write report: {0}")]
    Write(#[source] std::io::Error),
    /// rust_xlsxwriter refused the workbook or could not save it.
    #[error("cannot write XLSX report: {0}")]
    Xlsx(String),
    #[error("cannot write CSV report: {0}")]
    Csv(#[from] csv::Error),
    /// The table or the requested file name does not make sense (a row with more cells than
    /// there are columns, a file stem with a path separator in it, …).
    #[error("invalid report: {0}")]
    Invalid(String),
}

impl From<crate::files::FsError> for ReportError {
    fn from(e: crate::files::FsError) -> Self {
        ReportError::Io { path: e.path, source: e.source }
    }
}

impl From<rust_xlsxwriter::XlsxError> for ReportError {
    fn from(e: rust_xlsxwriter::XlsxError) -> Self {
        ReportError::Xlsx(e.to_string())
    }
}
