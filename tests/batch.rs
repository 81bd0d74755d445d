//! Issue 3: the batch cycle — files, control sums, the split, delivery through the drop folder
//! and the gateway (with the bank simulator), names a bank cannot carry, and a known balance.

use crate::util::{TestEnv, fixture, import_one};
use aidpay::banksim::{BankSim, SimConfig};
use secrecy::SecretString;
use serde_json::Value;
use std::collections::BTreeMap;

const KEY: &str = "test-gateway-key-not-secret-elsewhere";

/// Grant id → amount (fen) of the valid grants in utf8.csv whose notice has ended by 2026-11-25.
async fn payable(env: &TestEnv) -> BTreeMap<String, i64> {
    let store = env.store().await;
    let rows = sqlx::query("SELECT g.grant_id, g.amount_fen FROM grants g JOIN grant_states s ON s.account_no = g.account_no AND s.grant_id = g.grant_id WHERE s.status = 'valid' AND g.notice_end < '2026-11-25'")
        .fetch_all(store.pool())
        .await
        .unwrap();
    use sqlx::Row;
    rows.iter().map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))).collect()
}

/// Live payments per grant.
pub async fn live_payments(env: &TestEnv) -> BTreeMap<String, i64> {
    use sqlx::Row;
    let store = env.store().await;
    let rows = sqlx::query(
        "SELECT grant_id, CAST(COUNT(*) AS BIGINT) FROM payments WHERE status IN ('created','sent','accepted','settled') GROUP BY grant_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    rows.iter().map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))).collect()
}

fn sum_total(batches: &Value) -> i64 {
    batches
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let d: rust_decimal::Decimal = b["total"].as_str().unwrap().parse().unwrap();
            i64::try_from(d * rust_decimal::Decimal::ONE_HUNDRED).unwrap()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_grants_become_bank_files_once() {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    import_one(&env, &fixture("grants/gbk.csv"), &[], 0); // 2027春: notice not ended, waits
    let expected = payable(&env).await;

    let v = env.json_async(&["batch"], 0).await;
    assert_eq!(v["payments_created"].as_u64(), Some(expected.len() as u64), "{v}");
    assert!(v["waiting_for_notice"].as_i64().unwrap() >= 8, "{v}");
    let batches = v["batches"].as_array().unwrap();
    assert!(batches.iter().any(|b| b["profile"] == "boc") && batches.iter().any(|b| b["profile"] == "icbc"), "{v}");
    for b in batches {
        assert_eq!(b["status"], "delivered", "{b}");
        let file = b["file"].as_str().unwrap();
        let outbox = env.path("var/outbox").join(file);
        let dropped = env.path(&format!("var/bank/{}", b["profile"].as_str().unwrap())).join(file);
        assert_eq!(std::fs::read(&outbox).unwrap(), std::fs::read(&dropped).unwrap(), "the bank got the recorded file");
    }
    assert_eq!(sum_total(&v["batches"]), expected.values().sum::<i64>(), "every yuan of the eligible grants, once");

    let live = live_payments(&env).await;
    assert_eq!(live.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    assert!(live.values().all(|n| *n == 1));

    // A second cycle right after creates nothing.
    let again = env.json_async(&["batch"], 0).await;
    assert_eq!(again["payments_created"], 0);
    assert!(again["batches"].as_array().unwrap().is_empty(), "{again}");
    assert_eq!(live_payments(&env).await, live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pain001_files_validate_and_domestic_files_are_gbk_with_exact_totals() {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    let v = env.json_async(&["batch"], 0).await;
    let xsd = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/iso20022/xsd/pain.001.001.09.xsd");
    for b in v["batches"].as_array().unwrap() {
        let path = env.path("var/outbox").join(b["file"].as_str().unwrap());
        if b["format"] == "pain.001.001.09" {
            let out = std::process::Command::new("xmllint")
                .arg("--noout")
                .arg("--schema")
                .arg(&xsd)
                .arg(&path)
                .output()
                .expect("xmllint (apt-get install -y libxml2-utils)");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            assert!(std::str::from_utf8(&bytes).is_err(), "Chinese text written in GBK, not UTF-8");
            let (text, _, bad) = encoding_rs::GBK.decode(&bytes);
            assert!(!bad);
            let lines: Vec<&str> = text.lines().collect();
            let details: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("D,")).collect();
            let trailer: Vec<&str> = lines.last().unwrap().split(',').collect();
            assert_eq!(trailer[1].parse::<i64>().unwrap(), details.len() as i64);
            let sum: i64 = details.iter().map(|l| l.split(',').nth(4).unwrap().parse::<i64>().unwrap()).sum();
            assert_eq!(trailer[2].parse::<i64>().unwrap(), sum, "trailer total in fen is exact");
            let expected: i64 = {
                let d: rust_decimal::Decimal = b["total"].as_str().unwrap().parse().unwrap();
                i64::try_from(d * rust_decimal::Decimal::ONE_HUNDRED).unwrap()
            };
            assert_eq!(sum, expected);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_split_at_the_profiles_maximum_lines() {
    let mut env = TestEnv::new().await;
    env.set_env("AIDPAY_BANKS__ICBC__MAX_LINES", "4");
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    let v = env.json_async(&["batch"], 0).await;
    let icbc: Vec<&Value> = v["batches"].as_array().unwrap().iter().filter(|b| b["profile"] == "icbc").collect();
    let lines: Vec<i64> = icbc.iter().map(|b| b["payments"].as_i64().unwrap()).collect();
    assert!(lines.len() >= 3 && lines.iter().all(|n| *n <= 4), "{lines:?}");
    assert!(lines[..lines.len() - 1].iter().all(|n| *n == 4), "full batches first: {lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_upload_leaves_exactly_one_batch_at_the_bank() {
    let sim = BankSim::start(SimConfig { key: SecretString::from(KEY) }).await.unwrap();
    let mut env = TestEnv::new().await;
    env.set_env("AIDPAY_BANKS__ICBC__TRANSPORT", "gateway");
    env.set_env("AIDPAY_BANKS__ICBC__GATEWAY_URL", &sim.base_url());
    env.set_env("AIDPAY_BANKS__ICBC__GATEWAY_KEY", KEY);
    env.set_env("AIDPAY_BANKS__ICBC__GATEWAY_TIMEOUT_SECS", "1");
    env.set_env("AIDPAY_BANKS__ICBC__MAX_LINES", "5");
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);

    // A 500, a stored-but-answer-lost 500 and a timeout, one after the other.
    sim.fail_next(1, 500);
    sim.fail_after_store_next(1, 500);
    sim.delay_next(1, std::time::Duration::from_millis(2500));
    let v = env.json_async(&["batch"], 0).await;
    let icbc: Vec<&Value> = v["batches"].as_array().unwrap().iter().filter(|b| b["profile"] == "icbc").collect();
    assert!(icbc.len() >= 2);
    let at_bank = sim.batches();
    assert_eq!(at_bank.len(), icbc.len(), "one batch at the bank per batch sent");
    for b in &icbc {
        assert_eq!(b["status"], "delivered");
        let got = at_bank.iter().find(|r| r.idempotency_key == b["batch_id"].as_str().unwrap()).expect("at the bank");
        assert_eq!(b["bank_ref"].as_str(), Some(got.bank_batch_id.as_str()));
        let outbox = std::fs::read(env.path("var/outbox").join(b["file"].as_str().unwrap())).unwrap();
        assert_eq!(got.bytes, outbox);
    }
    assert!(sim.requests() as usize > icbc.len(), "there were retries");
    // Nothing more goes to the bank on the next cycle.
    let before = sim.requests();
    env.json_async(&["batch"], 0).await;
    assert_eq!(sim.requests(), before);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_the_bank_file_cannot_carry_is_held_not_mangled() {
    let env = TestEnv::new().await;
    let list = env.path("rare.csv");
    let text = std::fs::read_to_string(fixture("grants/utf8.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    // 2026Q-0001 is a 高中 grant paid to an ICBC-profile card (a CCB card): rename student and holder.
    let row = lines.find(|l| l.starts_with("2026Q-0001,")).unwrap();
    let cells: Vec<&str> = row.split(',').collect();
    let renamed = row.replace(cells[1], "𠮷祥").replace(&format!(",{},", cells[12]), ",𠮷祥,");
    std::fs::write(&list, format!("{header}\n{renamed}\n")).unwrap();
    import_one(&env, &list, &[], 0);

    let v = env.json_async(&["batch"], 0).await;
    assert_eq!((v["payments_created"].as_u64(), v["unencodable"].as_u64()), (Some(0), Some(1)), "{v}");
    let ex = env.json_async(&["exceptions", "list", "--kind", "unencodable_name"], 0).await;
    assert_eq!(ex.as_array().unwrap().len(), 1);
    assert_eq!(ex[0]["grant_id"], "2026Q-0001");
    let g = env.store().await.grant("2026Q-0001").await.unwrap().unwrap();
    assert_eq!(g.status.as_str(), "held");
    for entry in std::fs::read_dir(env.path("var/outbox")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("&#"), "no character references written");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_beyond_the_known_balance_is_held_until_money_comes_in() {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    let store = env.store().await;
    let account = "130100000012345678";
    let mut tx = store.begin().await.unwrap();
    tx.insert_statement("ST-1", account, "2026-11-24", "2026-11-24", 0, 100_000).await.unwrap(); // 1,000.00 yuan
    tx.commit().await.unwrap();

    let v = env.json_async(&["batch"], 0).await;
    let statuses: Vec<&str> = v["batches"].as_array().unwrap().iter().map(|b| b["status"].as_str().unwrap()).collect();
    assert!(statuses.contains(&"held"), "{v}");
    let held_total: i64 = v["batches"].as_array().unwrap().iter().filter(|b| b["status"] == "held").count() as i64;
    let ex = env.json_async(&["exceptions", "list", "--kind", "insufficient_balance"], 0).await;
    assert_eq!(ex.as_array().unwrap().len() as i64, held_total);
    assert_eq!(ex[0]["reason_code"], "AM04");

    // A fiscal allocation arrives: the next statement shows enough, the held batches go out.
    let mut tx = store.begin().await.unwrap();
    tx.insert_statement("ST-2", account, "2026-11-25", "2026-11-25", 100_000, 10_000_000_00).await.unwrap();
    tx.commit().await.unwrap();
    let v = env.json_async(&["batch"], 0).await;
    let released: Vec<&Value> = v["batches"].as_array().unwrap().iter().collect();
    assert_eq!(released.len() as i64, held_total, "{v}");
    assert!(released.iter().all(|b| b["status"] == "delivered"), "{v}");
}
