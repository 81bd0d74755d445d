//! The simulated bank's ISO 20022 **pain.002** (CustomerPaymentStatusReport), versions
//! `pain.002.001.03` and `pain.002.001.10`.
//!
//! # What a real bank sends, and when
//!
//! For a pain.001 it received, a bank answers with one or more status reports, each pointing
//! back at the original message (`OrgnlGrpInfAndSts/OrgnlMsgId` = the batch's `MsgId`) and its
//! payment-information block (`OrgnlPmtInfAndSts/OrgnlPmtInfId`):
//!
//! - soon after execution, the **status report** ([`status_report`]): a group status (ACSC all
//!   paid, RJCT none, PART some), and per transaction (`TxInfAndSts`) its `OrgnlEndToEndId`, the
//!   status ACSC or RJCT, for RJCT a `StsRsnInf` with the ISO reason code and the bank's Chinese
//!   text, and `OrgnlTxRef` echoing the amount and creditor account the bank executed;
//! - days later, for payments returned after they were reported paid (a late 退票), a **second
//!   report** with RJCT for those ([`late_return_report`]): the earlier ACSC was not final after
//!   all;
//! - when the file cannot be taken at all (bad format, duplicate message id …), a **group
//!   rejection** without any transaction ([`group_reject`]): every payment in it is rejected.
//!
//! The two versions differ, for what is written here, in the namespace, in the status types
//! (.03 closed code lists, .10 external codes of 1–4 characters) and in `OrgnlTxRef/Cdtr`, which
//! in .10 is a `Party40Choice` (`Cdtr/Pty/Nm`). The tests validate both with `xmllint`.

use super::answers::{Fate, Reason};
use super::batch_reader::{SimBatch, SimFormat, SimPayment};
use super::xml::{Xml, max_text};
use crate::domain::Fen;
use chrono::{DateTime, FixedOffset};

/// The pain.002 version the bank answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pain002Version {
    /// `pain.002.001.03` (2009, still what most banks send).
    #[default]
    V03,
    /// `pain.002.001.10` (2019).
    V10,
}

impl Pain002Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Pain002Version::V03 => "pain.002.001.03",
            Pain002Version::V10 => "pain.002.001.10",
        }
    }

    pub fn namespace(self) -> &'static str {
        match self {
            Pain002Version::V03 => "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03",
            Pain002Version::V10 => "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10",
        }
    }
}

/// `AddtlInf` is `Max105Text`.
const MAX_ADDTL_INF: usize = 105;
/// `Nm` is `Max140Text`.
const MAX_NAME: usize = 140;

/// The first status report for `batch`: every payment once (twice for
/// [`Fate::DuplicateStatus`]) with ACSC or RJCT — a [`Fate::LateReturn`] is ACSC here — then an
/// ACSC for each of `unknown_references`. The group and payment-information status follow from
/// the real payments only: ACSC, RJCT or PART.
pub fn status_report(
    batch: &SimBatch,
    fates: &[(SimPayment, Fate)],
    unknown_references: &[String],
    version: Pain002Version,
    msg_id: &str,
    created_at: &DateTime<FixedOffset>,
) -> Vec<u8> {
    let rejected: Vec<&SimPayment> = fates.iter().filter(|(_, f)| !f.settled_first()).map(|(p, _)| p).collect();
    let settled: Vec<&SimPayment> = fates.iter().filter(|(_, f)| f.settled_first()).map(|(p, _)| p).collect();
    let status = group_status(settled.len(), rejected.len());
    let per_status = [
        ("ACSC", settled.len(), settled.iter().map(|p| p.amount).sum::<Fen>()),
        ("RJCT", rejected.len(), rejected.iter().map(|p| p.amount).sum()),
    ];

    let mut x = start(version, msg_id, created_at);
    original_group(&mut x, batch, status, &per_status);
    x.start("OrgnlPmtInfAndSts");
    original_payment_info(&mut x, batch, status);
    for (p, fate) in fates {
        match fate {
            Fate::Settle | Fate::LateReturn(_) => transaction(&mut x, version, p, "ACSC", None, p.amount),
            Fate::Reject(reason) => transaction(&mut x, version, p, "RJCT", Some(reason), p.amount),
            Fate::DuplicateStatus => {
                transaction(&mut x, version, p, "ACSC", None, p.amount);
                transaction(&mut x, version, p, "ACSC", None, p.amount);
            }
            Fate::ChangedAmount(amount) => transaction(&mut x, version, p, "ACSC", None, *amount),
        }
    }
    for reference in unknown_references {
        x.start("TxInfAndSts");
        x.leaf("OrgnlEndToEndId", reference);
        x.leaf("TxSts", "ACSC");
        x.end("TxInfAndSts");
    }
    x.end("OrgnlPmtInfAndSts");
    finish(x)
}

/// The second report for the payments returned after they were reported ACSC: RJCT with the
/// return reason, for each [`Fate::LateReturn`]. `None` when the batch has none. The group
/// status is RJCT if every payment of the batch came back, else PART.
pub fn late_return_report(
    batch: &SimBatch,
    fates: &[(SimPayment, Fate)],
    version: Pain002Version,
    msg_id: &str,
    created_at: &DateTime<FixedOffset>,
) -> Option<Vec<u8>> {
    let late: Vec<(&SimPayment, &Reason)> = fates
        .iter()
        .filter_map(|(p, f)| match f {
            Fate::LateReturn(r) => Some((p, r)),
            _ => None,
        })
        .collect();
    if late.is_empty() {
        return None;
    }
    let status = if late.len() == batch.payments.len() { "RJCT" } else { "PART" };
    let mut x = start(version, msg_id, created_at);
    original_group(&mut x, batch, status, &[]);
    x.start("OrgnlPmtInfAndSts");
    original_payment_info(&mut x, batch, status);
    for (p, reason) in late {
        transaction(&mut x, version, p, "RJCT", Some(reason), p.amount);
    }
    x.end("OrgnlPmtInfAndSts");
    Some(finish(x))
}

/// A whole batch refused at group level: `GrpSts` RJCT with the reason, no transactions. The
/// original message is named `pain.001.001.09` (a file refused whole may not even say which
/// version it is).
pub fn group_reject(
    batch_id: &str,
    reason: &Reason,
    version: Pain002Version,
    msg_id: &str,
    created_at: &DateTime<FixedOffset>,
) -> Vec<u8> {
    let mut x = start(version, msg_id, created_at);
    x.start("OrgnlGrpInfAndSts");
    x.leaf("OrgnlMsgId", batch_id);
    x.leaf("OrgnlMsgNmId", "pain.001.001.09");
    x.leaf("GrpSts", "RJCT");
    status_reason(&mut x, reason);
    x.end("OrgnlGrpInfAndSts");
    finish(x)
}

/// A file the bank could not read at all, refused at group level without naming it: the
/// original message id is `NOTPROVIDED` (the schema wants one; some banks leave it out
/// altogether) and so is its name, with the reason (e.g. FF01, invalid file format) and the
/// bank's text. Nothing in it says which batch it was.
pub fn unreadable_file_reject(reason: &Reason, version: Pain002Version, msg_id: &str, created_at: &DateTime<FixedOffset>) -> Vec<u8> {
    let mut x = start(version, msg_id, created_at);
    x.start("OrgnlGrpInfAndSts");
    x.leaf("OrgnlMsgId", "NOTPROVIDED");
    x.leaf("OrgnlMsgNmId", "NOTPROVIDED");
    x.leaf("GrpSts", "RJCT");
    status_reason(&mut x, reason);
    x.end("OrgnlGrpInfAndSts");
    finish(x)
}

/// ACSC when nothing failed, RJCT when nothing was paid, else PART.
fn group_status(settled: usize, rejected: usize) -> &'static str {
    match (settled, rejected) {
        (_, 0) => "ACSC",
        (0, _) => "RJCT",
        _ => "PART",
    }
}

fn start(version: Pain002Version, msg_id: &str, created_at: &DateTime<FixedOffset>) -> Xml {
    let mut x = Xml::document(version.namespace());
    x.start("CstmrPmtStsRpt");
    x.start("GrpHdr");
    x.leaf("MsgId", msg_id);
    x.date_time("CreDtTm", created_at);
    x.end("GrpHdr");
    x
}

fn finish(mut x: Xml) -> Vec<u8> {
    x.end("CstmrPmtStsRpt");
    x.finish()
}

/// `OrgnlGrpInfAndSts`: OrgnlMsgId, OrgnlMsgNmId, OrgnlNbOfTxs, OrgnlCtrlSum, GrpSts and the
/// counts per status (`NbOfTxsPerSts`, only statuses that occur).
fn original_group(x: &mut Xml, batch: &SimBatch, status: &str, per_status: &[(&str, usize, Fen)]) {
    x.start("OrgnlGrpInfAndSts");
    x.leaf("OrgnlMsgId", &batch.batch_id);
    let name = match &batch.format {
        SimFormat::Pain001 { msg_nm_id } => msg_nm_id.as_str(),
        SimFormat::Domestic => "pain.001.001.09",
    };
    x.leaf("OrgnlMsgNmId", name);
    x.leaf("OrgnlNbOfTxs", &batch.payments.len().to_string());
    x.decimal("OrgnlCtrlSum", batch.total());
    x.leaf("GrpSts", status);
    for (sts, n, sum) in per_status.iter().filter(|(_, n, _)| *n > 0) {
        x.start("NbOfTxsPerSts");
        x.leaf("DtldNbOfTxs", &n.to_string());
        x.leaf("DtldSts", sts);
        x.decimal("DtldCtrlSum", *sum);
        x.end("NbOfTxsPerSts");
    }
    x.end("OrgnlGrpInfAndSts");
}

fn original_payment_info(x: &mut Xml, batch: &SimBatch, status: &str) {
    x.leaf("OrgnlPmtInfId", &batch.pmt_inf_id);
    x.leaf("OrgnlNbOfTxs", &batch.payments.len().to_string());
    x.decimal("OrgnlCtrlSum", batch.total());
    x.leaf("PmtInfSts", status);
}

/// `StsRsnInf`: `Rsn/Cd` and the Chinese text in `AddtlInf`.
fn status_reason(x: &mut Xml, reason: &Reason) {
    x.start("StsRsnInf");
    x.start("Rsn");
    x.leaf("Cd", &reason.code);
    x.end("Rsn");
    if let Some(text) = max_text(&reason.text, MAX_ADDTL_INF) {
        x.leaf("AddtlInf", text);
    }
    x.end("StsRsnInf");
}

/// One `TxInfAndSts`, with `OrgnlTxRef` carrying `amount`, the holder and the card.
fn transaction(
    x: &mut Xml,
    version: Pain002Version,
    p: &SimPayment,
    status: &str,
    reason: Option<&Reason>,
    amount: Fen,
) {
    x.start("TxInfAndSts");
    x.leaf("OrgnlEndToEndId", &p.end_to_end_id);
    x.leaf("TxSts", status);
    if let Some(r) = reason {
        status_reason(x, r);
    }
    x.start("OrgnlTxRef");
    x.start("Amt");
    x.amount("InstdAmt", amount);
    x.end("Amt");
    if let Some(name) = max_text(&p.holder, MAX_NAME) {
        x.start("Cdtr");
        match version {
            Pain002Version::V03 => x.leaf("Nm", name),
            Pain002Version::V10 => {
                x.start("Pty");
                x.leaf("Nm", name);
                x.end("Pty");
            }
        }
        x.end("Cdtr");
    }
    x.start("CdtrAcct");
    x.account_id(&p.card_number);
    x.end("CdtrAcct");
    x.end("OrgnlTxRef");
    x.end("TxInfAndSts");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::banksim::answers::tests::batch;
    use crate::banksim::answers::{AnswerMix, RandomMix, decide};
    use crate::formats::xml::schema::assert_valid;
    use chrono::TimeZone;

    fn xsd(v: Pain002Version) -> String {
        format!("{}.xsd", v.as_str())
    }

    pub(crate) fn at() -> DateTime<FixedOffset> {
        FixedOffset::east_opt(8 * 3600)
            .and_then(|tz| tz.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).single())
            .unwrap_or_default()
    }

    fn mixed() -> (SimBatch, Vec<(SimPayment, Fate)>) {
        let mut b = batch("B20261125000001", 6);
        b.payments[0].holder = "Tom & Jerry <Ltd>".into();
        let mix = AnswerMix::settle_all()
            .with_reference("AP000000000002", Fate::Reject(Reason::name_mismatch()))
            .with_reference("AP000000000003", Fate::LateReturn(Reason::closed()))
            .with_reference("AP000000000004", Fate::DuplicateStatus)
            .with_reference("AP000000000005", Fate::ChangedAmount(Fen(99)))
            .with_reference("AP000000000006", Fate::Reject(Reason::new("AC06", &*"冻".repeat(200))));
        let fates = decide(&b, &mix);
        (b, fates)
    }

    #[test]
    fn status_reports_validate_in_both_versions() {
        let (b, fates) = mixed();
        for v in [Pain002Version::V03, Pain002Version::V10] {
            let text =
                assert_valid(&status_report(&b, &fates, &["AP999999999999".to_string()], v, "RPT1", &at()), &xsd(v));
            assert!(text.contains("<OrgnlMsgId>B20261125000001</OrgnlMsgId>"));
            assert!(text.contains("<OrgnlPmtInfId>B20261125000001</OrgnlPmtInfId>"));
            assert!(text.contains("<OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId>"));
            assert_eq!(text.matches("<GrpSts>PART</GrpSts>").count(), 1);
            assert!(text.contains("<CreDtTm>2026-11-26T09:00:00+08:00</CreDtTm>"));
            assert_eq!(
                text.matches("<OrgnlEndToEndId>AP000000000004</OrgnlEndToEndId>").count(),
                2,
                "duplicate status"
            );
            assert_eq!(
                text.matches("<OrgnlEndToEndId>AP999999999999</OrgnlEndToEndId>").count(),
                1,
                "unknown reference"
            );
            assert!(text.contains("<InstdAmt Ccy=\"CNY\">0.99</InstdAmt>"), "changed amount");
            assert!(!text.contains(">100.05<"), "the changed amount replaces the sent one");
            assert!(text.contains("<Cd>BE01</Cd>") && text.contains("<AddtlInf>户名不符</AddtlInf>"));
            assert!(text.contains("Tom &amp; Jerry &lt;Ltd&gt;"));
            assert!(text.contains("<Id>6217000000000000002</Id>"));
            // The late return is ACSC in the first report.
            let tx3 = &text[text.find("AP000000000003").unwrap_or(0)..];
            assert!(tx3[..tx3.find("</TxInfAndSts>").unwrap_or(0)].contains("<TxSts>ACSC</TxSts>"));
            assert_eq!(text.matches("<TxSts>RJCT</TxSts>").count(), 2);
        }
    }

    #[test]
    fn group_status_follows_the_payments() {
        let b = batch("B1", 3);
        let all = decide(&b, &AnswerMix::settle_all());
        let none = decide(&b, &AnswerMix::settle_all().with_random(RandomMix::rejections(1, 1.0)));
        for v in [Pain002Version::V03, Pain002Version::V10] {
            let text = assert_valid(&status_report(&b, &all, &[], v, "R", &at()), &xsd(v));
            assert!(text.contains("<GrpSts>ACSC</GrpSts>") && text.contains("<PmtInfSts>ACSC</PmtInfSts>"));
            let text = assert_valid(&status_report(&b, &none, &[], v, "R", &at()), &xsd(v));
            assert!(text.contains("<GrpSts>RJCT</GrpSts>") && !text.contains("<TxSts>ACSC"));
        }
        assert_eq!(group_status(0, 0), "ACSC");
    }

    #[test]
    fn late_return_reports_validate_and_reject_only_the_returned() {
        let (b, fates) = mixed();
        for v in [Pain002Version::V03, Pain002Version::V10] {
            let bytes = late_return_report(&b, &fates, v, "RPT2", &at()).unwrap_or_default();
            let text = assert_valid(&bytes, &xsd(v));
            assert_eq!(text.matches("<TxInfAndSts>").count(), 1);
            assert!(text.contains("<OrgnlEndToEndId>AP000000000003</OrgnlEndToEndId>"));
            assert!(
                text.contains("<TxSts>RJCT</TxSts>") && text.contains("<Cd>AC04</Cd>") && text.contains("账户已销户")
            );
            assert!(text.contains("<GrpSts>PART</GrpSts>"));
        }
        let plain = decide(&b, &AnswerMix::settle_all());
        assert!(late_return_report(&b, &plain, Pain002Version::V03, "R", &at()).is_none());
    }

    #[test]
    fn group_rejections_validate() {
        for v in [Pain002Version::V03, Pain002Version::V10] {
            let text = assert_valid(
                &group_reject("B20261125000001", &Reason::new("FF01", "文件格式错误"), v, "RPT3", &at()),
                &xsd(v),
            );
            assert!(text.contains("<GrpSts>RJCT</GrpSts>") && text.contains("<Cd>FF01</Cd>"));
            assert!(!text.contains("TxInfAndSts") && !text.contains("OrgnlPmtInfAndSts"));
        }
    }

    #[test]
    fn output_is_deterministic() {
        let (b, fates) = mixed();
        assert_eq!(
            status_report(&b, &fates, &[], Pain002Version::V10, "R", &at()),
            status_report(&b, &fates, &[], Pain002Version::V10, "R", &at())
        );
    }
}
