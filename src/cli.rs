//! The command line (INTERFACES.md): `aidpay [--config PATH] [--json] COMMAND …`.
//! Exit 0 when the command did its job (exceptions found are results), 1 on an error, 2 on a
//! usage error (clap's own).

use crate::config::Config;
use crate::intake::{self, EncodingChoice, ImportOptions};
use crate::output;
use crate::store::{ExceptionFilter, Store};
use crate::telemetry::LogFormat;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "aidpay", version, about = "Student-aid disbursement from the special account (学生资助发放)")]
pub struct Cli {
    /// Configuration file [default: config/aidpay.toml, then /etc/aidpay/aidpay.toml]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Print one machine-readable JSON document on stdout and nothing else there
    #[arg(long, global = true)]
    pub json: bool,
    /// Log line format on stderr
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Take in approved grant lists (CSV in UTF-8 or GBK, XLSX)
    Import {
        /// Encoding of CSV files
        #[arg(long, value_enum, default_value_t = EncodingChoice::Auto)]
        encoding: EncodingChoice,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// One batch cycle now: valid unpaid grants → bank files, handed to the bank
    Batch,
    /// Take in bank answers: pain.002, camt.054, camt.053, domestic result files (kind from content).
    /// Without FILEs: fetch the gateways' result files, then everything in the inbox.
    Ingest {
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Reconcile the special account from the statements ingested
    Reconcile,
    /// Reports for finance staff and auditors
    Report {
        #[command(subcommand)]
        which: ReportCommand,
    },
    /// The finance staff's work list
    Exceptions {
        #[command(subcommand)]
        action: ExceptionsCommand,
    },
    /// Each job's last and next run, counts of grants and payments by state, open exceptions
    Status,
    /// Check the invariants: every grant has exactly one owner state, one live payment at most,
    /// batch sums, the outbox files' hashes. Exit 1 with the list when one fails
    Verify,
    /// The hash-chained audit trail: verify it, export it for the auditors
    Audit {
        #[command(subcommand)]
        action: AuditCommand,
    },
    /// Measure every stage on a fresh store with N synthetic grants
    Bench {
        /// How many grants
        #[arg(long, default_value_t = 100_000)]
        grants: u64,
        /// Folder for the bench's store and files [default: a new folder under the temp dir]
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Run on this (empty) PostgreSQL database instead of SQLite
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
        /// Keep the bench's store and files (removed when done otherwise)
        #[arg(long)]
        keep: bool,
        /// Districts side by side instead (PostgreSQL): one district's import and batch of
        /// --grants alone, then K other districts' at once on the same database
        #[arg(long, value_name = "K", requires = "database_url")]
        districts: Option<u64>,
        /// SQLite's page cache for the whole pool, in MB ([database] page_cache_mb)
        #[arg(long, value_name = "MB", default_value_t = crate::config::DEFAULT_PAGE_CACHE_MB)]
        page_cache_mb: u32,
    },
    /// The daemon: every job on its schedule ([schedule]) until SIGTERM or SIGINT; serves the
    /// console too when [console] listen is set
    Run,
    /// The finance office's web console alone, on [console] listen (default 127.0.0.1:8470)
    Console,
    /// The people who may act, and their roles (the server administrator's commands)
    User {
        #[command(subcommand)]
        action: UserCommand,
    },
    /// Four eyes: what awaits a second person
    Approvals {
        #[command(subcommand)]
        action: ApprovalsCommand,
    },
    /// The data keys that encrypt card and ID numbers at rest
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// A whole cycle on a throw-away SQLite store, ending in the exception list
    Demo {
        /// Folder for the demo's store and files [default: a new folder under the temp dir]
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the chain and name the first line that does not fit; check the kept files' hashes.
    /// Exit 1 when anything does not fit
    Verify,
    /// The trail from --from to --to (China dates, both included) as CSV and XLSX, with copies of
    /// the files it names and chain-head.txt (the head and the verify result)
    Export {
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: String,
        #[arg(long, value_name = "YYYY-MM-DD")]
        to: String,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// 月调度 / 季汇总 / 半年通报: money, students and 人次, failures, exceptions, 应助尽助, charts
    Period {
        /// A month: 2026-11
        #[arg(long, value_name = "YYYY-MM", group = "which")]
        month: Option<String>,
        /// A quarter: 2026Q4
        #[arg(long, value_name = "YYYYQn", group = "which")]
        quarter: Option<String>,
        /// A half-year: 2026H2
        #[arg(long, value_name = "YYYYHn", group = "which")]
        half: Option<String>,
        #[arg(long, value_enum, default_value_t = crate::reports::ReportFormat::Xlsx)]
        format: crate::reports::ReportFormat,
        /// Folder to write to [default: paths.reports]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// A school's ledger (台账 / 发放花名册) for a term: every student's grants and payments
    Ledger {
        /// The school's code [default: every school, one sheet (XLSX) or file each]
        #[arg(long, value_name = "CODE")]
        school: Option<String>,
        /// The term, as the grant lists name it (学期), e.g. 2026秋
        #[arg(long, value_name = "TERM")]
        period: String,
        #[arg(long, value_enum, default_value_t = crate::reports::ReportFormat::Xlsx)]
        format: crate::reports::ReportFormat,
        /// Folder to write to [default: paths.reports]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Per statement and per batch, with the running balance
    Reconciliation {
        #[arg(long, value_enum, default_value_t = crate::reports::ReportFormat::Xlsx)]
        format: crate::reports::ReportFormat,
        /// Folder to write to [default: paths.reports]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// One row per open exception: 学校, 姓名, 卡号 (masked), 金额, 问题, 原因, 建议处理, totals
    Exceptions {
        #[arg(long, value_enum, default_value_t = crate::reports::ReportFormat::Xlsx)]
        format: crate::reports::ReportFormat,
        /// Folder to write to [default: paths.reports]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

/// Who acts: a console user, whose password is read from stdin. The operating-system user alone
/// is no identity.
#[derive(Debug, clap::Args)]
pub struct Acting {
    /// The console user who acts (their password is read from stdin)
    #[arg(long = "user", value_name = "NAME", required = true)]
    pub user: String,
    /// Read the password from stdin (the default; kept for scripts that say so)
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from stdin
    Add {
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The name shown in the console and the audit trail (e.g. 张三)
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List the users with their roles and state
    List,
    /// Disable a user: no more logins or actions; kept for the trail
    Disable { name: String },
    /// Set a user's password (read from stdin); lifts a lock-out
    Passwd {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

/// The roles of `user add --role`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Clerk,
    Reviewer,
    Auditor,
    Admin,
}

impl From<RoleArg> for crate::domain::Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Clerk => crate::domain::Role::Clerk,
            RoleArg::Reviewer => crate::domain::Role::Reviewer,
            RoleArg::Auditor => crate::domain::Role::Auditor,
            RoleArg::Admin => crate::domain::Role::Admin,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// What awaits a second person (or every proposal with --status all)
    List {
        /// pending or all
        #[arg(long, default_value = "pending")]
        status: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// Approve someone else's proposal: what it proposes is applied
    Approve {
        id: i64,
        /// Why (kept in the audit log)
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// Reject someone else's proposal, saying why
    Reject {
        id: i64,
        #[arg(long, required = true)]
        note: String,
        #[command(flatten)]
        acting: Acting,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExceptionsCommand {
    /// List exceptions (open ones unless --status says otherwise)
    List {
        /// Only this kind (e.g. invalid_card)
        #[arg(long)]
        kind: Option<String>,
        /// open, resolved or all
        #[arg(long, default_value = "open")]
        status: String,
        /// Only this school code
        #[arg(long)]
        school: Option<String>,
    },
    /// Act on an exception: re-issue (optionally to a corrected card), cancel the grant, or accept
    #[command(group(clap::ArgGroup::new("action").required(true).args(["reissue", "cancel", "accept"])))]
    Resolve {
        /// The exception's number (from `exceptions list`)
        id: i64,
        /// Pay the grant again once the earlier attempt is final-failed and its money is back
        #[arg(long)]
        reissue: bool,
        /// With --reissue: the corrected card number
        #[arg(long, requires = "reissue", value_name = "NUMBER")]
        card: Option<String>,
        /// With --reissue: the corrected card holder
        #[arg(long, requires = "reissue", value_name = "NAME")]
        holder: Option<String>,
        /// Cancel the grant: it will not be paid
        #[arg(long)]
        cancel: bool,
        /// Accept as explained; nothing else changes
        #[arg(long)]
        accept: bool,
        /// Why (kept in the audit log)
        #[arg(long, required = true)]
        note: String,
        #[command(flatten)]
        acting: Acting,
    },
}

/// Loads the configuration and opens the store for a command that changes it: the store and
/// the configured folders are created when they are new.
pub async fn open(config: Option<&std::path::Path>) -> anyhow::Result<(Config, Store)> {
    let cfg = Config::load(config)?;
    cfg.ensure_paths().context("creating the configured folders")?;
    let store = Store::open(&cfg).await.with_context(|| format!("opening the store {}", crate::config::redact_url(&cfg.database.url)))?;
    Ok((cfg, store))
}

/// Loads the configuration and opens the store for a command that only reads: nothing is
/// created, and a store that is not there is an error naming it and the configuration read.
pub async fn open_existing(config: Option<&std::path::Path>) -> anyhow::Result<(Config, Store)> {
    let cfg = Config::load(config)?;
    let store = match Store::open_existing(&cfg).await {
        Ok(s) => s,
        Err(e @ crate::store::StoreError::Missing(_)) => anyhow::bail!(
            "{e} (configuration {} read, database.url = {}); check the configuration, or create the store with a first \
             `aidpay import`, `batch`, `ingest` or `run`. 存储不存在，请检查配置文件",
            cfg.source.display(),
            crate::config::redact_url(&cfg.database.url)
        ),
        Err(e) => {
            return Err(e).with_context(|| format!("opening the store {}", crate::config::redact_url(&cfg.database.url)));
        }
    };
    Ok((cfg, store))
}

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Import { encoding, ref files } => {
            crate::progress::enable(cli.json);
            let (cfg, store) = open(cli.config.as_deref()).await?;
            let code = import(&cfg, &store, files, ImportOptions { encoding }, cli.json).await;
            store.close().await;
            code
        }
        Command::Exceptions { action: ExceptionsCommand::List { kind, status, school } } => {
            let kind = match kind.as_deref().map(|k| (k, crate::exceptions::ExceptionKind::parse(k))) {
                None => None,
                Some((_, Some(k))) => Some(k),
                Some((k, None)) => anyhow::bail!("--kind {k}: not an exception kind (see INTERFACES.md, e.g. invalid_card)"),
            };
            let Ok(status) = crate::domain::ExceptionStatus::filter(&status) else {
                anyhow::bail!("--status {status}: use open, resolved or all");
            };
            let (_cfg, store) = open_existing(cli.config.as_deref()).await?;
            let rows = crate::exceptions::list(&store, &ExceptionFilter { kind, status, school }).await?;
            output::exceptions(&rows, cli.json)?;
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Batch => {
            crate::progress::enable(cli.json);
            let (cfg, store) = open(cli.config.as_deref()).await?;
            let outcome = crate::batch::run_cycle(&store, &cfg, &crate::actor()).await?;
            output::batch(&outcome, cli.json)?;
            store.close().await;
            let failed = outcome.batches.iter().any(|b| b.error.is_some());
            Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Command::Exceptions { action: ExceptionsCommand::Resolve { id, reissue, card, holder, cancel, accept, note, acting } } => {
            let action = if reissue {
                crate::exceptions::Action::Reissue { card, holder }
            } else if cancel {
                crate::exceptions::Action::Cancel
            } else {
                debug_assert!(accept);
                crate::exceptions::Action::Accept
            };
            if note.trim().is_empty() {
                anyhow::bail!("--note must say why");
            }
            let (cfg, store) = open_existing(cli.config.as_deref()).await?;
            let person = person(&store, &acting).await?;
            let result = crate::exceptions::resolve(&store, &cfg, id, &action, note.trim(), &person).await;
            store.close().await;
            let done = result?;
            output::resolve_outcome(&done, cli.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest { files } => {
            let (cfg, store) = open(cli.config.as_deref()).await?;
            let which = if files.is_empty() { crate::jobs::BankFiles::Inbox } else { crate::jobs::BankFiles::These(files) };
            let run = crate::jobs::ingest(&store, &cfg, which, &crate::actor()).await;
            store.close().await;
            let run = run?;
            output::ingest(&run.files, run.no_answer, cli.json)?;
            Ok(if run.errors().is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Reconcile => {
            let (cfg, store) = open(cli.config.as_deref()).await?;
            let outcome = crate::reconcile::run(&store, &cfg, &crate::actor()).await?;
            output::reconcile(&outcome, cli.json)?;
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { which: ReportCommand::Reconciliation { format, out } } => {
            let (cfg, store) = open_existing(cli.config.as_deref()).await?;
            let dir = out.unwrap_or_else(|| cfg.paths.reports.clone());
            let path = crate::reports::reconciliation_report(&store, &cfg, format, &dir).await?;
            output::report(&path, cli.json)?;
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { which: ReportCommand::Period { month, quarter, half, format, out } } => {
            let spec = match (month, quarter, half) {
                (Some(m), None, None) => crate::reports::period::PeriodSpec::parse_month(&m),
                (None, Some(q), None) => crate::reports::period::PeriodSpec::parse_quarter(&q),
                (None, None, Some(h)) => crate::reports::period::PeriodSpec::parse_half(&h),
                _ => Err("name one period: --month 2026-11, --quarter 2026Q4 or --half 2026H2".to_string()),
            }
            .map_err(anyhow::Error::msg)?;
            let (cfg, store) = open_existing(cli.config.as_deref()).await?;
            let dir = out.unwrap_or_else(|| cfg.paths.reports.clone());
            let done = crate::reports::period::build(&store, &cfg, spec, format, &dir, &crate::actor()).await;
            store.close().await;
            output::period_report(&done?, cli.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { which: ReportCommand::Ledger { school, period, format, out } } => {
            let (cfg, store) = open_existing(cli.config.as_deref()).await?;
            let dir = out.unwrap_or_else(|| cfg.paths.reports.clone());
            let done = crate::reports::period::ledger(&store, &cfg, school.as_deref(), period.trim(), format, &dir, &crate::actor()).await;
            store.close().await;
            output::files(&done?, cli.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { which: ReportCommand::Exceptions { format, out } } => {
            let (cfg, store) = open_existing(cli.config.as_deref()).await?;
            let dir = out.unwrap_or_else(|| cfg.paths.reports.clone());
            let path = crate::reports::exception_report(&store, &cfg, format, &dir).await?;
            output::report(&path, cli.json)?;
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify => {
            let (cfg, store) = open_existing(cli.config.as_deref()).await?;
            let report = crate::verify::run(&store, &cfg.account.number, &cfg.paths.outbox).await?;
            output::verify(&report, cli.json)?;
            store.close().await;
            Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Audit { action: AuditCommand::Verify } => {
            let (cfg, store) = open_existing(cli.config.as_deref()).await?;
            let report = crate::audit::verify(&store, &cfg).await?;
            output::audit_verify(&report, cli.json)?;
            store.close().await;
            Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Audit { action: AuditCommand::Export { from, to, out } } => {
            let (cfg, store) = open_existing(cli.config.as_deref()).await?;
            let done = crate::audit::export(&store, &cfg, &from, &to, &out, &crate::actor()).await;
            store.close().await;
            output::audit_export(&done?, cli.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status => {
            let (cfg, store) = open_existing(cli.config.as_deref()).await?;
            let grants = store.count_grants_by_status().await?;
            let payments = store.count_payments_by_status().await?;
            let open = store.list_exceptions(&ExceptionFilter { status: Some(crate::domain::ExceptionStatus::Open), ..Default::default() }).await?;
            let position: crate::reconcile::PositionOut = store.position(&cfg.account.number).await?.into();
            let jobs = crate::scheduler::job_status(&cfg, &store).await?;
            let last_alert = store.runs_of(crate::alerts::ALERT_JOB, 1).await?.into_iter().next();
            let warnings = store_warnings(&cfg);
            for w in &warnings {
                tracing::warn!("{w}");
            }
            let keys = store.key_status().await?;
            output::status(&cfg, &grants, &payments, &open, &position, &jobs, last_alert.as_ref(), &warnings, &keys, cli.json)?;
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { grants, dir, database_url, keep, districts, page_cache_mb } => {
            let dir = dir.unwrap_or_else(|| std::env::temp_dir().join(format!("aidpay-bench-{}", crate::clock::now().format("%Y%m%d-%H%M%S"))));
            if let (Some(k), Some(url)) = (districts, database_url.as_deref()) {
                let report = crate::bench::districts(grants, k, &dir, url, keep).await?;
                output::bench_districts(&report, cli.json)?;
                return Ok(ExitCode::SUCCESS);
            }
            let report = crate::bench::run(grants, &dir, database_url.as_deref(), keep, page_cache_mb).await?;
            output::bench(&report, cli.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { dir } => crate::demo::run(dir, cli.json).await,
        Command::User { action } => users(cli.config.as_deref(), action, cli.json).await,
        Command::Keys { action } => keys(cli.config.as_deref(), action, cli.json).await,
        Command::Approvals { action } => approvals(cli.config.as_deref(), action, cli.json).await,
        Command::Console => {
            let (cfg, store) = open(cli.config.as_deref()).await?;
            crate::console::run(cfg, store.clone(), shutdown_signal()).await?;
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run => {
            let cfg = Config::load(cli.config.as_deref())?;
            crate::scheduler::run(cfg, shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What `status` warns about the store's files: a SQLite database (or its `-wal`/`-shm`)
/// that users other than its owner and group may read.
fn store_warnings(cfg: &Config) -> Vec<String> {
    let Some(db) = crate::store::sqlite_file(&cfg.database_url()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for f in [db.clone(), PathBuf::from(format!("{}-wal", db.display())), PathBuf::from(format!("{}-shm", db.display()))] {
        if crate::files::readable_by_others(&f) {
            out.push(format!(
                "存储文件 {} 其他用户可读（含学生姓名、身份证号和卡号），请执行 chmod 600 {} (the store file is readable by others)",
                f.display(),
                f.display()
            ));
        }
    }
    out
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Write a new data key file (mode 0600) and say where to put it. Without FILE: the file
    /// beside the store, where aidpay finds it when nothing else is configured
    Init {
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Re-encrypt every card and ID number under a new key version, in chunks; resumable (run it
    /// again after a kill: it finishes the rotation it started). The old versions stay in the
    /// key file, so every value stays readable throughout
    Rotate {
        /// The key file to rotate [default: [security] data_key_file, else the file beside the store]
        #[arg(long, value_name = "FILE")]
        key_file: Option<PathBuf>,
    },
}

async fn keys(config: Option<&std::path::Path>, action: KeysCommand, json: bool) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(config)?;
    let mut opts = cfg.key_options();
    match action {
        KeysCommand::Init { file } => {
            let Some(path) = file.or_else(|| opts.file().map(std::path::Path::to_path_buf)) else {
                anyhow::bail!("keys init: name the file to write (no [security] data_key_file and no store file to put it beside)");
            };
            let report = crate::crypto::init_key_file(&path)?;
            if json {
                output::json(&serde_json::json!({
                    "file": report.path, "data_version": report.data_version, "data_key_id": report.data_key_id,
                    "hash_key_id": report.hash_key_id, "advice": report.advice(),
                }))?;
            } else {
                println!("{}", report.advice());
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Rotate { key_file } => {
            if let Some(f) = key_file {
                opts.data_key_file = Some(f);
            }
            // The key in use must be a file: a credential or AIDPAY_DATA_KEY is rotated where it is kept.
            let source = crate::store::load_keys(&opts)?.map(|(_, s)| s);
            let path = match source {
                Some(crate::crypto::KeySource::File(p)) => p,
                Some(other) => anyhow::bail!(
                    "keys rotate: the data key comes from {other}, which aidpay cannot rewrite: rotate the file it is made from                      with `aidpay keys rotate --key-file FILE` (with the credential and AIDPAY_DATA_KEY unset), then install it again"
                ),
                None => {
                    anyhow::bail!("keys rotate: no data key file (run `aidpay keys init` first)")
                }
            };
            let url = cfg.database_url();
            let mut store = Store::connect(&url, crate::store::PoolSize::of(&cfg.database), &opts)
                .await
                .with_context(|| format!("opening the store {}", crate::config::redact_url(&cfg.database.url)))?;
            let ring_version = store.ring().map(|r| r.current_version()).unwrap_or(0);
            let resuming = store.crypto_state("rotating_to").await?.and_then(|v| v.parse::<u32>().ok()).filter(|v| *v == ring_version);
            let version = match resuming {
                Some(v) => v,
                None => {
                    let r = crate::crypto::rotate_key_file(&path)?;
                    let (ring, _) = crate::crypto::load_with_env(Some(&path), |_| None)?;
                    anyhow::ensure!(
                        ring.current_version() == r.new_version,
                        "keys rotate: the key file {} did not read back with v{}",
                        path.display(),
                        r.new_version
                    );
                    store.set_keys(ring).await?;
                    store.set_crypto_state("rotating_to", Some(&r.new_version.to_string())).await?;
                    r.new_version
                }
            };
            let done = store.encrypt_pass().await?;
            let left = store.values_to_reencrypt().await?;
            if left == 0 {
                store.set_crypto_state("rotating_to", None).await?;
            }
            store.close().await;
            let message = if left == 0 {
                format!(
                    "数据密钥已轮换到 v{version}：{} 行重新加密{}。Every value is now under key v{version}; the older versions stay in {} (remove them only with care: an old backup needs them)",
                    done.rows,
                    if resuming.is_some() { "（续完上次中断的轮换）" } else { "" },
                    path.display()
                )
            } else {
                format!(
                    "数据密钥轮换到 v{version} 未完成：仍有 {left} 行，请再次运行 aidpay keys rotate ({left} rows still to re-encrypt: run it again)"
                )
            };
            if json {
                output::json(
                    &serde_json::json!({"version": version, "rows": done.rows, "resumed": resuming.is_some(), "remaining": left, "key_file": path, "message": message}),
                )?;
            } else {
                println!("{message}");
            }
            Ok(if left == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}

/// The password on stdin: its first line, without the line break.
fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading the password from stdin")?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    if pw.is_empty() {
        anyhow::bail!("no password on stdin (echo the password | aidpay … --password-stdin)");
    }
    Ok(pw)
}

/// The console user named by `--user`, once their password (stdin) is checked.
async fn person(store: &Store, acting: &Acting) -> anyhow::Result<crate::people::Person> {
    let pw = password_from_stdin()?;
    Ok(crate::people::authenticate(store, &acting.user, &pw, "cli").await?)
}

/// `aidpay user …`: the server administrator manages the people who may act. Audited as
/// `server-admin:<os user>`.
async fn users(config: Option<&std::path::Path>, action: UserCommand, json: bool) -> anyhow::Result<ExitCode> {
    let actor = format!("server-admin:{}", crate::actor());
    match action {
        UserCommand::Add { name, role, display_name, password_stdin: _ } => {
            let (_cfg, store) = open(config).await?;
            let pw = password_from_stdin()?;
            let row = crate::people::add_user(&store, &name, display_name.as_deref().unwrap_or(&name), role.into(), &pw, &actor).await;
            store.close().await;
            output::users(std::slice::from_ref(&row?), json)?;
        }
        UserCommand::List => {
            let (_cfg, store) = open_existing(config).await?;
            let rows = store.users().await;
            store.close().await;
            output::users(&rows?, json)?;
        }
        UserCommand::Disable { name } => {
            let (_cfg, store) = open_existing(config).await?;
            let done = crate::people::disable_user(&store, &name, &actor).await;
            store.close().await;
            done?;
            output::done(&format!("用户 {name} 已停用"), json)?;
        }
        UserCommand::Passwd { name, password_stdin: _ } => {
            let (_cfg, store) = open_existing(config).await?;
            let pw = password_from_stdin()?;
            let done = crate::people::set_password(&store, &name, &pw, &actor).await;
            store.close().await;
            done?;
            output::done(&format!("用户 {name} 的密码已更改"), json)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `aidpay approvals …`, as a console user.
async fn approvals(config: Option<&std::path::Path>, action: ApprovalsCommand, json: bool) -> anyhow::Result<ExitCode> {
    use crate::approvals::Decision;
    let (cfg, store) = open_existing(config).await?;
    let result = async {
        match action {
            ApprovalsCommand::List { status, acting } => {
                let all = match status.as_str() {
                    "pending" => false,
                    "all" => true,
                    other => anyhow::bail!("--status {other}: use pending or all"),
                };
                person(&store, &acting).await?;
                output::approvals(&crate::approvals::list(&store, all).await?, json)?;
            }
            ApprovalsCommand::Approve { id, note, acting } => {
                let p = person(&store, &acting).await?;
                output::decided(&crate::approvals::decide(&store, &cfg, id, Decision::Approve, note.trim(), &p).await?, json)?;
            }
            ApprovalsCommand::Reject { id, note, acting } => {
                if note.trim().is_empty() {
                    anyhow::bail!("--note must say why");
                }
                let p = person(&store, &acting).await?;
                output::decided(&crate::approvals::decide(&store, &cfg, id, Decision::Reject, note.trim(), &p).await?, json)?;
            }
        }
        Ok(())
    }
    .await;
    store.close().await;
    result.map(|()| ExitCode::SUCCESS)
}

/// SIGTERM (systemd's stop) or SIGINT (Ctrl-C).
/// SIGTERM or SIGINT. The handlers are installed when this is called, not when the future is
/// first polled: a `systemctl stop` during start-up (migrations, a start-up alert) is then a clean
/// stop once the loop runs, not the default disposition killing the process.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = int.recv() => tracing::info!("SIGINT: stopping"),
                        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
                    }
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!("cannot listen for SIGTERM/SIGINT ({e}); only Ctrl-C stops the daemon");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async move {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// `import FILE…`: each file on its own; exit 1 if any file could not be imported at all.
pub async fn import(cfg: &Config, store: &Store, files: &[PathBuf], opts: ImportOptions, json: bool) -> anyhow::Result<ExitCode> {
    let actor = crate::actor();
    let mut summaries = Vec::new();
    let mut failed = false;
    for f in files {
        match intake::import_file(store, cfg, f, opts, &actor).await {
            Ok(s) => summaries.push(s),
            Err(e) => {
                failed = true;
                tracing::error!("{e}");
                summaries.push(intake::FileSummary { file: f.display().to_string(), error: Some(e.to_string()), ..Default::default() });
            }
        }
    }
    output::import(&summaries, json)?;
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
