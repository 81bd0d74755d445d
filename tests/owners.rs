//! Issue 12: every grant always has an owner. Each path of `exceptions resolve` leaves the grant
//! waiting, to be batched, in flight, paid, held with an open exception, or cancelled (and
//! `aidpay verify` proves it); a school's corrected re-send replaces a grant never attempted; a
//! card is one person's.

use crate::util::{TestEnv, assert_counts_add_up, fixture, import_one};
use aidpay::banksim::{AnswerMix, AnswerOptions, Fate, Reason, answer_dropped, pick_up};
use aidpay::config::{BankFormat, Config};
use serde_json::Value;
use sqlx::Row;

fn of_kind(list: &Value, kind: &str) -> Vec<Value> {
    list.as_array().unwrap().iter().filter(|e| e["kind"] == kind).cloned().collect()
}

/// The open exceptions of one kind.
async fn open_of(env: &TestEnv, kind: &str) -> Vec<Value> {
    of_kind(&env.json_async(&["exceptions", "list"], 0).await, kind)
}

async fn grant_status(env: &TestEnv, grant: &str) -> String {
    env.store().await.grant(grant).await.unwrap().unwrap().status.as_str().to_string()
}

async fn verify_ok(env: &TestEnv) -> Value {
    let v = env.json_async(&["verify"], 0).await;
    assert_eq!(v["ok"], true, "{v}");
    v
}

/// A Luhn-valid card number starting with `body`.
fn card(body: &str) -> String {
    (0..10).map(|d| format!("{body}{d}")).find(|c| aidpay::domain::card::luhn_ok(c)).unwrap()
}

/// utf8.csv's line for `grant`, with its card number (column 14) replaced by `new_card`.
fn line_with_card(grant: &str, new_card: &str) -> String {
    let text = std::fs::read_to_string(fixture("grants/utf8.csv")).unwrap();
    let line = text.lines().find(|l| l.starts_with(&format!("{grant},"))).unwrap();
    let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
    cells[13] = new_card.to_string();
    cells.join(",")
}

fn write_list(env: &TestEnv, name: &str, rows: &[String]) -> std::path::PathBuf {
    let header = std::fs::read_to_string(fixture("grants/utf8.csv")).unwrap().lines().next().unwrap().to_string();
    let path = env.path(name);
    std::fs::write(&path, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
    path
}

/// The bank answers what is in the ICBC drop folder with `mix`; the answer is ingested.
async fn answer_icbc(env: &TestEnv, mix: &AnswerMix) {
    let vars: std::collections::HashMap<String, String> = env.env.iter().cloned().collect();
    let cfg = Config::load_with_env(Some(&env.config), Some(vars)).unwrap();
    let mut opts = AnswerOptions::new(chrono::DateTime::parse_from_rfc3339("2026-11-26T09:00:00+08:00").unwrap());
    if let BankFormat::Domestic(d) = &cfg.bank("icbc").unwrap().format {
        opts.domestic = Some((**d).clone());
    }
    for (name, bytes) in answer_dropped(&pick_up(&env.path("var/bank/icbc")).unwrap(), mix, &opts).unwrap() {
        std::fs::write(env.path("var/inbox").join(name), bytes).unwrap();
    }
    env.json_async(&["ingest"], 0).await;
}

async fn icbc_refs(env: &TestEnv) -> Vec<(String, String)> {
    let store = env.store().await;
    sqlx::query("SELECT payment_ref, grant_id FROM payments WHERE profile = 'icbc' ORDER BY payment_ref")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_a_held_grants_finding_releases_it_to_be_paid_as_imported() {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    let off = open_of(&env, "amount_off_standard").await;
    let grant = off[0]["grant_id"].as_str().unwrap().to_string();
    assert_eq!(grant_status(&env, &grant).await, "held");
    verify_ok(&env).await;

    env.user("clerk", "clerk").await;
    let r = env.act("clerk", &["exceptions", "resolve", &off[0]["id"].to_string(), "--accept", "--note", "区财政特批标准"], 0).await;
    assert!(r["message"].as_str().unwrap().contains("放行"), "the confirmation says the grant goes out as imported: {r}");
    assert_eq!(grant_status(&env, &grant).await, "valid");
    env.json_async(&["batch"], 0).await;
    let payments = env.store().await.payments_of_grant(&grant).await.unwrap();
    assert_eq!(payments.len(), 1, "paid as imported with the next batch");
    verify_ok(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_what_the_bank_cannot_pay_is_refused_and_a_failed_payment_is_paid_again() {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    // A card failing its check digit cannot go out as it is.
    let bad = open_of(&env, "invalid_card").await;
    env.user("clerk", "clerk").await;
    let err = env.act("clerk", &["exceptions", "resolve", &bad[0]["id"].to_string(), "--accept", "--note", "x"], 1).await;
    assert!(err.as_str().unwrap().contains("--reissue --card"), "{err}");
    assert_eq!(open_of(&env, "invalid_card").await.len(), 1, "a refusal changes nothing");

    // The bank refuses one payment: its grant is held, on the work list.
    env.json_async(&["batch"], 0).await;
    let (rejected_ref, grant) = icbc_refs(&env).await.remove(0);
    answer_icbc(&env, &AnswerMix::settle_all().with_reference(&rejected_ref, Fate::Reject(Reason::name_mismatch()))).await;
    assert_eq!(grant_status(&env, &grant).await, "held", "a grant whose payment failed waits for a person");
    verify_ok(&env).await;

    // Accepting the rejection pays it again to the same card: never a grant left with a dead payment.
    let rej = open_of(&env, "bank_rejected").await;
    assert_eq!(rej.len(), 1);
    let r = env.act("clerk", &["exceptions", "resolve", &rej[0]["id"].to_string(), "--accept", "--note", "银行确认为临时故障"], 0).await;
    assert!(r["new_payment_ref"].is_string(), "{r}");
    assert_eq!(grant_status(&env, &grant).await, "valid");
    verify_ok(&env).await;
    env.json_async(&["batch"], 0).await;
    let p = env.store().await.payments_of_grant(&grant).await.unwrap();
    assert_eq!(p.iter().map(|p| p.status.as_str()).collect::<Vec<_>>(), ["rejected", "sent"]);
    verify_ok(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrected_re_send_supersedes_a_grant_never_attempted() {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    let bad = open_of(&env, "invalid_card").await;
    let grant = bad[0]["grant_id"].as_str().unwrap().to_string();

    let fixed = write_list(&env, "corrected.csv", &[line_with_card(&grant, &card("621700001000777"))]);
    let s = import_one(&env, &fixed, &[], 0);
    assert_counts_add_up(&s);
    assert_eq!((s["imported"].as_u64(), s["superseded"].as_u64(), s["conflicts"].as_u64()), (Some(1), Some(1), Some(0)), "{s}");
    assert_eq!(grant_status(&env, &grant).await, "valid");
    assert!(open_of(&env, "invalid_card").await.is_empty(), "the old finding is closed");
    assert!(open_of(&env, "import_conflict").await.is_empty());
    let all = env.json_async(&["exceptions", "list", "--status", "resolved"], 0).await;
    assert!(of_kind(&all, "invalid_card").iter().any(|e| e["grant_id"] == grant.as_str()));
    let store = env.store().await;
    let audit: Vec<(Option<String>, Option<String>)> = sqlx::query("SELECT before_json, after_json FROM audit_log WHERE action = 'grant.supersede' AND subject = $1")
        .bind(&grant)
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(audit.len(), 1);
    assert!(audit[0].0.as_deref().unwrap().contains("card_number") && audit[0].1.as_deref().unwrap().contains("卡号"), "both versions kept: {audit:?}");
    verify_ok(&env).await;

    // Once a payment was attempted, a changed re-send is a conflict and the stored grant stays.
    env.json_async(&["batch"], 0).await;
    let again = write_list(&env, "again.csv", &[line_with_card(&grant, &card("621700001000888"))]);
    let s = import_one(&env, &again, &[], 0);
    assert_eq!((s["conflicts"].as_u64(), s["superseded"].as_u64()), (Some(1), Some(0)), "{s}");
    assert_eq!(open_of(&env, "import_conflict").await.len(), 1);
    verify_ok(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_send_after_a_cancel_raises_a_conflict() {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    let bad = open_of(&env, "invalid_card").await;
    let grant = bad[0]["grant_id"].as_str().unwrap().to_string();
    env.user("clerk", "clerk").await;
    env.act("clerk", &["exceptions", "resolve", &bad[0]["id"].to_string(), "--cancel", "--note", "学生已转学"], 0).await;
    assert_eq!(grant_status(&env, &grant).await, "cancelled");
    let fixed = write_list(&env, "corrected.csv", &[line_with_card(&grant, &card("621700001000777"))]);
    let s = import_one(&env, &fixed, &[], 0);
    assert_eq!(s["conflicts"], 1, "{s}");
    let c = open_of(&env, "import_conflict").await;
    assert_eq!(c.len(), 1);
    assert!(c[0]["detail"].as_str().unwrap().contains("已取消"), "{c:?}");
    assert_eq!(grant_status(&env, &grant).await, "cancelled");
    verify_ok(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_card_for_two_students_is_held_at_intake_and_refused_at_reissue() {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    let store = env.store().await;
    // Two valid 高中 grants of utf8.csv: the second's card given to a new row for another student.
    let rows = sqlx::query("SELECT g.grant_id, g.card_number FROM grants g JOIN grant_states s ON s.account_no = g.account_no AND s.grant_id = g.grant_id WHERE s.status = 'valid' AND g.stage = '高中' ORDER BY g.grant_id")
        .fetch_all(store.pool())
        .await
        .unwrap();
    let (a, card_a): (String, String) = (rows[0].get(0), store.reveal(aidpay::crypto::purpose::CARD_NUMBER, rows[0].get(1)).unwrap());
    let (b, _): (String, String) = (rows[1].get(0), rows[1].get(1));
    let new_student = {
        // 2026Q-0099: another student (ID of utf8.csv's invalid-card row's student is not reused).
        let text = std::fs::read_to_string(fixture("grants/utf8.csv")).unwrap();
        let line = text.lines().find(|l| l.starts_with(&format!("{b},"))).unwrap().to_string();
        let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
        cells[0] = "2026Q-0099".into();
        cells[13] = card_a.clone();
        cells.join(",")
    };
    let list = write_list(&env, "shared.csv", &[new_student]);
    let s = import_one(&env, &list, &[], 0);
    assert_eq!((s["imported"].as_u64(), s["held"].as_u64()), (Some(1), Some(1)), "{s}");
    let shared = open_of(&env, "card_shared").await;
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0]["grant_id"], "2026Q-0099");
    assert!(shared[0]["detail"].as_str().unwrap().contains(&a), "names the grant the card is on file for: {shared:?}");
    assert!(!shared[0]["detail"].as_str().unwrap().contains(&card_a), "card masked");

    // A re-issue to a card already on file for another student is refused, whatever the rest.
    let bad = open_of(&env, "invalid_card").await;
    env.user("clerk", "clerk").await;
    let err = env.act("clerk", &["exceptions", "resolve", &bad[0]["id"].to_string(), "--reissue", "--card", &card_a, "--note", "换卡"], 1).await;
    assert!(err.as_str().unwrap().contains("卡号"), "{err}");
    verify_ok(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rejected_payments_cannot_both_be_re_issued_to_one_card() {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    env.json_async(&["batch"], 0).await;
    let refs = icbc_refs(&env).await;
    // Two 高中 students' payments, so neither may share a card.
    let store = env.store().await;
    let mut high = Vec::new();
    for (r, g) in &refs {
        if store.grant(g).await.unwrap().unwrap().stage == "高中" {
            high.push(r.clone());
        }
    }
    let mix = AnswerMix::settle_all()
        .with_reference(&high[0], Fate::Reject(Reason::closed()))
        .with_reference(&high[1], Fate::Reject(Reason::closed()));
    answer_icbc(&env, &mix).await;
    let rej = open_of(&env, "bank_rejected").await;
    assert_eq!(rej.len(), 2);
    let new_card = card("621700001000555");
    env.user("clerk", "clerk").await;
    let mut outcomes = Vec::new();
    for e in &rej {
        let grant = e["grant_id"].as_str().unwrap();
        let holder = store.grant(grant).await.unwrap().unwrap().card_holder;
        let out = env
            .run_with_stdin(
                &["exceptions", "resolve", &e["id"].to_string(), "--reissue", "--card", &new_card, "--holder", &holder, "--note", "新卡", "--user", "clerk"],
                &crate::util::password_of("clerk"),
            )
            .await;
        outcomes.push(out.status.code());
    }
    assert_eq!(outcomes, [Some(0), Some(1)], "the second student cannot be paid to the first one's new card");
    verify_ok(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_rows_and_exceptions_name_the_file_and_the_row_excel_shows() {
    let env = TestEnv::new().await;
    let s = import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    // In utf8.csv the amount 七百五十 is on the file's line 25 (the header is line 1).
    let text = std::fs::read_to_string(fixture("grants/utf8.csv")).unwrap();
    let physical = text.lines().position(|l| l.contains("七百五十")).unwrap() as u64 + 1;
    let err = s["errors"].as_array().unwrap().iter().find(|e| e["column"] == "金额").unwrap().clone();
    assert_eq!(err["line"].as_u64(), Some(physical), "{err}");
    let bad = open_of(&env, "invalid_card").await;
    let grant = bad[0]["grant_id"].as_str().unwrap();
    let row = text.lines().position(|l| l.starts_with(&format!("{grant},"))).unwrap() + 1;
    let detail = bad[0]["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("utf8.csv 第 {row} 行")), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_that_only_read_never_create_a_store() {
    let env = TestEnv::new().await;
    for args in [vec!["status"], vec!["exceptions", "list"], vec!["verify"], vec!["report", "exceptions"]] {
        let out = env.run(&args, &[]).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(env.config.to_str().unwrap()), "{args:?} names the configuration read: {err}");
        if crate::util::backend() == "sqlite" {
            assert!(err.contains("aidpay.db"), "{args:?} names the store: {err}");
            assert!(!env.path("var/aidpay.db").exists(), "{args:?} created the store");
        }
        assert!(!env.path("var/inbox").exists(), "{args:?} created the folders");
    }
}

/// Issue 20: a grant's state is a row of its own (`grant_states`, migration 0014), one per grant.
/// `verify` reports a grant whose state row is gone and a state row whose grant is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_a_grant_without_its_state_row_and_a_state_row_without_its_grant() {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    let v = verify_ok(&env).await;
    let store = env.store().await;
    let states: i64 = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM grant_states").fetch_one(store.pool()).await.unwrap().get(0);
    assert_eq!(Some(states as u64), v["grants"].as_u64(), "one state row per grant");
    let first: String = sqlx::query("SELECT grant_id FROM grants ORDER BY grant_id LIMIT 1").fetch_one(store.pool()).await.unwrap().get(0);
    let account: String = sqlx::query("SELECT account_no FROM grants LIMIT 1").fetch_one(store.pool()).await.unwrap().get(0);
    sqlx::query("DELETE FROM grant_states WHERE grant_id = $1").bind(&first).execute(store.pool()).await.unwrap();
    sqlx::query("INSERT INTO grant_states (account_no, grant_id, status, updated_at) VALUES ($1, 'NO-SUCH-GRANT', 'valid', '2026-11-20T10:00:00+08:00')")
        .bind(&account)
        .execute(store.pool())
        .await
        .unwrap();
    let v = env.json_async(&["verify"], 1).await;
    assert_eq!(v["ok"], false, "{v}");
    let found: Vec<(String, String)> = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["subject"].as_str().unwrap().to_string(), x["detail"].as_str().unwrap().to_string()))
        .collect();
    assert!(found.iter().any(|(s, d)| s == &first && d.contains("grant_states")), "{found:?}");
    assert!(found.iter().any(|(s, d)| s == "NO-SUCH-GRANT" && d.contains("grant_states")), "{found:?}");
}
