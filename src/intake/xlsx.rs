//! XLSX grant lists through calamine: the first worksheet, its first row the header.

use super::row::RawRow;
use super::SourceError;
use calamine::{Data, Reader};
use std::path::Path;

/// Rows of the first worksheet of a workbook.
pub struct XlsxSource {
    rows: std::vec::IntoIter<RawRow>,
    header: Vec<String>,
}

/// A cell as text. Excel keeps long digit strings as floats when the column is not text, which
/// loses digits beyond 15: such a cell is marked, so the row is rejected rather than paid to a
/// wrong card.
fn cell_text(d: &Data) -> Result<String, String> {
    Ok(match d {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{}", *f as i64)
            } else if f.abs() >= 1e15 {
                return Err("长数字在表格中存成了数值，已丢失位数；请把该列设为文本格式后重新报送".into());
            } else {
                // Shortest text that reads back as the same float: `1000.5`, not 1000.499999….
                format!("{f}")
            }
        }
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => match dt.as_datetime() {
            Some(t) => t.date().to_string(),
            None => return Err("不是有效的表格日期".into()),
        },
        Data::Error(e) => return Err(format!("单元格为错误值 {e:?}")),
    })
}

impl XlsxSource {
    pub fn open(path: &Path) -> Result<XlsxSource, SourceError> {
        let mut book = calamine::open_workbook_auto(path).map_err(|e| SourceError::Xlsx(e.to_string()))?;
        let range = book
            .worksheet_range_at(0)
            .ok_or_else(|| SourceError::Xlsx("the workbook has no worksheet".into()))?
            .map_err(|e| SourceError::Xlsx(e.to_string()))?;
        let first_row = range.start().map(|(r, _)| r as u64).unwrap_or(0);
        let first_col = range.start().map(|(_, c)| c as usize).unwrap_or(0);
        let mut header = Vec::new();
        let mut rows = Vec::new();
        for (i, cells) in range.rows().enumerate() {
            // Columns left of the used range are empty; keep positions as in the sheet.
            let mut row = RawRow { line: first_row + i as u64 + 1, cells: vec![String::new(); first_col], problems: vec![] };
            for (j, d) in cells.iter().enumerate() {
                match cell_text(d) {
                    Ok(t) => row.cells.push(t),
                    Err(why) => {
                        row.problems.push((first_col + j, why));
                        row.cells.push(String::new());
                    }
                }
            }
            if i == 0 {
                header = row.cells;
            } else {
                rows.push(row);
            }
        }
        Ok(XlsxSource { rows: rows.into_iter(), header })
    }

    pub fn header(&mut self) -> Result<Vec<String>, SourceError> {
        Ok(std::mem::take(&mut self.header))
    }
}

impl Iterator for XlsxSource {
    type Item = Result<RawRow, SourceError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.rows.next().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_become_text_without_losing_digits() {
        assert_eq!(cell_text(&Data::Float(1000.0)), Ok("1000".into()));
        assert_eq!(cell_text(&Data::Float(1000.5)), Ok("1000.5".into()));
        assert!(cell_text(&Data::Float(6.222021234567890e18)).is_err());
        assert_eq!(cell_text(&Data::String("6222021234567890128".into())), Ok("6222021234567890128".into()));
    }
}
