//! Issue 19: journald priorities. Under systemd, stderr is the journal's stream and systemd names
//! it in JOURNAL_STREAM (`<device>:<inode>`); aidpay then starts every line with `<N>`, the
//! level's syslog priority, which journald (SyslogLevelPrefix=true, the unit's setting) files the
//! record at — so `journalctl -p err -u aidpay` shows each failed job. Here stderr is a file and
//! JOURNAL_STREAM names that file, as systemd would name its socket (no systemd runs as PID 1 on
//! the test machines, so `systemd-run` cannot be used); what journald does with the prefix is
//! systemd's part.

use crate::util::{TestEnv, fixture};
use serde_json::Value;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `<device>:<inode>` of a file, as systemd puts it in JOURNAL_STREAM.
fn stream_id(path: &Path) -> String {
    let m = std::fs::metadata(path).unwrap();
    format!("{}:{}", m.dev(), m.ino())
}

/// `aidpay … ARGS` with stderr into `log` (created first) and JOURNAL_STREAM = `journal_stream(log)`.
fn spawn(env: &TestEnv, log: &Path, journal_stream: impl Fn(&Path) -> String, log_filter: &str, args: &[&str]) -> Child {
    let err = std::fs::File::create(log).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_aidpay"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AIDPAY_") || k == "NOTIFY_SOCKET" || k == "CREDENTIALS_DIRECTORY" || k == "JOURNAL_STREAM" {
            c.env_remove(k);
        }
    }
    c.env("AIDPAY_LOG", log_filter).env("AIDPAY_NOW", "2026-11-25T10:00:00+08:00").env("JOURNAL_STREAM", journal_stream(log));
    for (k, v) in &env.env {
        c.env(k, v);
    }
    let child = c.arg("--config").arg(&env.config).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::from(err)).spawn().unwrap();
    // Never left behind by a failing test.
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("while kill -0 {} 2>/dev/null; do sleep 1; done; kill -9 {} 2>/dev/null", std::process::id(), child.id()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    child
}

/// Waits (off the runtime) until `log` holds `needle`, at most `secs`.
async fn wait_for(log: &Path, needle: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let said = std::fs::read_to_string(log).unwrap_or_default();
        if said.contains(needle) {
            return;
        }
        assert!(Instant::now() < deadline, "no {needle:?} within {secs} s:\n{said}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// SIGTERM, then the exit status (at most 30 s).
async fn stop(mut child: Child) -> std::process::ExitStatus {
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("aidpay did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap()
}

/// A line's `<N>` priority and the rest.
fn split_priority(line: &str) -> Option<(u8, &str)> {
    let rest = line.strip_prefix('<')?;
    let (n, rest) = rest.split_once('>')?;
    Some((n.parse().ok()?, rest))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_is_an_err_record_and_every_line_carries_its_level() {
    let mut env = TestEnv::new().await;
    // A gateway nobody listens on: every batch delivery fails, so every batch job fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    env.set_env("AIDPAY_BANKS__ICBC__TRANSPORT", "gateway");
    env.set_env("AIDPAY_BANKS__ICBC__GATEWAY_URL", &format!("http://{closed}"));
    env.set_env("AIDPAY_BANKS__ICBC__GATEWAY_KEY", "journald-test-gateway-key");
    env.set_env("AIDPAY_BANKS__ICBC__GATEWAY_MAX_ATTEMPTS", "1");
    env.set_env("AIDPAY_SCHEDULE__IMPORT", "off");
    env.set_env("AIDPAY_SCHEDULE__BATCH", "*/2 * * * * *");
    env.set_env("AIDPAY_SCHEDULE__INGEST", "off");
    env.set_env("AIDPAY_SCHEDULE__RECONCILE", "off");
    env.set_env("AIDPAY_SCHEDULE__REPORTS", "off");
    env.set_env("AIDPAY_DAEMON__RETRY_INITIAL_SECS", "1");
    crate::util::import_one(&env, &fixture("grants/utf8.csv"), &[], 0);

    // As the unit runs it: JSON lines, into the journal's stream. Debug on (but sqlx's
    // statements), so that level shows up too (the HTTP client's connection attempts).
    let log = env.path("journal.log");
    let daemon = spawn(&env, &log, stream_id, "debug,sqlx=warn", &["--log-format", "json", "run"]);
    wait_for(&log, "job failed", 20).await;
    let status = stop(daemon).await;
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{status}\n{said}");

    let mut seen = std::collections::BTreeMap::<u8, usize>::new();
    let mut failed_jobs = 0;
    for line in said.lines().filter(|l| !l.is_empty()) {
        let (priority, rest) = split_priority(line).unwrap_or_else(|| panic!("a line without its <N> priority:\n{line}"));
        let record: Value = serde_json::from_str(rest).unwrap_or_else(|e| panic!("not one JSON record after the prefix ({e}):\n{line}"));
        let want = match record["level"].as_str().unwrap() {
            "ERROR" => 3,
            "WARN" => 4,
            "INFO" => 6,
            "DEBUG" | "TRACE" => 7,
            other => panic!("level {other}"),
        };
        assert_eq!(priority, want, "{line}");
        *seen.entry(priority).or_default() += 1;
        let message = record["fields"]["message"].as_str().unwrap_or("");
        if message.starts_with("job failed") {
            assert_eq!(priority, 3, "a failed job is an err record: {line}");
            assert_eq!(record["fields"]["job"], "batch", "{line}");
            failed_jobs += 1;
        }
        if message.starts_with("daemon ready") {
            assert_eq!(priority, 6, "{line}");
        }
        if message.starts_with("alerts are off") {
            assert_eq!(priority, 4, "{line}");
        }
    }
    assert!(failed_jobs >= 1, "{said}");
    for p in [3, 4, 6, 7] {
        assert!(seen.contains_key(&p), "no <{p}> line: {seen:?}\n{said}");
    }

    // The same in text: the failed job's line starts with <3>.
    let log = env.path("journal-text.log");
    let daemon = spawn(&env, &log, stream_id, "info", &["run"]);
    wait_for(&log, "job failed", 20).await;
    assert!(stop(daemon).await.success());
    let said = std::fs::read_to_string(&log).unwrap();
    let failed = said.lines().find(|l| l.contains("job failed")).unwrap();
    assert!(failed.starts_with("<3>") && !failed[3..].contains("<3>"), "{failed}");
    assert!(said.lines().all(|l| split_priority(l).is_some()), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_the_journal_lines_have_no_prefix() {
    let env = TestEnv::new().await;
    // JOURNAL_STREAM inherited from a service, but stderr is another file: no prefixes.
    let other = env.path("other-stream");
    std::fs::write(&other, "").unwrap();
    let log = env.path("plain.log");
    let daemon = spawn(&env, &log, |_| stream_id(&other), "info", &["run"]);
    wait_for(&log, "daemon ready", 20).await;
    assert!(stop(daemon).await.success());
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.lines().any(|l| l.contains("daemon ready")), "{said}");
    assert!(said.lines().all(|l| split_priority(l).is_none()), "{said}");
}

#[tokio::test]
async fn errors_that_end_the_program_are_err_records_in_the_journal() {
    let env = TestEnv::new().await;
    // A configuration that cannot be read: `error: …`, exit 1.
    let log = env.path("error.log");
    std::fs::write(&env.config, "[database\n").unwrap();
    let mut child = spawn(&env, &log, stream_id, "info", &["status"]);
    assert_eq!(child.wait().unwrap().code(), Some(1));
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.starts_with("<3>error: "), "{said}");
    assert!(said.lines().all(|l| l.starts_with("<3>")), "{said}");

    // A usage error (say, a mistyped ExecStart): exit 2, every line of clap's message at err.
    let mut child = spawn(&env, &log, stream_id, "info", &["no-such-command"]);
    assert_eq!(child.wait().unwrap().code(), Some(2));
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.starts_with("<3>error: ") && said.lines().count() > 1, "{said}");
    assert!(said.lines().all(|l| l.starts_with("<3>")), "{said}");
}
