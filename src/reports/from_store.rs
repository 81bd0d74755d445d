//! Reports built from the store: the query, then the table, then the file.

use super::{ExceptionReportRow, ReportError, ReportFormat, exception_table, write_report};
use crate::config::Config;
use crate::domain::Fen;
use crate::store::{EntryStatus, Store, StoreError};
use chrono::Datelike;
use std::path::{Path, PathBuf};

/// What can stop a report.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

fn report_row(r: crate::store::ExceptionReportSource) -> ExceptionReportRow {
    ExceptionReportRow {
        id: r.id,
        kind: Some(r.kind),
        grant_id: r.grant_id.unwrap_or_default(),
        school: r.school_name.unwrap_or_default(),
        student: r.student.unwrap_or_default(),
        id_number: r.id_number,
        program: r.program.unwrap_or_default(),
        period: r.period.unwrap_or_default(),
        card_number: r.card_number,
        amount: r.amount_fen.map(Fen),
        reason_code: r.reason_code,
        detail: r.detail,
        created_at: r.created_at,
        source_file: r.source_file.unwrap_or_default(),
        source_line: r.source_line,
        resolution: r.resolution.map(|r| r.as_str().to_string()).unwrap_or_default(),
        note: r.note.unwrap_or_default(),
        resolved_by: r.resolved_by.unwrap_or_default(),
        resolved_at: r.resolved_at.unwrap_or_default(),
    }
}

/// The exception report (资助发放异常清单) of every open exception, written to `dir`, with a
/// second sheet of what was resolved this month (China time), by whom and how.
pub async fn exception_report(store: &Store, cfg: &Config, format: ReportFormat, dir: &Path) -> Result<PathBuf, BuildError> {
    let rows: Vec<ExceptionReportRow> = store.exception_report_rows().await?.into_iter().map(report_row).collect();
    let now = crate::clock::now();
    let month_start = now.date_naive().with_day(1).unwrap_or(now.date_naive());
    let since = month_start
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(crate::clock::china()).single())
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
        .unwrap_or_default();
    let resolved: Vec<ExceptionReportRow> = store.resolved_exception_rows(&since).await?.into_iter().map(report_row).collect();
    let mut table = exception_table(&rows, &cfg.account.name, &now.format("%Y-%m-%d %H:%M").to_string());
    let period = format!("{} 至 {}", month_start.format("%Y-%m-%d"), now.format("%Y-%m-%d %H:%M"));
    let second = super::exceptions::resolved_table(&resolved, &period);
    // The chain head, so a copy of the daily report kept elsewhere vouches for the trail.
    let head = store.audit_head().await?;
    table.subtitle = Some(format!("{}；审计链头 {head}", table.subtitle.take().unwrap_or_default()));
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.to_path_buf(), source })?;
    let stem = format!("exceptions-{}", now.format("%Y%m%d-%H%M%S"));
    let path = super::table::write_report_sheets(&table, &[second], format, dir, &stem)?;
    // 0600 as written; 0640 and the configured group's when finance staff read through one.
    crate::files::make_report_private(&path, cfg.paths.reports_group.as_deref()).map_err(|source| ReportError::Io { path: path.clone(), source })?;
    Ok(path)
}

/// What an explained entry was matched to, in words.
fn matched_words(m: Option<&str>, credit: bool) -> (String, String) {
    match m {
        Some("allocation") => ("财政拨付".into(), "已核对".into()),
        Some(b) if b.starts_with("batch:") => ("批次扣款".into(), format!("已核对 {}", &b[6..])),
        Some(r) if r.starts_with("return:") => ("退票入账".into(), format!("已核对 {}", &r[7..])),
        Some(other) => ("其他".into(), other.to_string()),
        None if credit => ("收入".into(), "未核对".into()),
        None => ("支出".into(), "未核对".into()),
    }
}

/// The reconciliation report: every statement with its entries and the running balance, then
/// every batch with what its debit was matched to.
pub async fn reconciliation_report(store: &Store, cfg: &Config, format: ReportFormat, dir: &Path) -> Result<PathBuf, BuildError> {
    use super::{Cell, Column, ColumnKind, Table};
    let account = cfg.account.number.as_str();
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    let (mut debits, mut credits) = (0i64, 0i64);
    for s in store.statements(account).await? {
        let mut running = s.opening_fen.unwrap_or(0);
        rows.push(vec![
            Cell::text(s.from_date.clone().unwrap_or_default()),
            Cell::text("期初余额"),
            Cell::text(format!("对账单 {}", s.statement_id)),
            Cell::Empty,
            Cell::Empty,
            s.opening_fen.map_or(Cell::Empty, |o| Cell::Money(Fen(o))),
            Cell::Empty,
        ]);
        for e in store.statement_entries(account, &s.statement_id).await? {
            let reference = e.batch_ref.clone().or(e.bank_ref.clone()).unwrap_or(e.entry_key.clone());
            if e.status != EntryStatus::Booked {
                // Listed by the bank but not booked: shown, outside the balance and the totals.
                let what = if e.credit { "收入（未记账）" } else { "支出（未记账）" };
                rows.push(vec![
                    Cell::text(e.booking_date.unwrap_or_default()),
                    Cell::text(what),
                    Cell::text(reference),
                    if e.credit { Cell::Empty } else { Cell::Money(Fen(e.amount_fen)) },
                    if e.credit { Cell::Money(Fen(e.amount_fen)) } else { Cell::Empty },
                    Cell::Empty,
                    Cell::text(format!("{}，不计入余额与对账", e.status.label_zh())),
                ]);
                continue;
            }
            let (what, check) = matched_words(e.matched.as_deref(), e.credit);
            if e.credit {
                running += e.amount_fen;
                credits += e.amount_fen;
            } else {
                running -= e.amount_fen;
                debits += e.amount_fen;
            }
            rows.push(vec![
                Cell::text(e.booking_date.unwrap_or_default()),
                Cell::text(what),
                Cell::text(reference),
                if e.credit { Cell::Empty } else { Cell::Money(Fen(e.amount_fen)) },
                if e.credit { Cell::Money(Fen(e.amount_fen)) } else { Cell::Empty },
                Cell::Money(Fen(running)),
                Cell::text(check),
            ]);
        }
        let check = match s.closing_fen {
            Some(c) if s.credits_fen.is_some() && s.opening_fen.map(|o| o + s.credits_fen.unwrap_or(0) - s.debits_fen.unwrap_or(0)) != Some(c) => {
                "余额不连续".to_string()
            }
            Some(_) => "一致".to_string(),
            None => String::new(),
        };
        if let Some(w) = &s.warnings {
            rows.push(vec![
                Cell::text(s.to_date.clone().unwrap_or_default()),
                Cell::text("读取说明"),
                Cell::text(format!("对账单 {}", s.statement_id)),
                Cell::Empty,
                Cell::Empty,
                Cell::Empty,
                Cell::text(w.replace('\n', "；")),
            ]);
        }
        rows.push(vec![
            Cell::text(s.to_date.clone().unwrap_or_default()),
            Cell::text("期末余额"),
            Cell::text(format!("对账单 {}", s.statement_id)),
            Cell::Empty,
            Cell::Empty,
            s.closing_fen.map_or(Cell::Empty, |c| Cell::Money(Fen(c))),
            Cell::text(check),
        ]);
    }
    // Notifications (camt.054) with entries no statement has repeated yet, and entries the bank
    // listed but did not book: shown, outside every balance.
    for (id, created) in store.notifications_with_entries(account).await? {
        rows.push(vec![
            Cell::text(created.get(..10).unwrap_or_default()),
            Cell::text("到账/扣款通知"),
            Cell::text(format!("通知 {id}")),
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
            Cell::text("尚无对账单，不计入余额"),
        ]);
        for e in store.statement_entries(account, &id).await? {
            let reference = e.batch_ref.clone().or(e.bank_ref.clone()).unwrap_or(e.entry_key.clone());
            let what = match (e.credit, e.status == EntryStatus::Booked) {
                (true, true) => "收入（通知）",
                (false, true) => "支出（通知）",
                (true, false) => "收入（未记账）",
                (false, false) => "支出（未记账）",
            };
            let check = if e.status == EntryStatus::Booked {
                "待对账单确认".to_string()
            } else {
                format!("{}，不计入余额与对账", e.status.label_zh())
            };
            rows.push(vec![
                Cell::text(e.booking_date.unwrap_or_default()),
                Cell::text(what),
                Cell::text(reference),
                if e.credit { Cell::Empty } else { Cell::Money(Fen(e.amount_fen)) },
                if e.credit { Cell::Money(Fen(e.amount_fen)) } else { Cell::Empty },
                Cell::Empty,
                Cell::text(check),
            ]);
        }
    }
    for b in store.batches().await? {
        use crate::domain::{BatchStatus as B, LabelZh};
        // What the statement check can say of a batch, in this report's words.
        let status = match b.status {
            B::Debited => "已扣款并核对",
            B::Delivered => "已发送，待扣款",
            B::Delivering => "交付中（待确认）",
            B::InDoubt => "交付待人工核实",
            B::Held => "暂缓（余额不足）",
            B::Written | B::Created => "待发送",
            other => other.label_zh(),
        };
        rows.push(vec![
            Cell::text(b.execution_date.clone()),
            Cell::text(format!("批次 ({} 笔, {})", b.nb_of_txs, b.profile)),
            Cell::text(b.batch_id.clone()),
            Cell::Money(Fen(b.ctrl_sum_fen)),
            Cell::Empty,
            Cell::Empty,
            Cell::text(status),
        ]);
    }
    let now = crate::clock::now();
    let table = Table {
        title: "资助专户对账表".into(),
        subtitle: Some(format!("专户 {} {}    生成时间 {}", cfg.account.name, account, now.format("%Y-%m-%d %H:%M"))),
        columns: vec![
            Column::new("日期", ColumnKind::Date),
            Column::new("类别", ColumnKind::Text),
            Column::new("参考号", ColumnKind::Text),
            Column::new("借方（支出）", ColumnKind::Money),
            Column::new("贷方（收入）", ColumnKind::Money),
            Column::new("余额", ColumnKind::Money),
            Column::new("核对结果", ColumnKind::Text),
        ],
        rows,
        totals: Some(vec![
            Cell::text("合计"),
            Cell::Empty,
            Cell::Empty,
            Cell::Money(Fen(debits)),
            Cell::Money(Fen(credits)),
            Cell::Empty,
            Cell::Empty,
        ]),
    };
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.to_path_buf(), source })?;
    let stem = format!("reconciliation-{}", now.format("%Y%m%d-%H%M%S"));
    let path = write_report(&table, format, dir, &stem)?;
    // 0600 as written; 0640 and the configured group's when finance staff read through one.
    crate::files::make_report_private(&path, cfg.paths.reports_group.as_deref()).map_err(|source| ReportError::Io { path: path.clone(), source })?;
    Ok(path)
}
