//! camt.053 statements and camt.054 notifications in: every entry of the special account kept,
//! only the special account's money counted.
//!
//! - **Whose money.** A statement or notification for another account, in another currency than
//!   the account's (`account.currency`, CNY unless configured), with a balance or an entry in
//!   another currency, or naming no account at all, is refused with a reason that says which
//!   account or currency it carries: the file is quarantined and nothing of it is applied —
//!   neither its entries nor the return credits in it (a foreign account's return credit naming
//!   one of our payments must never set that payment's money as back). A bank that sends
//!   excerpts without `Acct` says so in its profile (`banks.<name>.statements_without_account`,
//!   naming the special account); such a statement is then taken as the special account's, with
//!   a warning kept on it. In a province's database each district's daemon is configured with
//!   its own account, so it never applies another district's statement.
//! - **Every entry kept, once.** Each entry gets its identity (the bank's reference with sign,
//!   reversal flag and amount; see [`crate::store::entry_identity`] and the store's module for
//!   how equal identities are told apart) and is stored unless this file repeats one stored
//!   before. How it was identified is stored with it.
//! - **Only booked entries move money.** `Sts` `BOOK` (or `.08`'s `Sts/Cd`) entries count in the
//!   statement's sums, in the balance check and in reconciliation; pending (`PDNG`),
//!   information (`INFO`) and future (`FUTR`) entries are stored and shown, never reconciled,
//!   and count once when a later file reports them booked. An entry without any `Sts` is read as
//!   booked, with a warning.
//! - **Lenient where the money facts are clear** (the reader's warnings: a balance without its
//!   sign, a summary that does not read), kept on the statement and in the ingest summary;
//!   strict where one is missing (an entry without amount or sign refuses the file).

use super::{IngestSummary, ReadError};
use crate::config::{Config, same_account};
use crate::formats::camt::{self, CamtEvent, CamtKind, Entry, StatementInfo};
use crate::store::{
    DetailRecord, EntriesStored, EntryRecord, EntryStatus, IdentifiedBy, StatementRecord, StatementSums, StoreTx, entry_identity,
};
use std::collections::HashSet;
use std::path::Path;

/// Entries stored per round trip to the store.
const CHUNK: usize = 1000;

/// The statement being read.
struct Current {
    id: String,
    kind: &'static str,
    account: String,
    /// `TxsSummry/TtlNtries/NbOfNtries`, to compare with what the statement lists.
    summary_entries: Option<u64>,
    sums: StatementSums,
    listed: u64,
    position: i64,
    pending: Vec<EntryRecord>,
}

fn word(kind: CamtKind) -> &'static str {
    match kind {
        CamtKind::Statement => "对账单",
        CamtKind::Notification => "通知",
    }
}

/// The special account this statement is for, or why it is refused.
fn whose(cfg: &Config, info: &StatementInfo, sid: &str, warnings: &mut Vec<String>) -> Result<String, ReadError> {
    let ours = cfg.account.number.as_str();
    let zh = word(info.kind);
    match info.account.as_deref() {
        Some(a) if same_account(a, ours) => {}
        Some(a) => {
            return Err(ReadError::Unreadable(format!(
                "{zh} {sid} 的账号 {a} 不是本专户 {ours}（account.number）：只计入本专户的资金，此文件未导入任何内容"
            )));
        }
        None => match cfg.banks.iter().find(|b| b.statements_without_account.is_some()) {
            Some(b) => warnings.push(format!(
                "{zh} {sid} 未注明账号（无 Acct/Id）；按银行配置 {} 的设置（banks.{}.statements_without_account）视为本专户 {ours} 的{zh}",
                b.name, b.name
            )),
            None => {
                return Err(ReadError::Unreadable(format!(
                    "{zh} {sid} 未注明账号（无 Acct/Id），无法确认是本专户 {ours} 的{zh}：此文件未导入任何内容。\
                     如该银行发送的对账单本就不注明账号，请在其银行配置中设置 `statements_without_account = \"{ours}\"`\
                     （`[banks.<name>]`）"
                )));
            }
        },
    }
    let ccy = cfg.account.currency.as_str();
    let foreign = info
        .currency
        .as_deref()
        .filter(|c| !c.eq_ignore_ascii_case(ccy))
        .or_else(|| info.balances.iter().map(|b| b.currency.as_str()).find(|c| !c.eq_ignore_ascii_case(ccy)));
    if let Some(c) = foreign {
        return Err(ReadError::Unreadable(format!(
            "账号 {} 的{zh} {sid} 币种为 {c}，而本专户以 {ccy} 记账（account.currency）：{c} 金额从不当作 {ccy}，此文件未导入任何内容",
            info.account.as_deref().unwrap_or(ours)
        )));
    }
    Ok(ours.to_string())
}

/// The bank's reference of an entry, and how the entry is identified.
fn reference(e: &Entry, statement: &str, position: i64) -> (String, IdentifiedBy, Option<String>) {
    let usable = |r: &Option<String>| r.as_deref().map(str::trim).filter(|r| !r.is_empty() && !r.eq_ignore_ascii_case("NOTPROVIDED")).map(str::to_string);
    if let Some(r) = usable(&e.account_servicer_ref) {
        return (r.clone(), IdentifiedBy::AcctSvcrRef, Some(r));
    }
    if let Some(r) = usable(&e.entry_ref) {
        return (r.clone(), IdentifiedBy::NtryRef, Some(r));
    }
    (format!("{statement}#{position}"), IdentifiedBy::Position, None)
}

/// Reads a camt.053 or camt.054 and stores it inside `tx`; an `Unreadable` error means the
/// caller rolls back and quarantines the file.
pub(super) async fn ingest(tx: &mut StoreTx, cfg: &Config, path: &Path, file_id: i64, s: &mut IngestSummary) -> Result<(), ReadError> {
    let file = std::fs::File::open(path).map_err(|e| ReadError::Unreadable(format!("读取文件失败；技术原因：{e}")))?;
    // One file's entries at a time per account: telling repeats from new entries reads what is
    // stored, so two processes storing two files of the same account take turns (PostgreSQL).
    tx.lock(&format!("statements:{}", cfg.account.number)).await?;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<CamtEvent>>(4);
    let reader = tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(500);
        let summary = camt::read(std::io::BufReader::with_capacity(256 * 1024, file), |ev| {
            let flush = matches!(ev, CamtEvent::Statement(_));
            chunk.push(ev);
            if flush || chunk.len() >= 500 {
                sender.blocking_send(std::mem::replace(&mut chunk, Vec::with_capacity(500))).map_err(|_| "写入数据库的一端已停止")?;
            }
            Ok::<(), &'static str>(())
        });
        if summary.is_ok() && !chunk.is_empty() {
            let _ = sender.blocking_send(chunk);
        }
        summary.map_err(|e| e.to_string())
    });

    let mut current: Option<Current> = None;
    let mut claimed: HashSet<i64> = HashSet::new();
    let mut stored = EntriesStored::default();
    // End-to-end references of the booked credits: return credits (退票) of our payments.
    let mut returns: Vec<String> = Vec::new();
    let mut statements = 0u64;
    let date = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string());
    let ccy = cfg.account.currency.clone();
    let mut outcome: Result<(), ReadError> = Ok(());
    'read: while let Some(events) = receiver.recv().await {
        for ev in events {
            match ev {
                CamtEvent::Statement(info) => {
                    if let Some(done) = current.take() {
                        finish(tx, done, &mut claimed, &mut stored, s).await?;
                    }
                    statements += 1;
                    let sid = info
                        .id
                        .clone()
                        .or_else(|| info.message_id.as_ref().map(|m| format!("{m}#{statements}")))
                        .unwrap_or_else(|| format!("file{file_id}#{statements}"));
                    let mut warnings = info.warnings.clone();
                    let account = match whose(cfg, &info, &sid, &mut warnings) {
                        Ok(a) => a,
                        Err(e) => {
                            outcome = Err(e);
                            break 'read;
                        }
                    };
                    let signed = |b: Option<&camt::Balance>| b.map(|b| b.amount.0);
                    let kind = if info.kind == CamtKind::Statement { "statement" } else { "notification" };
                    tx.insert_statement_record(&StatementRecord {
                        statement_id: sid.clone(),
                        kind,
                        account_no: account.clone(),
                        currency: Some(ccy.clone()),
                        from_date: date(info.from),
                        to_date: date(info.to).or_else(|| date(info.balance(&["CLBD", "CLAV"]).and_then(|b| b.date))),
                        opening_fen: signed(info.balance(&["OPBD", "PRCD", "OPAV"])),
                        closing_fen: signed(info.balance(&["CLBD", "CLAV"])),
                        file_id: Some(file_id),
                    })
                    .await?;
                    current = Some(Current {
                        id: sid,
                        kind,
                        account,
                        summary_entries: info.summary.entries,
                        sums: StatementSums { warnings, ..Default::default() },
                        listed: 0,
                        position: 0,
                        pending: Vec::new(),
                    });
                }
                CamtEvent::Entry(e) => {
                    let Some(c) = current.as_mut() else {
                        outcome = Err(ReadError::Unreadable("有一笔分录不属于任何对账单或通知".into()));
                        break 'read;
                    };
                    c.position += 1;
                    c.listed += 1;
                    s.entries_read += 1;
                    if !e.currency.eq_ignore_ascii_case(&ccy) {
                        let zh = if c.kind == "statement" { "对账单" } else { "通知" };
                        outcome = Err(ReadError::Unreadable(format!(
                            "{zh} {} 的第 {} 笔分录为 {} {}，而本专户以 {ccy} 记账（account.currency）：此文件未导入任何内容",
                            c.id, c.position, e.amount, e.currency
                        )));
                        break 'read;
                    }
                    let status = match e.status.as_deref() {
                        Some(code) => EntryStatus::from_iso(code),
                        None => {
                            c.sums.warnings.push(format!("第 {} 笔分录（{} {}）没有 Sts（状态）；按已记账读取", c.position, e.amount, e.currency));
                            EntryStatus::Booked
                        }
                    };
                    let (reference, identified_by, bank_ref) = reference(&e, &c.id, c.position);
                    // CdtDbtInd is the direction of this booking, also for a reversal (RvslInd):
                    // a returned payment is a CRDT with RvslInd true.
                    if status == EntryStatus::Booked {
                        if e.credit {
                            c.sums.credits_fen += e.amount.0;
                            returns.extend(e.details.iter().filter_map(|d| d.end_to_end_id.clone()));
                        } else {
                            c.sums.debits_fen += e.amount.0;
                        }
                        c.sums.entries += 1;
                    } else {
                        c.sums.not_booked += 1;
                        s.entries_not_booked += 1;
                    }
                    let batch = e.batch.as_ref();
                    c.pending.push(EntryRecord {
                        identity: entry_identity(&reference, e.credit, e.reversal, e.amount.0),
                        identified_by,
                        bank_ref,
                        position: c.position,
                        status,
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
                    if c.pending.len() >= CHUNK {
                        let batch = std::mem::take(&mut c.pending);
                        stored += tx.store_entries(&c.id, c.kind, &c.account, &batch, &mut claimed).await?;
                    }
                }
            }
        }
    }
    if outcome.is_err() {
        // Stop the reader: it sees the channel closed and ends.
        drop(receiver);
        let _ = reader.await;
        return outcome;
    }
    reader.await.map_err(|e| ReadError::Unreadable(format!("读取中断；技术原因：{e}")))?.map_err(ReadError::Unreadable)?;
    if let Some(done) = current.take() {
        finish(tx, done, &mut claimed, &mut stored, s).await?;
    }
    s.entries += stored.new;
    s.entries_repeated += stored.repeated;
    let back = tx.money_back(&cfg.account.number, &returns).await?;
    if !back.is_empty() {
        tracing::info!(payments = back.len(), "returned money credited back to the special account");
    }
    if stored.now_booked > 0 {
        tracing::info!(entries = stored.now_booked, "entries stored as pending are booked now");
    }
    Ok(())
}

/// A statement ended: its last entries stored, its sums and warnings kept.
async fn finish(tx: &mut StoreTx, mut c: Current, claimed: &mut HashSet<i64>, stored: &mut EntriesStored, s: &mut IngestSummary) -> Result<(), ReadError> {
    let batch = std::mem::take(&mut c.pending);
    *stored += tx.store_entries(&c.id, c.kind, &c.account, &batch, claimed).await?;
    if let Some(n) = c.summary_entries
        && n != c.listed
    {
        c.sums.warnings.push(format!("TxsSummry/TtlNtries/NbOfNtries 写明 {n} 笔分录，而{}列出 {} 笔", if c.kind == "statement" { "对账单" } else { "通知" }, c.listed));
    }
    for w in &c.sums.warnings {
        s.warnings.push(format!("{}: {w}", c.id));
    }
    tx.set_statement_sums(&c.account, &c.id, &c.sums).await?;
    Ok(())
}
