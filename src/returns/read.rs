//! Reading each kind of bank file into [`Answer`]s or statement entries, streamed in chunks so a
//! report of a million statuses never sits in memory whole.

use super::apply::{self, Answer};
use super::{IngestSummary, ReadError};
use crate::config::Config;
use crate::formats::domestic::{LineStatus, ResultReader, looks_like};
use crate::store::StoreTx;
use std::path::Path;

/// Statuses applied per round trip to the store.
const CHUNK: usize = 2000;

/// The kind of a bank file, from its content.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Pain002,
    Camt053,
    Camt054,
    /// A domestic result file of the named bank profile.
    DomesticResult(String),
}

impl Kind {
    pub fn name(&self) -> String {
        match self {
            Kind::Pain002 => "pain002".into(),
            Kind::Camt053 => "camt053".into(),
            Kind::Camt054 => "camt054".into(),
            Kind::DomesticResult(p) => format!("domestic_result:{p}"),
        }
    }
}

/// Detects the kind from the first bytes.
pub fn detect_kind(cfg: &Config, head: &[u8]) -> Option<Kind> {
    use crate::formats::detect::{FileKind, detect};
    match detect(head) {
        FileKind::Pain002 => Some(Kind::Pain002),
        FileKind::Camt053 => Some(Kind::Camt053),
        FileKind::Camt054 => Some(Kind::Camt054),
        FileKind::NotXml => super::domestic_profiles(cfg).find(|(_, p)| looks_like(p, head)).map(|(n, _)| Kind::DomesticResult(n.to_string())),
        _ => None,
    }
}

/// The file being applied: where it is, its name as received and its id in `files`.
pub struct Incoming<'a> {
    pub path: &'a Path,
    pub name: &'a str,
    pub file_id: i64,
}

/// Applies a whole file inside `tx`; an `Unreadable` error means the caller rolls back.
pub async fn apply_file(tx: &mut StoreTx, cfg: &Config, kind: &Kind, file: &Incoming<'_>, s: &mut IngestSummary) -> Result<(), ReadError> {
    match kind {
        Kind::DomesticResult(profile) => domestic(tx, cfg, profile, file.path, file.file_id, s).await,
        Kind::Pain002 => pain002(tx, cfg, file, s).await,
        Kind::Camt053 | Kind::Camt054 => super::camt::ingest(tx, cfg, file.path, file.file_id, s).await,
    }
}

fn add(s: &mut IngestSummary, a: apply::Applied) {
    s.statuses += a.statuses;
    s.settled += a.settled;
    s.rejected += a.rejected;
    s.returned += a.returned;
    s.unknown_references += a.unknown;
    s.duplicate_statuses += a.duplicates;
}

/// A domestic result file: small (one batch), read whole, lines mapped to ISO statuses.
async fn domestic(tx: &mut StoreTx, cfg: &Config, profile_name: &str, path: &Path, file_id: i64, s: &mut IngestSummary) -> Result<(), ReadError> {
    let unreadable = |e: String| ReadError::Unreadable(e);
    let profile = super::domestic_profiles(cfg)
        .find(|(n, _)| *n == profile_name)
        .map(|(_, p)| p)
        .ok_or_else(|| unreadable(format!("银行配置 {profile_name} 已不存在")))?;
    let bytes = std::fs::read(path).map_err(|e| unreadable(format!("读取文件失败；技术原因：{e}")))?;
    let reader = ResultReader::new(profile, &cfg.reasons, &bytes[..]).map_err(|e| unreadable(e.to_string()))?;
    // A bank that answers by row number needs the batch's references in file order.
    let by_row = profile.result.as_ref().is_some_and(|r| r.detail.iter().any(|c| c == "seq") && !r.detail.iter().any(|c| c == "end_to_end_id"));
    let reader = if by_row {
        let batch = reader.header().batch_id.clone().ok_or_else(|| unreadable("结果文件没有写明批次号".into()))?;
        let refs = tx.batch_refs(&batch).await?;
        if refs.is_empty() {
            return Err(unreadable(format!("结果文件答复的批次 {batch} 不是本系统发出的")));
        }
        reader.with_references(refs)
    } else {
        reader
    };
    let mut answers = Vec::new();
    for line in reader {
        let line = line.map_err(|e| unreadable(e.to_string()))?;
        let status = match line.status {
            LineStatus::Settled => "ACSC",
            LineStatus::Rejected => "RJCT",
            LineStatus::Pending => "PDNG",
        };
        answers.push(Answer {
            reference: line.end_to_end_id,
            status: status.into(),
            reason_code: line.reason_code,
            reason_text: line.reason_text,
            amount: line.amount,
            account: line.card_number,
        });
    }
    for chunk in answers.chunks(CHUNK) {
        add(s, apply::apply(tx, file_id, chunk).await?);
    }
    Ok(())
}

/// The ISO status of a transaction as an [`Answer`].
fn answer_of(t: crate::formats::pain002::TxStatus) -> Answer {
    let reason = t.reasons.first();
    let text: Vec<String> = t.reasons.iter().flat_map(|r| r.additional_info.iter().cloned()).collect();
    Answer {
        reference: t.original_end_to_end_id.or(t.original_instr_id).unwrap_or_else(|| "(none)".into()),
        // A transaction without its own status takes its block's; the block is applied after.
        status: t.status.unwrap_or_else(|| "PDNG".into()),
        reason_code: reason.and_then(|r| r.code.clone().or(r.proprietary.clone())),
        reason_text: if text.is_empty() { None } else { Some(text.join("; ")) },
        amount: t.amount.map(|(f, _)| f),
        account: t.creditor_account,
    }
}

/// A pain.002, streamed: a reader thread hands chunks of statuses over a bounded channel, so
/// memory stays flat for a report of any size. A status given only at payment-information or
/// group level applies to every payment of that batch the report does not list one by one.
/// A group-level rejection that names no message at all (the bank could not read our file)
/// applies nothing and raises `file_rejected` at once ([`file_rejected`]).
async fn pain002(tx: &mut StoreTx, cfg: &Config, incoming: &Incoming<'_>, s: &mut IngestSummary) -> Result<(), ReadError> {
    use crate::formats::pain002;
    let file_id = incoming.file_id;
    let file = std::fs::File::open(incoming.path).map_err(|e| ReadError::Unreadable(format!("读取文件失败；技术原因：{e}")))?;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<Answer>>(4);
    let reader = tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(CHUNK);
        let report = pain002::read(std::io::BufReader::with_capacity(256 * 1024, file), |t| {
            chunk.push(answer_of(t));
            if chunk.len() >= CHUNK {
                sender.blocking_send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK))).map_err(|_| "写入数据库的一端已停止")?;
            }
            Ok::<(), &'static str>(())
        });
        if report.is_ok() && !chunk.is_empty() {
            let _ = sender.blocking_send(chunk);
        }
        report.map_err(|e| e.to_string())
    });
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    while let Some(chunk) = receiver.recv().await {
        seen.extend(chunk.iter().map(|a| a.reference.clone()));
        add(s, apply::apply(tx, file_id, &chunk).await?);
    }
    let report = reader.await.map_err(|e| ReadError::Unreadable(format!("读取中断；技术原因：{e}")))?.map_err(ReadError::Unreadable)?;
    if names_nothing(&report) {
        file_rejected(tx, cfg, incoming, &report, s).await?;
        return Ok(());
    }

    // Statuses at block or group level, for the payments not listed one by one.
    let mut blocks: Vec<(String, String, Option<&pain002::Reason>)> = Vec::new();
    for b in &report.payment_infos {
        if let (Some(id), Some(st)) = (&b.original_pmt_inf_id, &b.status) {
            blocks.push((id.clone(), st.clone(), b.reasons.first()));
        }
    }
    if report.payment_infos.is_empty()
        && let (Some(id), Some(st)) = (&report.original_msg_id, &report.group_status)
    {
        blocks.push((id.clone(), st.clone(), report.group_reasons.first()));
    }
    for (batch, status, reason) in blocks {
        if apply::meaning(&status) == apply::Meaning::Pending {
            continue;
        }
        // A batch-level status speaks for the payments still open; one already final (settled
        // by an earlier report, say) is not turned round by it.
        if tx.batch_refs(&batch).await?.is_empty() {
            let a = Answer {
                reference: batch.clone(),
                status: status.clone(),
                reason_code: None,
                reason_text: Some("批次级回执".into()),
                amount: None,
                account: None,
            };
            add(s, apply::apply(tx, file_id, &[a]).await?);
            continue;
        }
        let refs = tx.batch_refs_open(&batch).await?;
        let text: Vec<String> = reason.map(|r| r.additional_info.clone()).unwrap_or_default();
        let answers: Vec<Answer> = refs
            .into_iter()
            .filter(|r| !seen.contains(r))
            .map(|r| Answer {
                reference: r,
                status: status.clone(),
                reason_code: reason.and_then(|r| r.code.clone().or(r.proprietary.clone())),
                reason_text: if text.is_empty() { None } else { Some(text.join("; ")) },
                amount: None,
                account: None,
            })
            .collect();
        for chunk in answers.chunks(CHUNK) {
            add(s, apply::apply(tx, file_id, chunk).await?);
        }
    }
    Ok(())
}

/// An id that names nothing: missing, blank, or the ISO placeholder `NOTPROVIDED`.
fn unnamed(id: Option<&str>) -> bool {
    id.map(str::trim).is_none_or(|m| m.is_empty() || m.eq_ignore_ascii_case("NOTPROVIDED"))
}

/// A rejection of a whole file that says nothing of which file: a group status RJCT with no
/// `OrgnlMsgId` (or `NOTPROVIDED`), no payment-information block with an id and no transaction.
fn names_nothing(report: &crate::formats::pain002::StatusReport) -> bool {
    report.group_status.as_deref().is_some_and(|st| apply::meaning(st) == apply::Meaning::Rejected)
        && unnamed(report.original_msg_id.as_deref())
        && report.payment_infos.iter().all(|p| unnamed(p.original_pmt_inf_id.as_deref()))
        && report.tx_count == 0
}

/// The bank could not read a file of ours and does not say which: nothing is applied (no
/// payment can be told rejected), and finance staff are told at once, with the bank's text and
/// every batch delivered to that bank that has no answer yet — not days later as `no_answer`.
/// "That bank": the gateway profile the file came from (gateway files are named
/// `<profile>_<name>`), else the profiles that send pain.001 (of the version the report names,
/// when it names one), else every profile.
async fn file_rejected(
    tx: &mut StoreTx,
    cfg: &Config,
    incoming: &Incoming<'_>,
    report: &crate::formats::pain002::StatusReport,
    s: &mut IngestSummary,
) -> Result<(), ReadError> {
    use crate::config::{BankFormat, Transport};
    use crate::domain::Fen;
    use crate::exceptions::{ExceptionKind, NewException};
    let from_gateway = cfg.banks.iter().find(|b| matches!(b.transport, Transport::Gateway(_)) && incoming.name.starts_with(&format!("{}_", b.name)));
    let mut profiles: Vec<String> = match from_gateway {
        Some(b) => vec![b.name.clone()],
        None => cfg
            .banks
            .iter()
            .filter(|b| match &b.format {
                // The version of the message, when the report names one.
                BankFormat::Pain001(v) => {
                    report.original_msg_name.as_deref().map(str::trim).filter(|n| n.starts_with("pain.001.")).is_none_or(|n| n == v.as_str())
                }
                BankFormat::Domestic(_) => false,
            })
            .map(|b| b.name.clone())
            .collect(),
    };
    if profiles.is_empty() {
        profiles = cfg.banks.iter().map(|b| b.name.clone()).collect();
    }
    let batches = tx.batches_awaiting_answer(&cfg.account.number, &profiles).await?;
    let reason = report.group_reasons.first();
    let code = reason.and_then(|r| r.code.clone().or(r.proprietary.clone()));
    let text: Vec<String> = report.group_reasons.iter().flat_map(|r| r.additional_info.iter().cloned()).collect();
    let bank_says = match (&code, text.is_empty()) {
        (Some(c), false) => format!("{c} {}（{}）", crate::domain::reason::describe_zh(c), text.join("；")),
        (Some(c), true) => format!("{c} {}", crate::domain::reason::describe_zh(c)),
        (None, false) => text.join("；"),
        (None, true) => "未说明原因".to_string(),
    };
    let listed = if batches.is_empty() {
        format!("银行 {} 没有已发送且尚无回执的批次", profiles.join("、"))
    } else {
        let each: Vec<String> = batches
            .iter()
            .map(|b| {
                format!(
                    "{}（{}，{} 笔，{} 元，执行日 {}{}）",
                    b.batch_id,
                    b.profile,
                    b.nb_of_txs,
                    Fen(b.ctrl_sum_fen),
                    b.execution_date,
                    b.file_name.as_deref().map(|f| format!("，文件 {f}")).unwrap_or_default()
                )
            })
            .collect();
        format!("已发往该银行且尚无任何回执的批次 {} 个: {}", batches.len(), each.join("；"))
    };
    let detail = format!(
        "银行拒收整个文件（回执 {}{}）：{}；回执未指明是哪一个文件（无 OrgnlMsgId），未处理任何支付。{}。请立即与银行核对这些批次是否已入账，确认之前不要重新发送",
        incoming.name,
        report.msg_id.as_deref().map(|m| format!("，MsgId {m}")).unwrap_or_default(),
        bank_says,
        listed
    );
    let total: i64 = batches.iter().map(|b| b.ctrl_sum_fen).sum();
    let subject = format!("{}:{}", cfg.account.number, report.msg_id.clone().unwrap_or_else(|| format!("file{}", incoming.file_id)));
    let raised = tx
        .insert_exceptions(&[NewException::new(ExceptionKind::FileRejected, subject, detail).reason(code).amount(if batches.is_empty() {
            None
        } else {
            Some(total)
        })])
        .await?;
    tracing::warn!(file = %incoming.name, batches = batches.len(), "the bank rejected a whole file without naming it: file_rejected raised");
    s.file_rejected = raised > 0 || s.file_rejected;
    Ok(())
}
