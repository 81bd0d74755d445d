//! `aidpay run`: the daemon. Every job on its own cron schedule until SIGTERM or SIGINT.
//!
//! One loop (below, [`serve`]) owns the schedule: it starts a job when its time has come, in a
//! spawned task, and never starts a job while the previous run of the same job is still going —
//! a slow run simply delays that job's next tick. On PostgreSQL different jobs may run at the
//! same time (the store's transactions keep them apart); on SQLite, which has one writer, they
//! take turns. The loop is also what sends systemd's `WATCHDOG=1`, so a
//! stuck loop gets the daemon killed and restarted.
//!
//! Time: the ticks follow the real wall clock, read in China time (UTC+8): `"0 0 2 * * *"` is
//! 02:00 Beijing time whatever the host's time zone. Business dates (notice ends, execution dates,
//! no-answer deadlines) come from [`crate::clock::now`], which `AIDPAY_NOW` can fix for tests and
//! demos; the schedule never does.
//!
//! A failed run is logged, recorded in `job_runs` (`error` and the message) and retried after
//! `daemon.retry_initial_secs`, doubled per failure in a row, but never later than the job's
//! next regular tick. Nothing a job does stops the daemon.
//!
//! The jobs are the table [`JOBS`]: adding a job is one line there plus its `try_run_…`
//! function; its `[schedule]` key, its `status` line and its `job_runs` rows follow.

use crate::alerts::Alerter;
use crate::clock::china;
use crate::config::{Config, OnLock};
use crate::domain::{BatchStatus, RunOutcome};
use crate::lock::{InstanceLock, LockError};
use crate::store::Store;
use crate::systemd;
use anyhow::Context;
use chrono::{DateTime, FixedOffset, Utc};
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// What a job works with.
pub struct JobCtx {
    pub store: Store,
    pub cfg: Arc<Config>,
    /// Who acts, for the audit log.
    pub actor: String,
    /// With SQLite (one writer at a time) the jobs take turns: a job's write transaction would
    /// otherwise meet another's and fail with "database is locked". PostgreSQL runs them side by
    /// side. `None` there.
    pub turn: Option<Arc<tokio::sync::Mutex<()>>>,
}

/// What a job run did, in one line (logs, `job_runs.detail`, systemd's STATUS), and what finance
/// staff are to be told about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobOutcome {
    pub detail: String,
    pub notices: Vec<crate::alerts::Notice>,
}

/// A job run in progress.
pub type JobFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<JobOutcome>> + Send + 'a>>;

/// One job of the daemon.
pub struct JobSpec {
    /// Its name: the `[schedule]` key, the `job_runs.job` value.
    pub name: &'static str,
    /// The schedule when `[schedule]` does not name it.
    pub default_schedule: &'static str,
    pub run: for<'a> fn(&'a JobCtx) -> JobFuture<'a>,
}

/// The daemon's jobs, in the order they are listed. One line per job.
pub const JOBS: &[JobSpec] = &[
    JobSpec { name: "import", default_schedule: "0 */10 * * * *", run: |c| Box::pin(try_run_import(c)) },
    JobSpec { name: "batch", default_schedule: "0 0 2 * * *", run: |c| Box::pin(try_run_batch(c)) },
    JobSpec { name: "ingest", default_schedule: "0 */15 * * * *", run: |c| Box::pin(try_run_ingest(c)) },
    JobSpec { name: "reconcile", default_schedule: "0 0 7 * * *", run: |c| Box::pin(try_run_reconcile(c)) },
    JobSpec { name: "reports", default_schedule: "0 30 7 * * *", run: |c| Box::pin(try_run_reports(c)) },
];

/// The `job_runs` name of the daemon's own life (start to stop).
pub const DAEMON_JOB: &str = "daemon";

/// The real time now in China, for ticks and `job_runs` (not [`crate::clock::now`]).
pub fn wall_clock() -> DateTime<FixedOffset> {
    Utc::now().with_timezone(&china())
}

/// [`wall_clock`] as stored in `job_runs`, with milliseconds.
pub fn wall_clock_text() -> String {
    wall_clock().to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

/// The next tick of a schedule after `t`.
pub fn next_after(schedule: &cron::Schedule, t: &DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
    schedule.after(t).next()
}

// ---------------------------------------------------------------- the jobs

/// Where grant lists are dropped for the daemon: `paths.inbox/grants/`. Everything else in the
/// inbox is a bank answer.
pub fn grants_inbox(cfg: &Config) -> PathBuf {
    cfg.paths.inbox.join("grants")
}

/// One job in `status`: its schedule, last run and next run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobStatus {
    pub job: String,
    /// The cron expression, or `off`.
    pub schedule: String,
    pub last_run: Option<crate::store::JobRun>,
    /// The next tick from now (China time), whether or not a daemon is running.
    pub next_run: Option<String>,
}

/// Every scheduled job's status.
pub async fn job_status(cfg: &Config, store: &Store) -> Result<Vec<JobStatus>, crate::store::StoreError> {
    let last = store.last_runs().await?;
    let now = wall_clock();
    Ok(cfg
        .schedules
        .iter()
        .map(|s| JobStatus {
            job: s.job.to_string(),
            schedule: s.expr.clone(),
            last_run: last.iter().find(|r| r.job == s.job).cloned(),
            next_run: s.schedule.as_ref().and_then(|sch| next_after(sch, &now)).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)),
        })
        .collect())
}

/// `import`: every grant list in `paths.inbox/grants/` ([`crate::jobs::import_inbox`]).
pub async fn try_run_import(ctx: &JobCtx) -> anyhow::Result<JobOutcome> {
    let run = crate::jobs::import_inbox(&ctx.store, &ctx.cfg, &ctx.actor).await?;
    Ok(JobOutcome { detail: run.detail_zh(), notices: run.notices })
}

/// `batch`: one batch cycle (reserve → write → deliver). A batch that could not be written or
/// delivered makes the run an error, so it is retried; what was done stays done.
pub async fn try_run_batch(ctx: &JobCtx) -> anyhow::Result<JobOutcome> {
    let o = crate::batch::run_cycle(&ctx.store, &ctx.cfg, &ctx.actor).await?;
    let failed: Vec<&crate::batch::BatchSummary> = o.batches.iter().filter(|b| b.error.is_some()).collect();
    let delivered: Vec<_> = o.batches.iter().filter(|b| b.error.is_none() && b.status == BatchStatus::Delivered).collect();
    let held = o.batches.iter().filter(|b| b.status == BatchStatus::Held).count();
    let payments: i64 = delivered.iter().map(|b| b.payments).sum();
    let detail = format!(
        "新建支付 {} 笔，交付银行批次 {} 个共 {payments} 笔，暂缓批次 {held} 个，等待公示结束的资助 {} 笔",
        o.payments_created,
        delivered.len(),
        o.waiting_for_notice
    );
    if let Some(first) = failed.first() {
        anyhow::bail!("{} 个批次中 {} 个失败（{}）；{detail}", o.batches.len(), failed.len(), first.error.as_deref().unwrap_or(""));
    }
    let mut notices = Vec::new();
    for b in delivered {
        notices.push(crate::alerts::Notice::BatchDelivered {
            batch_id: b.batch_id.clone(),
            bank: crate::alerts::bank_label(&ctx.cfg, &b.profile),
            payments: b.payments,
            total: crate::domain::Fen::parse_yuan(&b.total).unwrap_or(crate::domain::Fen(0)),
            schools: ctx.store.batch_schools(&b.batch_id).await?,
        });
    }
    Ok(JobOutcome { detail, notices })
}

/// `ingest`: the gateways' result files, then every bank answer in the inbox, then the
/// no-answer sweep ([`crate::jobs::ingest`]). A gateway that cannot be reached, or a file that
/// cannot be read, makes the run an error (retried) after the rest has been done.
pub async fn try_run_ingest(ctx: &JobCtx) -> anyhow::Result<JobOutcome> {
    let run = crate::jobs::ingest(&ctx.store, &ctx.cfg, crate::jobs::BankFiles::Inbox, &ctx.actor).await?;
    let detail = run.detail_zh();
    if let Some(e) = &run.fetch_error {
        anyhow::bail!("无法从银行网关取回结果文件: {e}；{detail}");
    }
    let errors = run.errors();
    if let Some(e) = errors.first() {
        anyhow::bail!("{} 个文件无法读取（{e}）；{detail}", errors.len());
    }
    Ok(JobOutcome { detail, ..Default::default() })
}

/// `reports`: the exception report (XLSX) into `paths.reports`.
/// `reconcile`: the special account's statements against what was paid.
pub async fn try_run_reconcile(ctx: &JobCtx) -> anyhow::Result<JobOutcome> {
    let o = crate::reconcile::run(&ctx.store, &ctx.cfg, &crate::actor()).await?;
    Ok(JobOutcome {
        notices: Vec::new(),
        detail: format!(
            "对账单 {} 份，核对批次扣款 {} 笔、退款 {} 笔，新增异常 {} 条，余额 {}",
            o.statements,
            o.batch_debits_matched,
            o.returns_matched,
            o.exceptions_raised,
            o.position.balance.as_deref().map(|b| format!("{b} 元")).unwrap_or_else(|| "未知".into())
        ),
        ..Default::default()
    })
}

///
/// And the period reports (`[reports]`): the last ended month's (月调度), quarter's (季汇总) and
/// half-year's (半年通报), each written once — on the 1st after the period, or on the first run
/// after that if the daemon was down — into `paths.reports`; the alert says where they are.
pub async fn try_run_reports(ctx: &JobCtx) -> anyhow::Result<JobOutcome> {
    use crate::reports::period::PeriodSpec;
    let cfg = &ctx.cfg;
    let path = crate::reports::exception_report(&ctx.store, cfg, crate::reports::ReportFormat::Xlsx, &cfg.paths.reports).await?;
    let format = cfg.reports.format().unwrap_or(crate::reports::ReportFormat::Xlsx);
    let mut written = Vec::new();
    for spec in PeriodSpec::last_ended(crate::clock::today()) {
        let wanted = match spec {
            PeriodSpec::Month { .. } => cfg.reports.monthly,
            PeriodSpec::Quarter { .. } => cfg.reports.quarterly,
            PeriodSpec::Half { .. } => cfg.reports.half_yearly,
        };
        if !wanted || crate::reports::period::written(spec, format, &cfg.paths.reports) {
            continue;
        }
        let r = crate::reports::period::build(&ctx.store, cfg, spec, format, &cfg.paths.reports, &ctx.actor).await?;
        written.push(format!("{} {}：{}", spec.report_name(), spec.label_zh(), r.report));
    }
    let mut detail = format!("异常报表 {}", path.display());
    let mut notices = Vec::new();
    if !written.is_empty() {
        detail.push_str(&format!("；定期报表: {}", written.join("，")));
        notices.push(crate::alerts::Notice::ReportsWritten { reports: written });
    }
    Ok(JobOutcome { detail, notices })
}

// ---------------------------------------------------------------- the daemon

/// Checks every folder the daemon writes to by creating and removing a file in it.
pub fn check_writable(cfg: &Config) -> anyhow::Result<()> {
    let mut dirs =
        vec![cfg.paths.inbox.clone(), grants_inbox(cfg), cfg.paths.outbox.clone(), cfg.paths.quarantine.clone(), cfg.paths.reports.clone()];
    for b in &cfg.banks {
        if let crate::config::Transport::DropFolder(d) = &b.transport {
            dirs.push(d.clone());
        }
    }
    for d in dirs {
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        let probe = d.join(format!(".aidpay-write-check-{}", std::process::id()));
        std::fs::write(&probe, b"").and_then(|_| std::fs::remove_file(&probe)).with_context(|| format!("folder {} is not writable", d.display()))?;
    }
    Ok(())
}

/// Takes the special account's lock: at once, or (`daemon.on_lock = "wait"`) once the other
/// daemon lets go. `None` when told to stop while waiting.
async fn take_lock(cfg: &Config, shutdown: &mut Pin<&mut impl Future<Output = ()>>) -> anyhow::Result<Option<InstanceLock>> {
    let mut said = false;
    loop {
        match crate::lock::try_acquire(cfg).await {
            Ok(l) => return Ok(Some(l)),
            Err(e @ LockError::Held { .. }) if cfg.daemon.on_lock == OnLock::Wait => {
                if !said {
                    tracing::warn!("{e}; waiting for it (daemon.on_lock = \"wait\")");
                    systemd::status(&format!("waiting: {e}"));
                    said = true;
                }
                tokio::select! {
                    _ = shutdown.as_mut() => return Ok(None),
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// `aidpay run`: start-up checks, the lock, `READY=1`, then the jobs until `shutdown` completes.
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let mut shutdown = std::pin::pin!(shutdown);
    cfg.ensure_paths().context("creating the configured folders")?;
    check_writable(&cfg)?;
    let Some(mut lock) = take_lock(&cfg, &mut shutdown).await? else {
        return Ok(());
    };
    let store = Store::open(&cfg).await.with_context(|| format!("opening the store {}", crate::config::redact_url(&cfg.database.url)))?;
    // The daemon's own life is a `job_runs` row (job `daemon`): still `running` at the next
    // start means the last one died without stopping.
    let crashed = store.runs_of(DAEMON_JOB, 1).await?.into_iter().next().filter(|r| r.outcome == Some(RunOutcome::Running));
    let interrupted = store.mark_interrupted_runs(&wall_clock_text()).await?;
    if interrupted > 0 {
        tracing::warn!(runs = interrupted, "job runs of an earlier daemon were interrupted (marked so in job_runs)");
    }
    let alerter = match &cfg.alerts {
        Some(a) => Some(Arc::new(Alerter::new(a.clone(), &store).await?)),
        None => {
            tracing::warn!(
                "alerts are off: no webhook URL (the systemd credential alert_webhook or AIDPAY_ALERTS__WEBHOOK_URL) and no alerts.smtp_host; new exceptions show only in `aidpay exceptions list`"
            );
            None
        }
    };
    if let (Some(a), Some(last)) = (&alerter, &crashed) {
        let notice =
            crate::alerts::Notice::StartedAfterCrash { interrupted_runs: interrupted.saturating_sub(1), last_seen: Some(last.started_at.clone()) };
        if let Err(e) = a.notify(&store, &notice).await {
            tracing::error!("alert to finance staff failed: {e}");
        }
    }
    let life = wall_clock_text();
    store.job_started(DAEMON_JOB, &life).await?;
    let cfg = Arc::new(cfg);
    // `/metrics` on its own listener, bound before READY so a taken port stops the start.
    let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics = match cfg.metrics_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("metrics.listen {addr}: cannot listen"))?;
            tracing::info!(listen = %addr, "metrics served at /metrics");
            let stopped = async move {
                let _ = metrics_stopped.await;
            };
            Some(tokio::spawn(crate::metrics::serve(listener, store.clone(), cfg.clone(), stopped)))
        }
        None => None,
    };
    let turn = (store.backend() == crate::store::Backend::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(())));
    let ctx = Arc::new(JobCtx { store: store.clone(), cfg: cfg.clone(), actor: format!("{} (aidpay run)", crate::actor()), turn });
    let scheduled: Vec<String> = cfg.schedules.iter().map(|s| format!("{} \"{}\"", s.job, s.expr)).collect();
    // The console beside the jobs, when [console] listen is set; it stops with the daemon.
    let (console_stop, console_task) = match &cfg.console.listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address).await.with_context(|| format!("财务工作台无法监听 {address} (console.listen)"))?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(crate::console::serve(cfg.clone(), store.clone(), listener, async move {
                let _ = stopped.await;
            }));
            (Some(stop), Some(task))
        }
        None => (None, None),
    };
    tracing::info!(lock = %lock.describe(), alerts = alerter.as_ref().map(|a| a.host()).unwrap_or_else(|| "off".into()), "daemon ready: {}", scheduled.join(", "));
    systemd::ready("ready; waiting for the first job");

    let result = serve(ctx, alerter, &mut lock, shutdown).await;
    if let (Some(stop), Some(task)) = (console_stop, console_task) {
        let _ = stop.send(());
        match task.await {
            Ok(Err(e)) => tracing::error!("财务工作台: {e:#}"),
            Err(e) => tracing::error!("财务工作台: {e}"),
            Ok(Ok(())) => {}
        }
    }
    let (outcome, how) = match &result {
        Ok(()) => (RunOutcome::Ok, "已停止".to_string()),
        Err(e) => (RunOutcome::Error, format!("{e:#}")),
    };
    if let Err(e) = store.job_finished(DAEMON_JOB, &life, &wall_clock_text(), outcome, &how).await {
        tracing::error!("cannot record the daemon's stop in job_runs: {e}");
    }
    let _ = metrics_stop.send(());
    if let Some(m) = metrics
        && let Ok(Err(e)) = m.await
    {
        tracing::warn!("metrics listener: {e}");
    }
    lock.release().await;
    store.close().await;
    result
}

/// One job's place in the loop.
struct Slot {
    spec: &'static JobSpec,
    schedule: cron::Schedule,
    next: Option<DateTime<FixedOffset>>,
    running: bool,
    failures: u32,
}

/// The scheduler loop.
async fn serve(
    ctx: Arc<JobCtx>,
    alerter: Option<Arc<Alerter>>,
    lock: &mut InstanceLock,
    mut shutdown: Pin<&mut impl Future<Output = ()>>,
) -> anyhow::Result<()> {
    let now = wall_clock();
    let mut slots: Vec<Slot> = JOBS
        .iter()
        .filter_map(|spec| {
            let js = ctx.cfg.schedules.iter().find(|s| s.job == spec.name)?;
            let schedule = js.schedule.clone()?;
            Some(Slot { spec, next: next_after(&schedule, &now), schedule, running: false, failures: 0 })
        })
        .collect();
    let watchdog = systemd::watchdog_interval();
    let mut next_watchdog = tokio::time::Instant::now();
    let mut running: JoinSet<anyhow::Result<JobOutcome>> = JoinSet::new();
    let mut by_task: HashMap<tokio::task::Id, usize> = HashMap::new();
    let retry_initial = ctx.cfg.daemon.retry_initial;

    let stop_reason: anyhow::Result<()> = loop {
        let now = wall_clock();
        for (i, slot) in slots.iter_mut().enumerate() {
            if !slot.running && slot.next.is_some_and(|n| n <= now) {
                slot.running = true;
                let handle = running.spawn(run_one(slot.spec, ctx.clone(), alerter.clone()));
                by_task.insert(handle.id(), i);
            }
        }
        if let Some(every) = watchdog
            && tokio::time::Instant::now() >= next_watchdog
        {
            systemd::watchdog();
            next_watchdog = tokio::time::Instant::now() + every;
        }
        if let Err(e) = lock.check().await {
            break Err(anyhow::anyhow!("lost the special account's lock ({}): {e}; stopping", lock.describe()));
        }
        // Sleep until the next tick of an idle job, the next watchdog ping, or a minute at most
        // (so a change of the wall clock is noticed).
        let mut wake = Duration::from_secs(60);
        for slot in slots.iter().filter(|s| !s.running) {
            if let Some(n) = slot.next {
                wake = wake.min((n - now).to_std().unwrap_or(Duration::ZERO));
            }
        }
        if watchdog.is_some() {
            wake = wake.min(next_watchdog.saturating_duration_since(tokio::time::Instant::now()));
        }
        tokio::select! {
            _ = shutdown.as_mut() => break Ok(()),
            Some(done) = running.join_next_with_id() => {
                let (id, result) = match done {
                    Ok((id, r)) => (id, r),
                    Err(e) => (e.id(), Err(anyhow::anyhow!("the job's task failed: {e}"))),
                };
                if let Some(i) = by_task.remove(&id) {
                    finish_slot(&mut slots[i], result.is_ok(), retry_initial);
                    if let (Some(a), Err(e)) = (&alerter, &result)
                        && slots[i].failures == a.job_failures()
                    {
                        let notice = crate::alerts::Notice::JobFailed { job: slots[i].spec.name.into(), failures: slots[i].failures, detail: format!("{e:#}") };
                        let (a, store) = (a.clone(), ctx.store.clone());
                        tokio::spawn(async move {
                            if let Err(e) = a.notify(&store, &notice).await {
                                tracing::error!("alert to finance staff failed: {e}");
                            }
                        });
                    }
                }
            }
            // Wake a little after the tick so `after(now)` has passed it.
            _ = tokio::time::sleep(wake + Duration::from_millis(5)) => {}
        }
    };

    // Stop: no new runs; the running ones finish their transaction (not aborted) within the
    // shutdown timeout.
    systemd::stopping();
    if let Some(a) = &alerter {
        let reason = match &stop_reason {
            Ok(()) => "收到停止信号（systemctl stop 或 SIGTERM/SIGINT）".to_string(),
            Err(e) => format!("运行出错：{e:#}"),
        };
        match tokio::time::timeout(Duration::from_secs(30), a.notify(&ctx.store, &crate::alerts::Notice::Stopping { reason })).await {
            Ok(Err(e)) => tracing::error!("alert to finance staff failed: {e}"),
            Err(_) => {
                tracing::warn!("the stopping alert took longer than 30 s; stopping without it")
            }
            Ok(Ok(())) => {}
        }
    }
    let names: Vec<&str> = slots.iter().filter(|s| s.running).map(|s| s.spec.name).collect();
    if names.is_empty() {
        tracing::info!("stopping: no job running");
    } else {
        tracing::info!(timeout_secs = ctx.cfg.daemon.shutdown_timeout.as_secs(), "stopping: waiting for {} to finish", names.join(", "));
    }
    let drained = tokio::time::timeout(ctx.cfg.daemon.shutdown_timeout, async { while running.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            "stopping: {} still running after {} s; exiting (an unfinished transaction rolls back, and the next start picks up)",
            names.join(", "),
            ctx.cfg.daemon.shutdown_timeout.as_secs()
        );
        running.detach_all();
    }
    tracing::info!("daemon stopped");
    stop_reason
}

/// After a run: the next regular tick, or a retry with backoff after a failure.
fn finish_slot(slot: &mut Slot, ok: bool, retry_initial: Duration) {
    slot.running = false;
    let now = wall_clock();
    let regular = next_after(&slot.schedule, &now);
    if ok {
        slot.failures = 0;
        slot.next = regular;
        return;
    }
    slot.failures += 1;
    let backoff = retry_initial.saturating_mul(1u32 << (slot.failures - 1).min(16));
    let retry = now + chrono::Duration::from_std(backoff).unwrap_or(chrono::Duration::MAX);
    slot.next = Some(match regular {
        Some(r) if r < retry => r,
        _ => retry,
    });
    tracing::info!(job = slot.spec.name, failures = slot.failures, next = %slot.next.map(|n| n.to_rfc3339()).unwrap_or_default(), "job will be retried");
}

/// One run: recorded in `job_runs`, logged with its counts, told to systemd, then the alert.
async fn run_one(spec: &'static JobSpec, ctx: Arc<JobCtx>, alerter: Option<Arc<Alerter>>) -> anyhow::Result<JobOutcome> {
    let job = spec.name;
    let _turn = match &ctx.turn {
        Some(t) => Some(t.clone().lock_owned().await),
        None => None,
    };
    let started = wall_clock_text();
    if let Err(e) = ctx.store.job_started(job, &started).await {
        tracing::error!(job, "cannot record the job's start in job_runs: {e}");
    }
    tracing::info!(job, "job started");
    let t0 = std::time::Instant::now();
    let result = (spec.run)(&ctx).await;
    let elapsed_ms = t0.elapsed().as_millis() as u64;
    let (outcome, detail) = match &result {
        Ok(o) => (RunOutcome::Ok, o.detail.clone()),
        Err(e) => (RunOutcome::Error, format!("{e:#}")),
    };
    if let Err(e) = ctx.store.job_finished(job, &started, &wall_clock_text(), outcome, &detail).await {
        tracing::error!(job, "cannot record the job's end in job_runs: {e}");
    }
    match &result {
        Ok(_) => tracing::info!(job, outcome = outcome.as_str(), elapsed_ms, "job finished: {detail}"),
        Err(_) => tracing::error!(job, outcome = outcome.as_str(), elapsed_ms, "job failed: {detail}"),
    }
    systemd::status(&format!("{job} {} {outcome}, {detail}", wall_clock().format("%Y-%m-%d %H:%M")));
    if let Some(a) = alerter {
        for notice in result.as_ref().map(|o| o.notices.as_slice()).unwrap_or_default() {
            if let Err(e) = a.notify(&ctx.store, notice).await {
                tracing::error!(job, "alert to finance staff failed (kept in job_runs as an alert failure): {e}");
            }
        }
        if let Err(e) = a.after_job(&ctx.store, job).await {
            tracing::error!(job, "alert to finance staff failed (kept in job_runs as an alert failure, sent again after the next job): {e}");
        }
    }
    result
}
