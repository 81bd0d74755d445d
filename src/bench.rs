//! `aidpay bench --grants N`: a province's term on a fresh store, stage by stage — import (CSV),
//! validation, batch (files written), bank answers ingested (a pain.002 for every payment) and
//! the statement reconciled — with each stage's time, rows per second and the peak memory.
//!
//! The grants are synthetic (valid ID check digits and Luhn cards, no real people). The bank's
//! answers and statement come from the simulator; making them is not counted in any stage.

use crate::banksim::respond::answer_file;
use crate::banksim::statement::camt053;
use crate::banksim::{AnswerMix, AnswerOptions, Camt053Version, RandomMix, SimEntry};
use crate::config::Config;
use crate::domain::Fen;
use crate::intake::{ImportOptions, columns::HeaderMap, csv::CsvSource, row};
use crate::store::Store;
use anyhow::Context;
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// One measured stage.
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub stage: &'static str,
    pub rows: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
    /// The process's peak resident memory during this stage (VmHWM, reset as it starts), in MB.
    pub peak_mb: f64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub grants: u64,
    pub backend: String,
    /// `[database] page_cache_mb` of the run (SQLite's page cache for the whole pool).
    pub page_cache_mb: u32,
    pub stages: Vec<Stage>,
    /// The five stages together (the simulator's work between them is not counted).
    pub total_seconds: f64,
    pub peak_mb: f64,
    pub dir: String,
    /// The console's work list at scale (not part of the total).
    pub console: Option<ConsoleBench>,
    /// The pain.001 writer alone, N payments into a sink: what the file costs without the store.
    pub pain001_writer: Stage,
    /// Whether the bench's store and files were kept (`--keep`) or removed.
    pub kept: bool,
}

/// Writes N payments as pain.001 into a sink, in batches of 5,000 as the batch step makes them:
/// the cost of the XML alone, beside which the stages show the cost of the store.
fn pain001_writer_alone(n: u64) -> anyhow::Result<Stage> {
    use crate::formats::{BatchDoc, Debtor, PaymentLine, pain001};
    let created = crate::clock::now();
    let t = Instant::now();
    let mut i = 0u64;
    while i < n {
        let size = (n - i).min(5_000);
        let doc = BatchDoc {
            batch_id: format!("BENCHW{i:010}"),
            created_at: created,
            execution_date: created.date_naive(),
            debtor: Debtor {
                account_no: "130100000012345678".into(),
                name: "某某区学生资助管理中心".into(),
                bank_name: "中国工商银行".into(),
                cnaps: None,
            },
            payments: (i..i + size)
                .map(|k| PaymentLine {
                    end_to_end_id: format!("P{k:012}"),
                    amount: Fen(75_000),
                    card_number: luhn_complete(&format!("6222{k:014}")),
                    holder: format!("学生{k}"),
                    bank_name: "中国工商银行".into(),
                    cnaps: None,
                    remittance: "2026秋 国家助学金".into(),
                })
                .collect(),
        };
        pain001::write(&doc, pain001::Pain001Version::V09, std::io::sink())?;
        i += size;
    }
    Ok(stage("pain001 only", n, t))
}

/// The exception list page of the console with many open exceptions: server time per page,
/// measured over loopback HTTP with a logged-in session (median of several requests).
#[derive(Debug, Clone, Serialize)]
pub struct ConsoleBench {
    pub exceptions: u64,
    /// The first page, no filter.
    pub first_page_ms: f64,
    /// The first page filtered by school and kind.
    pub filtered_ms: f64,
    /// A page deep in the list (offset ≈ half of it).
    pub deep_page_ms: f64,
}

/// How many exceptions the console stage raises (the issue's 100,000; fewer for a small run).
const CONSOLE_EXCEPTIONS: u64 = 100_000;

/// Raises up to [`CONSOLE_EXCEPTIONS`] synthetic exceptions on the bench's grants, starts the
/// console on a free port, logs in and times the work list's pages.
async fn console_stage(store: &Store, cfg: std::sync::Arc<Config>, n: u64) -> anyhow::Result<ConsoleBench> {
    use crate::exceptions::{ExceptionKind, NewException};
    let count = n.min(CONSOLE_EXCEPTIONS);
    for first in (0..count).step_by(10_000) {
        let list: Vec<NewException> = (first..(first + 10_000).min(count))
            .map(|i| NewException {
                kind: if i % 2 == 0 { ExceptionKind::AmountOffStandard } else { ExceptionKind::HolderMismatch },
                grant_id: Some(format!("BENCH-{i:08}")),
                payment_ref: None,
                reason_code: None,
                amount_fen: Some(75_000),
                detail: format!("bench 第 {i} 行"),
                dedup_key: format!("bench:{i}"),
            })
            .collect();
        let mut tx = store.begin().await?;
        tx.insert_exceptions(&list).await?;
        tx.commit().await?;
    }
    store.refresh_statistics(&["exceptions"]).await?;
    let password = "bench-console-2026";
    crate::people::add_user(store, "bench", "压测", crate::domain::Role::Clerk, password, "bench").await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::console::serve(cfg, store.clone(), listener, async move {
        let _ = stopped.await;
    }));
    let http = crate::tls::client_builder().build()?;
    let login = http.post(format!("{base}/api/v1/login")).json(&serde_json::json!({"username": "bench", "password": password})).send().await?;
    anyhow::ensure!(login.status().is_success(), "console login: {}", login.status());
    let cookie = login.headers().get("set-cookie").and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()).unwrap_or_default().to_string();
    let deep = count / 2 / crate::console::pages::PAGE_SIZE as u64;
    let mut times = Vec::new();
    for path in ["/exceptions".to_string(), "/exceptions?school=1103007&kind=holder_mismatch".to_string(), format!("/exceptions?page={deep}")] {
        let mut ms = Vec::new();
        for _ in 0..7 {
            let t = Instant::now();
            let r = http.get(format!("{base}{path}")).header("Cookie", &cookie).send().await?;
            anyhow::ensure!(r.status().is_success(), "console {path}: {}", r.status());
            let body = r.text().await?;
            anyhow::ensure!(body.contains("异常清单"), "console {path}: not the work list");
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(|a, b| a.total_cmp(b));
        times.push(ms[ms.len() / 2]);
    }
    let _ = stop.send(());
    let _ = server.await;
    Ok(ConsoleBench { exceptions: count, first_page_ms: times[0], filtered_ms: times[1], deep_page_ms: times[2] })
}

/// Starts a timed stage: what the allocators hold free goes back to the operating system and
/// the peak memory is counted afresh from there ([`crate::memory`]), so a stage's peak is its
/// own and not the simulator's — making the bank's answers and the statement between stages is
/// neither timed nor counted (the statement of a million payments is built in memory, ~23 MB).
fn start_stage() -> Instant {
    crate::memory::release();
    crate::memory::reset_peak();
    Instant::now()
}

fn luhn_complete(body: &str) -> String {
    for d in 0..10 {
        let candidate = format!("{body}{d}");
        if crate::domain::card::luhn_ok(&candidate) {
            return candidate;
        }
    }
    unreachable!("one of ten check digits always fits")
}

/// Writes `n` valid synthetic grants as a CSV.
pub fn write_grants(path: &Path, n: u64) -> std::io::Result<()> {
    write_grants_from(path, 0, n)
}

/// Writes the synthetic grants `first..first + n` as a CSV (each number is its own student, card
/// and grant id, so lists written from disjoint ranges never overlap).
pub fn write_grants_from(path: &Path, first: u64, n: u64) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(w, "资助编号,姓名,身份证号,学校代码,学校名称,学段,年级,资助项目,资助档次,重点保障类别,学期,金额,持卡人,卡号,开户银行,公示截止日期")?;
    let tiers = [("一般困难", "750"), ("困难", "1000"), ("特别困难", "1250")];
    for i in first..first + n {
        // Region, birth date and sequence vary so that every student is distinct.
        let body = format!("13{:04}2009{:02}{:02}{:03}", i / 336_000 % 10_000, 1 + i % 12, 1 + (i / 12) % 28, (i / 336) % 1000);
        let id = format!("{body}{}", crate::domain::id_number::check_char(&body).unwrap_or('0'));
        let card = luhn_complete(&format!("6222{i:014}"));
        let (tier, amount) = tiers[(i % 3) as usize];
        writeln!(
            w,
            "BENCH-{i:08},学生{i},{id},{school:07},第{school}中学,高中,高一,国家助学金,{tier},,2026秋,{amount},学生{i},{card},中国工商银行,2026-10-20",
            school = 1_103_000 + i % 500
        )?;
    }
    w.flush()
}

const BENCH_CONFIG: &str = r#"
[database]
url = "DBURL"
max_connections = 4
page_cache_mb = PAGECACHE
[paths]
inbox = "DIR/var/inbox"
outbox = "DIR/var/outbox"
quarantine = "DIR/var/quarantine"
reports = "DIR/var/reports"
[account]
number = "130100000012345678"
name = "某某区学生资助管理中心"
bank = "中国工商银行某某区支行"
cnaps = "102131000017"
[reconcile]
allocation_accounts = ["130100000000000001"]
[[standards]]
program = "国家助学金"
stage = "高中"
tier = "一般困难"
amount = "750"
[[standards]]
program = "国家助学金"
stage = "高中"
tier = "困难"
amount = "1000"
[[standards]]
program = "国家助学金"
stage = "高中"
tier = "特别困难"
amount = "1250"
[banks.bench]
format = "pain.001.001.09"
max_lines = 5000
booking = "gross"
transport = "dropfolder"
drop_dir = "DIR/var/bank"
"#;

fn stage(name: &'static str, rows: u64, started: Instant) -> Stage {
    let seconds = started.elapsed().as_secs_f64();
    let s = Stage { stage: name, rows, seconds, rows_per_second: if seconds > 0.0 { rows as f64 / seconds } else { 0.0 }, peak_mb: crate::memory::peak_mb() };
    tracing::info!(stage = name, rows, seconds = format!("{seconds:.2}"), rows_per_second = format!("{:.0}", s.rows_per_second), "bench stage");
    s
}

/// Runs the benchmark in `dir` on SQLite (or the given PostgreSQL database, which should be empty).
pub async fn run(n: u64, dir: &Path, database_url: Option<&str>, keep: bool, page_cache_mb: u32) -> anyhow::Result<Report> {
    std::fs::create_dir_all(dir)?;
    let url = database_url.map(str::to_string).unwrap_or_else(|| format!("sqlite://{}/var/aidpay.db?mode=rwc", dir.display()));
    let config_path = dir.join("bench.toml");
    std::fs::write(
        &config_path,
        BENCH_CONFIG.replace("DBURL", &url).replace("DIR", &dir.display().to_string()).replace("PAGECACHE", &page_cache_mb.to_string()),
    )?;
    let cfg = Config::load_with_env(Some(&config_path), Some(HashMap::new()))?;
    cfg.ensure_paths()?;
    let store = Store::open_with(&cfg, &crate::store::KeyOptions { isolated: true, ..cfg.key_options() }).await?;
    let backend = if url.starts_with("sqlite") { "sqlite" } else { "postgres" }.to_string();
    let csv = dir.join("grants.csv");
    write_grants(&csv, n).context("writing the synthetic grants")?;
    let actor = "bench";
    let mut stages = Vec::new();

    let t = start_stage();
    let imported = crate::intake::import_file(&store, &cfg, &csv, ImportOptions::default(), actor).await?;
    anyhow::ensure!(imported.imported == n && imported.held == 0, "import: {imported:?}");
    stages.push(stage("import", n, t));

    // Validation on its own (it also ran inside the import): parse and check every row.
    let t = start_stage();
    let mut source = CsvSource::open(&csv, Default::default())?;
    let header = HeaderMap::from_headers(source.header()?)?;
    let mut valid = 0u64;
    for r in source {
        let g = row::parse_row(&header, &r?).map_err(|e| anyhow::anyhow!("{}: {}", e.column, e.reason))?;
        if crate::validation::check(&g, &cfg.rules).is_empty() {
            valid += 1;
        }
    }
    anyhow::ensure!(valid == n, "validation: {valid} of {n} valid");
    stages.push(stage("validation", n, t));

    let t = start_stage();
    let cycle = crate::batch::run_cycle(&store, &cfg, actor).await?;
    anyhow::ensure!(cycle.payments_created == n, "batch: {} payments", cycle.payments_created);
    stages.push(stage("batch", n, t));

    // The bank answers (not timed): 2 % refused. One file at a time, so the simulator's own
    // memory stays small; the statement's entries are gathered on the way.
    let bank = match &cfg.banks[0].transport {
        crate::config::Transport::DropFolder(d) => d.clone(),
        _ => anyhow::bail!("bench bank profile must use a drop folder"),
    };
    let today = crate::clock::today();
    let mix = AnswerMix::settle_all().with_random(RandomMix::rejections(8, 0.02));
    let opts = AnswerOptions::new(crate::clock::now());
    let mut entries = vec![SimEntry::Allocation {
        amount: Fen(1_250 * 100 * n as i64),
        counterpart_account: "130100000000000001".into(),
        counterpart_name: "财政局".into(),
        date: today,
    }];
    let mut files: Vec<_> = std::fs::read_dir(&bank)?.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    for (k, path) in files.iter().enumerate() {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let a = answer_file(&name, &std::fs::read(path)?, &mix, &opts, &[], &format!("BENCHRPT{k:06}"))?;
        crate::transport::deliver(&cfg.paths.inbox, &a.answer_name, &a.answer)?;
        entries.push(SimEntry::BatchDebit {
            batch_id: a.batch.batch_id.clone(),
            amount: a.batch.total(),
            nb_of_txs: a.batch.payments.len(),
            date: today,
            details: Vec::new(),
        });
        for (p, fate) in &a.fates {
            if let Some(reason) = fate.reason().filter(|_| !fate.settled_first()) {
                entries.push(SimEntry::ReturnCredit {
                    end_to_end_id: p.end_to_end_id.clone(),
                    batch_id: Some(a.batch.batch_id.clone()),
                    amount: p.amount,
                    reason_code: reason.code.clone(),
                    date: today,
                });
            }
        }
        std::fs::remove_file(path)?;
    }
    let t = start_stage();
    let answered = crate::jobs::ingest(&store, &cfg, crate::jobs::BankFiles::Inbox, actor).await?;
    let statuses: u64 = answered.files.iter().map(|f| f.statuses).sum();
    anyhow::ensure!(statuses == n, "answers: {statuses} statuses");
    stages.push(stage("answers", n, t));

    let spec = crate::banksim::StatementSpec {
        account_no: cfg.account.number.clone(),
        account_name: Some(cfg.account.name.clone()),
        statement_id: "BENCH-STMT".into(),
        from_date: today,
        to_date: today,
        opening: Fen(0),
        entries,
        break_balance: None,
    };
    let statement = crate::transport::deliver(&cfg.paths.inbox, "camt053_bench.xml", &camt053(&spec, Camt053Version::V02, &crate::clock::now()))?;
    let t = start_stage();
    crate::returns::ingest_file(&store, &cfg, &statement, crate::returns::Origin::Inbox, actor).await?;
    let r = crate::reconcile::run(&store, &cfg, actor).await?;
    anyhow::ensure!(r.unknown_debits == 0 && r.mismatches == 0 && r.balance_breaks == 0, "reconcile: {r:?}");
    stages.push(stage("reconcile", n, t));

    let total: f64 = stages.iter().map(|s| s.seconds).sum();
    let peak = stages.iter().map(|s| s.peak_mb).fold(0.0, f64::max);
    let console = console_stage(&store, std::sync::Arc::new(cfg), n).await?;
    store.close().await;
    let pain001_writer = pain001_writer_alone(n)?;
    if !keep {
        // A million grants leave about 2 GB here; a bench is a measurement, not a store to keep.
        std::fs::remove_dir_all(dir).with_context(|| format!("removing the bench folder {}", dir.display()))?;
    }
    Ok(Report {
        grants: n,
        backend,
        stages,
        total_seconds: total,
        peak_mb: peak,
        dir: dir.display().to_string(),
        console: Some(console),
        pain001_writer,
        kept: keep,
        page_cache_mb,
    })
}

/// `bench --districts K`: districts side by side on one PostgreSQL database (issue 20).
#[derive(Debug, Clone, Serialize)]
pub struct DistrictsReport {
    pub grants_per_district: u64,
    pub districts: u64,
    /// One district's import and batch cycle, alone on the database.
    pub alone_seconds: f64,
    /// K other districts' import and batch cycles, all started at once: until the last is done.
    pub together_seconds: f64,
    /// Each of those districts' own import and batch, in seconds.
    pub each_seconds: Vec<f64>,
    /// `together_seconds / alone_seconds` (issue 20 asks at most 1.3 for two districts).
    pub ratio: f64,
    pub dir: String,
}

/// One district of the districts bench: its configuration and its grants' CSV.
struct District {
    cfg: Config,
    csv: std::path::PathBuf,
}

/// Writes district `d`'s configuration and `n` grants of its own (students and cards of no other
/// district) under `dir/d<d>`; every district uses the key file district 0's first start made.
fn district(dir: &Path, url: &str, d: u64, n: u64) -> anyhow::Result<District> {
    let own = dir.join(format!("d{d}"));
    std::fs::create_dir_all(&own)?;
    let mut text = BENCH_CONFIG
        .replace("PAGECACHE", &crate::config::DEFAULT_PAGE_CACHE_MB.to_string())
        .replace("DBURL", url)
        .replace("DIR", &own.display().to_string())
        .replace("130100000012345678", &format!("1301000000123456{:02}", 78 + d));
    if d > 0 {
        text.push_str(&format!("[security]\ndata_key_file = \"{}\"\n", dir.join("d0/var/data_key").display()));
    }
    let path = own.join("bench.toml");
    std::fs::write(&path, text)?;
    let cfg = Config::load_with_env(Some(&path), Some(HashMap::new()))?;
    cfg.ensure_paths()?;
    let csv = own.join("grants.csv");
    write_grants_from(&csv, d * n, n).context("writing the synthetic grants")?;
    Ok(District { cfg, csv })
}

/// Opens district `d`'s store (its own pool, as its own daemon would have), imports its grants
/// and runs one batch cycle; the seconds it took.
async fn import_and_batch(dist: &District, n: u64) -> anyhow::Result<f64> {
    let cfg = &dist.cfg;
    let store = Store::connect(
        &cfg.database_url(),
        crate::store::PoolSize::of(&cfg.database),
        &crate::store::KeyOptions { isolated: true, ..cfg.key_options() },
    )
    .await?
    .scoped(&cfg.account.number);
    let t = Instant::now();
    let imported = crate::intake::import_file(&store, cfg, &dist.csv, ImportOptions::default(), "bench").await?;
    anyhow::ensure!(imported.imported == n && imported.held == 0, "import: {imported:?}");
    let cycle = crate::batch::run_cycle(&store, cfg, "bench").await?;
    anyhow::ensure!(cycle.payments_created == n, "batch: {} payments", cycle.payments_created);
    let seconds = t.elapsed().as_secs_f64();
    store.close().await;
    tracing::info!(account = %cfg.account.number, seconds = format!("{seconds:.2}"), "bench district: import and batch");
    Ok(seconds)
}

/// One district alone, then `k` others at once, each importing and batching `n` grants, on the
/// given (empty) PostgreSQL database. The districts together run on a database already holding
/// the first one's rows, which can only make them slower.
pub async fn districts(n: u64, k: u64, dir: &Path, database_url: &str, keep: bool) -> anyhow::Result<DistrictsReport> {
    anyhow::ensure!(database_url.starts_with("postgres"), "--districts compares districts on one PostgreSQL database: give --database-url");
    anyhow::ensure!(k >= 1, "--districts: at least 1");
    std::fs::create_dir_all(dir)?;
    let mut all: Vec<District> = (0..=k).map(|d| district(dir, database_url, d, n)).collect::<anyhow::Result<_>>()?;
    let first = all.remove(0);
    let alone = import_and_batch(&first, n).await?;
    let t = Instant::now();
    let tasks: Vec<_> = all.into_iter().map(|d| tokio::spawn(async move { import_and_batch(&d, n).await })).collect();
    let mut each = Vec::new();
    for task in tasks {
        each.push(task.await??);
    }
    let together = t.elapsed().as_secs_f64();
    if !keep {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing the bench folder {}", dir.display()))?;
    }
    Ok(DistrictsReport {
        grants_per_district: n,
        districts: k,
        alone_seconds: alone,
        together_seconds: together,
        each_seconds: each,
        ratio: together / alone,
        dir: dir.display().to_string(),
    })
}
