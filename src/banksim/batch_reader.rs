//! Reads a batch the bank received back into what the bank needs to answer it: the batch id and,
//! per payment, the reference, amount, card and holder ([`SimBatch`]).
//!
//! A real bank does exactly this first: it parses the file, checks the control totals (a file
//! whose `NbOfTxs`/`CtrlSum` or header total disagree with its lines is refused whole), and only
//! then executes the payments one by one. Two kinds of file arrive:
//!
//! - **pain.001** (.001.001.03 or .09): read with quick-xml by *local* element names, so the
//!   namespace (or a prefix) does not matter. `GrpHdr/MsgId` is the batch id, `PmtInf/PmtInfId`
//!   the payment-information id (the same in aidpay's files), and per `CdtTrfTxInf`:
//!   `PmtId/EndToEndId`, `Amt/InstdAmt`, `Cdtr/Nm`, `CdtrAcct/Id/Othr/Id` (or `IBAN`).
//! - **domestic 代发 files**, laid out by a [`DomesticProfile`]: decoded strictly in the profile's
//!   encoding (GBK by default) *before* splitting (a GBK character's second byte may be `|`),
//!   split by its delimiter, the header line first and the trailer line last where the profile
//!   has them (each recognised by its `literal:` tokens, e.g. `H` / `T`), and the detail columns
//!   picked by their tokens. When the profile has no `end_to_end_id` column (Bank of China's
//!   template answers by row number) the payment's reference is its row position, `seq`, as text
//!   (`"1"`, `"2"`, …): that is all the bank itself knows, and what its result file echoes.

use crate::domain::Fen;
use crate::formats::domestic::DomesticProfile;
use crate::formats::domestic::profile::{DetailColumn, HeaderColumn};
use crate::formats::domestic::result::parse_amount;
use chrono::NaiveDate;
use quick_xml::Reader;
use quick_xml::events::Event;
use rust_decimal::Decimal;
use std::str::FromStr;

/// One payment as the bank read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimPayment {
    /// The 1-based position of the payment in the file.
    pub seq: u64,
    /// The end-to-end reference; for a domestic profile without one, `seq` as text.
    pub end_to_end_id: String,
    pub amount: Fen,
    pub card_number: String,
    pub holder: String,
}

/// Which kind of file a batch came as; decides how the bank answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimFormat {
    /// An ISO 20022 pain.001; `msg_nm_id` is its message name (`pain.001.001.09`), read from the
    /// namespace, `.09` when the namespace says nothing.
    Pain001 { msg_nm_id: String },
    /// A domestic delimited file: answered with a result file.
    Domestic,
}

/// One batch as the bank read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimBatch {
    /// pain.001 `GrpHdr/MsgId`, or the domestic header's `batch_id` (else the file name's stem).
    pub batch_id: String,
    /// pain.001 `PmtInf/PmtInfId`; for a domestic file the batch id.
    pub pmt_inf_id: String,
    pub format: SimFormat,
    /// The requested execution date, where the file says it.
    pub execution_date: Option<NaiveDate>,
    /// The debtor (special) account, where the file says it.
    pub debtor_account: Option<String>,
    pub debtor_name: Option<String>,
    pub payments: Vec<SimPayment>,
}

impl SimBatch {
    /// The exact sum of the payments.
    pub fn total(&self) -> Fen {
        self.payments.iter().map(|p| p.amount).sum()
    }
}

/// Why a received file cannot be read as a batch (a real bank would refuse the whole file).
#[derive(Debug, thiserror::Error)]
pub enum BatchReadError {
    #[error("not well-formed XML: {0}")]
    Xml(String),
    #[error("the file is not UTF-8 XML")]
    NotUtf8,
    #[error("element {element} is missing")]
    Missing { element: &'static str },
    #[error("element {element}: `{value}` is not a positive amount with at most two decimals")]
    BadAmount { element: &'static str, value: String },
    #[error("element {element}: `{value}` is not a count")]
    BadCount { element: &'static str, value: String },
    #[error("the file has {count} PmtInf blocks; the simulator answers one per batch")]
    SeveralPmtInf { count: usize },
    #[error("payment {seq}: {element} is missing")]
    MissingInPayment { seq: u64, element: &'static str },
    #[error(
        "the file declares {declared_count} payments totalling {declared_total}, its lines have {count} totalling {total}"
    )]
    ControlTotals { declared_count: u64, declared_total: Fen, count: u64, total: Fen },
    #[error("bank profile: {0}")]
    Profile(String),
    #[error("line {line}: not valid {encoding} text")]
    Encoding { line: usize, encoding: &'static str },
    #[error("line {line}: {found} columns where the profile has {expected}")]
    Columns { line: usize, expected: usize, found: usize },
    #[error("line {line}, column `{column}`: `{value}` {reason}")]
    Field { line: usize, column: &'static str, value: String, reason: &'static str },
    #[error("the file has no payment lines")]
    Empty,
}

/// Reads a received file: pain.001 if it looks like XML (after an optional BOM and blanks),
/// otherwise a domestic file laid out by `domestic` (an error if none is given).
pub fn read_received(
    file_name: &str,
    bytes: &[u8],
    domestic: Option<&DomesticProfile>,
) -> Result<SimBatch, BatchReadError> {
    if looks_like_xml(bytes) {
        read_pain001(bytes)
    } else {
        let profile = domestic.ok_or_else(|| {
            BatchReadError::Profile(format!("{file_name} is not XML and no domestic profile was given to read it"))
        })?;
        read_domestic(bytes, profile, file_name)
    }
}

/// Does the content start like an XML document?
pub fn looks_like_xml(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Where the reader is, as the local names of the open elements.
struct Path(Vec<String>);

impl Path {
    /// Does the path end with these local names?
    fn ends(&self, tail: &[&str]) -> bool {
        self.0.len() >= tail.len() && self.0[self.0.len() - tail.len()..].iter().zip(tail).all(|(a, b)| a == b)
    }
}

/// A `CdtTrfTxInf` being read.
#[derive(Default)]
struct TxDraft {
    end_to_end_id: Option<String>,
    amount: Option<String>,
    card_number: Option<String>,
    holder: Option<String>,
}

/// Reads a pain.001 (.03 or .09; any namespace or prefix).
pub fn read_pain001(bytes: &[u8]) -> Result<SimBatch, BatchReadError> {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| BatchReadError::NotUtf8)?;
    let mut reader = Reader::from_str(text);
    let mut path = Path(Vec::with_capacity(12));
    // The text of the innermost element, gathered across text and entity events.
    let mut value = String::new();
    let mut msg_nm_id: Option<String> = None;
    let mut msg_id = None;
    let mut pmt_inf_ids: Vec<String> = Vec::new();
    let mut nb_of_txs: Option<String> = None;
    let mut ctrl_sum: Option<String> = None;
    let mut execution_date = None;
    let mut debtor_account = None;
    let mut debtor_name = None;
    let mut payments = Vec::new();
    let mut tx: Option<TxDraft> = None;

    loop {
        let event = reader.read_event().map_err(|e| BatchReadError::Xml(e.to_string()))?;
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_string();
                if path.0.is_empty() && name == "Document" {
                    msg_nm_id = e
                        .attributes()
                        .flatten()
                        .filter(|a| a.key.as_ref() == "xmlns" || a.key.as_ref().starts_with("xmlns:"))
                        .find_map(|a| {
                            a.value.rsplit(':').next().filter(|v| v.starts_with("pain.001.")).map(str::to_string)
                        });
                }
                if name == "CdtTrfTxInf" {
                    tx = Some(TxDraft::default());
                }
                path.0.push(name);
                value.clear();
            }
            Event::Text(t) => value.push_str(&t),
            Event::CData(t) => value.push_str(&t),
            Event::GeneralRef(r) => {
                if let Some(c) = r.resolve_char_ref().map_err(|e| BatchReadError::Xml(e.to_string()))? {
                    value.push(c);
                } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(&r) {
                    value.push_str(s);
                } else {
                    return Err(BatchReadError::Xml(format!("unknown entity &{};", &*r)));
                }
            }
            Event::End(_) => {
                let v = value.trim().to_string();
                if let Some(t) = tx.as_mut() {
                    if path.ends(&["PmtId", "EndToEndId"]) {
                        t.end_to_end_id = Some(v);
                    } else if path.ends(&["Amt", "InstdAmt"]) {
                        t.amount = Some(v);
                    } else if path.ends(&["Cdtr", "Nm"]) || path.ends(&["Cdtr", "Pty", "Nm"]) {
                        t.holder = Some(v);
                    } else if path.ends(&["CdtrAcct", "Id", "Othr", "Id"]) || path.ends(&["CdtrAcct", "Id", "IBAN"]) {
                        t.card_number = Some(v);
                    }
                } else if path.ends(&["GrpHdr", "MsgId"]) {
                    msg_id = Some(v);
                } else if path.ends(&["GrpHdr", "NbOfTxs"]) {
                    nb_of_txs = Some(v);
                } else if path.ends(&["GrpHdr", "CtrlSum"]) {
                    ctrl_sum = Some(v);
                } else if path.ends(&["PmtInf", "PmtInfId"]) {
                    pmt_inf_ids.push(v);
                } else if path.ends(&["PmtInf", "ReqdExctnDt"]) || path.ends(&["PmtInf", "ReqdExctnDt", "Dt"]) {
                    // `ReqdExctnDt` closes after its `Dt` child in .09: keep the date read.
                    if let Ok(d) = NaiveDate::parse_from_str(&v, "%Y-%m-%d") {
                        execution_date = Some(d);
                    }
                } else if path.ends(&["PmtInf", "DbtrAcct", "Id", "Othr", "Id"]) {
                    debtor_account = Some(v);
                } else if path.ends(&["PmtInf", "Dbtr", "Nm"]) {
                    debtor_name = Some(v);
                }
                if path.ends(&["CdtTrfTxInf"])
                    && let Some(t) = tx.take()
                {
                    let seq = payments.len() as u64 + 1;
                    let missing = |element| BatchReadError::MissingInPayment { seq, element };
                    let amount_text = t.amount.ok_or_else(|| missing("Amt/InstdAmt"))?;
                    payments.push(SimPayment {
                        seq,
                        end_to_end_id: t.end_to_end_id.ok_or_else(|| missing("PmtId/EndToEndId"))?,
                        amount: xml_amount("CdtTrfTxInf/Amt/InstdAmt", &amount_text)?,
                        card_number: t.card_number.ok_or_else(|| missing("CdtrAcct/Id"))?,
                        holder: t.holder.unwrap_or_default(),
                    });
                }
                path.0.pop();
                value.clear();
            }
            Event::Eof => {
                if let Some(open) = path.0.last() {
                    return Err(BatchReadError::Xml(format!("the file ends inside <{open}>")));
                }
                break;
            }
            _ => {}
        }
    }
    let batch_id = msg_id.ok_or(BatchReadError::Missing { element: "GrpHdr/MsgId" })?;
    if pmt_inf_ids.len() > 1 {
        return Err(BatchReadError::SeveralPmtInf { count: pmt_inf_ids.len() });
    }
    let pmt_inf_id = pmt_inf_ids.pop().ok_or(BatchReadError::Missing { element: "PmtInf/PmtInfId" })?;
    if payments.is_empty() {
        return Err(BatchReadError::Empty);
    }
    let batch = SimBatch {
        batch_id,
        pmt_inf_id,
        format: SimFormat::Pain001 { msg_nm_id: msg_nm_id.unwrap_or_else(|| "pain.001.001.09".to_string()) },
        execution_date,
        debtor_account,
        debtor_name,
        payments,
    };
    let declared_count = match nb_of_txs {
        Some(n) => Some(
            n.parse::<u64>().map_err(|_| BatchReadError::BadCount { element: "GrpHdr/NbOfTxs", value: n.clone() })?,
        ),
        None => None,
    };
    let declared_total = ctrl_sum.map(|s| xml_amount("GrpHdr/CtrlSum", &s)).transpose()?;
    check_totals(&batch, declared_count, declared_total)?;
    Ok(batch)
}

/// An XML amount (`1000.5`, `5.0400`) as exact fen; more than two significant decimals or a
/// non-positive amount is an error.
fn xml_amount(element: &'static str, text: &str) -> Result<Fen, BatchReadError> {
    let bad = || BatchReadError::BadAmount { element, value: text.to_string() };
    let d = Decimal::from_str(text.trim()).map_err(|_| bad())?;
    Fen::from_decimal(d).map_err(|_| bad())
}

/// Refuses a batch whose declared count or total disagrees with its lines.
fn check_totals(batch: &SimBatch, count: Option<u64>, total: Option<Fen>) -> Result<(), BatchReadError> {
    let actual_count = batch.payments.len() as u64;
    let actual_total = batch.total();
    if count.is_some_and(|c| c != actual_count) || total.is_some_and(|t| t != actual_total) {
        return Err(BatchReadError::ControlTotals {
            declared_count: count.unwrap_or(actual_count),
            declared_total: total.unwrap_or(actual_total),
            count: actual_count,
            total: actual_total,
        });
    }
    Ok(())
}

/// Reads a domestic batch file laid out by `profile`. The batch id is the header's or trailer's
/// `batch_id` column, else `file_name` without its extension.
pub fn read_domestic(bytes: &[u8], profile: &DomesticProfile, file_name: &str) -> Result<SimBatch, BatchReadError> {
    let header = profile.header_columns().map_err(BatchReadError::Profile)?;
    let trailer = profile.trailer_columns().map_err(BatchReadError::Profile)?;
    let detail = profile.detail_columns().map_err(BatchReadError::Profile)?;
    let encoding = profile.encoding.encoding();
    let delimiter = profile.delimiter.as_str();

    // Decode line by line, strictly, before splitting.
    let mut lines: Vec<(usize, String)> = Vec::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let text = encoding
            .decode_without_bom_handling_and_without_replacement(raw)
            .ok_or(BatchReadError::Encoding { line: i + 1, encoding: encoding.name() })?;
        lines.push((i + 1, text.into_owned()));
    }
    let fields = |text: &str| -> Vec<String> {
        let text = if profile.trailing_delimiter { text.strip_suffix(delimiter).unwrap_or(text) } else { text };
        text.split(delimiter).map(|f| f.trim().to_string()).collect()
    };

    let mut facts = HeaderFacts::default();
    let mut body: &[(usize, String)] = &lines;
    if !header.is_empty() {
        let ((line, text), rest) = body.split_first().ok_or(BatchReadError::Empty)?;
        facts.read(&header, &fields(text), *line, profile)?;
        body = rest;
    }
    if !trailer.is_empty() {
        let ((line, text), rest) = body.split_last().ok_or(BatchReadError::Empty)?;
        facts.read(&trailer, &fields(text), *line, profile)?;
        body = rest;
    }
    if body.is_empty() {
        return Err(BatchReadError::Empty);
    }

    let has_reference = detail.contains(&DetailColumn::EndToEndId);
    let mut payments = Vec::with_capacity(body.len());
    for (i, (line, text)) in body.iter().enumerate() {
        let line = *line;
        let values = fields(text);
        if values.len() != detail.len() {
            return Err(BatchReadError::Columns { line, expected: detail.len(), found: values.len() });
        }
        let seq = i as u64 + 1;
        let mut p = SimPayment {
            seq,
            end_to_end_id: String::new(),
            amount: Fen(0),
            card_number: String::new(),
            holder: String::new(),
        };
        let mut amount = None;
        for (col, value) in detail.iter().zip(values) {
            match col {
                DetailColumn::EndToEndId => p.end_to_end_id = value,
                DetailColumn::CardNumber => p.card_number = value,
                DetailColumn::Holder => p.holder = value,
                DetailColumn::Amount => {
                    amount = Some(parse_amount(&value, profile.amount_unit).map_err(|reason| {
                        BatchReadError::Field { line, column: "amount", value: value.clone(), reason }
                    })?);
                }
                DetailColumn::Literal(expected) if value != *expected => {
                    return Err(BatchReadError::Field {
                        line,
                        column: "literal",
                        value,
                        reason: "is not the profile's literal",
                    });
                }
                _ => {}
            }
        }
        p.amount = amount.ok_or(BatchReadError::Field {
            line,
            column: "amount",
            value: String::new(),
            reason: "is missing",
        })?;
        if !has_reference {
            p.end_to_end_id = seq.to_string();
        } else if p.end_to_end_id.is_empty() {
            return Err(BatchReadError::Field {
                line,
                column: "end_to_end_id",
                value: String::new(),
                reason: "is empty",
            });
        }
        if p.card_number.is_empty() {
            return Err(BatchReadError::Field {
                line,
                column: "card_number",
                value: String::new(),
                reason: "is empty",
            });
        }
        payments.push(p);
    }

    let batch_id = facts.batch_id.clone().unwrap_or_else(|| file_stem(file_name).to_string());
    let batch = SimBatch {
        pmt_inf_id: batch_id.clone(),
        batch_id,
        format: SimFormat::Domestic,
        execution_date: facts.date,
        debtor_account: facts.debtor_account,
        debtor_name: facts.debtor_name,
        payments,
    };
    check_totals(&batch, facts.count, facts.total)?;
    Ok(batch)
}

fn file_stem(name: &str) -> &str {
    match name.rfind('.') {
        Some(dot) if dot > 0 => &name[..dot],
        _ => name,
    }
}

/// What the header and trailer lines say about the batch.
#[derive(Default)]
struct HeaderFacts {
    batch_id: Option<String>,
    debtor_account: Option<String>,
    debtor_name: Option<String>,
    date: Option<NaiveDate>,
    count: Option<u64>,
    total: Option<Fen>,
}

impl HeaderFacts {
    /// Reads a header or trailer line; its `literal:` columns must match (that is how the line is
    /// recognised as the header or trailer).
    fn read(
        &mut self,
        cols: &[HeaderColumn<'_>],
        values: &[String],
        line: usize,
        profile: &DomesticProfile,
    ) -> Result<(), BatchReadError> {
        if values.len() != cols.len() {
            return Err(BatchReadError::Columns { line, expected: cols.len(), found: values.len() });
        }
        for (col, value) in cols.iter().zip(values) {
            let field = |column: &'static str, reason: &'static str| BatchReadError::Field {
                line,
                column,
                value: value.clone(),
                reason,
            };
            match col {
                HeaderColumn::Literal(expected) if value != expected => {
                    return Err(field("literal", "is not the profile's header/trailer literal"));
                }
                HeaderColumn::BatchId if !value.is_empty() => self.batch_id = Some(value.clone()),
                HeaderColumn::DebtorAccount if !value.is_empty() => self.debtor_account = Some(value.clone()),
                HeaderColumn::DebtorName if !value.is_empty() => self.debtor_name = Some(value.clone()),
                HeaderColumn::Date => self.date = NaiveDate::parse_from_str(value, "%Y%m%d").ok(),
                HeaderColumn::Count => self.count = Some(value.parse().map_err(|_| field("count", "is not a count"))?),
                HeaderColumn::Total => {
                    self.total = Some(parse_amount(value, profile.amount_unit).map_err(|r| field("total", r))?)
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::BatchDoc;
    use crate::formats::domestic::tests::{fixture_profiles, sample_batch};
    use crate::formats::pain001::{self, Pain001Version};

    fn expect_same(doc: &BatchDoc, batch: &SimBatch) {
        assert_eq!(batch.batch_id, doc.batch_id);
        assert_eq!(batch.payments.len(), doc.payments.len());
        for (i, (p, q)) in doc.payments.iter().zip(&batch.payments).enumerate() {
            assert_eq!(q.seq, i as u64 + 1);
            assert_eq!(q.amount, p.amount, "{}", p.end_to_end_id);
            assert_eq!(q.card_number, p.card_number);
            assert_eq!(q.holder, p.holder);
        }
        assert_eq!(batch.total(), doc.ctrl_sum());
        assert_eq!(batch.execution_date, Some(doc.execution_date));
        assert_eq!(batch.debtor_account.as_deref(), Some(doc.debtor.account_no.as_str()));
    }

    #[test]
    fn pain001_of_both_versions_reads_back() {
        let mut doc = sample_batch();
        doc.payments[0].holder = "Tom & Jerry <Ltd>".to_string();
        for version in [Pain001Version::V09, Pain001Version::V03] {
            let mut out = Vec::new();
            pain001::write(&doc, version, &mut out).unwrap_or_else(|e| panic!("{e}"));
            let batch = read_received("B.xml", &out, None).unwrap_or_else(|e| panic!("{e}"));
            expect_same(&doc, &batch);
            assert_eq!(batch.pmt_inf_id, doc.batch_id);
            assert_eq!(batch.format, SimFormat::Pain001 { msg_nm_id: version.as_str().to_string() });
            let refs: Vec<&str> = batch.payments.iter().map(|p| p.end_to_end_id.as_str()).collect();
            let sent: Vec<&str> = doc.payments.iter().map(|p| p.end_to_end_id.as_str()).collect();
            assert_eq!(refs, sent);
            assert_eq!(batch.debtor_name.as_deref(), Some(doc.debtor.name.as_str()));
        }
    }

    #[test]
    fn pain001_with_a_prefix_and_wrong_ctrl_sum() {
        let text = r#"<?xml version="1.0"?>
<p:Document xmlns:p="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><p:CstmrCdtTrfInitn>
<p:GrpHdr><p:MsgId>B1</p:MsgId><p:NbOfTxs>1</p:NbOfTxs><p:CtrlSum>5.0400</p:CtrlSum></p:GrpHdr>
<p:PmtInf><p:PmtInfId>B1</p:PmtInfId><p:CdtTrfTxInf><p:PmtId><p:EndToEndId>E1</p:EndToEndId></p:PmtId>
<p:Amt><p:InstdAmt Ccy="CNY">5.04</p:InstdAmt></p:Amt><p:Cdtr><p:Nm>A&#38;B</p:Nm></p:Cdtr>
<p:CdtrAcct><p:Id><p:Othr><p:Id>6222</p:Id></p:Othr></p:Id></p:CdtrAcct></p:CdtTrfTxInf></p:PmtInf>
</p:CstmrCdtTrfInitn></p:Document>"#;
        let batch = read_pain001(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(batch.payments[0].amount, Fen(504));
        assert_eq!(batch.payments[0].holder, "A&B");
        assert_eq!(batch.format, SimFormat::Pain001 { msg_nm_id: "pain.001.001.03".into() });
        let wrong = text.replace("<p:CtrlSum>5.0400", "<p:CtrlSum>5.05");
        assert!(matches!(read_pain001(wrong.as_bytes()), Err(BatchReadError::ControlTotals { .. })));
        assert!(matches!(read_pain001(b"<Document><x>"), Err(BatchReadError::Xml(_))));
    }

    #[test]
    fn icbc_domestic_file_reads_back() {
        let profiles = fixture_profiles();
        let doc = sample_batch();
        let mut out = Vec::new();
        crate::formats::domestic::write(&doc, &profiles["icbc"], &mut out).unwrap_or_else(|e| panic!("{e}"));
        assert!(!looks_like_xml(&out));
        let batch = read_received("PAYENT_x.csv", &out, Some(&profiles["icbc"])).unwrap_or_else(|e| panic!("{e}"));
        expect_same(&doc, &batch);
        assert_eq!(batch.format, SimFormat::Domestic);
        let refs: Vec<&str> = batch.payments.iter().map(|p| p.end_to_end_id.as_str()).collect();
        let sent: Vec<&str> = doc.payments.iter().map(|p| p.end_to_end_id.as_str()).collect();
        assert_eq!(refs, sent);
        assert_eq!(batch.debtor_name.as_deref(), Some(doc.debtor.name.as_str()));
    }

    #[test]
    fn boc_domestic_file_is_keyed_by_row() {
        let profiles = fixture_profiles();
        let doc = sample_batch();
        let mut out = Vec::new();
        crate::formats::domestic::write(&doc, &profiles["boc"], &mut out).unwrap_or_else(|e| panic!("{e}"));
        let batch = read_domestic(&out, &profiles["boc"], "DF.txt").unwrap_or_else(|e| panic!("{e}"));
        expect_same(&doc, &batch);
        let refs: Vec<String> = batch.payments.iter().map(|p| p.end_to_end_id.clone()).collect();
        assert_eq!(refs, (1..=8).map(|i| i.to_string()).collect::<Vec<_>>());
    }

    #[test]
    fn damaged_domestic_files_are_refused() {
        let profiles = fixture_profiles();
        let icbc = &profiles["icbc"];
        let mut out = Vec::new();
        crate::formats::domestic::write(&sample_batch(), icbc, &mut out).unwrap_or_else(|e| panic!("{e}"));
        let text = encoding_rs::GBK.decode(&out).0.into_owned();
        // A wrong trailer total.
        let lines: Vec<&str> = text.lines().collect();
        let mut bad = lines[..lines.len() - 1].join("\n");
        bad.push_str("\nT,8,1\n");
        let bytes = encoding_rs::GBK.encode(&bad).0.into_owned();
        assert!(matches!(read_domestic(&bytes, icbc, "x"), Err(BatchReadError::ControlTotals { .. })));
        // The trailer missing: the last detail line is not a `T` line.
        let bad = lines[..lines.len() - 1].join("\n");
        let bytes = encoding_rs::GBK.encode(&bad).0.into_owned();
        assert!(matches!(
            read_domestic(&bytes, icbc, "x"),
            Err(BatchReadError::Columns { .. } | BatchReadError::Field { .. })
        ));
        // Not GBK.
        assert!(matches!(read_domestic(b"H,B\xff,1\n", icbc, "x"), Err(BatchReadError::Encoding { line: 1, .. })));
        assert!(matches!(read_received("x.csv", &out, None), Err(BatchReadError::Profile(_))));
    }
}
