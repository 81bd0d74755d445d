//! Answers in: everything the bank says about our payments and the special account.
//!
//! `ingest` takes a file (or everything in the inbox), detects its kind from the content —
//! pain.002 (.001.03 / .001.10), camt.053, camt.054, or a domestic result file of a configured
//! bank profile — and applies it in one transaction: statuses matched to our payments by
//! end-to-end reference ([`apply`]), statements and notifications of the special account
//! stored for reconciliation (`camt`). A file applied before (same SHA-256) is a no-op. A file
//! that cannot be read — malformed, truncated, with a DOCTYPE or entities, in an encoding other
//! than UTF-8 (GBK for domestic result files), of no known kind, or a statement that is not the
//! special account's — is moved to quarantine with the reason, and nothing in it is applied; it
//! may be ingested again once it reads (a profile corrected, say): only an applied file counts
//! as seen.

pub mod apply;
mod camt;
mod read;

pub use apply::{Answer, Applied};

use crate::config::{BankFormat, Config, Transport};
use crate::domain::FileOutcome;
use crate::exceptions::{ExceptionKind, NewException};
use crate::files::Hashed;
use crate::store::{AuditEntry, FileRecord, Store, StoreError};
use crate::transport::GatewayClient;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What happened to one file (`ingest --json`).
#[derive(Debug, Clone, Serialize, Default)]
pub struct IngestSummary {
    pub file: String,
    pub kind: Option<String>,
    pub outcome: FileOutcome,
    pub statuses: u64,
    pub settled: u64,
    pub rejected: u64,
    pub returned: u64,
    pub unknown_references: u64,
    pub duplicate_statuses: u64,
    /// Statement or notification entries stored now (camt).
    pub entries: u64,
    /// Entries the file lists (camt): stored now, stored before (`entries_repeated`), or
    /// refused with the whole file.
    pub entries_read: u64,
    /// Entries the file repeats that were stored before (an overlapping statement, a camt.054
    /// repeated by its camt.053).
    pub entries_repeated: u64,
    /// Entries listed but not booked (PDNG, INFO, FUTR): kept and shown, never reconciled.
    pub entries_not_booked: u64,
    /// A pain.002 rejecting a whole file without naming it: `file_rejected` raised.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub file_rejected: bool,
    /// What was read leniently (a balance without its sign, …), each naming the statement.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantined_to: Option<String>,
}

/// Why a file could not be applied; the text goes into the quarantine reason.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Unreadable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a file came from: an inbox file is moved once done (to `processed/`), a file named on
/// the command line stays where it is unless it must be quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Explicit,
    Inbox,
}

/// Ingests one file.
pub async fn ingest_file(store: &Store, cfg: &Config, path: &Path, origin: Origin, actor: &str) -> Result<IngestSummary, StoreError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut summary = IngestSummary { file: path.display().to_string(), ..Default::default() };
    // An inbox file another aidpay process works on (the daemon and a clerk's `ingest` at
    // once), or has already moved away, is theirs: skipped, and said so.
    let _claim = if origin == Origin::Inbox {
        match crate::files::claim(path) {
            Ok(Some(c)) => Some(c),
            Ok(None) => {
                summary.outcome = FileOutcome::Skipped;
                summary.warnings.push(format!("{name}: 另一个 aidpay 进程正在处理或已处理此文件，本次跳过 (taken by another aidpay process)"));
                tracing::info!(file = %name, "taken by another aidpay process: skipped");
                return Ok(summary);
            }
            Err(e) => {
                summary.outcome = FileOutcome::Error;
                summary.error = Some(format!("{}: {e}", path.display()));
                return Ok(summary);
            }
        }
    } else {
        None
    };
    // One read: the hash, the size and the head that tells the file's kind.
    let (snapshot, Hashed { sha256: sha, size, head }) = match crate::files::Snapshot::read(path, 16 * 1024) {
        Ok(x) => x,
        Err(e) => {
            summary.outcome = FileOutcome::Error;
            summary.error = Some(format!("{}: {e}", path.display()));
            return Ok(summary);
        }
    };
    let size = size as i64;
    let mut tx = store.begin().await?;
    // Two processes given the same file: the second waits here, then finds it applied.
    tx.lock(&format!("file:{sha}")).await?;
    if tx.file_applied_in(&sha).await? {
        tx.commit().await?;
        summary.outcome = FileOutcome::Duplicate;
        tracing::info!(file = %name, "applied before (same content): nothing to do");
        if origin == Origin::Inbox {
            move_processed(cfg, path);
        }
        return Ok(summary);
    }
    // The encoding first: a UTF-16 file is refused as such, not as "not a known bank file".
    let encoding_problem = crate::formats::detect::encoding_problem(&head);
    let kind = if encoding_problem.is_some() { None } else { read::detect_kind(cfg, &head) };
    summary.kind = kind.as_ref().map(|k| k.name());
    let result = match (&kind, encoding_problem) {
        (_, Some(problem)) => Err(ReadError::Unreadable(problem)),
        (Some(k), None) => {
            let file_id = tx
                .record_file(&FileRecord {
                    direction: "in",
                    kind: &k.name(),
                    name: &name,
                    sha256: &sha,
                    size_bytes: size,
                    status: crate::domain::FileStatus::Applied,
                    detail: None,
                })
                .await?
                .id;
            read::apply_file(&mut tx, cfg, k, &read::Incoming { path, name: &name, file_id }, &mut summary).await
        }
        (None, None) if crate::formats::detect::neither_utf8_nor_gbk(&head) => Err(ReadError::Unreadable(
            "不是可识别的银行文件，且文件编码既不是 UTF-8 也不是 GBK（例如 Latin-1 或 Big5）：如果这是银行回执，\
             请先转换为 UTF-8（例如 `iconv -f ISO-8859-1 -t UTF-8 FILE > FILE.utf8`），或在其银行配置中设置文件编码"
                .into(),
        )),
        (None, None) => Err(ReadError::Unreadable(
            "不是可识别的银行文件：既不是 pain.002、camt.053、camt.054，也不是已配置银行的结果文件".into(),
        )),
    };
    // What was read is what the file is, from start to end: else nothing of it is applied, and
    // an inbox file stays for the next run (a copy still in progress).
    crate::files::pause_point("ingest_before_commit");
    let result = match result {
        Ok(()) => match snapshot.unchanged(path) {
            Ok(()) => Ok(()),
            Err(why) => {
                drop(tx);
                let why = format!("{name}: {why}");
                tracing::warn!("not applied: {why}");
                return Ok(IngestSummary {
                    file: summary.file,
                    kind: summary.kind,
                    outcome: FileOutcome::Error,
                    error: Some(why),
                    ..Default::default()
                });
            }
        },
        other => other,
    };
    match result {
        Ok(()) => {
            tx.audit(&AuditEntry {
                actor,
                action: "ingest",
                subject: &name,
                before: None,
                after: Some(serde_json::json!({
                    "sha256": sha, "kind": summary.kind, "statuses": summary.statuses, "settled": summary.settled,
                    "rejected": summary.rejected, "returned": summary.returned, "entries": summary.entries,
                    "entries_read": summary.entries_read, "entries_repeated": summary.entries_repeated,
                    "entries_not_booked": summary.entries_not_booked, "warnings": summary.warnings,
                })),
            })
            .await?;
            tx.commit().await?;
            summary.outcome = FileOutcome::Applied;
            tracing::info!(file = %name, kind = ?summary.kind, statuses = summary.statuses, entries = summary.entries, "bank file applied");
            if origin == Origin::Inbox {
                move_processed(cfg, path);
            }
        }
        Err(ReadError::Store(e)) => return Err(e),
        Err(ReadError::Unreadable(reason)) => {
            drop(tx); // rolls back: nothing of the file is applied
            let reason = format!("{name}: {reason}");
            tracing::warn!("quarantined {reason}");
            summary.outcome = FileOutcome::Quarantined;
            summary.error = Some(reason.clone());
            let mut kept_as = None;
            match crate::files::quarantine(path, &cfg.paths.quarantine, &reason) {
                Ok(to) => {
                    kept_as = to.file_name().map(|n| n.to_string_lossy().into_owned());
                    summary.quarantined_to = Some(to.display().to_string());
                }
                Err(e) => summary.error = Some(format!("{reason}；且无法移入隔离区；技术原因：{e}")),
            }
            // What the file would have counted is not what was applied: nothing was.
            summary.entries = 0;
            summary.entries_repeated = 0;
            summary.entries_not_booked = 0;
            summary.statuses = 0;
            summary.settled = 0;
            summary.rejected = 0;
            summary.returned = 0;
            summary.unknown_references = 0;
            summary.duplicate_statuses = 0;
            summary.file_rejected = false;
            let mut tx = store.begin().await?;
            tx.record_quarantined(&name, &sha, size, &reason).await?;
            tx.audit(&AuditEntry {
                actor,
                action: "quarantine",
                subject: &name,
                before: None,
                after: Some(serde_json::json!({"sha256": sha, "kept_as": kept_as, "reason": reason})),
            })
            .await?;
            tx.commit().await?;
        }
    }
    Ok(summary)
}

/// A done inbox file into `inbox/processed/`, never over an earlier one of its name.
fn move_processed(cfg: &Config, path: &Path) {
    if let Err(e) = crate::files::move_to_unique_name(path, &cfg.paths.inbox.join("processed")) {
        tracing::warn!(file = %path.display(), "could not move the file to inbox/processed: {e}");
    }
}

/// The bank answers waiting in the inbox ([`crate::files::waiting_files`]: not hidden, not temp
/// files, not the `processed/` and `grants/` folders).
pub fn inbox_files(cfg: &Config) -> std::io::Result<Vec<PathBuf>> {
    crate::files::waiting_files(&cfg.paths.inbox)
}

/// Where callers outside the crate have long found it (now [`crate::files::waiting_files`]).
pub use crate::files::waiting_files;

/// Fetches the result files the banks' gateways offer into the inbox (the ones not seen yet).
pub async fn fetch_from_gateways(store: &Store, cfg: &Config) -> Result<Vec<PathBuf>, String> {
    let mut fetched = Vec::new();
    for b in &cfg.banks {
        let Transport::Gateway(settings) = &b.transport else {
            continue;
        };
        let client = GatewayClient::new(settings.clone()).map_err(|e| e.to_string())?;
        for name in client.list_results().await.map_err(|e| format!("{}: {e}", b.name))? {
            let bytes = client.fetch_result(&name).await.map_err(|e| format!("{}: {e}", b.name))?;
            let sha = crate::files::sha256_hex(&bytes);
            let seen = {
                let mut tx = store.begin().await.map_err(|e| e.to_string())?;
                let s = tx.file_seen_in(&sha).await.map_err(|e| e.to_string())?;
                tx.commit().await.map_err(|e| e.to_string())?;
                s
            };
            if seen {
                continue;
            }
            let local = format!("{}_{}", b.name, name);
            let path = crate::transport::deliver(&cfg.paths.inbox, &local, &bytes).map_err(|e| e.to_string())?;
            fetched.push(path);
        }
    }
    Ok(fetched)
}

/// The no-answer sweep: payments with no final status `no_answer_days` after they were sent.
pub async fn sweep_no_answer(store: &Store, cfg: &Config) -> Result<u64, StoreError> {
    let cutoff = (crate::clock::now() - chrono::Duration::days(cfg.no_answer_days)).to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let mut tx = store.begin().await?;
    let stale = tx.unanswered_payments(&cfg.account.number, &cutoff).await?;
    let raised: Vec<NewException> = stale
        .iter()
        .map(|p| {
            NewException::new(
                ExceptionKind::NoAnswer,
                &p.payment_ref,
                format!(
                    "支付 {}（批次 {}）发出超过 {} 天仍无最终回执（当前 {}）",
                    p.payment_ref,
                    p.batch_id.as_deref().unwrap_or("-"),
                    cfg.no_answer_days,
                    p.status
                ),
            )
            .grant(p.grant_id.clone())
            .payment(Some(p.payment_ref.clone()))
            .amount(Some(p.amount_fen))
        })
        .collect();
    let n = tx.insert_exceptions(&raised).await?;
    tx.commit().await?;
    Ok(n)
}

/// Which domestic profiles could have written a result file (for detection).
pub(crate) fn domestic_profiles(cfg: &Config) -> impl Iterator<Item = (&str, &crate::formats::domestic::DomesticProfile)> {
    cfg.banks.iter().filter_map(|b| match &b.format {
        BankFormat::Domestic(d) if d.result.is_some() => Some((b.name.as_str(), d.as_ref())),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_in(dir: &Path) -> Config {
        let text = format!(
            "[database]\nurl = \"sqlite://{d}/t.db?mode=rwc\"\n[paths]\ninbox = \"{d}/inbox\"\noutbox = \"{d}/outbox\"\n\
             quarantine = \"{d}/quarantine\"\nreports = \"{d}/reports\"\n[account]\nnumber = \"0012345\"\nname = \"测试\"\nbank = \"中国银行\"\n",
            d = dir.display()
        );
        Config::from_toml(&text, &dir.join("aidpay.toml")).unwrap()
    }

    #[test]
    fn a_processed_inbox_file_never_replaces_an_earlier_one_of_that_name() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config_in(dir.path());
        std::fs::create_dir_all(&cfg.paths.inbox).unwrap();
        let f = cfg.paths.inbox.join("answer.xml");
        std::fs::write(&f, b"first").unwrap();
        move_processed(&cfg, &f);
        std::fs::write(&f, b"second").unwrap();
        move_processed(&cfg, &f);
        let mut kept: Vec<Vec<u8>> =
            std::fs::read_dir(cfg.paths.inbox.join("processed")).unwrap().map(|e| std::fs::read(e.unwrap().path()).unwrap()).collect();
        kept.sort();
        assert_eq!(kept, vec![b"first".to_vec(), b"second".to_vec()], "both kept");
    }
}
