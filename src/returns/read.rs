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

/// Applies a whole file inside `tx`; an `Unreadable` error means the caller rolls back.
pub async fn apply_file(tx: &mut StoreTx, cfg: &Config, kind: &Kind, path: &Path, file_id: i64, s: &mut IngestSummary) -> Result<(), ReadError> {
    match kind {
        Kind::DomesticResult(profile) => domestic(tx, cfg, profile, path, file_id, s).await,
        Kind::Pain002 => pain002(tx, path, file_id, s).await,
        Kind::Camt053 | Kind::Camt054 => camt(tx, cfg, path, file_id, s).await,
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
        .ok_or_else(|| unreadable(format!("bank profile {profile_name} is gone")))?;
    let bytes = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
    let reader = ResultReader::new(profile, &cfg.reasons, &bytes[..]).map_err(|e| unreadable(e.to_string()))?;
    // A bank that answers by row number needs the batch's references in file order.
    let by_row = profile.result.as_ref().is_some_and(|r| r.detail.iter().any(|c| c == "seq") && !r.detail.iter().any(|c| c == "end_to_end_id"));
    let reader = if by_row {
        let batch = reader.header().batch_id.clone().ok_or_else(|| unreadable("the result file names no batch".into()))?;
        let refs = tx.batch_refs(&batch).await?;
        if refs.is_empty() {
            return Err(unreadable(format!("the result file answers batch {batch}, which we never sent")));
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
async fn pain002(tx: &mut StoreTx, path: &Path, file_id: i64, s: &mut IngestSummary) -> Result<(), ReadError> {
    use crate::formats::pain002;
    let file = std::fs::File::open(path).map_err(|e| ReadError::Unreadable(e.to_string()))?;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<Answer>>(4);
    let reader = tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(CHUNK);
        let report = pain002::read(std::io::BufReader::with_capacity(256 * 1024, file), |t| {
            chunk.push(answer_of(t));
            if chunk.len() >= CHUNK {
                sender.blocking_send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK))).map_err(|_| "the store side stopped")?;
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
    let report = reader.await.map_err(|e| ReadError::Unreadable(e.to_string()))?.map_err(ReadError::Unreadable)?;

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
            let a = Answer { reference: batch.clone(), status: status.clone(), reason_code: None, reason_text: Some("批次级回执".into()), amount: None, account: None };
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

/// A camt.053 statement or camt.054 notification: the header with its balances and every
/// booked entry with its details are stored (reconciliation works from them); a credit whose
/// details name a failed payment of ours is that payment's money coming back (退票).
async fn camt(tx: &mut StoreTx, cfg: &Config, path: &Path, file_id: i64, s: &mut IngestSummary) -> Result<(), ReadError> {
    use crate::formats::camt::{self, CamtEvent, CamtKind};
    use crate::store::{DetailRecord, EntryRecord, StatementRecord};
    let file = std::fs::File::open(path).map_err(|e| ReadError::Unreadable(e.to_string()))?;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<CamtEvent>>(4);
    let reader = tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(500);
        let summary = camt::read(std::io::BufReader::with_capacity(256 * 1024, file), |ev| {
            let flush = matches!(ev, CamtEvent::Statement(_));
            chunk.push(ev);
            if flush || chunk.len() >= 500 {
                sender.blocking_send(std::mem::replace(&mut chunk, Vec::with_capacity(500))).map_err(|_| "the store side stopped")?;
            }
            Ok::<(), &'static str>(())
        });
        if summary.is_ok() && !chunk.is_empty() {
            let _ = sender.blocking_send(chunk);
        }
        summary.map_err(|e| e.to_string())
    });

    let mut current: Option<(String, String)> = None;
    let mut entries: Vec<EntryRecord> = Vec::new();
    let mut returns: Vec<String> = Vec::new();
    let mut position = 0u64;
    let mut statements = 0u64;
    let mut sums = (0i64, 0i64, 0i64); // credits, debits, entries of the current statement
    let date = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string());
    while let Some(events) = receiver.recv().await {
        for ev in events {
            match ev {
                CamtEvent::Statement(info) => {
                    if let Some((sid, acct)) = &current {
                        s.entries += tx.insert_entries(sid, acct, &entries).await?;
                        entries.clear();
                        tx.set_statement_sums(sid, sums.0, sums.1, sums.2).await?;
                    }
                    sums = (0, 0, 0);
                    statements += 1;
                    let sid = info
                        .id
                        .clone()
                        .or_else(|| info.message_id.as_ref().map(|m| format!("{m}#{statements}")))
                        .unwrap_or_else(|| format!("file{file_id}#{statements}"));
                    let account = info.account.clone().unwrap_or_else(|| cfg.account.number.clone());
                    let signed = |b: Option<&camt::Balance>| b.map(|b| b.amount.0);
                    tx.insert_statement_record(&StatementRecord {
                        statement_id: sid.clone(),
                        kind: if info.kind == CamtKind::Statement { "statement" } else { "notification" },
                        account_no: account.clone(),
                        from_date: date(info.from),
                        to_date: date(info.to).or_else(|| date(info.balance(&["CLBD", "CLAV"]).and_then(|b| b.date))),
                        opening_fen: signed(info.balance(&["OPBD", "PRCD", "OPAV"])),
                        closing_fen: signed(info.balance(&["CLBD", "CLAV"])),
                        file_id: Some(file_id),
                    })
                    .await?;
                    current = Some((sid, account));
                    position = 0;
                }
                CamtEvent::Entry(e) => {
                    position += 1;
                    let Some((sid, _)) = &current else {
                        return Err(ReadError::Unreadable("an entry outside any statement".into()));
                    };
                    let key = e.account_servicer_ref.clone().or(e.entry_ref.clone()).unwrap_or_else(|| format!("{sid}#{position}"));
                    if e.credit {
                        returns.extend(e.details.iter().filter_map(|d| d.end_to_end_id.clone()));
                    }
                    // CdtDbtInd is the direction of this booking, also for a reversal (RvslInd):
                    // a returned payment is a CRDT with RvslInd true.
                    if e.credit {
                        sums.0 += e.amount.0;
                    } else {
                        sums.1 += e.amount.0;
                    }
                    sums.2 += 1;
                    let batch = e.batch.as_ref();
                    entries.push(EntryRecord {
                        entry_key: key,
                        booking_date: date(e.booking_date.or(e.value_date)),
                        credit: e.credit,
                        reversal: e.reversal,
                        amount_fen: e.amount.0,
                        batch_ref: batch.and_then(|b| b.pmt_inf_id.clone().or(b.msg_id.clone())),
                        batch_nb_of_txs: batch.and_then(|b| b.nb_of_txs).map(|n| n as i64),
                        batch_total_fen: batch.and_then(|b| b.total).map(|f| f.0),
                        bank_tx_code: e.bank_tx_code.clone().or(e.bank_tx_proprietary.clone()),
                        counterpart: e.details.first().and_then(|d| d.counterpart_account.clone()),
                        info: e.additional_info.clone(),
                        details: e
                            .details
                            .iter()
                            .map(|d| DetailRecord {
                                end_to_end_id: d.end_to_end_id.clone(),
                                amount_fen: d.amount.map(|f| f.0),
                                return_reason: d.return_reason.clone(),
                                counterpart: d.counterpart_account.clone(),
                            })
                            .collect(),
                    });
                    if entries.len() >= 1000 {
                        let (sid, acct) = current.as_ref().map(|(a, b)| (a.clone(), b.clone())).unwrap_or_default();
                        s.entries += tx.insert_entries(&sid, &acct, &entries).await?;
                        entries.clear();
                    }
                }
            }
        }
    }
    reader.await.map_err(|e| ReadError::Unreadable(e.to_string()))?.map_err(ReadError::Unreadable)?;
    if let Some((sid, acct)) = &current {
        s.entries += tx.insert_entries(sid, acct, &entries).await?;
        tx.set_statement_sums(sid, sums.0, sums.1, sums.2).await?;
    }
    let back = tx.money_back(&returns).await?;
    if !back.is_empty() {
        tracing::info!(payments = back.len(), "returned money credited back to the special account");
    }
    Ok(())
}
