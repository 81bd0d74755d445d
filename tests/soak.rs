//! Issue 17: the soak. The daemon on second-level schedules under a steady feed of grant lists
//! (every 3 s) and bank answers (every second, 10 % rejected), SIGKILLed and restarted every
//! minute; at the end every payable grant is paid once, `aidpay verify` passes and the daemon's
//! memory did not grow. Ignored in the normal run; for ten minutes:
//!
//!     AIDPAY_SOAK_SECS=600 cargo test --test integration soak -- --ignored --nocapture
//!
//! (`AIDPAY_SOAK_SECS` defaults to 600; `AIDPAY_SOAK_KILL_SECS`, the time between kills, to 60.)
//! The figures (grants fed, payments, kills, peak RSS per daemon life) are printed at the end.

use crate::util::TestEnv;
use aidpay::banksim::{AnswerMix, AnswerOptions, BankSim, RandomMix, SimConfig};
use aidpay::config::{BankFormat, Config};
use secrecy::SecretString;
use sqlx::Row;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "soak-test-gateway-key";

fn secs(var: &str, default: u64) -> u64 {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn card(i: usize) -> String {
    let body = format!("622203{i:012}");
    (0..10)
        .map(|d| format!("{body}{d}"))
        .find(|c| {
            let sum: u32 = c
                .chars()
                .rev()
                .enumerate()
                .map(|(k, ch)| {
                    let v = ch.to_digit(10).unwrap();
                    if k % 2 == 1 { if v * 2 > 9 { v * 2 - 9 } else { v * 2 } } else { v }
                })
                .sum();
            sum % 10 == 0
        })
        .unwrap()
}

fn id_number(i: usize) -> String {
    let body = format!("1301{:02}2009{:02}{:02}{:03}", i % 99, 1 + i % 12, 1 + i % 28, i % 1000);
    let body = &body[..17];
    format!("{body}{}", aidpay::domain::id_number::check_char(body).unwrap())
}

/// A grant list of `n` new grants, dropped into the daemon's inbox the safe way.
fn drop_list(env: &TestEnv, round: usize, n: usize) {
    let dir = env.path("var/inbox/grants");
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::from("资助编号,姓名,身份证号,学校代码,学校名称,学段,年级,资助项目,资助档次,重点保障类别,学期,金额,持卡人,卡号,开户银行,公示截止日期\n");
    for k in 0..n {
        let i = round * n + k;
        let bank = if i % 2 == 0 { "中国工商银行" } else { "中国银行" };
        text.push_str(&format!(
            "S-{round:05}-{k:03},学生{i},{},1103001,区第一高级中学,高中,高一,国家助学金,一般困难,,2026秋,750,学生{i},{},{bank},2026-10-20\n",
            id_number(i),
            card(i)
        ));
    }
    let part = dir.join(format!(".soak-{round:05}.csv.part"));
    std::fs::write(&part, text).unwrap();
    std::fs::rename(&part, dir.join(format!("soak-{round:05}.csv"))).unwrap();
}

fn spawn_daemon(env: &TestEnv, life: usize) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aidpay"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AIDPAY_") || k == "NOTIFY_SOCKET" {
            c.env_remove(k);
        }
    }
    c.env("AIDPAY_LOG", "warn").env("AIDPAY_NOW", "2026-11-25T10:00:00+08:00");
    for (k, v) in &env.env {
        c.env(k, v);
    }
    let err = std::fs::File::create(env.path(&format!("daemon-{life:02}.log"))).unwrap();
    let child = c.arg("--config").arg(&env.config).arg("run").stdin(Stdio::null()).stdout(Stdio::null()).stderr(err).spawn().unwrap();
    // Killed with the test binary, whatever happens.
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("while kill -0 {} 2>/dev/null; do sleep 1; done; kill -9 {} 2>/dev/null", std::process::id(), child.id()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    child
}

/// Resident memory of a process in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// One daemon life's memory: the peak, and the samples of its first and last 15 s.
#[derive(Debug, Default)]
struct Life {
    peak: u64,
    early: Vec<u64>,
    late: Vec<u64>,
}

async fn counts(env: &TestEnv) -> (i64, i64, i64, i64) {
    let store = env.store().await;
    let one = |sql: &'static str| {
        let pool = store.pool().clone();
        async move { sqlx::query(sql).fetch_one(&pool).await.unwrap().get::<i64, _>(0) }
    };
    let grants = one("SELECT CAST(COUNT(*) AS BIGINT) FROM grants").await;
    let payments = one("SELECT CAST(COUNT(*) AS BIGINT) FROM payments").await;
    let open = one("SELECT CAST(COUNT(*) AS BIGINT) FROM payments WHERE status NOT IN ('settled', 'rejected', 'returned', 'cancelled')").await;
    // Grants that may be paid and are not: not held at intake, no payment yet.
    let unpaid = one(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM grant_states g WHERE g.status = 'valid' AND NOT EXISTS \
         (SELECT 1 FROM payments p WHERE p.account_no = g.account_no AND p.grant_id = g.grant_id)",
    )
    .await;
    store.close().await;
    (grants, payments, open, unpaid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a soak of AIDPAY_SOAK_SECS (600) seconds; run with --ignored"]
async fn soak_the_daemon_killed_every_minute_under_a_steady_feed() {
    let total = Duration::from_secs(secs("AIDPAY_SOAK_SECS", 600));
    let every = Duration::from_secs(secs("AIDPAY_SOAK_KILL_SECS", 60));
    let sim = BankSim::start(SimConfig { key: SecretString::from(KEY) }).await.unwrap();
    let mut env = TestEnv::new().await;
    for bank in ["ICBC", "BOC"] {
        env.set_env(&format!("AIDPAY_BANKS__{bank}__TRANSPORT"), "gateway");
        env.set_env(&format!("AIDPAY_BANKS__{bank}__GATEWAY_URL"), &sim.base_url());
        env.set_env(&format!("AIDPAY_BANKS__{bank}__GATEWAY_KEY"), KEY);
    }
    for (job, when) in [("IMPORT", "* * * * * *"), ("BATCH", "* * * * * *"), ("INGEST", "* * * * * *"), ("RECONCILE", "*/10 * * * * *"), ("REPORTS", "*/15 * * * * *")] {
        env.set_env(&format!("AIDPAY_SCHEDULE__{job}"), when);
    }
    let vars: std::collections::HashMap<String, String> = env.env.iter().cloned().collect();
    let cfg = Config::load_with_env(Some(&env.config), Some(vars)).unwrap();
    let mut opts = AnswerOptions::new(chrono::DateTime::parse_from_rfc3339("2026-11-26T09:00:00+08:00").unwrap());
    if let BankFormat::Domestic(d) = &cfg.bank("icbc").unwrap().format {
        opts.domestic = Some((**d).clone());
    }
    let mix = AnswerMix::settle_all().with_random(RandomMix::rejections(17, 0.1));

    let start = Instant::now();
    let (mut round, mut life, mut kills) = (0usize, 0usize, 0usize);
    let mut lives: Vec<Life> = vec![Life::default()];
    let mut daemon = spawn_daemon(&env, life);
    let mut born = Instant::now();
    let (mut last_feed, mut last_answer) = (Instant::now() - Duration::from_secs(10), Instant::now());
    while start.elapsed() < total {
        if last_feed.elapsed() >= Duration::from_secs(3) {
            drop_list(&env, round, 20);
            round += 1;
            last_feed = Instant::now();
        }
        if last_answer.elapsed() >= Duration::from_secs(1) {
            sim.answer_all(&mix, &opts).unwrap();
            last_answer = Instant::now();
        }
        if let Some(kib) = rss_kib(daemon.id()) {
            let l = lives.last_mut().unwrap();
            l.peak = l.peak.max(kib);
            let age = born.elapsed();
            if age < Duration::from_secs(15) {
                l.early.push(kib);
            } else if age + Duration::from_secs(15) > every {
                l.late.push(kib);
            }
        }
        if let Some(s) = daemon.try_wait().unwrap() {
            panic!("the daemon exited by itself ({s}):\n{}", std::fs::read_to_string(env.path(&format!("daemon-{life:02}.log"))).unwrap_or_default());
        }
        if born.elapsed() >= every {
            daemon.kill().unwrap(); // SIGKILL
            daemon.wait().unwrap();
            kills += 1;
            life += 1;
            lives.push(Life::default());
            daemon = spawn_daemon(&env, life);
            born = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The feed stops; the last daemon pays and ingests what is left.
    let deadline = Instant::now() + Duration::from_secs(120);
    let final_counts = loop {
        sim.answer_all(&mix, &opts).unwrap();
        let c = counts(&env).await;
        let inbox_empty = aidpay::returns::waiting_files(&env.path("var/inbox/grants")).unwrap().is_empty();
        if inbox_empty && c.2 == 0 && c.3 == 0 {
            break c;
        }
        assert!(Instant::now() < deadline, "not settled 120 s after the feed stopped: {c:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let ok = Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status().unwrap();
    assert!(ok.success());
    let status = tokio::task::spawn_blocking(move || daemon.wait().unwrap()).await.unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM at the end");

    let verify = env.json_async(&["verify"], 0).await;
    let store = env.store().await;
    let twice = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT grant_id FROM payments WHERE status IN ('created','sent','accepted','settled') \
         GROUP BY account_no, grant_id HAVING COUNT(*) > 1) AS t",
    )
    .fetch_one(store.pool())
    .await
    .unwrap()
    .get::<i64, _>(0);
    assert_eq!(twice, 0, "no grant paid twice");

    let med = |v: &[u64]| {
        let mut v = v.to_vec();
        v.sort();
        v.get(v.len() / 2).copied().unwrap_or(0)
    };
    eprintln!("soak: {} s, {} grant lists ({} grants) fed, {kills} SIGKILLs", start.elapsed().as_secs(), round, final_counts.0);
    eprintln!("soak: {} payments, {} batches at the bank, verify ok = {}", final_counts.1, sim.batches().len(), verify["ok"]);
    for (i, l) in lives.iter().enumerate() {
        eprintln!("soak: life {i:2}: peak RSS {:6} KiB, median first 15 s {:6} KiB, last 15 s {:6} KiB", l.peak, med(&l.early), med(&l.late));
    }
    // Memory: a daemon late in the soak (a store ten times fuller) peaks near the first one,
    // and no life grows from its first 15 s to its last.
    let full: Vec<&Life> = lives.iter().filter(|l| !l.late.is_empty()).collect();
    if full.len() >= 2 {
        let (first, last) = (full[0], full[full.len() - 1]);
        assert!(last.peak <= first.peak * 3 / 2 + 32 * 1024, "peak RSS grew from {} to {} KiB", first.peak, last.peak);
        for l in &full {
            assert!(med(&l.late) <= med(&l.early) * 3 / 2 + 32 * 1024, "a daemon life grew: {l:?}");
        }
    }
    sim.shutdown().await;
}
