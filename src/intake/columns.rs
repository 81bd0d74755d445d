//! The columns of a grant list (INTERFACES.md): Chinese names from school ledger exports or
//! the English names, in any order; extra columns ignored.

use crate::domain::name::to_half_width;

/// A known column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    GrantId,
    Name,
    IdNumber,
    SchoolCode,
    SchoolName,
    Stage,
    Grade,
    Program,
    Tier,
    Priority,
    Period,
    Amount,
    CardHolder,
    CardNumber,
    Bank,
    NoticeEnd,
}

impl Column {
    pub const ALL: [Column; 16] = [
        Column::GrantId,
        Column::Name,
        Column::IdNumber,
        Column::SchoolCode,
        Column::SchoolName,
        Column::Stage,
        Column::Grade,
        Column::Program,
        Column::Tier,
        Column::Priority,
        Column::Period,
        Column::Amount,
        Column::CardHolder,
        Column::CardNumber,
        Column::Bank,
        Column::NoticeEnd,
    ];

    /// The Chinese name, as used in messages.
    pub fn zh(self) -> &'static str {
        self.names()[0]
    }

    /// Accepted header texts: the INTERFACES.md names first, then common variants.
    fn names(self) -> &'static [&'static str] {
        match self {
            Column::GrantId => &["资助编号", "grant_id"],
            Column::Name => &["姓名", "name", "学生姓名"],
            Column::IdNumber => &["身份证号", "id_number", "身份证号码", "证件号码"],
            Column::SchoolCode => &["学校代码", "school_code", "学校标识码"],
            Column::SchoolName => &["学校名称", "school_name", "学校"],
            Column::Stage => &["学段", "stage"],
            Column::Grade => &["年级", "grade"],
            Column::Program => &["资助项目", "program", "项目"],
            Column::Tier => &["资助档次", "tier", "档次", "困难程度"],
            Column::Priority => &["重点保障类别", "priority", "重点保障"],
            Column::Period => &["学期", "period"],
            Column::Amount => &["金额", "amount", "资助金额", "金额(元)", "金额（元）"],
            Column::CardHolder => &["持卡人", "card_holder", "持卡人姓名"],
            Column::CardNumber => &["卡号", "card_number", "银行卡号", "资助卡号"],
            Column::Bank => &["开户银行", "bank", "开户行"],
            Column::NoticeEnd => &["公示截止日期", "notice_end", "公示截止日"],
        }
    }

    /// Grade and priority may be left out of a file; everything else is needed to pay.
    pub fn required(self) -> bool {
        !matches!(self, Column::Grade | Column::Priority)
    }

    /// The column a header cell names, if any.
    pub fn from_header(text: &str) -> Option<Column> {
        let t: String = to_half_width(text.trim_start_matches('\u{feff}'))
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '*')
            .collect::<String>()
            .to_lowercase()
            .replace(['(', ')'], "");
        Column::ALL.into_iter().find(|c| {
            c.names().iter().any(|n| to_half_width(n).to_lowercase().replace(['(', ')'], "") == t)
        })
    }
}

/// Where each known column sits in the file's rows.
#[derive(Debug, Clone)]
pub struct HeaderMap {
    index: [Option<usize>; 16],
    pub headers: Vec<String>,
}

/// What is wrong with a header row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("表头缺少必需的列：{0}")]
    Missing(String),
    #[error("表头中“{0}”列出现了两次")]
    Twice(String),
    #[error("文件为空（没有表头行）")]
    Empty,
}

impl HeaderMap {
    pub fn from_headers(headers: Vec<String>) -> Result<HeaderMap, HeaderError> {
        if headers.iter().all(|h| h.trim().is_empty()) {
            return Err(HeaderError::Empty);
        }
        let mut index = [None; 16];
        for (i, h) in headers.iter().enumerate() {
            if let Some(c) = Column::from_header(h) {
                let slot = &mut index[c as usize];
                if slot.is_some() {
                    return Err(HeaderError::Twice(c.zh().to_string()));
                }
                *slot = Some(i);
            }
        }
        let missing: Vec<&str> = Column::ALL
            .into_iter()
            .filter(|c| c.required() && index[*c as usize].is_none())
            .map(|c| c.zh())
            .collect();
        if !missing.is_empty() {
            return Err(HeaderError::Missing(missing.join(", ")));
        }
        Ok(HeaderMap { index, headers })
    }

    /// The position of a column in a row.
    pub fn position(&self, c: Column) -> Option<usize> {
        self.index[c as usize]
    }

    /// The header text the file uses for a column (for messages naming the column).
    pub fn header_of(&self, c: Column) -> String {
        self.position(c).and_then(|i| self.headers.get(i)).map(|h| h.trim().trim_start_matches('\u{feff}').to_string()).unwrap_or_else(|| c.zh().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn chinese_english_and_variants_map() {
        assert_eq!(Column::from_header("\u{feff}资助编号"), Some(Column::GrantId));
        assert_eq!(Column::from_header(" Card_Number "), Some(Column::CardNumber));
        assert_eq!(Column::from_header("金额（元）"), Some(Column::Amount));
        assert_eq!(Column::from_header("备注"), None);
    }

    #[test]
    fn missing_and_doubled_columns_are_named() {
        let e = HeaderMap::from_headers(hs(&["资助编号", "姓名"])).unwrap_err();
        assert!(matches!(e, HeaderError::Missing(ref m) if m.contains("身份证号") && m.contains("卡号")));
        let mut all: Vec<String> = Column::ALL.iter().map(|c| c.zh().to_string()).collect();
        all.push("name".into());
        assert_eq!(HeaderMap::from_headers(all).unwrap_err(), HeaderError::Twice("姓名".into()));
    }
}
