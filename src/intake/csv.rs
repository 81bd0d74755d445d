//! CSV grant lists, streamed: UTF-8 (with or without BOM) or GBK, detected from the bytes or
//! given with `--encoding`. Memory stays flat whatever the file's size.

use super::row::RawRow;
use super::SourceError;
use encoding_rs::{Encoding, GB18030, UTF_8};
use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};
use std::fs::File;
use std::io::{BufReader, Read};
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
    reader: csv::Reader<DecodeReaderBytes<BufReader<File>, Vec<u8>>>,
    record: csv::StringRecord,
    pub encoding: &'static Encoding,
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
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(decoder);
        Ok(CsvSource { reader, record: csv::StringRecord::new(), encoding })
    }

    fn read(&mut self) -> Option<Result<RawRow, SourceError>> {
        match self.reader.read_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                let line = self.record.position().map(|p| p.line()).unwrap_or(0);
                let mut row = RawRow { line, cells: Vec::with_capacity(self.record.len()), problems: Vec::new() };
                for (i, cell) in self.record.iter().enumerate() {
                    if cell.contains('\u{FFFD}') {
                        row.problems.push((
                            i,
                            format!("bytes that are not valid {} (wrong encoding? try --encoding)", encoding_label(self.encoding)),
                        ));
                    }
                    row.cells.push(cell.to_string());
                }
                Some(Ok(row))
            }
            Err(e) => Some(Err(SourceError::Csv(e.to_string()))),
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
    fn sniffs_bom_utf8_and_gbk() {
        assert_eq!(sniff_encoding(b"\xEF\xBB\xBFa,b"), UTF_8);
        assert_eq!(sniff_encoding("资助编号,姓名".as_bytes()), UTF_8);
        let (gbk, _, _) = encoding_rs::GBK.encode("资助编号,姓名");
        assert_eq!(sniff_encoding(&gbk), GB18030);
        // a UTF-8 character cut by the sample's end
        assert_eq!(sniff_encoding(&"资".as_bytes()[..2]), UTF_8);
    }
}
