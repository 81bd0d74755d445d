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

/// Excel's own limits: a cell beyond them is in no worksheet Excel wrote.
const MAX_ROWS: u32 = 1_048_576;
const MAX_COLUMNS: u32 = 16_384;
/// calamine lays the used range out densely, rows × columns cells. The range may hold at most
/// this many times the cells the sheet really has, plus [`RANGE_MARGIN`], so memory follows
/// what is in the file rather than how far apart two of its cells are.
const MAX_SPARSENESS: u64 = 8;
const RANGE_MARGIN: u64 = 1 << 20;

/// Reads the cell positions of an XLSX worksheet (streamed, nothing kept) and refuses a sheet
/// whose used range calamine could not lay out in bounded memory: one stray cell at
/// `XFD1048576` would otherwise ask for 17 billion cells.
fn check_extent<RS: std::io::Read + std::io::Seek>(book: &mut calamine::Xlsx<RS>, sheet: &str) -> Result<(), String> {
    let mut cells = match book.worksheet_cells_reader(sheet) {
        Ok(c) => c,
        // calamine reads such a sheet (a chart sheet, say) as empty
        Err(calamine::XlsxError::NotAWorksheet(_)) => return Ok(()),
        Err(e) => return Err(e.to_string()),
    };
    let (mut rows, mut cols, mut n) = ((u32::MAX, 0u32), (u32::MAX, 0u32), 0u64);
    while let Some(cell) = cells.next_cell().map_err(|e| e.to_string())? {
        if *cell.get_value() == calamine::DataRef::Empty {
            continue; // not part of the used range
        }
        let (r, c) = cell.get_position();
        if r >= MAX_ROWS || c >= MAX_COLUMNS {
            return Err(format!(
                "第 {} 行第 {} 列有一个单元格，超出了 Excel 的 {MAX_ROWS} 行 × {MAX_COLUMNS} 列范围",
                r as u64 + 1,
                c as u64 + 1
            ));
        }
        rows = (rows.0.min(r), rows.1.max(r));
        cols = (cols.0.min(c), cols.1.max(c));
        n += 1;
    }
    if n == 0 {
        return Ok(());
    }
    let (height, width) = ((rows.1 - rows.0) as u64 + 1, (cols.1 - cols.0) as u64 + 1);
    if height * width > n * MAX_SPARSENESS + RANGE_MARGIN {
        return Err(format!(
            "工作表的 {n} 个单元格分布在 {height} 行 × {width} 列的范围内；请删除远离表格的零散单元格后重新报送"
        ));
    }
    Ok(())
}

/// The most bytes of text (a cell's string, shared or inline) or of one tag an XLSX or ODS part
/// may hold between two `<`/`>`: far above any cell of a grant list, and what calamine and
/// quick-xml would otherwise hold in memory at once (a 200 MB name).
pub const MAX_XML_RUN: usize = 64 * 1024;

/// Streams every XML part of a zipped workbook once (nothing kept) and refuses one with a run
/// of text or a tag longer than [`MAX_XML_RUN`]. Not a zip (an `.xls`): nothing to check here.
fn check_runs(path: &Path) -> Result<(), String> {
    use std::io::Read;
    let Ok(mut archive) = zip::ZipArchive::new(std::fs::File::open(path).map_err(|e| e.to_string())?) else { return Ok(()) };
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..archive.len() {
        let Ok(mut part) = archive.by_index(i) else { continue };
        let Ok(name) = part.name().map(|n| n.into_owned()) else { continue };
        if !name.ends_with(".xml") {
            continue;
        }
        let mut run = 0usize;
        loop {
            let n = match part.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                // A broken part: calamine says what is wrong with it.
                Err(_) => break,
            };
            for &b in &buf[..n] {
                if b == b'<' || b == b'>' {
                    run = 0;
                } else {
                    run += 1;
                    if run > MAX_XML_RUN {
                        return Err(format!(
                            "工作簿的 {name} 中有一段超过 {} KiB 的文字或标记（某个单元格过长），文件未导入",
                            MAX_XML_RUN / 1024
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

impl XlsxSource {
    pub fn open(path: &Path) -> Result<XlsxSource, SourceError> {
        check_runs(path).map_err(SourceError::Xlsx)?;
        let mut book = calamine::open_workbook_auto(path).map_err(|e| SourceError::Xlsx(format!("工作簿无法打开；技术原因：{e}")))?;
        if let calamine::Sheets::Xlsx(xlsx) = &mut book
            && let Some(first) = xlsx.sheet_names().first().cloned()
        {
            check_extent(xlsx, &first).map_err(SourceError::Xlsx)?;
        }
        let range = book
            .worksheet_range_at(0)
            .ok_or_else(|| SourceError::Xlsx("工作簿中没有工作表".into()))?
            .map_err(|e| SourceError::Xlsx(format!("工作表无法读取；技术原因：{e}")))?;
        let first_row = range.start().map(|(r, _)| r as u64).unwrap_or(0);
        let first_col = range.start().map(|(_, c)| c as usize).unwrap_or(0);
        let mut header = Vec::new();
        let mut rows = Vec::new();
        for (i, cells) in range.rows().enumerate() {
            // Columns left of the used range are empty; keep positions as in the sheet.
            let mut row = RawRow { line: first_row + i as u64 + 1, cells: vec![String::new(); first_col], problems: vec![], cut: None };
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
