//! Issue 17: hardening, as an administrator meets aidpay under load and faults. No write lock
//! across the network; two inbox ingests at once; bounded cells; a file that changes while it is
//! read; private file modes under umask 0022; two first starts at once; a store that is down or
//! corrupt named within 5 s. (The soak is `soak.rs`; the fuzzers are under tests/fuzz/.)

use crate::util::{TestEnv, backend, fixture, import_one};
use aidpay::banksim::{AnswerMix, AnswerOptions, BankSim, SimConfig, answer_dropped, pick_up};
use aidpay::config::{BankFormat, Config};
use secrecy::SecretString;
use serde_json::Value;
use sqlx::Row;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "hardening-test-key";

/// `aidpay ARGS` as a child (stdout and stderr piped), with the test's environment.
fn spawn(env: &TestEnv, args: &[&str], extra: &[(&str, &str)]) -> Child {
    let cmd = env.cmd();
    let mut c = Command::new(cmd.get_program());
    c.args(cmd.get_args()).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    for (k, v) in extra {
        c.env(k, v);
    }
    c.spawn().expect("spawn aidpay")
}

async fn finish(c: Child) -> std::process::Output {
    tokio::task::spawn_blocking(move || c.wait_with_output().unwrap()).await.unwrap()
}

fn config(env: &TestEnv) -> Config {
    let vars: std::collections::HashMap<String, String> = env.env.iter().cloned().collect();
    Config::load_with_env(Some(&env.config), Some(vars)).unwrap()
}

/// The fixture list with its grant ids renamed: a second list of new grants.
fn renamed_list(env: &TestEnv, name: &str, prefix: &str) -> PathBuf {
    let text = std::fs::read_to_string(fixture("grants/utf8.csv")).unwrap().replace("2026Q-", prefix);
    let p = env.path(name);
    std::fs::write(&p, text).unwrap();
    p
}

async fn one(env: &TestEnv, sql: &str) -> i64 {
    let store = env.store().await;
    let n = sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(store.pool()).await.unwrap().get::<i64, _>(0);
    store.close().await;
    n
}

/// Waits until `flag` exists (the binary reached its pause point).
async fn wait_for(flag: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !flag.exists() {
        if let Some(s) = child.try_wait().unwrap() {
            panic!("aidpay exited ({s}) before its pause point");
        }
        assert!(Instant::now() < deadline, "the pause point was never reached");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------- no lock across the network

/// `batch` uploads to a gateway that answers after 12 s; an `import` meanwhile succeeds at once
/// (it failed with "database is locked" after 10 s while the upload held the write lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_goes_on_while_batch_waits_for_a_slow_gateway() {
    let sim = BankSim::start(SimConfig { key: SecretString::from(KEY) }).await.unwrap();
    let mut env = TestEnv::new().await;
    for bank in ["ICBC", "BOC"] {
        env.set_env(&format!("AIDPAY_BANKS__{bank}__TRANSPORT"), "gateway");
        env.set_env(&format!("AIDPAY_BANKS__{bank}__GATEWAY_URL"), &sim.base_url());
        env.set_env(&format!("AIDPAY_BANKS__{bank}__GATEWAY_KEY"), KEY);
        env.set_env(&format!("AIDPAY_BANKS__{bank}__GATEWAY_TIMEOUT_SECS"), "30");
    }
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    sim.delay_next(10, Duration::from_secs(12));
    let batch = spawn(&env, &["--json", "batch"], &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim.batches().is_empty() {
        assert!(Instant::now() < deadline, "no upload reached the bank");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The upload is under way (stored, its answer 12 s off).
    let second = renamed_list(&env, "second.csv", "2026R-");
    let started = Instant::now();
    let out = env.run(&["--json", "import", second.to_str().unwrap()], &[]).await;
    let took = started.elapsed();
    assert!(out.status.success(), "import during the upload: {}", String::from_utf8_lossy(&out.stderr));
    assert!(took < Duration::from_secs(8), "the import waited {took:?} for the upload's lock");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["files"][0]["imported"].as_u64().unwrap() > 0, "{v}");
    let out = finish(batch).await;
    assert!(out.status.success(), "batch: {}", String::from_utf8_lossy(&out.stderr));
    sim.shutdown().await;
}

// ---------------------------------------------------------------- two inbox ingests at once

/// The answers to the fixture list's batches, and variants of the XML ones (distinct files),
/// written into the inbox. Returns how many files.
async fn answers_in_inbox(env: &TestEnv, variants: usize) -> usize {
    import_one(env, &fixture("grants/utf8.csv"), &[], 0);
    env.json_async(&["batch"], 0).await;
    let cfg = config(env);
    let mut opts = AnswerOptions::new(chrono::DateTime::parse_from_rfc3339("2026-11-26T09:00:00+08:00").unwrap());
    if let BankFormat::Domestic(d) = &cfg.bank("icbc").unwrap().format {
        opts.domestic = Some((**d).clone());
    }
    let mut answers = Vec::new();
    for bank in ["boc", "icbc"] {
        answers.extend(answer_dropped(&pick_up(&env.path(&format!("var/bank/{bank}"))).unwrap(), &AnswerMix::settle_all(), &opts).unwrap());
    }
    assert!(!answers.is_empty());
    let inbox = env.path("var/inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let mut n = 0;
    for (name, bytes) in &answers {
        std::fs::write(inbox.join(name), bytes).unwrap();
        n += 1;
        if name.ends_with(".xml") {
            for k in 1..=variants {
                let mut b = bytes.clone();
                b.extend(std::iter::repeat_n(b'\n', k));
                std::fs::write(inbox.join(format!("v{k:02}-{name}")), b).unwrap();
                n += 1;
            }
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_inbox_ingests_at_once_both_succeed_and_each_file_is_applied_once() {
    let env = TestEnv::new().await;
    let files = answers_in_inbox(&env, 60).await;
    let (a, b) = (spawn(&env, &["--json", "ingest"], &[]), spawn(&env, &["--json", "ingest"], &[]));
    let (a, b) = (finish(a).await, finish(b).await);
    let mut outcomes = std::collections::BTreeMap::<String, Vec<String>>::new();
    for out in [&a, &b] {
        assert!(out.status.success(), "both ingests exit 0:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        for f in v["files"].as_array().unwrap() {
            let name = Path::new(f["file"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned();
            let outcome = f["outcome"].as_str().unwrap().to_string();
            if outcome == "skipped" {
                assert!(f["warnings"][0].as_str().unwrap().contains("另一个 aidpay 进程"), "{f}");
            }
            outcomes.entry(name).or_default().push(outcome);
        }
    }
    assert_eq!(outcomes.len(), files, "{outcomes:?}");
    assert!(outcomes.values().any(|o| o.len() == 2), "the two ingests overlapped: {outcomes:?}");
    for (name, o) in &outcomes {
        let done = o.iter().filter(|x| *x == "applied").count();
        assert_eq!(done, 1, "{name} applied once: {o:?}");
        assert!(o.iter().all(|x| x == "applied" || x == "skipped"), "{name}: {o:?}");
    }
    assert_eq!(one(&env, "SELECT CAST(COUNT(*) AS BIGINT) FROM files WHERE direction = 'in' AND kind <> 'grant_list'").await, files as i64);
    let left: Vec<_> = std::fs::read_dir(env.path("var/inbox")).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n != "processed" && n != "grants").collect();
    assert!(left.is_empty(), "every file moved out of the inbox: {left:?}");
    assert_eq!(std::fs::read_dir(env.path("var/inbox/processed")).unwrap().count(), files);
}

// ---------------------------------------------------------------- bounded cells

/// A grant list with a 200 MB name: the row is rejected with its line, column and reason, the
/// next rows are read on, and the process stays under 1 GiB of address space.
#[tokio::test]
async fn a_200_mb_cell_rejects_its_row_and_memory_stays_bounded() {
    let env = TestEnv::new().await;
    let text = std::fs::read_to_string(fixture("grants/utf8.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.take(3).collect();
    let path = env.path("huge.csv");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(f, "{header}").unwrap();
        writeln!(f, "{}", rows[0]).unwrap();
        // Row 3: the name is 200 MB, quoted, with line breaks inside.
        let cells: Vec<&str> = rows[1].split(',').collect();
        write!(f, "{},\"", cells[0]).unwrap();
        let chunk = "很长的名字\n".repeat(1 << 14);
        let mut written = 0;
        while written < 200 << 20 {
            f.write_all(chunk.as_bytes()).unwrap();
            written += chunk.len();
        }
        writeln!(f, "\",{}", cells[2..].join(",")).unwrap();
        // The row after: a 51-character name.
        let cells: Vec<&str> = rows[2].split(',').collect();
        writeln!(f, "{},{},{}", cells[0], "长".repeat(51), cells[2..].join(",")).unwrap();
    }
    let breaks_in_name = (200usize << 20).div_ceil("很长的名字\n".repeat(1 << 14).len()) * (1 << 14);
    let out = env.cmd_with_memory_limit(1 << 20).args(["--json", "import"]).arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let s = &v["files"][0];
    assert_eq!((s["rows"].as_u64(), s["imported"].as_u64(), s["rejected"].as_u64()), (Some(3), Some(1), Some(2)), "{s}");
    let errors = s["errors"].as_array().unwrap();
    assert_eq!(errors[0]["line"], 3, "{s}");
    assert_eq!(errors[0]["column"], "姓名");
    assert!(errors[0]["reason"].as_str().unwrap().contains("超过 64 KiB"), "{s}");
    assert!(stdout.len() < 100_000, "the summary is small ({} bytes)", stdout.len());
    // The next row is numbered by the file's lines, the name's line breaks counted.
    assert_eq!(errors[1]["line"].as_u64(), Some(4 + breaks_in_name as u64), "{s}");
    assert_eq!(errors[1]["column"], "姓名");
    assert!(errors[1]["reason"].as_str().unwrap().contains("超过 50 个字符"), "{s}");
    let _ = std::fs::remove_file(&path);
}

/// Every field has its maximum; a longer one rejects the row naming the column (file, line and
/// reason in the summary and on the work list).
#[tokio::test]
async fn each_field_has_a_maximum() {
    let env = TestEnv::new().await;
    let text = std::fs::read_to_string(fixture("grants/utf8.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let good: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    let mut out = String::from(text.lines().next().unwrap());
    out.push('\n');
    let long = ["资助编号", "姓名", "身份证号", "学校代码", "学校名称", "资助项目", "持卡人", "卡号", "开户银行", "学期", "金额"];
    for (k, col) in long.iter().enumerate() {
        let i = header.iter().position(|h| h == col).unwrap();
        let mut cells: Vec<String> = good.iter().map(|c| c.to_string()).collect();
        cells[0] = format!("2026L-{k:04}");
        cells[i] = "9".repeat(101);
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    let p = env.path("long.csv");
    std::fs::write(&p, out).unwrap();
    let s = import_one(&env, &p, &[], 0);
    assert_eq!(s["rejected"].as_u64(), Some(long.len() as u64), "{s}");
    for (k, e) in s["errors"].as_array().unwrap().iter().enumerate() {
        assert_eq!(e["line"].as_u64(), Some(k as u64 + 2));
        assert_eq!(e["column"], long[k], "{e}");
        assert!(e["reason"].as_str().unwrap().contains("个字符"), "{e}");
    }
}

// ---------------------------------------------------------------- changed while read

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_list_that_changes_while_it_is_read_is_refused_whole() {
    let env = TestEnv::new().await;
    let list = env.path("copying.csv");
    let text = std::fs::read_to_string(fixture("grants/utf8.csv")).unwrap();
    // A copy still in progress: half the file so far.
    let half: String = text.lines().take(12).map(|l| format!("{l}\n")).collect();
    std::fs::write(&list, &half).unwrap();
    let flag = env.path("paused");
    let pause = format!("import_before_commit:{}", flag.display());
    let mut child = spawn(&env, &["--json", "import", list.to_str().unwrap()], &[("AIDPAY_PAUSE_AT", &pause)]);
    wait_for(&flag, &mut child).await;
    std::fs::write(&list, &text).unwrap(); // the copy goes on
    std::fs::remove_file(&flag).unwrap();
    let out = finish(child).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let error = v["files"][0]["error"].as_str().unwrap();
    assert!(error.contains("copying.csv") && error.contains("读取过程中文件被修改") && error.contains("nothing applied"), "{error}");
    assert_eq!(one(&env, "SELECT CAST(COUNT(*) AS BIGINT) FROM grants").await, 0, "nothing applied");
    // Once complete, it imports.
    let s = import_one(&env, &list, &[], 0);
    assert_eq!(s["rows"].as_u64(), Some(27));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bank_answer_that_changes_while_it_is_read_is_refused_whole() {
    let env = TestEnv::new().await;
    answers_in_inbox(&env, 0).await;
    let inbox = env.path("var/inbox");
    let answer = aidpay::returns::waiting_files(&inbox).unwrap().into_iter().find(|p| p.extension().is_some_and(|e| e == "xml")).unwrap();
    let flag = env.path("paused");
    let pause = format!("ingest_before_commit:{}", flag.display());
    let mut child = spawn(&env, &["--json", "ingest", answer.to_str().unwrap()], &[("AIDPAY_PAUSE_AT", &pause)]);
    wait_for(&flag, &mut child).await;
    let mut bytes = std::fs::read(&answer).unwrap();
    bytes.extend_from_slice(b"\n\n");
    std::fs::write(&answer, bytes).unwrap();
    std::fs::remove_file(&flag).unwrap();
    let out = finish(child).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let f = &v["files"][0];
    assert_eq!(f["outcome"], "error", "{f}");
    assert!(f["error"].as_str().unwrap().contains("读取过程中文件被修改"), "{f}");
    assert_eq!(one(&env, "SELECT CAST(COUNT(*) AS BIGINT) FROM payment_events").await, 0, "nothing applied");
    assert_eq!(one(&env, "SELECT CAST(COUNT(*) AS BIGINT) FROM files WHERE direction = 'in' AND kind <> 'grant_list'").await, 0);
    assert!(answer.exists(), "left where it is, for the next run");
}

// ---------------------------------------------------------------- private files

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

/// `aidpay ARGS` under `umask 0022`.
fn under_umask(env: &TestEnv, args: &[&str]) -> std::process::Output {
    let cmd = env.cmd();
    let mut c = Command::new("sh");
    c.arg("-c").arg("umask 0022 && exec \"$0\" \"$@\"").arg(cmd.get_program()).args(cmd.get_args()).args(args);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.output().unwrap()
}

#[tokio::test]
async fn files_with_personal_data_are_private_whatever_the_umask() {
    if backend() == "postgres" {
        return; // the store is a database server's business there; the other files are checked on SQLite
    }
    let env = TestEnv::new().await;
    let list = env.path("list.csv");
    std::fs::copy(fixture("grants/utf8.csv"), &list).unwrap();
    std::fs::set_permissions(&list, std::fs::Permissions::from_mode(0o644)).unwrap();
    for args in [vec!["import", list.to_str().unwrap()], vec!["batch"], vec!["report", "exceptions", "--format", "csv"], vec!["report", "exceptions"]] {
        let out = under_umask(&env, &args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // A grant list that cannot be read is quarantined by the daemon's import.
    let bad = env.path("var/inbox/grants/bad.csv");
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    std::fs::write(&bad, "not,a,grant,list\n").unwrap();
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = env.store().await;
    let cfg = config(&env);
    let ctx = aidpay::scheduler::JobCtx { store: store.clone().scoped(&cfg.account.number), cfg: std::sync::Arc::new(cfg), actor: "test".into(), turn: None };
    aidpay::scheduler::try_run_import(&ctx).await.unwrap();
    // The store (its -wal and -shm exist while a connection is open).
    sqlx::query("UPDATE id_counters SET next_id = next_id WHERE name = 'x'").execute(store.pool()).await.unwrap();
    let db = env.path("var/aidpay.db");
    let mut checked = vec![db.clone(), PathBuf::from(format!("{}-wal", db.display())), PathBuf::from(format!("{}-shm", db.display()))];
    for dir in ["var/reports", "var/quarantine", "var/outbox"] {
        let files: Vec<PathBuf> = std::fs::read_dir(env.path(dir)).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
        assert!(!files.is_empty(), "{dir} is empty");
        checked.extend(files);
    }
    for f in &checked {
        assert_eq!(mode(f), 0o600, "{} is {:o}", f.display(), mode(f));
    }
    store.close().await;

    // With a group for the reports: 0640 and that group's.
    let mut text = std::fs::read_to_string(&env.config).unwrap();
    text = text.replacen("[paths]\n", "[paths]\nreports_group = \"daemon\"\n", 1);
    std::fs::write(&env.config, text).unwrap();
    let out = under_umask(&env, &["--json", "report", "exceptions", "--format", "csv"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = PathBuf::from(serde_json::from_slice::<Value>(&out.stdout).unwrap()["report"].as_str().unwrap());
    assert_eq!(mode(&report), 0o640, "{}", report.display());
    {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&report).unwrap().gid(), aidpay::files::group_id("daemon").unwrap());
    }

    // `status` warns when others may read the store.
    let v = env.json(&["status"], 0);
    assert_eq!(v["warnings"].as_array().map(|w| w.len()), Some(0), "{v}");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let v = env.json(&["status"], 0);
    let w = v["warnings"][0].as_str().unwrap_or_else(|| panic!("no warning: {v}"));
    assert!(w.contains("aidpay.db") && w.contains("其他用户可读") && w.contains("chmod 600"), "{w}");
}

// ---------------------------------------------------------------- two first starts

/// Two processes start on a new store at the same instant, 30 times: both succeed every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_first_starts_at_once_both_succeed_thirty_times() {
    let mut failures = Vec::new();
    for attempt in 0..30 {
        let env = TestEnv::new().await;
        let children = [spawn(&env, &["--json", "ingest"], &[]), spawn(&env, &["--json", "batch"], &[])];
        for c in children {
            let out = finish(c).await;
            if !out.status.success() {
                failures.push(format!("try {attempt}: {}", String::from_utf8_lossy(&out.stderr)));
            }
        }
        let n = one(&env, "SELECT CAST(COUNT(*) AS BIGINT) FROM _sqlx_migrations").await;
        // Every migration file (the folder also holds `postgres/`, PostgreSQL's own texts of some).
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/migrations"))
            .unwrap()
            .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql")))
            .count();
        assert_eq!(n as usize, files);
    }
    assert!(failures.is_empty(), "{} of 30 first starts failed:\n{}", failures.len(), failures.join("\n"));
}

// ---------------------------------------------------------------- a store down or corrupt

fn timed(env: &TestEnv, args: &[&str], extra: &[(&str, &str)]) -> (std::process::Output, Duration) {
    let mut c = env.cmd();
    for (k, v) in extra {
        c.env(k, v);
    }
    let t = Instant::now();
    let out = c.args(args).output().unwrap();
    (out, t.elapsed())
}

#[tokio::test]
async fn a_refused_postgresql_port_is_named_within_5_s() {
    let env = TestEnv::new().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://root@127.0.0.1:{closed}/test");
    for args in [&["status"][..], &["import", fixture("grants/utf8.csv").to_str().unwrap()][..]] {
        let (out, took) = timed(&env, args, &[("AIDPAY_DATABASE__URL", &url)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(took < Duration::from_secs(5), "{args:?} took {took:?}: {err}");
        assert!(err.contains("存储不可用") && err.contains("PostgreSQL") && err.contains(&format!("127.0.0.1:{closed}")), "{err}");
        assert!(err.contains("连接被拒绝") && err.contains(&format!("pg_isready -h 127.0.0.1 -p {closed}")), "{err}");
        assert!(err.to_lowercase().contains("refused"), "the technical cause too: {err}");
    }
}

#[tokio::test]
async fn a_corrupt_sqlite_file_is_named_within_5_s() {
    let env = TestEnv::new().await;
    let db = env.path("var/corrupt.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    std::fs::write(&db, vec![b'x'; 8192]).unwrap();
    let url = format!("sqlite://{}?mode=rwc", db.display());
    for args in [&["status"][..], &["import", fixture("grants/utf8.csv").to_str().unwrap()][..]] {
        let (out, took) = timed(&env, args, &[("AIDPAY_DATABASE__URL", &url)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(took < Duration::from_secs(5), "{args:?} took {took:?}: {err}");
        assert!(err.contains("存储不可用") && err.contains("SQLite") && err.contains("corrupt.db"), "{err}");
        assert!(err.contains("已损坏") && err.contains("PRAGMA integrity_check"), "{err}");
        assert!(err.contains("not a database"), "the technical cause too: {err}");
    }
}

/// An XLSX whose first sheet holds a 200 MB name (an inline string): refused before calamine would build it,
/// the reason naming the part, under 1 GiB of address space.
#[tokio::test]
async fn a_200_mb_cell_in_an_xlsx_is_refused_before_it_is_built() {
    use std::io::{Read, Write};
    let env = TestEnv::new().await;
    let mut src = zip::ZipArchive::new(std::fs::File::open(fixture("grants/sample.xlsx")).unwrap()).unwrap();
    let path = env.path("huge.xlsx");
    let mut out = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut saw_strings = false;
    for i in 0..src.len() {
        let mut part = src.by_index(i).unwrap();
        let name = part.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        part.read_to_end(&mut bytes).unwrap();
        out.start_file(name.as_str(), opts).unwrap();
        if name == "xl/worksheets/sheet1.xml" {
            saw_strings = true;
            // The name of row 2 (an inline string) becomes 200 MB.
            let text = String::from_utf8(bytes).unwrap();
            let at = text.find("朱一诺</t>").unwrap();
            out.write_all(text[..at].as_bytes()).unwrap();
            let chunk = "名".repeat(1 << 16);
            for _ in 0..(200 << 20) / chunk.len() {
                out.write_all(chunk.as_bytes()).unwrap();
            }
            out.write_all(text[at..].as_bytes()).unwrap();
        } else {
            out.write_all(&bytes).unwrap();
        }
    }
    out.finish().unwrap();
    assert!(saw_strings, "sample.xlsx has its first sheet");
    let out = env.cmd_with_memory_limit(1 << 20).args(["--json", "import"]).arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let error = v["files"][0]["error"].as_str().unwrap();
    assert!(error.contains("huge.xlsx") && error.contains("xl/worksheets/sheet1.xml") && error.contains("超过 64 KiB"), "{error}");
    assert_eq!(one(&env, "SELECT CAST(COUNT(*) AS BIGINT) FROM grants").await, 0);
}
