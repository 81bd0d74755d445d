//! Reads a bank's result file (回盘文件) for a domestic batch: per payment a key back to what we
//! sent, a status (成功 / 失败 / 处理中, or the bank's codes) and a Chinese reason text, which is
//! normalised to an ISO 20022 reason code with [`ReasonTable`].
//!
//! The file is read as raw bytes in the profile's encoding, line by line (`\n`, an optional `\r`
//! before it), and each line is **decoded before it is split**: in GBK the second byte of a
//! character may be 0x7C, the `|` delimiter, so splitting raw bytes would cut names apart.
//! Decoding is strict — a byte sequence that is not valid GBK is an error naming the line, not a
//! `�` in a name. A UTF-8 byte-order mark on the first line switches the file to UTF-8, as
//! Bank of China's tool does when reading.
//!
//! Two ways of keying a line back to its payment exist and both are supported:
//! - the bank echoes our end-to-end id (an `end_to_end_id` column; ICBC's `iSeqno`);
//! - the bank answers by row number (a `seq` column; BOC's `RowIndex`). Then the caller reads
//!   the batch id from [`ResultReader::header`], looks up that batch's end-to-end ids in file
//!   order and hands them over with [`ResultReader::with_references`].
//!
//! [`ResultReader`] is an iterator of `Result<ResultLine, ResultError>`: a malformed line is one
//! `Err` naming its line number and column, and reading goes on with the next line, so one bad
//! line never hides the rest of the answers. Amounts are parsed exactly, as integers — never
//! through `f64`. [`looks_like`] tells whether the first bytes of a file are a result file of a
//! given profile, for detecting a file's kind by content.

use super::profile::{AmountUnit, DomesticProfile, ResultColumn, ResultHeaderColumn, ResultProfile};
use crate::domain::Fen;
use crate::domain::reason::ReasonTable;
use encoding_rs::{DecoderResult, Encoding};
use std::io::BufRead;

/// A payment's state as the result file gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStatus {
    /// Paid (成功).
    Settled,
    /// Refused by the bank (失败), with a reason.
    Rejected,
    /// Not final yet (处理中): another result file will follow.
    Pending,
}

/// One answered payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultLine {
    /// The physical line number in the file (1-based, header lines counted).
    pub line: u64,
    /// The payment's end-to-end reference, from the file or resolved from `seq`.
    pub end_to_end_id: String,
    /// The line's position in the batch file, if the bank gives it.
    pub seq: Option<u64>,
    pub card_number: Option<String>,
    pub holder: Option<String>,
    pub amount: Option<Fen>,
    pub status: LineStatus,
    /// The bank's reason text as written (trimmed), if any.
    pub reason_text: Option<String>,
    /// The ISO 20022 reason code: for a rejected line always (MS03 when the text says nothing
    /// known), otherwise `None`.
    pub reason_code: Option<String>,
}

/// What the first header line says about the batch answered, where the profile reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultHeader {
    pub batch_id: Option<String>,
    pub count: Option<u64>,
    pub total: Option<Fen>,
}

/// Why a result file, or one line of it, cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    #[error("银行配置有误：{0}")]
    Profile(String),
    #[error("银行配置中没有结果文件（result）一节")]
    NoResultSection,
    #[error("读取结果文件失败；技术原因：{0}")]
    Io(#[from] std::io::Error),
    #[error("结果文件只有 {found} 行，在其 {expected} 行表头之内就结束了")]
    MissingHeader { expected: usize, found: u64 },
    #[error("第 {line} 行：不是有效的 {encoding} 文字（文件被截断或编码不对）")]
    Encoding { line: u64, encoding: &'static str },
    #[error("第 {line} 行：有 {found} 列，应为 {expected} 列；缺少 `{column}` 列")]
    MissingColumn { line: u64, column: &'static str, expected: usize, found: usize },
    #[error("第 {line} 行：有 {found} 列，应为 {expected} 列")]
    ExtraColumns { line: u64, expected: usize, found: usize },
    #[error("第 {line} 行 `{column}` 列：`{value}` {reason}")]
    Field { line: u64, column: &'static str, value: String, reason: &'static str },
    #[error("第 {line} 行：银行按行号（{seq}）答复，但没有给出该批次的支付参考号")]
    NoReferences { line: u64, seq: u64 },
}

/// Streams the lines of a result file. Build with [`ResultReader::new`], then iterate.
pub struct ResultReader<'p, R> {
    layout: Layout<'p>,
    table: &'p ReasonTable,
    input: R,
    header: ResultHeader,
    references: Option<Vec<String>>,
    line: u64,
    raw: Vec<u8>,
    text: String,
    done: bool,
}

impl<'p, R: BufRead> ResultReader<'p, R> {
    /// Reads the header lines of `input` (parsing the first one if the profile says how) and
    /// is then ready to yield the result lines.
    pub fn new(profile: &'p DomesticProfile, table: &'p ReasonTable, input: R) -> Result<Self, ResultError> {
        let layout = Layout::new(profile)?;
        let mut reader = ResultReader {
            layout,
            table,
            input,
            header: ResultHeader::default(),
            references: None,
            line: 0,
            raw: Vec::with_capacity(256),
            text: String::with_capacity(256),
            done: false,
        };
        for i in 0..reader.layout.section.header_lines {
            if !reader.read_raw()? {
                return Err(ResultError::MissingHeader { expected: reader.layout.section.header_lines, found: reader.line });
            }
            if i == 0 && !reader.layout.header.is_empty() {
                let line = reader.line;
                let text = decode_line(reader.layout.encoding, &reader.raw, &mut reader.text)
                    .ok_or(ResultError::Encoding { line, encoding: reader.layout.encoding.name() })?;
                reader.header = reader.layout.parse_header(text, line)?;
            }
        }
        Ok(reader)
    }

    /// What the header says about the batch (all `None` if the profile reads no header).
    pub fn header(&self) -> &ResultHeader {
        &self.header
    }

    /// The batch's end-to-end ids in file order (`references[0]` is `seq` 1), for a bank that
    /// answers by row number.
    pub fn with_references(mut self, references: Vec<String>) -> Self {
        self.references = Some(references);
        self
    }

    /// Reads the next physical line into `raw`, without its line ending. `false` at the end.
    fn read_raw(&mut self) -> std::io::Result<bool> {
        self.raw.clear();
        if self.input.read_until(b'\n', &mut self.raw)? == 0 {
            return Ok(false);
        }
        self.line += 1;
        if self.raw.last() == Some(&b'\n') {
            self.raw.pop();
        }
        if self.raw.last() == Some(&b'\r') {
            self.raw.pop();
        }
        if self.line == 1 && self.raw.starts_with(UTF8_BOM) {
            self.raw.drain(..UTF8_BOM.len());
            self.layout.encoding = encoding_rs::UTF_8;
        }
        Ok(true)
    }
}

impl<R: BufRead> Iterator for ResultReader<'_, R> {
    type Item = Result<ResultLine, ResultError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            match self.read_raw() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e.into()));
                }
            }
            if self.raw.iter().all(u8::is_ascii_whitespace) {
                continue; // blank lines (e.g. at the end) carry nothing
            }
            let line = self.line;
            let Some(text) = decode_line(self.layout.encoding, &self.raw, &mut self.text) else {
                return Some(Err(ResultError::Encoding { line, encoding: self.layout.encoding.name() }));
            };
            let parsed = match self.layout.parse_detail(text, line) {
                Ok(p) => p,
                Err(e) => return Some(Err(e)),
            };
            return Some(self.finish(parsed, line));
        }
    }
}

impl<R> ResultReader<'_, R> {
    /// Resolves the reference and normalises the reason.
    fn finish(&self, p: Parsed, line: u64) -> Result<ResultLine, ResultError> {
        let end_to_end_id = match (p.end_to_end_id, p.seq) {
            (Some(id), _) => id,
            (None, Some(seq)) => {
                let refs = self.references.as_ref().ok_or(ResultError::NoReferences { line, seq })?;
                let index = usize::try_from(seq).ok().and_then(|s| s.checked_sub(1));
                match index.and_then(|i| refs.get(i)) {
                    Some(id) => id.clone(),
                    None => {
                        return Err(ResultError::Field {
                            line,
                            column: "seq",
                            value: seq.to_string(),
                            reason: "不是该批次中的一行",
                        });
                    }
                }
            }
            // `Layout::new` insists on one of the two columns.
            (None, None) => {
                return Err(ResultError::Profile("结果文件（result）一节须有 `end_to_end_id` 列或 `seq` 列".to_string()));
            }
        };
        let reason_code = match p.status {
            LineStatus::Rejected => Some(self.table.code_for(p.reason_text.as_deref().unwrap_or("")).to_string()),
            _ => None,
        };
        Ok(ResultLine {
            line,
            end_to_end_id,
            seq: p.seq,
            card_number: p.card_number,
            holder: p.holder,
            amount: p.amount,
            status: p.status,
            reason_text: p.reason_text,
            reason_code,
        })
    }
}

/// Does `head` (the first bytes of a file, possibly cut mid-line) look like a result file of
/// `profile`? Yes if the header lines are there (and parse, where the profile reads them), at
/// least one result line parses, and no complete result line fails to. A cut-off last line is
/// ignored if it does not parse.
pub fn looks_like(profile: &DomesticProfile, head: &[u8]) -> bool {
    let Ok(mut layout) = Layout::new(profile) else {
        return false;
    };
    let mut head = head;
    if head.starts_with(UTF8_BOM) {
        head = &head[UTF8_BOM.len()..];
        layout.encoding = encoding_rs::UTF_8;
    }
    let complete = head.ends_with(b"\n");
    let pieces: Vec<&[u8]> = head.split(|b| *b == b'\n').collect();
    // After a final '\n', split yields one empty piece: drop it.
    let pieces = if complete { &pieces[..pieces.len() - 1] } else { &pieces[..] };
    let last = pieces.len().saturating_sub(1);
    let header_lines = layout.section.header_lines;
    if pieces.len() <= header_lines {
        return false;
    }
    let mut text = String::new();
    let mut good = 0usize;
    for (i, piece) in pieces.iter().enumerate() {
        let partial = i == last && !complete;
        let raw = piece.strip_suffix(b"\r").unwrap_or(piece);
        let line = i as u64 + 1;
        if i < header_lines {
            if i == 0 && !layout.header.is_empty() {
                let ok = decode_line(layout.encoding, raw, &mut text).is_some_and(|t| layout.parse_header(t, line).is_ok());
                if !ok {
                    return false;
                }
            }
            continue;
        }
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match decode_line(layout.encoding, raw, &mut text).map(|t| layout.parse_detail(t, line)) {
            Some(Ok(_)) => good += 1,
            _ if partial => {}
            _ => return false,
        }
    }
    good > 0
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A result line's fields before the reference is resolved.
struct Parsed {
    end_to_end_id: Option<String>,
    seq: Option<u64>,
    card_number: Option<String>,
    holder: Option<String>,
    amount: Option<Fen>,
    status: LineStatus,
    reason_text: Option<String>,
}

/// The result section compiled for reading.
struct Layout<'p> {
    section: &'p ResultProfile,
    columns: Vec<ResultColumn>,
    header: Vec<ResultHeaderColumn>,
    encoding: &'static Encoding,
    delimiter: &'p str,
    trailing: bool,
    unit: AmountUnit,
}

impl<'p> Layout<'p> {
    fn new(profile: &'p DomesticProfile) -> Result<Self, ResultError> {
        let section = profile.result.as_ref().ok_or(ResultError::NoResultSection)?;
        section.check().map_err(|e| ResultError::Profile(format!("result: {e}")))?;
        Ok(Layout {
            section,
            columns: section.columns().map_err(ResultError::Profile)?,
            header: section.header_columns().map_err(ResultError::Profile)?,
            encoding: section.encoding.unwrap_or(profile.encoding).encoding(),
            delimiter: section.delimiter.as_deref().unwrap_or(&profile.delimiter),
            trailing: section.trailing_delimiter.unwrap_or(profile.trailing_delimiter),
            unit: profile.amount_unit,
        })
    }

    /// The trimmed fields of a line (one trailing delimiter dropped where the profile writes one;
    /// its absence is tolerated).
    fn fields<'t>(&self, text: &'t str) -> impl Iterator<Item = &'t str> + Clone {
        let mut text = text.trim_end_matches(' ');
        if self.trailing {
            text = text.strip_suffix(self.delimiter).unwrap_or(text);
        }
        text.split(self.delimiter).map(str::trim)
    }

    fn check_count(&self, text: &str, expected: usize, names: impl Fn(usize) -> &'static str, line: u64) -> Result<(), ResultError> {
        let found = self.fields(text).count();
        if found < expected {
            return Err(ResultError::MissingColumn { line, column: names(found), expected, found });
        }
        if found > expected {
            return Err(ResultError::ExtraColumns { line, expected, found });
        }
        Ok(())
    }

    fn parse_detail(&self, text: &str, line: u64) -> Result<Parsed, ResultError> {
        self.check_count(text, self.columns.len(), |i| self.columns[i].name(), line)?;
        let mut p = Parsed {
            end_to_end_id: None,
            seq: None,
            card_number: None,
            holder: None,
            amount: None,
            status: LineStatus::Pending,
            reason_text: None,
        };
        let some = |v: &str| (!v.is_empty()).then(|| v.to_string());
        let bad = |column: ResultColumn, value: &str, reason: &'static str| ResultError::Field {
            line,
            column: column.name(),
            value: value.to_string(),
            reason,
        };
        for (col, value) in self.columns.iter().copied().zip(self.fields(text)) {
            match col {
                ResultColumn::EndToEndId => {
                    if value.is_empty() {
                        return Err(bad(col, value, "为空"));
                    }
                    p.end_to_end_id = some(value);
                }
                ResultColumn::Seq => {
                    p.seq = Some(value.parse::<u64>().map_err(|_| bad(col, value, "不是行号"))?);
                }
                ResultColumn::CardNumber => p.card_number = some(value),
                ResultColumn::Holder => p.holder = some(value),
                ResultColumn::Amount => {
                    if !value.is_empty() {
                        p.amount = Some(parse_amount(value, self.unit).map_err(|reason| bad(col, value, reason))?);
                    }
                }
                ResultColumn::Status => {
                    let s = &self.section;
                    let is = |list: &[String]| list.iter().any(|v| v.trim() == value);
                    p.status = if is(&s.success_values) {
                        LineStatus::Settled
                    } else if is(&s.failure_values) {
                        LineStatus::Rejected
                    } else if is(&s.pending_values) {
                        LineStatus::Pending
                    } else {
                        return Err(bad(col, value, "不是该银行配置认识的状态"));
                    };
                }
                ResultColumn::Reason => p.reason_text = some(value),
                ResultColumn::Skip => {}
            }
        }
        Ok(p)
    }

    fn parse_header(&self, text: &str, line: u64) -> Result<ResultHeader, ResultError> {
        self.check_count(text, self.header.len(), |i| self.header[i].name(), line)?;
        let mut h = ResultHeader::default();
        for (col, value) in self.header.iter().copied().zip(self.fields(text)) {
            let bad = |reason: &'static str| ResultError::Field { line, column: col.name(), value: value.to_string(), reason };
            match col {
                ResultHeaderColumn::BatchId => h.batch_id = (!value.is_empty()).then(|| value.to_string()),
                ResultHeaderColumn::Count => h.count = Some(value.parse::<u64>().map_err(|_| bad("不是笔数"))?),
                ResultHeaderColumn::Total => h.total = Some(parse_amount(value, self.unit).map_err(bad)?),
                ResultHeaderColumn::Skip => {}
            }
        }
        Ok(h)
    }
}

/// Decodes one line strictly. ASCII and UTF-8 lines are borrowed as they are; others are
/// decoded into `buf` (reused, so no allocation per line once it has grown). `None` if the bytes
/// are not valid in `encoding`.
fn decode_line<'a>(encoding: &'static Encoding, raw: &'a [u8], buf: &'a mut String) -> Option<&'a str> {
    if raw.is_ascii() || encoding == encoding_rs::UTF_8 {
        return std::str::from_utf8(raw).ok();
    }
    buf.clear();
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut rest = raw;
    loop {
        let need = decoder.max_utf8_buffer_length_without_replacement(rest.len()).unwrap_or(rest.len() * 3 + 16);
        buf.reserve(need);
        let (result, read) = decoder.decode_to_string_without_replacement(rest, buf, true);
        rest = &rest[read..];
        match result {
            DecoderResult::InputEmpty => return Some(buf.as_str()),
            DecoderResult::OutputFull => continue,
            DecoderResult::Malformed(_, _) => return None,
        }
    }
}

/// An amount exactly, as integer fen: `1000.50` / `1,000.50` / `1000` in yuan, `100050` in fen.
/// No sign, no exponent, at most two decimals (further zeros allowed). Never through a float.
pub fn parse_amount(text: &str, unit: AmountUnit) -> Result<Fen, &'static str> {
    const NOT: &str = "不是普通金额数字";
    const BIG: &str = "金额过大";
    let digits = |s: &str, allow_commas: bool| -> Result<i64, &'static str> {
        let mut n: i64 = 0;
        let mut any = false;
        for b in s.bytes() {
            match b {
                b'0'..=b'9' => {
                    n = n.checked_mul(10).and_then(|n| n.checked_add(i64::from(b - b'0'))).ok_or(BIG)?;
                    any = true;
                }
                b',' if allow_commas => {}
                _ => return Err(NOT),
            }
        }
        if any { Ok(n) } else { Err(NOT) }
    };
    match unit {
        AmountUnit::Fen => digits(text, false).map(Fen),
        AmountUnit::Yuan => {
            let (int, frac) = text.split_once('.').unwrap_or((text, ""));
            if int.starts_with(',') || int.ends_with(',') {
                return Err(NOT);
            }
            let yuan = digits(int, true)?;
            let frac = frac.as_bytes();
            if text.contains('.') && frac.is_empty() {
                return Err(NOT);
            }
            if !frac.iter().all(u8::is_ascii_digit) {
                return Err(NOT);
            }
            if frac.iter().skip(2).any(|b| *b != b'0') {
                return Err("小数超过两位");
            }
            let tenths = frac.first().map_or(0, |b| i64::from(b - b'0'));
            let hundredths = frac.get(1).map_or(0, |b| i64::from(b - b'0'));
            yuan.checked_mul(100).and_then(|f| f.checked_add(tenths * 10 + hundredths)).map(Fen).ok_or(BIG)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reason::{AC01, AC04, AC06, BE01, MS03};
    use crate::formats::domestic::tests::{fixture_path, fixture_profiles, sample_batch};
    use proptest::prelude::*;
    use std::io::BufReader;

    fn refs() -> Vec<String> {
        sample_batch().payments.into_iter().map(|p| p.end_to_end_id).collect()
    }

    fn open(name: &str) -> BufReader<std::fs::File> {
        let path = fixture_path(name);
        BufReader::new(std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
    }

    fn read_all(key: &str, name: &str) -> (ResultHeader, Vec<Result<ResultLine, ResultError>>) {
        let profiles = fixture_profiles();
        let table = ReasonTable::new();
        let reader = ResultReader::new(&profiles[key], &table, open(name)).unwrap_or_else(|e| panic!("{e}"));
        let header = reader.header().clone();
        (header, reader.with_references(refs()).collect())
    }

    /// (status, reason code) per line, in order, and the parsed lines.
    fn expect_mixed(lines: &[ResultLine]) {
        let doc = sample_batch();
        let got: Vec<(LineStatus, Option<&str>)> = lines.iter().map(|l| (l.status, l.reason_code.as_deref())).collect();
        use LineStatus::*;
        assert_eq!(
            got,
            vec![
                (Settled, None),
                (Rejected, Some(BE01)),
                (Rejected, Some(AC01)),
                (Rejected, Some(AC04)),
                (Rejected, Some(AC06)),
                (Rejected, Some(AC06)),
                (Pending, None),
                (Settled, None),
            ]
        );
        for (l, p) in lines.iter().zip(&doc.payments) {
            assert_eq!(l.end_to_end_id, p.end_to_end_id);
            assert_eq!(l.amount, Some(p.amount));
            assert_eq!(l.card_number.as_deref(), Some(p.card_number.as_str()));
        }
    }

    #[test]
    fn fixtures_are_gbk_not_utf8() {
        for name in ["boc-result-mixed.txt", "icbc-result-mixed.csv", "boc-result-truncated.txt", "icbc-result-malformed.csv"] {
            let bytes = std::fs::read(fixture_path(name)).unwrap_or_default();
            assert!(!bytes.is_empty(), "{name}");
            assert!(std::str::from_utf8(&bytes).is_err(), "{name} should be GBK");
        }
    }

    #[test]
    fn boc_result_by_row_number() {
        let (header, lines) = read_all("boc", "boc-result-mixed.txt");
        let doc = sample_batch();
        assert_eq!(header.batch_id.as_deref(), Some(doc.batch_id.as_str()));
        assert_eq!(header.count, Some(doc.payments.len() as u64));
        assert_eq!(header.total, Some(doc.ctrl_sum()));
        let lines: Vec<ResultLine> = lines.into_iter().map(|r| r.unwrap_or_else(|e| panic!("{e}"))).collect();
        expect_mixed(&lines);
        assert_eq!(lines[0].line, 3, "two header lines come first");
        assert_eq!(lines[1].holder.as_deref(), Some("买买提·艾力"));
        assert_eq!(lines[1].reason_text.as_deref(), Some("户名不符"));
        assert_eq!(lines[4].reason_text.as_deref(), Some("账户冻结"));
        assert_eq!(lines[5].reason_text.as_deref(), Some("卡状态异常"));
        assert_eq!(lines.iter().map(|l| l.seq).collect::<Vec<_>>(), (1..=8).map(Some).collect::<Vec<_>>());
    }

    #[test]
    fn icbc_result_by_reference() {
        let (header, lines) = read_all("icbc", "icbc-result-mixed.csv");
        assert_eq!(header.batch_id.as_deref(), Some("B20260901-001"));
        assert_eq!(header.total, Some(sample_batch().ctrl_sum()));
        let lines: Vec<ResultLine> = lines.into_iter().map(|r| r.unwrap_or_else(|e| panic!("{e}"))).collect();
        expect_mixed(&lines);
        assert_eq!(lines[1].reason_text.as_deref(), Some("账号户名不符"));
        assert_eq!(lines[4].reason_text.as_deref(), Some("账户已冻结(止付)"));
        assert_eq!(lines[0].seq, None);
    }

    #[test]
    fn truncated_boc_file_names_its_lines_and_reads_the_rest() {
        let (_, lines) = read_all("boc", "boc-result-truncated.txt");
        assert_eq!(lines.len(), 8);
        match &lines[2] {
            Err(ResultError::MissingColumn { line: 5, column: "status", expected: 6, found: 4 }) => {}
            other => panic!("expected line 5 to miss its status, got {other:?}"),
        }
        match &lines[7] {
            Err(e @ ResultError::Encoding { line: 10, .. }) => assert!(e.to_string().contains("第 10 行")),
            other => panic!("expected the cut last line to be an encoding error, got {other:?}"),
        }
        assert_eq!(lines.iter().filter(|l| l.is_ok()).count(), 6);
    }

    #[test]
    fn malformed_icbc_lines_name_line_and_column() {
        let (_, lines) = read_all("icbc", "icbc-result-malformed.csv");
        let errors: Vec<String> = lines.iter().filter_map(|l| l.as_ref().err()).map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(matches!(&lines[1], Err(ResultError::Field { line: 3, column: "amount", .. })), "{:?}", lines[1]);
        assert!(matches!(&lines[2], Err(ResultError::Field { line: 4, column: "status", .. })), "{:?}", lines[2]);
        assert!(matches!(&lines[3], Err(ResultError::ExtraColumns { line: 5, .. })), "{:?}", lines[3]);
        assert!(matches!(&lines[4], Err(ResultError::Field { line: 6, column: "end_to_end_id", .. })), "{:?}", lines[4]);
        assert!(errors[0].contains("第 3 行") && errors[0].contains("amount"));
    }

    #[test]
    fn row_numbers_need_references() {
        let profiles = fixture_profiles();
        let table = ReasonTable::new();
        let reader = ResultReader::new(&profiles["boc"], &table, open("boc-result-mixed.txt")).unwrap_or_else(|e| panic!("{e}"));
        let first = reader.into_iter().next();
        assert!(matches!(first, Some(Err(ResultError::NoReferences { line: 3, seq: 1 }))), "{first:?}");

        let reader = ResultReader::new(&profiles["boc"], &table, open("boc-result-mixed.txt")).unwrap_or_else(|e| panic!("{e}"));
        let lines: Vec<_> = reader.with_references(refs()[..2].to_vec()).collect();
        assert!(matches!(&lines[2], Err(ResultError::Field { column: "seq", .. })));
    }

    #[test]
    fn rejected_without_reason_is_ms03_and_overrides_apply() {
        let profiles = fixture_profiles();
        let text = "H,B1,2,300\r\nE1,6222,100,6,,\r\nE2,6222,200,6,3099,系统繁忙\r\n";
        let bytes = encoding_rs::GBK.encode(text).0.into_owned();
        let table = ReasonTable::new();
        let lines: Vec<ResultLine> =
            ResultReader::new(&profiles["icbc"], &table, &bytes[..]).map(|r| r.flatten().collect()).unwrap_or_default();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].reason_code.as_deref(), Some(MS03));
        assert_eq!(lines[0].reason_text, None);
        assert_eq!(lines[1].reason_code.as_deref(), Some(MS03));
        let table = ReasonTable::with_overrides([("系统繁忙".to_string(), "NARR".to_string())].into()).unwrap_or_default();
        let lines: Vec<ResultLine> =
            ResultReader::new(&profiles["icbc"], &table, &bytes[..]).map(|r| r.flatten().collect()).unwrap_or_default();
        assert_eq!(lines[1].reason_code.as_deref(), Some("NARR"));
    }

    #[test]
    fn utf8_bom_switches_to_utf8() {
        let profiles = fixture_profiles();
        let text = "\u{FEFF}H,B1,1,100\nE1,6222,100,6,3031,账号户名不符\n";
        let table = ReasonTable::new();
        let lines: Vec<_> = ResultReader::new(&profiles["icbc"], &table, text.as_bytes()).map(|r| r.collect()).unwrap_or_default();
        match &lines[..] {
            [Ok(l)] => assert_eq!(l.reason_code.as_deref(), Some(BE01)),
            other => panic!("{other:?}"),
        }
        assert!(looks_like(&profiles["icbc"], text.as_bytes()));
    }

    #[test]
    fn short_or_empty_file_is_an_error_not_a_panic() {
        let profiles = fixture_profiles();
        let table = ReasonTable::new();
        assert!(matches!(ResultReader::new(&profiles["boc"], &table, &b""[..]), Err(ResultError::MissingHeader { expected: 2, found: 0 })));
        let mut no_result = profiles["boc"].clone();
        no_result.result = None;
        assert!(matches!(ResultReader::new(&no_result, &table, &b""[..]), Err(ResultError::NoResultSection)));
        assert!(!looks_like(&no_result, b"x"));
    }

    #[test]
    fn detects_its_own_result_files_only() {
        let profiles = fixture_profiles();
        let read = |n: &str| std::fs::read(fixture_path(n)).unwrap_or_default();
        let boc = read("boc-result-mixed.txt");
        let icbc = read("icbc-result-mixed.csv");
        assert!(looks_like(&profiles["boc"], &boc));
        assert!(looks_like(&profiles["icbc"], &icbc));
        assert!(!looks_like(&profiles["boc"], &icbc));
        assert!(!looks_like(&profiles["icbc"], &boc));
        // A head cut in the middle of a line (even of a character) still counts.
        assert!(looks_like(&profiles["boc"], &boc[..boc.len() - 7]));
        assert!(looks_like(&profiles["icbc"], &icbc[..icbc.len() - 5]));
        // Our own request files are not result files.
        assert!(!looks_like(&profiles["boc"], &read("boc-request-sample.txt")));
        assert!(!looks_like(&profiles["icbc"], &read("icbc-request-sample.csv")));
        // Neither is something else entirely, or nothing.
        assert!(!looks_like(&profiles["icbc"], b"<?xml version=\"1.0\"?>\n<Document>\n"));
        assert!(!looks_like(&profiles["boc"], b""));
        // The header lines alone are not enough.
        let two_lines: usize = boc.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(1).map_or(0, |(i, _)| i + 1);
        assert!(!looks_like(&profiles["boc"], &boc[..two_lines]));
    }

    #[test]
    fn amounts_are_exact() {
        use AmountUnit::{Fen as F, Yuan};
        assert_eq!(parse_amount("1000.50", Yuan), Ok(Fen(100_050)));
        assert_eq!(parse_amount("1,000.5", Yuan), Ok(Fen(100_050)));
        assert_eq!(parse_amount("1000", Yuan), Ok(Fen(100_000)));
        assert_eq!(parse_amount("0.01", Yuan), Ok(Fen(1)));
        assert_eq!(parse_amount("12.300", Yuan), Ok(Fen(1_230)));
        assert_eq!(parse_amount("100050", F), Ok(Fen(100_050)));
        for bad in ["", ".", "1.", ".5", "1.234", "-1.00", "+1", "1e3", "1.2.3", ",100", "１００", "NaN"] {
            assert!(parse_amount(bad, Yuan).is_err(), "{bad:?}");
        }
        for bad in ["", "1000.50", "-5", "1,000", "99999999999999999999"] {
            assert!(parse_amount(bad, F).is_err(), "{bad:?}");
        }
        assert!(parse_amount("999999999999999999.99", Yuan).is_err());
    }

    #[test]
    #[ignore]
    fn timing_40000_lines() {
        let profiles = fixture_profiles();
        let table = ReasonTable::new();
        let mut text = String::from("H,B1,40000,1\n");
        for i in 0..40_000 {
            let (status, reason) = if i % 10 == 0 { ("6", "账户已冻结(止付)") } else { ("7", "交易成功") };
            text.push_str(&format!("E{i:08},6217000010000000001,100050,{status},3017,{reason}\n"));
        }
        let bytes = encoding_rs::GBK.encode(&text).0.into_owned();
        let t = std::time::Instant::now();
        let n = ResultReader::new(&profiles["icbc"], &table, &bytes[..]).map(|r| r.filter(|l| l.is_ok()).count()).unwrap_or(0);
        eprintln!("read {n} lines ({} bytes) in {:?}", bytes.len(), t.elapsed());
        assert_eq!(n, 40_000);
    }

    proptest! {
        #[test]
        fn amount_round_trips(fen in 0i64..=i64::MAX / 1000) {
            prop_assert_eq!(parse_amount(&Fen(fen).to_string(), AmountUnit::Yuan), Ok(Fen(fen)));
            prop_assert_eq!(parse_amount(&fen.to_string(), AmountUnit::Fen), Ok(Fen(fen)));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let profiles = fixture_profiles();
            let table = ReasonTable::new();
            for key in ["boc", "icbc"] {
                let _ = looks_like(&profiles[key], &bytes);
                if let Ok(r) = ResultReader::new(&profiles[key], &table, &bytes[..]) {
                    for _ in r.with_references(vec!["E1".into()]) {}
                }
            }
        }
    }
}
