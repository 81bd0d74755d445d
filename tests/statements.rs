//! Issue 13: real banks' statements — every entry kept, only the special account's money counted.
//! Entries under shared references (both directions: a camt.054 before or after the camt.053
//! repeating it), foreign accounts and currencies refused, pending and information entries kept
//! but not reconciled, lenient balances and summaries, a whole file rejected without its name,
//! a quarantined file ingested again, encodings, a province's districts, the real samples, and
//! the upgrade of a store that already holds statements.

use crate::util::{TestEnv, fixture, import_one};
use aidpay::banksim::statement::{camt053, camt053_as};
use aidpay::banksim::{
    AnswerMix, AnswerOptions, BankHabits, Booking, Camt053Version, Fate, NotBooked, Reason, References, SimEntry, StatementOptions, StatementSpec,
    answer_picked, pick_up,
};
use aidpay::domain::Fen;
use chrono::NaiveDate;
use serde_json::Value;
use sqlx::Row;
use std::path::{Path, PathBuf};

const ACCOUNT: &str = "130100000012345678";
const NEIGHBOUR: &str = "130100000012349999";

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

fn now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339("2026-11-26T09:00:00+08:00").unwrap()
}

fn iso(name: &str) -> PathBuf {
    fixture(&format!("bank/iso/{name}"))
}

fn sample(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/iso20022/samples").join(rel)
}

/// A copy of `src` in the test's folder (ingest moves a refused file into quarantine).
fn copy(env: &TestEnv, src: &Path, name: &str) -> PathBuf {
    let to = env.path(name);
    std::fs::copy(src, &to).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    to
}

/// `aidpay --json ingest FILE` with extra environment: the file's summary.
async fn ingest(env: &TestEnv, path: &Path, extra: &[(&str, &str)]) -> Value {
    let out = env.run(&["--json", "ingest", path.to_str().unwrap()], extra).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    v["files"][0].clone()
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

async fn entry_count(env: &TestEnv, account: &str) -> i64 {
    let store = env.store().await;
    sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM statement_entries WHERE account_no = $1")
        .bind(account)
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0)
}

/// The `Ntry` elements of a file's text, comments removed.
fn ntry_count(bytes: &[u8]) -> u64 {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    while let Some(start) = text.find("<!--") {
        let end = text[start..].find("-->").map_or(text.len(), |e| start + e + 3);
        text.replace_range(start..end, "");
    }
    text.match_indices("<Ntry").filter(|(i, _)| text[i + 5..].starts_with(|c: char| c == '>' || c.is_whitespace())).count() as u64
}

fn yuan(v: &Value) -> i64 {
    let d: rust_decimal::Decimal = v.as_str().unwrap().parse().unwrap();
    i64::try_from(d * rust_decimal::Decimal::ONE_HUNDRED).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_references_never_merge_and_a_repeat_is_stored_once_in_both_directions() {
    let statement = iso("camt053-v02-shared-references.xml");
    let notification = iso("camt054-v08-pending-then-booked.xml");
    assert_eq!(ntry_count(&std::fs::read(&statement).unwrap()), 8);

    // camt.054 first, then the camt.053 that repeats it.
    let env = TestEnv::new().await;
    let a = ingest(&env, &notification, &[]).await;
    assert_eq!((a["outcome"].as_str(), n(&a, "entries"), n(&a, "entries_not_booked")), (Some("applied"), 5, 2), "{a}");
    let r = env.json_async(&["reconcile"], 0).await;
    assert_eq!(r["allocations"], 0, "the pending allocation moved no money yet: {r}");
    assert_eq!(yuan(&r["position"]["allocations_in"]), 0);
    let b = ingest(&env, &statement, &[]).await;
    assert_eq!((n(&b, "entries_read"), n(&b, "entries_repeated"), n(&b, "entries")), (8, 4, 4), "{b}");
    assert_eq!(entry_count(&env, ACCOUNT).await, 9, "8 real entries and the information entry");
    let r = env.json_async(&["reconcile"], 0).await;
    assert_eq!(r["allocations"], 1, "booked now, counted once: {r}");
    assert_eq!(yuan(&r["position"]["allocations_in"]), 5_000_000);
    // The same statement again, as an overlapping one under another id and file: nothing new.
    let text = std::fs::read_to_string(&statement).unwrap().replace("130100000012345678-20261125", "130100000012345678-20261125-again");
    let again = env.path("again.xml");
    std::fs::write(&again, text).unwrap();
    let c = ingest(&env, &again, &[]).await;
    assert_eq!((n(&c, "entries_read"), n(&c, "entries_repeated"), n(&c, "entries")), (8, 8, 0), "{c}");
    let store = env.store().await;
    let rows = sqlx::query(
        "SELECT identified_by, status, CAST(COUNT(*) AS BIGINT) FROM statement_entries WHERE account_no = $1 GROUP BY identified_by, status ORDER BY status",
    )
    .bind(ACCOUNT)
    .fetch_all(store.pool())
    .await
    .unwrap();
    let groups: Vec<(String, String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    assert_eq!(groups, [("acct_svcr_ref".into(), "booked".into(), 8), ("acct_svcr_ref".into(), "info".into(), 1)]);
    let refs: Vec<(String, i64)> = sqlx::query(
        "SELECT bank_ref, CAST(COUNT(*) AS BIGINT) FROM statement_entries WHERE account_no = $1 GROUP BY bank_ref ORDER BY bank_ref",
    )
    .bind(ACCOUNT)
    .fetch_all(store.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    assert!(refs.contains(&("D2026112500042".into(), 2)) && refs.contains(&("Q2026112500003".into(), 3)), "{refs:?}");
    // The return credit under its debit's reference was not lost: it is matched as money back
    // once its payment is known to have failed; here (no batches) it is at least on the list.
    let ex = env.json_async(&["exceptions", "list", "--kind", "unmatched_return_credit"], 0).await;
    assert!(ex.as_array().unwrap().iter().any(|e| e["amount"] == "1500.00" && e["detail"].as_str().unwrap().contains("D2026112500042")), "{ex}");

    // The other direction: the camt.053 first, then the camt.054.
    let env = TestEnv::new().await;
    let b = ingest(&env, &statement, &[]).await;
    assert_eq!(n(&b, "entries"), 8, "{b}");
    let a = ingest(&env, &notification, &[]).await;
    assert_eq!((n(&a, "entries_read"), n(&a, "entries_repeated"), n(&a, "entries")), (5, 4, 1), "{a}");
    assert_eq!(entry_count(&env, ACCOUNT).await, 9);
    let store = env.store().await;
    let status: String = sqlx::query("SELECT status FROM statement_entries WHERE bank_ref = 'C2026112500017'").fetch_one(store.pool()).await.unwrap().get(0);
    assert_eq!(status, "booked", "a booked entry is never turned back to pending");
    let r = env.json_async(&["reconcile"], 0).await;
    assert_eq!((r["allocations"].as_u64(), yuan(&r["position"]["allocations_in"])), (Some(1), 5_000_000), "{r}");
}

/// Imported and batched; the BOC batch B20261125000001 answered by the hand-written pain.002
/// (AP000000000003 refused, AC04) and debited gross on the special account's statement, so
/// the refused payment's money is out of the account.
async fn money_out_of_ap3() -> (TestEnv, i64) {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    env.json_async(&["batch"], 0).await;
    env.json_async(&["ingest", iso("pain002-v03-prefixed-mixed.xml").to_str().unwrap()], 0).await;
    let store = env.store().await;
    let b = store.batches().await.unwrap().into_iter().find(|b| b.batch_id == "B20261125000001").unwrap();
    let spec = StatementSpec {
        account_no: ACCOUNT.into(),
        account_name: None,
        statement_id: "STMT-DEBIT".into(),
        from_date: day(25),
        to_date: day(25),
        opening: Fen(10_000_000),
        entries: vec![SimEntry::BatchDebit { batch_id: b.batch_id.clone(), amount: Fen(b.ctrl_sum_fen), nb_of_txs: b.nb_of_txs as usize, date: day(25), details: vec![] }],
        break_balance: None,
    };
    let path = env.path("debit.xml");
    std::fs::write(&path, camt053(&spec, Camt053Version::V02, &now())).unwrap();
    assert_eq!(ingest(&env, &path, &[]).await["outcome"], "applied");
    let r = env.json_async(&["reconcile"], 0).await;
    assert_eq!(r["batch_debits_matched"], 1, "{r}");
    let ex = env.json_async(&["exceptions", "list", "--kind", "bank_rejected"], 0).await;
    let id = ex.as_array().unwrap().iter().find(|e| e["payment_ref"] == "AP000000000003").unwrap()["id"].as_i64().unwrap();
    assert_eq!(money(&env, "AP000000000003").await, (1, 0), "the gross debit took its money");
    (env, id)
}

/// (money_out, credit_back) of a payment.
async fn money(env: &TestEnv, payment_ref: &str) -> (i64, i64) {
    let store = env.store().await;
    let r = sqlx::query("SELECT money_out, credit_back FROM payments WHERE payment_ref = $1").bind(payment_ref).fetch_one(store.pool()).await.unwrap();
    (r.get(0), r.get(1))
}

async fn reissue(env: &TestEnv, id: i64) -> std::process::Output {
    let store = env.store().await;
    let holder: String = sqlx::query("SELECT card_holder FROM payments WHERE payment_ref = 'AP000000000003'").fetch_one(store.pool()).await.unwrap().get(0);
    let holder = store.reveal(aidpay::crypto::purpose::CARD_HOLDER, holder).unwrap();
    env.user("clerk", "clerk").await;
    env.run_with_stdin(
        &["exceptions", "resolve", &id.to_string(), "--reissue", "--card", "6217000010001234569", "--holder", &holder, "--note", "换新卡", "--user", "clerk"],
        &crate::util::password_of("clerk"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_special_accounts_money_counts() {
    let (env, id) = money_out_of_ap3().await;

    // Another account's statement with a return credit naming our payment: refused whole.
    let foreign = ingest(&env, &copy(&env, &iso("camt053-v02-foreign-account-return.xml"), "foreign.xml"), &[]).await;
    assert_eq!(foreign["outcome"], "quarantined", "{foreign}");
    let why = foreign["error"].as_str().unwrap();
    assert!(why.contains(NEIGHBOUR) && why.contains(&format!("不是本专户 {ACCOUNT}")), "{why}");
    assert_eq!(n(&foreign, "entries"), 0);
    assert_eq!(money(&env, "AP000000000003").await, (1, 0), "its money is NOT back");
    let refused = reissue(&env, id).await;
    assert_eq!(refused.status.code(), Some(1), "no re-issue while the money is out");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("退票"));
    assert_eq!(entry_count(&env, NEIGHBOUR).await, 0, "nothing of it stored, under any account");

    // Another currency on the special account's own number: refused naming it.
    let eur = ingest(&env, &copy(&env, &iso("camt053-v02-eur-special-account.xml"), "eur.xml"), &[]).await;
    assert_eq!(eur["outcome"], "quarantined");
    let why = eur["error"].as_str().unwrap();
    assert!(why.contains("EUR") && why.contains("CNY") && why.contains("account.currency"), "{why}");
    // No account at all: refused, saying how a bank that sends such excerpts is configured.
    let none = ingest(&env, &copy(&env, &iso("camt053-v08-excerpt-without-account.xml"), "excerpt.xml"), &[]).await;
    assert_eq!(none["outcome"], "quarantined");
    let why = none["error"].as_str().unwrap();
    assert!(why.contains("未注明账号") && why.contains("statements_without_account"), "{why}");
    let store = env.store().await;
    let statements: i64 = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM statements").fetch_one(store.pool()).await.unwrap().get(0);
    assert_eq!(statements, 1, "only the special account's own statement is stored");

    // The same return credit on the special account's own statement: the money is back.
    let text = std::fs::read_to_string(iso("camt053-v02-foreign-account-return.xml")).unwrap().replace(NEIGHBOUR, ACCOUNT);
    let own = env.path("own.xml");
    std::fs::write(&own, text).unwrap();
    let applied = ingest(&env, &own, &[]).await;
    assert_eq!((applied["outcome"].as_str(), n(&applied, "entries")), (Some("applied"), 1), "{applied}");
    assert_eq!(money(&env, "AP000000000003").await, (0, 1));
    let out = reissue(&env, id).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_never_applies_another_districts_statement() {
    // One province database, two districts (two configurations on the same store).
    let env = TestEnv::new().await;
    let b = [("AIDPAY_ACCOUNT__NUMBER", NEIGHBOUR)];
    let theirs = iso("camt053-v02-foreign-account-return.xml");
    let by_a = ingest(&env, &copy(&env, &theirs, "b-statement.xml"), &[]).await;
    assert_eq!(by_a["outcome"], "quarantined", "district A refuses B's statement: {by_a}");
    let by_b = ingest(&env, &copy(&env, &theirs, "b-statement.xml"), &b).await;
    assert_eq!((by_b["outcome"].as_str(), n(&by_b, "entries")), (Some("applied"), 1), "district B applies its own: {by_b}");
    // District A's statement under the very same Stmt/Id (a bank numbering statements its own way).
    let text = std::fs::read_to_string(&theirs).unwrap().replace(&format!("<Id>{NEIGHBOUR}</Id>"), &format!("<Id>{ACCOUNT}</Id>"));
    let mine = env.path("a-statement.xml");
    std::fs::write(&mine, text).unwrap();
    assert!(std::fs::read_to_string(&mine).unwrap().contains(&format!("<Id>{NEIGHBOUR}-20261125</Id>")), "same statement id");
    let by_a = ingest(&env, &mine, &[]).await;
    assert_eq!((by_a["outcome"].as_str(), n(&by_a, "entries")), (Some("applied"), 1), "{by_a}");
    let store = env.store().await;
    let rows = sqlx::query("SELECT account_no FROM statements WHERE statement_id = $1 ORDER BY account_no")
        .bind(format!("{NEIGHBOUR}-20261125"))
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(rows.iter().map(|r| r.get::<String, _>(0)).collect::<Vec<_>>(), [ACCOUNT, NEIGHBOUR], "one statement each");
    let a = env.json_async(&["reconcile"], 0).await;
    assert_eq!((a["statements"].as_u64(), a["unmatched_credits"].as_u64()), (Some(1), Some(1)), "A sees its own only: {a}");
    let r = env.run(&["--json", "reconcile"], &b).await;
    let r: Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(r["statements"], 1, "{r}");
    assert_eq!(entry_count(&env, ACCOUNT).await, 1);
    assert_eq!(entry_count(&env, NEIGHBOUR).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_and_information_entries_are_shown_not_reconciled() {
    let env = TestEnv::new().await;
    let a = ingest(&env, &iso("camt054-v08-pending-then-booked.xml"), &[]).await;
    assert_eq!((n(&a, "entries"), n(&a, "entries_not_booked")), (5, 2), "{a}");
    let r = env.json_async(&["reconcile"], 0).await;
    // Only the three booked entries are looked at: the batch debit (no batch here), the return
    // credit and the QR credit; not the pending allocation, not the information entry.
    assert_eq!((r["unknown_debits"].as_u64(), r["unmatched_credits"].as_u64(), r["allocations"].as_u64()), (Some(1), Some(2), Some(0)), "{r}");
    let ex = env.json_async(&["exceptions", "list"], 0).await;
    assert!(!ex.as_array().unwrap().iter().any(|e| e["amount"] == "800.00" || e["amount"] == "50000.00"), "{ex}");
    // Shown in the reconciliation report, marked as not booked.
    let report = env.json_async(&["report", "reconciliation", "--format", "html"], 0).await;
    let html = std::fs::read_to_string(report["report"].as_str().unwrap()).unwrap();
    for part in ["通知 130100000012345678-N-20261125-0311", "C2026112500017", "待记账", "I2026112500001", "仅供参考", "不计入余额与对账"] {
        assert!(html.contains(part), "{part} in the report");
    }
    // The statement repeating the notification takes its entries over: its report lists them all.
    env.json_async(&["ingest", iso("camt053-v02-shared-references.xml").to_str().unwrap()], 0).await;
    let store = env.store().await;
    let under: Vec<(String, i64)> = sqlx::query(
        "SELECT statement_id, CAST(COUNT(*) AS BIGINT) FROM statement_entries WHERE account_no = $1 GROUP BY statement_id ORDER BY statement_id",
    )
    .bind(ACCOUNT)
    .fetch_all(store.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    assert_eq!(under, [("130100000012345678-20261125".to_string(), 8), ("130100000012345678-N-20261125-0311".to_string(), 1)], "only the INFO entry stays with the notification");
    let report = env.json_async(&["report", "reconciliation", "--format", "html"], 0).await;
    let html = std::fs::read_to_string(report["report"].as_str().unwrap()).unwrap();
    assert!(html.contains("D2026112500042") && html.contains("Q2026112500003") && html.contains("I2026112500001"), "{html}");
    // A statement with an entry not booked: listed, outside the balance.
    let spec = StatementSpec {
        account_no: ACCOUNT.into(),
        account_name: None,
        statement_id: "STMT-PDNG".into(),
        from_date: day(26),
        to_date: day(26),
        opening: Fen(14_760_000),
        entries: vec![],
        break_balance: None,
    };
    let habits = BankHabits {
        not_booked: vec![(SimEntry::OtherDebit { amount: Fen(12_300), date: day(26), text: "预授权".into() }, NotBooked::Pending)],
        ..Default::default()
    };
    let path = env.path("pdng.xml");
    std::fs::write(&path, camt053_as(&spec, Camt053Version::V08, &now(), &habits)).unwrap();
    let v = ingest(&env, &path, &[]).await;
    assert_eq!((n(&v, "entries"), n(&v, "entries_not_booked")), (1, 1), "{v}");
    let r = env.json_async(&["reconcile"], 0).await;
    // The batch debit (no batch in this store) and the fee are unknown; the pending debit is not.
    assert_eq!((r["unknown_debits"].as_u64(), r["balance_breaks"].as_u64()), (Some(2), Some(0)), "{r}");
    let ex = env.json_async(&["exceptions", "list", "--kind", "unknown_debit"], 0).await;
    assert!(!ex.as_array().unwrap().iter().any(|e| e["amount"] == "123.00"), "{ex}");
    let report = env.json_async(&["report", "reconciliation", "--format", "html"], 0).await;
    let html = std::fs::read_to_string(report["report"].as_str().unwrap()).unwrap();
    assert!(html.contains("待记账") && html.contains("不计入余额与对账"), "pending entries shown as such");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lenient_where_the_money_facts_are_clear_strict_where_one_is_missing() {
    let env = TestEnv::new().await;
    let v = ingest(&env, &iso("camt053-v02-balance-without-sign.xml"), &[]).await;
    assert_eq!(v["outcome"], "applied", "{v}");
    let warnings = v["warnings"].as_array().unwrap();
    assert!(warnings.len() == 2 && warnings[0].as_str().unwrap().contains("没有 CdtDbtInd"), "{v}");
    let store = env.store().await;
    let kept: Option<String> = sqlx::query("SELECT warnings FROM statements WHERE statement_id = $1")
        .bind(format!("{ACCOUNT}-20261125-B"))
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert!(kept.unwrap_or_default().contains("按原样读取"), "the warning is kept on the statement");
    let v = ingest(&env, &iso("camt053-v02-signed-summary.xml"), &[]).await;
    assert_eq!((v["outcome"].as_str(), n(&v, "entries")), (Some("applied"), 2), "{v}");
    let r = env.json_async(&["reconcile"], 0).await;
    assert_eq!(r["balance_breaks"], 0, "both statements add up as read: {r}");
    // An entry without its sign is a missing money fact: the file is refused.
    let text = std::fs::read_to_string(iso("camt053-v02-signed-summary.xml")).unwrap().replacen("<CdtDbtInd>DBIT</CdtDbtInd>\n\t\t\t\t<Sts>", "<Sts>", 1);
    let broken = env.path("unsigned-entry.xml");
    std::fs::write(&broken, text).unwrap();
    let v = ingest(&env, &broken, &[]).await;
    assert_eq!(v["outcome"], "quarantined", "{v}");
    assert!(v["error"].as_str().unwrap().contains("缺少 CdtDbtInd"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_file_rejected_without_its_name_raises_file_rejected_at_once() {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    env.json_async(&["batch"], 0).await;
    let v = ingest(&env, &iso("pain002-v03-group-rjct-unnamed.xml"), &[]).await;
    assert_eq!((v["outcome"].as_str(), v["file_rejected"].as_bool(), n(&v, "statuses")), (Some("applied"), Some(true), 0), "{v}");
    let ex = env.json_async(&["exceptions", "list", "--kind", "file_rejected"], 0).await;
    let list = ex.as_array().unwrap();
    assert_eq!(list.len(), 1, "{ex}");
    let e = &list[0];
    assert_eq!((e["severity"].as_str(), e["reason_code"].as_str()), (Some("high"), Some("FF01")));
    let detail = e["detail"].as_str().unwrap();
    for part in ["pain002-v03-group-rjct-unnamed.xml", "BOC002202611260000009", "文件格式错误，无法解析", "B20261125000001"] {
        assert!(detail.contains(part), "{part} in {detail}");
    }
    assert!(!detail.contains("B20261125000002"), "the ICBC batch went as a domestic file, not to this bank: {detail}");
    let store = env.store().await;
    let st: Vec<String> = sqlx::query("SELECT DISTINCT status FROM payments").fetch_all(store.pool()).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(st, ["sent"], "nothing applied");

    // The simulator's bank does the same (OrgnlMsgId NOTPROVIDED), from the drop folder's answer.
    let bytes = aidpay::banksim::pain002::unreadable_file_reject(
        &Reason::new("FF01", "报文无法解析"),
        aidpay::banksim::Pain002Version::V10,
        "RPT20261126090000000002",
        &now(),
    );
    std::fs::write(env.path("var/inbox/pain002_unreadable.xml"), bytes).unwrap();
    let v = env.json_async(&["ingest"], 0).await;
    assert_eq!(v["files"][0]["file_rejected"], true, "{v}");
    let ex = env.json_async(&["exceptions", "list", "--kind", "file_rejected"], 0).await;
    assert_eq!(ex.as_array().unwrap().len(), 2, "{ex}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantined_file_is_ingested_again_once_it_reads() {
    let env = TestEnv::new().await;
    let path = copy(&env, &iso("camt053-v08-excerpt-without-account.xml"), "excerpt.xml");
    let first = ingest(&env, &path, &[]).await;
    assert_eq!(first["outcome"], "quarantined", "{first}");
    let kept = PathBuf::from(first["quarantined_to"].as_str().unwrap());
    // Still the same profile: quarantined again, not "seen before".
    let again = ingest(&env, &copy(&env, &kept, "excerpt-again.xml"), &[]).await;
    assert_eq!(again["outcome"], "quarantined", "{again}");
    // The bank's profile corrected: the bank sends excerpts without an account.
    let fixed = [("AIDPAY_BANKS__BOC__STATEMENTS_WITHOUT_ACCOUNT", ACCOUNT)];
    let v = ingest(&env, &kept, &fixed).await;
    assert_eq!((v["outcome"].as_str(), n(&v, "entries")), (Some("applied"), 1), "{v}");
    assert!(v["warnings"][0].as_str().unwrap().contains("banks.boc.statements_without_account"), "{v}");
    assert!(kept.exists(), "a file named on the command line stays where it is");
    let twice = ingest(&env, &kept, &fixed).await;
    assert_eq!(twice["outcome"], "duplicate", "applied once: {twice}");
    let r = env.run(&["--json", "reconcile"], &fixed).await;
    let r: Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(r["allocations"], 1, "{r}");
    // A profile naming another account than the special account's is refused at start.
    let bad = env.run(&["status"], &[("AIDPAY_BANKS__BOC__STATEMENTS_WITHOUT_ACCOUNT", NEIGHBOUR)]).await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("banks.boc.statements_without_account"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf16_and_other_encodings_are_refused_by_their_encoding() {
    let env = TestEnv::new().await;
    let v = ingest(&env, &copy(&env, &iso("camt053-v02-utf16le-bom.xml"), "utf16.xml"), &[]).await;
    assert_eq!(v["outcome"], "quarantined", "{v}");
    let why = v["error"].as_str().unwrap();
    assert!(why.contains("UTF-16") && why.contains("iconv -f UTF-16 -t UTF-8") && !why.contains("不是可识别的银行文件"), "{why}");
    let text = std::fs::read_to_string(iso("camt053-v02-shared-references.xml")).unwrap();
    let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let path = env.path("utf16be.xml");
    std::fs::write(&path, be).unwrap();
    let why = ingest(&env, &path, &[]).await["error"].as_str().unwrap().to_string();
    assert!(why.contains("UTF-16 编码（大端序，无字节顺序标记 BOM") && why.contains("iconv -f UTF-16BE"), "{why}");
    let latin1 = env.path("latin1.txt");
    std::fs::write(&latin1, b"Zahlung \xe9\xff\xfe\xff fertig\n").unwrap();
    let why = ingest(&env, &latin1, &[]).await["error"].as_str().unwrap().to_string();
    assert!(why.contains("既不是 UTF-8 也不是 GBK"), "{why}");
    // Converted, it reads.
    let converted = env.path("converted.xml");
    std::fs::write(&converted, text).unwrap();
    assert_eq!(ingest(&env, &converted, &[]).await["outcome"], "applied");
}

/// The real samples: (file, its account, its currency).
const SAMPLES: &[(&str, Option<&str>, &str)] = &[
    ("camt.053/fffs_finland/FI_camt_053_sample.xml.xml", Some("FI7433010001222090"), "EUR"),
    ("camt.054/fffs_finland/FI_camt_054_sample.xml.xml", Some("FI7433010001222090"), "EUR"),
    ("camt.053/abn_amro/example_camt.xml", Some("NL77ABNA0574908765"), "EUR"),
    ("camt.053/ing/example_camt.xml", Some("NL08INGB0000001234"), "EUR"),
    ("camt.053/postfinance/postfinance_camt053.xml", None, "CHF"),
    ("camt.053/siauliu_bankas/statement_1.xml", Some("LT007180000000000000"), "EUR"),
    ("camt.053/postfinance_camt_parser/valid_example_v4.xml", Some("CH0309000000250090342"), "CHF"),
    ("camt.054/postfinance/9_camt054 Return_Detailavisierung mit Sammelbuchung_ISO2019_v2019.xml", Some("CH2909000000250094239"), "CHF"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_real_sample_is_refused_naming_its_account_or_currency_or_stored_whole() {
    // For the special account (CNY) each sample is another account's or in another currency:
    // refused, saying which. Configured as the sample account's owner (its number and
    // currency), every entry of it is stored: as many as the file has Ntry elements.
    let env = TestEnv::new().await;
    let mut table = Vec::new();
    for (i, (rel, account, currency)) in SAMPLES.iter().enumerate() {
        let src = sample(rel);
        let in_file = ntry_count(&std::fs::read(&src).unwrap());
        let v = ingest(&env, &copy(&env, &src, &format!("s{i}-a.xml")), &[]).await;
        assert_eq!(v["outcome"], "quarantined", "{rel}: {v}");
        let why = v["error"].as_str().unwrap().to_string();
        match account {
            Some(a) => assert!(why.contains(a) && why.contains("不是本专户"), "{rel}: {why}"),
            None => assert!(why.contains("未注明账号"), "{rel}: {why}"),
        }
        // Its own account number but our currency: refused naming the currency.
        let own_number = account.unwrap_or("CH0000EXCERPT");
        let mut own = vec![("AIDPAY_ACCOUNT__NUMBER", own_number)];
        if account.is_none() {
            own.push(("AIDPAY_BANKS__BOC__STATEMENTS_WITHOUT_ACCOUNT", own_number));
        }
        let v = ingest(&env, &copy(&env, &src, &format!("s{i}-b.xml")), &own).await;
        assert_eq!(v["outcome"], "quarantined", "{rel}: {v}");
        let ccy_why = v["error"].as_str().unwrap().to_string();
        assert!(ccy_why.contains(currency) && ccy_why.contains("CNY"), "{rel}: {ccy_why}");
        // The sample account's owner: every entry stored.
        own.push(("AIDPAY_ACCOUNT__CURRENCY", currency));
        let before = entry_count(&env, own_number).await as u64;
        let v = ingest(&env, &src, &own).await;
        assert_eq!(v["outcome"], "applied", "{rel}: {v}");
        assert_eq!(n(&v, "entries_read"), in_file, "{rel}: every Ntry read");
        let stored = entry_count(&env, own_number).await as u64 - before;
        assert_eq!(stored + n(&v, "entries_repeated"), in_file, "{rel}: every entry stored or recognised as stored: {v}");
        table.push((rel.to_string(), in_file, stored, n(&v, "entries_repeated"), why));
    }
    // The Finnish camt.054 repeats four entries of the camt.053 before it, and adds two.
    let fi = &table[1];
    assert_eq!((fi.1, fi.2, fi.3), (6, 2, 4), "{fi:?}");
    for (rel, in_file, stored, repeated, _) in &table {
        if !rel.contains("FI_camt_054") {
            assert_eq!((stored, repeated), (in_file, &0), "{rel}");
        }
    }
    // ABN AMRO 13 (10 before), ING 9 (7 before, the lost one the AC04 return credit).
    assert_eq!(table[2].2, 13);
    assert_eq!(table[3].2, 9);
    let store = env.store().await;
    let ac04: i64 = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM statement_entries e JOIN statement_details d ON d.entry_id = e.id \
         WHERE e.account_no = 'NL08INGB0000001234' AND d.return_reason = 'AC04' AND e.credit = 1",
    )
    .fetch_one(store.pool())
    .await
    .unwrap()
    .get(0);
    assert_eq!(ac04, 1, "ING's AC04 return credit is kept");
    for (rel, in_file, stored, repeated, why) in &table {
        eprintln!("| {rel} | {in_file} | {stored} (+{repeated} already stored) | {why} |");
    }

    // The other direction with the Finnish pair: the camt.054 first, then the camt.053.
    let env = TestEnv::new().await;
    let own = [("AIDPAY_ACCOUNT__NUMBER", "FI7433010001222090"), ("AIDPAY_ACCOUNT__CURRENCY", "EUR")];
    let a = ingest(&env, &sample(SAMPLES[1].0), &own).await;
    assert_eq!(n(&a, "entries"), 6);
    let b = ingest(&env, &sample(SAMPLES[0].0), &own).await;
    assert_eq!((n(&b, "entries_read"), n(&b, "entries_repeated"), n(&b, "entries")), (10, 4, 6), "{b}");
    assert_eq!(entry_count(&env, "FI7433010001222090").await, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_behaves_like_these_banks() {
    // A gross-booking bank that books the return credit under its batch debit's reference,
    // lists a pending allocation, and later sends a statement for a foreign account and one in EUR.
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    env.json_async(&["batch"], 0).await;
    let picked = pick_up(&env.path("var/bank/boc")).unwrap();
    let store = env.store().await;
    let refused: String = sqlx::query("SELECT payment_ref FROM payments WHERE profile = 'boc' ORDER BY payment_ref")
        .fetch_all(store.pool())
        .await
        .unwrap()[1]
        .get(0);
    let mix = AnswerMix::settle_all().with_reference(&refused, Fate::Reject(Reason::closed()));
    let answered = answer_picked(&picked, &mix, &AnswerOptions::new(now())).unwrap();
    for a in &answered {
        std::fs::write(env.path("var/inbox").join(&a.answer_name), &a.answer).unwrap();
    }
    env.json_async(&["ingest"], 0).await;
    let executed: Vec<_> = answered.iter().map(|a| a.executed()).collect();
    let opts = StatementOptions {
        account_no: ACCOUNT.into(),
        account_name: None,
        statement_id: "SIM-SHARED".into(),
        from_date: day(25),
        to_date: day(25),
        with_details: false,
        late_returns: false,
    };
    let spec = aidpay::banksim::statement::statement_for(&executed, Fen(10_000_000), Booking::Gross, &opts);
    let habits = BankHabits {
        references: References::ReturnsReuseOriginal,
        not_booked: vec![(
            SimEntry::Allocation { amount: Fen(100_000), counterpart_account: "130100000000000001".into(), counterpart_name: "某某区财政局".into(), date: day(25) },
            NotBooked::Pending,
        )],
        ..Default::default()
    };
    let path = env.path("sim-shared.xml");
    std::fs::write(&path, camt053_as(&spec, Camt053Version::V02, &now(), &habits)).unwrap();
    let v = ingest(&env, &path, &[]).await;
    assert_eq!((n(&v, "entries"), n(&v, "entries_not_booked")), (3, 1), "debit, return credit under its reference, pending: {v}");
    let r = env.json_async(&["reconcile"], 0).await;
    assert_eq!((r["batch_debits_matched"].as_u64(), r["returns_matched"].as_u64(), r["unmatched_credits"].as_u64()), (Some(1), Some(1), Some(0)), "{r}");
    assert_eq!(money(&env, &refused).await, (0, 1), "the return credit was not lost: the money is back");

    let foreign = StatementSpec { account_no: NEIGHBOUR.into(), statement_id: "SIM-FOREIGN".into(), ..spec.clone() };
    let path = env.path("sim-foreign.xml");
    std::fs::write(&path, camt053(&foreign, Camt053Version::V08, &now())).unwrap();
    let v = ingest(&env, &path, &[]).await;
    assert!(v["error"].as_str().unwrap().contains(NEIGHBOUR), "{v}");
    let eur = StatementSpec { statement_id: "SIM-EUR".into(), ..spec.clone() };
    let path = env.path("sim-eur.xml");
    std::fs::write(&path, camt053_as(&eur, Camt053Version::V02, &now(), &BankHabits { currency: Some("EUR".into()), ..Default::default() })).unwrap();
    let v = ingest(&env, &path, &[]).await;
    assert!(v["error"].as_str().unwrap().contains("EUR"), "{v}");
    let unnamed = StatementSpec { statement_id: "SIM-UNNAMED".into(), ..spec };
    let path = env.path("sim-unnamed.xml");
    std::fs::write(&path, camt053_as(&unnamed, Camt053Version::V02, &now(), &BankHabits { without_account: true, ..Default::default() })).unwrap();
    let v = ingest(&env, &path, &[]).await;
    assert!(v["error"].as_str().unwrap().contains("未注明账号"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_0003_upgrades_a_store_that_already_holds_statements() {
    // A store as the previous version left it: only 0001 applied, with statements whose entries
    // were keyed by the bank's reference alone — and an entry of another district under a
    // statement header of this one (the old statement-id collision).
    let env = TestEnv::new().await;
    std::fs::create_dir_all(env.path("var")).unwrap();
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&env.db_url).await.unwrap();
    let mut old = sqlx::migrate::Migrator::new(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/migrations"))).await.unwrap();
    old.migrations = old.migrations.iter().filter(|m| m.version == 1).cloned().collect::<Vec<_>>().into();
    old.run(&pool).await.unwrap();
    for sql in [
        "INSERT INTO files (id, direction, kind, name, sha256, size_bytes, status, created_at) VALUES (1, 'in', 'camt053', 'old.xml', 'aa', 1, 'applied', '2026-11-25T18:00:00+08:00')",
        "INSERT INTO statements (statement_id, kind, account_no, from_date, to_date, opening_fen, closing_fen, credits_fen, debits_fen, entry_count, file_id, created_at) \
         VALUES ('OLD-1', 'statement', '130100000012345678', '2026-11-25', '2026-11-25', 10000000, 14550000, 5000000, 450000, 2, 1, '2026-11-25T18:00:00+08:00')",
        "INSERT INTO statement_entries (id, statement_id, account_no, entry_key, booking_date, credit, reversal, amount_fen, batch_ref, info, matched) \
         VALUES (1, 'OLD-1', '130100000012345678', 'D2026112500042', '2026-11-25', 0, 0, 450000, 'B20261125000001', '批量代发', NULL)",
        "INSERT INTO statement_entries (id, statement_id, account_no, entry_key, booking_date, credit, reversal, amount_fen, counterpart, matched) \
         VALUES (2, 'OLD-1', '130100000012345678', 'C2026112500017', '2026-11-25', 1, 0, 5000000, '130100000000000001', 'allocation')",
        "INSERT INTO statement_entries (id, statement_id, account_no, entry_key, booking_date, credit, reversal, amount_fen, matched) \
         VALUES (3, 'OLD-1', '130100000012349999', 'X1', '2026-11-25', 1, 0, 100, NULL)",
        "INSERT INTO statement_details (entry_id, position, end_to_end_id, amount_fen) VALUES (2, 0, 'CZ13010020261125001', 5000000)",
        "UPDATE id_counters SET next_id = 4 WHERE name = 'statement_entries'",
        "UPDATE id_counters SET next_id = 2 WHERE name = 'files'",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    pool.close().await;

    // The new version opens it: migrated in place, every row kept.
    let store = env.store().await;
    let rows = sqlx::query("SELECT id, account_no, statement_id, entry_key, identity, identified_by, status, matched FROM statement_entries ORDER BY id")
        .fetch_all(store.pool())
        .await
        .unwrap();
    let got: Vec<(i64, String, String, String, String, String, String, Option<String>)> =
        rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), r.get(7))).collect();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].4, "D2026112500042|D|-|450000");
    assert_eq!(got[1].4, "C2026112500017|C|-|5000000");
    assert_eq!(got[1].7.as_deref(), Some("allocation"), "what reconciliation matched is kept");
    assert!(got.iter().all(|g| g.5 == "legacy" && g.6 == "booked" && g.2 == "OLD-1"), "{got:?}");
    let headers: Vec<(String, Option<i64>)> = sqlx::query("SELECT account_no, closing_fen FROM statements ORDER BY account_no")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(headers, [(ACCOUNT.to_string(), Some(14_550_000)), (NEIGHBOUR.to_string(), None)], "the other district's entry got its own header");
    let details: i64 = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM statement_details").fetch_one(store.pool()).await.unwrap().get(0);
    assert_eq!(details, 1);
    store.close().await;

    // And works the new way: the day's statement again repeats the two old entries and adds the
    // six the old keys had lost or never seen (the return under D2026112500042 among them).
    let v = ingest(&env, &iso("camt053-v02-shared-references.xml"), &[]).await;
    assert_eq!((n(&v, "entries_read"), n(&v, "entries_repeated"), n(&v, "entries")), (8, 2, 6), "{v}");
    assert_eq!(entry_count(&env, ACCOUNT).await, 8);
    let r = env.json_async(&["reconcile"], 0).await;
    assert_eq!(yuan(&r["position"]["allocations_in"]), 5_000_000, "the allocation matched before is counted once: {r}");
    let again = env.store().await;
    let ids: Vec<i64> = sqlx::query("SELECT id FROM statement_entries WHERE identified_by <> 'legacy' ORDER BY id").fetch_all(again.pool()).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(ids.first(), Some(&4), "new entries take ids after the old ones");
}
