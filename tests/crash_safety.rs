//! Issue 3: the real `aidpay batch` killed (SIGKILL) at every step boundary and started again:
//! every payable grant ends in exactly one live payment, every batch reaches the bank once, and
//! what the bank got is byte for byte what was recorded.

use crate::batch::live_payments;
use crate::util::{TestEnv, fixture, import_one};
use aidpay::banksim::{BankSim, SimConfig};
use secrecy::SecretString;
use std::os::unix::process::ExitStatusExt;

const KEY: &str = "crash-test-key";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_each_step_and_run_again_pays_every_grant_exactly_once() {
    for point in ["after_reserve", "after_file_written", "after_written", "after_deliver"] {
        let sim = BankSim::start(SimConfig { key: SecretString::from(KEY) }).await.unwrap();
        let mut env = TestEnv::new().await;
        // ICBC through the gateway, BOC through the drop folder: both transports cross the crash.
        env.set_env("AIDPAY_BANKS__ICBC__TRANSPORT", "gateway");
        env.set_env("AIDPAY_BANKS__ICBC__GATEWAY_URL", &sim.base_url());
        env.set_env("AIDPAY_BANKS__ICBC__GATEWAY_KEY", KEY);
        env.set_env("AIDPAY_BANKS__ICBC__MAX_LINES", "5");
        import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
        import_one(&env, &fixture("grants/bom.csv"), &[], 0);

        let out = env.run(&["batch"], &[("AIDPAY_CRASH_AT", point)]).await;
        assert_eq!(out.status.signal(), Some(9), "{point}: killed by SIGKILL; stderr {}", String::from_utf8_lossy(&out.stderr));

        let v = env.json_async(&["batch"], 0).await;
        let v2 = env.json_async(&["batch"], 0).await;
        assert_eq!(v2["payments_created"], 0, "{point}");

        // Every payable grant: exactly one live payment.
        let store = env.store().await;
        use sqlx::Row;
        let payable: Vec<String> = sqlx::query("SELECT g.grant_id FROM grants g JOIN grant_states s ON s.account_no = g.account_no AND s.grant_id = g.grant_id WHERE s.status = 'valid' AND g.notice_end < '2026-11-25' ORDER BY g.grant_id")
            .fetch_all(store.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let live = live_payments(&env).await;
        assert_eq!(live.keys().cloned().collect::<Vec<_>>(), payable, "{point}");
        assert!(live.values().all(|n| *n == 1), "{point}: {live:?}");

        // Every batch delivered, once, with the recorded bytes.
        let batches = store.batches().await.unwrap();
        assert!(batches.iter().all(|b| b.status.as_str() == "delivered"), "{point}: {batches:?}");
        let at_bank = sim.batches();
        for b in &batches {
            let outbox = std::fs::read(env.path("var/outbox").join(b.file_name.as_ref().unwrap())).unwrap();
            if b.profile == "icbc" {
                let got: Vec<_> = at_bank.iter().filter(|r| r.idempotency_key == b.batch_id).collect();
                assert_eq!(got.len(), 1, "{point}: {}", b.batch_id);
                assert_eq!(got[0].bytes, outbox, "{point}");
            } else {
                let dropped = std::fs::read(env.path("var/bank/boc").join(b.file_name.as_ref().unwrap())).unwrap();
                assert_eq!(dropped, outbox, "{point}");
            }
        }
        assert_eq!(at_bank.len(), batches.iter().filter(|b| b.profile == "icbc").count(), "{point}");
        // Each payment in exactly one batch, and the batch sums add up to the payments.
        let sums: i64 = batches.iter().map(|b| b.ctrl_sum_fen).sum();
        let paid: i64 = sqlx::query("SELECT CAST(SUM(amount_fen) AS BIGINT) FROM payments WHERE batch_id IS NOT NULL")
            .fetch_one(store.pool())
            .await
            .unwrap()
            .get(0);
        assert_eq!(sums, paid, "{point}");
        let _ = v;
        sim.shutdown().await;
    }
}
