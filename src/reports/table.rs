//! The report table and its three writers: XLSX, CSV and HTML.
//!
//! A [`Table`] is what a report *says*, independent of any data source and of any file format:
//! a title (`资助发放异常清单`), an optional subtitle (which account, when generated), typed
//! columns, rows of [`Cell`]s and an optional totals row (合计), always written last.
//!
//! # XLSX — what finance staff open first
//! Title merged across all columns, a bold header row, panes frozen below it, an autofilter on the
//! data, a bold totals row, the sheet named after the title (in Chinese), A4 landscape, fitted to
//! the page width, the header row repeated on every printed page. Column widths are computed from
//! the content, counting a CJK character as two width units (a Chinese glyph is about as wide as
//! two `0`s, Excel's width unit), because Excel's own idea of width is Latin-only; a column is at
//! most 60 wide, and text cells wrap, so a long detail makes a taller row rather than a cut one.
//!
//! Amounts are written as **numbers** with the format `#,##0.00`, so staff can sum and filter
//! them. Excel stores numbers as IEEE doubles, so the writer has to hand it one: it computes
//! `fen as f64 / 100.0`. That is not a lossy shortcut: below 2^53 fen (90 trillion yuan) `fen as
//! f64` is exact, and IEEE division is correctly rounded, so the result is *the* double nearest
//! to the exact decimal amount — the very value Excel stores when someone types `1234.50` into a
//! cell (a test checks this against Rust's correctly rounded decimal parser). The exact value
//! remains the integer fen this table was built from; the double exists only inside the file.
//!
//! Large tables (tens of thousands of rows) are written in rust_xlsxwriter's *constant memory*
//! mode: each row goes to a temporary file as soon as it is written, so memory stays flat.
//! The temporary file is created in the report's own directory (`/tmp` may be a small tmpfs, or
//! private under systemd). That mode only allows writing rows top to bottom, which is exactly
//! what a report does.
//!
//! # CSV — for other programs, and for Excel
//! UTF-8 **with a byte-order mark** (`EF BB BF`) and CRLF line endings. The BOM is not decoration:
//! Excel opens a double-clicked `.csv` in the system's ANSI code page unless the file starts with
//! a BOM; on a Chinese Windows that code page is GBK (936), so UTF-8 Chinese comes out as mojibake
//! (`璧勫姪` instead of `资助`). With the BOM Excel reads UTF-8; the csv crate and most other
//! tools skip it. CRLF because that is what Excel and Windows tools write and expect.
//!
//! The first line is the header row (no title: a CSV is data, and a title line would break every
//! program that reads the header first); the totals row is the last line. Amounts are plain
//! `1234.50`, exact from fen, without thousands separators. A text cell that begins with `=`,
//! `+`, `-`, `@`, tab or carriage return gets a leading `'`: Excel would otherwise run it as a
//! formula (CSV injection), and names and details come from school files and bank messages.
//!
//! # HTML — to print or to mail
//! One self-contained UTF-8 page (`<meta charset="utf-8">`, `lang="zh-CN"`, inline CSS, no
//! scripts, no external resources), A4 landscape when printed, the header repeated on every page,
//! numbers right-aligned with thousands separators, the totals row bold. Every text is
//! HTML-escaped. The totals row is the last row of the body, not a `<tfoot>`: browsers repeat a
//! `<tfoot>` at the bottom of every printed page, which would put the grand total under page 1.

use super::ReportError;
use crate::domain::Fen;
use crate::files::Atomic;
use rust_xlsxwriter::{Color, Format, FormatAlign, FormatBorder, Workbook};
use std::borrow::Cow;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A report table. Rows may have fewer cells than there are columns (the rest is empty), never
/// more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The report's name, e.g. `资助发放异常清单`; also names the worksheet.
    pub title: String,
    /// A line under the title, e.g. `专户 … 生成时间 …`.
    pub subtitle: Option<String>,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    /// The last row, e.g. `合计`, written bold.
    pub totals: Option<Vec<Cell>>,
}

/// One column: its header and how its cells are shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub header: String,
    pub kind: ColumnKind,
    /// Width in Excel units (about one `0`); `None` computes it from the content.
    pub width: Option<f64>,
}

// `width` is an f64 but never NaN in practice; equality on it is only used in tests.
impl Eq for Column {}

impl Column {
    pub fn new(header: impl Into<String>, kind: ColumnKind) -> Column {
        Column { header: header.into(), kind, width: None }
    }

    pub fn with_width(mut self, width: f64) -> Column {
        self.width = Some(width);
        self
    }
}

/// How a column's cells are aligned and formatted. The value itself is the [`Cell`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Left-aligned text.
    Text,
    /// Right-aligned, two decimals, thousands separators where the format has them.
    Money,
    /// Right-aligned whole numbers.
    Integer,
    /// A date or time *as text* (`2026-09-01 10:00:00`), centred. Kept as text in every format:
    /// an ISO date sorts correctly as text, and the text is exactly what the source said.
    Date,
}

/// One value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Text(String),
    Money(Fen),
    Int(i64),
    Empty,
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }
}

impl Table {
    /// Refuses a row or totals row with more cells than there are columns.
    fn check(&self) -> Result<(), ReportError> {
        let n = self.columns.len();
        for (i, row) in self.rows.iter().enumerate() {
            if row.len() > n {
                return Err(ReportError::Invalid(format!("row {} has {} cells but the table has {n} columns", i + 1, row.len())));
            }
        }
        if let Some(t) = &self.totals
            && t.len() > n
        {
            return Err(ReportError::Invalid(format!("the totals row has {} cells but the table has {n} columns", t.len())));
        }
        Ok(())
    }

    /// The cells of `row` padded with [`Cell::Empty`] to the number of columns.
    fn padded<'a>(&'a self, row: &'a [Cell]) -> impl Iterator<Item = (&'a Column, &'a Cell)> + 'a {
        self.columns.iter().enumerate().map(move |(i, c)| (c, row.get(i).unwrap_or(&Cell::Empty)))
    }
}

/// Which file format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Xlsx,
    Csv,
    Html,
}

impl ReportFormat {
    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            ReportFormat::Xlsx => "xlsx",
            ReportFormat::Csv => "csv",
            ReportFormat::Html => "html",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// Yuan as a double, for Excel only: the double nearest to the exact amount (module doc).
fn yuan_f64(f: Fen) -> f64 {
    f.0 as f64 / 100.0
}

/// `1234567.50` → `1,234,567.50`: the amount as XLSX and HTML show it.
fn grouped(f: Fen) -> String {
    let plain = f.to_string();
    let (sign, rest) = plain.strip_prefix('-').map_or(("", plain.as_str()), |r| ("-", r));
    let (int, frac) = rest.split_once('.').unwrap_or((rest, ""));
    let mut out = String::with_capacity(plain.len() + int.len() / 3);
    out.push_str(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// East Asian wide and full-width characters take two width units in Excel and in print.
fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F        // Hangul Jamo
        | 0x2E80..=0x303E      // CJK radicals, punctuation (、。「」)
        | 0x3041..=0x33FF      // kana, CJK symbols
        | 0x3400..=0x4DBF      // CJK extension A
        | 0x4E00..=0x9FFF      // CJK unified ideographs
        | 0xA000..=0xA4CF      // Yi
        | 0xAC00..=0xD7A3      // Hangul syllables
        | 0xF900..=0xFAFF      // CJK compatibility ideographs
        | 0xFE30..=0xFE4F      // CJK compatibility forms
        | 0xFF00..=0xFF60      // full-width forms (（）：，)
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD) // extensions B–H (𠮷)
}

/// Display width in Excel units: a CJK character counts two.
fn display_width(s: &str) -> usize {
    s.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

const MIN_WIDTH: f64 = 6.0;
const MAX_WIDTH: f64 = 60.0;

/// The widest of the header and every cell as XLSX shows it, plus a little air.
fn column_widths(table: &Table) -> Vec<f64> {
    let mut widths: Vec<usize> = table.columns.iter().map(|c| display_width(&c.header)).collect();
    for row in table.rows.iter().chain(table.totals.iter()) {
        for (i, cell) in row.iter().enumerate().take(widths.len()) {
            let w = match cell {
                Cell::Text(s) => display_width(s),
                Cell::Money(f) => grouped(*f).len(),
                Cell::Int(n) => n.to_string().len(),
                Cell::Empty => 0,
            };
            widths[i] = widths[i].max(w);
        }
    }
    table.columns.iter().zip(widths).map(|(c, w)| c.width.unwrap_or_else(|| (w as f64 + 2.0).clamp(MIN_WIDTH, MAX_WIDTH))).collect()
}

/// A worksheet name from the title: Excel forbids `[]:*?/\`, a leading or trailing `'` and more
/// than 31 characters.
fn sheet_name(title: &str) -> String {
    let cleaned: String =
        title.chars().map(|c| if matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\') || c.is_control() { ' ' } else { c }).collect();
    let name: String = cleaned.trim().trim_matches('\'').trim().chars().take(31).collect();
    let name = name.trim_end().to_string();
    if name.is_empty() { "报表".to_string() } else { name }
}

// ---------------------------------------------------------------------------------------------
// XLSX

/// The cell formats of one workbook.
struct Formats {
    title: Format,
    subtitle: Format,
    header: Format,
    body: KindFormats,
    totals: KindFormats,
}

struct KindFormats {
    text: Format,
    date: Format,
    money: Format,
    int: Format,
}

impl KindFormats {
    fn new(bold: bool) -> KindFormats {
        let base = Format::new().set_border(FormatBorder::Thin).set_align(FormatAlign::VerticalCenter);
        let base = if bold { base.set_bold() } else { base };
        KindFormats {
            // Wrapped: a text longer than the widest column (60) grows the row instead of being cut.
            text: base.clone().set_text_wrap(),
            date: base.clone().set_align(FormatAlign::Center),
            money: base.clone().set_num_format("#,##0.00"),
            int: base.set_num_format("0"),
        }
    }

    /// The format for an empty or text cell, by the column's kind.
    fn for_column(&self, kind: ColumnKind) -> &Format {
        match kind {
            ColumnKind::Text => &self.text,
            ColumnKind::Date => &self.date,
            ColumnKind::Money => &self.money,
            ColumnKind::Integer => &self.int,
        }
    }
}

impl Formats {
    fn new() -> Formats {
        Formats {
            title: Format::new().set_bold().set_font_size(16).set_align(FormatAlign::Center).set_align(FormatAlign::VerticalCenter),
            subtitle: Format::new().set_align(FormatAlign::Center).set_align(FormatAlign::VerticalCenter),
            header: Format::new()
                .set_bold()
                .set_border(FormatBorder::Thin)
                .set_align(FormatAlign::Center)
                .set_align(FormatAlign::VerticalCenter)
                .set_background_color(Color::RGB(0xD9D9D9)),
            body: KindFormats::new(false),
            totals: KindFormats::new(true),
        }
    }
}

/// Builds the whole workbook; `tempdir` is where constant-memory mode buffers the rows.
fn build_workbook(table: &Table, tempdir: Option<&Path>) -> Result<Workbook, ReportError> {
    build_workbook_sheets(&[table], tempdir)
}

/// One workbook, one worksheet per table, in order.
fn build_workbook_sheets(tables: &[&Table], tempdir: Option<&Path>) -> Result<Workbook, ReportError> {
    let mut workbook = Workbook::new();
    if let Some(dir) = tempdir {
        workbook.set_tempdir(dir)?;
    }
    let formats = Formats::new();
    for table in tables {
        table.check()?;
        let ws = workbook.add_worksheet_with_constant_memory()?;
        fill_sheet(ws, table, &formats)?;
    }
    Ok(workbook)
}

/// Adds `table` to `workbook` as one more worksheet (in memory, not streamed: for the small
/// tables of a multi-sheet report, whose sheets may then carry charts). Returns the row of the
/// header, so a caller can point a chart at the data below it.
pub fn add_table_sheet(workbook: &mut Workbook, table: &Table) -> Result<u32, ReportError> {
    table.check()?;
    let formats = Formats::new();
    let ws = workbook.add_worksheet();
    fill_sheet(ws, table, &formats)
}

/// Title, subtitle, header, rows and totals of `table` on `ws`, laid out for print.
fn fill_sheet(ws: &mut rust_xlsxwriter::Worksheet, table: &Table, formats: &Formats) -> Result<u32, ReportError> {
    let widths = column_widths(table);
    ws.set_name(sheet_name(&table.title))?;
    ws.set_landscape();
    ws.set_paper_size(9); // A4
    ws.set_print_fit_to_pages(1, 0); // one page wide, as many tall as needed

    let ncols = table.columns.len();
    let last_col =
        u16::try_from(ncols.saturating_sub(1)).map_err(|_| ReportError::Invalid(format!("{ncols} columns are more than a worksheet holds")))?;
    // Column widths before any row: constant-memory mode streams rows as they come.
    for (i, w) in widths.iter().enumerate() {
        let col = u16::try_from(i).map_err(|_| ReportError::Invalid(format!("column {i} is beyond a worksheet")))?;
        ws.set_column_width(col, *w)?;
    }

    let mut r: u32 = 0;
    ws.set_row_height(r, 28)?;
    if ncols > 1 {
        ws.merge_range(r, 0, r, last_col, &table.title, &formats.title)?;
    } else {
        ws.write_string_with_format(r, 0, &table.title, &formats.title)?;
    }
    r += 1;
    if let Some(sub) = &table.subtitle {
        if ncols > 1 {
            ws.merge_range(r, 0, r, last_col, sub, &formats.subtitle)?;
        } else {
            ws.write_string_with_format(r, 0, sub, &formats.subtitle)?;
        }
        r += 1;
    }
    if ncols == 0 {
        return Ok(r);
    }

    let header_row = r;
    for (i, c) in table.columns.iter().enumerate() {
        ws.write_string_with_format(r, i as u16, &c.header, &formats.header)?;
    }
    ws.set_freeze_panes(header_row + 1, 0)?;
    ws.set_repeat_rows(header_row, header_row)?;
    r += 1;

    for row in &table.rows {
        write_xlsx_row(ws, r, table, row, &formats.body)?;
        r = r.checked_add(1).ok_or_else(|| ReportError::Invalid("too many rows for a worksheet".to_string()))?;
    }
    if !table.rows.is_empty() {
        ws.autofilter(header_row, 0, r - 1, last_col)?;
    }
    if let Some(totals) = &table.totals {
        write_xlsx_row(ws, r, table, totals, &formats.totals)?;
    }
    Ok(header_row)
}

fn write_xlsx_row(ws: &mut rust_xlsxwriter::Worksheet, r: u32, table: &Table, row: &[Cell], f: &KindFormats) -> Result<(), ReportError> {
    for (i, (col, cell)) in table.padded(row).enumerate() {
        let c = i as u16; // fits: checked against the column count in build_workbook
        match cell {
            Cell::Text(s) => ws.write_string_with_format(r, c, s, f.for_column(col.kind))?,
            Cell::Money(fen) => ws.write_number_with_format(r, c, yuan_f64(*fen), &f.money)?,
            // Exact below 2^53, far beyond any count or id in a report.
            Cell::Int(n) => ws.write_number_with_format(r, c, *n as f64, &f.int)?,
            Cell::Empty => ws.write_blank(r, c, f.for_column(col.kind))?,
        };
    }
    Ok(())
}

/// Writes the table as an XLSX workbook at `path` (see the module doc for the layout).
/// Not atomic; [`write_report`] is.
pub fn write_xlsx(table: &Table, path: &Path) -> Result<(), ReportError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let mut workbook = build_workbook(table, dir)?;
    workbook.save(path).map_err(|e| ReportError::Xlsx(format!("{}: {e}", path.display())))
}

// ---------------------------------------------------------------------------------------------
// CSV

/// The UTF-8 byte-order mark: tells Excel the file is UTF-8, not GBK (module doc).
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A text cell as CSV carries it: with a `'` in front if Excel would take it for a formula.
fn csv_text(s: &str) -> Cow<'_, [u8]> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { Cow::Owned(format!("'{s}").into_bytes()) } else { Cow::Borrowed(s.as_bytes()) }
}

fn csv_cell(cell: &Cell) -> Cow<'_, [u8]> {
    match cell {
        Cell::Text(s) => csv_text(s),
        Cell::Money(f) => Cow::Owned(f.to_string().into_bytes()),
        Cell::Int(n) => Cow::Owned(n.to_string().into_bytes()),
        Cell::Empty => Cow::Borrowed(b""),
    }
}

/// Writes the table as CSV: UTF-8 with BOM, CRLF, the header row first, the totals row last.
pub fn write_csv<W: Write>(table: &Table, mut out: W) -> Result<(), ReportError> {
    table.check()?;
    out.write_all(UTF8_BOM).map_err(ReportError::Write)?;
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out);
    w.write_record(table.columns.iter().map(|c| csv_text(&c.header)))?;
    for row in table.rows.iter().chain(table.totals.iter()) {
        w.write_record(table.padded(row).map(|(_, cell)| csv_cell(cell)))?;
    }
    w.flush().map_err(ReportError::Write)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// HTML

/// Escapes the five characters that mean something in HTML text and attribute values.
fn escape_html(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

const HTML_STYLE: &str = "\
@page { size: A4 landscape; margin: 12mm 10mm; }
body { font-family: \"Microsoft YaHei\", \"PingFang SC\", \"Noto Sans CJK SC\", \"Source Han Sans SC\", SimSun, sans-serif; font-size: 10.5pt; color: #000; margin: 0 auto; }
h1 { font-size: 16pt; text-align: center; margin: 0 0 4pt; }
p.subtitle { text-align: center; margin: 0 0 8pt; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #000; padding: 2pt 4pt; vertical-align: middle; }
th { background: #d9d9d9; font-weight: bold; text-align: center; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.date { text-align: center; white-space: nowrap; }
tr.totals td { font-weight: bold; }
";

fn td_class(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Money | ColumnKind::Integer => " class=\"num\"",
        ColumnKind::Date => " class=\"date\"",
        ColumnKind::Text => "",
    }
}

fn write_html_row<W: Write>(out: &mut W, table: &Table, row: &[Cell], class: &str) -> std::io::Result<()> {
    write!(out, "<tr{class}>")?;
    for (col, cell) in table.padded(row) {
        let cls = match cell {
            Cell::Money(_) | Cell::Int(_) => " class=\"num\"",
            // A label such as 合计 in a number column reads better left-aligned.
            Cell::Text(_) if col.kind != ColumnKind::Date => "",
            _ => td_class(col.kind),
        };
        match cell {
            Cell::Text(s) => write!(out, "<td{cls}>{}</td>", escape_html(s))?,
            Cell::Money(f) => write!(out, "<td{cls}>{}</td>", grouped(*f))?,
            Cell::Int(n) => write!(out, "<td{cls}>{n}</td>")?,
            Cell::Empty => write!(out, "<td{cls}></td>")?,
        }
    }
    out.write_all(b"</tr>\n")
}

/// Writes the table as one self-contained, printable UTF-8 HTML page.
pub fn write_html<W: Write>(table: &Table, out: W) -> Result<(), ReportError> {
    table.check()?;
    let mut out = BufWriter::new(out);
    write_html_inner(table, &mut out).map_err(ReportError::Write)?;
    out.flush().map_err(ReportError::Write)
}

/// The first table as [`write_html`] writes it, then each further one under its own heading.
pub fn write_html_sheets<W: Write>(table: &Table, more: &[Table], out: W) -> Result<(), ReportError> {
    table.check()?;
    let mut buf = Vec::new();
    write_html_inner(table, &mut buf).map_err(ReportError::Write)?;
    let mut html = String::from_utf8(buf).map_err(|e| ReportError::Invalid(e.to_string()))?;
    if !more.is_empty() {
        let end = html.rfind("</body>").unwrap_or(html.len());
        let mut extra = Vec::new();
        for t in more {
            html_table_section(&mut extra, t)?;
        }
        html.insert_str(end, &String::from_utf8_lossy(&extra));
    }
    let mut out = BufWriter::new(out);
    out.write_all(html.as_bytes()).map_err(ReportError::Write)?;
    out.flush().map_err(ReportError::Write)
}

/// The start of a printable page (doctype, style, `<h1>`), for reports of several tables.
pub fn html_page_start<W: Write>(out: &mut W, title: &str, extra_style: &str) -> std::io::Result<()> {
    let title = escape_html(title);
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>\n{HTML_STYLE}{extra_style}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
    )
}

/// One table of a multi-table page: its title as `<h2>`, its subtitle, the table.
pub fn html_table_section<W: Write>(out: &mut W, table: &Table) -> Result<(), ReportError> {
    table.check()?;
    writeln!(out, "<h2>{}</h2>", escape_html(&table.title)).and_then(|_| write_html_table(out, table)).map_err(ReportError::Write)
}

/// A table's subtitle and the table itself: header, rows, totals.
fn write_html_table<W: Write>(out: &mut W, table: &Table) -> std::io::Result<()> {
    if let Some(sub) = &table.subtitle {
        writeln!(out, "<p class=\"subtitle\">{}</p>", escape_html(sub))?;
    }
    out.write_all(b"<table>\n<thead><tr>")?;
    for c in &table.columns {
        write!(out, "<th>{}</th>", escape_html(&c.header))?;
    }
    out.write_all(b"</tr></thead>\n<tbody>\n")?;
    for row in &table.rows {
        write_html_row(out, table, row, "")?;
    }
    if let Some(totals) = &table.totals {
        write_html_row(out, table, totals, " class=\"totals\"")?;
    }
    out.write_all(b"</tbody>\n</table>\n")
}

/// HTML-escapes text for a page built outside this module.
pub fn html_escape(s: &str) -> String {
    escape_html(s).into_owned()
}

fn write_html_inner<W: Write>(table: &Table, out: &mut W) -> std::io::Result<()> {
    let title = escape_html(&table.title);
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>\n{HTML_STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
    )?;
    write_html_table(out, table)?;
    out.write_all(b"</body>\n</html>\n")
}

// ---------------------------------------------------------------------------------------------
// Writing a report file atomically

/// A plain file stem: not empty, no path separator or control character, not starting with `.`.
fn check_stem(stem: &str) -> Result<(), ReportError> {
    if stem.is_empty() || stem.starts_with('.') || stem.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
        return Err(ReportError::Invalid(format!("report file name {stem:?} must be a plain name without path separators, not starting with '.'")));
    }
    Ok(())
}

/// Writes `table` as `dir/stem.<ext>` and returns that path.
///
/// Atomic ([`crate::files::write_atomic_with`]): the bytes go to a hidden temporary file in the
/// same directory, which is synced and then renamed over the final name, so anyone opening the
/// report sees the previous version or the whole new one, never half a file. An existing report
/// of that name is replaced. On failure the temporary file is removed.
pub fn write_report(table: &Table, format: ReportFormat, dir: &Path, stem: &str) -> Result<PathBuf, ReportError> {
    write_report_sheets(table, &[], format, dir, stem)
}

/// As [`write_report`], with more tables after the first: further worksheets in XLSX, further
/// tables (each under its title) in HTML; CSV, one table per file, holds the first only.
pub fn write_report_sheets(table: &Table, more: &[Table], format: ReportFormat, dir: &Path, stem: &str) -> Result<PathBuf, ReportError> {
    check_stem(stem)?;
    table.check()?;
    for t in more {
        t.check()?;
    }
    let file_name = format!("{stem}.{}", format.extension());
    let final_path = dir.join(&file_name);
    // Reports name students: created 0600 whatever the umask.
    crate::files::write_atomic_with(&final_path, Atomic::replace(0o600), |file, temp| write_temp(table, more, format, dir, file, temp))?;
    Ok(final_path)
}

/// Writes `dir/file_name` atomically (as [`write_report`]) with whatever `write` puts into the
/// temporary file at the path it is given.
pub fn write_file_atomically(dir: &Path, file_name: &str, write: impl FnOnce(&Path) -> Result<(), ReportError>) -> Result<PathBuf, ReportError> {
    check_stem(file_name)?;
    fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.to_path_buf(), source })?;
    let final_path = dir.join(file_name);
    // Reports name students: private whatever the umask (the writer made the file).
    crate::files::write_atomic_with(&final_path, Atomic::replace(0o600), |_, temp| write(temp))?;
    Ok(final_path)
}

fn write_temp(table: &Table, more: &[Table], format: ReportFormat, dir: &Path, file: &mut fs::File, temp_path: &Path) -> Result<(), ReportError> {
    let io = |source| ReportError::Io { path: temp_path.to_path_buf(), source };
    let mut out = BufWriter::new(file);
    let written = match format {
        ReportFormat::Xlsx => {
            let all: Vec<&Table> = std::iter::once(table).chain(more.iter()).collect();
            build_workbook_sheets(&all, Some(dir))?.save_to_writer(&mut out).map_err(ReportError::from)
        }
        ReportFormat::Csv => write_csv(table, &mut out),
        ReportFormat::Html => write_html_sheets(table, more, &mut out),
    };
    // A writer error carries no path; here we know it.
    written.map_err(|e| match e {
        ReportError::Write(source) => io(source),
        other => other,
    })?;
    out.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader, Xlsx, open_workbook};
    use proptest::prelude::*;

    fn sample() -> Table {
        Table {
            title: "测试报表".to_string(),
            subtitle: Some("专户 测试 生成时间 2026-09-01 10:00:00".to_string()),
            columns: vec![
                Column::new("编号", ColumnKind::Integer),
                Column::new("说明", ColumnKind::Text),
                Column::new("金额", ColumnKind::Money),
                Column::new("日期", ColumnKind::Date),
            ],
            rows: vec![
                vec![Cell::Int(1), Cell::text("=1+1"), Cell::Money(Fen(123_456_789)), Cell::text("2026-09-01")],
                vec![Cell::Int(2), Cell::text("a,\"b\"\n第二行"), Cell::Money(Fen(-5))],
            ],
            totals: Some(vec![Cell::text("合计"), Cell::Empty, Cell::Money(Fen(123_456_784))]),
        }
    }

    fn read_sheet(path: &Path) -> (Vec<String>, Vec<Vec<Data>>) {
        let mut book: Xlsx<_> = open_workbook(path).expect("open xlsx");
        let names = book.sheet_names();
        let range = book.worksheet_range(&names[0]).expect("sheet");
        (names, range.rows().map(|r| r.to_vec()).collect())
    }

    #[test]
    fn widths_count_cjk_twice_and_respect_fixed_widths() {
        assert_eq!(display_width("资助abc"), 7);
        assert_eq!(display_width("（𠮷）"), 6);
        let mut t = sample();
        t.columns[0].width = Some(11.5);
        let w = column_widths(&t);
        assert_eq!(w[0], 11.5);
        assert_eq!(w[1], (display_width("a,\"b\"\n第二行") + 2) as f64);
        assert_eq!(w[2], ("1,234,567.89".len() + 2) as f64);
    }

    #[test]
    fn grouped_amounts() {
        assert_eq!(grouped(Fen(0)), "0.00");
        assert_eq!(grouped(Fen(99_999)), "999.99");
        assert_eq!(grouped(Fen(100_000)), "1,000.00");
        assert_eq!(grouped(Fen(123_456_789)), "1,234,567.89");
        assert_eq!(grouped(Fen(-123_456_789)), "-1,234,567.89");
    }

    #[test]
    fn sheet_names_follow_excel_rules() {
        assert_eq!(sheet_name("资助发放异常清单"), "资助发放异常清单");
        assert_eq!(sheet_name("a/b:c"), "a b c");
        assert_eq!(sheet_name("  '*' "), "报表");
        assert_eq!(sheet_name(&"长".repeat(40)).chars().count(), 31);
    }

    proptest! {
        /// The double the XLSX writer stores is the one Excel would parse from the typed decimal.
        #[test]
        fn yuan_double_is_the_nearest_to_the_decimal(fen in -(1i64 << 53)..(1i64 << 53)) {
            let parsed: f64 = Fen(fen).to_string().parse().expect("decimal");
            prop_assert_eq!(yuan_f64(Fen(fen)), parsed);
        }
    }

    #[test]
    fn csv_has_bom_crlf_injection_guard_and_exact_money() {
        let mut buf = Vec::new();
        write_csv(&sample(), &mut buf).unwrap();
        assert!(buf.starts_with(UTF8_BOM));
        let text = std::str::from_utf8(&buf[3..]).unwrap();
        assert!(text.starts_with("编号,说明,金额,日期\r\n"));
        assert!(text.ends_with("合计,,1234567.84,\r\n"));
        let records: Vec<csv::StringRecord> = csv::Reader::from_reader(&buf[3..]).records().collect::<Result<_, _>>().unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(&records[0][1], "'=1+1");
        assert_eq!(&records[0][2], "1234567.89");
        assert_eq!(&records[1][1], "a,\"b\"\n第二行");
        assert_eq!(&records[1][2], "-0.05");
        assert_eq!(&records[1][3], "", "missing cells are empty");
    }

    #[test]
    fn html_is_escaped_and_printable() {
        let mut t = sample();
        t.title = "<b>&".to_string();
        let mut buf = Vec::new();
        write_html(&t, &mut buf).unwrap();
        let html = String::from_utf8(buf).unwrap();
        assert!(html.contains("<html lang=\"zh-CN\">"));
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(html.contains("size: A4 landscape"));
        assert!(html.contains("<title>&lt;b&gt;&amp;</title>"));
        assert!(html.contains("<td class=\"num\">1,234,567.89</td>"));
        assert!(html.contains("<tr class=\"totals\"><td>合计</td>"));
        assert!(!html.contains("<tfoot"));
    }

    #[test]
    fn too_many_cells_are_refused_everywhere() {
        let mut t = sample();
        t.rows[0].push(Cell::Int(9));
        assert!(matches!(write_csv(&t, Vec::new()), Err(ReportError::Invalid(_))));
        assert!(matches!(write_html(&t, Vec::new()), Err(ReportError::Invalid(_))));
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(write_xlsx(&t, &dir.path().join("x.xlsx")), Err(ReportError::Invalid(_))));
        assert!(matches!(write_report(&t, ReportFormat::Csv, dir.path(), "x"), Err(ReportError::Invalid(_))));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn xlsx_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.xlsx");
        write_xlsx(&sample(), &path).unwrap();
        let (names, rows) = read_sheet(&path);
        assert_eq!(names, vec!["测试报表".to_string()]);
        assert_eq!(rows[0][0], Data::String("测试报表".into()));
        assert_eq!(rows[2][0], Data::String("编号".into()));
        assert_eq!(rows[3][1], Data::String("=1+1".into()), "a string stays a string in XLSX");
        assert_eq!(rows[3][2], Data::Float(1_234_567.89));
        assert_eq!(rows[4][2], Data::Float(-0.05));
        assert_eq!(rows[5][0], Data::String("合计".into()));
        assert_eq!(rows[5][2], Data::Float(1_234_567.84));

        let mut book: Xlsx<_> = open_workbook(&path).unwrap();
        let merged: Vec<_> = book.merge_cells_by_sheet_name("测试报表").unwrap().into_iter().map(|d| (d.start, d.end)).collect();
        assert!(merged.contains(&((0, 0), (0, 3))), "{merged:?}");
    }

    #[test]
    fn write_report_is_atomic_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        for format in [ReportFormat::Xlsx, ReportFormat::Csv, ReportFormat::Html] {
            let p = write_report(&sample(), format, dir.path(), "报表-2026").unwrap();
            assert_eq!(p, dir.path().join(format!("报表-2026.{}", format.extension())));
            let again = write_report(&sample(), format, dir.path(), "报表-2026").unwrap();
            assert_eq!(p, again);
        }
        let mut names: Vec<String> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        assert_eq!(names, vec!["报表-2026.csv", "报表-2026.html", "报表-2026.xlsx"]);
        let (_, rows) = read_sheet(&dir.path().join("报表-2026.xlsx"));
        assert_eq!(rows[5][2], Data::Float(1_234_567.84));
    }

    #[test]
    fn write_report_refuses_path_like_stems() {
        let dir = tempfile::tempdir().unwrap();
        for stem in ["", "../x", "a/b", ".hidden", "a\\b"] {
            assert!(matches!(write_report(&sample(), ReportFormat::Csv, dir.path(), stem), Err(ReportError::Invalid(_))), "{stem}");
        }
        let missing = dir.path().join("nope");
        assert!(matches!(write_report(&sample(), ReportFormat::Html, &missing, "x"), Err(ReportError::Io { .. })));
    }

    #[test]
    fn large_table_in_constant_memory() {
        let rows = 30_000;
        let t = Table {
            title: "大表".to_string(),
            subtitle: None,
            columns: vec![Column::new("编号", ColumnKind::Integer), Column::new("姓名", ColumnKind::Text), Column::new("金额", ColumnKind::Money)],
            rows: (0..rows).map(|i| vec![Cell::Int(i), Cell::Text(format!("学生{i}")), Cell::Money(Fen(i * 7 + 1))]).collect(),
            totals: Some(vec![Cell::text("合计"), Cell::Empty, Cell::Money(Fen((0..rows).map(|i| i * 7 + 1).sum()))]),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = write_report(&t, ReportFormat::Xlsx, dir.path(), "big").unwrap();
        let (_, data) = read_sheet(&path);
        assert_eq!(data.len(), 1 + 1 + rows as usize + 1);
        assert_eq!(data[1 + rows as usize][1], Data::String(format!("学生{}", rows - 1)));
        let total: i64 = (0..rows).map(|i| i * 7 + 1).sum();
        assert_eq!(data.last().unwrap()[2], Data::Float(yuan_f64(Fen(total))));
    }

    #[test]
    fn format_extensions() {
        assert_eq!(ReportFormat::Xlsx.extension(), "xlsx");
        assert_eq!(ReportFormat::Csv.extension(), "csv");
        assert_eq!(ReportFormat::Html.extension(), "html");
    }
}
