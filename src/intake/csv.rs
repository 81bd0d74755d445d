//! CSV grant lists, streamed: UTF-8 (with or without BOM) or GBK, detected from the bytes or
//! given with `--encoding`. Memory stays flat whatever the file's size.

use super::row::RawRow;
use super::SourceError;
use encoding_rs::{Encoding, GB18030, UTF_8};
use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};
use std::fs::File;
use std::collections::VecDeque;
use std::io::{BufReader, Read};
use std::sync::{Arc, Mutex};
use std::path::Path;

/// Which encoding to read a CSV in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum EncodingChoice {
    /// UTF-8 when the bytes are UTF-8 (or start with its BOM), else GBK.
    #[default]
    Auto,
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
    /// GBK, read with the GB18030 decoder (a superset).
    #[value(alias = "gb18030", alias = "gb2312")]
    Gbk,
}

/// How many bytes are looked at to guess the encoding.
const SNIFF_BYTES: usize = 64 * 1024;

/// The encoding of a file start: a UTF-8 BOM or valid UTF-8 means UTF-8, anything else GBK.
pub fn sniff_encoding(head: &[u8]) -> &'static Encoding {
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return UTF_8;
    }
    match std::str::from_utf8(head) {
        Ok(_) => UTF_8,
        // A multi-byte character cut at the end of the sample is still UTF-8.
        Err(e) if e.error_len().is_none() => UTF_8,
        Err(_) => GB18030,
    }
}

/// The name printed for an encoding.
pub fn encoding_label(e: &'static Encoding) -> &'static str {
    if e == UTF_8 { "utf-8" } else { "gbk" }
}

/// Rows of a CSV file.
pub struct CsvSource {
    reader: csv::Reader<LineCounter<DecodeReaderBytes<BufReader<File>, Vec<u8>>>>,
    record: csv::StringRecord,
    lines: Arc<Mutex<Newlines>>,
    pub encoding: &'static Encoding,
}

/// Where the line breaks are in the decoded text, for numbering rows by the file's physical lines
/// (the csv crate's own count is the line where the *previous* record ended, which is wrong
/// after a CRLF or a blank line). Only the breaks not yet behind the current record are kept:
/// memory is the reader's buffer.
#[derive(Default)]
struct Newlines {
    /// Bytes of decoded text read so far.
    read: u64,
    /// Offsets of the `\r` and `\n` bytes read but not yet passed, and whether each is a `\n`.
    pending: VecDeque<(u64, bool)>,
    /// `\n` bytes passed.
    counted: u64,
    /// Records cut at [`MAX_RECORD_BYTES`], not yet passed.
    cuts: VecDeque<Cut>,
}

impl Newlines {
    /// The 1-based line of the record the csv reader reads next, given where the previous one
    /// ended (`prev_end`, offsets only grow): the line breaks before it, then the run of line
    /// breaks right at it (the rest of a CRLF, blank lines), are behind the record's first byte.
    fn line_of_record(&mut self, prev_end: u64) -> u64 {
        let mut cursor = prev_end;
        while let Some(&(at, newline)) = self.pending.front() {
            if at > cursor {
                break;
            }
            if at == cursor {
                cursor += 1;
            }
            self.pending.pop_front();
            self.counted += u64::from(newline);
        }
        self.counted + 1
    }
}

/// The most bytes one CSV record (one row, all its cells) may take: a real row of a grant list
/// is well under 1 KB. A longer record is cut here, before the csv reader buffers it, and its
/// row is rejected with the reason: memory stays bounded whatever a cell holds.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// Where the csv parser is in a record, as far as cutting one needs to know (csv_core's rules:
/// a quote opens a quoted field only at the field's start; `""` inside one is a quote).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum At {
    #[default]
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: its end, or the first half of `""`.
    QuoteInQuoted,
}

/// A record cut at [`MAX_RECORD_BYTES`]: where (an offset of the text the csv reader reads, so
/// inside that record's span) and in which field.
#[derive(Debug, Clone, Copy)]
struct Cut {
    at: u64,
    field: usize,
}

/// A reader that notes where each line break passes, and cuts a record longer than
/// [`MAX_RECORD_BYTES`]: the rest of it is dropped (a quoted field closed first) up to the
/// record's end, its line breaks still counted.
struct LineCounter<R> {
    inner: R,
    lines: Arc<Mutex<Newlines>>,
    delimiter: u8,
    state: At,
    field: usize,
    record_bytes: usize,
    cutting: bool,
}

impl<R> LineCounter<R> {
    fn new(inner: R, lines: Arc<Mutex<Newlines>>, delimiter: u8) -> Self {
        LineCounter { inner, lines, delimiter, state: At::FieldStart, field: 0, record_bytes: 0, cutting: false }
    }
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.inner.read(buf)?;
            let mut l = self.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // Bytes are compacted in place: `w` (what the csv reader gets) never passes `r`.
            let mut w = 0;
            for r in 0..n {
                let b = buf[r];
                let ends_record = match (self.state, b) {
                    (At::Quoted, b'"') => {
                        self.state = At::QuoteInQuoted;
                        false
                    }
                    (At::Quoted, _) => false,
                    (At::QuoteInQuoted, b'"') => {
                        self.state = At::Quoted;
                        false
                    }
                    (_, b'\n' | b'\r') => true,
                    (_, d) if d == self.delimiter => {
                        self.state = At::FieldStart;
                        self.field += 1;
                        false
                    }
                    (At::FieldStart, b'"') => {
                        self.state = At::Quoted;
                        false
                    }
                    _ => {
                        self.state = At::Unquoted;
                        false
                    }
                };
                if ends_record {
                    self.state = At::FieldStart;
                    self.field = 0;
                    self.record_bytes = 0;
                    self.cutting = false;
                } else {
                    self.record_bytes += 1;
                    // Cut at a character's first byte: the text stays valid UTF-8.
                    if !self.cutting && self.record_bytes > MAX_RECORD_BYTES && (b & 0xC0) != 0x80 {
                        self.cutting = true;
                        let at = l.read + w as u64;
                        l.cuts.push_back(Cut { at, field: self.field });
                        if self.state == At::Quoted {
                            // Closed for the csv reader, so the record still ends at its line
                            // break (after a quote it is closed already, or `""` would follow).
                            // The state goes on following the file's own bytes.
                            buf[w] = b'"';
                            w += 1;
                        }
                    }
                }
                if self.cutting && !ends_record {
                    if b == b'\n' || b == b'\r' {
                        // A line break inside the dropped part: the file's lines still count it.
                        let at = l.read + w as u64;
                        l.pending.push_back((at.saturating_sub(1), b == b'\n'));
                    }
                    continue;
                }
                if b == b'\n' || b == b'\r' {
                    let at = l.read + w as u64;
                    l.pending.push_back((at, b == b'\n'));
                }
                buf[w] = b;
                w += 1;
            }
            l.read += w as u64;
            // Everything read was dropped: read on rather than signal the end of the file.
            if w > 0 || n == 0 {
                return Ok(w);
            }
        }
    }
}

impl CsvSource {
    pub fn open(path: &Path, choice: EncodingChoice) -> Result<CsvSource, SourceError> {
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        File::open(path)?.take(SNIFF_BYTES as u64).read_to_end(&mut head)?;
        let encoding = match choice {
            EncodingChoice::Auto => sniff_encoding(&head),
            EncodingChoice::Utf8 => UTF_8,
            EncodingChoice::Gbk => GB18030,
        };
        // Tab-separated exports exist too; only ',' and TAB are counted, because '|' can be a
        // GBK trail byte.
        let first_line = head.split(|b| *b == b'\n').next().unwrap_or(&[]);
        let tabs = first_line.iter().filter(|b| **b == b'\t').count();
        let commas = first_line.iter().filter(|b| **b == b',').count();
        let delimiter = if tabs > commas { b'\t' } else { b',' };
        let decoder = DecodeReaderBytesBuilder::new()
            .encoding(Some(encoding))
            .bom_override(true)
            .build(BufReader::with_capacity(256 * 1024, File::open(path)?));
        let lines = Arc::new(Mutex::new(Newlines::default()));
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(LineCounter::new(decoder, lines.clone(), delimiter));
        Ok(CsvSource { reader, record: csv::StringRecord::new(), lines, encoding })
    }

    fn read(&mut self) -> Option<Result<RawRow, SourceError>> {
        let prev_end = self.reader.position().byte();
        match self.reader.read_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                let end = self.reader.position().byte();
                let (line, cut) = {
                    let mut l = self.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    let mut cut = None;
                    while l.cuts.front().is_some_and(|c| c.at < end) {
                        cut = l.cuts.pop_front();
                    }
                    (l.line_of_record(prev_end), cut)
                };
                let mut row = RawRow { line, cells: Vec::with_capacity(self.record.len()), problems: Vec::new(), cut: None };
                if let Some(c) = cut {
                    row.cut = Some((
                        c.field,
                        format!("这一行超过 {} KiB，单元格过长，未读完", MAX_RECORD_BYTES / 1024),
                    ));
                }
                for (i, cell) in self.record.iter().enumerate() {
                    if cell.contains('\u{FFFD}') {
                        row.problems.push((
                            i,
                            format!("含有不是有效 {} 编码的字节（编码不对？可用 --encoding 指定）", encoding_label(self.encoding)),
                        ));
                    }
                    row.cells.push(cell.to_string());
                }
                Some(Ok(row))
            }
            Err(e) => Some(Err(SourceError::Csv(format!("文件无法按 CSV 读取；技术原因：{e}")))),
        }
    }

    /// The header row.
    pub fn header(&mut self) -> Result<Vec<String>, SourceError> {
        match self.read() {
            Some(Ok(row)) => Ok(row.cells),
            Some(Err(e)) => Err(e),
            None => Ok(Vec::new()),
        }
    }
}

impl Iterator for CsvSource {
    type Item = Result<RawRow, SourceError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.read()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_numbered_as_excel_shows_them_header_being_row_1() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines.csv");
        // Row 3 holds a quoted line break: the next record starts on line 5. The header ends in
        // CRLF and the rows in LF, as files edited in two programs do.
        std::fs::write(&path, "a,b\r\nx,1\n\"two\nlines\",2\r\ny,3\n").unwrap();
        let mut src = CsvSource::open(&path, EncodingChoice::Auto).unwrap();
        assert_eq!(src.header().unwrap(), ["a", "b"]);
        let lines: Vec<u64> = src.map(|r| r.unwrap().line).collect();
        assert_eq!(lines, [2, 3, 5]);
        // LF only, with a blank line 3 (skipped, but counted).
        std::fs::write(&path, "a,b\nx,1\n\ny,2\r\n\r\nz,3").unwrap();
        let mut src = CsvSource::open(&path, EncodingChoice::Auto).unwrap();
        src.header().unwrap();
        let lines: Vec<u64> = src.map(|r| r.unwrap().line).collect();
        assert_eq!(lines, [2, 4, 6]);
    }

    #[test]
    fn sniffs_bom_utf8_and_gbk() {
        assert_eq!(sniff_encoding(b"\xEF\xBB\xBFa,b"), UTF_8);
        assert_eq!(sniff_encoding("资助编号,姓名".as_bytes()), UTF_8);
        let (gbk, _, _) = encoding_rs::GBK.encode("资助编号,姓名");
        assert_eq!(sniff_encoding(&gbk), GB18030);
        // a UTF-8 character cut by the sample's end
        assert_eq!(sniff_encoding(&"资".as_bytes()[..2]), UTF_8);
    }

    #[test]
    fn a_record_longer_than_the_bound_is_cut_and_the_next_rows_read_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.csv");
        let long = "长\n".repeat(MAX_RECORD_BYTES); // quoted, with line breaks
        let unquoted = "x".repeat(MAX_RECORD_BYTES + 10);
        std::fs::write(&path, format!("a,b,c\n1,\"{long}\",2\n3,{unquoted}\n\"q\"\"\",4,5\n")).unwrap();
        let mut src = CsvSource::open(&path, EncodingChoice::Auto).unwrap();
        src.header().unwrap();
        let rows: Vec<RawRow> = src.map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 3, "{:?}", rows.iter().map(|r| r.line).collect::<Vec<_>>());
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].cut.as_ref().map(|c| c.0), Some(1));
        assert!(rows[0].cells[1].len() <= MAX_RECORD_BYTES);
        assert_eq!(rows[1].line, 2 + MAX_RECORD_BYTES as u64 + 1);
        assert_eq!(rows[1].cut.as_ref().map(|c| c.0), Some(1));
        assert_eq!(rows[2].line, rows[1].line + 1);
        assert_eq!(rows[2].cut, None);
        assert_eq!(rows[2].cells, ["q\"", "4", "5"]);
    }
}
