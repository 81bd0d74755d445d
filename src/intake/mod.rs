//! Intake: approved grant lists (CSV in UTF-8 or GBK, XLSX) into the store.
//!
//! A file is read as a stream of rows in chunks; each chunk is checked against the store (is the
//! grant id known? does the student already have this program this term?) and written with
//! multi-row inserts. The whole file is one transaction: it is applied entirely or not at all.
//! Every data row ends up counted once: imported (of which some held, and some superseding an
//! earlier version the school corrected), unchanged, conflict or rejected.

pub mod columns;
pub mod csv;
pub mod row;
pub mod xlsx;

pub use self::csv::EncodingChoice;

use crate::config::Config;
use crate::domain::GrantStatus;
use crate::domain::Priority;
use crate::domain::card::mask_card;
use crate::domain::grant::NewGrant;
use crate::domain::id_number::mask_id;
use crate::exceptions::{ExceptionKind, NewException};
use crate::store::{AuditEntry, CardUse, FileRecord, GrantRecord, KnownGrant, SealedGrant, Sealer, Store, StoreError, StoreTx, StoredGrant};
use crate::validation;
use columns::HeaderMap;
use row::RawRow;
use serde::Serialize;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// Rows checked and written together.
const CHUNK_ROWS: usize = 1000;

/// A problem reading the file itself (as opposed to one row of it).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("读取文件失败；技术原因：{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Csv(String),
    #[error("XLSX：{0}")]
    Xlsx(String),
    #[error("{0}")]
    Header(#[from] columns::HeaderError),
    #[error("{0}")]
    Encoding(String),
}

/// Why a file could not be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: {source}")]
    Source { file: String, source: SourceError },
    #[error("{file}: {source}")]
    Store { file: String, source: StoreError },
    /// The file changed while it was read (a copy still in progress): nothing applied, and the
    /// file is left where it is to be imported once it is complete.
    #[error("{file}: {why}")]
    Changed { file: String, why: String },
}

/// A rejected row in the summary.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RowErrorOut {
    pub line: u64,
    pub column: String,
    pub reason: String,
}

/// What happened to one file (`import --json`, INTERFACES.md).
#[derive(Debug, Clone, Serialize, Default)]
pub struct FileSummary {
    pub file: String,
    pub format: String,
    pub encoding: Option<String>,
    pub rows: u64,
    pub imported: u64,
    pub unchanged: u64,
    pub conflicts: u64,
    pub rejected: u64,
    pub held: u64,
    /// Imported rows that replaced a grant never attempted (a school's corrected re-send).
    pub superseded: u64,
    pub errors: Vec<RowErrorOut>,
    /// Rejected rows beyond `intake.max_listed_errors`, counted but not listed.
    pub errors_not_listed: u64,
    /// Set when the file could not be imported at all; then nothing of it was applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The file's content hash (not printed).
    #[serde(skip)]
    pub sha256: String,
}

/// Puts a file's rejected rows on the work list: one `rows_rejected` exception per file, its
/// detail listing each row (line, column, reason). For the daemon's import, where no clerk sees
/// the import's own summary. Returns whether it was new.
pub async fn raise_rows_rejected(store: &Store, summary: &FileSummary) -> Result<bool, StoreError> {
    if summary.rejected == 0 {
        return Ok(false);
    }
    let name = Path::new(&summary.file).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| summary.file.clone());
    let mut rows: Vec<String> = summary.errors.iter().map(|e| format!("第 {} 行 {}: {}", e.line, e.column, e.reason)).collect();
    if summary.errors_not_listed > 0 {
        rows.push(format!("另有 {} 行未列出", summary.errors_not_listed));
    }
    let mut tx = store.begin().await?;
    let n = tx
        .insert_exceptions(&[NewException::new(
            ExceptionKind::RowsRejected,
            &summary.sha256,
            format!("{name}: {} 行无法读取，未导入: {}", summary.rejected, rows.join("；")),
        )])
        .await?;
    tx.commit().await?;
    Ok(n > 0)
}

/// Options of `aidpay import`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    pub encoding: EncodingChoice,
}

enum Source {
    Csv(csv::CsvSource),
    Xlsx(xlsx::XlsxSource),
}

impl Source {
    fn open(path: &Path, opts: ImportOptions) -> Result<Source, SourceError> {
        let is_xlsx =
            path.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "xlsx" | "xlsm" | "xls" | "ods"))
                || starts_with_zip_magic(path)?;
        if is_xlsx { Ok(Source::Xlsx(xlsx::XlsxSource::open(path)?)) } else { Ok(Source::Csv(csv::CsvSource::open(path, opts.encoding)?)) }
    }

    fn header(&mut self) -> Result<Vec<String>, SourceError> {
        match self {
            Source::Csv(s) => s.header(),
            Source::Xlsx(s) => s.header(),
        }
    }

    fn next_row(&mut self) -> Option<Result<RawRow, SourceError>> {
        match self {
            Source::Csv(s) => s.next(),
            Source::Xlsx(s) => s.next(),
        }
    }
}

fn starts_with_zip_magic(path: &Path) -> std::io::Result<bool> {
    let mut magic = [0u8; 4];
    let n = std::fs::File::open(path)?.read(&mut magic)?;
    Ok(n == 4 && magic == *b"PK\x03\x04")
}

/// Opens a grant list and reads its header: the source positioned at the first data row, and
/// the header's columns. Sets the summary's format and encoding.
fn open_list(path: &Path, opts: ImportOptions, summary: &mut FileSummary) -> Result<(Source, HeaderMap), SourceError> {
    let mut source = Source::open(path, opts)?;
    match &source {
        Source::Csv(c) => {
            summary.format = "csv".into();
            summary.encoding = Some(csv::encoding_label(c.encoding).into());
        }
        Source::Xlsx(_) => summary.format = "xlsx".into(),
    }
    let header_cells = source.header()?;
    if header_cells.iter().any(|h| h.contains('\u{FFFD}')) {
        let enc = summary.encoding.clone().unwrap_or_default();
        return Err(SourceError::Encoding(format!(
            "表头行无法按 {enc} 编码读取；编码不对？（可用 --encoding gbk 或 --encoding utf-8 指定）"
        )));
    }
    let header = HeaderMap::from_headers(header_cells)?;
    Ok((source, header))
}

/// Reads a grant list exactly as [`import_file`] does (the same source, header check, row
/// parsing and the rules that need no store), without a store: each data row's line and its
/// grant with the rules it breaks, or why it cannot be read. For the fuzzers (tests/fuzz/)
/// and anything that wants to check a file before importing it.
pub fn read_grant_list(
    path: &Path,
    opts: ImportOptions,
    rules: &crate::config::Rules,
    mut each: impl FnMut(u64, Result<(&NewGrant, &[validation::Violation]), &row::RowError>),
) -> Result<FileSummary, SourceError> {
    let mut summary = FileSummary { file: path.display().to_string(), ..Default::default() };
    let (mut source, header) = open_list(path, opts, &mut summary)?;
    while let Some(next) = source.next_row() {
        let raw = next?;
        if raw.is_blank() {
            continue;
        }
        let read = read_row(&header, rules, &raw, None);
        summary.rows += 1;
        match &read.parsed {
            Ok(c) => each(read.line, Ok((&c.grant, &c.violations))),
            Err(e) => {
                summary.rejected += 1;
                each(read.line, Err(e))
            }
        }
    }
    Ok(summary)
}

/// Imports one grant list. A file-level failure comes back as `Err`, with nothing applied.
pub async fn import_file(store: &Store, cfg: &Config, path: &Path, opts: ImportOptions, actor: &str) -> Result<FileSummary, ImportError> {
    let file = path.display().to_string();
    let src_err = |source: SourceError| ImportError::Source { file: file.clone(), source };
    let store_err = |source: StoreError| ImportError::Store { file: file.clone(), source };

    let (snapshot, hashed) = crate::files::Snapshot::read(path, 0).map_err(|e| src_err(e.into()))?;
    let (sha, size) = (hashed.sha256, hashed.size as i64);
    let mut summary = FileSummary { file: file.clone(), sha256: sha.clone(), ..Default::default() };
    let (source, header) = open_list(path, opts, &mut summary).map_err(src_err)?;

    let mut tx = store.begin().await.map_err(store_err)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| file.clone());
    let file_id = tx
        .record_file(&FileRecord {
            direction: "in",
            kind: "grant_list",
            name: &name,
            sha256: &sha,
            size_bytes: size,
            status: crate::domain::FileStatus::Applied,
            detail: None,
        })
        .await
        .map_err(store_err)?
        .id;

    // Reading, parsing, the checks that need no store and sealing the personal data run on a
    // thread of their own, a few chunks ahead, while this task writes the previous chunk: the
    // two overlap instead of taking turns. The channel is bounded, so memory stays at a few
    // chunks.
    let (sender, mut chunks) = tokio::sync::mpsc::channel(2);
    let rules = cfg.rules.clone();
    let sealer = store.sealer();
    let reader = tokio::task::spawn_blocking(move || read_chunks(source, header, rules, sealer, sender));
    let progress = crate::progress::Progress::counter(&format!("导入 {name}"), "行");
    while let Some(chunk) = chunks.recv().await {
        let chunk = chunk.map_err(src_err)?;
        let cx = ChunkCtx { cfg, file_id, file_name: &name, actor };
        apply_chunk(&mut tx, &cx, &chunk, &mut summary).await.map_err(store_err)?;
        progress.set(summary.rows);
    }
    drop(progress);
    // The reader has stopped (it only returns once the channel is done); a panic in it is a bug,
    // reported as such instead of a half import.
    reader.await.map_err(|e| src_err(SourceError::Io(std::io::Error::other(e.to_string()))))?;
    // What was read is what the file is, from start to end: else nothing of it is applied.
    crate::files::pause_point("import_before_commit");
    snapshot.unchanged(path).map_err(|why| ImportError::Changed { file: file.clone(), why })?;

    tx.audit(&AuditEntry {
        actor,
        action: "import",
        subject: &name,
        before: None,
        after: Some(serde_json::json!({
            "sha256": sha, "rows": summary.rows, "imported": summary.imported, "unchanged": summary.unchanged,
            "conflicts": summary.conflicts, "rejected": summary.rejected, "held": summary.held, "superseded": summary.superseded,
        })),
    })
    .await
    .map_err(store_err)?;
    tx.commit().await.map_err(store_err)?;
    // The import is committed; statistics left stale only make later plans slower.
    if summary.imported >= crate::store::BULK_ROWS
        && let Err(e) = store.refresh_statistics(&["grants", "grant_states", "cards"]).await
    {
        tracing::warn!("planner statistics not refreshed after the import: {e}");
    }
    tracing::info!(
        file = %name, rows = summary.rows, imported = summary.imported, unchanged = summary.unchanged,
        conflicts = summary.conflicts, rejected = summary.rejected, held = summary.held, "grant list imported"
    );
    Ok(summary)
}

/// One data row as the reading thread hands it over: parsed and checked against the rules that
/// need no store, or the reason it cannot be read.
struct ReadRow {
    line: u64,
    parsed: Result<Checked, row::RowError>,
}

struct Checked {
    grant: NewGrant,
    fingerprint: String,
    violations: Vec<validation::Violation>,
    /// Its personal data sealed for the store, when a [`Sealer`] was given.
    sealed: Option<SealedGrant>,
}

/// One data row parsed and checked against the rules that need no store; with a sealer, its
/// personal data also sealed for the insert.
fn read_row(header: &HeaderMap, rules: &crate::config::Rules, raw: &RawRow, sealer: Option<&Sealer>) -> ReadRow {
    let parsed = row::parse_row(header, raw).map(|grant| Checked {
        fingerprint: grant.fingerprint(),
        violations: validation::check(&grant, rules),
        sealed: sealer.and_then(|s| s.grant(&grant)),
        grant,
    });
    ReadRow { line: raw.line, parsed }
}

/// The reading thread: rows in chunks of [`CHUNK_ROWS`] until the file ends, the first source
/// error, or the importing task stops listening.
fn read_chunks(
    mut source: Source,
    header: HeaderMap,
    rules: crate::config::Rules,
    sealer: Sealer,
    sender: tokio::sync::mpsc::Sender<Result<Vec<ReadRow>, SourceError>>,
) {
    let mut chunk = Vec::with_capacity(CHUNK_ROWS);
    while let Some(next) = source.next_row() {
        let raw = match next {
            Ok(raw) => raw,
            Err(e) => {
                let _ = sender.blocking_send(Err(e));
                return;
            }
        };
        if raw.is_blank() {
            continue;
        }
        chunk.push(read_row(&header, &rules, &raw, Some(&sealer)));
        if chunk.len() >= CHUNK_ROWS && sender.blocking_send(Ok(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_ROWS)))).is_err() {
            return;
        }
    }
    if !chunk.is_empty() {
        let _ = sender.blocking_send(Ok(chunk));
    }
}

/// What one chunk is checked and written with: the file it comes from, who imports it.
struct ChunkCtx<'a> {
    cfg: &'a Config,
    file_id: i64,
    /// The file's name, for every row message ("utf8.csv 第 25 行").
    file_name: &'a str,
    actor: &'a str,
}

/// The first characters of a grant's fingerprint, in the dedup keys of its intake exceptions: a
/// corrected re-send (a new fingerprint) raises its findings afresh.
fn fp_tag(fingerprint: &str) -> &str {
    &fingerprint[..fingerprint.len().min(12)]
}

/// Checks one chunk of rows against the store and writes it, inside the file's transaction.
///
/// A grant id met again: the same content is `unchanged`; other content replaces a grant that
/// was never attempted (a school's corrected re-send: the old version goes to the audit log, its
/// open exceptions are closed as superseded, the new version is checked afresh); a grant with a
/// payment attempt, or cancelled, keeps what it has and the row is an `import_conflict`.
async fn apply_chunk(tx: &mut StoreTx, cx: &ChunkCtx<'_>, chunk: &[ReadRow], summary: &mut FileSummary) -> Result<(), StoreError> {
    let cfg = cx.cfg;
    let parsed: Vec<&NewGrant> = chunk.iter().filter_map(|r| r.parsed.as_ref().ok()).map(|c| &c.grant).collect();
    let ids: Vec<&str> = parsed.iter().map(|g| g.grant_id.as_str()).collect();
    let students: Vec<&str> = parsed.iter().map(|g| g.id_number.as_str()).collect();
    let cards: Vec<&str> = parsed.iter().map(|g| g.card_number.as_str()).collect();
    let mut known = tx.known_grants(&ids).await?;
    let mut taken = tx.grants_of_students(&students).await?;
    let mut card_uses = tx.grants_by_cards(&cards).await?;
    // Grants of this chunk, so a repeat within the chunk compares with its first occurrence.
    let mut fresh: HashMap<&str, &NewGrant> = HashMap::new();

    let mut records = Vec::new();
    let mut raised = Vec::new();
    let mut superseded: Vec<(&str, StoredGrant)> = Vec::new();
    for ReadRow { line, parsed } in chunk {
        summary.rows += 1;
        let mut changed_card: Option<String> = None;
        let at = format!("{} 第 {line} 行", cx.file_name);
        let Checked { grant: g, fingerprint, violations, sealed } = match parsed {
            Err(e) => {
                summary.rejected += 1;
                if summary.errors.len() < cfg.max_listed_errors {
                    summary.errors.push(RowErrorOut { line: *line, column: e.column.clone(), reason: e.reason.clone() });
                } else {
                    summary.errors_not_listed += 1;
                }
                continue;
            }
            Ok(c) => c,
        };
        if let Some(old) = known.get(&g.grant_id) {
            if old.fingerprint == *fingerprint {
                summary.unchanged += 1;
                continue;
            }
            let first_in_file = fresh.get(g.grant_id.as_str()).copied();
            let replaceable = first_in_file.is_none() && !old.attempted && matches!(old.status, GrantStatus::Valid | GrantStatus::Held);
            if !replaceable {
                summary.conflicts += 1;
                let before = match first_in_file {
                    Some(first) => Some(StoredGrant::from_new(first, GrantStatus::Valid)),
                    None => tx.grant(&g.grant_id).await?,
                };
                raised.push(conflict(g, before.as_ref(), fingerprint, &at, old.status == GrantStatus::Cancelled));
                continue;
            }
            let Some(before) = tx.grant(&g.grant_id).await? else {
                continue;
            };
            summary.superseded += 1;
            changed_card = (cfg.approval.card_changes && (before.card_number != g.card_number || before.card_holder != g.card_holder)).then(|| {
                format!(
                    "卡号 {} 持卡人 {} → 卡号 {} 持卡人 {}",
                    mask_card(&before.card_number),
                    before.card_holder,
                    mask_card(&g.card_number),
                    g.card_holder
                )
            });
            superseded.push((g.grant_id.as_str(), before));
        }

        let mut violations = violations.clone();
        // Four eyes: where the money goes changes only when a second person agrees.
        if let Some(change) = changed_card.take() {
            violations.push(validation::Violation {
                kind: ExceptionKind::CardChanged,
                detail: format!("学校重新报送变更了收款卡：{change}；须经核实并由另一人复核后方可发放"),
            });
        }
        let key = (g.id_number.clone(), g.program.clone(), g.period.clone());
        if let Some(other) = taken.get(&key).filter(|other| **other != g.grant_id) {
            violations.push(validation::Violation {
                kind: ExceptionKind::DuplicateGrant,
                detail: format!("学生 {} 在 {} {} 已有资助 {}（可能来自其他学校）", mask_id(&g.id_number), g.period, g.program, other),
            });
        }
        let uses = card_uses.entry(g.card_number.clone()).or_default();
        if let Some(shared) = validation::card_shared(g, uses, &cfg.rules) {
            violations.push(shared);
        }
        uses.retain(|u| u.grant_id != g.grant_id);
        uses.push(CardUse {
            grant_id: g.grant_id.clone(),
            id_number: g.id_number.clone(),
            holder: g.card_holder.clone(),
            stage: g.stage.label().into(),
        });
        let status = if violations.is_empty() { GrantStatus::Valid } else { GrantStatus::Held };
        summary.imported += 1;
        if !violations.is_empty() {
            summary.held += 1;
        }
        for v in violations {
            raised.push(
                NewException::new(v.kind, format!("{}:{}", g.grant_id, fp_tag(fingerprint)), format!("{at}: {}", v.detail))
                    .grant(g.grant_id.clone())
                    .amount(Some(g.amount.0)),
            );
        }
        taken.entry(key).or_insert_with(|| g.grant_id.clone());
        known.insert(g.grant_id.clone(), KnownGrant { fingerprint: fingerprint.clone(), status, attempted: false });
        fresh.insert(g.grant_id.as_str(), g);
        records.push(GrantRecord { grant: g, status, fingerprint: fingerprint.clone(), line: *line, sealed: sealed.as_ref() });
    }
    if !superseded.is_empty() {
        let ids: Vec<&str> = superseded.iter().map(|(id, _)| *id).collect();
        tx.remove_unattempted_grants(&ids).await?;
        for (id, before) in &superseded {
            tx.resolve_all_grant_exceptions(
                id,
                crate::domain::Resolution::Superseded,
                &format!("学校重新报送更正数据（{}）", cx.file_name),
                cx.actor,
            )
            .await?;
            let after = records.iter().find(|r| r.grant.grant_id == *id).map(|r| StoredGrant::from_new(r.grant, r.status));
            tx.audit(&AuditEntry {
                actor: cx.actor,
                action: "grant.supersede",
                subject: id,
                before: Some(grant_audit_json(before)),
                after: after.as_ref().map(|a| {
                    let mut v = grant_audit_json(a);
                    v["changes"] = serde_json::Value::String(describe_changes(before, a));
                    v["file"] = serde_json::Value::String(cx.file_name.to_string());
                    v
                }),
            })
            .await?;
        }
    }
    tx.insert_grants(&cfg.account.number, cx.file_id, &records).await?;
    tx.insert_exceptions(&raised).await?;
    Ok(())
}

/// A grant as the audit log keeps a version of it: every field, card and ID numbers masked.
fn grant_audit_json(g: &StoredGrant) -> serde_json::Value {
    serde_json::json!({
        "grant_id": g.grant_id, "name": g.name, "id_number": mask_id(&g.id_number), "school_code": g.school_code,
        "school_name": g.school_name, "stage": g.stage, "grade": g.grade, "program": g.program, "tier": g.tier,
        "priority": g.priority, "period": g.period, "amount": crate::domain::Fen(g.amount_fen).to_string(),
        "card_holder": g.card_holder, "card_number": mask_card(&g.card_number), "bank": g.bank, "notice_end": g.notice_end,
        "status": g.status,
    })
}

/// An `import_conflict`: the stored grant stays as it is; the exception says what differs. A
/// re-send of a cancelled grant is one too (its own key, so it is raised even when the same
/// conflict was closed by the cancellation).
fn conflict(g: &NewGrant, before: Option<&StoredGrant>, fingerprint: &str, at: &str, cancelled: bool) -> NewException {
    let after = StoredGrant::from_new(g, GrantStatus::Valid);
    let changes = match before {
        Some(b) => describe_changes(b, &after),
        None => String::from("内容不同"),
    };
    let (why, key_tail) = if cancelled {
        ("已取消，重新报送的数据未导入", ":after_cancel")
    } else {
        ("已存在且已发放或在途，新数据未导入", "")
    };
    NewException::new(
        ExceptionKind::ImportConflict,
        format!("{}:{fingerprint}{key_tail}", g.grant_id),
        format!("{at}: 资助编号 {} {why}: {changes}", g.grant_id),
    )
    .grant(g.grant_id.clone())
    .amount(Some(g.amount.0))
}

/// `金额 750.00 → 1000.00; 卡号 6222 **** **** 0128 → 6217 **** **** 4566` (numbers masked).
pub fn describe_changes(a: &StoredGrant, b: &StoredGrant) -> String {
    let fields = |g: &StoredGrant| -> Vec<(&'static str, String)> {
        vec![
            ("姓名", g.name.clone()),
            ("身份证号", mask_id(&g.id_number)),
            ("学校代码", g.school_code.clone()),
            ("学校名称", g.school_name.clone()),
            ("学段", g.stage.clone()),
            ("年级", g.grade.clone()),
            ("资助项目", g.program.clone()),
            ("资助档次", g.tier.clone()),
            ("重点保障类别", g.priority.clone()),
            ("学期", g.period.clone()),
            ("金额", crate::domain::Fen(g.amount_fen).to_string()),
            ("持卡人", g.card_holder.clone()),
            ("卡号", mask_card(&g.card_number)),
            ("开户银行", g.bank.clone()),
            ("公示截止日期", g.notice_end.clone()),
        ]
    };
    let mut out = Vec::new();
    for ((label, x), (_, y)) in fields(a).into_iter().zip(fields(b)) {
        if x != y {
            out.push(format!("{label} {x} → {y}"));
        }
    }
    // The full numbers can differ where the masks do not.
    if out.is_empty() {
        if a.id_number != b.id_number {
            out.push("身份证号不同".into());
        }
        if a.card_number != b.card_number {
            out.push("卡号不同".into());
        }
    }
    out.join("; ")
}

impl StoredGrant {
    /// The stored form of a parsed grant (for comparing).
    pub fn from_new(g: &NewGrant, status: GrantStatus) -> StoredGrant {
        StoredGrant {
            grant_id: g.grant_id.clone(),
            name: g.name.clone(),
            id_number: g.id_number.clone(),
            school_code: g.school_code.clone(),
            school_name: g.school_name.clone(),
            stage: g.stage.label().into(),
            grade: g.grade.clone(),
            program: g.program.clone(),
            tier: g.tier.label().into(),
            priority: Priority::join(&g.priority),
            period: g.period.clone(),
            amount_fen: g.amount.0,
            card_holder: g.card_holder.clone(),
            card_number: g.card_number.clone(),
            bank: g.bank.clone(),
            notice_end: g.notice_end.to_string(),
            status,
        }
    }
}
