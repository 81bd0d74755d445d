//! One function per job that takes in files: what the command line, the daemon, the demo and the
//! bench all call, so the flow of each is written once.
//!
//! - [`ingest`]: the gateways' result files (when reading the inbox), every bank file, then the
//!   no-answer sweep.
//! - [`import_inbox`]: every grant list waiting in `paths.inbox/grants/`: imported and moved to
//!   `processed/`, its rejected rows on the work list, or quarantined with the reason.
//!
//! The batch cycle ([`crate::batch::run_cycle`]) and reconciliation ([`crate::reconcile::run`])
//! are one function each already. Each outcome here is a type; its `detail_zh` is the one line
//! `job_runs`, `status` and the 任务失败 alert show, in Chinese.

use crate::config::Config;
use crate::domain::FileOutcome;
use crate::intake::{ImportError, ImportOptions};
use crate::returns::{IngestSummary, Origin};
use crate::store::{Store, StoreError};
use std::path::PathBuf;

/// Which bank files an ingest reads.
#[derive(Debug, Clone)]
pub enum BankFiles {
    /// What the gateways hold, then the inbox (the daemon, `aidpay ingest` with no files).
    Inbox,
    /// These files, named on the command line; no gateway is asked.
    These(Vec<PathBuf>),
}

/// What one ingest did.
#[derive(Debug, Clone, Default)]
pub struct IngestRun {
    pub files: Vec<IngestSummary>,
    /// New `no_answer` exceptions raised by the sweep.
    pub no_answer: u64,
    /// A gateway that could not be reached (the inbox was still read).
    pub fetch_error: Option<String>,
}

impl IngestRun {
    fn count(&self, outcome: FileOutcome) -> usize {
        self.files.iter().filter(|f| f.outcome == outcome).count()
    }

    /// The files that could not be read, with why.
    pub fn errors(&self) -> Vec<&str> {
        self.files.iter().filter(|f| f.outcome == FileOutcome::Error).map(|f| f.error.as_deref().unwrap_or("")).collect()
    }

    /// A file could not be read, or a gateway not reached: the run is retried.
    pub fn failed(&self) -> bool {
        self.fetch_error.is_some() || !self.errors().is_empty()
    }

    /// One line for `job_runs`: files by outcome, then the statuses they carried.
    pub fn detail_zh(&self) -> String {
        let sum = |f: fn(&IngestSummary) -> u64| self.files.iter().map(f).sum::<u64>();
        format!(
            "银行文件 {} 个（处理 {}，已处理过 {}，隔离 {}，另一进程处理中 {}）：状态 {} 条，成功 {}，拒绝 {}，退票 {}；新增“银行未回执” {} 条",
            self.files.len(),
            self.count(FileOutcome::Applied),
            self.count(FileOutcome::Duplicate),
            self.count(FileOutcome::Quarantined),
            self.count(FileOutcome::Skipped),
            sum(|f| f.statuses),
            sum(|f| f.settled),
            sum(|f| f.rejected),
            sum(|f| f.returned),
            self.no_answer
        )
    }
}

/// Ingests bank files: with [`BankFiles::Inbox`] the gateways' files are fetched first (a
/// gateway that fails is noted, the inbox still read), then each file is applied or quarantined
/// on its own, then payments sent too long ago without a final answer become `no_answer`.
pub async fn ingest(store: &Store, cfg: &Config, which: BankFiles, actor: &str) -> Result<IngestRun, IngestJobError> {
    let mut run = IngestRun::default();
    let (paths, origin) = match which {
        BankFiles::Inbox => {
            if let Err(e) = crate::returns::fetch_from_gateways(store, cfg).await {
                tracing::error!("fetching result files from the bank gateway: {e}");
                run.fetch_error = Some(e);
            }
            let paths = crate::returns::inbox_files(cfg).map_err(|source| IngestJobError::Inbox { dir: cfg.paths.inbox.clone(), source })?;
            (paths, Origin::Inbox)
        }
        BankFiles::These(paths) => (paths, Origin::Explicit),
    };
    for p in &paths {
        run.files.push(crate::returns::ingest_file(store, cfg, p, origin, actor).await?);
    }
    run.no_answer = crate::returns::sweep_no_answer(store, cfg).await?;
    Ok(run)
}

/// Why an ingest could not run at all (a file that cannot be read is not this: it is an
/// [`IngestSummary`] with [`FileOutcome::Error`]).
#[derive(Debug, thiserror::Error)]
pub enum IngestJobError {
    #[error("无法读取收件目录 {dir}: {source}")]
    Inbox { dir: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one import of the grant inbox did.
#[derive(Debug, Clone, Default)]
pub struct ImportRun {
    pub files: usize,
    pub imported: u64,
    pub held: u64,
    pub unchanged: u64,
    pub conflicts: u64,
    pub rejected: u64,
    pub quarantined: u64,
    /// What finance staff are to be told (a list with rejected rows).
    pub notices: Vec<crate::alerts::Notice>,
}

impl ImportRun {
    /// One line for `job_runs`.
    pub fn detail_zh(&self) -> String {
        format!(
            "资助名单 {} 个：导入资助 {} 笔（其中挂起 {}），未变 {}，冲突 {}，无法读取的行 {}，隔离文件 {} 个",
            self.files, self.imported, self.held, self.unchanged, self.conflicts, self.rejected, self.quarantined
        )
    }
}

/// Why the import job could not go on (the store, or the inbox folder itself).
#[derive(Debug, thiserror::Error)]
pub enum ImportJobError {
    #[error("{what} {path}: {source}")]
    Folder { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Imports every grant list in `paths.inbox/grants/`. An imported file moves to
/// `grants/processed/`, and its rejected rows (if any) become one `rows_rejected` exception and a
/// notice; a file that cannot be read at all goes to quarantine with the reason (and on the
/// audit trail); a file still being copied in is left for a later run; a database failure stops
/// the run with the file where it is, for the retry.
pub async fn import_inbox(store: &Store, cfg: &Config, actor: &str) -> Result<ImportRun, ImportJobError> {
    let dir = crate::scheduler::grants_inbox(cfg);
    std::fs::create_dir_all(&dir).map_err(|source| ImportJobError::Folder { what: "无法创建", path: dir.clone(), source })?;
    let files = crate::files::waiting_files(&dir).map_err(|source| ImportJobError::Folder { what: "无法读取", path: dir.clone(), source })?;
    let mut run = ImportRun { files: files.len(), ..Default::default() };
    for f in &files {
        match crate::intake::import_file(store, cfg, f, ImportOptions::default(), actor).await {
            Ok(s) => {
                run.imported += s.imported;
                run.held += s.held;
                run.unchanged += s.unchanged;
                run.conflicts += s.conflicts;
                run.rejected += s.rejected;
                // No clerk reads this import's summary: its rejected rows go on the work list.
                if crate::intake::raise_rows_rejected(store, &s).await? {
                    let mut reasons: Vec<String> = s.errors.iter().map(|e| format!("第 {} 行 {}：{}", e.line, e.column, e.reason)).collect();
                    if s.errors_not_listed > 0 {
                        reasons.push(format!("另有 {} 行未列出", s.errors_not_listed));
                    }
                    run.notices.push(crate::alerts::Notice::RowsRejected {
                        file: file_name(f),
                        schools: store.file_schools(&s.sha256).await?,
                        rows: s.rows,
                        rejected: s.rejected,
                        reasons,
                    });
                }
                if let Err(e) = crate::files::move_to_unique_name(f, &dir.join("processed")) {
                    tracing::warn!(file = %f.display(), "imported, but could not be moved to grants/processed: {e}");
                }
            }
            Err(e @ ImportError::Source { .. }) => {
                run.quarantined += 1;
                tracing::warn!("grant list quarantined: {e}");
                quarantine_grant_list(store, cfg, f, &e.to_string(), actor).await?;
            }
            Err(e @ ImportError::Store { .. }) => return Err(e.into()),
            // Still being copied in: left where it is, imported by a later run once complete.
            Err(e @ ImportError::Changed { .. }) => tracing::warn!("grant list not imported yet: {e}"),
        }
    }
    Ok(run)
}

/// A grant list that cannot be read: kept in quarantine with its reason, and on the audit trail
/// (every file in is, also one that could not be read).
async fn quarantine_grant_list(store: &Store, cfg: &Config, f: &std::path::Path, reason: &str, actor: &str) -> Result<(), ImportJobError> {
    let sha = crate::files::sha256_of_file(f).map_err(|source| ImportJobError::Folder { what: "无法读取", path: f.to_path_buf(), source })?;
    let kept = crate::files::quarantine(f, &cfg.paths.quarantine, reason).map_err(|source| ImportJobError::Folder {
        what: "无法隔离",
        path: f.to_path_buf(),
        source,
    })?;
    let mut tx = store.begin().await?;
    tx.audit(&crate::store::AuditEntry {
        actor,
        action: "quarantine",
        subject: &file_name(f),
        before: None,
        after: Some(serde_json::json!({"kind": "grant_list", "sha256": sha, "kept_as": file_name(&kept), "reason": reason})),
    })
    .await?;
    tx.commit().await?;
    Ok(())
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}
