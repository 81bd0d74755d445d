//! The hash-chained audit trail (审计轨迹) for the finance bureau, the audit office and the
//! supervisors (财政、审计、监察): `aidpay audit verify` and `aidpay audit export`.
//!
//! Every line is written by [`crate::store::StoreTx::audit`] and chained at its transaction's
//! commit (src/store/audit.rs has the canonical form and why the chain cannot fork). What goes on
//! it: every file in or out with its SHA-256 (`import`, `ingest`, `quarantine`, `batch.write`,
//! `report.write`, `audit.export`), every batch created (`batch.create`), proposed for approval
//! (`approval.propose`), approved or rejected (`approval.approve|reject`), handed over
//! (`batch.deliver.intent`, `batch.deliver`, `batch.deliver.in_doubt`), every reconciliation
//! (`reconcile`), every resolution (`exception.accept`, `grant.cancel`, `grant.reissue`,
//! `grant.release`, …), every user change (`user.add`, `user.passwd`, `user.disable`) and every
//! login and logout (`login`, `login.failed`, `login.locked`, `logout`).
//!
//! **verify** walks the chain from line 1: each line must have the next seq, the previous line's
//! hash as its prev_hash, and the hash of its own content; the last line must be the head the
//! store records. The first line that does not fit is named (an edited line: its hash; a deleted
//! one: the gap before the next; lines swapped: a prev_hash that is another line's). A rewrite
//! of the whole chain from some line on is consistent in itself: the chain head printed in every
//! period and daily report, kept outside the database, shows it. Then every file the trail names
//! with a hash is checked where aidpay keeps it: batch files in `paths.outbox`, quarantined files
//! in `paths.quarantine` (missing there is a problem too: both folders keep every file), reports
//! in `paths.reports` when still there (a report may be moved away: not kept is no problem).

use crate::config::Config;
use crate::reports::{Cell, Column, ColumnKind, ReportError, Table};
use crate::store::{AuditLine, ChainHead, GENESIS, Store, StoreError};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Lines read per step of the walk.
const CHUNK: i64 = 10_000;

/// The first line that does not fit the chain.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BadLine {
    /// The line's place in the chain as stored (None: a line with no place).
    pub seq: Option<i64>,
    pub id: i64,
    pub at: String,
    pub action: String,
    pub subject: String,
    /// Why, in Chinese with the facts.
    pub reason: String,
}

/// A file the trail names whose kept copy is not what the trail recorded.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FileProblem {
    /// The line that names the file.
    pub seq: i64,
    pub action: String,
    pub file: String,
    pub path: String,
    pub recorded_sha256: String,
    /// The kept copy's hash; None when it is missing or unreadable.
    pub actual_sha256: Option<String>,
    pub reason: String,
}

/// What `audit verify` found (`audit verify --json`).
#[derive(Debug, Clone, Serialize)]
pub struct AuditVerify {
    pub ok: bool,
    /// Lines walked.
    pub lines: u64,
    /// The head the store records.
    pub head: ChainHead,
    pub first_bad_line: Option<BadLine>,
    pub files_checked: u64,
    /// Files the trail names that aidpay does not keep (moved to processed, a report taken away).
    pub files_not_kept: u64,
    pub file_problems: Vec<FileProblem>,
}

impl AuditVerify {
    /// One line for reports and the export: `链头 第 N 行 HASH；校验通过` (or the first problem).
    pub fn summary_zh(&self) -> String {
        let mut s = format!("链头 {}；共 {} 行，核对文件 {} 个", self.head, self.lines, self.files_checked);
        match (&self.first_bad_line, self.file_problems.first()) {
            (None, None) => s.push_str("；校验通过"),
            (Some(b), _) => s.push_str(&format!("；校验未通过：{}", b.reason)),
            (None, Some(f)) => s.push_str(&format!("；校验未通过：{}", f.reason)),
        }
        s
    }
}

/// A file a line names: the file's name, its recorded hash and where aidpay keeps it.
struct NamedFile {
    name: String,
    sha256: String,
    /// The folder it is kept in and whether it must be there.
    kept_in: Option<(PathBuf, bool)>,
}

/// The file a line names, if it names one with a hash.
fn named_file(cfg: &Config, line: &AuditLine) -> Option<NamedFile> {
    let after: serde_json::Value = serde_json::from_str(line.after.as_deref()?).ok()?;
    let sha = after.get("sha256")?.as_str()?.to_string();
    let field = |k: &str| after.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let (name, kept_in) = match line.action.as_str() {
        "batch.write" => (field("file")?, Some((cfg.paths.outbox.clone(), true))),
        "quarantine" => (field("kept_as").unwrap_or_else(|| line.subject.clone()), Some((cfg.paths.quarantine.clone(), true))),
        "report.write" => (field("file")?, Some((cfg.paths.reports.clone(), false))),
        _ => (field("file").unwrap_or_else(|| line.subject.clone()), None),
    };
    Some(NamedFile { name, sha256: sha, kept_in })
}

/// Walks the whole chain and checks the files it names.
pub async fn verify(store: &Store, cfg: &Config) -> Result<AuditVerify, StoreError> {
    let head = store.audit_head().await?;
    let mut out =
        AuditVerify { ok: true, lines: 0, head: head.clone(), first_bad_line: None, files_checked: 0, files_not_kept: 0, file_problems: Vec::new() };
    let bad = |l: &AuditLine, reason: String| BadLine {
        seq: l.seq,
        id: l.id,
        at: l.at.clone(),
        action: l.action.clone(),
        subject: l.subject.clone(),
        reason,
    };
    let mut expected = 1i64;
    let mut prev = GENESIS.to_string();
    let mut after = 0i64;
    'walk: loop {
        let lines = store.audit_lines(after, CHUNK).await?;
        let Some(last) = lines.last() else { break };
        after = last.seq.unwrap_or(after);
        for l in &lines {
            out.lines += 1;
            let seq = l.seq.unwrap_or_default();
            let problem = if seq != expected {
                Some(if seq > expected {
                    format!("第 {seq} 行之前缺少第 {expected} 行（被删除）")
                } else {
                    format!("第 {seq} 行出现在第 {expected} 行的位置（顺序被改动）")
                })
            } else if l.prev_hash.as_deref() != Some(prev.as_str()) {
                Some(format!(
                    "第 {seq} 行记录的上一行哈希 {} 与第 {} 行的哈希 {prev} 不符（行被删除、替换或调换顺序）",
                    l.prev_hash.as_deref().unwrap_or("（空）"),
                    seq - 1
                ))
            } else {
                let computed = l.computed_hash(seq, &prev);
                if l.hash.as_deref() != Some(computed.as_str()) {
                    Some(format!(
                        "第 {seq} 行（{} {} {}）的内容与其哈希不符（被改动）：记录 {}，按内容计算 {computed}",
                        l.at,
                        l.action,
                        l.subject,
                        l.hash.as_deref().unwrap_or("（空）")
                    ))
                } else {
                    None
                }
            };
            if let Some(reason) = problem {
                out.first_bad_line = Some(bad(l, reason));
                break 'walk;
            }
            prev = l.hash.clone().unwrap_or_default();
            expected += 1;
            check_file(cfg, l, &mut out);
        }
    }
    if out.first_bad_line.is_none()
        && let Some(l) = store.audit_lines_unchained(1).await?.first()
    {
        out.first_bad_line = Some(bad(l, format!("第 {} 号记录（{} {} {}）不在链上：写入时绕过了审计链", l.id, l.at, l.action, l.subject)));
    }
    if out.first_bad_line.is_none() {
        let end = ChainHead { seq: expected - 1, hash: prev.clone() };
        if end != head {
            out.first_bad_line = Some(BadLine {
                seq: Some(expected),
                id: 0,
                at: String::new(),
                action: String::new(),
                subject: String::new(),
                reason: if head.seq > end.seq {
                    format!("链头记录到第 {} 行，轨迹止于第 {} 行：第 {} 行起被删除", head.seq, end.seq, end.seq + 1)
                } else {
                    format!("链头（{}）与最后一行（{}）不符", head, end)
                },
            });
        }
    }
    out.ok = out.first_bad_line.is_none() && out.file_problems.is_empty();
    Ok(out)
}

fn check_file(cfg: &Config, l: &AuditLine, out: &mut AuditVerify) {
    let Some(f) = named_file(cfg, l) else { return };
    let Some((dir, must)) = f.kept_in else {
        out.files_not_kept += 1;
        return;
    };
    let path = dir.join(&f.name);
    let problem = |actual: Option<String>, reason: String| FileProblem {
        seq: l.seq.unwrap_or_default(),
        action: l.action.clone(),
        file: f.name.clone(),
        path: path.display().to_string(),
        recorded_sha256: f.sha256.clone(),
        actual_sha256: actual,
        reason,
    };
    match crate::files::sha256_of_file(&path) {
        Ok(actual) if actual == f.sha256 => out.files_checked += 1,
        Ok(actual) => {
            out.files_checked += 1;
            out.file_problems.push(problem(
                Some(actual.clone()),
                format!("{} 的哈希 {actual} 与审计轨迹第 {} 行登记的 {} 不符（文件被改动）", path.display(), l.seq.unwrap_or_default(), f.sha256),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must => out.files_not_kept += 1,
        Err(e) => out.file_problems.push(problem(
            None,
            format!("审计轨迹第 {} 行登记的 {} 无法读取：{e}", l.seq.unwrap_or_default(), path.display()),
        )),
    }
}

/// What `audit export` wrote (`audit export --json`).
#[derive(Debug, Clone, Serialize)]
pub struct AuditExport {
    pub dir: String,
    pub lines: u64,
    pub csv: String,
    pub xlsx: String,
    pub head_file: String,
    pub files_copied: u64,
    pub files_not_kept: u64,
    pub head: ChainHead,
    pub verify_ok: bool,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}

/// The trail as a report table (one row per line).
pub fn trail_table(lines: &[AuditLine], subtitle: String) -> Table {
    let columns = vec![
        Column::new("序号", ColumnKind::Integer),
        Column::new("时间", ColumnKind::Date),
        Column::new("专户", ColumnKind::Text),
        Column::new("操作人", ColumnKind::Text),
        Column::new("操作", ColumnKind::Text),
        Column::new("对象", ColumnKind::Text),
        Column::new("变更前", ColumnKind::Text),
        Column::new("变更后", ColumnKind::Text),
        Column::new("上一行哈希", ColumnKind::Text),
        Column::new("本行哈希", ColumnKind::Text),
    ];
    let opt = |s: &Option<String>| s.clone().map(Cell::Text).unwrap_or(Cell::Empty);
    let rows = lines
        .iter()
        .map(|l| {
            vec![
                l.seq.map(Cell::Int).unwrap_or(Cell::Empty),
                Cell::text(&l.at),
                Cell::text(&l.account_no),
                Cell::text(&l.actor),
                Cell::text(&l.action),
                Cell::text(&l.subject),
                opt(&l.before),
                opt(&l.after),
                opt(&l.prev_hash),
                opt(&l.hash),
            ]
        })
        .collect();
    Table { title: "审计轨迹".into(), subtitle: Some(subtitle), columns, rows, totals: None }
}

/// `YYYY-MM-DD` → the next day, as text (the export's upper bound is inclusive).
fn next_day(d: &str) -> Result<String, ExportError> {
    let date = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| ExportError::Invalid(format!("日期 {d:?} 不是 YYYY-MM-DD")))?;
    Ok(date.succ_opt().unwrap_or(date).format("%Y-%m-%d").to_string())
}

/// Exports the lines written from `from` to `to` (China dates, both included) into `dir`:
/// `audit-FROM-TO.csv` (UTF-8 with BOM), `.xlsx`, `files/` with a copy of every file the lines
/// name that aidpay keeps, and `chain-head.txt` with the head and the result of a full verify.
pub async fn export(store: &Store, cfg: &Config, from: &str, to: &str, dir: &Path, actor: &str) -> Result<AuditExport, ExportError> {
    let to_excl = next_day(to)?;
    next_day(from)?;
    if from > to {
        return Err(ExportError::Invalid(format!("--from {from} 晚于 --to {to}")));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let account = store.account().unwrap_or("").to_string();
    let lines = store.audit_lines_between(&account, from, &to_excl).await?;
    let check = verify(store, cfg).await?;
    let subtitle = format!(
        "专户 {}（{}） {from} 至 {to}，共 {} 行；导出时 {}；导出人 {actor}",
        cfg.account.number,
        cfg.account.name,
        lines.len(),
        check.summary_zh()
    );
    let table = trail_table(&lines, subtitle);
    let stem = format!("audit-{from}-{to}");
    let csv = crate::reports::write_report(&table, crate::reports::ReportFormat::Csv, dir, &stem)?;
    let xlsx = crate::reports::write_report(&table, crate::reports::ReportFormat::Xlsx, dir, &stem)?;

    let files_dir = dir.join("files");
    let (mut copied, mut not_kept) = (0u64, 0u64);
    for l in &lines {
        let Some(f) = named_file(cfg, l) else { continue };
        let Some((kept, _)) = f.kept_in else {
            not_kept += 1;
            continue;
        };
        let src = kept.join(&f.name);
        if !src.is_file() {
            not_kept += 1;
            continue;
        }
        std::fs::create_dir_all(&files_dir).map_err(io(&files_dir))?;
        let target = files_dir.join(format!("{}-{}", l.seq.unwrap_or_default(), f.name));
        std::fs::copy(&src, &target).map_err(io(&target))?;
        copied += 1;
    }

    let head_file = dir.join("chain-head.txt");
    let mut text = String::new();
    text.push_str(&format!("aidpay 审计轨迹导出 {from} 至 {to}\n专户 {}（{}）\n", cfg.account.number, cfg.account.name));
    text.push_str(&format!("导出时间 {}，导出人 {actor}\n", crate::store::now_text()));
    text.push_str(&format!("链头 chain head: seq {} sha256 {}\n", check.head.seq, check.head.hash));
    text.push_str(&format!("本次导出 {} 行，附文件 {copied} 个（未保存的 {not_kept} 个）\n", lines.len()));
    text.push_str(&format!("audit verify: {}\n", if check.ok { "ok" } else { "FAILED" }));
    text.push_str(&format!("{}\n", check.summary_zh()));
    for p in &check.file_problems {
        text.push_str(&format!("文件问题：{}\n", p.reason));
    }
    text.push_str(&format!(
        "行哈希 = SHA-256(JSON 数组 [\"aidpay-audit/1\", 序号, 时间, 专户, 操作人, 操作, 对象, 变更前, 变更后, 上一行哈希])，第 1 行的上一行哈希为 64 个 0\n"
    ));
    std::fs::write(&head_file, text).map_err(io(&head_file))?;

    let csv_sha = crate::files::sha256_of_file(&csv).map_err(io(&csv))?;
    let mut tx = store.begin().await?;
    tx.audit(&crate::store::AuditEntry {
        actor,
        action: "audit.export",
        subject: &format!("{from}..{to}"),
        before: None,
        after: Some(serde_json::json!({"dir": dir.display().to_string(), "lines": lines.len(), "sha256": csv_sha,
            "head_seq": check.head.seq, "head_hash": check.head.hash, "verify_ok": check.ok})),
    })
    .await?;
    tx.commit().await?;
    Ok(AuditExport {
        dir: dir.display().to_string(),
        lines: lines.len() as u64,
        csv: csv.display().to_string(),
        xlsx: xlsx.display().to_string(),
        head_file: head_file.display().to_string(),
        files_copied: copied,
        files_not_kept: not_kept,
        head: check.head,
        verify_ok: check.ok,
    })
}

/// Records a report file written (its name and SHA-256) on the trail, for `report.write`.
pub async fn record_report(store: &Store, cfg: &Config, path: &Path, report: &str, actor: &str) -> Result<(), StoreError> {
    let sha = crate::files::sha256_of_file(path).map_err(|e| StoreError::Invalid(format!("{}: {e}", path.display())))?;
    // Named relative to paths.reports when it is there (verify checks it), else by its full path.
    let file = match path.strip_prefix(&cfg.paths.reports) {
        Ok(rel) => rel.display().to_string(),
        Err(_) => std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string(),
    };
    let mut tx = store.begin().await?;
    tx.audit(&crate::store::AuditEntry {
        actor,
        action: "report.write",
        subject: report,
        before: None,
        after: Some(serde_json::json!({"file": file, "sha256": sha})),
    })
    .await?;
    tx.commit().await
}
