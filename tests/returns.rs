//! Issue 4: answers in. Simulator-made answers for every flag, hand-written files in other
//! producers' styles, quarantine, idempotent ingest, re-issue refused then allowed, the report.

use crate::util::{TestEnv, fixture, import_one};
use aidpay::banksim::{AnswerMix, AnswerOptions, BankSim, BankSimHandle, Booking, Camt053Version, Fate, Reason, SimConfig, StatementOptions};
use aidpay::config::{BankFormat, Config};
use aidpay::domain::Fen;
use secrecy::SecretString;
use serde_json::Value;
use sqlx::Row;

const KEY: &str = "returns-test-key";

fn now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339("2026-11-26T09:00:00+08:00").unwrap()
}

/// A store with utf8.csv imported and batched; ICBC through the simulator's gateway.
async fn sent(sim: &BankSimHandle) -> (TestEnv, Config) {
    let mut env = TestEnv::new().await;
    env.set_env("AIDPAY_BANKS__ICBC__TRANSPORT", "gateway");
    env.set_env("AIDPAY_BANKS__ICBC__GATEWAY_URL", &sim.base_url());
    env.set_env("AIDPAY_BANKS__ICBC__GATEWAY_KEY", KEY);
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    env.json_async(&["batch"], 0).await;
    let vars: std::collections::HashMap<String, String> = env.env.iter().cloned().collect();
    let cfg = Config::load_with_env(Some(&env.config), Some(vars)).unwrap();
    (env, cfg)
}

fn icbc_options(cfg: &Config) -> AnswerOptions {
    let mut opts = AnswerOptions::new(now());
    if let BankFormat::Domestic(d) = &cfg.bank("icbc").unwrap().format {
        opts.domestic = Some((**d).clone());
    }
    opts
}

async fn refs_of(env: &TestEnv, profile: &str) -> Vec<(String, String, i64)> {
    let store = env.store().await;
    sqlx::query("SELECT payment_ref, card_number, amount_fen FROM payments WHERE profile = $1 ORDER BY payment_ref")
        .bind(profile)
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        // The card number is stored encrypted: opened with the store's key.
        .map(|r| (r.get(0), store.reveal(aidpay::crypto::purpose::CARD_NUMBER, r.get(1)).unwrap(), r.get(2)))
        .collect()
}

async fn status_of(env: &TestEnv, payment_ref: &str) -> String {
    let store = env.store().await;
    sqlx::query("SELECT status FROM payments WHERE payment_ref = $1").bind(payment_ref).fetch_one(store.pool()).await.unwrap().get(0)
}

fn of_kind<'a>(list: &'a Value, kind: &str) -> Vec<&'a Value> {
    list.as_array().unwrap().iter().filter(|e| e["kind"] == kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_answers_raise_every_flag_once() {
    let sim = BankSim::start(SimConfig { key: SecretString::from(KEY) }).await.unwrap();
    let (env, cfg) = sent(&sim).await;
    let refs = refs_of(&env, "icbc").await;
    assert!(refs.len() >= 7);
    let mix = AnswerMix::settle_all()
        .with_reference(&refs[0].0, Fate::Reject(Reason::wrong_account()))
        .with_reference(&refs[1].0, Fate::Reject(Reason::closed()))
        .with_reference(&refs[2].0, Fate::Reject(Reason::frozen()))
        .with_reference(&refs[3].0, Fate::Reject(Reason::name_mismatch()))
        .with_reference(&refs[4].0, Fate::LateReturn(Reason::closed()))
        .with_reference(&refs[5].0, Fate::DuplicateStatus)
        .with_reference(&refs[6].0, Fate::ChangedAmount(Fen(refs[6].2 + 100)))
        .with_unknown_reference("AP999999999999");
    sim.answer_all(&mix, &icbc_options(&cfg)).unwrap();

    let v = env.json_async(&["ingest"], 0).await;
    let files = v["files"].as_array().unwrap();
    assert!(!files.is_empty() && files.iter().all(|f| f["outcome"] == "applied"), "{v}");
    assert!(files[0]["kind"].as_str().unwrap().starts_with("domestic_result"), "{v}");

    let ex = env.json_async(&["exceptions", "list"], 0).await;
    let rejected = of_kind(&ex, "bank_rejected");
    let mut codes: Vec<&str> = rejected.iter().map(|e| e["reason_code"].as_str().unwrap()).collect();
    codes.sort();
    assert_eq!(codes, ["AC01", "AC04", "AC06", "BE01"], "{ex}");
    assert_eq!(of_kind(&ex, "duplicate_status").len(), 1, "{ex}");
    assert_eq!(of_kind(&ex, "duplicate_status")[0]["severity"], "low");
    assert_eq!(of_kind(&ex, "amount_mismatch").len(), 1, "{ex}");
    assert_eq!(of_kind(&ex, "unknown_reference").len(), 1, "{ex}");
    assert_eq!(of_kind(&ex, "unknown_reference")[0]["payment_ref"], "AP999999999999");
    assert_eq!(status_of(&env, &refs[0].0).await, "rejected");
    assert_eq!(status_of(&env, &refs[4].0).await, "settled");
    assert_eq!(env.store().await.card_status(&refs[1].1).await.unwrap().map(|s| s.as_str()), Some("closed"));
    assert_eq!(env.store().await.card_status(&refs[2].1).await.unwrap().map(|s| s.as_str()), Some("frozen"));

    // The late return (退票) after settlement.
    sim.answer_late_returns(&icbc_options(&cfg)).unwrap();
    env.json_async(&["ingest"], 0).await;
    assert_eq!(status_of(&env, &refs[4].0).await, "returned");
    let ex = env.json_async(&["exceptions", "list", "--kind", "bank_returned"], 0).await;
    assert_eq!(ex.as_array().unwrap().len(), 1);
    assert_eq!(ex[0]["payment_ref"], refs[4].0.as_str());

    // Nothing new at the bank: nothing changes.
    let before = env.json_async(&["exceptions", "list", "--status", "all"], 0).await;
    let again = env.json_async(&["ingest"], 0).await;
    assert!(again["files"].as_array().unwrap().is_empty(), "{again}");
    assert_eq!(env.json_async(&["exceptions", "list", "--status", "all"], 0).await, before);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_folder_answers_in_pain002_settle_the_pain001_batch() {
    let sim = BankSim::start(SimConfig { key: SecretString::from(KEY) }).await.unwrap();
    let (env, _cfg) = sent(&sim).await;
    let picked = aidpay::banksim::pick_up(&env.path("var/bank/boc")).unwrap();
    assert_eq!(picked.len(), 1);
    let answers = aidpay::banksim::answer_dropped(&picked, &AnswerMix::settle_all(), &AnswerOptions::new(now())).unwrap();
    for (name, bytes) in &answers {
        std::fs::write(env.path("var/inbox").join(name), bytes).unwrap();
    }
    let v = env.json_async(&["ingest"], 0).await;
    assert_eq!(v["files"][0]["kind"], "pain002", "{v}");
    for (r, _, _) in refs_of(&env, "boc").await {
        assert_eq!(status_of(&env, &r).await, "settled");
    }
    assert!(std::fs::read_dir(env.path("var/inbox/processed")).unwrap().count() >= 1, "ingested inbox files are moved aside");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_files_are_quarantined_and_nothing_is_applied() {
    let sim = BankSim::start(SimConfig { key: SecretString::from(KEY) }).await.unwrap();
    let (env, _cfg) = sent(&sim).await;
    let picked = aidpay::banksim::pick_up(&env.path("var/bank/boc")).unwrap();
    let mix = AnswerMix::settle_all();
    let (_, good) = aidpay::banksim::answer_dropped(&picked, &mix, &AnswerOptions::new(now())).unwrap().remove(0);

    let truncated = env.path("truncated.xml");
    std::fs::write(&truncated, &good[..good.len() * 2 / 3]).unwrap();
    let text = String::from_utf8(good.clone()).unwrap();
    let with_entity = env.path("entity.xml");
    let evil = text.replacen("?>", "?>\n<!DOCTYPE Document [<!ENTITY x \"AP000000000001\">]>", 1);
    std::fs::write(&with_entity, evil).unwrap();
    let junk = env.path("junk.bin");
    std::fs::write(&junk, b"\x00\x01 not a bank file").unwrap();

    for (path, word) in [(&truncated, ""), (&with_entity, "DOCTYPE"), (&junk, "不是可识别的银行文件")] {
        let v = env.json_async(&["ingest", path.to_str().unwrap()], 0).await;
        let f = &v["files"][0];
        assert_eq!(f["outcome"], "quarantined", "{v}");
        assert!(f["error"].as_str().unwrap().contains(word), "{v}");
        assert!(!path.exists(), "moved away");
        let kept = std::path::PathBuf::from(f["quarantined_to"].as_str().unwrap());
        assert!(kept.exists(), "kept in quarantine");
        assert!(std::fs::read_to_string(format!("{}.reason.txt", kept.display())).unwrap().contains(word));
    }
    for (r, _, _) in refs_of(&env, "boc").await {
        assert_eq!(status_of(&env, &r).await, "sent", "nothing of a quarantined file applied");
        assert!(env.store().await.payment_events(&r).await.unwrap().is_empty());
    }

    // The good file, twice: applied once, then a no-op.
    let good_path = env.path("good.xml");
    std::fs::write(&good_path, &good).unwrap();
    let first = env.json_async(&["ingest", good_path.to_str().unwrap()], 0).await;
    assert_eq!(first["files"][0]["outcome"], "applied");
    let copy = env.path("good-copy.xml");
    std::fs::write(&copy, &good).unwrap();
    let second = env.json_async(&["ingest", copy.to_str().unwrap()], 0).await;
    assert_eq!(second["files"][0]["outcome"], "duplicate");
    let r = &refs_of(&env, "boc").await[0].0;
    assert_eq!(env.store().await.payment_events(r).await.unwrap().len(), 1, "one status, not two");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reissue_is_refused_while_the_money_may_be_out_then_allowed() {
    let sim = BankSim::start(SimConfig { key: SecretString::from(KEY) }).await.unwrap();
    let (env, cfg) = sent(&sim).await;
    let refs = refs_of(&env, "icbc").await;
    let mix = AnswerMix::settle_all()
        .with_reference(&refs[0].0, Fate::Reject(Reason::closed()))
        .with_reference(&refs[1].0, Fate::LateReturn(Reason::frozen()));
    sim.answer_all(&mix, &icbc_options(&cfg)).unwrap();
    env.json_async(&["ingest"], 0).await;
    sim.answer_late_returns(&icbc_options(&cfg)).unwrap();
    env.json_async(&["ingest"], 0).await;

    let ex = env.json_async(&["exceptions", "list"], 0).await;
    let rejected = of_kind(&ex, "bank_rejected")[0].clone();
    let returned = of_kind(&ex, "bank_returned")[0].clone();

    // A payment still live cannot be re-issued: resolve the no-answer-like case by hand.
    let live = refs.iter().find(|r| r.0 != refs[0].0 && r.0 != refs[1].0).unwrap();
    assert_eq!(status_of(&env, &live.0).await, "settled");

    // Returned after settlement: the money is out until the return credit is on a statement.
    let id = returned["id"].to_string();
    env.user("clerk", "clerk").await;
    let err = env.act("clerk", &["exceptions", "resolve", &id, "--reissue", "--note", "学校已核实"], 1).await;
    let err = err.as_str().unwrap();
    assert!(err.contains("已拒绝") && err.contains("退票"), "{err}");

    // Rejected before settlement: re-issue at once, to a corrected card.
    let new_card = "6217000010001234569";
    let id = rejected["id"].to_string();
    let grant = rejected["grant_id"].as_str().unwrap().to_string();
    let holder = env.store().await.grant(&grant).await.unwrap().unwrap().card_holder;
    let r = env.act("clerk", &["exceptions", "resolve", &id, "--reissue", "--card", new_card, "--holder", &holder, "--note", "更换新卡"], 0).await;
    let new_ref = r["new_payment_ref"].as_str().unwrap().to_string();
    // An exception is resolved once.
    env.act("clerk", &["exceptions", "resolve", &id, "--accept", "--note", "x"], 1).await;

    // The statement brings the returned money back: now the re-issue goes through.
    let opts = StatementOptions {
        account_no: cfg.account.number.clone(),
        account_name: Some(cfg.account.name.clone()),
        statement_id: "STMT-20261126".into(),
        from_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        to_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
        with_details: true,
        late_returns: true,
    };
    let spec = sim.statement(Fen(10_000_000_00), Booking::Net, &opts);
    sim.put_statement(&spec, Camt053Version::V02, &now());
    let v = env.json_async(&["ingest"], 0).await;
    assert!(v["files"].as_array().unwrap().iter().any(|f| f["kind"] == "camt053"), "{v}");
    let id = returned["id"].to_string();
    let r2 = env.act("clerk", &["exceptions", "resolve", &id, "--reissue", "--note", "退款已入账"], 0).await;
    let second_new = r2["new_payment_ref"].as_str().unwrap().to_string();

    // Both new payments go out with the next batch; the old attempts stay as they were.
    let b = env.json_async(&["batch"], 0).await;
    let store = env.store().await;
    for r in [&new_ref, &second_new] {
        let p: (String, Option<String>, String) = sqlx::query("SELECT status, batch_id, card_number FROM payments WHERE payment_ref = $1")
            .bind(r)
            .fetch_one(store.pool())
            .await
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .unwrap();
        assert_eq!(p.0, "sent", "{b}");
        assert!(p.1.is_some());
        if r == &new_ref {
            assert_eq!(store.reveal(aidpay::crypto::purpose::CARD_NUMBER, p.2.clone()).unwrap(), new_card);
        }
    }
    let payments = store.payments_of_grant(&grant).await.unwrap();
    assert_eq!(payments.iter().map(|p| p.status.as_str()).collect::<Vec<_>>(), ["rejected", "sent"]);
    let audit: i64 =
        sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM audit_log WHERE action = 'grant.reissue'").fetch_one(store.pool()).await.unwrap().get(0);
    assert_eq!(audit, 2);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exception_report_opens_in_excel_with_masked_cards_and_totals() {
    use calamine::{Data, Reader};
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    let v = env.json_async(&["report", "exceptions", "--format", "xlsx"], 0).await;
    let path = v["report"].as_str().unwrap();
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(path).unwrap();
    let range = book.worksheet_range_at(0).unwrap().unwrap();
    let cells: Vec<String> = range.rows().flat_map(|r| r.iter().map(|c| c.to_string())).collect();
    for h in ["学校", "姓名", "卡号", "金额", "问题", "原因", "建议处理"] {
        assert!(cells.iter().any(|c| c == h), "header {h}");
    }
    assert!(cells.iter().any(|c| c.contains("****")), "masked card numbers");
    let text = std::fs::read_to_string(fixture("grants/utf8.csv")).unwrap();
    for line in text.lines().skip(1) {
        let card = line.split(',').nth(13).unwrap().replace(' ', "");
        if card.len() >= 16 {
            assert!(!cells.iter().any(|c| c.contains(&card)), "full card {card} in the report");
        }
    }
    let last = range.rows().last().unwrap();
    assert_eq!(last[0], Data::String("合计".into()));
    assert!(last.iter().any(|c| c.to_string().contains("共 6 条")), "{last:?}");

    let csv = env.json_async(&["report", "exceptions", "--format", "csv"], 0).await;
    let bytes = std::fs::read(csv["report"].as_str().unwrap()).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "CSV with BOM for Excel");
    let html = env.json_async(&["report", "exceptions", "--format", "html"], 0).await;
    assert!(std::fs::read_to_string(html["report"].as_str().unwrap()).unwrap().contains("建议处理"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_written_reports_in_other_producers_styles() {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    env.json_async(&["batch"], 0).await;

    // pain.002.001.03 with a prefixed namespace, statuses one by one.
    let v = env.json_async(&["ingest", fixture("bank/iso/pain002-v03-prefixed-mixed.xml").to_str().unwrap()], 0).await;
    assert_eq!((v["files"][0]["kind"].as_str(), v["files"][0]["statuses"].as_u64()), (Some("pain002"), Some(6)), "{v}");
    assert_eq!(status_of(&env, "AP000000000001").await, "settled");
    assert_eq!(status_of(&env, "AP000000000003").await, "rejected");
    let ex = env.json_async(&["exceptions", "list", "--kind", "bank_rejected"], 0).await;
    let mut codes: Vec<&str> = ex.as_array().unwrap().iter().map(|e| e["reason_code"].as_str().unwrap()).collect();
    codes.sort();
    assert_eq!(codes, ["AC01", "AC04", "AC06", "BE01"]);
    // Its card numbers are not the ones we sent: flagged, high.
    let mismatch = env.json_async(&["exceptions", "list", "--kind", "account_mismatch"], 0).await;
    assert!(!mismatch.as_array().unwrap().is_empty());
    assert_eq!(mismatch[0]["severity"], "high");

    // pain.002.001.10 rejecting the whole ICBC batch at group level, no transaction listed.
    let v = env.json_async(&["ingest", fixture("bank/iso/pain002-v10-group-rjct.xml").to_str().unwrap()], 0).await;
    assert_eq!(v["files"][0]["outcome"], "applied", "{v}");
    let store = env.store().await;
    let rows = sqlx::query("SELECT payment_ref, status, reason_code FROM payments WHERE batch_id = 'B20261125000002'")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for r in &rows {
        let (reference, status, reason): (String, String, Option<String>) = (r.get(0), r.get(1), r.get(2));
        assert!(status == "settled" || status == "rejected", "{reference} {status}");
        if !(1..=6).any(|n| reference == format!("AP{n:012}")) {
            assert_eq!((status.as_str(), reason.as_deref()), ("rejected", Some("AM04")), "{reference}");
        }
    }

    // A statement with another producer's prefix is read; it is the special account 9558…'s
    // (issue 13): refused here, naming that account, and stored by that account's configuration.
    let prefixed = env.path("prefixed.xml");
    std::fs::copy(fixture("bank/iso/camt053-v08-prefixed.xml"), &prefixed).unwrap();
    let v = env.json_async(&["ingest", prefixed.to_str().unwrap()], 0).await;
    assert_eq!((v["files"][0]["kind"].as_str(), v["files"][0]["outcome"].as_str()), (Some("camt053"), Some("quarantined")), "{v}");
    assert!(v["files"][0]["error"].as_str().unwrap().contains("9558800200135073266"), "{v}");
    let out = env
        .run(
            &["--json", "ingest", fixture("bank/iso/camt053-v08-prefixed.xml").to_str().unwrap()],
            &[("AIDPAY_ACCOUNT__NUMBER", "9558800200135073266")],
        )
        .await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["files"][0]["kind"].as_str(), v["files"][0]["outcome"].as_str()), (Some("camt053"), Some("applied")), "{v}");
    assert!(v["files"][0]["entries"].as_u64().unwrap() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_without_a_final_answer_are_flagged_after_the_configured_days() {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    env.json_async(&["batch"], 0).await;
    // Three days on: still within returns.no_answer_days (5).
    let early = env.run(&["--json", "ingest"], &[("AIDPAY_NOW", "2026-11-28T10:00:00+08:00")]).await;
    let v: Value = serde_json::from_slice(&early.stdout).unwrap();
    assert_eq!(v["no_answer_flagged"], 0, "{v}");
    // Ten days on: every payment sent and unanswered is flagged, once.
    let late = env.run(&["--json", "ingest"], &[("AIDPAY_NOW", "2026-12-05T10:00:00+08:00")]).await;
    let v: Value = serde_json::from_slice(&late.stdout).unwrap();
    let sent = refs_of(&env, "icbc").await.len() + refs_of(&env, "boc").await.len();
    assert_eq!(v["no_answer_flagged"].as_u64(), Some(sent as u64), "{v}");
    let again = env.run(&["--json", "ingest"], &[("AIDPAY_NOW", "2026-12-06T10:00:00+08:00")]).await;
    let v: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(v["no_answer_flagged"], 0, "raised once");
    let ex = env.json_async(&["exceptions", "list", "--kind", "no_answer"], 0).await;
    assert_eq!(ex.as_array().unwrap().len(), sent);
}
