//! Issue 19: `/metrics` for a district's monitoring system. A real `aidpay run` with
//! `[metrics] listen` is scraped; the text parses as the Prometheus/OpenMetrics text format and
//! carries every family: job runs and durations by outcome, grants by status, payments in flight,
//! open exceptions by kind, the account's balance and last statement date, alert failures.

use crate::util::{TestEnv, fixture, import_one};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One sample line: `name{k="v",…} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A strict reading of the text format: `# HELP`/`# TYPE`/`# EOF` comments and samples, nothing else.
fn parse(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "the scrape ends with # EOF:\n{text}");
    for line in lines {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            types.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with("# HELP ") || line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let (head, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number in {line}"));
        let (name, labels) = match head.split_once('{') {
            Some((n, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}"));
                let mut labels = BTreeMap::new();
                for pair in body.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("bad label in {line}"));
                    labels.insert(k.to_string(), v.trim_end_matches('"').to_string());
                }
                (n.to_string(), labels)
            }
            None => (head.to_string(), BTreeMap::new()),
        };
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{line}");
        samples.push(Sample { name, labels, value });
    }
    (types, samples)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_parses_and_carries_every_family() {
    let mut env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    env.json_async(&["batch"], 0).await;
    // A statement (balance and date) and an alert that could not go out.
    let account = aidpay::config::Config::load_with_env(Some(&env.config), Some(Default::default())).unwrap().account.number.clone();
    let store = env.store().await.scoped(&account);
    let mut tx = store.begin().await.unwrap();
    tx.insert_statement("STMT-M-1", &account, "2026-11-24", "2026-11-24", 5_000_000, 4_900_000).await.unwrap();
    tx.commit().await.unwrap();
    store
        .record_run(&aidpay::store::JobRun {
            job: "alert".into(),
            started_at: "2026-11-25T10:00:00.000+08:00".into(),
            finished_at: Some("2026-11-25T10:00:09.000+08:00".into()),
            outcome: Some(aidpay::domain::RunOutcome::Error),
            detail: Some("not delivered".into()),
        })
        .await
        .unwrap();

    let port = free_port();
    env.set_env("AIDPAY_METRICS__LISTEN", &format!("127.0.0.1:{port}"));
    env.set_env("AIDPAY_SCHEDULE__IMPORT", "* * * * * *");
    let mut c = Command::new(env!("CARGO_BIN_EXE_aidpay"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AIDPAY_") || k == "NOTIFY_SOCKET" || k == "CREDENTIALS_DIRECTORY" || k == "JOURNAL_STREAM" {
            c.env_remove(k);
        }
    }
    c.env("AIDPAY_LOG", "info").env("AIDPAY_NOW", "2026-11-25T10:00:00+08:00");
    for (k, v) in &env.env {
        c.env(k, v);
    }
    let log = std::fs::File::create(env.path("daemon.log")).unwrap();
    let mut child = c.arg("--config").arg(&env.config).arg("run").stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).spawn().unwrap();

    let http = aidpay::tls::client_builder().timeout(Duration::from_secs(5)).build().unwrap();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = Instant::now() + Duration::from_secs(60);
    let (content_type, text) = loop {
        if let Ok(r) = http.get(&url).send().await {
            let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let text = r.text().await.unwrap();
            if text.contains("job=\"import\"") {
                break (ct, text);
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("no scrape with an import run:\n{}", std::fs::read_to_string(env.path("daemon.log")).unwrap());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;

    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let (types, samples) = parse(&text);
    let expected = [
        ("aidpay_job_runs", "counter"),
        ("aidpay_job_duration_seconds", "histogram"),
        ("aidpay_grants", "gauge"),
        ("aidpay_payments_in_flight", "gauge"),
        ("aidpay_payments_in_flight_fen", "gauge"),
        ("aidpay_open_exceptions", "gauge"),
        ("aidpay_account_balance_fen", "gauge"),
        ("aidpay_account_last_statement_timestamp_seconds", "gauge"),
        ("aidpay_alert_failures", "counter"),
    ];
    for (family, kind) in expected {
        assert_eq!(types.get(family).map(String::as_str), Some(kind), "{family} in:\n{text}");
        assert!(samples.iter().any(|s| s.name.starts_with(family)), "{family} has no sample:\n{text}");
    }
    let one = |name: &str, label: Option<(&str, &str)>| -> f64 {
        samples
            .iter()
            .find(|s| s.name == name && label.is_none_or(|(k, v)| s.labels.get(k).map(String::as_str) == Some(v)))
            .unwrap_or_else(|| panic!("{name} {label:?} in:\n{text}"))
            .value
    };
    assert!(one("aidpay_job_runs_total", Some(("job", "import"))) >= 1.0, "{text}");
    assert!(one("aidpay_job_duration_seconds_count", Some(("outcome", "ok"))) >= 1.0, "{text}");
    let grants: f64 = samples.iter().filter(|s| s.name == "aidpay_grants").map(|s| s.value).sum();
    assert!(grants >= 10.0 && one("aidpay_grants", Some(("status", "held"))) > 0.0, "{text}");
    assert!(one("aidpay_payments_in_flight", None) > 0.0 && one("aidpay_payments_in_flight_fen", None) > 0.0, "{text}");
    let kinds: BTreeSet<&str> = samples.iter().filter(|s| s.name == "aidpay_open_exceptions").filter_map(|s| s.labels.get("kind").map(String::as_str)).collect();
    assert!(kinds.contains("invalid_card") || kinds.contains("invalid_id_number"), "{kinds:?}");
    assert_eq!(one("aidpay_account_balance_fen", Some(("account", &account))), 4_900_000.0);
    // 2026-11-24 00:00 China time.
    assert_eq!(one("aidpay_account_last_statement_timestamp_seconds", None), 1_795_449_600.0);
    assert_eq!(one("aidpay_alert_failures_total", None), 1.0);
    for s in &samples {
        for v in s.labels.values() {
            assert!(!v.chars().any(|c| !c.is_ascii()), "labels are machine names: {v}");
        }
    }
}
