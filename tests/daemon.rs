//! Issue 6: the daemon. `aidpay run` as a real child process on second-level schedules, against
//! the bank simulator: a whole cycle paid and answered without a hand, one daemon per special
//! account, SIGTERM, logs without card or ID numbers or keys, alerts to a webhook, a failing job
//! retried.

use crate::util::{TestEnv, fixture};
use aidpay::banksim::{AnswerMix, AnswerOptions, BankSim, BankSimHandle, RandomMix, SimConfig};
use aidpay::config::{BankFormat, Config};
use secrecy::SecretString;
use serde_json::Value;
use sqlx::Row;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEY: &str = "daemon-test-gateway-key-7f3a9c";
const FINAL: [&str; 3] = ["settled", "rejected", "returned"];

/// `aidpay --config … [--log-format F] run` as a child, its stderr in `log` under the test's
/// folder. The same environment as [`TestEnv::cmd`].
fn spawn_daemon(env: &TestEnv, log_format: &str, log: &str) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aidpay"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AIDPAY_") || k == "NOTIFY_SOCKET" || k == "CREDENTIALS_DIRECTORY" {
            c.env_remove(k);
        }
    }
    c.env("AIDPAY_LOG", "info").env("AIDPAY_NOW", "2026-11-25T10:00:00+08:00");
    for (k, v) in &env.env {
        c.env(k, v);
    }
    let err = std::fs::File::create(env.path(log)).expect("log file");
    let child = c
        .arg("--config")
        .arg(&env.config)
        .args(["--log-format", log_format, "run"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(err))
        .spawn()
        .expect("start aidpay run");
    // A test that fails before its SIGTERM must not leave a daemon behind: a watcher kills it
    // once the test binary has exited.
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("while kill -0 {} 2>/dev/null; do sleep 1; done; kill -9 {} 2>/dev/null", std::process::id(), child.id()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    child
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(ok.success());
}

/// Waits (off the runtime) for the child to exit, at most `secs`.
async fn wait_exit(mut child: Child, secs: u64) -> std::process::ExitStatus {
    tokio::task::spawn_blocking(move || {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(s) = child.try_wait().expect("wait") {
                return s;
            }
            if Instant::now() > until {
                let _ = child.kill();
                panic!("aidpay did not exit within {secs} s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap()
}

/// Puts a grant list into the daemon's grant inbox the safe way (written as `.part`, renamed).
fn drop_grant_list(env: &TestEnv, name: &str) {
    let dir = env.path("var/inbox/grants");
    std::fs::create_dir_all(&dir).unwrap();
    let part = dir.join(format!("{name}.part"));
    std::fs::copy(fixture(&format!("grants/{name}")), &part).unwrap();
    std::fs::rename(&part, dir.join(name)).unwrap();
}

fn answer_options(cfg: &Config) -> AnswerOptions {
    let mut opts = AnswerOptions::new(chrono::DateTime::parse_from_rfc3339("2026-11-26T09:00:00+08:00").unwrap());
    if let BankFormat::Domestic(d) = &cfg.bank("icbc").unwrap().format {
        opts.domestic = Some((**d).clone());
    }
    opts
}

/// A test environment whose both banks go through the simulator's gateway, every job every second.
async fn daemon_env(sim: &BankSimHandle) -> (TestEnv, Config) {
    let mut env = TestEnv::new().await;
    for bank in ["ICBC", "BOC"] {
        env.set_env(&format!("AIDPAY_BANKS__{bank}__TRANSPORT"), "gateway");
        env.set_env(&format!("AIDPAY_BANKS__{bank}__GATEWAY_URL"), &sim.base_url());
        env.set_env(&format!("AIDPAY_BANKS__{bank}__GATEWAY_KEY"), KEY);
    }
    env.set_env("AIDPAY_SCHEDULE__IMPORT", "* * * * * *");
    env.set_env("AIDPAY_SCHEDULE__BATCH", "* * * * * *");
    env.set_env("AIDPAY_SCHEDULE__INGEST", "* * * * * *");
    env.set_env("AIDPAY_SCHEDULE__REPORTS", "*/2 * * * * *");
    let vars: std::collections::HashMap<String, String> = env.env.iter().cloned().collect();
    let cfg = Config::load_with_env(Some(&env.config), Some(vars)).unwrap();
    (env, cfg)
}

/// Card and ID numbers of the fixture list (spaces removed).
fn fixture_numbers() -> Vec<String> {
    let mut r = csv::Reader::from_path(fixture("grants/utf8.csv")).unwrap();
    let headers = r.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (id, card) = (col("身份证号"), col("卡号"));
    let mut out = Vec::new();
    for row in r.records() {
        let row = row.unwrap();
        for c in [id, card] {
            let v: String = row[c].chars().filter(|ch| !ch.is_whitespace()).collect();
            // Too short to be a number worth hiding (a defect row's stub) would match anything.
            if v.len() >= 12 {
                out.push(v);
            }
        }
    }
    assert!(out.len() > 20, "the fixture's numbers: {out:?}");
    out
}

/// Asserts no log line carries a fixture card or ID number, or `secrets`.
fn assert_clean_logs(log: &str, secrets: &[&str]) {
    assert!(!log.trim().is_empty(), "the daemon logged nothing");
    let numbers = fixture_numbers();
    for (i, line) in log.lines().enumerate() {
        for n in &numbers {
            assert!(!line.contains(n.as_str()), "log line {} shows a full card or ID number {n}:\n{line}", i + 1);
        }
        for s in secrets {
            assert!(!line.contains(s), "log line {} shows a secret:\n{line}", i + 1);
        }
    }
}

/// Grants that may be paid (not held at intake nor cancelled, notice ended by 2026-11-25). A
/// grant whose payment the bank refused is held too, after its attempt: it counts.
async fn payable(env: &TestEnv) -> i64 {
    let store = env.store().await;
    sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM grants g JOIN grant_states s ON s.account_no = g.account_no AND s.grant_id = g.grant_id WHERE s.status <> 'cancelled' AND g.notice_end < '2026-11-25' \
         AND (s.status <> 'held' OR EXISTS (SELECT 1 FROM payments p WHERE p.account_no = g.account_no AND p.grant_id = g.grant_id))",
    )
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get::<i64, _>(0)
}

/// Waits until the daemon says it is ready (its store created and migrated): two processes
/// creating a fresh store at the same instant would both run the first migration.
async fn wait_ready(env: &TestEnv, log: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !std::fs::read_to_string(env.path(log)).unwrap_or_default().contains("daemon ready") {
        assert!(Instant::now() < deadline, "the daemon never got ready:\n{}", std::fs::read_to_string(env.path(log)).unwrap_or_default());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn count(v: &Value, key: &str) -> std::collections::BTreeMap<String, i64> {
    v[key].as_object().unwrap().iter().map(|(k, n)| (k.clone(), n.as_i64().unwrap())).collect()
}

/// The whole cycle under the daemon: grant list dropped → imported → batched → delivered to the
/// simulator's gateway → answered → ingested; then SIGTERM. Returns the env and the log.
async fn whole_cycle(log_format: &str, second_instance: bool) -> (TestEnv, String) {
    let sim = BankSim::start(SimConfig { key: SecretString::from(KEY) }).await.unwrap();
    let (env, cfg) = daemon_env(&sim).await;
    drop_grant_list(&env, "utf8.csv");
    let daemon = spawn_daemon(&env, log_format, "daemon.log");
    wait_ready(&env, "daemon.log").await;

    if second_instance {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let second = spawn_daemon(&env, "text", "second.log");
        let status = wait_exit(second, 10).await;
        let said = std::fs::read_to_string(env.path("second.log")).unwrap();
        assert_eq!(status.code(), Some(1), "a second daemon on the same account must exit 1:\n{said}");
        let pid = daemon.id().to_string();
        assert!(said.contains("lock") && said.contains(&pid), "it names the lock and its holder (pid {pid}):\n{said}");
        if crate::util::backend() == "postgres" {
            assert!(said.contains("advisory lock"), "{said}");
        } else {
            assert!(said.contains("aidpay.db.lock"), "{said}");
        }
    }

    // The bank answers whatever has arrived (20 % rejected); the daemon's ingest picks it up.
    let mix = AnswerMix::settle_all().with_random(RandomMix::rejections(11, 0.2));
    let deadline = Instant::now() + Duration::from_secs(40);
    let final_status = loop {
        sim.answer_all(&mix, &answer_options(&cfg)).unwrap();
        let v = env.json_async(&["status"], 0).await;
        let payments = count(&v, "payments");
        let total: i64 = payments.values().sum();
        if total > 0 && total == payable(&env).await && payments.keys().all(|s| FINAL.contains(&s.as_str())) {
            break v;
        }
        assert!(Instant::now() < deadline, "payments not final after 40 s: {v}\nlog:\n{}", std::fs::read_to_string(env.path("daemon.log")).unwrap());
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    sigterm(&daemon);
    let status = wait_exit(daemon, 20).await;
    let log = std::fs::read_to_string(env.path("daemon.log")).unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM stops the daemon with 0:\n{log}");

    // Every payment final in the store, one per payable grant, as `status` said.
    let store = env.store().await;
    let rows = sqlx::query("SELECT grant_id, status FROM payments").fetch_all(store.pool()).await.unwrap();
    assert!(rows.len() >= 10, "{final_status}");
    let mut per_grant = std::collections::BTreeMap::<String, i64>::new();
    for r in &rows {
        let s: String = r.get(1);
        assert!(FINAL.contains(&s.as_str()), "payment in {s}");
        *per_grant.entry(r.get(0)).or_default() += 1;
    }
    assert!(per_grant.values().all(|n| *n == 1), "one payment per grant: {per_grant:?}");
    assert_eq!(count(&final_status, "payments").values().sum::<i64>(), rows.len() as i64);
    assert_eq!(per_grant.len() as i64, payable(&env).await, "every payable grant paid");
    assert!(std::fs::read_dir(env.path("var/inbox/grants/processed")).unwrap().count() == 1, "the grant list is moved aside once imported");

    // job_runs: every job ran and ended; nothing left `running`.
    for job in ["import", "batch", "ingest", "reports"] {
        let runs = store.runs_of(job, 1000).await.unwrap();
        assert!(runs.iter().any(|r| r.outcome.map(|o| o.as_str()) == Some("ok")), "{job}: {runs:?}");
        assert!(runs.iter().all(|r| r.outcome.map(|o| o.as_str()) != Some("running")), "{job}: {runs:?}");
    }
    let jobs = final_status["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), aidpay::scheduler::JOBS.len(), "{final_status}");
    for j in jobs {
        assert!(j["next_run"].is_string() && j["schedule"].is_string(), "{j}");
    }
    assert!(std::fs::read_dir(env.path("var/reports")).unwrap().count() >= 1, "the reports job wrote the exception report");
    sim.shutdown().await;
    (env, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_pays_a_whole_cycle_alone_and_stops_on_sigterm() {
    let (_env, log) = whole_cycle("json", true).await;
    let lines: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))).collect();
    let finished = |job: &str| lines.iter().any(|l| l["fields"]["job"] == job && l["fields"]["message"].as_str().unwrap_or("").starts_with("job finished"));
    assert!(finished("import") && finished("batch") && finished("ingest"), "every job logs its end with its counts");
    assert!(lines.iter().any(|l| l["fields"]["message"].as_str().unwrap_or("").contains("SIGTERM")), "{log}");
    assert_clean_logs(&log, &[KEY]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_logs_show_no_card_or_id_number_and_no_key() {
    let (env, log) = whole_cycle("text", false).await;
    assert!(log.contains("job finished"), "{log}");
    assert_clean_logs(&log, &[KEY]);
    // Nor does `status` or the ingest of the answers print them.
    let out = env.run(&["status"], &[]).await;
    assert_clean_logs(&String::from_utf8_lossy(&out.stdout), &[KEY]);
}

/// A webhook that answers 500 to its first request and records the ones after.
async fn flaky_webhook() -> (String, Arc<Mutex<Vec<Value>>>, Arc<Mutex<u32>>) {
    use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
    type Shared = (Arc<Mutex<Vec<Value>>>, Arc<Mutex<u32>>);
    async fn hook(State((got, hits)): State<Shared>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
        let n = {
            let mut h = hits.lock().unwrap();
            *h += 1;
            *h
        };
        if n == 1 {
            return (StatusCode::INTERNAL_SERVER_ERROR, Json(serde_json::json!({"errcode": -1, "errmsg": "system busy"})));
        }
        got.lock().unwrap().push(body);
        (StatusCode::OK, Json(serde_json::json!({"errcode": 0, "errmsg": "ok"})))
    }
    let got = Arc::new(Mutex::new(Vec::new()));
    let hits = Arc::new(Mutex::new(0));
    let app = Router::new().route("/cgi-bin/webhook/send", post(hook)).with_state((got.clone(), hits.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), got, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_exceptions_reach_finance_staff_in_one_alert_despite_a_failed_first_attempt() {
    let (base, got, hits) = flaky_webhook().await;
    let robot_key = "693a91f6-7xxx-robot-key-secret";
    let mut env = TestEnv::new().await;
    env.set_env("AIDPAY_SCHEDULE__IMPORT", "* * * * * *");
    for job in ["BATCH", "INGEST", "REPORTS"] {
        env.set_env(&format!("AIDPAY_SCHEDULE__{job}"), "off");
    }
    env.set_env("AIDPAY_ALERTS__WEBHOOK_URL", &format!("{base}/cgi-bin/webhook/send?key={robot_key}"));
    env.set_env("AIDPAY_ALERTS__KIND", "wecom");
    env.set_env("AIDPAY_ALERTS__BACKOFF_MS", "200");
    let daemon = spawn_daemon(&env, "text", "daemon.log");
    wait_ready(&env, "daemon.log").await;
    drop_grant_list(&env, "utf8.csv"); // raises one exception of each intake kind

    let deadline = Instant::now() + Duration::from_secs(20);
    while got.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no alert arrived:\n{}", std::fs::read_to_string(env.path("daemon.log")).unwrap());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // More import runs come and go (nothing new): no second alert.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    sigterm(&daemon);
    let status = wait_exit(daemon, 20).await;
    let log = std::fs::read_to_string(env.path("daemon.log")).unwrap();
    assert_eq!(status.code(), Some(0), "{log}");

    // The new exceptions in one alert (the list's rejected rows and the stop have their own).
    let got: Vec<Value> = got.lock().unwrap().iter().filter(|b| b.to_string().contains("新增")).cloned().collect();
    assert_eq!(got.len(), 1, "exactly one alert of new exceptions: {got:?}");
    assert!(*hits.lock().unwrap() >= 2, "the failed first attempt was retried");
    let store = env.store().await;
    let open = store.open_exceptions_after(0).await.unwrap();
    assert!(open.len() >= 5, "{open:?}");
    assert_eq!(got[0]["msgtype"], "markdown");
    let text = got[0]["markdown"]["content"].as_str().unwrap();
    assert!(text.contains(&format!("aidpay: 新增 {} 条异常（", open.len())), "{text}");
    assert!(text.contains("卡号无效 1") && text.contains("身份证号无效 1"), "{text}");
    assert!(text.ends_with("请在 aidpay exceptions list 查看"), "{text}");
    let alerts = store.runs_of("alert", 10).await.unwrap();
    let of_exceptions: Vec<_> = alerts.iter().filter(|r| r.detail.as_deref().is_some_and(|d| d.starts_with("up_to="))).collect();
    assert_eq!(of_exceptions.len(), 1, "{alerts:?}");
    assert_eq!(of_exceptions[0].outcome.map(|o| o.as_str()), Some("ok"));
    // The robot's key (the secret part of the URL) is never logged; its host is.
    assert!(log.contains("127.0.0.1"), "{log}");
    assert_clean_logs(&log, &[robot_key]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_is_recorded_retried_and_the_daemon_goes_on() {
    let mut env = TestEnv::new().await;
    // A gateway nobody listens on: every delivery fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    env.set_env("AIDPAY_BANKS__ICBC__TRANSPORT", "gateway");
    env.set_env("AIDPAY_BANKS__ICBC__GATEWAY_URL", &format!("http://{closed}"));
    env.set_env("AIDPAY_BANKS__ICBC__GATEWAY_KEY", KEY);
    env.set_env("AIDPAY_BANKS__ICBC__GATEWAY_MAX_ATTEMPTS", "1");
    env.set_env("AIDPAY_SCHEDULE__IMPORT", "* * * * * *");
    env.set_env("AIDPAY_SCHEDULE__BATCH", "0 2 * * *"); // five fields: 02:00 daily
    env.set_env("AIDPAY_SCHEDULE__INGEST", "off");
    env.set_env("AIDPAY_SCHEDULE__REPORTS", "off");
    env.set_env("AIDPAY_DAEMON__RETRY_INITIAL_SECS", "1");
    crate::util::import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    let v = env.json_async(&["status"], 0).await;
    let job = |v: &Value, name: &str| v["jobs"].as_array().unwrap().iter().find(|j| j["job"] == name).unwrap().clone();
    assert_eq!(job(&v, "batch")["schedule"], "0 0 2 * * *", "5 fields get a leading 0 (seconds)");
    assert!(job(&v, "batch")["next_run"].as_str().unwrap().ends_with("T02:00:00+08:00"), "{v}");
    assert_eq!(job(&v, "ingest")["schedule"], "off");
    assert!(job(&v, "ingest")["next_run"].is_null());

    // A schedule that fires: every 2 s, failing each time, retried, never stopping the daemon.
    env.set_env("AIDPAY_SCHEDULE__BATCH", "*/2 * * * * *");
    let daemon = spawn_daemon(&env, "text", "daemon2.log");
    wait_ready(&env, "daemon2.log").await;
    let store = env.store().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let runs = store.runs_of("batch", 100).await.unwrap();
        if runs.iter().filter(|r| r.outcome.map(|o| o.as_str()) == Some("error")).count() >= 2 {
            assert!(runs[0].detail.as_deref().unwrap_or("").contains("个失败") || runs[1].detail.as_deref().unwrap_or("").contains("个失败"), "{runs:?}");
            break;
        }
        assert!(Instant::now() < deadline, "{runs:?}\n{}", std::fs::read_to_string(env.path("daemon2.log")).unwrap());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Still alive: the import job goes on beside it.
    let imports_before = store.runs_of("import", 1000).await.unwrap().len();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert!(store.runs_of("import", 1000).await.unwrap().len() > imports_before);
    // `status` shows the latest run, which may be the next one, still running (no outcome
    // yet): read it again until that one has finished too.
    let deadline = Instant::now() + Duration::from_secs(10);
    let v = loop {
        let v = env.json_async(&["status"], 0).await;
        if !job(&v, "batch")["last_run"]["outcome"].is_null() || Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(job(&v, "batch")["last_run"]["outcome"], "error", "{v}");
    sigterm(&daemon);
    let code = wait_exit(daemon, 20).await.code();
    let log = std::fs::read_to_string(env.path("daemon2.log")).unwrap();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("job failed") && log.contains("will be retried"), "{log}");
    assert_clean_logs(&log, &[KEY]);
}

/// Issue 12: the daemon's import puts the rows it could not read on the work list, one
/// `rows_rejected` per file naming each row (Excel's row number), column and reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemons_import_puts_rejected_rows_on_the_work_list() {
    let mut env = TestEnv::new().await;
    env.set_env("AIDPAY_SCHEDULE__IMPORT", "* * * * * *");
    for job in ["BATCH", "INGEST", "RECONCILE", "REPORTS"] {
        env.set_env(&format!("AIDPAY_SCHEDULE__{job}"), "off");
    }
    drop_grant_list(&env, "utf8.csv");
    let daemon = spawn_daemon(&env, "text", "daemon.log");
    wait_ready(&env, "daemon.log").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let found = loop {
        let v = env.json_async(&["exceptions", "list", "--kind", "rows_rejected"], 0).await;
        if let Some(e) = v.as_array().unwrap().first() {
            break e.clone();
        }
        assert!(Instant::now() < deadline, "no rows_rejected after 15 s:\n{}", std::fs::read_to_string(env.path("daemon.log")).unwrap());
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // A second tick does not raise it again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sigterm(&daemon);
    assert_eq!(wait_exit(daemon, 20).await.code(), Some(0));
    let detail = found["detail"].as_str().unwrap();
    let text = std::fs::read_to_string(fixture("grants/utf8.csv")).unwrap();
    let row = text.lines().position(|l| l.contains("七百五十")).unwrap() + 1;
    assert!(detail.contains("utf8.csv") && detail.contains(&format!("第 {row} 行 金额")) && detail.contains("4 行"), "{detail}");
    let all = env.json_async(&["exceptions", "list", "--kind", "rows_rejected"], 0).await;
    assert_eq!(all.as_array().unwrap().len(), 1);
    let report = env.json_async(&["report", "exceptions", "--format", "csv"], 0).await;
    let csv = std::fs::read_to_string(report["report"].as_str().unwrap()).unwrap();
    assert!(csv.contains("utf8.csv"), "the exception report lists the rejected rows: {csv}");
}
