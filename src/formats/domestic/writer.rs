//! Writes a [`BatchDoc`] as a bank's delimited 代发 file, laid out by a [`DomesticProfile`].
//!
//! Three rules shape this module:
//! - **Nothing corrupt reaches the bank.** `encoding_rs`'s ordinary `encode` silently writes
//!   `&#131072;` for a character GBK lacks (CRATES.md); here every field is encoded *without
//!   replacement*, so `𠮷` becomes [`LineProblem::Unencodable`] instead. A field containing the
//!   delimiter, CR or LF would shift every later column and is refused too, as is a field longer
//!   than the profile's byte limit (counted in the profile's encoding, where a CJK character is
//!   2 bytes in GBK).
//! - **All or nothing.** [`write()`] renders the whole file into memory, checking every line, and
//!   only then writes it to `out`: a batch with one bad line writes no byte at all. The batch code
//!   runs the same check per payment *before* batching ([`check_line`] / [`LineChecker`]), so a
//!   bad name becomes an `unencodable_name` exception and the rest of the batch still goes.
//! - **Exact totals.** Count and total in the header/trailer are integer sums of fen, written in
//!   the profile's unit; an overflow is an error, never a wrapped number.
//!
//! A note on GBK and `|`: the second byte of a GBK character may be 0x7C (`|`), so a bank reader
//! must decode before splitting (this crate's [`super::result`] does). The delimiter check here is
//! on *characters*, which is what a correct reader sees.

use super::profile::{AmountUnit, DetailColumn, DomesticProfile, HeaderColumn};
use crate::domain::Fen;
use crate::formats::{BatchDoc, PaymentLine};
use encoding_rs::{EncoderResult, Encoding};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write;

/// Why one field of a line cannot be written in a profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    /// A character the profile's encoding has no code for (e.g. `𠮷` in GBK). The value is kept
    /// for the exception shown to finance staff; the message names only the character.
    #[error("{field} has `{character}`, which {encoding} cannot carry")]
    Unencodable { field: &'static str, value: String, character: char, encoding: &'static str },
    #[error("{field} is {bytes} bytes in the bank's encoding, at most {max} are allowed")]
    TooLong { field: &'static str, bytes: usize, max: usize },
    #[error("{field} contains the file's delimiter, a CR or a LF")]
    Delimiter { field: &'static str, value: String },
    #[error("{field} {amount} is not a positive amount")]
    NotPositive { field: &'static str, amount: Fen },
}

impl LineProblem {
    /// The column token the problem is in (`holder`, `amount`, …).
    pub fn field(&self) -> &'static str {
        match self {
            LineProblem::Unencodable { field, .. }
            | LineProblem::TooLong { field, .. }
            | LineProblem::Delimiter { field, .. }
            | LineProblem::NotPositive { field, .. } => field,
        }
    }
}

/// Why a batch file was not written. Nothing was written to `out` for any of them but `Io`.
#[derive(Debug, thiserror::Error)]
pub enum DomesticError {
    #[error("bank profile: {0}")]
    Profile(String),
    #[error("batch {batch_id} has no payments")]
    Empty { batch_id: String },
    #[error("batch {batch_id} has {lines} payments; the bank takes at most {max} per file")]
    TooManyLines { batch_id: String, lines: usize, max: usize },
    #[error("batch {batch_id}: end-to-end id {end_to_end_id} occurs twice")]
    DuplicateReference { batch_id: String, end_to_end_id: String },
    #[error("payment {end_to_end_id}: {problem}")]
    Line { end_to_end_id: String, field: &'static str, problem: LineProblem },
    /// A header or trailer value (batch id, debtor name, …) cannot be written.
    #[error("batch {batch_id}, header/trailer: {problem}")]
    Batch { batch_id: String, field: &'static str, problem: LineProblem },
    #[error("batch {batch_id}: the total does not fit in 64 bits")]
    Overflow { batch_id: String },
    #[error("writing the batch file: {0}")]
    Io(#[from] std::io::Error),
}

/// Writes `doc` as one file of `profile` to `out`, or fails before writing anything.
pub fn write<W: Write>(doc: &BatchDoc, profile: &DomesticProfile, mut out: W) -> Result<(), DomesticError> {
    profile.check().map_err(DomesticError::Profile)?;
    let batch_id = || doc.batch_id.clone();
    let lines = doc.payments.len();
    if lines == 0 {
        return Err(DomesticError::Empty { batch_id: batch_id() });
    }
    if lines > profile.max_lines {
        return Err(DomesticError::TooManyLines { batch_id: batch_id(), lines, max: profile.max_lines });
    }
    let mut seen = HashSet::with_capacity(lines);
    for p in &doc.payments {
        if !seen.insert(p.end_to_end_id.as_str()) {
            return Err(DomesticError::DuplicateReference { batch_id: batch_id(), end_to_end_id: p.end_to_end_id.clone() });
        }
    }
    let total = doc
        .payments
        .iter()
        .try_fold(0i64, |sum, p| sum.checked_add(p.amount.0))
        .ok_or_else(|| DomesticError::Overflow { batch_id: batch_id() })?;
    let totals = Totals { count: lines, total: Fen(total) };

    let header = profile.header_columns().map_err(DomesticError::Profile)?;
    let trailer = profile.trailer_columns().map_err(DomesticError::Profile)?;
    let mut r = Renderer::new(profile).map_err(DomesticError::Profile)?;
    // ~160 bytes a line is typical; one allocation up front, no per-field ones after.
    let mut buf = Vec::with_capacity((lines + 2) * 160);

    let batch_err = |problem: LineProblem| DomesticError::Batch { batch_id: batch_id(), field: problem.field(), problem };
    if !header.is_empty() {
        r.header_line(&header, doc, totals, &mut buf).map_err(batch_err)?;
    }
    for (i, p) in doc.payments.iter().enumerate() {
        r.detail_line(p, i + 1, &mut buf).map_err(|problem| DomesticError::Line {
            end_to_end_id: p.end_to_end_id.clone(),
            field: problem.field(),
            problem,
        })?;
    }
    if !trailer.is_empty() {
        r.header_line(&trailer, doc, totals, &mut buf).map_err(batch_err)?;
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(())
}

/// The pre-flight for one payment: would its line be written by `profile`? When checking many
/// payments, keep one [`LineChecker`] instead (it reuses its buffers).
///
/// A mistake in the profile itself is not the line's fault and is reported by
/// [`DomesticProfile::check`] and [`write()`]; here columns with unknown tokens are passed over and
/// every other column is still checked.
pub fn check_line(profile: &DomesticProfile, line: &PaymentLine) -> Result<(), LineProblem> {
    let columns = profile.detail.iter().filter_map(|t| DetailColumn::parse(t).ok()).collect();
    let mut renderer = Renderer::with_columns(profile, columns);
    let mut scratch = Vec::with_capacity(256);
    renderer.detail_line(line, profile.max_lines, &mut scratch)
}

/// Checks payments against a profile with reused buffers (the batch code runs this for every
/// payment before putting it in a batch).
pub struct LineChecker<'p> {
    renderer: Renderer<'p>,
    scratch: Vec<u8>,
}

impl<'p> LineChecker<'p> {
    pub fn new(profile: &'p DomesticProfile) -> Result<Self, DomesticError> {
        profile.check().map_err(DomesticError::Profile)?;
        Ok(LineChecker { renderer: Renderer::new(profile).map_err(DomesticError::Profile)?, scratch: Vec::with_capacity(256) })
    }

    /// `Ok` if the payment's line can be written exactly as given; the first problem otherwise.
    pub fn check(&mut self, line: &PaymentLine) -> Result<(), LineProblem> {
        self.scratch.clear();
        // The widest sequence number the line could get, so a byte limit on `seq` is honoured.
        let seq = self.renderer.profile.max_lines;
        self.renderer.detail_line(line, seq, &mut self.scratch)
    }
}

/// The file name for `doc`: `{batch_id}`, `{date}` (execution date yyyyMMdd) and `{account}`
/// replaced. A path separator or control character in a replaced value becomes `_`, so the name
/// always stays inside the folder it is written to.
pub fn file_name(profile: &DomesticProfile, doc: &BatchDoc) -> String {
    let safe = |v: &str| v.replace(|c: char| matches!(c, '/' | '\\') || c.is_control(), "_");
    let date = doc.execution_date.format("%Y%m%d").to_string();
    profile
        .file_name
        .replace("{batch_id}", &safe(&doc.batch_id))
        .replace("{date}", &date)
        .replace("{account}", &safe(&doc.debtor.account_no))
}

#[derive(Clone, Copy)]
struct Totals {
    count: usize,
    total: Fen,
}

/// Renders lines into a byte buffer with one reused text buffer.
struct Renderer<'p> {
    profile: &'p DomesticProfile,
    encoding: &'static Encoding,
    detail: Vec<(DetailColumn<'p>, Option<usize>)>,
    text: String,
    /// One field's encoded bytes. encoding_rs touches every page of the spare capacity it is
    /// given, so encoding straight into a file-sized buffer would cost O(file) per field.
    encoded: Vec<u8>,
    /// Encoded values that repeat from line to line (bank names, remittance, purpose,
    /// literals): encoding_rs's GBK encoder is ~10× slower than copying for CJK text, and a
    /// batch has a handful of distinct bank names among thousands of lines.
    cache: HashMap<String, Vec<u8>>,
}

/// At most this many distinct repeating values are kept encoded.
const CACHE_LIMIT: usize = 4096;

impl<'p> Renderer<'p> {
    fn new(profile: &'p DomesticProfile) -> Result<Self, String> {
        Ok(Self::with_columns(profile, profile.detail_columns()?))
    }

    fn with_columns(profile: &'p DomesticProfile, columns: Vec<DetailColumn<'p>>) -> Self {
        let detail = columns.into_iter().map(|c| (c, profile.max_bytes_of(c))).collect();
        Renderer { profile, encoding: profile.encoding.encoding(), detail, text: String::with_capacity(32), encoded: Vec::with_capacity(64), cache: HashMap::new() }
    }

    fn detail_line(&mut self, p: &PaymentLine, seq: usize, out: &mut Vec<u8>) -> Result<(), LineProblem> {
        if p.amount.0 <= 0 {
            return Err(LineProblem::NotPositive { field: "amount", amount: p.amount });
        }
        let start = out.len();
        let mut text = std::mem::take(&mut self.text);
        let mut result = Ok(());
        let profile = self.profile;
        for i in 0..self.detail.len() {
            let (col, max) = self.detail[i];
            text.clear();
            let value: &str = match col {
                DetailColumn::Seq => {
                    let _ = write!(text, "{seq}");
                    &text
                }
                DetailColumn::EndToEndId => &p.end_to_end_id,
                DetailColumn::CardNumber => &p.card_number,
                DetailColumn::Holder => &p.holder,
                DetailColumn::Amount => {
                    write_amount(&mut text, p.amount, profile.amount_unit);
                    &text
                }
                DetailColumn::BankName => &p.bank_name,
                DetailColumn::Cnaps => p.cnaps.as_deref().unwrap_or(""),
                DetailColumn::Remittance => &p.remittance,
                DetailColumn::Currency => "CNY",
                DetailColumn::Purpose => &profile.purpose,
                DetailColumn::Empty => "",
                DetailColumn::Literal(s) => s,
            };
            let repeats = matches!(
                col,
                DetailColumn::BankName | DetailColumn::Remittance | DetailColumn::Purpose | DetailColumn::Literal(_)
            );
            if let Err(e) = self.field(out, i, col.name(), value, max, repeats) {
                result = Err(e);
                break;
            }
        }
        self.text = text;
        self.close_line(out, start, result)
    }

    fn header_line(&mut self, cols: &[HeaderColumn<'_>], doc: &BatchDoc, t: Totals, out: &mut Vec<u8>) -> Result<(), LineProblem> {
        let start = out.len();
        let mut text = std::mem::take(&mut self.text);
        let mut result = Ok(());
        let profile = self.profile;
        for (i, &col) in cols.iter().enumerate() {
            text.clear();
            let value: &str = match col {
                HeaderColumn::BatchId => &doc.batch_id,
                HeaderColumn::DebtorAccount => &doc.debtor.account_no,
                HeaderColumn::DebtorName => &doc.debtor.name,
                HeaderColumn::DebtorCnaps => doc.debtor.cnaps.as_deref().unwrap_or(""),
                HeaderColumn::Count => {
                    let _ = write!(text, "{}", t.count);
                    &text
                }
                HeaderColumn::Total => {
                    write_amount(&mut text, t.total, profile.amount_unit);
                    &text
                }
                HeaderColumn::Date => {
                    let _ = write!(text, "{}", doc.execution_date.format("%Y%m%d"));
                    &text
                }
                HeaderColumn::Currency => "CNY",
                HeaderColumn::Purpose => &profile.purpose,
                HeaderColumn::Empty => "",
                HeaderColumn::Literal(s) => s,
            };
            if let Err(e) = self.field(out, i, col.name(), value, None, false) {
                result = Err(e);
                break;
            }
        }
        self.text = text;
        self.close_line(out, start, result)
    }

    /// Appends one field (with the delimiter before it, unless it is the first).
    #[allow(clippy::too_many_arguments)]
    fn field(
        &mut self,
        out: &mut Vec<u8>,
        index: usize,
        name: &'static str,
        value: &str,
        max: Option<usize>,
        repeats: bool,
    ) -> Result<(), LineProblem> {
        let delimiter = self.profile.delimiter.as_str();
        if value.contains(delimiter) || value.contains(['\r', '\n']) {
            return Err(LineProblem::Delimiter { field: name, value: value.to_string() });
        }
        let encoded: &[u8] = if value.is_ascii() || self.encoding == encoding_rs::UTF_8 {
            // GBK, GB18030 and UTF-8 all write ASCII as itself.
            value.as_bytes()
        } else if repeats && let Some(bytes) = self.cache.get(value) {
            bytes
        } else {
            self.encoded.clear();
            if let Err(character) = encode_into(self.encoding, value, &mut self.encoded) {
                return Err(LineProblem::Unencodable { field: name, value: value.to_string(), character, encoding: self.encoding.name() });
            }
            if repeats && self.cache.len() < CACHE_LIMIT {
                self.cache.insert(value.to_string(), self.encoded.clone());
            }
            &self.encoded
        };
        let bytes = encoded.len();
        if let Some(max) = max
            && bytes > max
        {
            return Err(LineProblem::TooLong { field: name, bytes, max });
        }
        if index > 0 {
            out.extend_from_slice(delimiter.as_bytes());
        }
        out.extend_from_slice(encoded);
        Ok(())
    }

    /// Ends a line that was written whole, or takes back what was written of a failed one.
    fn close_line(&self, out: &mut Vec<u8>, start: usize, result: Result<(), LineProblem>) -> Result<(), LineProblem> {
        match result {
            Ok(()) => {
                self.end_line(out);
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    fn end_line(&self, out: &mut Vec<u8>) {
        if self.profile.trailing_delimiter {
            out.extend_from_slice(self.profile.delimiter.as_bytes());
        }
        out.extend_from_slice(self.profile.line_ending.as_bytes());
    }
}

/// An amount in the profile's unit: `1000.50` or `100050`.
fn write_amount(text: &mut String, amount: Fen, unit: AmountUnit) {
    let _ = match unit {
        AmountUnit::Yuan => write!(text, "{amount}"),
        AmountUnit::Fen => write!(text, "{}", amount.0),
    };
}

/// Appends `text` in `encoding` to a (small) buffer, or returns the first character it cannot
/// carry (leaving `out` as it was). Never writes a replacement.
fn encode_into(encoding: &'static Encoding, text: &str, out: &mut Vec<u8>) -> Result<(), char> {
    let start = out.len();
    let mut encoder = encoding.new_encoder();
    let mut rest = text;
    loop {
        let need = encoder.max_buffer_length_from_utf8_without_replacement(rest.len()).unwrap_or(rest.len() * 4 + 16);
        out.reserve(need);
        let (result, read) = encoder.encode_from_utf8_to_vec_without_replacement(rest, out, true);
        rest = &rest[read..];
        match result {
            EncoderResult::InputEmpty => return Ok(()),
            EncoderResult::OutputFull => continue,
            EncoderResult::Unmappable(c) => {
                out.truncate(start);
                return Err(c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::domestic::profile::{LineEnding, TextEncoding};
    use crate::formats::domestic::tests::{fixture_profiles, line, minimal_profile, sample_batch, split_fields};
    use proptest::prelude::*;

    fn decode(bytes: &[u8]) -> String {
        let (text, had_errors) = encoding_rs::GBK.decode_without_bom_handling(bytes);
        assert!(!had_errors, "output is not clean GBK");
        text.into_owned()
    }

    fn written(doc: &BatchDoc, profile: &DomesticProfile) -> Vec<u8> {
        let mut out = Vec::new();
        write(doc, profile, &mut out).unwrap_or_else(|e| panic!("{e}"));
        out
    }

    /// The index of `token` in a column list.
    fn pos(cols: &[String], token: &str) -> usize {
        cols.iter().position(|c| c == token).unwrap_or_else(|| panic!("no {token} column"))
    }

    #[test]
    fn boc_gbk_round_trip_every_field() {
        let profiles = fixture_profiles();
        let p = &profiles["boc"];
        let doc = sample_batch();
        let bytes = written(&doc, p);
        assert!(std::str::from_utf8(&bytes).is_err(), "Chinese text must be GBK, not UTF-8");
        let text = decode(&bytes);
        assert!(text.ends_with("\r\n"));
        let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 1 + doc.payments.len());
        for l in &lines {
            assert!(l.ends_with('|'), "BOC writes a trailing delimiter: {l}");
        }

        let h = split_fields(p, lines[0]);
        assert_eq!(h.len(), p.header.len());
        assert_eq!(h[pos(&p.header, "batch_id")], doc.batch_id);
        assert_eq!(h[pos(&p.header, "debtor_account")], doc.debtor.account_no);
        assert_eq!(h[pos(&p.header, "debtor_cnaps")], doc.debtor.cnaps.clone().unwrap_or_default());
        assert_eq!(h[pos(&p.header, "currency")], "CNY");
        assert_eq!(h[pos(&p.header, "count")], doc.payments.len().to_string());
        assert_eq!(h[pos(&p.header, "total")], doc.ctrl_sum().to_string());
        assert_eq!(h[pos(&p.header, "date")], "20260901");
        assert_eq!(h[pos(&p.header, "purpose")], "补贴");

        for (p_line, l) in doc.payments.iter().zip(&lines[1..]) {
            let f = split_fields(p, l);
            assert_eq!(f.len(), p.detail.len());
            assert_eq!(f[pos(&p.detail, "cnaps")], p_line.cnaps.clone().unwrap_or_default());
            assert_eq!(f[pos(&p.detail, "bank_name")], p_line.bank_name);
            assert_eq!(f[pos(&p.detail, "currency")], "CNY");
            assert_eq!(f[pos(&p.detail, "amount")], p_line.amount.to_string());
            assert_eq!(f[pos(&p.detail, "card_number")], p_line.card_number);
            assert_eq!(f[pos(&p.detail, "holder")], p_line.holder);
            assert_eq!(f[pos(&p.detail, "purpose")], "补贴");
        }
        assert!(lines.iter().any(|l| l.contains("|买买提·艾力|")));
    }

    #[test]
    fn icbc_gbk_round_trip_every_field() {
        let profiles = fixture_profiles();
        let p = &profiles["icbc"];
        let doc = sample_batch();
        let text = decode(&written(&doc, p));
        assert!(!text.contains('\r'), "ICBC profile writes LF only");
        let lines: Vec<&str> = text.split('\n').filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 2 + doc.payments.len());

        let h = split_fields(p, lines[0]);
        assert_eq!(h, vec!["H", doc.batch_id.as_str(), &doc.debtor.account_no, &doc.debtor.name, "20260901", "CNY"]);
        let t = split_fields(p, lines[lines.len() - 1]);
        assert_eq!(t[pos(&p.trailer, "count")], doc.payments.len().to_string());
        assert_eq!(t[pos(&p.trailer, "total")], doc.ctrl_sum().0.to_string(), "integer fen");

        for (p_line, l) in doc.payments.iter().zip(&lines[1..lines.len() - 1]) {
            let f = split_fields(p, l);
            assert_eq!(f.len(), p.detail.len());
            assert_eq!(f[0], "D");
            assert_eq!(f[pos(&p.detail, "end_to_end_id")], p_line.end_to_end_id);
            assert_eq!(f[pos(&p.detail, "card_number")], p_line.card_number);
            assert_eq!(f[pos(&p.detail, "holder")], p_line.holder);
            assert_eq!(f[pos(&p.detail, "amount")], p_line.amount.0.to_string());
            assert_eq!(f[pos(&p.detail, "cnaps")], p_line.cnaps.clone().unwrap_or_default());
            assert_eq!(f[pos(&p.detail, "bank_name")], p_line.bank_name);
            assert_eq!(f[pos(&p.detail, "purpose")], "助学金");
            assert_eq!(f[pos(&p.detail, "remittance")], p_line.remittance);
        }
    }

    #[test]
    fn output_matches_the_committed_request_fixtures() {
        // Regenerate with `cargo test --lib formats::domestic -- --ignored regenerate`.
        let profiles = fixture_profiles();
        let doc = sample_batch();
        for (key, name) in [("boc", "boc-request-sample.txt"), ("icbc", "icbc-request-sample.csv")] {
            let path = crate::formats::domestic::tests::fixture_path(name);
            let expected = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(written(&doc, &profiles[key]) == expected, "{key} output differs from {}", path.display());
        }
    }

    #[test]
    fn rare_character_is_refused_never_replaced() {
        for key in ["boc", "icbc"] {
            let profile = &fixture_profiles()[key];
            let mut doc = sample_batch();
            doc.payments[2].holder = "𠮷祥".to_string();
            let bad = doc.payments[2].clone();

            match check_line(profile, &bad) {
                Err(LineProblem::Unencodable { field: "holder", value, character: '𠮷', .. }) => assert_eq!(value, "𠮷祥"),
                other => panic!("{key}: expected Unencodable, got {other:?}"),
            }
            let mut out = Vec::new();
            match write(&doc, profile, &mut out) {
                Err(DomesticError::Line { end_to_end_id, field: "holder", problem: LineProblem::Unencodable { .. } }) => {
                    assert_eq!(end_to_end_id, bad.end_to_end_id)
                }
                other => panic!("{key}: expected DomesticError::Line, got {other:?}"),
            }
            assert!(out.is_empty(), "{key}: nothing may be written");
        }
    }

    #[test]
    fn rare_character_passes_in_utf8_and_gb18030() {
        for enc in [TextEncoding::Utf8, TextEncoding::Gb18030] {
            let mut p = minimal_profile();
            p.encoding = enc;
            assert_eq!(check_line(&p, &line(1, "𠮷祥", 100)), Ok(()));
        }
    }

    #[test]
    fn name_byte_limit_counts_gbk_bytes() {
        let profile = &fixture_profiles()["boc"];
        assert_eq!(profile.max_bytes.get("holder"), Some(&20));
        // 7 characters = 14 GBK bytes.
        assert_eq!(check_line(profile, &line(1, "欧阳阿卜杜热合", 100)), Ok(()));
        // 10 characters = 20 bytes: exactly at the limit.
        assert_eq!(check_line(profile, &line(1, "阿卜杜热合曼买买提江", 100)), Ok(()));
        // 11 characters = 22 bytes.
        assert_eq!(
            check_line(profile, &line(1, "阿卜杜热合曼·买买提江", 100)),
            Err(LineProblem::TooLong { field: "holder", bytes: 22, max: 20 })
        );
    }

    #[test]
    fn utf8_profile_counts_three_bytes_per_character() {
        let mut p = minimal_profile();
        p.encoding = TextEncoding::Utf8;
        p.max_bytes.insert("holder".into(), 20);
        // 7 characters = 21 UTF-8 bytes.
        assert_eq!(check_line(&p, &line(1, "欧阳阿卜杜热合", 1)), Err(LineProblem::TooLong { field: "holder", bytes: 21, max: 20 }));
    }

    #[test]
    fn delimiter_and_line_breaks_in_a_field_are_refused() {
        let profiles = fixture_profiles();
        let mut l = line(1, "张三", 100);
        l.bank_name = "中国银行|北京分行".into();
        assert!(matches!(check_line(&profiles["boc"], &l), Err(LineProblem::Delimiter { field: "bank_name", .. })));
        // A `|` is no problem where the delimiter is `,` …
        assert_eq!(check_line(&profiles["icbc"], &l), Ok(()));
        // … but a comma is.
        l.bank_name = "中国工商银行,海淀支行".into();
        assert!(matches!(check_line(&profiles["icbc"], &l), Err(LineProblem::Delimiter { field: "bank_name", .. })));
        let mut l = line(1, "张三", 100);
        l.remittance = "2026秋\r\n国家助学金".into();
        assert!(matches!(check_line(&profiles["icbc"], &l), Err(LineProblem::Delimiter { field: "remittance", .. })));
        let mut l = line(1, "张\n三", 100);
        l.remittance.clear();
        assert!(matches!(check_line(&profiles["boc"], &l), Err(LineProblem::Delimiter { field: "holder", .. })));
    }

    #[test]
    fn check_line_still_checks_under_a_broken_profile() {
        let mut p = fixture_profiles()["boc"].clone();
        p.detail.push("holdr".into());
        assert!(matches!(check_line(&p, &line(1, "𠮷", 100)), Err(LineProblem::Unencodable { .. })));
        assert_eq!(check_line(&p, &line(1, "张三", 100)), Ok(()));
    }

    #[test]
    #[ignore]
    fn timing_40000_lines() {
        let profiles = fixture_profiles();
        let mut doc = sample_batch();
        let template = doc.payments[1].clone();
        doc.payments = (0..40_000).map(|i| PaymentLine { end_to_end_id: format!("E{i:08}"), ..template.clone() }).collect();
        for (key, enc) in [("boc", TextEncoding::Gbk), ("icbc", TextEncoding::Gbk), ("boc", TextEncoding::Utf8)] {
            let mut p = profiles[key].clone();
            p.encoding = enc;
            p.max_bytes.clear();
            p.max_lines = 40_000;
            let t = std::time::Instant::now();
            let mut out = Vec::new();
            write(&doc, &p, &mut out).unwrap_or_else(|e| panic!("{e}"));
            let mut checker = LineChecker::new(&p).unwrap_or_else(|e| panic!("{e}"));
            let t2 = std::time::Instant::now();
            for l in &doc.payments {
                assert!(checker.check(l).is_ok());
            }
            eprintln!("{key}: write {:?} ({} bytes), check {:?}", t2 - t, out.len(), t2.elapsed());
        }
    }

    #[test]
    fn zero_or_negative_amount_is_refused() {
        let profile = &fixture_profiles()["boc"];
        assert!(matches!(check_line(profile, &line(1, "张三", 0)), Err(LineProblem::NotPositive { .. })));
        assert!(matches!(check_line(profile, &line(1, "张三", -5)), Err(LineProblem::NotPositive { .. })));
    }

    #[test]
    fn batch_level_errors_write_nothing() {
        let profile = &fixture_profiles()["boc"];
        let mut out = Vec::new();

        let mut doc = sample_batch();
        doc.payments.clear();
        assert!(matches!(write(&doc, profile, &mut out), Err(DomesticError::Empty { .. })));

        let mut doc = sample_batch();
        let dup = doc.payments[0].end_to_end_id.clone();
        doc.payments[3].end_to_end_id = dup;
        assert!(matches!(write(&doc, profile, &mut out), Err(DomesticError::DuplicateReference { .. })));

        let mut small = profile.clone();
        small.max_lines = 3;
        assert!(matches!(
            write(&sample_batch(), &small, &mut out),
            Err(DomesticError::TooManyLines { lines: 8, max: 3, .. })
        ));

        let mut doc = sample_batch();
        doc.payments[0].amount = Fen(i64::MAX);
        assert!(matches!(write(&doc, profile, &mut out), Err(DomesticError::Overflow { .. })));

        let mut doc = sample_batch();
        doc.debtor.cnaps = Some("104|100000".into());
        assert!(matches!(write(&doc, profile, &mut out), Err(DomesticError::Batch { field: "debtor_cnaps", .. })));

        let mut bad = profile.clone();
        bad.detail.push("holdr".into());
        assert!(matches!(write(&sample_batch(), &bad, &mut out), Err(DomesticError::Profile(e)) if e.contains("holdr")));

        assert!(out.is_empty());
    }

    #[test]
    fn gbk_trail_byte_0x7c_is_not_a_delimiter() {
        // Some GBK characters have 0x7C (`|`) as their second byte; they are legal in a field.
        let (c, _) = encoding_rs::GBK.decode_without_bom_handling(&[0xD8, 0x7C]);
        let ch = c.chars().next().unwrap_or('?');
        assert_ne!(ch, '\u{FFFD}');
        let profile = &fixture_profiles()["boc"];
        let name = format!("王{ch}");
        assert_eq!(check_line(profile, &line(1, &name, 100)), Ok(()));
        let mut doc = sample_batch();
        doc.payments[0].holder = name.clone();
        let bytes = written(&doc, profile);
        assert!(bytes.windows(2).any(|w| w == [0xD8, 0x7C]));
        let text = decode(&bytes);
        let first = text.split("\r\n").nth(1).unwrap_or_default();
        assert_eq!(split_fields(profile, first)[pos(&profile.detail, "holder")], name);
    }

    #[test]
    fn file_name_fills_placeholders() {
        let profiles = fixture_profiles();
        let doc = sample_batch();
        assert_eq!(file_name(&profiles["boc"], &doc), "DF_350101200000001234_20260901_B20260901-001.txt");
        assert_eq!(file_name(&profiles["icbc"], &doc), "PAYENT_350101200000001234_B20260901-001_20260901.csv");
        let mut odd = doc.clone();
        odd.batch_id = "../x/y".into();
        assert_eq!(file_name(&profiles["boc"], &odd), "DF_350101200000001234_20260901_.._x_y.txt");
    }

    #[test]
    fn line_endings_follow_the_profile() {
        let mut p = minimal_profile();
        p.line_ending = LineEnding::Lf;
        let doc = sample_batch();
        let out = written(&doc, &p);
        assert!(!out.contains(&b'\r'));
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), doc.payments.len() + 1);
    }

    /// Random batches for the property test: 1..300 lines of 1 fen .. 10 million yuan.
    fn arb_amounts() -> impl Strategy<Value = Vec<i64>> {
        proptest::collection::vec(1i64..=1_000_000_000, 1..300)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn header_count_and_total_are_exact(amounts in arb_amounts()) {
            let profiles = fixture_profiles();
            let mut doc = sample_batch();
            let template = doc.payments[0].clone();
            doc.payments = amounts
                .iter()
                .enumerate()
                .map(|(i, a)| PaymentLine { end_to_end_id: format!("E{i:06}"), amount: Fen(*a), ..template.clone() })
                .collect();
            let sum: i64 = amounts.iter().sum();
            for (key, summary_is_trailer) in [("boc", false), ("icbc", true)] {
                let p = &profiles[key];
                let text = decode(&written(&doc, p));
                let lines: Vec<&str> = text.lines().collect();
                let (cols, l) = if summary_is_trailer { (&p.trailer, lines[lines.len() - 1]) } else { (&p.header, lines[0]) };
                let f = split_fields(p, l);
                prop_assert_eq!(f[pos(cols, "count")].parse::<usize>().ok(), Some(amounts.len()));
                let total = match p.amount_unit {
                    AmountUnit::Yuan => Fen::parse_yuan(&f[pos(cols, "total")]).ok(),
                    AmountUnit::Fen => f[pos(cols, "total")].parse::<i64>().ok().map(Fen),
                };
                prop_assert_eq!(total, Some(Fen(sum)));
                let detail_lines = lines.len() - usize::from(!p.header.is_empty()) - usize::from(!p.trailer.is_empty());
                prop_assert_eq!(detail_lines, amounts.len());
            }
        }
    }
}
