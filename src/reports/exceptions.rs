//! The exception report (资助发放异常清单): every open exception, one line each, in the words
//! finance staff use — what the problem is (问题), why (原因), and what to do (建议处理).
//!
//! The input is a plain [`ExceptionReportRow`], not a store type: the caller builds it from
//! whatever query it runs (the work list joined with grants for school and student, say), and
//! hands in the **full** card number; this module masks it (`6222 **** **** 1234`), so no caller
//! can forget to. A detail text is expected to be masked already where it is raised; as a second
//! line of defence, an occurrence of the row's own card number in it is masked here too.
//!
//! Amounts are integer fen ([`Fen`]) all the way: the 合计 line is the exact integer sum,
//! converted to yuan only by the writers (see [`super::table`]).

use super::table::{Cell, Column, ColumnKind, Table};
use crate::domain::Fen;
use crate::domain::card::mask_card;
use crate::domain::id_number::mask_id;
use crate::domain::reason::describe_zh;
use crate::exceptions::ExceptionKind;

/// The report's title, also the worksheet name.
pub const TITLE: &str = "资助发放异常清单";
/// The second sheet: what was resolved in the period.
pub const RESOLVED_TITLE: &str = "本期已处理异常";

/// One exception as the report needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExceptionReportRow {
    pub id: i64,
    pub kind: Option<ExceptionKind>,
    /// 资助编号 (empty for account-level exceptions such as an unknown debit).
    pub grant_id: String,
    /// 学校 (the school's name; empty for account-level exceptions).
    pub school: String,
    /// 姓名
    pub student: String,
    /// The full ID number; the report shows it masked.
    pub id_number: Option<String>,
    /// 资助项目 and 学期.
    pub program: String,
    pub period: String,
    /// The full card number; the report shows it masked.
    pub card_number: Option<String>,
    pub amount: Option<Fen>,
    /// ISO 20022 reason code (AC04, BE01, …), when the bank or a rule gave one.
    pub reason_code: Option<String>,
    /// Human text, card and ID numbers masked (as raised).
    pub detail: String,
    /// When the exception was raised: RFC 3339 as the store keeps it, or any text.
    pub created_at: String,
    /// 来源文件 and 行号: the grant list and line the grant came from.
    pub source_file: String,
    pub source_line: Option<i64>,
    /// For the resolved sheet: how (`reissue`, `cancel`, `accept`), the note, who, when.
    pub resolution: String,
    pub note: String,
    pub resolved_by: String,
    pub resolved_at: String,
}

/// The column headers, in order.
pub const HEADERS: [&str; 15] =
    ["编号", "资助编号", "学校", "姓名", "身份证号", "资助项目", "学期", "金额", "卡号", "问题", "原因", "建议处理", "来源文件", "行号", "发现时间"];
/// Where the amount is (subtotals and totals).
const AMOUNT: usize = 7;
const SCHOOL: usize = 2;

const KINDS: [ColumnKind; 15] = [
    ColumnKind::Integer,
    ColumnKind::Text,
    ColumnKind::Text,
    ColumnKind::Text,
    ColumnKind::Text,
    ColumnKind::Text,
    ColumnKind::Text,
    ColumnKind::Money,
    ColumnKind::Text,
    ColumnKind::Text,
    ColumnKind::Text,
    ColumnKind::Text,
    ColumnKind::Text,
    ColumnKind::Integer,
    ColumnKind::Date,
];

/// The resolved sheet's headers.
pub const RESOLVED_HEADERS: [&str; 10] = ["编号", "资助编号", "学校", "姓名", "金额", "问题", "处理方式", "处理说明", "处理人", "处理时间"];

fn kind_label(r: &ExceptionReportRow) -> &'static str {
    r.kind.map(|k| k.label_zh()).unwrap_or("其他")
}

/// The exception report: rows by school, then id, each school closed by a 小计 line (its count
/// and amount); a 合计 line with the number of exceptions (`共 3 条`, under 学校) and the exact
/// sum of their amounts (under 金额). `account_name` and `generated_at` go into the subtitle.
pub fn exception_table(rows: &[ExceptionReportRow], account_name: &str, generated_at: &str) -> Table {
    let mut sorted: Vec<&ExceptionReportRow> = rows.iter().collect();
    sorted.sort_by(|a, b| a.school.cmp(&b.school).then(a.id.cmp(&b.id)));

    let mut lines = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let school = &sorted[i].school;
        let group: Vec<&ExceptionReportRow> = sorted[i..].iter().take_while(|r| &r.school == school).copied().collect();
        i += group.len();
        let sum: Fen = group.iter().filter_map(|r| r.amount).sum();
        lines.extend(group.iter().map(|r| report_line(r)));
        let mut sub = vec![Cell::Empty; HEADERS.len()];
        sub[0] = Cell::text("小计");
        sub[SCHOOL] = Cell::Text(if school.trim().is_empty() { "（专户）".into() } else { school.trim().to_string() });
        sub[3] = Cell::Text(format!("共 {} 条", group.len()));
        sub[AMOUNT] = Cell::Money(sum);
        lines.push(sub);
    }

    let total: Fen = rows.iter().filter_map(|r| r.amount).sum();
    let mut totals = vec![Cell::Empty; HEADERS.len()];
    totals[0] = Cell::text("合计");
    totals[SCHOOL] = Cell::Text(format!("共 {} 条", rows.len()));
    totals[AMOUNT] = Cell::Money(total);

    Table {
        title: TITLE.to_string(),
        subtitle: Some(format!("专户 {account_name}    生成时间 {generated_at}")),
        columns: HEADERS.iter().zip(KINDS).map(|(h, k)| Column::new(*h, k)).collect(),
        rows: lines,
        totals: Some(totals),
    }
}

/// How an exception was resolved, in words.
pub fn resolution_zh(resolution: &str) -> &str {
    use crate::domain::LabelZh;
    crate::domain::Resolution::parse(resolution).map_or(resolution, |r| r.label_zh())
}

/// The second sheet: every exception resolved in the period, oldest first — by whom and how.
pub fn resolved_table(rows: &[ExceptionReportRow], period: &str) -> Table {
    let total: Fen = rows.iter().filter_map(|r| r.amount).sum();
    let mut totals = vec![Cell::Empty; RESOLVED_HEADERS.len()];
    totals[0] = Cell::text("合计");
    totals[2] = Cell::Text(format!("共 {} 条", rows.len()));
    totals[4] = Cell::Money(total);
    let text_or_empty = |s: &str| {
        if s.trim().is_empty() { Cell::Empty } else { Cell::text(s.trim()) }
    };
    let kinds = [
        ColumnKind::Integer,
        ColumnKind::Text,
        ColumnKind::Text,
        ColumnKind::Text,
        ColumnKind::Money,
        ColumnKind::Text,
        ColumnKind::Text,
        ColumnKind::Text,
        ColumnKind::Text,
        ColumnKind::Date,
    ];
    Table {
        title: RESOLVED_TITLE.to_string(),
        subtitle: Some(format!("统计期间 {period}")),
        columns: RESOLVED_HEADERS.iter().zip(kinds).map(|(h, k)| Column::new(*h, k)).collect(),
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    Cell::Int(r.id),
                    text_or_empty(&r.grant_id),
                    text_or_empty(&r.school),
                    text_or_empty(&r.student),
                    r.amount.map_or(Cell::Empty, Cell::Money),
                    Cell::text(kind_label(r)),
                    text_or_empty(resolution_zh(&r.resolution)),
                    text_or_empty(&r.note),
                    text_or_empty(&r.resolved_by),
                    text_or_empty(&display_time(&r.resolved_at)),
                ]
            })
            .collect(),
        totals: Some(totals),
    }
}

fn report_line(r: &ExceptionReportRow) -> Vec<Cell> {
    let text_or_empty = |s: &str| {
        if s.trim().is_empty() { Cell::Empty } else { Cell::text(s.trim()) }
    };
    vec![
        Cell::Int(r.id),
        text_or_empty(&r.grant_id),
        text_or_empty(&r.school),
        text_or_empty(&r.student),
        r.id_number.as_deref().map_or(Cell::Empty, |n| Cell::Text(mask_id(n))),
        text_or_empty(&r.program),
        text_or_empty(&r.period),
        r.amount.map_or(Cell::Empty, Cell::Money),
        r.card_number.as_deref().map_or(Cell::Empty, |c| Cell::Text(mask_card(c))),
        Cell::text(kind_label(r)),
        text_or_empty(&reason(r)),
        Cell::text(suggestion(r)),
        text_or_empty(&r.source_file),
        r.source_line.map_or(Cell::Empty, Cell::Int),
        text_or_empty(&display_time(&r.created_at)),
    ]
}

/// 建议处理: by the bank's reason where there is one — a closed account needs a new card, not
/// a corrected name — else by the kind of problem.
pub fn suggestion(r: &ExceptionReportRow) -> &'static str {
    let code = r.reason_code.as_deref().map(|c| c.trim().to_ascii_uppercase());
    match code.as_deref() {
        Some("AC04") => "该卡已销户：请学生办理新的资助卡，更换卡号后重新发放（更正户名无用）",
        Some("AC06") => "账户已冻结：请学生到开户行解冻，或换新卡后重新发放",
        Some("AC01" | "AC02" | "AC03") => "卡号错误：请学校核对卡号，更正后重新发放",
        Some("BE01") => "户名不符：请核对持卡人姓名（须与开户名一致），更正户名后重新发放",
        Some("AG01") => "该卡不能收款：请学生到银行开通或更换资助卡后重新发放",
        _ => r.kind.map(|k| k.suggestion_zh()).unwrap_or("请核实后处理"),
    }
}

/// 原因, said once: the reason code with its words, or the detail when it already says them;
/// without the source file and line (their own columns) and the card (its own column).
fn reason(r: &ExceptionReportRow) -> String {
    let mut detail = scrub_card(r.detail.trim(), r.card_number.as_deref());
    if let Some(line) = r.source_line {
        let prefix = format!("{} 第 {line} 行: ", r.source_file);
        if let Some(rest) = detail.strip_prefix(&prefix) {
            detail = rest.to_string();
        }
    }
    if let Some(i) = detail.find("；卡号 ") {
        detail.truncate(i);
    }
    let detail = detail.trim().to_string();
    match r.reason_code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(code) => {
            let code = code.to_ascii_uppercase();
            let words = describe_zh(&code);
            if detail.contains(&code) {
                detail
            } else if detail.is_empty() || words.contains(detail.as_str()) {
                format!("{code} {words}")
            } else {
                // The code says what kind of reason; the detail which batch, which balance.
                format!("{code} {words} — {detail}")
            }
        }
        None => detail,
    }
}

/// Masks every occurrence of `card` (its digits, spaces ignored) in `text`.
fn scrub_card(text: &str, card: Option<&str>) -> String {
    let Some(card) = card else {
        return text.to_string();
    };
    let digits: String = card.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() < 8 || !text.contains(&digits) {
        return text.to_string();
    }
    text.replace(&digits, &mask_card(&digits))
}

/// `2026-09-01T10:00:00+08:00` → `2026-09-01 10:00:00` (the time where it was recorded); any
/// other text unchanged.
fn display_time(s: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(s.trim()).map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|_| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::table::{ReportFormat, UTF8_BOM, write_csv, write_report, write_xlsx};
    use calamine::{Data, Reader, Xlsx, open_workbook};

    const CARD_1: &str = "6222021234567890128";
    const CARD_2: &str = "6217000010001234569";

    fn rows() -> Vec<ExceptionReportRow> {
        vec![
            ExceptionReportRow {
                id: 7,
                kind: Some(ExceptionKind::BankReturned),
                grant_id: "2026Q-0007".into(),
                school: "第二中学".into(),
                student: "买买提·艾力".into(),
                id_number: Some("650102200901011234".into()),
                program: "国家助学金".into(),
                period: "2026秋".into(),
                card_number: Some(CARD_2.into()),
                amount: Some(Fen(115_000)),
                reason_code: Some("ac04".into()),
                detail: "退票".into(),
                created_at: "2026-09-03T09:30:00+08:00".into(),
                source_file: "二中.csv".into(),
                source_line: Some(3),
                ..Default::default()
            },
            ExceptionReportRow {
                id: 2,
                kind: Some(ExceptionKind::InvalidCard),
                grant_id: "2026Q-0002".into(),
                school: "第一小学".into(),
                student: "李四".into(),
                card_number: Some(CARD_1.into()),
                amount: Some(Fen(31_250)),
                reason_code: None,
                detail: format!("一小.csv 第 9 行: 卡号 {CARD_1} 校验位错误 <script>alert(1)</script>"),
                created_at: "2026-09-02T08:00:00+08:00".into(),
                source_file: "一小.csv".into(),
                source_line: Some(9),
                ..Default::default()
            },
            ExceptionReportRow {
                id: 1,
                kind: Some(ExceptionKind::BankRejected),
                grant_id: "2026Q-0001".into(),
                school: "第一小学".into(),
                student: "张三".into(),
                card_number: Some(CARD_1.into()),
                amount: Some(Fen(75_000)),
                reason_code: Some("BE01".into()),
                detail: "AP000000000001: BE01 户名不符（户名不符）；卡号 6222 **** **** 0128".into(),
                created_at: "not a time".into(),
                ..Default::default()
            },
        ]
    }

    fn table() -> Table {
        exception_table(&rows(), "某区学生资助专户", "2026-09-04 10:00:00")
    }

    fn as_text(d: &Data) -> String {
        match d {
            Data::String(s) => s.clone(),
            Data::Float(f) => f.to_string(),
            Data::Int(i) => i.to_string(),
            Data::Empty => String::new(),
            other => format!("{other:?}"),
        }
    }

    fn read_xlsx(path: &std::path::Path) -> (Vec<String>, Vec<Vec<Data>>) {
        let mut book: Xlsx<_> = open_workbook(path).expect("open xlsx");
        let names = book.sheet_names();
        let range = book.worksheet_range(&names[0]).expect("sheet");
        (names, range.rows().map(|r| r.to_vec()).collect())
    }

    #[test]
    fn rows_are_sorted_masked_explained_once_and_subtotalled_per_school() {
        let t = table();
        assert_eq!(t.title, "资助发放异常清单");
        let firsts: Vec<&Cell> = t.rows.iter().map(|r| &r[0]).collect();
        assert_eq!(
            firsts,
            vec![&Cell::Int(1), &Cell::Int(2), &Cell::text("小计"), &Cell::Int(7), &Cell::text("小计")],
            "第一小学 before 第二中学, then by id"
        );
        let first = &t.rows[0];
        assert_eq!(first[1], Cell::text("2026Q-0001"));
        assert_eq!(first[8], Cell::text("6222 **** **** 0128"));
        assert_eq!(first[9], Cell::text("银行拒绝"));
        assert_eq!(first[10], Cell::text("AP000000000001: BE01 户名不符（户名不符）"), "the reason once, the card in its own column");
        assert_eq!(first[11], Cell::text(suggestion(&rows()[2])));
        assert!(matches!(&first[11], Cell::Text(s) if s.contains("更正户名")));
        assert_eq!(first[14], Cell::text("not a time"));
        assert_eq!(t.rows[1][10], Cell::text("卡号 6222 **** **** 0128 校验位错误 <script>alert(1)</script>"), "no file and line: own columns");
        assert_eq!((&t.rows[1][12], &t.rows[1][13]), (&Cell::text("一小.csv"), &Cell::Int(9)));
        assert_eq!(t.rows[2][2], Cell::text("第一小学"));
        assert_eq!(t.rows[2][3], Cell::text("共 2 条"));
        assert_eq!(t.rows[2][7], Cell::Money(Fen(106_250)));
        let closed = &t.rows[3];
        assert_eq!(closed[4], Cell::text("650102********1234"));
        assert_eq!((&closed[5], &closed[6]), (&Cell::text("国家助学金"), &Cell::text("2026秋")));
        assert_eq!(closed[10], Cell::text("AC04 账户已销户 — 退票"), "the code and the detail");
        assert!(matches!(&closed[11], Cell::Text(s) if s.contains("新的资助卡") && s.contains("更正户名无用")), "{:?}", closed[11]);
        assert_eq!(closed[14], Cell::text("2026-09-03 09:30:00"));
        let totals = t.totals.as_ref().unwrap();
        assert_eq!(totals[0], Cell::text("合计"));
        assert_eq!(totals[2], Cell::text("共 3 条"));
        assert_eq!(totals[7], Cell::Money(Fen(221_250)));
    }

    #[test]
    fn the_resolved_sheet_says_how_and_by_whom() {
        let mut r = rows().remove(0);
        r.resolution = "cancel".into();
        r.note = "学生已转学".into();
        r.resolved_by = "clerk".into();
        r.resolved_at = "2026-09-05T10:00:00+08:00".into();
        let t = resolved_table(&[r], "2026-09-01 至 2026-09-30");
        assert_eq!(t.title, RESOLVED_TITLE);
        assert_eq!(t.rows[0][6], Cell::text("取消发放"));
        assert_eq!(
            (&t.rows[0][7], &t.rows[0][8], &t.rows[0][9]),
            (&Cell::text("学生已转学"), &Cell::text("clerk"), &Cell::text("2026-09-05 10:00:00"))
        );
        assert_eq!(t.totals.as_ref().unwrap()[4], Cell::Money(Fen(115_000)));
    }

    #[test]
    fn xlsx_reads_back_with_chinese_labels_masked_cards_and_exact_total() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("异常清单.xlsx");
        write_xlsx(&table(), &path).unwrap();
        let (names, rows) = read_xlsx(&path);
        assert_eq!(names, vec!["资助发放异常清单".to_string()]);
        assert_eq!(rows[0][0], Data::String("资助发放异常清单".into()));
        assert!(as_text(&rows[1][0]).contains("某区学生资助专户"));
        let headers: Vec<String> = rows[2].iter().map(as_text).collect();
        assert_eq!(headers, HEADERS.map(String::from).to_vec());
        assert_eq!(rows[3][8], Data::String("6222 **** **** 0128".into()));
        assert_eq!(rows[3][7], Data::Float(750.0));
        let last = rows.last().unwrap();
        assert_eq!(last[0], Data::String("合计".into()));
        assert_eq!(last[2], Data::String("共 3 条".into()));
        assert_eq!(last[7], Data::Float(2212.5));
        for cell in rows.iter().flatten() {
            let s = as_text(cell);
            assert!(!s.contains(CARD_1) && !s.contains(CARD_2) && !s.contains("650102200901011234"), "full number in {s}");
        }
    }

    #[test]
    fn csv_has_bom_exact_money_totals_last_and_no_full_card() {
        let mut buf = Vec::new();
        write_csv(&table(), &mut buf).unwrap();
        assert_eq!(&buf[..3], UTF8_BOM);
        let text = std::str::from_utf8(&buf).unwrap();
        assert!(!text.contains(CARD_1) && !text.contains(CARD_2));
        let mut reader = csv::Reader::from_reader(&buf[3..]);
        let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(headers, HEADERS.map(String::from).to_vec());
        let records: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().unwrap();
        let amounts: Vec<&str> = records.iter().map(|r| &r[7]).collect();
        assert_eq!(amounts, vec!["750.00", "312.50", "1062.50", "1150.00", "1150.00", "2212.50"]);
        let last = records.last().unwrap();
        assert_eq!((&last[0], &last[2]), ("合计", "共 3 条"));
    }

    #[test]
    fn html_has_both_sheets_escapes_and_no_full_card() {
        let mut buf = Vec::new();
        let resolved = resolved_table(&[], "2026-09");
        crate::reports::table::write_html_sheets(&table(), &[resolved], &mut buf).unwrap();
        let html = String::from_utf8(buf).expect("valid UTF-8");
        for h in HEADERS.iter().chain(RESOLVED_HEADERS.iter()) {
            assert!(html.contains(&format!("<th>{h}</th>")), "{h}");
        }
        assert!(html.contains("<h2>本期已处理异常</h2>"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains(CARD_1) && !html.contains(CARD_2));
        assert!(html.contains("<td class=\"num\">2,212.50</td>"));
    }

    #[test]
    fn empty_report_still_has_title_headers_and_zero_totals() {
        let t = exception_table(&[], "某区学生资助专户", "2026-09-04 10:00:00");
        assert!(t.rows.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let xlsx = write_report(&t, ReportFormat::Xlsx, dir.path(), "empty").unwrap();
        let (_, rows) = read_xlsx(&xlsx);
        assert_eq!(rows.len(), 4, "title, subtitle, header, 合计");
        assert_eq!(rows[3][0], Data::String("合计".into()));
        assert_eq!(rows[3][2], Data::String("共 0 条".into()));
        assert_eq!(rows[3][7], Data::Float(0.0));
        let csv = std::fs::read(write_report(&t, ReportFormat::Csv, dir.path(), "empty").unwrap()).unwrap();
        let text = std::str::from_utf8(&csv[3..]).unwrap();
        assert_eq!(text, format!("{}\r\n合计,,共 0 条,,,,,0.00,,,,,,,\r\n", HEADERS.join(",")));
    }

    #[test]
    fn a_card_too_short_to_mask_is_hidden_entirely() {
        let mut r = rows().remove(2);
        r.card_number = Some("1234567".into());
        let t = exception_table(&[r], "专户", "now");
        assert_eq!(t.rows[0][8], Cell::text("*******"));
    }
}
