//! Test support: a fresh store (SQLite file or PostgreSQL database) and folders per test, and the
//! real `aidpay` binary run against them.

#![allow(dead_code)]

pub mod browser;

use aidpay::store::Store;
use assert_cmd::Command;
use secrecy::SecretString;
use serde_json::Value;
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Which backend the suite runs on.
pub fn backend() -> String {
    std::env::var("AIDPAY_TEST_DB").unwrap_or_else(|_| "sqlite".into())
}

/// A fixture file by its path under `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(rel)
}

/// A test's own configuration, folders and store.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub db_url: String,
    pub env: Vec<(String, String)>,
}

impl TestEnv {
    pub async fn new() -> TestEnv {
        let dir = tempfile::tempdir().expect("temp dir");
        let db_url = if backend() == "postgres" {
            let base = std::env::var("AIDPAY_TEST_PG_URL").unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
            let name = format!(
                "aidpay_t_{}_{}_{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst),
                chrono::Utc::now().timestamp_micros() % 1_000_000
            );
            let mut conn = sqlx::PgConnection::connect(&base).await.expect("PostgreSQL for AIDPAY_TEST_DB=postgres");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.expect("create test database");
            let (prefix, _) = base.rsplit_once('/').expect("database URL with a database name");
            format!("{prefix}/{name}")
        } else {
            format!("sqlite://{}?mode=rwc", dir.path().join("var/aidpay.db").display())
        };
        let text = std::fs::read_to_string(fixture("../config/aidpay.toml"))
            .expect("config/aidpay.toml")
            .replace("sqlite://var/aidpay.db?mode=rwc", &db_url)
            .replace("= \"var/", &format!("= \"{}/var/", dir.path().display()));
        // The shipped configuration asks for a second person for every money decision; tests of
        // other things run without (tests of four eyes put it back with `with_approvals`).
        let text = without_section(&text, "[approval]");
        // Tests start their own console on a free port (`TestEnv::console`), never the shipped one.
        let text = without_section(&text, "[console]");
        let config = dir.path().join("aidpay.toml");
        std::fs::write(&config, text).expect("write config");
        TestEnv { dir, config, db_url, env: Vec::new() }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `aidpay --config <this test's config>`, with no AIDPAY_ variables leaking in.
    pub fn cmd(&self) -> Command {
        self.setup(Command::cargo_bin("aidpay").expect("aidpay binary"))
    }

    /// As [`TestEnv::cmd`], the binary limited to `kib` KiB of address space (`ulimit -v`): for
    /// a test that memory stays bounded, and so a regression fails the test instead of taking
    /// the machine's memory.
    pub fn cmd_with_memory_limit(&self, kib: u64) -> Command {
        let bin = Command::cargo_bin("aidpay").expect("aidpay binary");
        let mut c = Command::new("sh");
        c.arg("-c").arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\"")).arg(bin.get_program());
        self.setup(c)
    }

    fn setup(&self, mut c: Command) -> Command {
        for (k, _) in std::env::vars() {
            if k.starts_with("AIDPAY_") {
                c.env_remove(k);
            }
        }
        // A fixed "today", after the fixtures' notice ends (2026-10-20) and before the waiting ones.
        c.env("AIDPAY_LOG", "warn").env("AIDPAY_NOW", "2026-11-25T10:00:00+08:00").arg("--config").arg(&self.config);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Adds an environment variable to every later run of the binary (a config override).
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.push((key.to_string(), value.to_string()));
    }

    /// Runs the binary off the async runtime (so an in-process bank simulator keeps serving).
    pub async fn run(&self, args: &[&str], extra_env: &[(&str, &str)]) -> std::process::Output {
        let mut c = self.cmd();
        for (k, v) in extra_env {
            c.env(k, v);
        }
        c.args(args);
        tokio::task::spawn_blocking(move || c.output().expect("run aidpay")).await.expect("join")
    }

    /// As [`TestEnv::json`], off the async runtime.
    pub async fn json_async(&self, args: &[&str], code: i32) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all, &[]).await;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(
            out.status.code(),
            Some(code),
            "aidpay {args:?}\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{stdout}"))
    }

    /// Runs `aidpay --json ARGS`, expects `code`, returns the JSON printed.
    pub fn json(&self, args: &[&str], code: i32) -> Value {
        let out = self.cmd().arg("--json").args(args).output().expect("run aidpay");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(code),
            "aidpay {args:?}\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{stdout}"))
    }

    /// Turns four eyes on as the shipped configuration has it (`[approval]`, all four).
    pub fn with_approvals(&self) {
        let shipped = std::fs::read_to_string(fixture("../config/aidpay.toml")).unwrap();
        let start = shipped.find("[approval]").expect("[approval] in config/aidpay.toml");
        let section = &shipped[start..start + shipped[start..].find("\n\n").unwrap()];
        let mut text = std::fs::read_to_string(&self.config).unwrap();
        text.push_str(&format!("\n{section}\n"));
        std::fs::write(&self.config, text).unwrap();
    }

    /// Adds a console user (`aidpay user add`) with the password [`password_of`] gives; a user
    /// that exists already is fine.
    pub async fn user(&self, name: &str, role: &str) {
        let out = self.run_with_stdin(&["user", "add", name, "--role", role, "--password-stdin"], &password_of(name)).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() || err.contains("已存在"), "user add {name}: {err}");
    }

    /// `aidpay --json ARGS --user USER` with the user's password on stdin; expects `code`.
    pub async fn act(&self, user: &str, args: &[&str], code: i32) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        all.extend(["--user", user, "--password-stdin"]);
        let out = self.run_with_stdin(&all, &password_of(user)).await;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(out.status.code(), Some(code), "aidpay {args:?} as {user}\nstdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
        if code != 0 {
            return Value::String(String::from_utf8_lossy(&out.stderr).to_string());
        }
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{stdout}"))
    }

    /// Runs the binary with `stdin` as its standard input, off the async runtime.
    pub async fn run_with_stdin(&self, args: &[&str], stdin: &str) -> std::process::Output {
        let mut c = self.cmd();
        c.args(args).write_stdin(format!("{stdin}\n"));
        tokio::task::spawn_blocking(move || c.output().expect("run aidpay")).await.expect("join")
    }

    /// The store, opened as the binary opens it (with the same data key: the file beside the
    /// store that the first run made, or makes now).
    pub async fn store(&self) -> Store {
        Store::connect(&SecretString::from(self.db_url.clone()), aidpay::store::PoolSize::connections(2), &self.key_options()).await.expect("open store")
    }

    /// Where the binary looks for this test's data key (no credential, no AIDPAY_DATA_KEY).
    pub fn key_options(&self) -> aidpay::store::KeyOptions {
        let cfg = aidpay::config::Config::load_with_env(Some(&self.config), Some(Default::default())).expect("test config");
        aidpay::store::KeyOptions { isolated: true, ..cfg.key_options() }
    }

    /// The key file beside this test's store.
    pub fn key_file(&self) -> PathBuf {
        self.key_options().beside_store.expect("a key file beside the store")
    }
}

/// The password tests give a user.
pub fn password_of(user: &str) -> String {
    format!("{user}-口令-2026")
}

/// `text` without the TOML section `header` (up to the next blank line).
fn without_section(text: &str, header: &str) -> String {
    match text.find(header) {
        Some(start) => {
            let end = text[start..].find("\n\n").map_or(text.len(), |e| start + e + 1);
            format!("{}{}", &text[..start], &text[end..])
        }
        None => text.to_string(),
    }
}

/// `import --json` for one file: that file's summary.
pub fn import_one(env: &TestEnv, file: &Path, extra: &[&str], code: i32) -> Value {
    let mut args = vec!["import"];
    args.extend_from_slice(extra);
    let f = file.to_str().expect("utf-8 path");
    args.push(f);
    let v = env.json(&args, code);
    v["files"][0].clone()
}

/// Asserts the row accounting of an import summary.
pub fn assert_counts_add_up(summary: &Value) {
    let n = |k: &str| summary[k].as_u64().unwrap_or_else(|| panic!("{k} in {summary}"));
    assert_eq!(n("rows"), n("imported") + n("unchanged") + n("conflicts") + n("rejected"), "{summary}");
    assert!(n("held") <= n("imported"), "{summary}");
}

/// The real `aidpay console` of a test's store, on a free port of 127.0.0.1; stopped on drop.
pub struct ConsoleProc {
    pub base: String,
    child: std::process::Child,
}

impl Drop for ConsoleProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestEnv {
    /// Starts `aidpay console` on a free port and waits until it answers.
    pub async fn console(&self) -> ConsoleProc {
        let mut env: Vec<(String, String)> = vec![("AIDPAY_NOW".into(), "2026-11-25T10:00:00+08:00".into())];
        env.extend(self.env.iter().cloned());
        ConsoleProc::start(&self.config, &env).await
    }
}

impl ConsoleProc {
    /// `aidpay --config CONFIG console` on a free port of 127.0.0.1, with `env` and no other
    /// AIDPAY_ variable; waits until it answers.
    pub async fn start(config: &Path, env: &[(String, String)]) -> ConsoleProc {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_aidpay"));
        for (k, _) in std::env::vars() {
            if k.starts_with("AIDPAY_") {
                c.env_remove(k);
            }
        }
        c.env("AIDPAY_LOG", "warn").envs(env.iter().map(|(k, v)| (k, v)));
        c.env("AIDPAY_CONSOLE__LISTEN", format!("127.0.0.1:{port}")).arg("--config").arg(config).arg("console");
        c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        let child = c.spawn().expect("start aidpay console");
        let base = format!("http://127.0.0.1:{port}");
        let started = std::time::Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(started.elapsed() < std::time::Duration::from_secs(30), "aidpay console did not listen on {port}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        ConsoleProc { base, child }
    }
}

/// A logged-in client of the console's JSON API: its session cookie and CSRF token.
pub struct ApiClient {
    pub base: String,
    pub http: reqwest::Client,
    pub cookie: String,
    pub csrf: String,
}

impl ApiClient {
    /// `POST /api/v1/login` as `user` with their test password; panics unless 200.
    pub async fn login(base: &str, user: &str) -> ApiClient {
        let (status, cookie, body) = api_login(base, user, &password_of(user)).await;
        assert_eq!(status, 200, "login {user}: {body}");
        ApiClient { base: base.to_string(), http: aidpay::tls::client_builder().build().unwrap(), cookie: cookie.expect("a session cookie"), csrf: body["csrf"].as_str().unwrap().to_string() }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.base)).header("Cookie", &self.cookie).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A POST with the session's CSRF token.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.post_with(path, body, true).await
    }

    pub async fn post_with(&self, path: &str, body: Value, with_csrf: bool) -> (u16, Value) {
        let mut r = self.http.post(format!("{}{path}", self.base)).header("Cookie", &self.cookie).json(&body);
        if with_csrf {
            r = r.header("X-CSRF-Token", &self.csrf);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

/// `POST /api/v1/login`: the status, the `aidpay_session=…` cookie pair if set, the body.
pub async fn api_login(base: &str, user: &str, password: &str) -> (u16, Option<String>, Value) {
    let r = aidpay::tls::client_builder().build().unwrap()
        .post(format!("{base}/api/v1/login"))
        .json(&serde_json::json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_string());
    (status, cookie, r.json().await.unwrap_or(Value::Null))
}

/// The head row of a grant list.
pub const LIST_HEAD: &str = "资助编号,姓名,身份证号,学校代码,学校名称,学段,年级,资助项目,资助档次,重点保障类别,学期,金额,持卡人,卡号,开户银行,公示截止日期\n";
/// The student (ID number and card) of [`import_one_student`] and [`import_a_shared_card_and_the_student_again`].
pub const STUDENT_ID: &str = "130102200909131867";
pub const STUDENT_CARD: &str = "6217007149709400941";

/// Imports a list of one grant, `{prefix}-1`, of the student [`STUDENT_ID`] on [`STUDENT_CARD`]: imported, not held.
pub fn import_one_student(env: &TestEnv, prefix: &str) {
    let first = env.path("first.csv");
    std::fs::write(
        &first,
        format!("{LIST_HEAD}{prefix}-1,徐一诺,{STUDENT_ID},1103001,区第一高级中学,高中,高一,国家助学金,一般困难,,2026秋,750,徐一诺,{STUDENT_CARD},中国建设银行,2026-10-20\n"),
    )
    .unwrap();
    let s = import_one(env, &first, &[], 0);
    assert_eq!((s["imported"].as_u64(), s["held"].as_u64()), (Some(1), Some(0)), "{s}");
}

/// After [`import_one_student`]: a list with another student on the same card (another holder,
/// `{prefix}-2`) and the same student again (`{prefix}-3`) — both imported and held, as
/// `card_shared` and `duplicate_grant`: the store found the first grant by its look-up hashes.
pub async fn import_a_shared_card_and_the_student_again(env: &TestEnv, prefix: &str) {
    let second = env.path("second.csv");
    std::fs::write(
        &second,
        format!(
            "{LIST_HEAD}{prefix}-2,罗欣怡,130105200907223353,1103001,区第一高级中学,高中,高一,国家助学金,一般困难,,2026秋,750,罗欣怡,{STUDENT_CARD},中国建设银行,2026-10-20\n\
             {prefix}-3,徐一诺,{STUDENT_ID},1103001,区第一高级中学,高中,高一,国家助学金,一般困难,,2026秋,750,徐一诺,6217003554950597671,中国建设银行,2026-10-20\n"
        ),
    )
    .unwrap();
    let s = import_one(env, &second, &[], 0);
    assert_eq!((s["imported"].as_u64(), s["held"].as_u64()), (Some(2), Some(2)), "{s}");
    let kinds: Vec<String> = env.json_async(&["exceptions", "list"], 0).await
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e["grant_id"].as_str().unwrap_or(""), e["kind"].as_str().unwrap_or("")))
        .collect();
    assert!(kinds.contains(&format!("{prefix}-2 card_shared")) && kinds.contains(&format!("{prefix}-3 duplicate_grant")), "{kinds:?}");
}
