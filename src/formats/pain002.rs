//! ISO 20022 **pain.002** (CustomerPaymentStatusReport) reader, versions `pain.002.001.03` and
//! `pain.002.001.10`, and leniently anything shaped like them: the bank's answer to a pain.001
//! we sent, saying which payments it accepted, settled or rejected, and why.
//!
//! # Streaming
//!
//! [`read`] walks the file once and hands every transaction status ([`TxStatus`]) to a callback
//! as soon as its `TxInfAndSts` closes; nothing per transaction is kept, so a report with
//! 1,000,000 transactions reads in constant memory. What is left — the header, the group status
//! and one [`PmtInfStatus`] per payment-information block with the number of transactions it
//! listed — comes back as the [`StatusReport`] when the document ends. A callback error stops the
//! read ([`ReadError::Callback`]); the statuses it already received were real, but the report is
//! incomplete, so the caller should treat the file as not ingested (its own transaction decides).
//!
//! # Field mapping (paths below `Document/CstmrPmtStsRpt`)
//!
//! | field | element | note |
//! |---|---|---|
//! | [`StatusReport::msg_id`] | `GrpHdr/MsgId` | the bank's id of this report |
//! | [`StatusReport::created`] | `GrpHdr/CreDtTm` | as written |
//! | [`StatusReport::original_msg_id`] | `OrgnlGrpInfAndSts/OrgnlMsgId` | our batch id, e.g. `B20261125000001` |
//! | [`StatusReport::original_msg_name`] | `OrgnlGrpInfAndSts/OrgnlMsgNmId` | `pain.001.001.03`, `pain.001.001.09`, … |
//! | [`StatusReport::group_status`] | `OrgnlGrpInfAndSts/GrpSts` | whole message |
//! | [`StatusReport::group_reasons`] | `OrgnlGrpInfAndSts/StsRsnInf` | |
//! | [`PmtInfStatus`] | `OrgnlPmtInfAndSts` | `OrgnlPmtInfId` = our batch id again, `PmtInfSts`, `StsRsnInf` |
//! | [`TxStatus::original_end_to_end_id`] | `OrgnlPmtInfAndSts/TxInfAndSts/OrgnlEndToEndId` | our payment ref, e.g. `AP000000000042` |
//! | [`TxStatus::original_instr_id`] | `…/TxInfAndSts/OrgnlInstrId` | |
//! | [`TxStatus::status`] | `…/TxInfAndSts/TxSts` | |
//! | [`TxStatus::reasons`] | `…/TxInfAndSts/StsRsnInf` | [`Reason`]: `Rsn/Cd`, `Rsn/Prtry`, `AddtlInf`* |
//! | [`TxStatus::amount`] | `…/OrgnlTxRef/Amt/InstdAmt` (else `OrgnlTxRef/IntrBkSttlmAmt`) | fen + `Ccy` |
//! | [`TxStatus::creditor_account`] | `…/OrgnlTxRef/CdtrAcct/Id/Othr/Id` or `…/Id/IBAN` | the aid card |
//! | [`TxStatus::creditor_name`] | `…/OrgnlTxRef/Cdtr/Nm` (.03) or `…/Cdtr/Pty/Nm` (.10) | |
//!
//! The two versions differ very little for what we read. In the XSDs `GrpSts`, `PmtInfSts`,
//! `TxSts`, `StsRsnInf`, `Rsn/Cd|Prtry` and `AddtlInf` have the same names and places; .10 makes
//! the status codes open External codes (any 1–4 characters instead of a closed list), writes the
//! creditor as a `Party40Choice` (`Cdtr/Pty/Nm` instead of `Cdtr/Nm`), adds `OrgnlUETR` and
//! `SplmtryData`, and has BICs in `AnyBIC`/`BICFI` instead of `BICOrBEI`/`BIC`. The reader
//! accepts the union, so a .03 file with a .10 habit (or the reverse) still reads. A
//! `TxInfAndSts` directly under `CstmrPmtStsRpt` (the .001.02 layout) is read too, with no
//! payment-information id.
//!
//! # Status codes stay strings
//!
//! `ACSC`, `ACCP`, `RJCT`, `PDNG`, … are kept exactly as written, unknown ones included (.10
//! allows any 1–4 characters and Verification-of-Payee adds new ones every year); deciding what
//! a code means for a payment is the caller's business, not the parser's.
//!
//! # Levels
//!
//! A status may be given at group level only, at payment-information level only (PostFinance:
//! `PmtInfSts` RJCT with no `TxInfAndSts` at all), or per transaction. A group- or PmtInf-level
//! RJCT rejects every transaction in that group or block, listed or not: the caller must apply
//! [`StatusReport::group_status`] and [`PmtInfStatus::status`] to the payments the report does
//! not list one by one. [`PmtInfStatus::tx_count_seen`] tells how many were listed.
//!
//! # Version
//!
//! [`StatusReport::version`] comes from the root's namespace
//! (`urn:iso:std:iso:20022:tech:xsd:pain.002.001.10`). With no namespace (Cross River's file
//! says `Xmlns=`, which is not a namespace declaration) it is guessed from elements only one
//! version has (`BICOrBEI`/`BIC` → .03; `AnyBIC`/`BICFI`/`OrgnlUETR`/`Cdtr/Pty` → .10), and is
//! [`Pain002Version::Unknown`] if the file has neither. The version never changes how the file is
//! read; it is information for the log.
//!
//! # Leniency
//!
//! No element is required except the message element itself: a report without `GrpHdr/MsgId` or
//! `OrgnlMsgId` still reads (the fields are `None`), since three of twelve real bank files break
//! their own schema. Values that are present must be right, though: an amount with a non-zero
//! third decimal, an amount without `Ccy`, a non-numeric count are errors naming the element.
//! The XML rules (namespaces ignored, DOCTYPE refused, truncation is an error) are
//! [`super::xml`]'s.

use super::detect::describe_message_element;
use super::xml::{self, Node, ReadError, XmlCursor, XmlError};
use crate::domain::Fen;
use rust_decimal::Decimal;
use std::fmt;
use std::io::BufRead;

/// The error of [`read`]; `E` is the callback's error type.
pub type Pain002Error<E> = ReadError<E>;

/// Repeating containers that are always written with their position in error paths.
const INDEXED: &[&str] = &["OrgnlPmtInfAndSts", "TxInfAndSts", "StsRsnInf"];

/// The pain.002 version of a report, as far as the file tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pain002Version {
    /// `pain.002.001.03` (2009).
    V03,
    /// `pain.002.001.10` (2019).
    V10,
    /// Another version named by the namespace, e.g. `pain.002.001.05`; read the same way.
    Other(String),
    /// No namespace and no version-specific element.
    Unknown,
}

impl fmt::Display for Pain002Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pain002Version::V03 => f.write_str("pain.002.001.03"),
            Pain002Version::V10 => f.write_str("pain.002.001.10"),
            Pain002Version::Other(id) => f.write_str(id),
            Pain002Version::Unknown => f.write_str("pain.002 (version unknown)"),
        }
    }
}

/// One `StsRsnInf`: why a status was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reason {
    /// `Rsn/Cd`: an ISO ExternalStatusReason1Code (AC01, AC04, AC06, BE01, AM04, MS03, NARR, …).
    pub code: Option<String>,
    /// `Rsn/Prtry`: the bank's own code, when it gives one instead.
    pub proprietary: Option<String>,
    /// `AddtlInf`, each ≤ 105 characters in the schema (not enforced); banks put their text here,
    /// e.g. `0999;CH72… Lastkonto unbekannt`.
    pub additional_info: Vec<String>,
}

/// The status of one payment-information block (`OrgnlPmtInfAndSts`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PmtInfStatus {
    /// `OrgnlPmtInfId`: for our files, the batch id.
    pub original_pmt_inf_id: Option<String>,
    /// `OrgnlNbOfTxs`: how many transactions the block had when we sent it.
    pub original_nb_of_txs: Option<u64>,
    /// `OrgnlCtrlSum`: the block's control sum as the bank repeats it (a decimal of yuan).
    pub original_ctrl_sum: Option<Decimal>,
    /// `PmtInfSts`: applies to every transaction of the block not listed with its own status.
    pub status: Option<String>,
    pub reasons: Vec<Reason>,
    /// How many `TxInfAndSts` this block listed (each went to the callback).
    pub tx_count_seen: u64,
}

/// One transaction's status (`TxInfAndSts`), handed to the callback of [`read`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxStatus {
    /// The enclosing block's `OrgnlPmtInfId`.
    pub original_pmt_inf_id: Option<String>,
    /// `OrgnlEndToEndId`: our payment reference.
    pub original_end_to_end_id: Option<String>,
    /// `OrgnlInstrId`.
    pub original_instr_id: Option<String>,
    /// `StsId`: the bank's id of this status.
    pub status_id: Option<String>,
    /// `TxSts`, as written (`ACSC`, `RJCT`, …). `None` when the bank gives only reasons.
    pub status: Option<String>,
    pub reasons: Vec<Reason>,
    /// `OrgnlTxRef/Amt/InstdAmt` (or `OrgnlTxRef/IntrBkSttlmAmt`) in fen, with its `Ccy`.
    pub amount: Option<(Fen, String)>,
    /// `OrgnlTxRef/CdtrAcct/Id/Othr/Id` (our card numbers) or `…/Id/IBAN`.
    pub creditor_account: Option<String>,
    /// `OrgnlTxRef/Cdtr/Nm` or `OrgnlTxRef/Cdtr/Pty/Nm`.
    pub creditor_name: Option<String>,
}

/// Everything in a report except the transactions, returned when the document ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub version: Pain002Version,
    /// The root's namespace URN, if it declares one.
    pub namespace: Option<String>,
    /// `GrpHdr/MsgId`.
    pub msg_id: Option<String>,
    /// `GrpHdr/CreDtTm`, as written.
    pub created: Option<String>,
    /// `OrgnlGrpInfAndSts/OrgnlMsgId`: the message answered (our batch id).
    pub original_msg_id: Option<String>,
    /// `OrgnlGrpInfAndSts/OrgnlMsgNmId`: `pain.001.001.03`, `pain.001.001.09`, …
    pub original_msg_name: Option<String>,
    pub original_nb_of_txs: Option<u64>,
    pub original_ctrl_sum: Option<Decimal>,
    /// `OrgnlGrpInfAndSts/GrpSts`.
    pub group_status: Option<String>,
    /// `OrgnlGrpInfAndSts/StsRsnInf`.
    pub group_reasons: Vec<Reason>,
    /// One per `OrgnlPmtInfAndSts`, in file order.
    pub payment_infos: Vec<PmtInfStatus>,
    /// All `TxInfAndSts` handed to the callback.
    pub tx_count: u64,
}

/// The reason currently being filled: group, payment-information block or transaction.
enum ReasonOwner {
    Group,
    PmtInf,
    Tx,
}

/// Reads a pain.002 from `input`, calling `on_tx` for each transaction status in file order.
///
/// ```
/// # use aidpay::formats::pain002;
/// let xml = br#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt>
///   <GrpHdr><MsgId>R1</MsgId><CreDtTm>2026-11-26T09:00:00</CreDtTm></GrpHdr>
///   <OrgnlGrpInfAndSts><OrgnlMsgId>B20261125000001</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId></OrgnlGrpInfAndSts>
///   <OrgnlPmtInfAndSts><OrgnlPmtInfId>B20261125000001</OrgnlPmtInfId>
///     <TxInfAndSts><OrgnlEndToEndId>AP000000000042</OrgnlEndToEndId><TxSts>RJCT</TxSts>
///       <StsRsnInf><Rsn><Cd>AC04</Cd></Rsn></StsRsnInf></TxInfAndSts>
///   </OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>"#;
/// let mut rejected = Vec::new();
/// let report = pain002::read(&xml[..], |tx| {
///     rejected.push((tx.original_end_to_end_id, tx.reasons[0].code.clone()));
///     Ok::<(), std::convert::Infallible>(())
/// })?;
/// assert_eq!(report.original_msg_id.as_deref(), Some("B20261125000001"));
/// assert_eq!(rejected, [(Some("AP000000000042".to_string()), Some("AC04".to_string()))]);
/// # Ok::<(), pain002::Pain002Error<std::convert::Infallible>>(())
/// ```
pub fn read<R: BufRead, E>(
    input: R,
    mut on_tx: impl FnMut(TxStatus) -> Result<(), E>,
) -> Result<StatusReport, Pain002Error<E>> {
    let mut x = XmlCursor::new(input, INDEXED);
    let mut report = StatusReport {
        version: Pain002Version::Unknown,
        namespace: None,
        msg_id: None,
        created: None,
        original_msg_id: None,
        original_msg_name: None,
        original_nb_of_txs: None,
        original_ctrl_sum: None,
        group_status: None,
        group_reasons: Vec::new(),
        payment_infos: Vec::new(),
        tx_count: 0,
    };
    // Depth of `CstmrPmtStsRpt` once found.
    let mut m: Option<usize> = None;
    // The open `OrgnlPmtInfAndSts` and `TxInfAndSts`, with their depths.
    let mut pmt: Option<(usize, PmtInfStatus)> = None;
    let mut tx: Option<(usize, TxStatus)> = None;
    // Amount from `IntrBkSttlmAmt`, used only if there is no `InstdAmt`.
    let mut settlement_amount: Option<(Fen, String)> = None;
    let mut hint_v03 = false;
    let mut hint_v10 = false;

    loop {
        match x.next_node()? {
            Node::Eof => break,
            Node::Start => {
                let depth = x.depth();
                if depth == 1 {
                    report.namespace = x.root_namespace().map(str::to_string);
                    match x.name() {
                        "Document" => {}
                        "CstmrPmtStsRpt" => m = Some(1),
                        other => {
                            return Err(ReadError::WrongMessage {
                                path: x.path(),
                                expected: "pain.002 支付状态报告（Document/CstmrPmtStsRpt）",
                                found: format!("根元素为 {} 的 XML 文件", super::xml::quoted(other)),
                            });
                        }
                    }
                    continue;
                }
                let Some(m) = m else {
                    if depth == 2 && x.name() == "CstmrPmtStsRpt" {
                        m = Some(2);
                        continue;
                    }
                    return Err(ReadError::WrongMessage {
                        path: x.path(),
                        expected: "pain.002 支付状态报告（CstmrPmtStsRpt）",
                        found: describe_message_element(x.name()),
                    });
                };
                if report.namespace.is_none() {
                    match x.name() {
                        "BICOrBEI" | "BIC" => hint_v03 = true,
                        "AnyBIC" | "BICFI" | "OrgnlUETR" => hint_v10 = true,
                        "Pty" if x.name_at(depth - 1, "Cdtr") => hint_v10 = true,
                        _ => {}
                    }
                }
                if x.at(m, &["OrgnlPmtInfAndSts"]) {
                    pmt = Some((depth, PmtInfStatus::default()));
                } else if x.name() == "TxInfAndSts"
                    && (x.at(m, &["OrgnlPmtInfAndSts", "TxInfAndSts"]) || x.at(m, &["TxInfAndSts"]))
                {
                    let pmt_inf_id = pmt
                        .as_ref()
                        .and_then(|(_, p)| p.original_pmt_inf_id.clone());
                    tx = Some((
                        depth,
                        TxStatus {
                            original_pmt_inf_id: pmt_inf_id,
                            ..TxStatus::default()
                        },
                    ));
                    settlement_amount = None;
                } else if x.name() == "StsRsnInf"
                    && let Some(owner) = reason_owner(&x, m, &pmt, &tx)
                {
                    reasons_of(owner, &mut report, &mut pmt, &mut tx).push(Reason::default());
                }
            }
            Node::End => {
                let Some(m) = m else { continue };
                let depth = x.depth();
                // Transaction level.
                if let Some((t, status)) = tx.as_mut() {
                    let t = *t;
                    if depth == t {
                        let (_, mut done) = tx.take().unwrap_or_default();
                        if done.amount.is_none() {
                            done.amount = settlement_amount.take();
                        }
                        report.tx_count += 1;
                        if let Some((_, p)) = pmt.as_mut() {
                            p.tx_count_seen += 1;
                        }
                        on_tx(done).map_err(|cause| ReadError::Callback {
                            path: x.path(),
                            cause,
                        })?;
                        continue;
                    }
                    if x.at(t, &["OrgnlEndToEndId"]) {
                        status.original_end_to_end_id = x.text_opt();
                    } else if x.at(t, &["OrgnlInstrId"]) {
                        status.original_instr_id = x.text_opt();
                    } else if x.at(t, &["StsId"]) {
                        status.status_id = x.text_opt();
                    } else if x.at(t, &["TxSts"]) {
                        status.status = x.text_opt();
                    } else if x.at(t, &["OrgnlTxRef", "Amt", "InstdAmt"]) {
                        status.amount = Some(amount_with_currency(&x)?);
                    } else if x.at(t, &["OrgnlTxRef", "IntrBkSttlmAmt"]) {
                        settlement_amount = Some(amount_with_currency(&x)?);
                    } else if x.at(t, &["OrgnlTxRef", "CdtrAcct", "Id", "Othr", "Id"])
                        || x.at(t, &["OrgnlTxRef", "CdtrAcct", "Id", "IBAN"])
                    {
                        status.creditor_account = x.text_opt();
                    } else if x.at(t, &["OrgnlTxRef", "Cdtr", "Nm"])
                        || x.at(t, &["OrgnlTxRef", "Cdtr", "Pty", "Nm"])
                    {
                        status.creditor_name = x.text_opt();
                    } else {
                        fill_reason(&x, t, &mut status.reasons);
                    }
                    continue;
                }
                // Payment-information level.
                if let Some((p, block)) = pmt.as_mut() {
                    let p = *p;
                    if depth == p {
                        if let Some((_, done)) = pmt.take() {
                            report.payment_infos.push(done);
                        }
                        continue;
                    }
                    if x.at(p, &["OrgnlPmtInfId"]) {
                        block.original_pmt_inf_id = x.text_opt();
                    } else if x.at(p, &["OrgnlNbOfTxs"]) {
                        block.original_nb_of_txs = Some(x.count()?);
                    } else if x.at(p, &["OrgnlCtrlSum"]) {
                        block.original_ctrl_sum = Some(x.decimal()?);
                    } else if x.at(p, &["PmtInfSts"]) {
                        block.status = x.text_opt();
                    } else {
                        fill_reason(&x, p, &mut block.reasons);
                    }
                    continue;
                }
                // Header and group level.
                if x.at(m, &["GrpHdr", "MsgId"]) {
                    report.msg_id = x.text_opt();
                } else if x.at(m, &["GrpHdr", "CreDtTm"]) {
                    report.created = x.text_opt();
                } else if x.at(m, &["OrgnlGrpInfAndSts", "OrgnlMsgId"]) {
                    report.original_msg_id = x.text_opt();
                } else if x.at(m, &["OrgnlGrpInfAndSts", "OrgnlMsgNmId"]) {
                    report.original_msg_name = x.text_opt();
                } else if x.at(m, &["OrgnlGrpInfAndSts", "OrgnlNbOfTxs"]) {
                    report.original_nb_of_txs = Some(x.count()?);
                } else if x.at(m, &["OrgnlGrpInfAndSts", "OrgnlCtrlSum"]) {
                    report.original_ctrl_sum = Some(x.decimal()?);
                } else if x.at(m, &["OrgnlGrpInfAndSts", "GrpSts"]) {
                    report.group_status = x.text_opt();
                } else if depth > m + 1 && x.name_at(m + 1, "OrgnlGrpInfAndSts") {
                    fill_reason(&x, m + 1, &mut report.group_reasons);
                }
            }
        }
    }

    if m.is_none() {
        return Err(ReadError::WrongMessage {
            path: "Document".to_string(),
            expected: "pain.002 支付状态报告（CstmrPmtStsRpt）",
            found: describe_message_element(""),
        });
    }
    report.version = match report
        .namespace
        .as_deref()
        .and_then(xml::message_id_of_namespace)
    {
        Some("pain.002.001.03") => Pain002Version::V03,
        Some("pain.002.001.10") => Pain002Version::V10,
        Some(other) => Pain002Version::Other(other.to_string()),
        None if hint_v10 && !hint_v03 => Pain002Version::V10,
        None if hint_v03 && !hint_v10 => Pain002Version::V03,
        None => Pain002Version::Unknown,
    };
    Ok(report)
}

/// Reads a whole report into memory: the report and every transaction status. For small files
/// and tests; use [`read`] for anything that may be large.
pub fn read_all<R: BufRead>(
    input: R,
) -> Result<(StatusReport, Vec<TxStatus>), Pain002Error<std::convert::Infallible>> {
    let mut txs = Vec::new();
    let report = read(input, |tx| {
        txs.push(tx);
        Ok(())
    })?;
    Ok((report, txs))
}

/// Which level a `StsRsnInf` that just started belongs to.
fn reason_owner<R: BufRead>(
    x: &XmlCursor<R>,
    m: usize,
    pmt: &Option<(usize, PmtInfStatus)>,
    tx: &Option<(usize, TxStatus)>,
) -> Option<ReasonOwner> {
    if let Some((t, _)) = tx {
        return x.at(*t, &["StsRsnInf"]).then_some(ReasonOwner::Tx);
    }
    if let Some((p, _)) = pmt {
        return x.at(*p, &["StsRsnInf"]).then_some(ReasonOwner::PmtInf);
    }
    x.at(m, &["OrgnlGrpInfAndSts", "StsRsnInf"])
        .then_some(ReasonOwner::Group)
}

fn reasons_of<'a>(
    owner: ReasonOwner,
    report: &'a mut StatusReport,
    pmt: &'a mut Option<(usize, PmtInfStatus)>,
    tx: &'a mut Option<(usize, TxStatus)>,
) -> &'a mut Vec<Reason> {
    match owner {
        ReasonOwner::Tx => match tx {
            Some((_, t)) => &mut t.reasons,
            None => &mut report.group_reasons,
        },
        ReasonOwner::PmtInf => match pmt {
            Some((_, p)) => &mut p.reasons,
            None => &mut report.group_reasons,
        },
        ReasonOwner::Group => &mut report.group_reasons,
    }
}

/// Fills the last reason from `StsRsnInf/Rsn/Cd`, `…/Rsn/Prtry` or `…/AddtlInf` below `base`.
fn fill_reason<R: BufRead>(x: &XmlCursor<R>, base: usize, reasons: &mut [Reason]) {
    let Some(reason) = reasons.last_mut() else {
        return;
    };
    if x.at(base, &["StsRsnInf", "Rsn", "Cd"]) {
        reason.code = x.text_opt();
    } else if x.at(base, &["StsRsnInf", "Rsn", "Prtry"]) {
        reason.proprietary = x.text_opt();
    } else if x.at(base, &["StsRsnInf", "AddtlInf"])
        && let Some(text) = x.text_opt()
    {
        reason.additional_info.push(text);
    }
}

/// The current amount element in fen with its `Ccy`, which the schema requires.
fn amount_with_currency<R: BufRead>(x: &XmlCursor<R>) -> Result<(Fen, String), XmlError> {
    let amount = x.amount()?;
    match x.attr("Ccy").map(str::trim).filter(|c| !c.is_empty()) {
        Some(ccy) => Ok((amount, ccy.to_string())),
        None => Err(x.invalid("金额没有 Ccy 属性（币种）")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    fn shared(rel: &str) -> std::io::BufReader<std::fs::File> {
        let path = format!(
            "{}/../shared/iso20022/samples/{rel}",
            env!("CARGO_MANIFEST_DIR")
        );
        let file = std::fs::File::open(&path).unwrap_or_else(|e| {
            panic!("{path}: {e}; the shared/ folder must sit beside the repository")
        });
        std::io::BufReader::new(file)
    }

    fn fixture(name: &str) -> std::io::BufReader<std::fs::File> {
        let path = format!("{}/fixtures/bank/iso/{name}", env!("CARGO_MANIFEST_DIR"));
        std::io::BufReader::new(
            std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}")),
        )
    }

    fn codes(tx: &TxStatus) -> Vec<&str> {
        tx.reasons
            .iter()
            .filter_map(|r| r.code.as_deref())
            .collect()
    }

    #[test]
    fn oca_boi_four_rejections_in_two_blocks() {
        let (report, txs) = read_all(shared("pain.002/oca_boi/test-sepa-pain-unpaid.xml")).unwrap();
        assert_eq!(report.version, Pain002Version::V03);
        assert_eq!(report.msg_id.as_deref(), Some("MSGID99345678912"));
        assert_eq!(report.original_msg_id.as_deref(), Some("MSGID12345678912"));
        assert_eq!(report.original_msg_name.as_deref(), Some("PAIN.008.001.02"));
        assert_eq!(report.original_nb_of_txs, Some(4));
        assert_eq!(report.original_ctrl_sum, Some(Decimal::from(400)));
        assert_eq!(report.group_status, None);
        assert_eq!(report.tx_count, 4);
        let blocks: Vec<_> = report
            .payment_infos
            .iter()
            .map(|p| {
                (
                    p.original_pmt_inf_id.as_deref(),
                    p.status.as_deref(),
                    p.tx_count_seen,
                )
            })
            .collect();
        assert_eq!(
            blocks,
            [(Some("PMTINFID1"), None, 2), (Some("PMTINFID2"), None, 2)]
        );
        assert_eq!(
            report.payment_infos[0].original_ctrl_sum,
            Some(Decimal::from(200))
        );
        let got: Vec<_> = txs
            .iter()
            .map(|t| {
                (
                    t.original_pmt_inf_id.as_deref().unwrap_or(""),
                    t.original_end_to_end_id.as_deref().unwrap_or(""),
                    t.status.as_deref().unwrap_or(""),
                    codes(t).join(","),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("PMTINFID1", "E2EID1", "RJCT", "AC01".to_string()),
                ("PMTINFID1", "E2EID2", "RJCT", "MS02".to_string()),
                ("PMTINFID2", "E2EID3", "RJCT", "MD06".to_string()),
                ("PMTINFID2", "E2EID4", "RJCT", "AM04".to_string()),
            ]
        );
        assert_eq!(txs[0].reasons[0].additional_info, ["ACC NUMBER INVALID"]);
        assert_eq!(txs[0].status_id.as_deref(), Some("IDREJ1"));
        assert_eq!(txs[0].amount, Some((Fen(10_000), "EUR".to_string())));
        assert_eq!(
            txs[0].creditor_account.as_deref(),
            Some("NL77ABNA0574908765")
        );
        assert_eq!(txs[0].creditor_name.as_deref(), Some("CREDITOR"));
    }

    #[test]
    fn nordea_pmtinf_and_tx_rejections_with_narrative() {
        let (report, txs) = read_all(shared("pain.002/nordea/pain_002_v3_txn_reject.xml")).unwrap();
        assert_eq!(report.version, Pain002Version::V03);
        assert_eq!(report.group_status, None);
        assert_eq!(
            report.original_msg_id.as_deref(),
            Some("MSGID-950-TEST2-2807-01")
        );
        assert_eq!(report.payment_infos.len(), 1);
        assert_eq!(report.payment_infos[0].status.as_deref(), Some("RJCT"));
        assert_eq!(report.payment_infos[0].tx_count_seen, 2);
        assert_eq!(txs.len(), 2);
        for tx in &txs {
            assert_eq!(tx.status.as_deref(), Some("RJCT"));
            assert_eq!(codes(tx), ["NARR"]);
            assert_eq!(
                tx.reasons[0].additional_info,
                ["CAP Invalid code or combinations in CategoryPurpose or ServiceLevel"]
            );
            assert_eq!(
                tx.original_pmt_inf_id.as_deref(),
                Some("PMTINFID-950-TEST2-2807-01")
            );
        }
        assert_eq!(
            txs[0].original_end_to_end_id.as_deref(),
            Some("ENDTOENDID-950-TEST2-2807-02")
        );
        assert_eq!(
            txs[1].original_instr_id.as_deref(),
            Some("INSTRID-950-TEST2-2807-01")
        );
    }

    #[test]
    fn cross_river_no_namespace_group_accepted_but_all_rejected() {
        let (report, txs) = read_all(shared(
            "pain.002/cross_river/pain_002_transaction_rejected.xml",
        ))
        .unwrap();
        assert_eq!(
            report.namespace, None,
            "Xmlns= is not a namespace declaration"
        );
        assert_eq!(report.version, Pain002Version::V03, "guessed from BICOrBEI");
        assert_eq!(report.group_status.as_deref(), Some("ACTC"));
        assert_eq!(report.original_ctrl_sum, Some(Decimal::new(504, 2)));
        assert_eq!(report.payment_infos[0].status.as_deref(), Some("RJCT"));
        assert_eq!(
            report.payment_infos[0].original_ctrl_sum,
            Some(Decimal::new(50400, 4))
        );
        assert_eq!(txs.len(), 3);
        assert!(
            txs.iter()
                .all(|t| t.status.as_deref() == Some("RJCT") && codes(t) == ["NARR"])
        );
        assert_eq!(
            txs[0].reasons[0].additional_info,
            ["Instruction ID example01234567 already exist"],
            "CDATA text kept"
        );
        assert_eq!(
            txs[0].original_instr_id, txs[1].original_instr_id,
            "shared OrgnlInstrId"
        );
    }

    #[test]
    fn postfinance_v10_rejects_a_whole_block() {
        let (report, txs) = read_all(shared(
            "pain.002/postfinance/3_pain002 B-Level und C-Level RJCT_ISO2019_v2019.xml",
        ))
        .unwrap();
        assert_eq!(report.version, Pain002Version::V10);
        assert_eq!(
            report.original_msg_name.as_deref(),
            Some("pain.001.001.09.ch.03")
        );
        assert!(txs.is_empty());
        assert_eq!(report.tx_count, 0);
        let block = &report.payment_infos[0];
        assert_eq!(block.original_pmt_inf_id.as_deref(), Some("PMTINF-02"));
        assert_eq!(block.status.as_deref(), Some("RJCT"));
        assert_eq!(block.tx_count_seen, 0);
        assert_eq!(
            block.reasons,
            [Reason {
                code: Some("AC01".into()),
                proprietary: None,
                additional_info: vec!["0999;CH7280005000088877766 Lastkonto unbekannt".into()],
            }]
        );
    }

    #[test]
    fn our_batch_answered_with_a_prefixed_namespace() {
        let (report, txs) = read_all(fixture("pain002-v03-prefixed-mixed.xml")).unwrap();
        assert_eq!(report.version, Pain002Version::V03);
        assert_eq!(report.original_msg_id.as_deref(), Some("B20261125000001"));
        assert_eq!(report.original_msg_name.as_deref(), Some("pain.001.001.03"));
        assert_eq!(report.group_status.as_deref(), Some("PART"));
        assert_eq!(report.payment_infos.len(), 1);
        assert_eq!(
            report.payment_infos[0].original_pmt_inf_id.as_deref(),
            Some("B20261125000001")
        );
        assert_eq!(report.payment_infos[0].tx_count_seen, 6);
        let got: Vec<_> = txs
            .iter()
            .map(|t| {
                (
                    t.original_end_to_end_id.clone().unwrap_or_default(),
                    t.status.clone().unwrap_or_default(),
                    codes(t).join(","),
                )
            })
            .collect();
        let want = [
            ("AP000000000001", "ACSC", ""),
            ("AP000000000002", "RJCT", "AC01"),
            ("AP000000000003", "RJCT", "AC04"),
            ("AP000000000004", "ACSC", ""),
            ("AP000000000005", "RJCT", "AC06"),
            ("AP000000000006", "RJCT", "BE01"),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
        assert_eq!(got, want);
        let be01 = &txs[5];
        assert_eq!(be01.original_pmt_inf_id.as_deref(), Some("B20261125000001"));
        assert_eq!(be01.amount, Some((Fen(150_000), "CNY".to_string())));
        assert_eq!(
            be01.creditor_account.as_deref(),
            Some("6217000130000000068")
        );
        assert_eq!(be01.creditor_name.as_deref(), Some("阿依古丽·吐尔逊"));
        assert_eq!(be01.reasons[0].additional_info, ["户名不符"]);
        assert_eq!(txs[0].amount, Some((Fen(250_000), "CNY".to_string())));
    }

    #[test]
    fn group_level_only_rejection_v10() {
        let (report, txs) = read_all(fixture("pain002-v10-group-rjct.xml")).unwrap();
        assert_eq!(report.version, Pain002Version::V10);
        assert!(txs.is_empty());
        assert!(report.payment_infos.is_empty());
        assert_eq!(report.group_status.as_deref(), Some("RJCT"));
        assert_eq!(report.original_msg_id.as_deref(), Some("B20261125000002"));
        assert_eq!(report.original_nb_of_txs, Some(3));
        assert_eq!(report.original_ctrl_sum, Some(Decimal::new(450_000, 2)));
        assert_eq!(report.group_reasons.len(), 1);
        assert_eq!(report.group_reasons[0].code.as_deref(), Some("AM04"));
        assert_eq!(
            report.group_reasons[0].additional_info,
            ["专户可用余额不足", "available 3000.00 CNY"]
        );
    }

    #[test]
    fn truncated_and_doctype_fixtures_are_refused() {
        let e = read_all(fixture("pain002-truncated.xml")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("被截断"), "{msg}");
        assert!(msg.contains("TxInfAndSts[3]"), "{msg}");

        let mut seen = 0;
        let e = read(fixture("pain002-doctype-entity.xml"), |_| {
            seen += 1;
            Ok::<(), Infallible>(())
        })
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("DOCTYPE") && msg.contains("实体"), "{msg}");
        assert_eq!(seen, 0, "refused before any transaction");
    }

    #[test]
    fn truncation_anywhere_is_an_error_never_a_short_report() {
        let path = format!(
            "{}/../shared/iso20022/samples/pain.002/oca_boi/test-sepa-pain-unpaid.xml",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(path).unwrap();
        let end = bytes
            .windows(11)
            .rposition(|w| w == b"</Document>")
            .unwrap();
        for cut in (0..end).step_by(97) {
            assert!(
                read_all(&bytes[..cut]).is_err(),
                "cut at {cut} read as a success"
            );
        }
        assert!(read_all(&bytes[..end + 11]).is_ok());
    }

    #[test]
    fn amounts_must_be_whole_fen_and_carry_a_currency() {
        let doc = |amt: &str| {
            format!(
                "<Document><CstmrPmtStsRpt><OrgnlPmtInfAndSts><OrgnlPmtInfId>B1</OrgnlPmtInfId>\
                 <TxInfAndSts><OrgnlEndToEndId>AP1</OrgnlEndToEndId><OrgnlTxRef><Amt>{amt}</Amt></OrgnlTxRef>\
                 </TxInfAndSts></OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>"
            )
        };
        let (_, txs) =
            read_all(doc(r#"<InstdAmt Ccy="CNY">1000.500</InstdAmt>"#).as_bytes()).unwrap();
        assert_eq!(txs[0].amount, Some((Fen(100_050), "CNY".into())));
        let e = read_all(doc(r#"<InstdAmt Ccy="CNY">1000.505</InstdAmt>"#).as_bytes()).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "Document/CstmrPmtStsRpt/OrgnlPmtInfAndSts[1]/TxInfAndSts[1]/OrgnlTxRef/Amt/InstdAmt："
            ),
            "{e}"
        );
        assert!(e.to_string().contains("第三位小数不是零"), "{e}");
        let e = read_all(doc("<InstdAmt>5.00</InstdAmt>").as_bytes()).unwrap_err();
        assert!(e.to_string().contains("Ccy"), "{e}");
    }

    #[test]
    fn unknown_status_codes_are_kept_and_v02_layout_reads() {
        let xml = "<Document><CstmrPmtStsRpt><OrgnlGrpInfAndSts><OrgnlMsgId>B1</OrgnlMsgId>\
                   <GrpSts>RCVC</GrpSts></OrgnlGrpInfAndSts>\
                   <TxInfAndSts><OrgnlEndToEndId>AP1</OrgnlEndToEndId><TxSts>X9</TxSts>\
                   <StsRsnInf><Rsn><Prtry>3031</Prtry></Rsn><AddtlInf>账号户名不符</AddtlInf></StsRsnInf>\
                   <StsRsnInf><Rsn><Cd>BE01</Cd></Rsn></StsRsnInf></TxInfAndSts>\
                   </CstmrPmtStsRpt></Document>";
        let (report, txs) = read_all(xml.as_bytes()).unwrap();
        assert_eq!(report.group_status.as_deref(), Some("RCVC"));
        assert_eq!(report.version, Pain002Version::Unknown);
        assert_eq!(txs[0].status.as_deref(), Some("X9"));
        assert_eq!(txs[0].original_pmt_inf_id, None);
        assert_eq!(txs[0].reasons.len(), 2);
        assert_eq!(txs[0].reasons[0].proprietary.as_deref(), Some("3031"));
        assert_eq!(txs[0].reasons[0].additional_info, ["账号户名不符"]);
        assert_eq!(txs[0].reasons[1].code.as_deref(), Some("BE01"));
        assert_eq!(report.tx_count, 1);
        assert!(report.payment_infos.is_empty());
    }

    #[test]
    fn wrong_messages_are_named() {
        let e = read_all(&b"<Document><BkToCstmrStmt/></Document>"[..]).unwrap_err();
        assert!(e.to_string().contains("camt.053"), "{e}");
        let e = read_all(&b"<CMS><eb/></CMS>"[..]).unwrap_err();
        assert!(e.to_string().contains("根元素为 `CMS`"), "{e}");
        let e = read_all(&b"<Document/>"[..]).unwrap_err();
        assert!(e.to_string().contains("空的 Document"), "{e}");
    }

    #[test]
    fn the_callback_can_stop_the_read() {
        let xml = std::fs::read(format!(
            "{}/../shared/iso20022/samples/pain.002/oca_boi/test-sepa-pain-unpaid.xml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut n = 0;
        let e = read(&xml[..], |tx| {
            n += 1;
            if tx.original_end_to_end_id.as_deref() == Some("E2EID3") {
                Err("unknown reference E2EID3")
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!(n, 3);
        assert!(matches!(
            e,
            ReadError::Callback {
                cause: "unknown reference E2EID3",
                ..
            }
        ));
        assert!(
            e.to_string()
                .contains("OrgnlPmtInfAndSts[2]/TxInfAndSts[1]"),
            "{e}"
        );
    }

    /// A pain.002 with `n` transactions, generated on the fly (constant memory).
    pub(crate) struct Synthetic {
        n: u64,
        next: u64,
        chunk: Vec<u8>,
        at: usize,
        done: bool,
    }

    impl Synthetic {
        pub(crate) fn new(n: u64) -> Self {
            let head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.002.001.03\"><CstmrPmtStsRpt>\
                <GrpHdr><MsgId>R1</MsgId><CreDtTm>2026-11-26T09:00:00</CreDtTm></GrpHdr>\
                <OrgnlGrpInfAndSts><OrgnlMsgId>B20261125000001</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId><GrpSts>PART</GrpSts></OrgnlGrpInfAndSts>\
                <OrgnlPmtInfAndSts><OrgnlPmtInfId>B20261125000001</OrgnlPmtInfId>\n";
            Synthetic {
                n,
                next: 0,
                chunk: head.as_bytes().to_vec(),
                at: 0,
                done: false,
            }
        }
    }

    impl std::io::Read for Synthetic {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            use std::io::Write;
            while self.at == self.chunk.len() {
                if self.done {
                    return Ok(0);
                }
                self.chunk.clear();
                self.at = 0;
                let end = (self.next + 1000).min(self.n);
                for i in self.next..end {
                    let rejected = i % 10 == 3;
                    let _ = writeln!(
                        self.chunk,
                        "<TxInfAndSts><OrgnlEndToEndId>AP{i:012}</OrgnlEndToEndId><TxSts>{}</TxSts>{}\
                         <OrgnlTxRef><Amt><InstdAmt Ccy=\"CNY\">1500.00</InstdAmt></Amt>\
                         <Cdtr><Nm>学生{i}</Nm></Cdtr><CdtrAcct><Id><Othr><Id>62170001{i:011}</Id></Othr></Id></CdtrAcct></OrgnlTxRef></TxInfAndSts>",
                        if rejected { "RJCT" } else { "ACSC" },
                        if rejected {
                            "<StsRsnInf><Rsn><Cd>AC04</Cd></Rsn><AddtlInf>账户已销户</AddtlInf></StsRsnInf>"
                        } else {
                            ""
                        },
                    );
                }
                self.next = end;
                if end == self.n {
                    self.chunk
                        .extend_from_slice(b"</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>\n");
                    self.done = true;
                }
            }
            let n = out.len().min(self.chunk.len() - self.at);
            out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn read_synthetic(n: u64) -> std::time::Duration {
        let started = std::time::Instant::now();
        let (mut seen, mut rejected, mut sum) = (0u64, 0u64, 0i64);
        let report = read(
            std::io::BufReader::with_capacity(64 * 1024, Synthetic::new(n)),
            |tx| {
                seen += 1;
                if tx.status.as_deref() == Some("RJCT") {
                    rejected += 1;
                }
                sum += tx.amount.map(|(f, _)| f.0).unwrap_or(0);
                Ok::<(), Infallible>(())
            },
        )
        .unwrap();
        assert_eq!(seen, n);
        assert_eq!(report.tx_count, n);
        assert_eq!(report.payment_infos[0].tx_count_seen, n);
        assert_eq!(rejected, (0..n).filter(|i| i % 10 == 3).count() as u64);
        assert_eq!(sum, 150_000 * n as i64);
        started.elapsed()
    }

    #[test]
    fn streams_many_transactions() {
        read_synthetic(20_000);
    }

    /// `cargo test --release --lib -- --ignored pain002::tests::million` — 10^6 transactions
    /// (about 330 MB of XML) in constant memory; prints the time taken.
    #[test]
    #[ignore]
    fn million_transactions() {
        let started = std::time::Instant::now();
        let bytes = std::io::copy(&mut Synthetic::new(1_000_000), &mut std::io::sink()).unwrap();
        let generating = started.elapsed();
        let took = read_synthetic(1_000_000);
        eprintln!(
            "1,000,000 pain.002 transactions ({} MB) read in {took:?}, of which generating the XML \
             takes about {generating:?}",
            bytes / 1_000_000
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let _ = read_all(&bytes[..]);
            let mut xml = b"<Document><CstmrPmtStsRpt><OrgnlPmtInfAndSts><TxInfAndSts>".to_vec();
            xml.extend_from_slice(&bytes);
            let _ = read_all(&xml[..]);
        }

        #[test]
        fn truncated_or_damaged_samples_never_panic(
            which in 0usize..4,
            cut in proptest::num::usize::ANY,
            flip in proptest::num::usize::ANY,
            byte in proptest::num::u8::ANY,
        ) {
            let rel = [
                "pain.002/oca_boi/test-sepa-pain-unpaid.xml",
                "pain.002/nordea/pain_002_v3_txn_reject.xml",
                "pain.002/cross_river/pain_002_transaction_rejected.xml",
                "pain.002/postfinance/3_pain002 B-Level und C-Level RJCT_ISO2019_v2019.xml",
            ][which];
            let path = format!("{}/../shared/iso20022/samples/{rel}", env!("CARGO_MANIFEST_DIR"));
            let mut bytes = std::fs::read(path).unwrap();
            let end = bytes.windows(11).rposition(|w| w == b"</Document>").unwrap();
            let cut = cut % (end + 1);
            proptest::prop_assert!(read_all(&bytes[..cut]).is_err(), "cut at {} read as a success", cut);
            let i = flip % bytes.len();
            bytes[i] = byte;
            let _ = read_all(&bytes[..]);
        }
    }
}
