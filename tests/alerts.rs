//! Issue 19: alerts to finance staff beyond new exceptions — a job that failed after its
//! retries, a batch delivered (count, total, bank, schools), the daemon stopping and starting
//! after a crash, a grant list with rejected rows — as markdown for WeCom and DingTalk (a webhook
//! simulator records what the robot would get), and as e-mail over SMTP with STARTTLS (a local
//! SMTP listener with its own CA, in the test).

use crate::util::{TestEnv, fixture};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A robot's webhook that answers `errcode 0` and records every body.
async fn webhook() -> (String, Arc<Mutex<Vec<Value>>>) {
    use axum::{Json, Router, extract::State, routing::post};
    async fn hook(State(got): State<Arc<Mutex<Vec<Value>>>>, Json(body): Json<Value>) -> Json<Value> {
        got.lock().unwrap().push(body);
        Json(serde_json::json!({"errcode": 0, "errmsg": "ok"}))
    }
    let got = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new().route("/robot/send", post(hook)).with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/robot/send?access_token=robot-secret-1"), got)
}

/// `aidpay run` for this test's environment, stderr into `log`.
fn spawn_daemon(env: &TestEnv, log: &str) -> Child {
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
    let err = std::fs::OpenOptions::new().create(true).append(true).open(env.path(log)).unwrap();
    let child = c.arg("--config").arg(&env.config).arg("run").stdin(Stdio::null()).stdout(Stdio::null()).stderr(err).spawn().unwrap();
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("while kill -0 {} 2>/dev/null; do sleep 1; done; kill -9 {} 2>/dev/null", std::process::id(), child.id()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    child
}

async fn wait_log(env: &TestEnv, log: &str, needle: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let text = std::fs::read_to_string(env.path(log)).unwrap_or_default();
        if text.matches(needle).count() > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "no {needle:?} within {secs} s:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn stop(mut child: Child, signal: &str) -> std::process::ExitStatus {
    assert!(Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "aidpay did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap()
}

/// The markdown of every message received whose text contains `needle`.
fn messages(got: &Arc<Mutex<Vec<Value>>>, needle: &str) -> Vec<Value> {
    got.lock().unwrap().iter().filter(|b| b.to_string().contains(needle)).cloned().collect()
}

async fn wait_message(got: &Arc<Mutex<Vec<Value>>>, needle: &str, env: &TestEnv) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(m) = messages(got, needle).into_iter().next() {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "no message with {needle:?}; got {:?}\n{}",
            got.lock().unwrap(),
            std::fs::read_to_string(env.path("daemon.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn drop_grant_list(env: &TestEnv, name: &str) {
    let dir = env.path("var/inbox/grants");
    std::fs::create_dir_all(&dir).unwrap();
    let part = dir.join(format!("{name}.part"));
    std::fs::copy(fixture(&format!("grants/{name}")), &part).unwrap();
    std::fs::rename(&part, dir.join(name)).unwrap();
}

fn only(env: &mut TestEnv, every_second: &[&str]) {
    for job in ["import", "batch", "ingest", "reconcile", "reports"] {
        let v = if every_second.contains(&job) { "* * * * * *" } else { "off" };
        env.set_env(&format!("AIDPAY_SCHEDULE__{}", job.to_uppercase()), v);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivered_batch_and_a_list_with_rejected_rows_are_told_with_amounts_and_schools() {
    let (url, got) = webhook().await;
    let mut env = TestEnv::new().await;
    only(&mut env, &["import", "batch"]);
    env.set_env("AIDPAY_ALERTS__WEBHOOK_URL", &url);
    env.set_env("AIDPAY_ALERTS__KIND", "dingtalk");
    let daemon = spawn_daemon(&env, "daemon.log");
    wait_log(&env, "daemon.log", "daemon ready", 30).await;
    drop_grant_list(&env, "utf8.csv");

    // The list: 4 of its 27 rows could not be read; its schools and each row's reason.
    let m = wait_message(&got, "未导入", &env).await;
    assert_eq!(m["msgtype"], "markdown", "{m}");
    let title = m["markdown"]["title"].as_str().unwrap();
    let text = m["markdown"]["text"].as_str().unwrap();
    assert_eq!(title, "aidpay 名单 utf8.csv 有 4 行未导入", "{m}");
    assert!(text.contains("**4** 行（共 27 行）") && text.contains("第 25 行 金额"), "{text}");
    assert!(text.contains("学校：") && text.contains("中学"), "{text}");

    // Both batches: bank, count, total, per school.
    let boc = wait_message(&got, "中国银行（boc）", &env).await;
    let icbc = wait_message(&got, "中国工商银行（icbc）", &env).await;
    for (m, n, total) in [(&boc, 3, "1237.50"), (&icbc, 13, "11875.00")] {
        let title = m["markdown"]["title"].as_str().unwrap();
        let text = m["markdown"]["text"].as_str().unwrap();
        assert!(title.contains(&format!("{n} 笔 {total} 元")), "{title}");
        assert!(text.contains(&format!("笔数：**{n}** 笔")) && text.contains(&format!("金额：**{total}** 元")), "{text}");
        assert!(text.contains("| 学校 | 笔数 | 金额（元） |"), "{text}");
        // The school rows add up to the batch.
        let rows: Vec<(i64, rust_decimal::Decimal)> = text
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| 学校"))
            .map(|l| {
                let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
                (cells[1].parse().unwrap(), cells[2].parse().unwrap())
            })
            .collect();
        assert_eq!(rows.iter().map(|r| r.0).sum::<i64>(), n, "{text}");
        assert_eq!(rows.iter().map(|r| r.1).sum::<rust_decimal::Decimal>(), total.parse::<rust_decimal::Decimal>().unwrap(), "{text}");
    }
    stop(daemon, "-TERM").await;
    // Each batch told once, the list once.
    assert_eq!(messages(&got, "中国银行（boc）").len(), 1);
    assert_eq!(messages(&got, "utf8.csv 有 4 行").len(), 1);
    let log = std::fs::read_to_string(env.path("daemon.log")).unwrap();
    assert!(!log.contains("robot-secret-1"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_keeps_failing_is_alerted_once_after_its_retries() {
    let (url, got) = webhook().await;
    let mut env = TestEnv::new().await;
    crate::util::import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    // A gateway nobody listens on: every delivery of the batch job fails.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    env.set_env("AIDPAY_BANKS__BOC__TRANSPORT", "gateway");
    env.set_env("AIDPAY_BANKS__BOC__GATEWAY_URL", &format!("http://127.0.0.1:{dead}"));
    env.set_env("AIDPAY_BANKS__BOC__GATEWAY_KEY", "k");
    env.set_env("AIDPAY_BANKS__BOC__GATEWAY_MAX_ATTEMPTS", "1");
    only(&mut env, &["batch"]);
    env.set_env("AIDPAY_DAEMON__RETRY_INITIAL_SECS", "1");
    env.set_env("AIDPAY_ALERTS__WEBHOOK_URL", &url);
    env.set_env("AIDPAY_ALERTS__JOB_FAILURES", "2");
    let daemon = spawn_daemon(&env, "daemon.log");
    let m = wait_message(&got, "任务失败", &env).await;
    assert_eq!(m["msgtype"], "markdown");
    let text = m["markdown"]["content"].as_str().unwrap();
    assert!(text.contains("任务：**生成并发送代发批次**（batch）") && text.contains("连续失败：**2** 次"), "{text}");
    // More failures follow (retried every second): still one alert for the streak.
    let store = env.store().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.runs_of("batch", 10).await.unwrap().iter().filter(|r| r.outcome.map(|o| o.as_str()) == Some("error")).count() < 4 {
        assert!(Instant::now() < deadline, "the batch job did not keep failing");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop(daemon, "-TERM").await;
    assert_eq!(messages(&got, "任务失败").len(), 1, "{:?}", got.lock().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_and_starting_again_after_a_crash_are_alerted() {
    let (url, got) = webhook().await;
    let mut env = TestEnv::new().await;
    only(&mut env, &[]);
    env.set_env("AIDPAY_ALERTS__WEBHOOK_URL", &url);
    let daemon = spawn_daemon(&env, "daemon.log");
    wait_log(&env, "daemon.log", "daemon ready", 30).await;
    assert!(got.lock().unwrap().is_empty(), "a normal start is not alerted: {:?}", got.lock().unwrap());
    assert_eq!(stop(daemon, "-TERM").await.code(), Some(0));
    let m = wait_message(&got, "正在停止", &env).await;
    assert!(m["markdown"]["content"].as_str().unwrap().contains("收到停止信号"), "{m}");

    // A clean stop, then a start: nothing. A kill -9, then a start: told.
    let daemon = spawn_daemon(&env, "daemon2.log");
    wait_log(&env, "daemon2.log", "daemon ready", 30).await;
    stop(daemon, "-KILL").await;
    assert!(messages(&got, "重新启动").is_empty());
    let daemon = spawn_daemon(&env, "daemon3.log");
    let m = wait_message(&got, "异常退出后已重新启动", &env).await;
    let text = m["markdown"]["content"].as_str().unwrap();
    assert!(text.contains("上次运行未正常停止（启动于 20"), "{text}");
    // SIGTERM at once, while the daemon is still starting (it sent the alert before its loop
    // runs): a clean stop all the same, with its own alert.
    assert_eq!(stop(daemon, "-TERM").await.code(), Some(0));
    assert_eq!(messages(&got, "重新启动").len(), 1);
    assert_eq!(messages(&got, "正在停止").len(), 2);
}

// ---------------------------------------------------------------- e-mail

#[derive(Debug, Clone, Default)]
struct Mail {
    tls: bool,
    auth: String,
    from: String,
    to: Vec<String>,
    data: String,
}

fn b64decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bits: Vec<u32> = s.bytes().filter_map(val).collect();
    let mut out = Vec::new();
    for chunk in bits.chunks(4) {
        let mut n = 0u32;
        for (i, v) in chunk.iter().enumerate() {
            n |= v << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    out
}

/// The subject and the body of a received message, decoded (RFC 2047 words, base64 or
/// quoted-printable body).
fn decode(data: &str) -> (String, String) {
    let (head, body) = data.split_once("\r\n\r\n").unwrap_or((data, ""));
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    let subject_raw = unfolded.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or("").to_string();
    // Whitespace between two encoded words is not part of the text (RFC 2047 §6.2).
    let mut subject = String::new();
    let mut prev_encoded = None;
    for word in subject_raw.split(' ') {
        let encoded = word.to_ascii_lowercase().starts_with("=?utf-8?b?") && word.ends_with("?=");
        if prev_encoded.is_some() && !(prev_encoded == Some(true) && encoded) {
            subject.push(' ');
        }
        if encoded {
            subject.push_str(&String::from_utf8(b64decode(&word[10..word.len() - 2])).unwrap());
        } else {
            subject.push_str(word);
        }
        prev_encoded = Some(encoded);
    }
    let cte = unfolded.lines().find_map(|l| l.strip_prefix("Content-Transfer-Encoding: ")).unwrap_or("").trim().to_ascii_lowercase();
    let body = match cte.as_str() {
        "base64" => String::from_utf8(b64decode(body)).unwrap(),
        "quoted-printable" => {
            let joined = body.replace("=\r\n", "");
            let b = joined.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'=' && i + 2 < b.len() {
                    out.push(u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap());
                    i += 3;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        }
        _ => body.to_string(),
    };
    (subject, body)
}

/// A certificate authority and a server certificate for 127.0.0.1 signed by it.
fn test_ca() -> (String, rustls::ServerConfig) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "aidpay test mail CA");
    ca.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign, rcgen::KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let mut leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    leaf.distinguished_name.push(rcgen::DnType::CommonName, "mail.test");
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf_cert.der().clone(), ca_cert.der().clone()], key)
        .unwrap();
    (ca_cert.pem(), cfg)
}

async fn read_line<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut line = Vec::new();
    loop {
        let mut b = [0u8; 1];
        if s.read(&mut b).await.ok()? == 0 {
            return None;
        }
        line.push(b[0]);
        if line.ends_with(b"\r\n") {
            return Some(String::from_utf8_lossy(&line[..line.len() - 2]).into_owned());
        }
    }
}

/// The SMTP dialogue after the greeting; returns `true` when the client asked for STARTTLS.
async fn dialogue<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(s: &mut S, tls: bool, got: &Arc<Mutex<Vec<Mail>>>) -> bool {
    use tokio::io::AsyncWriteExt;
    let mut mail = Mail { tls, ..Default::default() };
    while let Some(line) = read_line(s).await {
        let upper = line.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            if tls { "250-mail.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n".into() } else { "250-mail.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n".into() }
        } else if upper == "STARTTLS" && !tls {
            s.write_all(b"220 2.0.0 ready to start TLS\r\n").await.unwrap();
            return true;
        } else if let Some(rest) = line.strip_prefix("AUTH PLAIN ") {
            mail.auth = String::from_utf8_lossy(&b64decode(rest)).replace('\0', "|");
            "235 2.7.0 ok\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = line[10..].trim().to_string();
            "250 ok\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(line[8..].trim().to_string());
            "250 ok\r\n".into()
        } else if upper == "DATA" {
            s.write_all(b"354 go on\r\n").await.unwrap();
            let mut data = String::new();
            while let Some(l) = read_line(s).await {
                if l == "." {
                    break;
                }
                data.push_str(&l);
                data.push_str("\r\n");
            }
            mail.data = data;
            got.lock().unwrap().push(mail.clone());
            "250 queued\r\n".into()
        } else if upper == "QUIT" {
            let _ = s.write_all(b"221 bye\r\n").await;
            return false;
        } else {
            "250 ok\r\n".into()
        };
        if s.write_all(reply.as_bytes()).await.is_err() {
            return false;
        }
    }
    false
}

/// A local SMTP server that offers STARTTLS and AUTH only after it; records each message.
async fn smtp_server(tls: rustls::ServerConfig) -> (u16, Arc<Mutex<Vec<Mail>>>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let g = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let (acceptor, got) = (acceptor.clone(), g.clone());
            tokio::spawn(async move {
                sock.write_all(b"220 mail.test ESMTP\r\n").await.unwrap();
                if dialogue(&mut sock, false, &got).await
                    && let Ok(mut tls) = acceptor.accept(sock).await
                {
                    dialogue(&mut tls, true, &got).await;
                }
            });
        }
    });
    (port, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_go_by_email_over_starttls_with_the_password_from_the_environment() {
    let (ca_pem, tls) = test_ca();
    let (port, mails) = smtp_server(tls).await;
    let mut env = TestEnv::new().await;
    std::fs::write(env.path("mail-ca.pem"), ca_pem).unwrap();
    only(&mut env, &["import"]);
    // No webhook: e-mail alone.
    env.set_env("AIDPAY_ALERTS__SMTP_HOST", "127.0.0.1");
    env.set_env("AIDPAY_ALERTS__SMTP_PORT", &port.to_string());
    env.set_env("AIDPAY_ALERTS__SMTP_USER", "aidpay@district.test");
    env.set_env("AIDPAY_ALERTS__SMTP_PASSWORD", "smtp-secret-42");
    env.set_env("AIDPAY_ALERTS__SMTP_CA_FILE", env.path("mail-ca.pem").to_str().unwrap());
    env.set_env("AIDPAY_ALERTS__MAIL_FROM", "aidpay@district.test");
    env.set_env("AIDPAY_ALERTS__MAIL_TO", "finance@district.test, head@district.test");
    let daemon = spawn_daemon(&env, "daemon.log");
    wait_log(&env, "daemon.log", "daemon ready", 30).await;
    drop_grant_list(&env, "utf8.csv");
    let deadline = Instant::now() + Duration::from_secs(30);
    while mails.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "no mails: {:?}\n{}", mails.lock().unwrap(), std::fs::read_to_string(env.path("daemon.log")).unwrap());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop(daemon, "-TERM").await;
    let mails = mails.lock().unwrap().clone();
    assert!(mails.len() >= 3, "rows rejected, new exceptions, stopping: {mails:?}");
    for m in &mails {
        assert!(m.tls, "every message after STARTTLS: {m:?}");
        assert_eq!(m.auth, "|aidpay@district.test|smtp-secret-42");
        assert_eq!(m.from, "<aidpay@district.test>");
        assert_eq!(m.to, vec!["<finance@district.test>", "<head@district.test>"]);
    }
    let decoded: Vec<(String, String)> = mails.iter().map(|m| decode(&m.data)).collect();
    let rejected = decoded.iter().find(|(s, _)| s.contains("未导入")).unwrap_or_else(|| panic!("{decoded:?}"));
    assert_eq!(rejected.0, "aidpay 名单 utf8.csv 有 4 行未导入");
    assert!(rejected.1.contains("第 26 行 学段"), "{}", rejected.1);
    assert!(decoded.iter().any(|(s, b)| s.starts_with("aidpay 新增") && b.contains("卡号无效 1")), "{decoded:?}");
    assert!(decoded.iter().any(|(s, _)| s == "aidpay 守护进程正在停止"), "{decoded:?}");
    let log = std::fs::read_to_string(env.path("daemon.log")).unwrap();
    assert!(!log.contains("smtp-secret-42"), "{log}");
}

#[test]
fn the_smtp_password_is_refused_in_the_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("../config/aidpay.toml")).unwrap().replace("[alerts]\n", "[alerts]\nsmtp_password = \"in-the-file\"\n");
    let path = dir.path().join("aidpay.toml");
    std::fs::write(&path, text).unwrap();
    let e = aidpay::config::Config::load_with_env(Some(&path), Some(Default::default())).unwrap_err().to_string();
    assert!(e.contains("alerts.smtp_password") && e.contains("AIDPAY_ALERTS__SMTP_PASSWORD") && !e.contains("in-the-file"), "{e}");
}
