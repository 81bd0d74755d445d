//! A bank's 代发 template as data: [`DomesticProfile`] says which columns a batch file has, in
//! which order, separated by what, in which encoding, with which byte limits — and how the bank's
//! result file (回盘文件) for it is laid out ([`ResultProfile`]). Adding a bank is a TOML table,
//! not code (see `fixtures/bank/profiles.toml` for a Bank-of-China-style and an ICBC-style one).
//!
//! Columns are named by *tokens* (`holder`, `amount`, `literal:D`, …). The profile keeps them as
//! the strings it was configured with; [`DomesticProfile::check`] parses every one of them, so an
//! unknown token stops start-up naming the token, and the writer and reader compile them once
//! per file into the small enums below ([`HeaderColumn`], [`DetailColumn`], [`ResultColumn`],
//! [`ResultHeaderColumn`]).

use encoding_rs::Encoding;
use serde::Deserialize;
use std::collections::HashMap;

/// The character encoding of the bank's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum TextEncoding {
    /// GBK, what the banks' batch tools write (the default). A character outside GBK (rare
    /// surnames such as 𠮷) cannot be written and is refused line by line.
    #[default]
    #[serde(rename = "gbk", alias = "GBK")]
    Gbk,
    /// GB18030: GBK plus four-byte sequences, so it carries every Unicode character. Only for a
    /// bank that states it reads GB18030.
    #[serde(rename = "gb18030", alias = "GB18030")]
    Gb18030,
    #[serde(rename = "utf-8", alias = "utf8", alias = "UTF-8")]
    Utf8,
}

impl TextEncoding {
    /// The encoding_rs encoding. Its GBK *decoder* also accepts GB18030 input.
    pub fn encoding(self) -> &'static Encoding {
        match self {
            TextEncoding::Gbk => encoding_rs::GBK,
            TextEncoding::Gb18030 => encoding_rs::GB18030,
            TextEncoding::Utf8 => encoding_rs::UTF_8,
        }
    }
}

/// How lines end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LineEnding {
    /// `\r\n`, what Windows batch tools write (the default).
    #[default]
    Crlf,
    Lf,
}

impl LineEnding {
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            LineEnding::Crlf => b"\r\n",
            LineEnding::Lf => b"\n",
        }
    }
}

/// How amounts are written. There is deliberately **no default**: a wrong unit is a payment a
/// hundred times too large or too small, so every profile must say which one its bank uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AmountUnit {
    /// Yuan with two decimals: `1000.50` (Bank of China's tool).
    Yuan,
    /// Integer fen, no decimal point: `100050` (ICBC's 银企互联 `PayAmt`).
    Fen,
}

/// One bank's delimited 代发 template (the batch file) and its result file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomesticProfile {
    /// `"gbk"` (default), `"gb18030"` or `"utf-8"`.
    #[serde(default)]
    pub encoding: TextEncoding,
    /// The field separator, ASCII (default `|`).
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Whether every field, the last one included, is followed by the delimiter (BOC: yes).
    #[serde(default)]
    pub trailing_delimiter: bool,
    /// `"crlf"` (default) or `"lf"`.
    #[serde(default)]
    pub line_ending: LineEnding,
    /// `"yuan"` or `"fen"`; required.
    pub amount_unit: AmountUnit,
    /// The header line's column tokens; empty for no header line. Tokens: `batch_id`,
    /// `debtor_account`, `debtor_name`, `debtor_cnaps`, `count`, `total`, `date` (execution
    /// date, yyyyMMdd), `currency` (CNY), `purpose`, `empty`, `literal:TEXT`.
    #[serde(default)]
    pub header: Vec<String>,
    /// One line per payment. Tokens: `seq` (1-based), `end_to_end_id`, `card_number`, `holder`,
    /// `amount`, `bank_name`, `cnaps`, `remittance`, `currency`, `purpose`, `empty`,
    /// `literal:TEXT`.
    pub detail: Vec<String>,
    /// The trailer line's column tokens (same tokens as the header); empty for none.
    #[serde(default)]
    pub trailer: Vec<String>,
    /// Per detail token, the most bytes its value may take *in the profile's encoding*
    /// (a CJK character is 2 bytes in GBK, 3 in UTF-8), e.g. `holder = 20`.
    #[serde(default)]
    pub max_bytes: HashMap<String, usize>,
    /// The file name, with `{batch_id}`, `{date}` (execution date yyyyMMdd) and `{account}`
    /// (the debtor account), e.g. `DF_{account}_{date}_{batch_id}.txt`.
    pub file_name: String,
    /// The most payment lines one file may hold (BOC 普通代发: 5000).
    pub max_lines: usize,
    /// The purpose written in `purpose` columns: a text (`补贴`) or a bank code (`EE`).
    #[serde(default)]
    pub purpose: String,
    /// The result file's layout, if the bank answers with a delimited result file.
    #[serde(default)]
    pub result: Option<ResultProfile>,
}

fn default_delimiter() -> String {
    "|".to_string()
}

/// The layout of the bank's result file (回盘文件) for a batch of this profile.
///
/// Encoding, delimiter and trailing delimiter are the profile's unless set here.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultProfile {
    /// Column tokens of each result line: `end_to_end_id`, `seq` (the line's 1-based position in
    /// the batch file, for banks that answer by row number), `card_number`, `holder`, `amount`,
    /// `status`, `reason`, `skip`. `status` is required, and `end_to_end_id` or `seq`.
    #[serde(alias = "result_detail")]
    pub detail: Vec<String>,
    /// Lines before the first result line (batch line, column titles), skipped.
    #[serde(default, alias = "result_header_lines")]
    pub header_lines: usize,
    /// Column tokens of the *first* header line, if it says which batch this answers:
    /// `batch_id`, `count`, `total`, `skip`. Empty: header lines are only skipped.
    #[serde(default, alias = "result_header")]
    pub header: Vec<String>,
    /// Status values meaning settled (e.g. `成功`, `0000`, `S`), compared after trimming.
    pub success_values: Vec<String>,
    /// Status values meaning rejected (e.g. `失败`, `F`).
    pub failure_values: Vec<String>,
    /// Status values meaning not final yet (e.g. `处理中`, `P`).
    #[serde(default)]
    pub pending_values: Vec<String>,
    #[serde(default)]
    pub encoding: Option<TextEncoding>,
    #[serde(default)]
    pub delimiter: Option<String>,
    #[serde(default)]
    pub trailing_delimiter: Option<bool>,
}

/// A header or trailer column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderColumn<'a> {
    BatchId,
    DebtorAccount,
    DebtorName,
    DebtorCnaps,
    Count,
    Total,
    Date,
    Currency,
    Purpose,
    Empty,
    Literal(&'a str),
}

impl<'a> HeaderColumn<'a> {
    pub fn parse(token: &'a str) -> Result<Self, String> {
        if let Some(text) = token.strip_prefix("literal:") {
            return Ok(HeaderColumn::Literal(text));
        }
        Ok(match token {
            "batch_id" => HeaderColumn::BatchId,
            "debtor_account" => HeaderColumn::DebtorAccount,
            "debtor_name" => HeaderColumn::DebtorName,
            "debtor_cnaps" => HeaderColumn::DebtorCnaps,
            "count" => HeaderColumn::Count,
            "total" => HeaderColumn::Total,
            "date" => HeaderColumn::Date,
            "currency" => HeaderColumn::Currency,
            "purpose" => HeaderColumn::Purpose,
            "empty" => HeaderColumn::Empty,
            other => return Err(format!("unknown header/trailer column `{other}`")),
        })
    }

    /// The token, for error messages.
    pub fn name(self) -> &'static str {
        match self {
            HeaderColumn::BatchId => "batch_id",
            HeaderColumn::DebtorAccount => "debtor_account",
            HeaderColumn::DebtorName => "debtor_name",
            HeaderColumn::DebtorCnaps => "debtor_cnaps",
            HeaderColumn::Count => "count",
            HeaderColumn::Total => "total",
            HeaderColumn::Date => "date",
            HeaderColumn::Currency => "currency",
            HeaderColumn::Purpose => "purpose",
            HeaderColumn::Empty => "empty",
            HeaderColumn::Literal(_) => "literal",
        }
    }
}

/// A payment-line column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailColumn<'a> {
    Seq,
    EndToEndId,
    CardNumber,
    Holder,
    Amount,
    BankName,
    Cnaps,
    Remittance,
    Currency,
    Purpose,
    Empty,
    Literal(&'a str),
}

impl<'a> DetailColumn<'a> {
    pub fn parse(token: &'a str) -> Result<Self, String> {
        if let Some(text) = token.strip_prefix("literal:") {
            return Ok(DetailColumn::Literal(text));
        }
        Ok(match token {
            "seq" => DetailColumn::Seq,
            "end_to_end_id" => DetailColumn::EndToEndId,
            "card_number" => DetailColumn::CardNumber,
            "holder" => DetailColumn::Holder,
            "amount" => DetailColumn::Amount,
            "bank_name" => DetailColumn::BankName,
            "cnaps" => DetailColumn::Cnaps,
            "remittance" => DetailColumn::Remittance,
            "currency" => DetailColumn::Currency,
            "purpose" => DetailColumn::Purpose,
            "empty" => DetailColumn::Empty,
            other => return Err(format!("unknown detail column `{other}`")),
        })
    }

    /// The token: the `field` of a [`super::LineProblem`] and the key of `max_bytes`.
    pub fn name(self) -> &'static str {
        match self {
            DetailColumn::Seq => "seq",
            DetailColumn::EndToEndId => "end_to_end_id",
            DetailColumn::CardNumber => "card_number",
            DetailColumn::Holder => "holder",
            DetailColumn::Amount => "amount",
            DetailColumn::BankName => "bank_name",
            DetailColumn::Cnaps => "cnaps",
            DetailColumn::Remittance => "remittance",
            DetailColumn::Currency => "currency",
            DetailColumn::Purpose => "purpose",
            DetailColumn::Empty => "empty",
            DetailColumn::Literal(_) => "literal",
        }
    }
}

/// A result-line column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultColumn {
    EndToEndId,
    Seq,
    CardNumber,
    Holder,
    Amount,
    Status,
    Reason,
    Skip,
}

impl ResultColumn {
    pub fn parse(token: &str) -> Result<Self, String> {
        Ok(match token {
            "end_to_end_id" => ResultColumn::EndToEndId,
            "seq" => ResultColumn::Seq,
            "card_number" => ResultColumn::CardNumber,
            "holder" => ResultColumn::Holder,
            "amount" => ResultColumn::Amount,
            "status" => ResultColumn::Status,
            "reason" => ResultColumn::Reason,
            "skip" => ResultColumn::Skip,
            other => return Err(format!("unknown result column `{other}`")),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ResultColumn::EndToEndId => "end_to_end_id",
            ResultColumn::Seq => "seq",
            ResultColumn::CardNumber => "card_number",
            ResultColumn::Holder => "holder",
            ResultColumn::Amount => "amount",
            ResultColumn::Status => "status",
            ResultColumn::Reason => "reason",
            ResultColumn::Skip => "skip",
        }
    }
}

/// A column of the result file's first header line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultHeaderColumn {
    BatchId,
    Count,
    Total,
    Skip,
}

impl ResultHeaderColumn {
    pub fn parse(token: &str) -> Result<Self, String> {
        Ok(match token {
            "batch_id" => ResultHeaderColumn::BatchId,
            "count" => ResultHeaderColumn::Count,
            "total" => ResultHeaderColumn::Total,
            "skip" => ResultHeaderColumn::Skip,
            other => return Err(format!("unknown result header column `{other}`")),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ResultHeaderColumn::BatchId => "batch_id",
            ResultHeaderColumn::Count => "count",
            ResultHeaderColumn::Total => "total",
            ResultHeaderColumn::Skip => "skip",
        }
    }
}

/// The placeholders `file_name` may use.
const FILE_NAME_TOKENS: [&str; 3] = ["batch_id", "date", "account"];

impl DomesticProfile {
    /// Checks the whole profile, so that a mistake stops start-up rather than a batch: every
    /// column token known, literals and purpose free of the delimiter and writable in the
    /// encoding, `max_bytes` keys real detail tokens, `file_name` placeholders known, and the
    /// result section complete. The error names the offending key and token.
    pub fn check(&self) -> Result<(), String> {
        let d = &self.delimiter;
        if d.is_empty() || !d.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)) {
            return Err(format!("delimiter `{d}`: must be one or more printable ASCII characters (or tab)"));
        }
        if self.detail.is_empty() {
            return Err("detail: no columns".to_string());
        }
        if self.max_lines == 0 {
            return Err("max_lines: must be at least 1".to_string());
        }
        let literal_ok = |key: &str, text: &str| -> Result<(), String> {
            if text.contains(d.as_str()) || text.contains(['\r', '\n']) {
                return Err(format!("{key}: `{text}` contains the delimiter or a line break"));
            }
            if let Some(c) = unencodable(self.encoding.encoding(), text) {
                return Err(format!("{key}: `{text}` has `{c}`, which {} cannot carry", self.encoding.encoding().name()));
            }
            Ok(())
        };
        for (key, tokens) in [("header", &self.header), ("trailer", &self.trailer)] {
            for t in tokens {
                if let HeaderColumn::Literal(text) = HeaderColumn::parse(t).map_err(|e| format!("{key}: {e}"))? {
                    literal_ok(key, text)?;
                }
            }
        }
        for t in &self.detail {
            if let DetailColumn::Literal(text) = DetailColumn::parse(t).map_err(|e| format!("detail: {e}"))? {
                literal_ok("detail", text)?;
            }
        }
        literal_ok("purpose", &self.purpose)?;
        for key in self.max_bytes.keys() {
            match DetailColumn::parse(key) {
                Ok(DetailColumn::Literal(_)) | Err(_) => {
                    return Err(format!("max_bytes: `{key}` is not a detail column token"));
                }
                Ok(_) => {}
            }
        }
        check_file_name(&self.file_name)?;
        if let Some(r) = &self.result {
            r.check().map_err(|e| format!("result: {e}"))?;
        }
        Ok(())
    }

    /// The compiled header columns (valid after [`check`](Self::check)).
    pub fn header_columns(&self) -> Result<Vec<HeaderColumn<'_>>, String> {
        self.header.iter().map(|t| HeaderColumn::parse(t)).collect()
    }

    /// The compiled trailer columns.
    pub fn trailer_columns(&self) -> Result<Vec<HeaderColumn<'_>>, String> {
        self.trailer.iter().map(|t| HeaderColumn::parse(t)).collect()
    }

    /// The compiled detail columns.
    pub fn detail_columns(&self) -> Result<Vec<DetailColumn<'_>>, String> {
        self.detail.iter().map(|t| DetailColumn::parse(t)).collect()
    }

    /// The byte limit of a detail column, if any.
    pub fn max_bytes_of(&self, column: DetailColumn<'_>) -> Option<usize> {
        match column {
            DetailColumn::Literal(_) => None,
            c => self.max_bytes.get(c.name()).copied(),
        }
    }
}

impl ResultProfile {
    /// Checks the result section (see [`DomesticProfile::check`]).
    pub fn check(&self) -> Result<(), String> {
        if let Some(d) = &self.delimiter
            && (d.is_empty() || !d.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)))
        {
            return Err(format!("delimiter `{d}`: must be one or more printable ASCII characters (or tab)"));
        }
        let cols = self.columns().map_err(|e| format!("detail: {e}"))?;
        let has = |c: ResultColumn| cols.contains(&c);
        if !has(ResultColumn::Status) {
            return Err("detail: needs a `status` column".to_string());
        }
        if !has(ResultColumn::EndToEndId) && !has(ResultColumn::Seq) {
            return Err("detail: needs an `end_to_end_id` or a `seq` column to match lines to payments".to_string());
        }
        for c in &cols {
            if *c != ResultColumn::Skip && cols.iter().filter(|x| *x == c).count() > 1 {
                return Err(format!("detail: `{}` appears twice", c.name()));
            }
        }
        let header = self.header_columns().map_err(|e| format!("header: {e}"))?;
        if !header.is_empty() && self.header_lines == 0 {
            return Err("header: columns given but header_lines is 0".to_string());
        }
        if self.success_values.is_empty() || self.failure_values.is_empty() {
            return Err("success_values and failure_values must each list at least one status value".to_string());
        }
        let all = || self.success_values.iter().chain(&self.failure_values).chain(&self.pending_values);
        for v in all() {
            if v.trim().is_empty() {
                return Err("a status value is empty".to_string());
            }
            if all().filter(|x| x.trim() == v.trim()).count() > 1 {
                return Err(format!("status value `{v}` is listed twice"));
            }
        }
        Ok(())
    }

    /// The compiled result columns.
    pub fn columns(&self) -> Result<Vec<ResultColumn>, String> {
        self.detail.iter().map(|t| ResultColumn::parse(t)).collect()
    }

    /// The compiled columns of the first header line.
    pub fn header_columns(&self) -> Result<Vec<ResultHeaderColumn>, String> {
        self.header.iter().map(|t| ResultHeaderColumn::parse(t)).collect()
    }
}

fn check_file_name(pattern: &str) -> Result<(), String> {
    if pattern.trim().is_empty() || pattern.contains(['/', '\\']) {
        return Err(format!("file_name `{pattern}`: must be a plain file name"));
    }
    let mut rest = pattern;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err(format!("file_name `{pattern}`: `}}` without `{{`"));
        }
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| format!("file_name `{pattern}`: `{{` without `}}`"))?;
        let token = &after[..close];
        if !FILE_NAME_TOKENS.contains(&token) {
            return Err(format!("file_name `{pattern}`: unknown placeholder `{{{token}}}` (use {{batch_id}}, {{date}}, {{account}})"));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// The first character of `text` that `encoding` cannot carry.
pub(crate) fn unencodable(encoding: &'static Encoding, text: &str) -> Option<char> {
    if text.is_ascii() || encoding == encoding_rs::UTF_8 || encoding == encoding_rs::GB18030 {
        return None;
    }
    let mut encoder = encoding.new_encoder();
    let mut buf = Vec::with_capacity(encoder.max_buffer_length_from_utf8_without_replacement(text.len()).unwrap_or(0));
    match encoder.encode_from_utf8_to_vec_without_replacement(text, &mut buf, true) {
        (encoding_rs::EncoderResult::Unmappable(c), _) => Some(c),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::domestic::tests::{fixture_profiles, minimal_profile};

    #[test]
    fn both_fixture_profiles_load_and_check() {
        let p = fixture_profiles();
        let boc = &p["boc"];
        let icbc = &p["icbc"];
        assert_eq!(boc.encoding, TextEncoding::Gbk);
        assert_eq!(boc.delimiter, "|");
        assert!(boc.trailing_delimiter);
        assert_eq!(boc.line_ending, LineEnding::Crlf);
        assert_eq!(boc.amount_unit, AmountUnit::Yuan);
        assert_eq!(boc.max_bytes.get("holder"), Some(&20));
        assert_eq!(icbc.delimiter, ",");
        assert!(!icbc.trailing_delimiter);
        assert_eq!(icbc.line_ending, LineEnding::Lf);
        assert_eq!(icbc.amount_unit, AmountUnit::Fen);
        assert!(!icbc.trailer.is_empty());
        for (name, profile) in &p {
            profile.check().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(profile.result.is_some(), "{name}");
        }
    }

    #[test]
    fn unknown_tokens_are_named() {
        let mut p = minimal_profile();
        p.detail.push("holdr".into());
        assert!(p.check().unwrap_err().contains("`holdr`"));

        let mut p = minimal_profile();
        p.header.push("totl".into());
        assert!(p.check().unwrap_err().contains("`totl`"));

        let mut p = minimal_profile();
        p.max_bytes.insert("name".into(), 20);
        assert!(p.check().unwrap_err().contains("`name`"));

        let mut p = minimal_profile();
        p.file_name = "DF_{acct}.txt".into();
        assert!(p.check().unwrap_err().contains("{acct}"));

        let mut p = minimal_profile();
        if let Some(r) = p.result.as_mut() {
            r.detail.push("remark".into());
        }
        assert!(p.check().unwrap_err().contains("`remark`"));
    }

    #[test]
    fn literals_and_delimiters_are_checked() {
        let mut p = minimal_profile();
        p.detail.push("literal:a|b".into());
        assert!(p.check().unwrap_err().contains("delimiter"));

        let mut p = minimal_profile();
        p.purpose = "𠮷".into();
        assert!(p.check().unwrap_err().contains("purpose"));

        let mut p = minimal_profile();
        p.delimiter = String::new();
        assert!(p.check().is_err());

        let mut p = minimal_profile();
        p.max_lines = 0;
        assert!(p.check().is_err());
    }

    #[test]
    fn result_section_must_be_complete() {
        let mut p = minimal_profile();
        if let Some(r) = p.result.as_mut() {
            r.detail.retain(|t| t != "status");
        }
        assert!(p.check().unwrap_err().contains("status"));

        let mut p = minimal_profile();
        if let Some(r) = p.result.as_mut() {
            r.pending_values.push("成功".into());
        }
        assert!(p.check().unwrap_err().contains("twice"));

        let mut p = minimal_profile();
        if let Some(r) = p.result.as_mut() {
            r.detail.retain(|t| t != "end_to_end_id");
        }
        assert!(p.check().unwrap_err().contains("end_to_end_id"));
    }

    #[test]
    fn amount_unit_has_no_default() {
        let text = r#"{"detail":["holder"],"file_name":"x.txt","max_lines":10}"#;
        let err = serde_json::from_str::<DomesticProfile>(text).unwrap_err().to_string();
        assert!(err.contains("amount_unit"), "{err}");
    }
}
