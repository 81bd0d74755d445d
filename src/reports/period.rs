//! The period reports for the district and its inspectors: 月调度 (a month), 季汇总 (a quarter),
//! 半年通报 (a half-year) — `aidpay report period --month 2026-11 | --quarter 2026Q4 | --half 2026H2`.
//!
//! [`compute`] turns plain rows of the store (src/store/period.rs) into [`PeriodFigures`]; it is
//! pure, so the figures have one definition, and the tests check them against sums of their
//! own. What each figure means (dates are China dates; a payment's answer counts on the day
//! aidpay recorded it, an entry on its booking date):
//! - **money** (资金), from the booked entries of the special account's statements in the period:
//!   allocations in (财政拨付: credits from the configured allocation accounts), return credits
//!   (退票退回), other credits, batch debits (代发支出), other debits (named: possible misuse);
//!   the opening balance (the last statement's closing before the period, else the first
//!   statement's opening in it) and the closing balance (the last statement's closing up to the
//!   period's end); opening + credits − debits against the closing, with any difference named;
//!   and from the payments: paid (the bank settled them in the period), returned, failed, and in
//!   flight at the period's end (reserved by then, no final answer by then, not cancelled);
//! - **by program × stage × tier and by school**: students paid (distinct ID numbers), 人次 (paid
//!   attempts) and amounts, of the payments settled in the period;
//! - **failures and returns by reason** (ISO code and its Chinese wording);
//! - **exceptions**: raised and resolved in the period, open at its end and how old (days; a
//!   period not yet over counts to today);
//! - **应助尽助**: priority students' grants approved by the period's end (not cancelled) against
//!   those paid by then (settled and not returned), by school;
//! - **charts**: paid per month by program, the balance over the period, open exceptions by kind —
//!   native Excel charts in the XLSX, SVG ([`super::charts`]) in the HTML;
//! - the audit chain head and who produced the report.

use super::{Cell, Column, ColumnKind, ReportError, ReportFormat, Table};
use crate::domain::{Fen, GrantStatus, LabelZh, PaymentStatus};
use crate::store::{ChainHead, PeriodEntry, PeriodEvent, PeriodException, PeriodGrant, PeriodPayment, PeriodStatement};
use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Which period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PeriodSpec {
    Month { year: i32, month: u32 },
    Quarter { year: i32, quarter: u32 },
    Half { year: i32, half: u32 },
}

impl PeriodSpec {
    /// `2026-11`.
    pub fn parse_month(s: &str) -> Result<PeriodSpec, String> {
        let (y, m) = s.trim().split_once('-').ok_or_else(|| format!("--month {s:?}: 应为 YYYY-MM，如 2026-11"))?;
        let year = y.parse().map_err(|_| format!("--month {s:?}: 年份不是数字"))?;
        let month: u32 = m.parse().map_err(|_| format!("--month {s:?}: 月份不是数字"))?;
        if !(1..=12).contains(&month) || !(2000..=2100).contains(&year) {
            return Err(format!("--month {s:?}: 没有这个月份"));
        }
        Ok(PeriodSpec::Month { year, month })
    }

    /// `2026Q4`.
    pub fn parse_quarter(s: &str) -> Result<PeriodSpec, String> {
        let (y, q) = s.trim().to_ascii_uppercase().split_once('Q').map(|(a, b)| (a.to_string(), b.to_string())).ok_or_else(|| format!("--quarter {s:?}: 应为 YYYYQn，如 2026Q4"))?;
        let year = y.parse().map_err(|_| format!("--quarter {s:?}: 年份不是数字"))?;
        let quarter: u32 = q.parse().map_err(|_| format!("--quarter {s:?}: 季度不是数字"))?;
        if !(1..=4).contains(&quarter) || !(2000..=2100).contains(&year) {
            return Err(format!("--quarter {s:?}: 季度应为 1–4"));
        }
        Ok(PeriodSpec::Quarter { year, quarter })
    }

    /// `2026H2`.
    pub fn parse_half(s: &str) -> Result<PeriodSpec, String> {
        let (y, h) = s.trim().to_ascii_uppercase().split_once('H').map(|(a, b)| (a.to_string(), b.to_string())).ok_or_else(|| format!("--half {s:?}: 应为 YYYYHn，如 2026H2"))?;
        let year = y.parse().map_err(|_| format!("--half {s:?}: 年份不是数字"))?;
        let half: u32 = h.parse().map_err(|_| format!("--half {s:?}: 半年应为 1 或 2"))?;
        if !(1..=2).contains(&half) || !(2000..=2100).contains(&year) {
            return Err(format!("--half {s:?}: 半年应为 1 或 2"));
        }
        Ok(PeriodSpec::Half { year, half })
    }

    fn first_and_months(self) -> (i32, u32, u32) {
        match self {
            PeriodSpec::Month { year, month } => (year, month, 1),
            PeriodSpec::Quarter { year, quarter } => (year, (quarter - 1) * 3 + 1, 3),
            PeriodSpec::Half { year, half } => (year, (half - 1) * 6 + 1, 6),
        }
    }

    pub fn start(self) -> NaiveDate {
        let (y, m, _) = self.first_and_months();
        NaiveDate::from_ymd_opt(y, m, 1).expect("a checked month")
    }

    /// The last day (inclusive).
    pub fn end(self) -> NaiveDate {
        let (y, m, n) = self.first_and_months();
        let last = m + n - 1;
        let next = if last == 12 { NaiveDate::from_ymd_opt(y + 1, 1, 1) } else { NaiveDate::from_ymd_opt(y, last + 1, 1) };
        next.expect("a checked month").pred_opt().expect("not the first day ever")
    }

    /// `2026-10`, `2026-11`, `2026-12` for 2026Q4.
    pub fn months(self) -> Vec<String> {
        let (y, m, n) = self.first_and_months();
        (m..m + n).map(|k| format!("{y}-{k:02}")).collect()
    }

    /// 月调度 / 季汇总 / 半年通报.
    pub fn report_name(self) -> &'static str {
        match self {
            PeriodSpec::Month { .. } => "月调度",
            PeriodSpec::Quarter { .. } => "季汇总",
            PeriodSpec::Half { .. } => "半年通报",
        }
    }

    /// 2026年11月 / 2026年第四季度 / 2026年下半年.
    pub fn label_zh(self) -> String {
        match self {
            PeriodSpec::Month { year, month } => format!("{year}年{month}月"),
            PeriodSpec::Quarter { year, quarter } => format!("{year}年第{}季度", ["一", "二", "三", "四"][(quarter - 1) as usize]),
            PeriodSpec::Half { year, half } => format!("{year}年{}半年", if half == 1 { "上" } else { "下" }),
        }
    }

    /// `2026-11`, `2026Q4`, `2026H2`: the file names' part.
    pub fn code(self) -> String {
        match self {
            PeriodSpec::Month { year, month } => format!("{year}-{month:02}"),
            PeriodSpec::Quarter { year, quarter } => format!("{year}Q{quarter}"),
            PeriodSpec::Half { year, half } => format!("{year}H{half}"),
        }
    }

    /// The last month, quarter and half-year that ended before `today`.
    pub fn last_ended(today: NaiveDate) -> Vec<PeriodSpec> {
        let (y, m) = (today.year(), today.month());
        let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
        let q = (m - 1) / 3; // quarters fully ended this year
        let quarter = if q == 0 { PeriodSpec::Quarter { year: y - 1, quarter: 4 } } else { PeriodSpec::Quarter { year: y, quarter: q } };
        let half = if m <= 6 { PeriodSpec::Half { year: y - 1, half: 2 } } else { PeriodSpec::Half { year: y, half: 1 } };
        vec![PeriodSpec::Month { year: py, month: pm }, quarter, half]
    }

}

/// Everything [`compute`] reads.
#[derive(Debug, Clone, Default)]
pub struct PeriodData {
    pub payments: Vec<PeriodPayment>,
    pub events: Vec<PeriodEvent>,
    pub entries: Vec<PeriodEntry>,
    pub statements: Vec<PeriodStatement>,
    pub exceptions: Vec<PeriodException>,
    pub grants: Vec<PeriodGrant>,
}

/// The money of the period (fen).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MoneyFigures {
    pub opening_fen: Option<i64>,
    pub allocations_in_fen: i64,
    pub returns_credited_fen: i64,
    pub other_credits_fen: i64,
    pub batch_debits_fen: i64,
    pub other_debits_fen: i64,
    pub closing_fen: Option<i64>,
    /// opening + credits − debits.
    pub computed_closing_fen: Option<i64>,
    /// closing − computed closing (0: the statements explain the period).
    pub difference_fen: Option<i64>,
    /// Payments the bank settled in the period.
    pub paid_fen: i64,
    pub paid_count: u64,
    pub returned_fen: i64,
    pub returned_count: u64,
    pub failed_fen: i64,
    pub failed_count: u64,
    /// At the period's end.
    pub in_flight_fen: i64,
    pub in_flight_count: u64,
    /// Re-issues made in the period (attempts after the first).
    pub reissued_fen: i64,
    pub reissued_count: u64,
    /// What does not add up, in words.
    pub notes: Vec<String>,
}

/// Paid, grouped by some keys.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupRow {
    pub keys: Vec<String>,
    pub students: u64,
    pub person_times: u64,
    pub amount_fen: i64,
}

/// Failures or returns with one reason.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReasonRow {
    /// `failed` (rejected before settling) or `returned` (退票).
    pub outcome: String,
    pub reason_code: String,
    pub count: u64,
    pub amount_fen: i64,
}

/// Exceptions of one kind.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExceptionFigures {
    pub kind: String,
    pub raised: u64,
    pub resolved: u64,
    pub open_at_end: u64,
    pub open_within_7_days: u64,
    pub open_8_to_30_days: u64,
    pub open_over_30_days: u64,
    pub oldest_days: Option<i64>,
}

/// 应助尽助 of one school.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PriorityRow {
    pub school_code: String,
    pub school_name: String,
    pub approved_students: u64,
    pub approved_fen: i64,
    pub paid_students: u64,
    pub paid_fen: i64,
}

/// Everything a period report says.
#[derive(Debug, Clone, Serialize)]
pub struct PeriodFigures {
    pub period: PeriodSpec,
    pub from: String,
    pub to: String,
    pub money: MoneyFigures,
    /// keys: program, stage, tier.
    pub by_program: Vec<GroupRow>,
    /// keys: school code, school name.
    pub by_school: Vec<GroupRow>,
    pub failures: Vec<ReasonRow>,
    pub exceptions: Vec<ExceptionFigures>,
    pub priority: Vec<PriorityRow>,
    /// (month, program, fen) for every month of the period.
    pub paid_per_month: Vec<(String, String, i64)>,
    /// (date, balance fen): the opening, then after each booking day.
    pub balance: Vec<(String, i64)>,
}

fn day(ts: &str) -> &str {
    ts.get(..10).unwrap_or(ts)
}

/// The day each payment was settled, rejected (before settling) and returned (rejected after
/// settling: 退票), with the bank's reason, from its answers in the order recorded — as
/// [`crate::returns::apply`] applied them (ISO codes: ACSC/ACCC settle, RJCT/CANC/BLCK reject).
/// A repeated final status changes nothing.
struct AnswerDays {
    settled: HashMap<String, (String, Option<String>)>,
    rejected: HashMap<String, (String, Option<String>)>,
    returned: HashMap<String, (String, Option<String>)>,
}

fn answer_days(events: &[PeriodEvent]) -> AnswerDays {
    use crate::returns::apply::{Meaning, meaning};
    let mut days = AnswerDays { settled: HashMap::new(), rejected: HashMap::new(), returned: HashMap::new() };
    for e in events {
        let r = &e.payment_ref;
        let d = (day(&e.created_at).to_string(), e.reason_code.clone());
        let (settled, failed) = (days.settled.contains_key(r), days.rejected.contains_key(r) || days.returned.contains_key(r));
        match meaning(&e.status) {
            Meaning::Settled if !settled && !failed => {
                days.settled.insert(r.clone(), d);
            }
            Meaning::Rejected if settled && !failed => {
                days.returned.insert(r.clone(), d);
            }
            Meaning::Rejected if !failed => {
                days.rejected.insert(r.clone(), d);
            }
            _ => {}
        }
    }
    days
}

/// The figures of `period` from `data`, on `today` (a period not yet over is reported as it
/// stands: exceptions' age and the statements' coverage are counted to today, not to its end).
pub fn compute(period: PeriodSpec, data: &PeriodData, today: NaiveDate) -> PeriodFigures {
    let from = period.start().format("%Y-%m-%d").to_string();
    let to = period.end().format("%Y-%m-%d").to_string();
    let as_of = period.end().min(today).max(period.start());
    let as_of_text = as_of.format("%Y-%m-%d").to_string();
    let within = |d: &str| d >= from.as_str() && d <= to.as_str();
    let AnswerDays { settled, rejected, returned } = answer_days(&data.events);
    let mut m = MoneyFigures::default();

    // Money on the account.
    for e in data.entries.iter().filter(|e| within(&e.booking_date)) {
        let matched = e.matched.as_deref().unwrap_or("");
        match (e.credit, matched) {
            (true, "allocation") => m.allocations_in_fen += e.amount_fen,
            (true, x) if x.starts_with("return:") => m.returns_credited_fen += e.amount_fen,
            (true, _) => m.other_credits_fen += e.amount_fen,
            (false, x) if x.starts_with("batch:") => m.batch_debits_fen += e.amount_fen,
            (false, _) => {
                m.other_debits_fen += e.amount_fen;
                m.notes.push(format!(
                    "{} 不明支出 {} 元（{}）：与本中心的批次不符，请核查",
                    e.booking_date,
                    Fen(e.amount_fen),
                    e.info.as_deref().or(e.counterpart.as_deref()).unwrap_or("无摘要")
                ));
            }
        }
    }
    m.opening_fen = data
        .statements
        .iter()
        .filter(|s| s.to_date.as_deref().is_some_and(|d| d < from.as_str()) && s.closing_fen.is_some())
        .next_back()
        .and_then(|s| s.closing_fen)
        .or_else(|| {
            data.statements
                .iter()
                .filter(|s| s.from_date.as_deref().is_some_and(|d| within(d)) && s.opening_fen.is_some())
                .min_by(|a, b| a.from_date.cmp(&b.from_date))
                .and_then(|s| s.opening_fen)
        });
    let last_in = data.statements.iter().filter(|s| s.to_date.as_deref().is_some_and(|d| d <= to.as_str()) && s.closing_fen.is_some()).next_back();
    m.closing_fen = last_in.and_then(|s| s.closing_fen);
    let credits = m.allocations_in_fen + m.returns_credited_fen + m.other_credits_fen;
    let debits = m.batch_debits_fen + m.other_debits_fen;
    m.computed_closing_fen = m.opening_fen.map(|o| o + credits - debits);
    m.difference_fen = match (m.closing_fen, m.computed_closing_fen) {
        (Some(c), Some(x)) => Some(c - x),
        _ => None,
    };
    match (m.opening_fen, m.closing_fen, m.difference_fen) {
        (None, _, _) => m.notes.push("期初余额未知：本期及之前没有对账单".into()),
        (_, None, _) => m.notes.push("期末余额未知：本期没有对账单".into()),
        (_, _, Some(d)) if d != 0 => m.notes.push(format!(
            "对账单期末余额与“期初 + 收入 − 支出”相差 {} 元：对账单未覆盖整个期间，或有记录未入账",
            Fen(d)
        )),
        _ => {}
    }
    if let Some(s) = last_in
        && s.to_date.as_deref().is_some_and(|d| d < as_of_text.as_str())
    {
        m.notes.push(format!("最后一份对账单截至 {}，未到 {as_of_text}", s.to_date.as_deref().unwrap_or("")));
    }

    // Payments.
    let mut paid_rows: Vec<&PeriodPayment> = Vec::new();
    let mut reasons: BTreeMap<(String, String), (u64, i64)> = BTreeMap::new();
    let mut per_month: BTreeMap<(String, String), i64> = BTreeMap::new();
    for p in &data.payments {
        if let Some((d, _)) = settled.get(&p.payment_ref) {
            if within(d) {
                paid_rows.push(p);
                m.paid_fen += p.amount_fen;
                m.paid_count += 1;
            }
            if d.get(..7).is_some_and(|mon| period.months().iter().any(|x| x == mon)) {
                *per_month.entry((d[..7].to_string(), p.program.clone())).or_default() += p.amount_fen;
            }
        }
        for (outcome, map) in [("failed", &rejected), ("returned", &returned)] {
            if let Some((d, code)) = map.get(&p.payment_ref)
                && within(d)
            {
                let code = code.clone().or_else(|| p.reason_code.clone()).unwrap_or_else(|| "未说明".into());
                let r = reasons.entry((outcome.to_string(), code)).or_default();
                r.0 += 1;
                r.1 += p.amount_fen;
                if outcome == "failed" {
                    m.failed_count += 1;
                    m.failed_fen += p.amount_fen;
                } else {
                    m.returned_count += 1;
                    m.returned_fen += p.amount_fen;
                }
            }
        }
        if p.attempt > 1 && within(day(&p.created_at)) {
            m.reissued_count += 1;
            m.reissued_fen += p.amount_fen;
        }
        let reserved = day(&p.created_at) <= to.as_str();
        let answered = [&settled, &rejected, &returned].iter().any(|map| map.get(&p.payment_ref).is_some_and(|(d, _)| d.as_str() <= to.as_str()));
        let cancelled = p.status == PaymentStatus::Cancelled && day(&p.updated_at) <= to.as_str();
        if reserved && !answered && !cancelled {
            m.in_flight_count += 1;
            m.in_flight_fen += p.amount_fen;
        }
    }
    if m.batch_debits_fen != m.paid_fen {
        m.notes.push(format!(
            "本期银行代发扣款 {} 元，银行确认发放成功 {} 元，相差 {} 元（按批次全额扣款时，失败的款项随后以退票退回；跨期的批次在两期分别计入）",
            Fen(m.batch_debits_fen),
            Fen(m.paid_fen),
            Fen(m.batch_debits_fen - m.paid_fen)
        ));
    }

    let group = |key: &dyn Fn(&PeriodPayment) -> Vec<String>| -> Vec<GroupRow> {
        let mut g: BTreeMap<Vec<String>, (BTreeSet<String>, u64, i64)> = BTreeMap::new();
        for p in &paid_rows {
            let e = g.entry(key(p)).or_default();
            e.0.insert(p.id_number.clone());
            e.1 += 1;
            e.2 += p.amount_fen;
        }
        g.into_iter().map(|(keys, (s, n, f))| GroupRow { keys, students: s.len() as u64, person_times: n, amount_fen: f }).collect()
    };
    let by_program = group(&|p| vec![p.program.clone(), p.stage.clone(), p.tier.clone()]);
    let by_school = group(&|p| vec![p.school_code.clone(), p.school_name.clone()]);
    let failures = reasons.into_iter().map(|((outcome, reason_code), (count, amount_fen))| ReasonRow { outcome, reason_code, count, amount_fen }).collect();

    // Exceptions.
    let end = as_of;
    let mut ex: BTreeMap<String, ExceptionFigures> = BTreeMap::new();
    for e in &data.exceptions {
        let f = ex.entry(e.kind.clone()).or_insert_with(|| ExceptionFigures {
            kind: e.kind.clone(),
            raised: 0,
            resolved: 0,
            open_at_end: 0,
            open_within_7_days: 0,
            open_8_to_30_days: 0,
            open_over_30_days: 0,
            oldest_days: None,
        });
        let created = day(&e.created_at);
        if within(created) {
            f.raised += 1;
        }
        if e.resolved_at.as_deref().is_some_and(|r| within(day(r))) {
            f.resolved += 1;
        }
        let open = created <= to.as_str() && e.resolved_at.as_deref().is_none_or(|r| day(r) > to.as_str());
        if open {
            f.open_at_end += 1;
            let age = NaiveDate::parse_from_str(created, "%Y-%m-%d").map(|c| (end - c).num_days()).unwrap_or(0);
            match age {
                ..=7 => f.open_within_7_days += 1,
                8..=30 => f.open_8_to_30_days += 1,
                _ => f.open_over_30_days += 1,
            }
            f.oldest_days = Some(f.oldest_days.map_or(age, |o| o.max(age)));
        }
    }
    let exceptions: Vec<ExceptionFigures> = ex.into_values().filter(|f| f.raised + f.resolved + f.open_at_end > 0).collect();

    // 应助尽助: priority grants approved by the end vs paid by the end.
    let mut paid_grants: HashMap<&str, i64> = HashMap::new();
    for p in &data.payments {
        let s = settled.get(&p.payment_ref).is_some_and(|(d, _)| d.as_str() <= to.as_str());
        let r = returned.get(&p.payment_ref).is_some_and(|(d, _)| d.as_str() <= to.as_str());
        if s && !r {
            *paid_grants.entry(p.grant_id.as_str()).or_default() += p.amount_fen;
        }
    }
    let mut pr: BTreeMap<(String, String), (BTreeSet<String>, i64, BTreeSet<String>, i64)> = BTreeMap::new();
    for g in data.grants.iter().filter(|g| !g.priority.trim().is_empty() && g.status != GrantStatus::Cancelled && day(&g.created_at) <= to.as_str()) {
        let e = pr.entry((g.school_code.clone(), g.school_name.clone())).or_default();
        e.0.insert(g.id_number.clone());
        e.1 += g.amount_fen;
        if let Some(f) = paid_grants.get(g.grant_id.as_str()) {
            e.2.insert(g.id_number.clone());
            e.3 += f;
        }
    }
    let priority = pr
        .into_iter()
        .map(|((school_code, school_name), (a, af, p, pf))| PriorityRow {
            school_code,
            school_name,
            approved_students: a.len() as u64,
            approved_fen: af,
            paid_students: p.len() as u64,
            paid_fen: pf,
        })
        .collect();

    // The balance line: the opening, then each booking day's end.
    let mut balance = Vec::new();
    if let Some(o) = m.opening_fen {
        balance.push((from.clone(), o));
        let mut run = o;
        let mut days: BTreeMap<&str, i64> = BTreeMap::new();
        for e in data.entries.iter().filter(|e| within(&e.booking_date)) {
            *days.entry(e.booking_date.as_str()).or_default() += if e.credit { e.amount_fen } else { -e.amount_fen };
        }
        for (d, delta) in days {
            run += delta;
            balance.push((d.to_string(), run));
        }
    }
    let paid_per_month = per_month.into_iter().map(|((mon, prog), f)| (mon, prog, f)).collect();

    PeriodFigures { period, from, to, money: m, by_program, by_school, failures, exceptions, priority, paid_per_month, balance }
}

// ---------------------------------------------------------------------------------------------
// Tables

fn money_cell(f: Option<i64>) -> Cell {
    f.map(|v| Cell::Money(Fen(v))).unwrap_or_else(|| Cell::text("未知"))
}

/// The report's tables, in order: 资金, 项目学段档次, 学校, 失败与退票, 异常, 应助尽助.
pub fn tables(f: &PeriodFigures, subtitle: &str) -> Vec<Table> {
    let sub = Some(subtitle.to_string());
    let m = &f.money;
    let item = |name: &str, v: Cell, note: &str| vec![Cell::text(name), v, Cell::text(note)];
    let mut money_rows = vec![
        item("期初余额", money_cell(m.opening_fen), "对账单"),
        item("财政拨付（收入）", Cell::Money(Fen(m.allocations_in_fen)), "对账单：来自拨款账户的入账"),
        item("退票退回（收入）", Cell::Money(Fen(m.returns_credited_fen)), "对账单：已匹配到失败支付的退回"),
        item("其他收入", Cell::Money(Fen(m.other_credits_fen)), "对账单"),
        item("代发支出", Cell::Money(Fen(m.batch_debits_fen)), "对账单：本中心批次的扣款"),
        item("不明支出", Cell::Money(Fen(m.other_debits_fen)), "对账单：与批次不符，须核查"),
        item("期末余额（对账单）", money_cell(m.closing_fen), "对账单"),
        item("期末余额（期初 + 收入 − 支出）", money_cell(m.computed_closing_fen), "计算"),
        item("差额", money_cell(m.difference_fen), if m.difference_fen == Some(0) { "平" } else { "见下方说明" }),
        vec![Cell::text("已发放（银行确认成功）"), Cell::Money(Fen(m.paid_fen)), Cell::text(format!("{} 笔", m.paid_count))],
        vec![Cell::text("退票"), Cell::Money(Fen(m.returned_fen)), Cell::text(format!("{} 笔", m.returned_count))],
        vec![Cell::text("发放失败"), Cell::Money(Fen(m.failed_fen)), Cell::text(format!("{} 笔", m.failed_count))],
        vec![Cell::text("重新发放"), Cell::Money(Fen(m.reissued_fen)), Cell::text(format!("{} 笔", m.reissued_count))],
        vec![Cell::text("期末在途"), Cell::Money(Fen(m.in_flight_fen)), Cell::text(format!("{} 笔，已生成未获银行最终答复", m.in_flight_count))],
    ];
    for n in &m.notes {
        money_rows.push(vec![Cell::text("说明"), Cell::Empty, Cell::text(n)]);
    }
    let money = Table {
        title: format!("资金情况 {}", f.period.label_zh()),
        subtitle: sub.clone(),
        columns: vec![Column::new("项目", ColumnKind::Text), Column::new("金额（元）", ColumnKind::Money), Column::new("说明", ColumnKind::Text).with_width(60.0)],
        rows: money_rows,
        totals: None,
    };

    let group_table = |title: &str, heads: &[&str], rows: &[GroupRow]| {
        let mut columns: Vec<Column> = heads.iter().map(|h| Column::new(*h, ColumnKind::Text)).collect();
        columns.extend([Column::new("学生数", ColumnKind::Integer), Column::new("人次", ColumnKind::Integer), Column::new("金额（元）", ColumnKind::Money)]);
        let body: Vec<Vec<Cell>> = rows
            .iter()
            .map(|r| {
                let mut c: Vec<Cell> = r.keys.iter().map(Cell::text).collect();
                c.extend([Cell::Int(r.students as i64), Cell::Int(r.person_times as i64), Cell::Money(Fen(r.amount_fen))]);
                c
            })
            .collect();
        let mut totals: Vec<Cell> = vec![Cell::text("合计")];
        totals.extend((1..heads.len()).map(|_| Cell::Empty));
        totals.extend([
            Cell::Int(rows.iter().map(|r| r.students as i64).sum()),
            Cell::Int(rows.iter().map(|r| r.person_times as i64).sum()),
            Cell::Money(Fen(rows.iter().map(|r| r.amount_fen).sum())),
        ]);
        Table { title: title.to_string(), subtitle: sub.clone(), columns, rows: body, totals: Some(totals) }
    };
    let by_program = group_table("发放情况（按资助项目、学段、档次）", &["资助项目", "学段", "档次"], &f.by_program);
    let by_school = group_table("发放情况（按学校）", &["学校代码", "学校名称"], &f.by_school);

    let failures = Table {
        title: "发放失败与退票（按原因）".into(),
        subtitle: sub.clone(),
        columns: vec![
            Column::new("类别", ColumnKind::Text),
            Column::new("原因代码", ColumnKind::Text),
            Column::new("原因", ColumnKind::Text),
            Column::new("笔数", ColumnKind::Integer),
            Column::new("金额（元）", ColumnKind::Money),
        ],
        rows: f
            .failures
            .iter()
            .map(|r| {
                vec![
                    Cell::text(if r.outcome == "failed" { "发放失败" } else { "退票" }),
                    Cell::text(&r.reason_code),
                    Cell::text(crate::domain::reason::describe_zh(&r.reason_code)),
                    Cell::Int(r.count as i64),
                    Cell::Money(Fen(r.amount_fen)),
                ]
            })
            .collect(),
        totals: Some(vec![
            Cell::text("合计"),
            Cell::Empty,
            Cell::Empty,
            Cell::Int(f.failures.iter().map(|r| r.count as i64).sum()),
            Cell::Money(Fen(f.failures.iter().map(|r| r.amount_fen).sum())),
        ]),
    };

    let exceptions = Table {
        title: "异常情况".into(),
        subtitle: sub.clone(),
        columns: vec![
            Column::new("类别", ColumnKind::Text),
            Column::new("本期新增", ColumnKind::Integer),
            Column::new("本期处理", ColumnKind::Integer),
            Column::new("期末未处理", ColumnKind::Integer),
            Column::new("7 天内", ColumnKind::Integer),
            Column::new("8–30 天", ColumnKind::Integer),
            Column::new("30 天以上", ColumnKind::Integer),
            Column::new("最久（天）", ColumnKind::Integer),
        ],
        rows: f
            .exceptions
            .iter()
            .map(|e| {
                vec![
                    Cell::text(kind_label(&e.kind)),
                    Cell::Int(e.raised as i64),
                    Cell::Int(e.resolved as i64),
                    Cell::Int(e.open_at_end as i64),
                    Cell::Int(e.open_within_7_days as i64),
                    Cell::Int(e.open_8_to_30_days as i64),
                    Cell::Int(e.open_over_30_days as i64),
                    e.oldest_days.map(Cell::Int).unwrap_or(Cell::Empty),
                ]
            })
            .collect(),
        totals: Some(vec![
            Cell::text("合计"),
            Cell::Int(f.exceptions.iter().map(|e| e.raised as i64).sum()),
            Cell::Int(f.exceptions.iter().map(|e| e.resolved as i64).sum()),
            Cell::Int(f.exceptions.iter().map(|e| e.open_at_end as i64).sum()),
            Cell::Int(f.exceptions.iter().map(|e| e.open_within_7_days as i64).sum()),
            Cell::Int(f.exceptions.iter().map(|e| e.open_8_to_30_days as i64).sum()),
            Cell::Int(f.exceptions.iter().map(|e| e.open_over_30_days as i64).sum()),
            f.exceptions.iter().filter_map(|e| e.oldest_days).max().map(Cell::Int).unwrap_or(Cell::Empty),
        ]),
    };

    let priority = Table {
        title: "应助尽助：重点保障学生（建档立卡、低保、残疾、烈士子女、特困供养、灾害）".into(),
        subtitle: sub,
        columns: vec![
            Column::new("学校代码", ColumnKind::Text),
            Column::new("学校名称", ColumnKind::Text),
            Column::new("已批准学生", ColumnKind::Integer),
            Column::new("批准金额（元）", ColumnKind::Money),
            Column::new("已发放学生", ColumnKind::Integer),
            Column::new("发放金额（元）", ColumnKind::Money),
            Column::new("未发放学生", ColumnKind::Integer),
        ],
        rows: f
            .priority
            .iter()
            .map(|r| {
                vec![
                    Cell::text(&r.school_code),
                    Cell::text(&r.school_name),
                    Cell::Int(r.approved_students as i64),
                    Cell::Money(Fen(r.approved_fen)),
                    Cell::Int(r.paid_students as i64),
                    Cell::Money(Fen(r.paid_fen)),
                    Cell::Int(r.approved_students as i64 - r.paid_students as i64),
                ]
            })
            .collect(),
        totals: Some(vec![
            Cell::text("合计"),
            Cell::Empty,
            Cell::Int(f.priority.iter().map(|r| r.approved_students as i64).sum()),
            Cell::Money(Fen(f.priority.iter().map(|r| r.approved_fen).sum())),
            Cell::Int(f.priority.iter().map(|r| r.paid_students as i64).sum()),
            Cell::Money(Fen(f.priority.iter().map(|r| r.paid_fen).sum())),
            Cell::Int(f.priority.iter().map(|r| r.approved_students as i64 - r.paid_students as i64).sum()),
        ]),
    };
    vec![money, by_program, by_school, failures, exceptions, priority]
}

fn kind_label(kind: &str) -> String {
    crate::exceptions::ExceptionKind::parse(kind).map(|k| k.label_zh().to_string()).unwrap_or_else(|| kind.to_string())
}

/// Open exceptions at the period's end by kind, for the chart.
pub fn open_by_kind(f: &PeriodFigures) -> Vec<(String, i64)> {
    f.exceptions.iter().filter(|e| e.open_at_end > 0).map(|e| (kind_label(&e.kind), e.open_at_end as i64)).collect()
}

// ---------------------------------------------------------------------------------------------
// Files

/// Whether the report of `period` in `format` is in `dir` already (the daemon writes each once).
pub fn written(period: PeriodSpec, format: ReportFormat, dir: &Path) -> bool {
    let stem = format!("{}-{}", period.report_name(), period.code());
    let name = match format {
        ReportFormat::Csv => format!("{stem}-资金.csv"),
        other => format!("{stem}.{}", other.extension()),
    };
    dir.join(name).exists()
}

/// Writes the report as `dir/<name>-<code>.<ext>` (CSV: one file per table, the money table's
/// path returned first). Returns every file written.
pub fn write(f: &PeriodFigures, subtitle: &str, format: ReportFormat, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let tables = tables(f, subtitle);
    let stem = format!("{}-{}", f.period.report_name(), f.period.code());
    match format {
        ReportFormat::Csv => {
            let names = ["资金", "项目学段档次", "学校", "失败与退票", "异常", "应助尽助"];
            tables.iter().zip(names).map(|(t, n)| super::write_report(t, ReportFormat::Csv, dir, &format!("{stem}-{n}"))).collect()
        }
        ReportFormat::Xlsx => Ok(vec![super::write_file_atomically(dir, &format!("{stem}.xlsx"), |tmp| write_xlsx(f, &tables, tmp))?]),
        ReportFormat::Html => Ok(vec![super::write_file_atomically(dir, &format!("{stem}.html"), |tmp| write_html(f, &tables, subtitle, tmp))?]),
    }
}

fn write_xlsx(f: &PeriodFigures, tables: &[Table], path: &Path) -> Result<(), ReportError> {
    use rust_xlsxwriter::{Chart, ChartType, Format, Workbook};
    let mut wb = Workbook::new();
    for t in tables {
        super::add_table_sheet(&mut wb, t)?;
    }
    // The charts' data and the charts, on their own sheet.
    let sheet = "图表";
    let ws = wb.add_worksheet();
    ws.set_name(sheet)?;
    ws.set_landscape();
    ws.set_paper_size(9);
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00");
    let yuan = |fen: i64| fen as f64 / 100.0; // Excel's number; the exact figure is the fen
    // Paid per month by program: months down, programs across.
    let months = f.period.months();
    let programs: Vec<String> = f.paid_per_month.iter().map(|r| r.1.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    ws.write_string_with_format(0, 0, "月份", &bold)?;
    for (j, p) in programs.iter().enumerate() {
        ws.write_string_with_format(0, 1 + j as u16, p, &bold)?;
    }
    for (i, mon) in months.iter().enumerate() {
        ws.write_string(1 + i as u32, 0, mon)?;
        for (j, p) in programs.iter().enumerate() {
            let v: i64 = f.paid_per_month.iter().filter(|r| &r.0 == mon && &r.1 == p).map(|r| r.2).sum();
            ws.write_number_with_format(1 + i as u32, 1 + j as u16, yuan(v), &money)?;
        }
    }
    let last_month_row = months.len() as u32;
    let mut bars = Chart::new(ChartType::Column);
    bars.title().set_name("各月发放金额（按资助项目，元）");
    for (j, p) in programs.iter().enumerate() {
        let c = 1 + j as u16;
        bars.add_series().set_name(p.as_str()).set_categories((sheet, 1, 0, last_month_row, 0)).set_values((sheet, 1, c, last_month_row, c));
    }
    if programs.is_empty() {
        bars.add_series().set_name("无发放").set_categories((sheet, 1, 0, last_month_row, 0)).set_values((sheet, 1, 1, last_month_row, 1));
    }
    // Balance over the period.
    let bc = 8u16;
    ws.write_string_with_format(0, bc, "日期", &bold)?;
    ws.write_string_with_format(0, bc + 1, "余额（元）", &bold)?;
    for (i, (d, v)) in f.balance.iter().enumerate() {
        ws.write_string(1 + i as u32, bc, d)?;
        ws.write_number_with_format(1 + i as u32, bc + 1, yuan(*v), &money)?;
    }
    let last_bal = f.balance.len().max(1) as u32;
    let mut line = Chart::new(ChartType::Line);
    line.title().set_name("专户余额（元）");
    line.add_series().set_name("余额").set_categories((sheet, 1, bc, last_bal, bc)).set_values((sheet, 1, bc + 1, last_bal, bc + 1));
    // Open exceptions by kind.
    let ec = 11u16;
    let open = open_by_kind(f);
    ws.write_string_with_format(0, ec, "异常类别", &bold)?;
    ws.write_string_with_format(0, ec + 1, "期末未处理", &bold)?;
    for (i, (k, n)) in open.iter().enumerate() {
        ws.write_string(1 + i as u32, ec, k)?;
        ws.write_number(1 + i as u32, ec + 1, *n as f64)?;
    }
    let last_open = open.len().max(1) as u32;
    let mut kinds = Chart::new(ChartType::Bar);
    kinds.title().set_name("期末未处理异常（按类别，条）");
    kinds.add_series().set_name("未处理").set_categories((sheet, 1, ec, last_open, ec)).set_values((sheet, 1, ec + 1, last_open, ec + 1));
    let below = (months.len().max(f.balance.len()).max(open.len()) + 3) as u32;
    ws.insert_chart(below, 0, &bars)?;
    ws.insert_chart(below, 8, &line)?;
    ws.insert_chart(below + 17, 0, &kinds)?;
    wb.save(path).map_err(|e| ReportError::Xlsx(format!("{}: {e}", path.display())))
}

fn write_html(f: &PeriodFigures, tables: &[Table], subtitle: &str, path: &Path) -> Result<(), ReportError> {
    use std::io::Write;
    let file = std::fs::File::create(path).map_err(|source| ReportError::Io { path: path.to_path_buf(), source })?;
    let mut out = std::io::BufWriter::new(file);
    let title = format!("{} {}", f.period.report_name(), f.period.label_zh());
    let extra = "h2 { font-size: 13pt; margin: 14pt 0 4pt; } section.charts { break-before: page; } section.charts svg { display: block; margin: 6pt auto; max-width: 100%; height: auto; }\n";
    super::html_page_start(&mut out, &title, extra).map_err(ReportError::Write)?;
    writeln!(out, "<p class=\"subtitle\">{}</p>", super::html_escape(subtitle)).map_err(ReportError::Write)?;
    for t in tables {
        // The subtitle once, under the page's title.
        let t = Table { subtitle: None, ..t.clone() };
        super::html_table_section(&mut out, &t)?;
    }
    writeln!(out, "<section class=\"charts\">\n<h2>图表</h2>").map_err(ReportError::Write)?;
    let charts = [
        super::charts::paid_per_month_svg(&f.paid_per_month),
        super::charts::balance_svg(&f.balance),
        super::charts::open_exceptions_svg(&open_by_kind(f)),
    ];
    for svg in charts {
        out.write_all(svg.as_bytes()).map_err(ReportError::Write)?;
        out.write_all(b"\n").map_err(ReportError::Write)?;
    }
    out.write_all(b"</section>\n</body>\n</html>\n").map_err(ReportError::Write)?;
    out.flush().map_err(ReportError::Write)
}

/// The subtitle every table of a period report carries: the account, the period, the chain
/// head, who produced it and when.
pub fn subtitle(account_no: &str, account_name: &str, f: &PeriodFigures, head: &ChainHead, producer: &str) -> String {
    format!(
        "专户 {account_no}（{account_name}） {} 至 {}；审计链头 {}；制表 {producer}，{}",
        f.from,
        f.to,
        head,
        crate::clock::now().format("%Y-%m-%d %H:%M")
    )
}

// ---------------------------------------------------------------------------------------------
// From the store

/// What `report period` did (`--json`).
#[derive(Debug, Clone, Serialize)]
pub struct PeriodReport {
    pub report: String,
    pub files: Vec<String>,
    pub chain_head: ChainHead,
    pub figures: PeriodFigures,
}

/// Loads the account's rows, computes the figures of `period`, writes the report into `dir` and
/// records every file written on the audit trail (`report.write`, with its SHA-256).
pub async fn build(
    store: &crate::store::Store,
    cfg: &crate::config::Config,
    period: PeriodSpec,
    format: ReportFormat,
    dir: &Path,
    producer: &str,
) -> Result<PeriodReport, super::from_store::BuildError> {
    let account = cfg.account.number.as_str();
    let data = PeriodData {
        payments: store.period_payments(account).await?,
        events: store.period_events(account).await?,
        entries: store.period_entries(account).await?,
        statements: store.period_statements(account).await?,
        exceptions: store.period_exceptions(account).await?,
        grants: store.period_grants(account, None, None).await?,
    };
    let figures = compute(period, &data, crate::clock::today());
    let head = store.audit_head().await?;
    let sub = subtitle(account, &cfg.account.name, &figures, &head, producer);
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.to_path_buf(), source })?;
    let files = write(&figures, &sub, format, dir)?;
    for f in &files {
        crate::audit::record_report(store, cfg, f, &format!("{} {}", period.report_name(), period.code()), producer).await?;
    }
    Ok(PeriodReport {
        report: files.first().map(|p| p.display().to_string()).unwrap_or_default(),
        files: files.iter().map(|p| p.display().to_string()).collect(),
        chain_head: head,
        figures,
    })
}

/// The school ledger (台账 / 发放花名册) of `school` (all schools: one sheet each) for the term
/// `term` (the grants' 学期, e.g. 2026秋): every student's grants, the last payment's status,
/// the card masked, the day paid, and a column to sign. XLSX: one sheet per school; CSV and
/// HTML: one file per school. Returns the files written.
pub async fn ledger(
    store: &crate::store::Store,
    cfg: &crate::config::Config,
    school: Option<&str>,
    term: &str,
    format: ReportFormat,
    dir: &Path,
    producer: &str,
) -> Result<Vec<PathBuf>, super::from_store::BuildError> {
    let account = cfg.account.number.as_str();
    let grants = store.period_grants(account, school, Some(term)).await?;
    if grants.is_empty() {
        return Err(super::from_store::BuildError::Report(ReportError::Invalid(format!(
            "学期 {term}{} 没有资助记录 (no grants)",
            school.map(|s| format!("、学校 {s}")).unwrap_or_default()
        ))));
    }
    let payments = store.period_payments(account).await?;
    let events = store.period_events(account).await?;
    let settled = answer_days(&events).settled;
    let mut last: HashMap<&str, &PeriodPayment> = HashMap::new();
    for p in &payments {
        if last.get(p.grant_id.as_str()).is_none_or(|q| q.attempt < p.attempt) {
            last.insert(p.grant_id.as_str(), p);
        }
    }
    let head = store.audit_head().await?;
    let now = crate::clock::now().format("%Y-%m-%d %H:%M").to_string();
    let mut by_school: BTreeMap<(String, String), Vec<&PeriodGrant>> = BTreeMap::new();
    for g in &grants {
        by_school.entry((g.school_code.clone(), g.school_name.clone())).or_default().push(g);
    }
    let mut tables = Vec::new();
    for ((code, name), gs) in &by_school {
        let rows: Vec<Vec<Cell>> = gs
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let p = last.get(g.grant_id.as_str());
                let paid_on = p.and_then(|p| settled.get(&p.payment_ref)).filter(|_| p.is_some_and(|p| p.status == PaymentStatus::Settled)).map(|(d, _)| d.clone());
                vec![
                    Cell::Int(i as i64 + 1),
                    Cell::text(&g.grant_id),
                    Cell::text(&g.name),
                    Cell::text(crate::domain::id_number::mask_id(&g.id_number)),
                    Cell::text(&g.grade),
                    Cell::text(&g.program),
                    Cell::text(&g.tier),
                    Cell::text(&g.priority),
                    Cell::Money(Fen(g.amount_fen)),
                    Cell::text(crate::domain::card::mask_card(p.map(|p| p.card_number.as_str()).unwrap_or(&g.card_number))),
                    Cell::text(g.status.label_zh()),
                    Cell::text(p.map(|p| p.status.label_zh()).unwrap_or("未生成")),
                    Cell::text(paid_on.unwrap_or_default()),
                    Cell::Empty,
                ]
            })
            .collect();
        let paid: i64 = gs.iter().filter(|g| g.status == GrantStatus::Paid).map(|g| g.amount_fen).sum();
        tables.push((
            code.clone(),
            Table {
                title: format!("{name} {term} 资助发放花名册"),
                subtitle: Some(format!(
                    "学校代码 {code}；专户 {}（{}）；审计链头 {head}；制表 {producer}，{now}；学校核对无误后签字盖章退回",
                    cfg.account.number, cfg.account.name
                )),
                columns: vec![
                    Column::new("序号", ColumnKind::Integer),
                    Column::new("资助编号", ColumnKind::Text),
                    Column::new("姓名", ColumnKind::Text),
                    Column::new("身份证号", ColumnKind::Text),
                    Column::new("年级", ColumnKind::Text),
                    Column::new("资助项目", ColumnKind::Text),
                    Column::new("档次", ColumnKind::Text),
                    Column::new("重点保障类别", ColumnKind::Text),
                    Column::new("金额（元）", ColumnKind::Money),
                    Column::new("卡号", ColumnKind::Text),
                    Column::new("资助状态", ColumnKind::Text),
                    Column::new("支付状态", ColumnKind::Text),
                    Column::new("发放日期", ColumnKind::Date),
                    Column::new("签收", ColumnKind::Text).with_width(12.0),
                ],
                rows,
                totals: Some(vec![
                    Cell::text("合计"),
                    Cell::text(format!("{} 人", gs.iter().map(|g| g.id_number.as_str()).collect::<BTreeSet<_>>().len())),
                    Cell::Empty,
                    Cell::Empty,
                    Cell::Empty,
                    Cell::Empty,
                    Cell::Empty,
                    Cell::Empty,
                    Cell::Money(Fen(gs.iter().map(|g| g.amount_fen).sum())),
                    Cell::Empty,
                    Cell::text(format!("已发放 {} 元", Fen(paid))),
                ]),
            },
        ));
    }
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.to_path_buf(), source })?;
    let files: Vec<PathBuf> = match (format, school) {
        (ReportFormat::Xlsx, None) => {
            let name = format!("台账-{term}.xlsx");
            vec![super::write_file_atomically(dir, &name, |tmp| {
                let mut wb = rust_xlsxwriter::Workbook::new();
                for (code, t) in &tables {
                    super::add_table_sheet(&mut wb, t)?;
                    // One sheet per school, named by its code (titles may repeat in 31 characters).
                    if let Some(ws) = wb.worksheets_mut().last_mut() {
                        ws.set_name(code.as_str())?;
                    }
                }
                wb.save(tmp).map_err(|e| ReportError::Xlsx(format!("{}: {e}", tmp.display())))
            })?]
        }
        _ => tables.iter().map(|(code, t)| super::write_report(t, format, dir, &format!("台账-{term}-{code}"))).collect::<Result<_, _>>()?,
    };
    for f in &files {
        crate::audit::record_report(store, cfg, f, &format!("台账 {term}"), producer).await?;
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_their_days() {
        let q = PeriodSpec::parse_quarter("2026Q4").unwrap();
        assert_eq!((q.start().to_string(), q.end().to_string()), ("2026-10-01".into(), "2026-12-31".into()));
        assert_eq!(q.months(), ["2026-10", "2026-11", "2026-12"]);
        let m = PeriodSpec::parse_month("2026-02").unwrap();
        assert_eq!(m.end().to_string(), "2026-02-28");
        let h = PeriodSpec::parse_half("2026h1").unwrap();
        assert_eq!(h.end().to_string(), "2026-06-30");
        assert_eq!(h.label_zh(), "2026年上半年");
        assert!(PeriodSpec::parse_month("2026-13").is_err());
        assert!(PeriodSpec::parse_quarter("2026Q5").is_err());
        assert!(PeriodSpec::parse_half("2026").is_err());
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            PeriodSpec::last_ended(d("2026-12-01")),
            [PeriodSpec::Month { year: 2026, month: 11 }, PeriodSpec::Quarter { year: 2026, quarter: 3 }, PeriodSpec::Half { year: 2026, half: 1 }]
        );
        assert_eq!(
            PeriodSpec::last_ended(d("2027-01-15")),
            [PeriodSpec::Month { year: 2026, month: 12 }, PeriodSpec::Quarter { year: 2026, quarter: 4 }, PeriodSpec::Half { year: 2026, half: 2 }]
        );
    }
}
