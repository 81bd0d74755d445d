//! ISO 20022 **pain.001** (CustomerCreditTransferInitiation) writer, versions `pain.001.001.09`
//! and `pain.001.001.03`.
//!
//! One [`BatchDoc`] becomes one message with one payment-information block (`PmtInf`) and one
//! `CdtTrfTxInf` per payment line. The file is streamed with `quick_xml::Writer` events (no
//! serde, no DOM), in UTF-8, default namespace `urn:iso:std:iso:20022:tech:xsd:<version>`.
//!
//! # Field mapping
//!
//! | our field                    | pain.001 element(s)                                              |
//! |------------------------------|------------------------------------------------------------------|
//! | `batch_id`                   | `GrpHdr/MsgId` and `PmtInf/PmtInfId`                             |
//! | `created_at`                 | `GrpHdr/CreDtTm` (`ISODateTime` in both versions, with offset)   |
//! | `payments.len()`             | `GrpHdr/NbOfTxs` and `PmtInf/NbOfTxs`                            |
//! | Σ `amount` (integer fen)     | `GrpHdr/CtrlSum` and `PmtInf/CtrlSum`, yuan with two decimals    |
//! | `debtor.name`                | `GrpHdr/InitgPty/Nm` and `PmtInf/Dbtr/Nm`                        |
//! | (fixed)                      | `PmtInf/PmtMtd` = `TRF`, `PmtInf/BtchBookg` = `true`             |
//! | `execution_date`             | `PmtInf/ReqdExctnDt/Dt` (.09) or `PmtInf/ReqdExctnDt` (.03)      |
//! | `debtor.account_no`          | `PmtInf/DbtrAcct/Id/Othr/Id`                                     |
//! | `debtor.cnaps`               | `PmtInf/DbtrAgt/FinInstnId/ClrSysMmbId/MmbId`                    |
//! | `debtor.bank_name`           | `PmtInf/DbtrAgt/FinInstnId/Nm`                                   |
//! | `end_to_end_id`              | `CdtTrfTxInf/PmtId/EndToEndId`                                   |
//! | `amount`                     | `CdtTrfTxInf/Amt/InstdAmt` with `Ccy="CNY"`, yuan, two decimals  |
//! | `cnaps`                      | `CdtTrfTxInf/CdtrAgt/FinInstnId/ClrSysMmbId/MmbId`               |
//! | `bank_name`                  | `CdtTrfTxInf/CdtrAgt/FinInstnId/Nm`                              |
//! | `holder`                     | `CdtTrfTxInf/Cdtr/Nm`                                            |
//! | `card_number`                | `CdtTrfTxInf/CdtrAcct/Id/Othr/Id`                                |
//! | `remittance` (≤ 140 chars)   | `CdtTrfTxInf/RmtInf/Ustrd`                                       |
//!
//! The two versions differ, for what we write, only in the namespace and in `ReqdExctnDt`: in .03
//! it is an `ISODate`, in .09 a `DateAndDateTime2Choice`, so the date sits in a `Dt` child. The
//! element order follows the XSD sequences (`GroupHeader85`/`32`, `PaymentInstruction30` /
//! `PaymentInstructionInformation3`, `CreditTransferTransaction34`/`Information10`), and the
//! tests validate both versions with `xmllint --schema`.
//!
//! # Why `Othr/Id`, not `IBAN`
//!
//! An account is an `AccountIdentification4Choice`: either `IBAN` (pattern
//! `[A-Z]{2}[0-9]{2}[a-zA-Z0-9]{1,30}`, country code first) or `Othr/Id` (any `Max34Text`).
//! China has no IBAN; the special account number and the 16–19 digit aid-card numbers are plain
//! domestic numbers, so they go under `Othr/Id`.
//!
//! # Why CNAPS under `ClrSysMmbId`
//!
//! Chinese banks are routed by their 12-digit CNAPS code (联行号 / 行号), not by a BIC. ISO 20022
//! carries a clearing-system member id in `FinInstnId/ClrSysMmbId/MmbId`, and names the clearing
//! system in `ClrSysId/Cd` with the ISO external code `CNAPS` (China National Advanced Payment
//! System). When the code is not known, the bank's name goes in `FinInstnId/Nm`. The debtor's
//! agent is mandatory (`DbtrAgt`); when neither code nor name is known it is written as
//! `Othr/Id` = `NOTPROVIDED`, the usual convention for "agent not identified". The creditor's
//! agent is optional and is left out in that case.
//!
//! # Amounts
//!
//! Amounts are integer fen ([`Fen`]) and are written as yuan with exactly two decimals
//! (`1000.50`); the control sum is the integer sum of the lines, never a float. The schema
//! allows at most 18 digits (`totalDigits 18`), so one amount and the control sum must stay
//! below 10^16 yuan.
//!
//! # Errors
//!
//! [`write`] checks the whole batch (see [`validate`]) before writing the first byte, so a batch
//! with a bad line produces no output at all. Only an I/O error can stop a write half-way; the
//! caller writes to a temporary file and renames it, so a half file is never seen.

use super::{BatchDoc, PaymentLine};
use crate::domain::Fen;
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Timelike, Utc};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::io::{self, BufWriter, Write};

/// The pain.001 message version a bank takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum Pain001Version {
    /// `pain.001.001.09` (ISO 20022 2019 release).
    #[serde(rename = "pain.001.001.09")]
    V09,
    /// `pain.001.001.03` (2009 release, still the most common at banks).
    #[serde(rename = "pain.001.001.03")]
    V03,
}

impl Pain001Version {
    /// The message identifier, e.g. `pain.001.001.09`.
    pub fn as_str(self) -> &'static str {
        match self {
            Pain001Version::V09 => "pain.001.001.09",
            Pain001Version::V03 => "pain.001.001.03",
        }
    }

    /// The XML namespace of the `Document`, e.g. `urn:iso:std:iso:20022:tech:xsd:pain.001.001.09`.
    pub fn namespace(self) -> &'static str {
        match self {
            Pain001Version::V09 => "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09",
            Pain001Version::V03 => "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03",
        }
    }
}

impl fmt::Display for Pain001Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a batch cannot be written as pain.001. Every variant names the element (as a path below
/// `CstmrCdtTrfInitn`) and, for a payment, its 1-based line in [`BatchDoc::payments`].
#[derive(Debug, thiserror::Error)]
pub enum Pain001Error {
    #[error("batch {batch_id:?} has no payments; a pain.001 needs at least one CdtTrfTxInf")]
    EmptyBatch { batch_id: String },

    #[error("{element}{} is empty", on(.line))]
    Empty {
        element: &'static str,
        line: Option<usize>,
    },

    #[error("{element}{}: {value:?} is {len} characters long, at most {max} are allowed", on(.line))]
    TooLong {
        element: &'static str,
        line: Option<usize>,
        value: String,
        len: usize,
        max: usize,
    },

    #[error(
        "{element}{}: {value:?} contains {ch:?}; only [A-Za-z0-9/-?:().,'+ ] is allowed",
        on(.line)
    )]
    BadCharacter {
        element: &'static str,
        line: Option<usize>,
        value: String,
        ch: char,
    },

    #[error("{element}{}: {value:?} contains the control character U+{:04X}", on(.line), *.ch as u32)]
    ControlCharacter {
        element: &'static str,
        line: Option<usize>,
        value: String,
        ch: char,
    },

    #[error("{element}{}: {value:?} is not a 12-digit CNAPS code", on(.line))]
    InvalidCnaps {
        element: &'static str,
        line: Option<usize>,
        value: String,
    },

    #[error(
        "CdtTrfTxInf/PmtId/EndToEndId {value:?} appears twice, on payment lines {first} and {second}"
    )]
    DuplicateEndToEndId {
        value: String,
        first: usize,
        second: usize,
    },

    #[error(
        "CdtTrfTxInf/Amt/InstdAmt (payment line {line}, EndToEndId {end_to_end_id:?}): {amount} is not positive"
    )]
    NotPositive {
        line: usize,
        end_to_end_id: String,
        amount: Fen,
    },

    #[error(
        "CdtTrfTxInf/Amt/InstdAmt (payment line {line}, EndToEndId {end_to_end_id:?}): {amount} has more than the 18 digits the schema allows"
    )]
    AmountTooLarge {
        line: usize,
        end_to_end_id: String,
        amount: Fen,
    },

    #[error(
        "GrpHdr/CtrlSum: the sum of the {count} payments has more than the 18 digits the schema allows"
    )]
    CtrlSumTooLarge { count: usize },

    #[error("{element}: {value} is outside the years 0001-9999 an XML date can carry")]
    DateOutOfRange {
        element: &'static str,
        value: String,
    },

    #[error("writing the pain.001 file failed: {0}")]
    Io(#[from] io::Error),
}

/// ` (payment line N)` in error messages, or nothing for a batch-level element.
struct On(Option<usize>);

impl fmt::Display for On {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, " (payment line {n})"),
            None => Ok(()),
        }
    }
}

fn on(line: &Option<usize>) -> On {
    On(*line)
}

/// `Max35Text` (MsgId, PmtInfId, EndToEndId, MmbId).
const MAX_ID: usize = 35;
/// `Max34Text` (account `Othr/Id`).
const MAX_ACCOUNT: usize = 34;
/// `Max140Text` (Nm, Ustrd).
const MAX_TEXT: usize = 140;
/// `totalDigits 18` with two decimals: at most 16 digits of yuan.
const MAX_FEN: i64 = 999_999_999_999_999_999;
/// A CNAPS bank code (联行号) has 12 digits.
const CNAPS_LEN: usize = 12;
/// The ISO external code of the Chinese clearing system (ExternalClearingSystemIdentification1Code).
const CNAPS_CLEARING_SYSTEM: &str = "CNAPS";
/// `FinInstnId/Othr/Id` when an agent must be present but nothing identifies it.
const NOT_PROVIDED: &str = "NOTPROVIDED";

/// The characters banks accept in references (the SWIFT "x" character set).
fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '/' | '-' | '?' | ':' | '(' | ')' | '.' | ',' | '\'' | '+' | ' '
        )
}

/// A reference or account number: not blank, at most `max` characters of the SWIFT set.
fn check_ref(
    element: &'static str,
    line: Option<usize>,
    value: &str,
    max: usize,
) -> Result<(), Pain001Error> {
    if value.trim().is_empty() {
        return Err(Pain001Error::Empty { element, line });
    }
    let len = value.chars().count();
    if len > max {
        return Err(Pain001Error::TooLong {
            element,
            line,
            value: value.to_owned(),
            len,
            max,
        });
    }
    if let Some(ch) = value.chars().find(|&c| !is_id_char(c)) {
        return Err(Pain001Error::BadCharacter {
            element,
            line,
            value: value.to_owned(),
            ch,
        });
    }
    Ok(())
}

/// A character XML 1.0 cannot carry (C0 controls other than tab/LF/CR, U+FFFE, U+FFFF) or that
/// has no business in a name or remittance line (any other control character).
fn is_forbidden_in_text(c: char) -> bool {
    c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}'
}

fn check_no_controls(
    element: &'static str,
    line: Option<usize>,
    value: &str,
) -> Result<(), Pain001Error> {
    match value.chars().find(|&c| is_forbidden_in_text(c)) {
        Some(ch) => Err(Pain001Error::ControlCharacter {
            element,
            line,
            value: value.to_owned(),
            ch,
        }),
        None => Ok(()),
    }
}

/// A name (`Max140Text`): not blank, at most 140 characters (not bytes), no control characters.
fn check_name(element: &'static str, line: Option<usize>, value: &str) -> Result<(), Pain001Error> {
    if value.trim().is_empty() {
        return Err(Pain001Error::Empty { element, line });
    }
    let len = value.chars().count();
    if len > MAX_TEXT {
        return Err(Pain001Error::TooLong {
            element,
            line,
            value: value.to_owned(),
            len,
            max: MAX_TEXT,
        });
    }
    check_no_controls(element, line, value)
}

/// An optional bank name: blank means absent, otherwise as [`check_name`].
fn check_bank_name(
    element: &'static str,
    line: Option<usize>,
    value: &str,
) -> Result<(), Pain001Error> {
    if value.trim().is_empty() {
        Ok(())
    } else {
        check_name(element, line, value)
    }
}

fn check_cnaps(
    element: &'static str,
    line: Option<usize>,
    value: Option<&str>,
) -> Result<(), Pain001Error> {
    match value {
        Some(code) if code.len() != CNAPS_LEN || !code.bytes().all(|b| b.is_ascii_digit()) => {
            Err(Pain001Error::InvalidCnaps {
                element,
                line,
                value: code.to_owned(),
            })
        }
        _ => Ok(()),
    }
}

/// What the checks found out, needed for the header.
struct Totals {
    count: usize,
    ctrl_sum: Fen,
}

/// Checks every value the file will carry against the schema's limits and our rules, and
/// returns the control sum. Nothing is written.
fn check(doc: &BatchDoc) -> Result<Totals, Pain001Error> {
    if doc.payments.is_empty() {
        return Err(Pain001Error::EmptyBatch {
            batch_id: doc.batch_id.clone(),
        });
    }
    check_ref("GrpHdr/MsgId", None, &doc.batch_id, MAX_ID)?;
    check_name("GrpHdr/InitgPty/Nm", None, &doc.debtor.name)?;
    check_ref(
        "PmtInf/DbtrAcct/Id/Othr/Id",
        None,
        &doc.debtor.account_no,
        MAX_ACCOUNT,
    )?;
    check_cnaps(
        "PmtInf/DbtrAgt/FinInstnId/ClrSysMmbId/MmbId",
        None,
        doc.debtor.cnaps.as_deref(),
    )?;
    check_bank_name("PmtInf/DbtrAgt/FinInstnId/Nm", None, &doc.debtor.bank_name)?;
    written_date_time(&doc.created_at)?;
    check_year(
        "PmtInf/ReqdExctnDt",
        doc.execution_date.year(),
        &doc.execution_date,
    )?;

    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(doc.payments.len());
    let mut sum: i64 = 0;
    for (i, p) in doc.payments.iter().enumerate() {
        let line = i + 1;
        let at = Some(line);
        check_ref("CdtTrfTxInf/PmtId/EndToEndId", at, &p.end_to_end_id, MAX_ID)?;
        if let Some(first) = seen.insert(p.end_to_end_id.as_str(), line) {
            return Err(Pain001Error::DuplicateEndToEndId {
                value: p.end_to_end_id.clone(),
                first,
                second: line,
            });
        }
        if p.amount.0 <= 0 {
            return Err(Pain001Error::NotPositive {
                line,
                end_to_end_id: p.end_to_end_id.clone(),
                amount: p.amount,
            });
        }
        if p.amount.0 > MAX_FEN {
            return Err(Pain001Error::AmountTooLarge {
                line,
                end_to_end_id: p.end_to_end_id.clone(),
                amount: p.amount,
            });
        }
        // Both terms are ≤ MAX_FEN < i64::MAX / 2, so the addition cannot overflow.
        sum += p.amount.0;
        if sum > MAX_FEN {
            return Err(Pain001Error::CtrlSumTooLarge {
                count: doc.payments.len(),
            });
        }
        check_cnaps(
            "CdtTrfTxInf/CdtrAgt/FinInstnId/ClrSysMmbId/MmbId",
            at,
            p.cnaps.as_deref(),
        )?;
        check_bank_name("CdtTrfTxInf/CdtrAgt/FinInstnId/Nm", at, &p.bank_name)?;
        check_name("CdtTrfTxInf/Cdtr/Nm", at, &p.holder)?;
        check_ref(
            "CdtTrfTxInf/CdtrAcct/Id/Othr/Id",
            at,
            &p.card_number,
            MAX_ACCOUNT,
        )?;
        check_no_controls("CdtTrfTxInf/RmtInf/Ustrd", at, &p.remittance)?;
    }
    Ok(Totals {
        count: doc.payments.len(),
        ctrl_sum: Fen(sum),
    })
}

fn check_year(
    element: &'static str,
    year: i32,
    value: &dyn fmt::Display,
) -> Result<(), Pain001Error> {
    if (1..=9999).contains(&year) {
        Ok(())
    } else {
        Err(Pain001Error::DateOutOfRange {
            element,
            value: value.to_string(),
        })
    }
}

/// The creation time as it is written: local time with its offset, or UTC (`Z`) when the offset
/// is not something `xs:dateTime` can carry (not whole minutes, or beyond ±14:00). Seconds are
/// whole; a leap second is written as :59.
fn written_date_time(t: &DateTime<FixedOffset>) -> Result<WrittenDateTime, Pain001Error> {
    let offset = t.offset().local_minus_utc();
    let w = if offset % 60 == 0 && offset.abs() <= 14 * 3600 {
        WrittenDateTime {
            local: t.naive_local(),
            offset_minutes: Some(offset / 60),
        }
    } else {
        WrittenDateTime {
            local: t.with_timezone(&Utc).naive_utc(),
            offset_minutes: None,
        }
    };
    check_year("GrpHdr/CreDtTm", w.local.year(), t)?;
    Ok(w)
}

struct WrittenDateTime {
    local: chrono::NaiveDateTime,
    /// `None`: UTC, written as `Z`.
    offset_minutes: Option<i32>,
}

impl fmt::Display for WrittenDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.local;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )?;
        match self.offset_minutes {
            None => f.write_str("Z"),
            Some(m) => {
                let sign = if m < 0 { '-' } else { '+' };
                let m = m.unsigned_abs();
                write!(f, "{sign}{:02}:{:02}", m / 60, m % 60)
            }
        }
    }
}

fn write_date(buf: &mut String, d: NaiveDate) {
    buf.clear();
    // Writing to a String cannot fail.
    let _ = write!(buf, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day());
}

/// The remittance text as written: `None` when blank (an empty `Ustrd` would not validate), else
/// its first 140 characters (characters, not bytes: `国家助学金` is 5 of them).
fn remittance(text: &str) -> Option<&str> {
    if text.trim().is_empty() {
        return None;
    }
    match text.char_indices().nth(MAX_TEXT) {
        Some((cut, _)) => Some(&text[..cut]),
        None => Some(text),
    }
}

/// Checks a batch exactly as [`write`] does, without writing anything. Useful to refuse a batch
/// before a file is even created.
pub fn validate(doc: &BatchDoc) -> Result<(), Pain001Error> {
    check(doc).map(|_| ())
}

/// Writes `doc` as one pain.001 message of the given version to `out`.
///
/// Everything is checked first ([`validate`]); on a check error nothing at all has been written.
/// `out` is wrapped in a buffer internally, so an unbuffered `File` is fine; it is flushed before
/// returning. Pass `&mut w` to keep using a writer afterwards.
pub fn write<W: Write>(
    doc: &BatchDoc,
    version: Pain001Version,
    out: W,
) -> Result<(), Pain001Error> {
    let totals = check(doc)?;
    let created = written_date_time(&doc.created_at)?;

    let mut x = XmlOut {
        // One element per line, not indented: a province's term is 200 files of 5,000 payments,
        // and indentation made up 40 % of their bytes, written, hashed and copied twice.
        xml: Writer::new_with_indent(BufWriter::with_capacity(64 * 1024, out), b' ', 0),
        buf: String::with_capacity(32),
    };
    x.xml
        .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    x.xml.write_event(Event::Start(
        BytesStart::new("Document").with_attributes([("xmlns", version.namespace())]),
    ))?;
    x.start("CstmrCdtTrfInitn")?;

    // GroupHeader85 (.09) / GroupHeader32 (.03): MsgId, CreDtTm, NbOfTxs, CtrlSum, InitgPty.
    x.start("GrpHdr")?;
    x.leaf("MsgId", &doc.batch_id)?;
    x.leaf_display("CreDtTm", &created)?;
    x.leaf_display("NbOfTxs", &totals.count)?;
    x.leaf_display("CtrlSum", &totals.ctrl_sum)?;
    x.party("InitgPty", &doc.debtor.name)?;
    x.end("GrpHdr")?;

    // PaymentInstruction30 (.09) / PaymentInstructionInformation3 (.03).
    x.start("PmtInf")?;
    x.leaf("PmtInfId", &doc.batch_id)?;
    x.leaf("PmtMtd", "TRF")?;
    x.leaf("BtchBookg", "true")?;
    x.leaf_display("NbOfTxs", &totals.count)?;
    x.leaf_display("CtrlSum", &totals.ctrl_sum)?;
    write_date(&mut x.buf, doc.execution_date);
    match version {
        Pain001Version::V09 => {
            x.start("ReqdExctnDt")?;
            x.leaf_buf("Dt")?;
            x.end("ReqdExctnDt")?;
        }
        Pain001Version::V03 => x.leaf_buf("ReqdExctnDt")?,
    }
    x.party("Dbtr", &doc.debtor.name)?;
    x.account("DbtrAcct", &doc.debtor.account_no)?;
    x.agent(
        "DbtrAgt",
        doc.debtor.cnaps.as_deref(),
        &doc.debtor.bank_name,
        true,
    )?;
    for p in &doc.payments {
        x.transaction(p)?;
    }
    x.end("PmtInf")?;

    x.end("CstmrCdtTrfInitn")?;
    x.end("Document")?;
    let mut inner = x.xml.into_inner();
    inner.write_all(b"\n")?;
    inner.flush()?;
    Ok(())
}

/// The event writer plus one reusable text buffer for numbers and dates, so that no element
/// needs an allocation of its own (names are borrowed; `BytesText::new` only allocates when a
/// value has something to escape).
struct XmlOut<W: Write> {
    xml: Writer<W>,
    buf: String,
}

impl<W: Write> XmlOut<W> {
    fn start(&mut self, name: &str) -> io::Result<()> {
        self.xml.write_event(Event::Start(BytesStart::new(name)))
    }

    fn end(&mut self, name: &str) -> io::Result<()> {
        self.xml.write_event(Event::End(BytesEnd::new(name)))
    }

    /// `<name>text</name>`, the text escaped (`&`, `<`, `>`, quotes).
    fn leaf(&mut self, name: &str, text: &str) -> io::Result<()> {
        self.start(name)?;
        self.xml.write_event(Event::Text(BytesText::new(text)))?;
        self.end(name)
    }

    /// `<name>` + the buffer + `</name>`.
    fn leaf_buf(&mut self, name: &str) -> io::Result<()> {
        self.start(name)?;
        self.xml
            .write_event(Event::Text(BytesText::new(&self.buf)))?;
        self.end(name)
    }

    /// A number, date or amount (nothing to escape), formatted into the reusable buffer.
    fn leaf_display(&mut self, name: &str, value: &dyn fmt::Display) -> io::Result<()> {
        self.buf.clear();
        // Writing to a String cannot fail.
        let _ = write!(self.buf, "{value}");
        self.leaf_buf(name)
    }

    /// `PartyIdentification135`/`32` with just `Nm`.
    fn party(&mut self, name: &str, party_name: &str) -> io::Result<()> {
        self.start(name)?;
        self.leaf("Nm", party_name)?;
        self.end(name)
    }

    /// `CashAccount38`/`16` with `Id/Othr/Id`: a domestic account number, not an IBAN.
    fn account(&mut self, name: &str, number: &str) -> io::Result<()> {
        self.start(name)?;
        self.start("Id")?;
        self.start("Othr")?;
        self.leaf("Id", number)?;
        self.end("Othr")?;
        self.end("Id")?;
        self.end(name)
    }

    /// `BranchAndFinancialInstitutionIdentification6`/`4`: `FinInstnId` with, in schema order,
    /// `ClrSysMmbId` (CNAPS), `Nm` (bank name), or `Othr/Id` NOTPROVIDED when nothing is known
    /// and the agent is `required`; an optional agent with nothing known is left out.
    fn agent(
        &mut self,
        name: &str,
        cnaps: Option<&str>,
        bank_name: &str,
        required: bool,
    ) -> io::Result<()> {
        let bank_name =
            (!bank_name.trim().is_empty() && Some(bank_name.trim()) != cnaps).then_some(bank_name);
        if cnaps.is_none() && bank_name.is_none() && !required {
            return Ok(());
        }
        self.start(name)?;
        self.start("FinInstnId")?;
        if let Some(code) = cnaps {
            self.start("ClrSysMmbId")?;
            self.start("ClrSysId")?;
            self.leaf("Cd", CNAPS_CLEARING_SYSTEM)?;
            self.end("ClrSysId")?;
            self.leaf("MmbId", code)?;
            self.end("ClrSysMmbId")?;
        }
        if let Some(bank) = bank_name {
            self.leaf("Nm", bank)?;
        }
        if cnaps.is_none() && bank_name.is_none() {
            self.start("Othr")?;
            self.leaf("Id", NOT_PROVIDED)?;
            self.end("Othr")?;
        }
        self.end("FinInstnId")?;
        self.end(name)
    }

    /// `CreditTransferTransaction34` (.09) / `CreditTransferTransactionInformation10` (.03):
    /// PmtId, Amt, CdtrAgt, Cdtr, CdtrAcct, RmtInf.
    fn transaction(&mut self, p: &PaymentLine) -> io::Result<()> {
        self.start("CdtTrfTxInf")?;
        self.start("PmtId")?;
        self.leaf("EndToEndId", &p.end_to_end_id)?;
        self.end("PmtId")?;
        self.start("Amt")?;
        self.buf.clear();
        let _ = write!(self.buf, "{}", p.amount);
        // `from_content` keeps the tag borrowed: no allocation for the attribute.
        self.xml.write_event(Event::Start(BytesStart::from_content(
            "InstdAmt Ccy=\"CNY\"",
            8,
        )))?;
        self.xml
            .write_event(Event::Text(BytesText::new(&self.buf)))?;
        self.end("InstdAmt")?;
        self.end("Amt")?;
        self.agent("CdtrAgt", p.cnaps.as_deref(), &p.bank_name, false)?;
        self.party("Cdtr", &p.holder)?;
        self.account("CdtrAcct", &p.card_number)?;
        if let Some(text) = remittance(&p.remittance) {
            self.start("RmtInf")?;
            self.leaf("Ustrd", text)?;
            self.end("RmtInf")?;
        }
        self.end("CdtTrfTxInf")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::Debtor;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use quick_xml::Reader;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/bank/pain001");

    fn debtor(cnaps: Option<&str>, bank_name: &str) -> Debtor {
        Debtor {
            account_no: "6501020100012345678".into(),
            name: "某区学生资助管理中心".into(),
            bank_name: bank_name.into(),
            cnaps: cnaps.map(Into::into),
        }
    }

    fn line(
        e2e: &str,
        fen: i64,
        holder: &str,
        cnaps: Option<&str>,
        bank: &str,
        remittance: &str,
    ) -> PaymentLine {
        PaymentLine {
            end_to_end_id: e2e.into(),
            amount: Fen(fen),
            card_number: "6217000010001234567".into(),
            holder: holder.into(),
            bank_name: bank.into(),
            cnaps: cnaps.map(Into::into),
            remittance: remittance.into(),
        }
    }

    fn sample(debtor: Debtor) -> BatchDoc {
        let tz = FixedOffset::east_opt(8 * 3600).expect("valid offset");
        BatchDoc {
            batch_id: "B20260901-0001".into(),
            created_at: tz
                .with_ymd_and_hms(2026, 9, 1, 9, 30, 0)
                .single()
                .expect("valid time"),
            execution_date: NaiveDate::from_ymd_opt(2026, 9, 3).expect("valid date"),
            debtor,
            payments: vec![
                line(
                    "AID-2026-000001",
                    200_000,
                    "买买提·艾力",
                    Some("102881000011"),
                    "中国工商银行乌鲁木齐分行",
                    "2026秋 国家助学金",
                ),
                line(
                    "AID-2026-000002",
                    100_050,
                    "张三",
                    None,
                    "中国农业银行",
                    "2026秋 国家助学金",
                ),
                line("AID-2026-000003", 1, "李四", Some("105100000017"), "", ""),
                line(
                    "AID-2026-000004",
                    62_500,
                    "王五",
                    None,
                    "",
                    &"助".repeat(200),
                ),
            ],
        }
    }

    fn to_string(doc: &BatchDoc, version: Pain001Version) -> String {
        let mut out = Vec::new();
        write(doc, version, &mut out).expect("sample batch writes");
        String::from_utf8(out).expect("UTF-8 output")
    }

    /// Writes the batch and validates it with `xmllint --schema`.
    fn assert_schema_valid(doc: &BatchDoc, version: Pain001Version) -> String {
        crate::formats::xml::schema::assert_valid(to_string(doc, version).as_bytes(), &format!("{version}.xsd"))
    }

    #[test]
    fn sample_batch_validates_against_v09_xsd() {
        let text = assert_schema_valid(
            &sample(debtor(Some("102881000011"), "中国工商银行乌鲁木齐分行")),
            Pain001Version::V09,
        );
        assert!(text.contains("<ReqdExctnDt>\n"), "{text}");
        assert!(text.contains("<Dt>2026-09-03</Dt>"));
    }

    #[test]
    fn sample_batch_validates_against_v03_xsd() {
        let text = assert_schema_valid(
            &sample(debtor(Some("102881000011"), "中国工商银行乌鲁木齐分行")),
            Pain001Version::V03,
        );
        assert!(text.contains("<ReqdExctnDt>2026-09-03</ReqdExctnDt>"));
    }

    #[test]
    fn debtor_without_cnaps_validates_in_both_versions() {
        for version in [Pain001Version::V09, Pain001Version::V03] {
            let text =
                assert_schema_valid(&sample(debtor(None, "中国工商银行乌鲁木齐分行")), version);
            let dbtr_agt = between(&text, "<DbtrAgt>", "</DbtrAgt>");
            assert!(
                dbtr_agt.contains("<Nm>中国工商银行乌鲁木齐分行</Nm>"),
                "{dbtr_agt}"
            );
            assert!(!dbtr_agt.contains("ClrSysMmbId"), "{dbtr_agt}");

            let text = assert_schema_valid(&sample(debtor(None, "")), version);
            let dbtr_agt = between(&text, "<DbtrAgt>", "</DbtrAgt>");
            assert!(
                dbtr_agt.contains("<Othr>") && dbtr_agt.contains("<Id>NOTPROVIDED</Id>"),
                "{dbtr_agt}"
            );
        }
    }

    fn between<'a>(text: &'a str, from: &str, to: &str) -> &'a str {
        let start = text.find(from).expect("start tag present");
        let end = start + text[start..].find(to).expect("end tag present");
        &text[start..end]
    }

    #[test]
    fn header_and_agents_carry_the_mapped_values() {
        let text = to_string(
            &sample(debtor(Some("102881000011"), "中国工商银行乌鲁木齐分行")),
            Pain001Version::V09,
        );
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09\">"));
        assert!(text.contains("<MsgId>B20260901-0001</MsgId>"));
        assert!(text.contains("<PmtInfId>B20260901-0001</PmtInfId>"));
        assert!(text.contains("<CreDtTm>2026-09-01T09:30:00+08:00</CreDtTm>"));
        assert_eq!(text.matches("<NbOfTxs>4</NbOfTxs>").count(), 2);
        assert_eq!(text.matches("<CtrlSum>3625.51</CtrlSum>").count(), 2);
        assert!(text.contains("<InstdAmt Ccy=\"CNY\">2000.00</InstdAmt>"));
        assert!(text.contains("<InstdAmt Ccy=\"CNY\">0.01</InstdAmt>"));
        let dbtr_agt = between(&text, "<DbtrAgt>", "</DbtrAgt>");
        assert!(
            dbtr_agt.contains("<Cd>CNAPS</Cd>") && dbtr_agt.contains("<MmbId>102881000011</MmbId>")
        );
        assert!(dbtr_agt.contains("<Nm>中国工商银行乌鲁木齐分行</Nm>"));
        assert!(text.contains("<Nm>买买提·艾力</Nm>"));
        // Line 2: no CNAPS, so the bank's name; line 4: nothing known, so no CdtrAgt at all.
        let tx2 = between(&text, "<EndToEndId>AID-2026-000002", "</CdtTrfTxInf>");
        assert!(
            tx2.contains("<CdtrAgt>")
                && tx2.contains("<Nm>中国农业银行</Nm>")
                && !tx2.contains("MmbId")
        );
        let tx4 = between(&text, "<EndToEndId>AID-2026-000004", "</CdtTrfTxInf>");
        assert!(!tx4.contains("<CdtrAgt>"));
        // Line 3: blank remittance, so no RmtInf (an empty Ustrd would not validate).
        let tx3 = between(&text, "<EndToEndId>AID-2026-000003", "</CdtTrfTxInf>");
        assert!(!tx3.contains("<RmtInf>"));
    }

    #[test]
    fn remittance_is_cut_to_140_characters_not_bytes() {
        let text = to_string(&sample(debtor(None, "")), Pain001Version::V03);
        let tx4 = between(&text, "<EndToEndId>AID-2026-000004", "</CdtTrfTxInf>");
        let ustrd = between(tx4, "<Ustrd>", "</Ustrd>").trim_start_matches("<Ustrd>");
        assert_eq!(ustrd.chars().count(), 140);
        assert_eq!(ustrd, "助".repeat(140));
        assert_eq!(remittance("  "), None);
        assert_eq!(remittance("2026秋 国家助学金"), Some("2026秋 国家助学金"));
    }

    #[test]
    fn special_characters_are_escaped_and_still_validate() {
        let mut doc = sample(debtor(Some("102881000011"), "A&B <Bank>"));
        doc.payments[0].holder = "Tom & Jerry <Ltd> \"x\" 'y'".into();
        doc.payments[1].remittance = "助学金 <2026> & 补助".into();
        doc.payments[2].end_to_end_id = "AID'2026+(3)".into();
        for version in [Pain001Version::V09, Pain001Version::V03] {
            let text = assert_schema_valid(&doc, version);
            assert!(text.contains("Tom &amp; Jerry &lt;Ltd&gt;"), "{text}");
            assert!(text.contains("助学金 &lt;2026&gt; &amp; 补助"), "{text}");
            assert!(text.contains("<Nm>A&amp;B &lt;Bank&gt;</Nm>"), "{text}");
            assert!(!text.contains("Tom & Jerry"));
        }
    }

    #[test]
    fn golden_files_match() {
        // Regenerate with AIDPAY_BLESS=1 cargo test --lib formats::pain001 after an intended change.
        let doc = sample(debtor(Some("102881000011"), "中国工商银行乌鲁木齐分行"));
        for version in [Pain001Version::V09, Pain001Version::V03] {
            let path = format!("{FIXTURES}/sample.{}.xml", version.as_str());
            let text = assert_schema_valid(&doc, version);
            if std::env::var_os("AIDPAY_BLESS").is_some() {
                std::fs::create_dir_all(FIXTURES).expect("fixture folder");
                std::fs::write(&path, &text).expect("write golden file");
            }
            let golden = std::fs::read_to_string(&path).expect("golden file present");
            assert_eq!(
                text, golden,
                "{path} differs; rerun with AIDPAY_BLESS=1 if the change is intended"
            );
        }
    }

    #[test]
    fn end_to_end_id_of_36_characters_is_refused() {
        let mut doc = sample(debtor(None, "x"));
        doc.payments[2].end_to_end_id = "A".repeat(36);
        let err = write(&doc, Pain001Version::V09, io::sink()).expect_err("36 chars");
        match err {
            Pain001Error::TooLong {
                element: "CdtTrfTxInf/PmtId/EndToEndId",
                line: Some(3),
                len: 36,
                max: 35,
                ..
            } => {}
            other => panic!("wrong error: {other:?}"),
        }
        doc.payments[2].end_to_end_id = "A".repeat(35);
        assert!(write(&doc, Pain001Version::V09, io::sink()).is_ok());
    }

    #[test]
    fn empty_batch_is_refused() {
        let mut doc = sample(debtor(None, "x"));
        doc.payments.clear();
        let err = write(&doc, Pain001Version::V03, io::sink()).expect_err("empty");
        assert!(
            matches!(&err, Pain001Error::EmptyBatch { batch_id } if batch_id == "B20260901-0001"),
            "{err:?}"
        );
        assert!(err.to_string().contains("no payments"));
    }

    #[test]
    fn name_of_141_characters_is_refused_but_140_passes() {
        let mut doc = sample(debtor(None, "x"));
        doc.payments[1].holder = "张".repeat(141);
        let err = write(&doc, Pain001Version::V09, io::sink()).expect_err("141 chars");
        assert!(
            matches!(
                err,
                Pain001Error::TooLong {
                    element: "CdtTrfTxInf/Cdtr/Nm",
                    line: Some(2),
                    len: 141,
                    max: 140,
                    ..
                }
            ),
            "{err:?}"
        );
        // 140 CJK characters are 420 bytes: the limit is in characters.
        doc.payments[1].holder = "张".repeat(140);
        assert_schema_valid(&doc, Pain001Version::V09);

        let mut doc = sample(debtor(None, "x"));
        doc.debtor.name = "d".repeat(141);
        let err = validate(&doc).expect_err("141 chars");
        assert!(
            matches!(
                err,
                Pain001Error::TooLong {
                    element: "GrpHdr/InitgPty/Nm",
                    line: None,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn other_bad_values_are_refused_with_their_element() {
        let base = sample(debtor(Some("102881000011"), "x"));
        type Mutation = Box<dyn Fn(&mut BatchDoc)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|d| d.batch_id = "B_1".into()),
                "BadCharacter GrpHdr/MsgId",
            ),
            (
                Box::new(|d| d.batch_id = "B".repeat(36)),
                "TooLong GrpHdr/MsgId",
            ),
            (
                Box::new(|d| d.payments[0].end_to_end_id = "AID 国家".into()),
                "BadCharacter CdtTrfTxInf/PmtId/EndToEndId",
            ),
            (
                Box::new(|d| d.payments[0].end_to_end_id = "".into()),
                "Empty CdtTrfTxInf/PmtId/EndToEndId",
            ),
            (
                Box::new(|d| d.payments[3].end_to_end_id = "AID-2026-000001".into()),
                "DuplicateEndToEndId",
            ),
            (Box::new(|d| d.payments[1].amount = Fen(0)), "NotPositive"),
            (
                Box::new(|d| d.payments[1].amount = Fen(-100)),
                "NotPositive",
            ),
            (
                Box::new(|d| d.payments[1].amount = Fen(MAX_FEN + 1)),
                "AmountTooLarge",
            ),
            (
                Box::new(|d| {
                    d.payments[0].amount = Fen(MAX_FEN);
                    d.payments[1].amount = Fen(MAX_FEN);
                }),
                "CtrlSumTooLarge",
            ),
            (
                Box::new(|d| d.payments[0].cnaps = Some("10288100001".into())),
                "InvalidCnaps CdtTrfTxInf/CdtrAgt/FinInstnId/ClrSysMmbId/MmbId",
            ),
            (
                Box::new(|d| d.debtor.cnaps = Some("中国工商银行".into())),
                "InvalidCnaps PmtInf/DbtrAgt/FinInstnId/ClrSysMmbId/MmbId",
            ),
            (
                Box::new(|d| d.payments[0].holder = "  ".into()),
                "Empty CdtTrfTxInf/Cdtr/Nm",
            ),
            (
                Box::new(|d| d.payments[0].holder = "张\u{0}三".into()),
                "ControlCharacter CdtTrfTxInf/Cdtr/Nm",
            ),
            (
                Box::new(|d| d.payments[0].remittance = "a\u{1b}b".into()),
                "ControlCharacter CdtTrfTxInf/RmtInf/Ustrd",
            ),
            (
                Box::new(|d| d.payments[0].card_number = "1".repeat(35)),
                "TooLong CdtTrfTxInf/CdtrAcct/Id/Othr/Id",
            ),
            (
                Box::new(|d| d.debtor.account_no = "".into()),
                "Empty PmtInf/DbtrAcct/Id/Othr/Id",
            ),
            (
                Box::new(|d| {
                    d.execution_date = NaiveDate::from_ymd_opt(10_000, 1, 1).expect("date")
                }),
                "DateOutOfRange PmtInf/ReqdExctnDt",
            ),
        ];
        for (mutate, expected) in cases {
            let mut doc = base.clone();
            mutate(&mut doc);
            let mut out = Vec::new();
            let err = write(&doc, Pain001Version::V09, &mut out).expect_err(expected);
            assert!(
                out.is_empty(),
                "{expected}: bytes were written before the error"
            );
            let got = match &err {
                Pain001Error::Empty { element, .. } => format!("Empty {element}"),
                Pain001Error::TooLong { element, .. } => format!("TooLong {element}"),
                Pain001Error::BadCharacter { element, .. } => format!("BadCharacter {element}"),
                Pain001Error::ControlCharacter { element, .. } => {
                    format!("ControlCharacter {element}")
                }
                Pain001Error::InvalidCnaps { element, .. } => format!("InvalidCnaps {element}"),
                Pain001Error::DateOutOfRange { element, .. } => format!("DateOutOfRange {element}"),
                Pain001Error::DuplicateEndToEndId { .. } => "DuplicateEndToEndId".into(),
                Pain001Error::NotPositive { .. } => "NotPositive".into(),
                Pain001Error::AmountTooLarge { .. } => "AmountTooLarge".into(),
                Pain001Error::CtrlSumTooLarge { .. } => "CtrlSumTooLarge".into(),
                other => format!("{other:?}"),
            };
            assert_eq!(got, expected, "message: {err}");
        }
    }

    #[test]
    fn error_messages_name_element_line_and_value() {
        let mut doc = sample(debtor(None, "x"));
        doc.payments[2].end_to_end_id = "A".repeat(36);
        let msg = validate(&doc).expect_err("too long").to_string();
        assert_eq!(
            msg,
            format!(
                "CdtTrfTxInf/PmtId/EndToEndId (payment line 3): \"{}\" is 36 characters long, at most 35 are allowed",
                "A".repeat(36)
            )
        );
        doc.payments[2].end_to_end_id = "AID-2026-000001".into();
        let msg = validate(&doc).expect_err("duplicate").to_string();
        assert!(msg.contains("lines 1 and 3"), "{msg}");
    }

    #[test]
    fn largest_amounts_validate() {
        let mut doc = sample(debtor(None, "x"));
        doc.payments.truncate(1);
        doc.payments[0].amount = Fen(MAX_FEN);
        let text = assert_schema_valid(&doc, Pain001Version::V09);
        assert!(text.contains("<CtrlSum>9999999999999999.99</CtrlSum>"));
    }

    #[test]
    fn creation_time_offsets_xs_datetime_cannot_carry_are_written_in_utc() {
        let odd = FixedOffset::east_opt(8 * 3600 + 30).expect("offset");
        let t = odd
            .with_ymd_and_hms(2026, 9, 1, 9, 30, 30)
            .single()
            .expect("time");
        assert_eq!(
            written_date_time(&t).expect("in range").to_string(),
            "2026-09-01T01:30:00Z"
        );
        let west = FixedOffset::west_opt(5 * 3600 + 30 * 60).expect("offset");
        let t = west
            .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .expect("time");
        assert_eq!(
            written_date_time(&t).expect("in range").to_string(),
            "2026-01-02T03:04:05-05:30"
        );
    }

    #[test]
    fn version_names_and_serde() {
        assert_eq!(Pain001Version::V09.as_str(), "pain.001.001.09");
        assert_eq!(
            Pain001Version::V03.namespace(),
            "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
        );
        let v: Pain001Version = serde_json::from_str("\"pain.001.001.03\"").expect("deserializes");
        assert_eq!(v, Pain001Version::V03);
        assert!(serde_json::from_str::<Pain001Version>("\"V03\"").is_err());
    }

    #[test]
    fn five_thousand_lines_write_quickly() {
        let mut doc = sample(debtor(Some("102881000011"), "中国工商银行"));
        let template = doc.payments[0].clone();
        doc.payments = (0..5_000)
            .map(|i| PaymentLine {
                end_to_end_id: format!("AID-2026-{i:06}"),
                amount: Fen(100 + i),
                ..template.clone()
            })
            .collect();
        let start = std::time::Instant::now();
        let mut out = Vec::with_capacity(8 << 20);
        write(&doc, Pain001Version::V09, &mut out).expect("writes");
        let took = start.elapsed();
        eprintln!("pain001: 5,000 lines, {} bytes, in {took:?}", out.len());
        // Generous even for a debug build on a busy CI machine; release takes a few milliseconds.
        assert!(took.as_secs() < 5, "5,000 lines took {took:?}");
        assert_eq!(
            String::from_utf8_lossy(&out)
                .matches("<CdtTrfTxInf>")
                .count(),
            5_000
        );
    }

    /// What the parse-back test reads: both NbOfTxs, both CtrlSum, and every InstdAmt.
    #[derive(Default, Debug)]
    struct Parsed {
        grp_nb: Option<String>,
        grp_sum: Option<Decimal>,
        pmt_nb: Option<String>,
        pmt_sum: Option<Decimal>,
        amounts: Vec<Decimal>,
    }

    fn parse_back(text: &str) -> Parsed {
        let mut reader = Reader::from_str(text);
        let mut path: Vec<String> = Vec::new();
        let mut parsed = Parsed::default();
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) => path.push(e.local_name().as_ref().to_owned()),
                Event::End(_) => {
                    path.pop();
                }
                Event::Text(t) => {
                    let value: &str = &t;
                    let n = path.len();
                    if n < 2 {
                        continue;
                    }
                    let dec = || Decimal::from_str(value.trim()).expect("decimal");
                    match (path[n - 2].as_str(), path[n - 1].as_str()) {
                        ("GrpHdr", "NbOfTxs") => parsed.grp_nb = Some(value.to_owned()),
                        ("GrpHdr", "CtrlSum") => parsed.grp_sum = Some(dec()),
                        ("PmtInf", "NbOfTxs") => parsed.pmt_nb = Some(value.to_owned()),
                        ("PmtInf", "CtrlSum") => parsed.pmt_sum = Some(dec()),
                        ("Amt", "InstdAmt") => parsed.amounts.push(dec()),
                        _ => {}
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        parsed
    }

    proptest! {
        #[test]
        fn control_sums_are_exact(amounts in prop::collection::vec(1i64..1_000_000_000, 1..200), v03 in any::<bool>()) {
            let version = if v03 { Pain001Version::V03 } else { Pain001Version::V09 };
            let mut doc = sample(debtor(Some("102881000011"), "中国工商银行"));
            let template = doc.payments[0].clone();
            doc.payments = amounts
                .iter()
                .enumerate()
                .map(|(i, &fen)| PaymentLine { end_to_end_id: format!("AID-{i}"), amount: Fen(fen), ..template.clone() })
                .collect();
            let parsed = parse_back(&to_string(&doc, version));
            let count = amounts.len().to_string();
            prop_assert_eq!(parsed.grp_nb.as_deref(), Some(count.as_str()));
            prop_assert_eq!(parsed.pmt_nb.as_deref(), Some(count.as_str()));
            prop_assert_eq!(parsed.amounts.len(), amounts.len());
            let sum_of_lines: Decimal = parsed.amounts.iter().sum();
            prop_assert_eq!(parsed.grp_sum, Some(sum_of_lines));
            prop_assert_eq!(parsed.pmt_sum, Some(sum_of_lines));
            prop_assert_eq!(sum_of_lines, doc.ctrl_sum().to_decimal());
            for (written, &fen) in parsed.amounts.iter().zip(&amounts) {
                prop_assert_eq!(*written, Fen(fen).to_decimal());
            }
        }
    }
}
