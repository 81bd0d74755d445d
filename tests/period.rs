//! Issue 16: the period reports (月调度 / 季汇总) over two months with a rejection, a late return
//! (退票) and their re-issues, driven through the bank simulator. Every figure is checked against
//! sums the test makes from its own data (what the bank received and the fates it was told to
//! give), to the fen; the XLSX opens with its native charts; the school ledger masks cards.

use crate::util::{TestEnv, fixture, import_one};
use aidpay::banksim::statement::{camt053, statement_for};
use aidpay::banksim::{
    AnswerMix, AnswerOptions, AnsweredBatch, BankSim, Booking, Camt053Version, Fate, Reason, SimConfig, SimEntry, StatementOptions, StatementSpec,
    answer_picked, pick_up,
};
use aidpay::config::{BankFormat, Config};
use aidpay::domain::Fen;
use chrono::NaiveDate;
use secrecy::SecretString;
use serde_json::Value;
use sqlx::Row;
use std::collections::BTreeSet;

const KEY: &str = "period-test-key";
const FINANCE_BUREAU: &str = "130100000000000001";

fn at(t: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(t).unwrap()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// Every later run of the binary happens at `t` (business dates and the times it records).
fn set_now(env: &mut TestEnv, t: &str) {
    env.env.retain(|(k, _)| k != "AIDPAY_NOW");
    env.set_env("AIDPAY_NOW", t);
}

fn options(cfg: &Config, t: &str) -> AnswerOptions {
    let mut opts = AnswerOptions::new(at(t));
    if let BankFormat::Domestic(d) = &cfg.bank("icbc").unwrap().format {
        opts.domestic = Some((**d).clone());
    }
    opts
}

/// Answers every batch handed over since the last call (gateway and drop folder) with `mix`.
fn answer(env: &TestEnv, sim: &aidpay::banksim::BankSimHandle, cfg: &Config, mix: &AnswerMix, t: &str, seen: &mut usize) -> Vec<AnsweredBatch> {
    sim.answer_all(mix, &options(cfg, t)).unwrap();
    let all = sim.answered();
    let mut out: Vec<AnsweredBatch> = all[*seen..].to_vec();
    *seen = all.len();
    let boc = answer_picked(&pick_up(&env.path("var/bank/boc")).unwrap(), mix, &AnswerOptions::new(at(t))).unwrap();
    for a in &boc {
        std::fs::write(env.path("var/inbox").join(&a.answer_name), &a.answer).unwrap();
    }
    out.extend(boc);
    out
}

fn statement(cfg: &Config, answered: &[AnsweredBatch], id: &str, opening: i64, from: &str, to: &str, allocation: i64, late_returns: bool) -> StatementSpec {
    let executed: Vec<_> = answered.iter().map(AnsweredBatch::executed).collect();
    let mut s = statement_for(
        &executed,
        Fen(opening),
        Booking::Net,
        &StatementOptions {
            account_no: cfg.account.number.clone(),
            account_name: Some(cfg.account.name.clone()),
            statement_id: id.into(),
            from_date: date(from),
            to_date: date(to),
            with_details: false,
            late_returns,
        },
    );
    s.entries.insert(
        0,
        SimEntry::Allocation { amount: Fen(allocation), counterpart_account: FINANCE_BUREAU.into(), counterpart_name: "某某区财政局".into(), date: date(from) },
    );
    s
}

async fn ingest_statement(env: &TestEnv, s: &StatementSpec, name: &str, t: &str) {
    let path = env.path(name);
    std::fs::write(&path, camt053(s, Camt053Version::V02, &at(t))).unwrap();
    let v = env.json_async(&["ingest", path.to_str().unwrap()], 0).await;
    assert_eq!(v["files"][0]["outcome"], "applied", "{v}");
}

fn n(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn sum_of(rows: &Value, key: &str) -> i64 {
    rows.as_array().unwrap().iter().map(|r| n(&r[key])).sum()
}

/// The sums the test knows from what the bank received and the fates it gave.
#[derive(Debug, Default)]
struct Known {
    paid: i64,
    paid_count: i64,
    failed: i64,
    returned: i64,
    payments: BTreeSet<String>,
}

fn known(answered: &[AnsweredBatch]) -> Known {
    let mut k = Known::default();
    for a in answered {
        for (p, fate) in &a.fates {
            k.payments.insert(p.end_to_end_id.clone());
            match fate {
                Fate::Reject(_) => k.failed += p.amount.0,
                f => {
                    assert!(f.settled_first(), "{f:?}");
                    k.paid += p.amount.0;
                    k.paid_count += 1;
                    if matches!(f, Fate::LateReturn(_)) {
                        k.returned += p.amount.0;
                    }
                }
            }
        }
    }
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn period_figures_equal_the_scenarios_own_sums_to_the_fen() {
    let sim = BankSim::start(SimConfig { key: SecretString::from(KEY) }).await.unwrap();
    let mut env = TestEnv::new().await;
    env.set_env("AIDPAY_BANKS__ICBC__TRANSPORT", "gateway");
    env.set_env("AIDPAY_BANKS__ICBC__GATEWAY_URL", &sim.base_url());
    env.set_env("AIDPAY_BANKS__ICBC__GATEWAY_KEY", KEY);
    env.set_env("AIDPAY_BANKS__ICBC__BOOKING", "net");
    env.set_env("AIDPAY_BANKS__BOC__BOOKING", "net");
    let vars: std::collections::HashMap<String, String> = env.env.iter().cloned().collect();
    let cfg = Config::load_with_env(Some(&env.config), Some(vars)).unwrap();
    let mut seen = 0;

    // October: import and batch; one payment refused, one settled and returned later (退票).
    set_now(&mut env, "2026-10-25T10:00:00+08:00");
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    env.json_async(&["batch"], 0).await;
    let store = env.store().await;
    let icbc: Vec<(String, i64)> = sqlx::query("SELECT payment_ref, amount_fen FROM payments WHERE profile = 'icbc' ORDER BY payment_ref")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(icbc.len() >= 2);
    let (refused, returned) = (icbc[0].clone(), icbc[1].clone());
    let mix = AnswerMix::settle_all().with_reference(&refused.0, Fate::Reject(Reason::closed())).with_reference(&returned.0, Fate::LateReturn(Reason::frozen()));
    let october = answer(&env, &sim, &cfg, &mix, "2026-10-26T09:00:00+08:00", &mut seen);
    set_now(&mut env, "2026-10-26T10:00:00+08:00");
    env.json_async(&["ingest"], 0).await;
    sim.answer_late_returns(&options(&cfg, "2026-10-28T09:00:00+08:00")).unwrap();
    set_now(&mut env, "2026-10-28T10:00:00+08:00");
    env.json_async(&["ingest"], 0).await;
    let oct_stmt = statement(&cfg, &october, "STMT-202610", 0, "2026-10-25", "2026-10-31", 5_000_000_00, true);
    set_now(&mut env, "2026-10-31T18:00:00+08:00");
    ingest_statement(&env, &oct_stmt, "stmt-oct.xml", "2026-10-31T18:00:00+08:00").await;
    env.json_async(&["reconcile"], 0).await;

    // November: both re-issued (the refused one to a new card), batched, settled, reconciled.
    set_now(&mut env, "2026-11-05T10:00:00+08:00");
    env.user("clerk", "clerk").await;
    let ex = env.json_async(&["exceptions", "list"], 0).await;
    let of = |kind: &str| ex.as_array().unwrap().iter().find(|e| e["kind"] == kind).unwrap_or_else(|| panic!("{kind} in {ex}")).clone();
    let rejected = of("bank_rejected");
    let back = of("bank_returned");
    let grant = rejected["grant_id"].as_str().unwrap().to_string();
    let holder = store.grant(&grant).await.unwrap().unwrap().card_holder;
    env.act("clerk", &["exceptions", "resolve", &rejected["id"].to_string(), "--reissue", "--card", "6217000010001234569", "--holder", &holder, "--note", "更换新卡"], 0).await;
    env.act("clerk", &["exceptions", "resolve", &back["id"].to_string(), "--reissue", "--note", "退款已入账"], 0).await;
    env.json_async(&["batch"], 0).await;
    let november = answer(&env, &sim, &cfg, &AnswerMix::settle_all(), "2026-11-06T09:00:00+08:00", &mut seen);
    assert!(!november.is_empty());
    set_now(&mut env, "2026-11-06T10:00:00+08:00");
    env.json_async(&["ingest"], 0).await;
    let nov_stmt = statement(&cfg, &november, "STMT-202611", oct_stmt.closing().0, "2026-11-01", "2026-11-30", 1_000_000_00, false);
    set_now(&mut env, "2026-11-30T18:00:00+08:00");
    ingest_statement(&env, &nov_stmt, "stmt-nov.xml", "2026-11-30T18:00:00+08:00").await;
    env.json_async(&["reconcile"], 0).await;

    // The sums the test knows.
    let k_oct = known(&october);
    let k_nov = known(&november);
    assert_eq!(k_oct.failed, refused.1);
    assert_eq!(k_oct.returned, returned.1);
    let reissues: BTreeSet<String> = sqlx::query("SELECT payment_ref FROM payments WHERE attempt > 1").fetch_all(store.pool()).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(reissues.len(), 2);
    assert!(reissues.is_subset(&k_nov.payments), "the re-issues went out in November");

    set_now(&mut env, "2026-12-01T08:00:00+08:00");
    let oct = env.json_async(&["report", "period", "--month", "2026-10"], 0).await;
    let nov = env.json_async(&["report", "period", "--month", "2026-11", "--format", "html"], 0).await;
    let q4 = env.json_async(&["report", "period", "--quarter", "2026Q4"], 0).await;

    let m = &oct["figures"]["money"];
    assert_eq!(n(&m["paid_fen"]), k_oct.paid, "{m}");
    assert_eq!(n(&m["paid_count"]), k_oct.paid_count, "{m}");
    assert_eq!(n(&m["failed_fen"]), k_oct.failed, "{m}");
    assert_eq!(n(&m["failed_count"]), 1, "{m}");
    assert_eq!(n(&m["returned_fen"]), k_oct.returned, "{m}");
    assert_eq!(n(&m["returned_count"]), 1, "{m}");
    assert_eq!(n(&m["reissued_count"]), 0, "{m}");
    assert_eq!(n(&m["in_flight_fen"]), 0, "{m}");
    assert_eq!(n(&m["opening_fen"]), 0, "{m}");
    assert_eq!(n(&m["allocations_in_fen"]), 5_000_000_00, "{m}");
    assert_eq!(n(&m["batch_debits_fen"]), k_oct.paid, "net booking: the settled payments are debited: {m}");
    assert_eq!(n(&m["returns_credited_fen"]), k_oct.returned, "{m}");
    assert_eq!(n(&m["other_debits_fen"]), 0, "{m}");
    assert_eq!(n(&m["closing_fen"]), oct_stmt.closing().0, "{m}");
    assert_eq!(n(&m["closing_fen"]), 5_000_000_00 - k_oct.paid + k_oct.returned, "{m}");
    assert_eq!(n(&m["difference_fen"]), 0, "{m}");

    let m = &nov["figures"]["money"];
    assert_eq!(n(&m["paid_fen"]), k_nov.paid, "{m}");
    assert_eq!(n(&m["paid_count"]), k_nov.paid_count, "{m}");
    assert_eq!((n(&m["failed_fen"]), n(&m["returned_fen"])), (0, 0), "{m}");
    assert_eq!(n(&m["reissued_count"]), 2, "{m}");
    assert_eq!(n(&m["reissued_fen"]), refused.1 + returned.1, "{m}");
    assert_eq!(n(&m["opening_fen"]), oct_stmt.closing().0, "{m}");
    assert_eq!(n(&m["allocations_in_fen"]), 1_000_000_00, "{m}");
    assert_eq!(n(&m["batch_debits_fen"]), k_nov.paid, "{m}");
    assert_eq!(n(&m["closing_fen"]), nov_stmt.closing().0, "{m}");
    assert_eq!(n(&m["difference_fen"]), 0, "{m}");

    let m = &q4["figures"]["money"];
    assert_eq!(n(&m["paid_fen"]), k_oct.paid + k_nov.paid, "{m}");
    assert_eq!(n(&m["paid_count"]), k_oct.paid_count + k_nov.paid_count, "{m}");
    assert_eq!(n(&m["returned_fen"]), k_oct.returned, "{m}");
    assert_eq!(n(&m["allocations_in_fen"]), 6_000_000_00, "{m}");
    assert_eq!((n(&m["opening_fen"]), n(&m["closing_fen"])), (0, nov_stmt.closing().0), "{m}");
    assert_eq!(n(&m["difference_fen"]), 0, "{m}");

    // Every breakdown adds up to what was paid; students are the distinct ID numbers paid.
    for (r, k) in [(&oct, &k_oct), (&nov, &k_nov)] {
        let f = &r["figures"];
        for key in ["by_program", "by_school"] {
            assert_eq!(sum_of(&f[key], "amount_fen"), k.paid, "{key}: {f}");
            assert_eq!(sum_of(&f[key], "person_times"), k.paid_count, "{key}");
        }
        let refs: Vec<String> = k.payments.iter().cloned().collect();
        let mut ids = BTreeSet::new();
        for p in &refs {
            let row = sqlx::query("SELECT g.id_number, p.status FROM payments p JOIN grants g ON g.grant_id = p.grant_id WHERE p.payment_ref = $1")
                .bind(p)
                .fetch_one(store.pool())
                .await
                .unwrap();
            if p != &refused.0 {
                ids.insert(row.get::<String, _>(0));
            }
        }
        assert_eq!(sum_of(&f["by_school"], "students"), ids.len() as i64, "{f}");
        assert_eq!(sum_of(&f["failures"], "amount_fen"), k.failed + k.returned);
    }
    let failures = oct["figures"]["failures"].as_array().unwrap();
    let codes: Vec<(&str, &str)> = failures.iter().map(|r| (r["outcome"].as_str().unwrap(), r["reason_code"].as_str().unwrap())).collect();
    assert_eq!(codes, [("failed", "AC04"), ("returned", "AC06")], "{failures:?}");

    // Exceptions: the two bank findings raised in October and open at its end, resolved in November.
    let kinds = |r: &Value, kind: &str| r["figures"]["exceptions"].as_array().unwrap().iter().find(|e| e["kind"] == kind).cloned().unwrap_or(Value::Null);
    for kind in ["bank_rejected", "bank_returned"] {
        assert_eq!((n(&kinds(&oct, kind)["raised"]), n(&kinds(&oct, kind)["open_at_end"])), (1, 1), "{kind}");
        assert_eq!((n(&kinds(&nov, kind)["resolved"]), n(&kinds(&nov, kind)["open_at_end"])), (1, 0), "{kind}");
    }
    let raised_oct: i64 = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM exceptions WHERE created_at < '2026-11'").fetch_one(store.pool()).await.unwrap().get(0);
    assert_eq!(sum_of(&oct["figures"]["exceptions"], "raised"), raised_oct);

    // 应助尽助: priority grants approved against paid, from the grants as imported.
    let rows = sqlx::query("SELECT s.status, g.amount_fen FROM grants g JOIN grant_states s ON s.account_no = g.account_no AND s.grant_id = g.grant_id WHERE g.priority <> '' AND s.status <> 'cancelled'").fetch_all(store.pool()).await.unwrap();
    let approved: i64 = rows.iter().map(|r| r.get::<i64, _>(1)).sum();
    let paid: i64 = rows.iter().filter(|r| r.get::<String, _>(0) == "paid").map(|r| r.get::<i64, _>(1)).sum();
    assert!(approved > 0);
    assert_eq!(sum_of(&nov["figures"]["priority"], "approved_fen"), approved);
    assert_eq!(sum_of(&nov["figures"]["priority"], "paid_fen"), paid);

    // The files: the chain head in each; the XLSX opens with its native charts; the HTML has SVG.
    let head = &q4["chain_head"];
    let xlsx = q4["report"].as_str().unwrap();
    assert!(xlsx.ends_with("季汇总-2026Q4.xlsx"), "{xlsx}");
    {
        use calamine::Reader;
        let mut book: calamine::Xlsx<_> = calamine::open_workbook(xlsx).unwrap();
        let names = book.sheet_names();
        assert!(names.iter().any(|s| s == "图表"), "{names:?}");
        let first = book.worksheet_range_at(0).unwrap().unwrap();
        let text: Vec<String> = first.rows().flat_map(|r| r.iter().map(|c| c.to_string())).collect();
        assert!(text.iter().any(|c| c.contains(head["hash"].as_str().unwrap())), "chain head on the money sheet");
        assert!(text.iter().any(|c| c == "期初余额"));
    }
    let zip = zip_names(xlsx);
    let charts: Vec<&String> = zip.iter().filter(|n| n.starts_with("xl/charts/chart") && n.ends_with(".xml")).collect();
    assert_eq!(charts.len(), 3, "{zip:?}");
    let html = std::fs::read_to_string(nov["report"].as_str().unwrap()).unwrap();
    assert!(html.contains("<svg") && html.contains("各月发放金额") && html.contains("应助尽助"), "svg charts in the page");
    assert!(html.contains(nov["chain_head"]["hash"].as_str().unwrap()));
    // Each report is on the trail with its hash, and the trail verifies.
    let v = env.json_async(&["audit", "verify"], 0).await;
    assert_eq!(v["ok"], true, "{v}");
    let written: i64 = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM audit_log WHERE action = 'report.write'").fetch_one(store.pool()).await.unwrap().get(0);
    assert_eq!(written, 3);

    // The school ledger of the first school: every grant of the term, cards masked.
    let school = nov["figures"]["by_school"][0]["keys"][0].as_str().unwrap().to_string();
    let l = env.json_async(&["report", "ledger", "--school", &school, "--period", "2026秋"], 0).await;
    {
        use calamine::Reader;
        let mut book: calamine::Xlsx<_> = calamine::open_workbook(l["report"].as_str().unwrap()).unwrap();
        let range = book.worksheet_range_at(0).unwrap().unwrap();
        let cells: Vec<String> = range.rows().flat_map(|r| r.iter().map(|c| c.to_string())).collect();
        let grants: i64 = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM grants WHERE school_code = $1 AND period = '2026秋'").bind(&school).fetch_one(store.pool()).await.unwrap().get(0);
        assert_eq!(range.rows().count() as i64, grants + 4, "title, subtitle, header, one row per grant, totals");
        assert!(cells.iter().any(|c| c == "发放成功") && cells.iter().any(|c| c.contains("****")), "{cells:?}");
        assert!(!cells.iter().any(|c| c.len() >= 16 && c.chars().all(|d| d.is_ascii_digit())), "no full card number");
        // Names, ID and card numbers are sealed at rest: the ledger opens them, then masks.
        assert!(!cells.iter().any(|c| c.contains("v1:")), "a sealed value in the ledger: {cells:?}");
        let id_mask = |c: &str| c.len() == 18 && c[..6].chars().all(|d| d.is_ascii_digit()) && &c[6..14] == "********";
        assert!(cells.iter().any(|c| id_mask(c)), "ID numbers masked as 123456********789X: {cells:?}");
    }
    let all = env.json_async(&["report", "ledger", "--period", "2026秋"], 0).await;
    {
        use calamine::Reader;
        let book: calamine::Xlsx<_> = calamine::open_workbook(all["report"].as_str().unwrap()).unwrap();
        let schools: i64 = sqlx::query("SELECT CAST(COUNT(DISTINCT school_code) AS BIGINT) FROM grants").fetch_one(store.pool()).await.unwrap().get(0);
        assert_eq!(book.sheet_names().len() as i64, schools, "one sheet per school");
    }
    let none = env.run(&["report", "ledger", "--school", "nope", "--period", "2026秋"], &[]).await;
    assert_eq!(none.status.code(), Some(1));
    sim.shutdown().await;
}

/// The part names of a zip file (an XLSX), read from its central directory.
fn zip_names(path: &str) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let eocd = (0..bytes.len() - 21).rev().find(|&i| bytes[i..i + 4] == [0x50, 0x4b, 0x05, 0x06]).expect("end of central directory");
    let count = u16::from_le_bytes([bytes[eocd + 10], bytes[eocd + 11]]) as usize;
    let mut at = u32::from_le_bytes(bytes[eocd + 16..eocd + 20].try_into().unwrap()) as usize;
    let mut names = Vec::new();
    for _ in 0..count {
        assert_eq!(bytes[at..at + 4], [0x50, 0x4b, 0x01, 0x02]);
        let name_len = u16::from_le_bytes([bytes[at + 28], bytes[at + 29]]) as usize;
        let extra = u16::from_le_bytes([bytes[at + 30], bytes[at + 31]]) as usize;
        let comment = u16::from_le_bytes([bytes[at + 32], bytes[at + 33]]) as usize;
        names.push(String::from_utf8_lossy(&bytes[at + 46..at + 46 + name_len]).into_owned());
        at += 46 + name_len + extra + comment;
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_period_is_named_once_and_properly() {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    for args in [vec!["--month", "2026-13"], vec!["--quarter", "2026Q5"], vec!["--half", "2026H3"], vec![]] {
        let mut all = vec!["report", "period"];
        all.extend(args.iter());
        let out = env.run(&all, &[]).await;
        assert_ne!(out.status.code(), Some(0), "{args:?}");
    }
    let out = env.run(&["report", "period", "--month", "2026-11", "--quarter", "2026Q4"], &[]).await;
    assert_eq!(out.status.code(), Some(2), "two periods are a usage error");
    // A month with nothing paid is still a report (CSV: one file per table, with BOM).
    let v = env.json_async(&["report", "period", "--month", "2026-01", "--format", "csv"], 0).await;
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 6);
    assert!(std::fs::read(files[0].as_str().unwrap()).unwrap().starts_with(b"\xEF\xBB\xBF"));
    assert_eq!(v["figures"]["money"]["paid_fen"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_job_writes_each_ended_period_once_and_says_where() {
    use aidpay::reports::period::PeriodSpec;
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    let cfg = std::sync::Arc::new(Config::load(Some(&env.config)).unwrap());
    let store = env.store().await.scoped(&cfg.account.number);
    let ctx = aidpay::scheduler::JobCtx { store, cfg: cfg.clone(), actor: "aidpay-daemon".into(), turn: None };
    let first = aidpay::scheduler::try_run_reports(&ctx).await.unwrap();
    let notice = match first.notices.as_slice() {
        [n @ aidpay::alerts::Notice::ReportsWritten { .. }] => n.message().markdown,
        other => panic!("the alert names the reports written: {other:?}"),
    };
    for spec in PeriodSpec::last_ended(aidpay::clock::today()) {
        let name = format!("{}-{}.xlsx", spec.report_name(), spec.code());
        assert!(env.path("var/reports").join(&name).exists(), "{name}");
        assert!(notice.contains(&name) && notice.contains(spec.report_name()), "{notice}");
    }
    let again = aidpay::scheduler::try_run_reports(&ctx).await.unwrap();
    assert!(again.notices.is_empty(), "each period's report is written once: {}", again.detail);
    // Each can be switched off in [reports] (here by the environment).
    let vars = std::collections::HashMap::from([("AIDPAY_REPORTS__MONTHLY".to_string(), "false".to_string())]);
    let off = Config::load_with_env(Some(&env.config), Some(vars)).unwrap();
    assert!(!off.reports.monthly && off.reports.quarterly && off.reports.format().is_some());
}
