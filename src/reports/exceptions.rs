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
use crate::domain::reason::describe_zh;
use crate::exceptions::ExceptionKind;

/// The report's title, also the worksheet name.
pub const TITLE: &str = "资助发放异常清单";

/// One exception as the report needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionReportRow {
    pub id: i64,
    pub kind: ExceptionKind,
    /// 学校 (the school's name; empty for account-level exceptions such as an unknown debit).
    pub school: String,
    /// 姓名
    pub student: String,
    /// The full card number; the report shows it masked.
    pub card_number: Option<String>,
    pub amount: Option<Fen>,
    /// ISO 20022 reason code (AC04, BE01, …), when the bank or a rule gave one.
    pub reason_code: Option<String>,
    /// Human text, card and ID numbers masked (as raised).
    pub detail: String,
    /// When the exception was raised: RFC 3339 as the store keeps it, or any text.
    pub created_at: String,
}

/// The column headers, in order.
pub const HEADERS: [&str; 9] = ["编号", "学校", "姓名", "卡号", "金额", "问题", "原因", "建议处理", "发现时间"];

const KINDS: [ColumnKind; 9] = [
    ColumnKind::Integer,
    ColumnKind::Text,
    ColumnKind::Text,
    ColumnKind::Text,
    ColumnKind::Money,
    ColumnKind::Text,
    ColumnKind::Text,
    ColumnKind::Text,
    ColumnKind::Date,
];

/// The exception report: rows sorted by school, then id; a 合计 line with the number of
/// exceptions (`共 3 条`, under 学校) and the exact sum of their amounts (under 金额).
/// `account_name` and `generated_at` go into the subtitle.
pub fn exception_table(rows: &[ExceptionReportRow], account_name: &str, generated_at: &str) -> Table {
    let mut sorted: Vec<&ExceptionReportRow> = rows.iter().collect();
    sorted.sort_by(|a, b| a.school.cmp(&b.school).then(a.id.cmp(&b.id)));

    let total: Fen = rows.iter().filter_map(|r| r.amount).sum();
    let mut totals = vec![Cell::Empty; HEADERS.len()];
    totals[0] = Cell::text("合计");
    totals[1] = Cell::Text(format!("共 {} 条", rows.len()));
    totals[4] = Cell::Money(total);

    Table {
        title: TITLE.to_string(),
        subtitle: Some(format!("专户 {account_name}    生成时间 {generated_at}")),
        columns: HEADERS.iter().zip(KINDS).map(|(h, k)| Column::new(*h, k)).collect(),
        rows: sorted.into_iter().map(report_line).collect(),
        totals: Some(totals),
    }
}

fn report_line(r: &ExceptionReportRow) -> Vec<Cell> {
    let text_or_empty = |s: &str| if s.trim().is_empty() { Cell::Empty } else { Cell::text(s.trim()) };
    vec![
        Cell::Int(r.id),
        text_or_empty(&r.school),
        text_or_empty(&r.student),
        r.card_number.as_deref().map_or(Cell::Empty, |c| Cell::Text(mask_card(c))),
        r.amount.map_or(Cell::Empty, Cell::Money),
        Cell::text(r.kind.label_zh()),
        text_or_empty(&reason(r)),
        Cell::text(r.kind.suggestion_zh()),
        text_or_empty(&display_time(&r.created_at)),
    ]
}

/// `AC04 账户已销户 — <detail>` when there is a reason code, else the detail (with the row's own card
/// number masked, should it be there in full).
fn reason(r: &ExceptionReportRow) -> String {
    match r.reason_code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(code) => {
            // The code says what kind of reason; the detail says which batch, which text the bank
            // gave, which balance: staff need both.
            let code = code.to_ascii_uppercase();
            let detail = scrub_card(r.detail.trim(), r.card_number.as_deref());
            let words = describe_zh(&code);
            if detail.is_empty() || words.contains(detail.as_str()) {
                format!("{code} {words}")
            } else {
                format!("{code} {words} — {detail}")
            }
        }
        None => scrub_card(&r.detail, r.card_number.as_deref()),
    }
}

/// Masks every occurrence of `card` (its digits, spaces ignored) in `text`.
fn scrub_card(text: &str, card: Option<&str>) -> String {
    let Some(card) = card else { return text.to_string() };
    let digits: String = card.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() < 8 || !text.contains(&digits) {
        return text.to_string();
    }
    text.replace(&digits, &mask_card(&digits))
}

/// `2026-09-01T10:00:00+08:00` → `2026-09-01 10:00:00` (the time where it was recorded); any
/// other text unchanged.
fn display_time(s: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::table::{ReportFormat, UTF8_BOM, write_csv, write_html, write_report, write_xlsx};
    use calamine::{Data, Reader, Xlsx, open_workbook};

    const CARD_1: &str = "6222021234567890128";
    const CARD_2: &str = "6217000010001234569";

    fn rows() -> Vec<ExceptionReportRow> {
        vec![
            ExceptionReportRow {
                id: 7,
                kind: ExceptionKind::BankReturned,
                school: "第二中学".into(),
                student: "买买提·艾力".into(),
                card_number: Some(CARD_2.into()),
                amount: Some(Fen(115_000)),
                reason_code: Some("ac04".into()),
                detail: "退票".into(),
                created_at: "2026-09-03T09:30:00+08:00".into(),
            },
            ExceptionReportRow {
                id: 2,
                kind: ExceptionKind::InvalidCard,
                school: "第一小学".into(),
                student: "李四".into(),
                card_number: Some(CARD_1.into()),
                amount: Some(Fen(31_250)),
                reason_code: None,
                detail: format!("卡号 {CARD_1} 校验位错误 <script>alert(1)</script>"),
                created_at: "2026-09-02T08:00:00+08:00".into(),
            },
            ExceptionReportRow {
                id: 1,
                kind: ExceptionKind::BankRejected,
                school: "第一小学".into(),
                student: "张三".into(),
                card_number: Some(CARD_1.into()),
                amount: Some(Fen(75_000)),
                reason_code: Some("BE01".into()),
                detail: "户名不符".into(),
                created_at: "not a time".into(),
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
    fn rows_are_sorted_masked_and_explained() {
        let t = table();
        assert_eq!(t.title, "资助发放异常清单");
        let ids: Vec<&Cell> = t.rows.iter().map(|r| &r[0]).collect();
        assert_eq!(ids, vec![&Cell::Int(1), &Cell::Int(2), &Cell::Int(7)], "第一小学 before 第二中学, then by id");
        let first = &t.rows[0];
        assert_eq!(first[3], Cell::text("6222 **** **** 0128"));
        assert_eq!(first[5], Cell::text("银行拒绝"));
        assert_eq!(first[6], Cell::text("BE01 户名不符"));
        assert_eq!(first[7], Cell::text(ExceptionKind::BankRejected.suggestion_zh()));
        assert_eq!(first[8], Cell::text("not a time"));
        assert_eq!(t.rows[1][6], Cell::text("卡号 6222 **** **** 0128 校验位错误 <script>alert(1)</script>"));
        assert_eq!(t.rows[2][6], Cell::text("AC04 账户已销户 — 退票"), "the code and the detail");
        assert_eq!(t.rows[2][8], Cell::text("2026-09-03 09:30:00"));
        let totals = t.totals.as_ref().unwrap();
        assert_eq!(totals[0], Cell::text("合计"));
        assert_eq!(totals[1], Cell::text("共 3 条"));
        assert_eq!(totals[4], Cell::Money(Fen(221_250)));
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
        for h in ["学校", "姓名", "卡号", "金额", "问题", "原因", "建议处理"] {
            assert!(headers.iter().any(|x| x == h), "{h}");
        }
        assert_eq!(rows[3][3], Data::String("6222 **** **** 0128".into()));
        assert_eq!(rows[3][4], Data::Float(750.0));
        assert_eq!(rows[3][6], Data::String("BE01 户名不符".into()));
        let last = rows.last().unwrap();
        assert_eq!(last[0], Data::String("合计".into()));
        assert_eq!(last[1], Data::String("共 3 条".into()));
        assert_eq!(last[4], Data::Float(2212.5));
        assert_eq!(format!("{:.2}", 2212.5), Fen(221_250).to_string());
        for cell in rows.iter().flatten() {
            let s = as_text(cell);
            assert!(!s.contains(CARD_1) && !s.contains(CARD_2), "full card number in {s}");
        }
    }

    #[test]
    fn csv_has_bom_exact_money_totals_last_and_no_full_card() {
        let mut buf = Vec::new();
        write_csv(&table(), &mut buf).unwrap();
        assert_eq!(&buf[..3], &[0xEF, 0xBB, 0xBF]);
        assert_eq!(&buf[..3], UTF8_BOM);
        let text = std::str::from_utf8(&buf).unwrap();
        assert!(!text.contains(CARD_1) && !text.contains(CARD_2));
        let mut reader = csv::Reader::from_reader(&buf[3..]);
        let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(headers, HEADERS.map(String::from).to_vec());
        let records: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().unwrap();
        assert_eq!(records.len(), 4);
        let amounts: Vec<&str> = records.iter().map(|r| &r[4]).collect();
        assert_eq!(amounts, vec!["750.00", "312.50", "1150.00", "2212.50"]);
        assert_eq!(&records[0][3], "6222 **** **** 0128");
        let last = &records[3];
        assert_eq!((&last[0], &last[1]), ("合计", "共 3 条"));
    }

    #[test]
    fn html_has_headers_escapes_and_no_full_card() {
        let mut buf = Vec::new();
        write_html(&table(), &mut buf).unwrap();
        let html = String::from_utf8(buf).expect("valid UTF-8");
        for h in HEADERS {
            assert!(html.contains(&format!("<th>{h}</th>")), "{h}");
        }
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains(CARD_1) && !html.contains(CARD_2));
        assert!(html.contains("6222 **** **** 0128"));
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
        assert_eq!(rows[0][0], Data::String(TITLE.into()));
        assert_eq!(rows[2].iter().map(as_text).collect::<Vec<_>>(), HEADERS.map(String::from).to_vec());
        assert_eq!(rows[3][0], Data::String("合计".into()));
        assert_eq!(rows[3][1], Data::String("共 0 条".into()));
        assert_eq!(rows[3][4], Data::Float(0.0));

        let csv = std::fs::read(write_report(&t, ReportFormat::Csv, dir.path(), "empty").unwrap()).unwrap();
        let text = std::str::from_utf8(&csv[3..]).unwrap();
        assert_eq!(text, format!("{}\r\n合计,共 0 条,,,0.00,,,,\r\n", HEADERS.join(",")));

        let html = std::fs::read_to_string(write_report(&t, ReportFormat::Html, dir.path(), "empty").unwrap()).unwrap();
        assert!(html.contains("<h1>资助发放异常清单</h1>") && html.contains("共 0 条") && html.contains(">0.00<"));
    }

    #[test]
    fn a_card_too_short_to_mask_is_hidden_entirely() {
        let mut r = rows().remove(2);
        r.card_number = Some("1234567".into());
        let t = exception_table(&[r], "专户", "now");
        assert_eq!(t.rows[0][3], Cell::text("*******"));
    }
}
