//! One data row of a grant list → a [`NewGrant`], or the column and reason it cannot be read.
//!
//! "Cannot be read" means the row cannot become a grant at all (no grant id, an amount that is
//! no number, an unknown stage). A row that reads but breaks a payment rule (a bad check digit,
//! say) is not an error here: it becomes a held grant with an exception.

use super::columns::{Column, HeaderMap};
use crate::domain::grant::NewGrant;
use crate::domain::name::{normalize_name, to_half_width};
use crate::domain::{Fen, Priority, Stage, Tier};
use chrono::NaiveDate;

/// A data row as read from the file: cells in file order, with any cell the reader could not
/// take faithfully (bad bytes for the encoding, a card number Excel turned into a float).
#[derive(Debug, Clone, Default)]
pub struct RawRow {
    /// 1-based line (CSV) or row (XLSX) number in the file.
    pub line: u64,
    pub cells: Vec<String>,
    pub problems: Vec<(usize, String)>,
    /// A cell the reader cut at its bound (the cell's position and why): the row is rejected
    /// whichever column it is in, known or not.
    pub cut: Option<(usize, String)>,
}

impl RawRow {
    pub fn is_blank(&self) -> bool {
        self.cells.iter().all(|c| c.trim().is_empty())
    }
}

/// Why a row was rejected: the column (as headed in the file) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub column: String,
    pub reason: String,
}

struct Cells<'a> {
    map: &'a HeaderMap,
    row: &'a RawRow,
}

impl Cells<'_> {
    fn err(&self, c: Column, reason: impl Into<String>) -> RowError {
        RowError { column: self.map.header_of(c), reason: reason.into() }
    }

    /// The trimmed text of a column ("" when the column is absent or the row is short), at
    /// most [`max_chars`] characters.
    fn text(&self, c: Column) -> Result<String, RowError> {
        let Some(i) = self.map.position(c) else { return Ok(String::new()) };
        if let Some((_, why)) = self.row.problems.iter().find(|(p, _)| *p == i) {
            return Err(self.err(c, why.clone()));
        }
        let text = self.row.cells.get(i).map(|s| s.trim()).unwrap_or_default();
        let max = max_chars(c);
        let n = text.chars().count();
        if n > max {
            return Err(self.err(c, format!("超过 {max} 个字符（此单元格有 {n} 个字符），请检查")));
        }
        Ok(text.to_string())
    }

    fn required(&self, c: Column) -> Result<String, RowError> {
        let t = self.text(c)?;
        if t.is_empty() {
            return Err(self.err(c, "为空"));
        }
        Ok(t)
    }
}

/// The most characters a cell of each column may hold (trimmed; spaces inside ID and card
/// numbers count): far above any real value, so a longer cell is a wrong file or a wrong column,
/// and no single field can make a stored grant, an exception or a report line large.
pub fn max_chars(c: Column) -> usize {
    match c {
        Column::GrantId => 64,
        Column::Name | Column::CardHolder => 50,
        Column::IdNumber | Column::CardNumber => 40,
        Column::SchoolCode | Column::Grade | Column::Period | Column::Amount | Column::NoticeEnd => 32,
        Column::Stage | Column::Tier => 16,
        Column::SchoolName | Column::Priority => 100,
        Column::Program | Column::Bank => 64,
    }
}

/// Parses one row.
pub fn parse_row(map: &HeaderMap, row: &RawRow) -> Result<NewGrant, RowError> {
    let cells = Cells { map, row };
    if let Some((i, why)) = &row.cut {
        let column = map.headers.get(*i).cloned().unwrap_or_else(|| format!("第 {} 列", i + 1));
        return Err(RowError { column, reason: why.clone() });
    }
    if row.cells.len() < map.headers.len() && map.headers.len() - row.cells.len() > 1 {
        // One missing trailing cell is usually an empty last column; more is a broken row.
        let last = Column::ALL.into_iter().filter_map(|c| map.position(c).map(|p| (p, c))).max_by_key(|x| x.0);
        if let Some((_, c)) = last.filter(|(p, _)| *p >= row.cells.len()) {
            return Err(cells.err(c, format!("该行有 {} 列，表头有 {} 列", row.cells.len(), map.headers.len())));
        }
    }
    let grant_id = cells.required(Column::GrantId)?;
    if grant_id.chars().count() > 64 || grant_id.chars().any(char::is_control) {
        return Err(cells.err(Column::GrantId, "不能超过 64 个可打印字符"));
    }
    let name = normalize_name(&cells.required(Column::Name)?);
    let id_number: String = to_half_width(&cells.required(Column::IdNumber)?)
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let school_code = cells.required(Column::SchoolCode)?;
    let school_name = cells.required(Column::SchoolName)?;
    let stage_text = cells.required(Column::Stage)?;
    let stage = Stage::parse(&stage_text)
        .ok_or_else(|| cells.err(Column::Stage, format!("“{stage_text}”不是学段（学前、小学、初中、高中、中职、高等）")))?;
    let grade = cells.text(Column::Grade)?;
    let program = cells.required(Column::Program)?;
    let tier_text = cells.required(Column::Tier)?;
    let tier = Tier::parse(&tier_text)
        .ok_or_else(|| cells.err(Column::Tier, format!("“{tier_text}”不是资助档次（一般困难、困难、特别困难）")))?;
    let priority = Priority::parse_list(&cells.text(Column::Priority)?).map_err(|word| {
        cells.err(Column::Priority, format!("“{word}”不是重点保障类别（建档立卡、农村低保、残疾、烈士子女、特困供养、灾害）"))
    })?;
    let period = to_half_width(&cells.required(Column::Period)?).split_whitespace().collect::<String>();
    let amount = Fen::parse_yuan(&cells.required(Column::Amount)?).map_err(|e| cells.err(Column::Amount, e.to_string()))?;
    let card_holder = normalize_name(&cells.required(Column::CardHolder)?);
    let card_number: String = to_half_width(&cells.required(Column::CardNumber)?)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    let bank = cells.required(Column::Bank)?;
    let notice_text = cells.required(Column::NoticeEnd)?;
    let notice_end = parse_date(&notice_text)
        .ok_or_else(|| cells.err(Column::NoticeEnd, format!("“{notice_text}”不是日期（应写作 2026-10-20 这样的年-月-日）")))?;
    Ok(NewGrant {
        grant_id,
        name,
        id_number,
        school_code,
        school_name,
        stage,
        grade,
        program,
        tier,
        priority,
        period,
        amount,
        card_holder,
        card_number,
        bank,
        notice_end,
    })
}

/// `2026-10-01`, `2026/10/1`, `2026.10.01`, `20261001`, `2026年10月1日`, with or without a time.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let t = to_half_width(text);
    let t = t.trim();
    let date_part = t.split([' ', 'T']).next().unwrap_or(t);
    let unified: String = date_part
        .replace(['年', '月', '/', '.'], "-")
        .trim_end_matches('日')
        .to_string();
    NaiveDate::parse_from_str(&unified, "%Y-%m-%d")
        .ok()
        .or_else(|| NaiveDate::parse_from_str(&unified, "%Y%m%d").ok())
        .filter(|d| d.format("%Y").to_string().len() == 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: [&str; 16] = [
        "资助编号", "姓名", "身份证号", "学校代码", "学校名称", "学段", "年级", "资助项目", "资助档次", "重点保障类别", "学期",
        "金额", "持卡人", "卡号", "开户银行", "公示截止日期",
    ];

    fn row(cells: &[&str]) -> RawRow {
        RawRow { line: 2, cells: cells.iter().map(|s| s.to_string()).collect(), problems: vec![], cut: None }
    }

    fn good() -> Vec<&'static str> {
        vec![
            "G-1", "张 三", "11010519491231002x", "S01", "一中", "高中", "高一", "国家助学金", "一般困难", "建档立卡；残疾", "2026秋",
            "1,000.50", "张三", "6222 0212 3456 7890 128", "中国银行", "2026/10/8",
        ]
    }

    fn map() -> HeaderMap {
        HeaderMap::from_headers(HEAD.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    #[test]
    fn a_good_row_is_normalised() {
        let g = parse_row(&map(), &row(&good())).unwrap();
        assert_eq!(g.name, "张三");
        assert_eq!(g.id_number, "11010519491231002X");
        assert_eq!(g.card_number, "6222021234567890128");
        assert_eq!(g.amount, Fen(100_050));
        assert_eq!(g.priority, vec![Priority::RegisteredPoor, Priority::Disabled]);
        assert_eq!(g.notice_end, NaiveDate::from_ymd_opt(2026, 10, 8).unwrap());
    }

    #[test]
    fn unreadable_fields_name_the_column() {
        for (i, value, column) in [
            (0, "", "资助编号"),
            (5, "大学", "学段"),
            (8, "很困难", "资助档次"),
            (9, "富裕", "重点保障类别"),
            (11, "一千", "金额"),
            (11, "10.001", "金额"),
            (15, "下周", "公示截止日期"),
        ] {
            let mut cells = good();
            cells[i] = value;
            let e = parse_row(&map(), &row(&cells)).unwrap_err();
            assert_eq!(e.column, column, "{value}: {e:?}");
        }
    }

    #[test]
    fn a_cell_problem_from_the_reader_rejects_the_row() {
        let mut r = row(&good());
        r.problems.push((13, "卡号在表格中存成了数字".into()));
        assert_eq!(parse_row(&map(), &r).unwrap_err().column, "卡号");
    }

    #[test]
    fn short_rows_are_rejected() {
        let e = parse_row(&map(), &row(&good()[..10])).unwrap_err();
        assert!(e.reason.contains("该行有 10 列"), "{e:?}");
    }

    #[test]
    fn dates_in_the_usual_spellings() {
        let d = NaiveDate::from_ymd_opt(2026, 10, 1);
        for t in ["2026-10-01", "2026/10/1", "2026.10.01", "20261001", "2026年10月1日", "2026-10-01 00:00:00"] {
            assert_eq!(parse_date(t), d, "{t}");
        }
        assert_eq!(parse_date("2026-13-01"), None);
    }
}
