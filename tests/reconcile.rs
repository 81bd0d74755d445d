//! Issue 5: the special account reconciled — a whole cycle explained to the fen, and every way a
//! statement can disagree with what was paid.

use crate::util::{TestEnv, fixture, import_one};
use aidpay::banksim::statement::{camt053, statement_for};
use aidpay::banksim::{
    AnswerMix, AnswerOptions, AnsweredBatch, BankSim, BankSimHandle, Booking, Camt053Version, Fate, Reason, SimConfig, SimEntry, StatementOptions,
    StatementSpec, answer_picked, pick_up,
};
use aidpay::config::{BankFormat, Config};
use aidpay::domain::Fen;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::Value;
use sqlx::Row;

const KEY: &str = "reconcile-test-key";
const FINANCE_BUREAU: &str = "130100000000000001";

fn now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339("2026-11-26T09:00:00+08:00").unwrap()
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

fn fen(v: &Value) -> i64 {
    let d: Decimal = v.as_str().unwrap().parse().unwrap();
    i64::try_from(d * Decimal::ONE_HUNDRED).unwrap()
}

/// Imported, batched (ICBC through the simulator's gateway, BOC through its drop folder), answered
/// with the given fates and ingested. Returns every answered batch (both banks).
async fn answered(mix: &AnswerMix, booking: &str) -> (TestEnv, Config, BankSimHandle, Vec<AnsweredBatch>) {
    let sim = BankSim::start(SimConfig { key: SecretString::from(KEY) }).await.unwrap();
    let mut env = TestEnv::new().await;
    env.set_env("AIDPAY_BANKS__ICBC__TRANSPORT", "gateway");
    env.set_env("AIDPAY_BANKS__ICBC__GATEWAY_URL", &sim.base_url());
    env.set_env("AIDPAY_BANKS__ICBC__GATEWAY_KEY", KEY);
    env.set_env("AIDPAY_BANKS__ICBC__BOOKING", booking);
    env.set_env("AIDPAY_BANKS__BOC__BOOKING", booking);
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    env.json_async(&["batch"], 0).await;
    let vars: std::collections::HashMap<String, String> = env.env.iter().cloned().collect();
    let cfg = Config::load_with_env(Some(&env.config), Some(vars)).unwrap();
    let mut opts = AnswerOptions::new(now());
    if let BankFormat::Domestic(d) = &cfg.bank("icbc").unwrap().format {
        opts.domestic = Some((**d).clone());
    }
    sim.answer_all(mix, &opts).unwrap();
    let boc = answer_picked(&pick_up(&env.path("var/bank/boc")).unwrap(), mix, &AnswerOptions::new(now())).unwrap();
    for a in &boc {
        std::fs::write(env.path("var/inbox").join(&a.answer_name), &a.answer).unwrap();
    }
    env.json_async(&["ingest"], 0).await;
    let mut all = sim.answered();
    all.extend(boc);
    (env, cfg, sim, all)
}

fn spec(cfg: &Config, all: &[AnsweredBatch], id: &str, opening: i64, booking: Booking, late_returns: bool) -> StatementSpec {
    let executed: Vec<_> = all.iter().map(AnsweredBatch::executed).collect();
    let mut s = statement_for(
        &executed,
        Fen(opening),
        booking,
        &StatementOptions {
            account_no: cfg.account.number.clone(),
            account_name: Some(cfg.account.name.clone()),
            statement_id: id.into(),
            from_date: day(25),
            to_date: day(26),
            with_details: false,
            late_returns,
        },
    );
    s.entries.insert(
        0,
        SimEntry::Allocation { amount: Fen(5_000_000), counterpart_account: FINANCE_BUREAU.into(), counterpart_name: "某某区财政局".into(), date: day(25) },
    );
    s
}

async fn ingest_statement(env: &TestEnv, s: &StatementSpec, name: &str) -> Value {
    let path = env.path(name);
    std::fs::write(&path, camt053(s, Camt053Version::V02, &now())).unwrap();
    env.json_async(&["ingest", path.to_str().unwrap()], 0).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_cycle_is_explained_to_the_fen() {
    // import → batch → answers (some refused) → camt.053 → reconcile
    let mix = AnswerMix::settle_all().with_card("6217007149709400941", Fate::Reject(Reason::closed()));
    let (env, cfg, sim, all) = answered(&mix, "net").await;
    let s = spec(&cfg, &all, "STMT-20261126", 0, Booking::Net, false);
    let v = ingest_statement(&env, &s, "camt053.xml").await;
    assert_eq!(v["files"][0]["kind"], "camt053", "{v}");

    let r = env.json_async(&["reconcile"], 0).await;
    assert_eq!(r["batch_debits_matched"].as_u64(), Some(all.len() as u64), "{r}");
    assert_eq!(r["allocations"], 1);
    for k in ["unknown_debits", "mismatches", "unmatched_credits", "balance_breaks"] {
        assert_eq!(r[k], 0, "{k}: {r}");
    }
    // Every payment is either paid (settled and its debit matched) or flagged.
    let store = env.store().await;
    let rows = sqlx::query("SELECT p.payment_ref, p.status, s.status FROM payments p JOIN grant_states s ON s.grant_id = p.grant_id")
        .fetch_all(store.pool())
        .await
        .unwrap();
    let flagged = env.json_async(&["exceptions", "list", "--kind", "bank_rejected"], 0).await;
    for row in &rows {
        let (r, ps, gs): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        match ps.as_str() {
            "settled" => assert_eq!(gs, "paid", "{r}"),
            "rejected" => assert!(flagged.as_array().unwrap().iter().any(|e| e["payment_ref"] == r.as_str()), "{r} flagged"),
            other => panic!("{r} is {other}"),
        }
    }
    assert_eq!(r["grants_paid"].as_u64(), Some(rows.iter().filter(|r| r.get::<String, _>(1) == "settled").count() as u64));
    // The balance is explained: allocations in − paid out + returned = closing balance.
    let p = &r["position"];
    assert_eq!(fen(&p["balance"]), fen(&p["allocations_in"]) - fen(&p["paid_out"]) + fen(&p["returned"]), "{p}");
    assert_eq!(fen(&p["balance"]), s.closing().0);
    assert_eq!(fen(&p["in_flight"]), 0);

    // Again: nothing new.
    let again = env.json_async(&["reconcile"], 0).await;
    assert_eq!((again["exceptions_raised"].as_u64(), again["batch_debits_matched"].as_u64()), (Some(0), Some(0)));
    let status = env.json_async(&["status"], 0).await;
    assert_eq!(status["position"]["balance"], p["balance"]);
    let report = env.json_async(&["report", "reconciliation", "--format", "xlsx"], 0).await;
    assert!(std::path::Path::new(report["report"].as_str().unwrap()).exists());
    sim.shutdown().await;
}

/// Issue 20: a grant's owner state is a row of its own (migration 0014). Reconciliation turns a
/// term's grants paid in their state rows, and the grants rows — sealed names, ID and card
/// numbers, five indexes on PostgreSQL — are not written again: on PostgreSQL, whose statistics
/// count every row version written, not one update of a grant in the whole cycle (before, one
/// per grant paid, and each a new entry in every index of the table).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_turns_grants_paid_in_their_state_rows_and_leaves_the_grants_alone() {
    let (env, cfg, sim, all) = answered(&AnswerMix::settle_all(), "net").await;
    let store = env.store().await;
    let grants = || async {
        sqlx::query("SELECT grant_id, name, id_number, card_holder, card_number, card_hash, id_hash, updated_at FROM grants ORDER BY grant_id")
            .fetch_all(store.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| (0..8).map(|i| r.get::<String, _>(i)).collect::<Vec<_>>().join("|"))
            .collect::<Vec<String>>()
    };
    let before = grants().await;
    ingest_statement(&env, &spec(&cfg, &all, "STMT-20261126", 0, Booking::Net, false), "camt053.xml").await;
    let r = env.json_async(&["reconcile"], 0).await;
    let paid = r["grants_paid"].as_u64().unwrap();
    assert!(paid > 0, "{r}");
    let states: i64 = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM grant_states WHERE status = 'paid'").fetch_one(store.pool()).await.unwrap().get(0);
    assert_eq!(states as u64, paid);
    assert_eq!(grants().await, before, "the grants rows as imported");

    if crate::util::backend() == "postgres" {
        use sqlx::Connection;
        // A process's counts reach the view when it ends: wait for the paid states.
        let mut pg = sqlx::PgConnection::connect(&env.db_url).await.unwrap();
        let count = |table: &'static str| {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!("SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = '{table}'")))
        };
        let mut moved = 0;
        for _ in 0..100 {
            moved = count("grant_states").fetch_one(&mut pg).await.unwrap();
            if moved as u64 >= paid {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(moved as u64 >= paid, "{moved} state updates for {paid} grants paid");
        assert_eq!(count("grants").fetch_one(&mut pg).await.unwrap(), 0, "updates of grants rows");
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_disagreement_is_flagged() {
    let mix = AnswerMix::settle_all().with_card("6217007149709400941", Fate::Reject(Reason::frozen()));
    let (env, cfg, sim, all) = answered(&mix, "gross").await;
    let mut s = spec(&cfg, &all, "STMT-A", 0, Booking::Gross, false);
    // A batch debit smaller than its payments, a debit that is no batch of ours, a broken balance.
    let mut shrunk = None;
    for e in s.entries.iter_mut() {
        if let SimEntry::BatchDebit { amount, batch_id, details, .. } = e {
            details.clear(); // entries without batch details
            if shrunk.is_none() {
                *amount = Fen(amount.0 - 100);
                shrunk = Some(batch_id.clone());
            }
        }
    }
    s.entries.push(SimEntry::OtherDebit { amount: Fen(88_800), date: day(26), text: "现金支取".into() });
    s.break_balance = Some(Fen(1));
    // The refused payment's money is not in this statement: it comes back two weeks later.
    s.entries.retain(|e| !matches!(e, SimEntry::ReturnCredit { .. }));
    let v = ingest_statement(&env, &s, "a.xml").await;
    assert_eq!(v["files"][0]["outcome"], "applied");
    // The same statement again, under another file name: nothing new.
    let twice = ingest_statement(&env, &s, "a-again.xml").await;
    assert_eq!(twice["files"][0]["outcome"], "duplicate");

    let r = env.json_async(&["reconcile"], 0).await;
    assert_eq!((r["unknown_debits"].as_u64(), r["balance_breaks"].as_u64()), (Some(1), Some(1)), "{r}");
    assert!(r["mismatches"].as_u64().unwrap() >= 1, "{r}");
    let ex = env.json_async(&["exceptions", "list"], 0).await;
    let kinds: Vec<&str> = ex.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for k in ["unknown_debit", "batch_debit_mismatch", "balance_break"] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    let unknown = ex.as_array().unwrap().iter().find(|e| e["kind"] == "unknown_debit").unwrap();
    assert_eq!((unknown["severity"].as_str(), unknown["amount"].as_str()), (Some("high"), Some("888.00")));
    let mismatch = ex.as_array().unwrap().iter().find(|e| e["kind"] == "batch_debit_mismatch").unwrap();
    assert!(mismatch["detail"].as_str().unwrap().contains(shrunk.as_deref().unwrap()), "{mismatch}");

    // Two weeks on, the refused payment's money has still not come back.
    let rejected: String = {
        let store = env.store().await;
        sqlx::query("SELECT payment_ref FROM payments WHERE status = 'rejected'").fetch_one(store.pool()).await.unwrap().get(0)
    };
    let later = env.run(&["--json", "reconcile"], &[("AIDPAY_NOW", "2026-12-09T10:00:00+08:00")]).await;
    assert_eq!(later.status.code(), Some(0));
    let r: Value = serde_json::from_slice(&later.stdout).unwrap();
    assert_eq!(r["returns_not_credited"], 1, "{r}");
    let ex = env.json_async(&["exceptions", "list", "--kind", "return_not_credited"], 0).await;
    assert_eq!(ex[0]["payment_ref"], rejected.as_str());

    // Then the return credit (退票) arrives on the next statement: matched, money back.
    let amount: i64 = {
        let store = env.store().await;
        sqlx::query("SELECT amount_fen FROM payments WHERE payment_ref = $1").bind(&rejected).fetch_one(store.pool()).await.unwrap().get(0)
    };
    let next = StatementSpec {
        account_no: cfg.account.number.clone(),
        account_name: None,
        statement_id: "STMT-B".into(),
        from_date: NaiveDate::from_ymd_opt(2026, 12, 9).unwrap(),
        to_date: NaiveDate::from_ymd_opt(2026, 12, 9).unwrap(),
        opening: Fen(s.closing().0 + 1),
        entries: vec![SimEntry::ReturnCredit {
            end_to_end_id: rejected.clone(),
            batch_id: None,
            amount: Fen(amount),
            reason_code: "AC06".into(),
            date: NaiveDate::from_ymd_opt(2026, 12, 9).unwrap(),
        }],
        break_balance: None,
    };
    ingest_statement(&env, &next, "b.xml").await;
    let r = env.json_async(&["reconcile"], 0).await;
    assert_eq!(r["returns_matched"], 1, "{r}");
    assert!(r["missing_days"].as_array().unwrap().iter().any(|d| d.as_str().unwrap().starts_with("2026-11-27")), "{r}");
    let store = env.store().await;
    let back: i64 = sqlx::query("SELECT money_out FROM payments WHERE payment_ref = $1").bind(&rejected).fetch_one(store.pool()).await.unwrap().get(0);
    assert_eq!(back, 0, "the money is back: a re-issue may go ahead");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_written_statement_without_our_batch_ids_is_matched_by_amount() {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    env.json_async(&["batch"], 0).await;
    let store = env.store().await;
    let batches = store.batches().await.unwrap();
    let b = &batches[0];
    // A bank that books the batch (gross) without repeating our ids.
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<s:Document xmlns:s="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><s:BkToCstmrStmt>
<s:GrpHdr><s:MsgId>HW-1</s:MsgId><s:CreDtTm>2026-11-26T08:00:00</s:CreDtTm></s:GrpHdr>
<s:Stmt><s:Id>HW-STMT-1</s:Id><s:CreDtTm>2026-11-26T08:00:00</s:CreDtTm>
<s:FrToDt><s:FrDtTm>2026-11-25T00:00:00</s:FrDtTm><s:ToDtTm>2026-11-25T23:59:59</s:ToDtTm></s:FrToDt>
<s:Acct><s:Id><s:Othr><s:Id>130100000012345678</s:Id></s:Othr></s:Id><s:Ccy>CNY</s:Ccy></s:Acct>
<s:Bal><s:Tp><s:CdOrPrtry><s:Cd>OPBD</s:Cd></s:CdOrPrtry></s:Tp><s:Amt Ccy="CNY">100000.00</s:Amt><s:CdtDbtInd>CRDT</s:CdtDbtInd><s:Dt><s:Dt>2026-11-25</s:Dt></s:Dt></s:Bal>
<s:Bal><s:Tp><s:CdOrPrtry><s:Cd>CLBD</s:Cd></s:CdOrPrtry></s:Tp><s:Amt Ccy="CNY">{closing}</s:Amt><s:CdtDbtInd>CRDT</s:CdtDbtInd><s:Dt><s:Dt>2026-11-25</s:Dt></s:Dt></s:Bal>
<s:Ntry><s:NtryRef>HW-E1</s:NtryRef><s:Amt Ccy="CNY">{amount}</s:Amt><s:CdtDbtInd>DBIT</s:CdtDbtInd><s:Sts>BOOK</s:Sts>
<s:BookgDt><s:Dt>2026-11-25</s:Dt></s:BookgDt><s:ValDt><s:Dt>2026-11-25</s:Dt></s:ValDt><s:AcctSvcrRef>HW-E1</s:AcctSvcrRef>
<s:BkTxCd><s:Prtry><s:Cd>代发</s:Cd></s:Prtry></s:BkTxCd><s:AddtlNtryInf>批量代发</s:AddtlNtryInf></s:Ntry>
</s:Stmt></s:BkToCstmrStmt></s:Document>"#,
        amount = Fen(b.ctrl_sum_fen),
        closing = Fen(10_000_000 - b.ctrl_sum_fen)
    );
    let path = env.path("hand.xml");
    std::fs::write(&path, xml).unwrap();
    let v = env.json_async(&["ingest", path.to_str().unwrap()], 0).await;
    assert_eq!(v["files"][0]["outcome"], "applied", "{v}");
    let r = env.json_async(&["reconcile"], 0).await;
    assert_eq!((r["batch_debits_matched"].as_u64(), r["unknown_debits"].as_u64(), r["balance_breaks"].as_u64()), (Some(1), Some(0), Some(0)), "{r}");
    let b2 = store.batches().await.unwrap().into_iter().find(|x| x.batch_id == b.batch_id).unwrap();
    assert_eq!(b2.status.as_str(), "debited");
}
