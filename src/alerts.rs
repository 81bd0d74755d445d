//! Alerts to finance staff, as markdown messages to a group robot's webhook (企业微信 WeCom or
//! 钉钉 DingTalk) and/or as e-mail (SMTP with STARTTLS, [`crate::config::EmailAlerts`]):
//!
//! - after a job run, the exceptions raised since the last alert, ONE message, e.g.
//!   "aidpay: 新增 3 条异常（银行拒绝 2，卡号无效 1），请在 aidpay exceptions list 查看";
//! - a job that failed `alerts.job_failures` runs in a row (its retries included), once per streak;
//! - a batch delivered to its bank: how many payments, the total, the bank, per school;
//! - the daemon stopping, and starting again after it had died (a crash, `kill -9`, a power cut);
//! - a grant list with rejected rows: the file, its schools, how many rows and why.
//!
//! Each is a [`Notice`]; [`Notice::message`] makes its Chinese text (title and markdown body).
//!
//! The exceptions are found by id: every exception with an id above the last one alerted (the
//! high-water mark, kept in `job_runs` as job `alert`). A message that cannot be delivered after
//! `alerts.max_attempts` tries is recorded in `job_runs` (`alert`, `error`) and the mark stays
//! where it was, so the same exceptions go out with the next job's alert: never lost silently.
//! The webhook URL carries the robot's key: only its host is ever logged.

use crate::config::{AlertKind, Alerts, EmailAlerts, url_host};
use crate::domain::Fen;
use crate::domain::RunOutcome;
use crate::exceptions::ExceptionKind;
use crate::store::{JobRun, NewExceptionRef, Store, StoreError};
use secrecy::ExposeSecret;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::Mutex;

/// The job name alert outcomes are recorded under in `job_runs`.
pub const ALERT_JOB: &str = "alert";

/// Why an alert could not go out.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("webhook {host}: {reason} (after {attempts} attempts)")]
    Send { host: String, reason: String, attempts: u32 },
    #[error("e-mail via {host}: {reason} (after {attempts} attempts)")]
    Mail { host: String, reason: String, attempts: u32 },
}

/// Something finance staff are told about (besides new exceptions, see [`Alerter::after_job`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A job failed `failures` runs in a row.
    JobFailed { job: String, failures: u32, detail: String },
    /// A batch reached its bank.
    BatchDelivered { batch_id: String, bank: String, payments: i64, total: Fen, schools: Vec<crate::store::SchoolTotal> },
    /// `aidpay run` started again after it had died without stopping.
    StartedAfterCrash { interrupted_runs: u64, last_seen: Option<String> },
    /// `aidpay run` is stopping (SIGTERM, or an error that ends it).
    Stopping { reason: String },
    /// A grant list had rows that could not be imported.
    RowsRejected { file: String, schools: Vec<String>, rows: u64, rejected: u64, reasons: Vec<String> },
    /// The reports job wrote period reports (月调度 / 季汇总 / 半年通报): where they are.
    ReportsWritten { reports: Vec<String> },
}

/// One alert's text: a title (DingTalk's and the e-mail's subject) and the markdown body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub title: String,
    pub markdown: String,
}

/// The job name a notice is recorded under in `job_runs.detail`.
impl Notice {
    pub fn kind(&self) -> &'static str {
        match self {
            Notice::JobFailed { .. } => "job_failed",
            Notice::BatchDelivered { .. } => "batch_delivered",
            Notice::StartedAfterCrash { .. } => "started_after_crash",
            Notice::Stopping { .. } => "stopping",
            Notice::RowsRejected { .. } => "rows_rejected",
            Notice::ReportsWritten { .. } => "reports_written",
        }
    }

    /// The Chinese message finance staff read (machine names only where they type them).
    pub fn message(&self) -> Message {
        match self {
            Notice::ReportsWritten { reports } => Message {
                title: "aidpay 已生成期间报表".to_string(),
                markdown: format!(
                    "### aidpay 已生成期间报表\n{}\n\n请财务人员在报表目录或财务工作台「报表」中查阅。",
                    reports.iter().map(|r| format!("> {r}")).collect::<Vec<_>>().join("\n")
                ),
            },
            Notice::JobFailed { job, failures, detail } => Message {
                title: format!("aidpay 任务失败：{}", job_label(job)),
                markdown: format!(
                    "### aidpay 任务失败\n> 任务：**{}**（{job}）\n> 连续失败：**{failures}** 次（含重试）\n> 最近一次：{}\n\n请系统管理员查看 `journalctl -u aidpay -p err`；任务会按计划继续重试。",
                    job_label(job),
                    one_line(detail, 300)
                ),
            },
            Notice::BatchDelivered { batch_id, bank, payments, total, schools } => {
                let mut md =
                    format!("### aidpay 批次已交银行\n> 银行：**{bank}**\n> 批次：{batch_id}\n> 笔数：**{payments}** 笔\n> 金额：**{total}** 元\n");
                if !schools.is_empty() {
                    md.push_str("\n| 学校 | 笔数 | 金额（元） |\n|---|---|---|\n");
                    for s in schools.iter().take(20) {
                        md.push_str(&format!("| {} | {} | {} |\n", s.school_name, s.payments, Fen(s.amount_fen)));
                    }
                    if schools.len() > 20 {
                        md.push_str(&format!("\n另有 {} 所学校未列出。\n", schools.len() - 20));
                    }
                }
                md.push_str("\n银行回执到达后自动入账核对。");
                Message { title: format!("aidpay 批次已交{bank}：{payments} 笔 {total} 元"), markdown: md }
            }
            Notice::StartedAfterCrash { interrupted_runs, last_seen } => Message {
                title: "aidpay 异常退出后已重新启动".into(),
                markdown: format!(
                    "### aidpay 异常退出后已重新启动\n> 上次运行未正常停止{}\n> 中断的任务：**{interrupted_runs}** 个（已标记为中断，按计划重新执行）\n\n请系统管理员查看 `journalctl -u aidpay` 了解原因。",
                    last_seen.as_deref().map(|t| format!("（启动于 {}）", short_time(t))).unwrap_or_default()
                ),
            },
            Notice::Stopping { reason } => Message {
                title: "aidpay 守护进程正在停止".into(),
                markdown: format!("### aidpay 守护进程正在停止\n> 原因：{}\n\n停止期间不会生成批次、不会导入回执。", one_line(reason, 300)),
            },
            Notice::RowsRejected { file, schools, rows, rejected, reasons } => {
                let mut md = format!(
                    "### aidpay 资助名单有行未导入\n> 文件：**{file}**\n> 学校：{}\n> 未导入：**{rejected}** 行（共 {rows} 行）\n",
                    if schools.is_empty() { "（未能读出）".to_string() } else { schools.join("、") }
                );
                for r in reasons.iter().take(10) {
                    md.push_str(&format!("\n- {r}"));
                }
                if reasons.len() > 10 {
                    md.push_str(&format!("\n- 另有 {} 行未列出", reasons.len() - 10));
                }
                md.push_str("\n\n请学校更正后重新报送；其余各行已导入。");
                Message { title: format!("aidpay 名单 {file} 有 {rejected} 行未导入"), markdown: md }
            }
        }
    }
}

/// A bank profile as finance staff name it: `中国银行（boc）`.
pub fn bank_label(cfg: &crate::config::Config, profile: &str) -> String {
    let known = match profile {
        "boc" => Some("中国银行"),
        "icbc" => Some("中国工商银行"),
        "ccb" => Some("中国建设银行"),
        "abc" => Some("中国农业银行"),
        "bocom" => Some("交通银行"),
        "psbc" => Some("中国邮政储蓄银行"),
        _ => None,
    };
    let from_cards = cfg.bank(profile).and_then(|b| b.card_banks.iter().find(|c| !c.is_ascii()).cloned());
    match known.map(str::to_string).or(from_cards) {
        Some(name) => format!("{name}（{profile}）"),
        None => profile.to_string(),
    }
}

/// A job's name in Chinese.
pub fn job_label(job: &str) -> &str {
    match job {
        "import" => "导入资助名单",
        "batch" => "生成并发送代发批次",
        "ingest" => "导入银行回执",
        "reconcile" => "专户对账",
        "reports" => "生成异常报表",
        other => other,
    }
}

fn one_line(text: &str, max: usize) -> String {
    let t: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.chars().count() > max { format!("{}…", t.chars().take(max).collect::<String>()) } else { t }
}

fn short_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339).map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|_| rfc3339.to_string())
}

/// Sends the alerts of one daemon; jobs share it, one alert at a time.
pub struct Alerter {
    cfg: Alerts,
    client: reqwest::Client,
    /// Exceptions up to this id have been alerted (or existed before the daemon started).
    mark: Mutex<i64>,
}

impl Alerter {
    /// Picks up the high-water mark: the last alert sent, else the exceptions existing now.
    pub async fn new(cfg: Alerts, store: &Store) -> Result<Alerter, StoreError> {
        let last_ok = store
            .runs_of(ALERT_JOB, 500)
            .await?
            .into_iter()
            .filter(|r| r.outcome == Some(RunOutcome::Ok))
            .find_map(|r| r.detail.as_deref().and_then(mark_of));
        let mark = match last_ok {
            Some(m) => m,
            None => store.max_exception_id().await?,
        };
        let client = crate::tls::client_builder().timeout(Duration::from_secs(15)).build().unwrap_or_default();
        Ok(Alerter { cfg, client, mark: Mutex::new(mark) })
    }

    /// Where alerts go, for the log: the webhook's host (the only part that may be shown) and
    /// the mail server.
    pub fn host(&self) -> String {
        let mut to = Vec::new();
        if let Some(u) = &self.cfg.webhook_url {
            to.push(url_host(u.expose_secret()));
        }
        if let Some(m) = &self.cfg.email {
            to.push(format!("smtp {}:{}", m.host, m.port));
        }
        to.join(", ")
    }

    /// After how many failed runs in a row a job is alerted.
    pub fn job_failures(&self) -> u32 {
        self.cfg.job_failures
    }

    /// Sends one message for the exceptions raised since the last alert, if any. Returns how
    /// many it reported.
    pub async fn after_job(&self, store: &Store, job: &str) -> Result<usize, AlertError> {
        let mut mark = self.mark.lock().await;
        let new = store.open_exceptions_after(*mark).await?;
        let Some(last) = new.last().map(|e| e.id) else { return Ok(0) };
        let text = message(&new);
        let msg = Message { title: format!("aidpay 新增 {} 条异常", new.len()), markdown: format!("### aidpay 新增异常\n{text}") };
        let first = new[0].id;
        self.send_recorded(store, &msg, |sent| match sent {
            Ok(()) => format!("up_to={last}; {}之后: {text}", job_label(job)),
            Err(e) => format!("未送达（异常 #{first}–#{last}，{}之后）: {e}", job_label(job)),
        })
        .await?;
        tracing::info!(to = %self.host(), new_exceptions = new.len(), "alert sent to finance staff");
        *mark = last;
        Ok(new.len())
    }

    /// Sends one notice on every channel, recorded in `job_runs` (`alert`, `ok` or `error`).
    pub async fn notify(&self, store: &Store, notice: &Notice) -> Result<(), AlertError> {
        let _one_at_a_time = self.mark.lock().await;
        let msg = notice.message();
        self.send_recorded(store, &msg, |sent| match sent {
            Ok(()) => format!("{}: {}", notice.kind(), msg.title),
            Err(e) => format!("未送达（{}: {}）: {e}", notice.kind(), msg.title),
        })
        .await?;
        tracing::info!(to = %self.host(), notice = notice.kind(), "alert sent to finance staff");
        Ok(())
    }

    /// Sends `msg` and records the attempt in `job_runs` (`alert`, `ok` or `error`, with the
    /// detail `say` words for it), then returns how the sending went.
    async fn send_recorded(&self, store: &Store, msg: &Message, say: impl FnOnce(&Result<(), AlertError>) -> String) -> Result<(), AlertError> {
        let started = crate::scheduler::wall_clock_text();
        let sent = self.send(msg).await;
        let finished = crate::scheduler::wall_clock_text();
        let outcome = if sent.is_ok() { RunOutcome::Ok } else { RunOutcome::Error };
        let detail = say(&sent);
        store
            .record_run(&JobRun {
                job: ALERT_JOB.into(),
                started_at: started,
                finished_at: Some(finished),
                outcome: Some(outcome),
                detail: Some(detail),
            })
            .await?;
        sent
    }

    /// Every configured channel, each with its retries; the first failure is returned after
    /// the others were tried.
    async fn send(&self, msg: &Message) -> Result<(), AlertError> {
        let webhook = match &self.cfg.webhook_url {
            Some(url) => self.send_webhook(url.expose_secret(), msg).await,
            None => Ok(()),
        };
        let mail = match &self.cfg.email {
            Some(m) => self.send_mail(m, msg).await,
            None => Ok(()),
        };
        webhook.and(mail)
    }

    async fn send_webhook(&self, url: &str, msg: &Message) -> Result<(), AlertError> {
        let body = payload(self.cfg.kind, msg);
        let host = url_host(url);
        let mut wait = self.cfg.backoff;
        let mut last = String::new();
        for attempt in 1..=self.cfg.max_attempts {
            match self.post(url, &body).await {
                Ok(()) => return Ok(()),
                Err(reason) => {
                    tracing::warn!(host = %host, attempt, max_attempts = self.cfg.max_attempts, "alert not delivered: {reason}");
                    last = reason;
                }
            }
            if attempt < self.cfg.max_attempts {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(300));
            }
        }
        Err(AlertError::Send { host, reason: last, attempts: self.cfg.max_attempts })
    }

    async fn send_mail(&self, m: &EmailAlerts, msg: &Message) -> Result<(), AlertError> {
        let mut wait = self.cfg.backoff;
        let mut last = String::new();
        for attempt in 1..=self.cfg.max_attempts {
            match mail(m, msg).await {
                Ok(()) => return Ok(()),
                Err(reason) => {
                    tracing::warn!(host = %m.host, attempt, max_attempts = self.cfg.max_attempts, "alert e-mail not delivered: {reason}");
                    last = reason;
                }
            }
            if attempt < self.cfg.max_attempts {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(300));
            }
        }
        Err(AlertError::Mail { host: m.host.clone(), reason: last, attempts: self.cfg.max_attempts })
    }

    /// One POST. Both robots answer HTTP 200 with `{"errcode":0,…}` on success and a non-zero
    /// errcode (bad key, keyword missing, rate limit) otherwise.
    async fn post(&self, url: &str, body: &serde_json::Value) -> Result<(), String> {
        // reqwest's errors can carry the URL: keep only their kind.
        let resp = self.client.post(url).json(body).send().await.map_err(describe)?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("HTTP {}", status.as_u16()));
        }
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(code) = v.get("errcode").and_then(|c| c.as_i64())
            && code != 0
        {
            let msg = v.get("errmsg").and_then(|m| m.as_str()).unwrap_or("");
            return Err(format!("errcode {code}: {}", msg.chars().take(120).collect::<String>()));
        }
        Ok(())
    }
}

/// One e-mail over SMTP, STARTTLS required (a server that does not offer it is an error, so the
/// password never crosses the network in clear). The body is the markdown, readable as text.
async fn mail(m: &EmailAlerts, msg: &Message) -> Result<(), String> {
    use lettre::message::{Mailbox, header::ContentType};
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    crate::tls::install_provider();
    let mut tls = TlsParameters::builder(m.host.clone());
    if let Some(ca) = &m.ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("alerts.smtp_ca_file {}: {e}", ca.display()))?;
        tls = tls.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| format!("alerts.smtp_ca_file {}: {e}", ca.display()))?);
    }
    let tls = tls.build_rustls().map_err(|e| format!("TLS: {e}"))?;
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(m.host.as_str())
        .port(m.port)
        .tls(Tls::Required(tls))
        .timeout(Some(Duration::from_secs(30)));
    if let (Some(user), Some(pw)) = (&m.user, &m.password) {
        transport = transport.credentials(Credentials::new(user.clone(), pw.expose_secret().to_string()));
    }
    let from: Mailbox = m.from.parse().map_err(|e| format!("alerts.mail_from: {e}"))?;
    let mut builder = lettre::Message::builder().from(from).subject(msg.title.clone()).header(ContentType::TEXT_PLAIN);
    for to in &m.to {
        builder = builder.to(to.parse().map_err(|e| format!("alerts.mail_to {to}: {e}"))?);
    }
    let email = builder.body(msg.markdown.clone()).map_err(|e| format!("building the e-mail: {e}"))?;
    transport.build().send(email).await.map(|_| ()).map_err(|e| format!("SMTP: {e}"))
}

fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else {
        format!("request failed: {e}")
    }
}

fn mark_of(detail: &str) -> Option<i64> {
    detail.strip_prefix("up_to=")?.split(';').next()?.trim().parse().ok()
}

/// The Chinese text: the count, then per kind (most first), then where to look.
pub fn message(new: &[NewExceptionRef]) -> String {
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for e in new {
        *by_kind.entry(e.kind.as_str()).or_default() += 1;
    }
    let mut kinds: Vec<(&str, usize)> = by_kind.into_iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let parts: Vec<String> = kinds.iter().map(|(k, n)| format!("{} {n}", ExceptionKind::parse(k).map(|k| k.label_zh()).unwrap_or(k))).collect();
    format!("aidpay: 新增 {} 条异常（{}），请在 aidpay exceptions list 查看", new.len(), parts.join("，"))
}

/// The group robot's JSON for a markdown message: WeCom takes `markdown.content`, DingTalk
/// `markdown.title` (shown in the chat list) and `markdown.text`.
pub fn payload(kind: AlertKind, msg: &Message) -> serde_json::Value {
    match kind {
        AlertKind::WeCom => serde_json::json!({ "msgtype": "markdown", "markdown": { "content": msg.markdown } }),
        AlertKind::DingTalk => serde_json::json!({ "msgtype": "markdown", "markdown": { "title": msg.title, "text": msg.markdown } }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_kind_most_first() {
        let e = |id, kind: &str| NewExceptionRef { id, kind: kind.into() };
        let text = message(&[e(1, "invalid_card"), e(2, "bank_rejected"), e(3, "bank_rejected")]);
        assert_eq!(text, "aidpay: 新增 3 条异常（银行拒绝 2，卡号无效 1），请在 aidpay exceptions list 查看");
        assert_eq!(mark_of("up_to=14; after batch: …"), Some(14));
    }
}
