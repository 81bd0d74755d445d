//! Configuration in two stages (as ripgrep does with its flags): the raw TOML plus
//! `AIDPAY_SECTION__KEY` environment overrides are deserialised into [`Settings`], then checked and
//! turned into a [`Config`] whose standards and stages are parsed. A mistake stops start-up with the
//! key that is wrong and why.

mod schedules;
mod standards;

pub use schedules::parse_cron;
pub use standards::{Standards, TierRule};

use crate::domain::{Fen, Stage, Tier};
use crate::formats::domestic::DomesticProfile;
use crate::formats::pain001::Pain001Version;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the configuration is looked for when `--config` is not given.
pub const DEFAULT_PATHS: [&str; 2] = ["config/aidpay.toml", "/etc/aidpay/aidpay.toml"];

/// What is wrong with the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no configuration file: tried {0}")]
    NotFound(String),
    #[error("configuration {path}: {source}")]
    Load { path: String, source: config::ConfigError },
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), reason: reason.into() }
}

// ---------------------------------------------------------------- raw settings (serde)

/// The configuration file as written, before checking.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub paths: PathSettings,
    pub account: AccountSettings,
    #[serde(default)]
    pub intake: IntakeSettings,
    #[serde(default)]
    pub standards: Vec<StandardSettings>,
    #[serde(default)]
    pub returns: ReturnsSettings,
    #[serde(default)]
    pub reconcile: ReconcileSettings,
    /// `[banks.<name>]`: how batches reach each bank. Names lower-case (environment overrides
    /// arrive lower-cased).
    #[serde(default)]
    pub banks: BTreeMap<String, BankSettings>,
    /// `[schedule]`: job name → cron expression (`aidpay run`); unknown names are an error.
    #[serde(default)]
    pub schedule: BTreeMap<String, String>,
    #[serde(default)]
    pub daemon: DaemonSettings,
    #[serde(default)]
    pub alerts: AlertSettings,
    /// `[approval]`: what needs a second person. Absent: nothing does (as before).
    #[serde(default)]
    pub approval: Option<ApprovalSettings>,
    #[serde(default)]
    pub console: ConsoleSettings,
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub reports: ReportSettings,
    #[serde(default)]
    pub security: SecuritySettings,
}

/// `[metrics]`: the Prometheus scrape endpoint of `aidpay run` ([`crate::metrics`]).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// `127.0.0.1:9187` serves `GET /metrics` there while the daemon runs; absent: off.
    pub listen: Option<String>,
}

/// `[reports]`: which period reports the daemon's `reports` job writes once a period has ended.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// 月调度: the month's report on the 1st of the next month.
    #[serde(default = "yes")]
    pub monthly: bool,
    /// 季汇总: the quarter's report once it has ended.
    #[serde(default = "yes")]
    pub quarterly: bool,
    /// 半年通报: the half-year's report once it has ended.
    #[serde(default = "yes")]
    pub half_yearly: bool,
    /// `xlsx` (default), `html` or `csv`.
    #[serde(default = "xlsx")]
    pub period_format: String,
}

fn yes() -> bool {
    true
}

fn xlsx() -> String {
    "xlsx".into()
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings { monthly: true, quarterly: true, half_yearly: true, period_format: xlsx() }
    }
}

impl ReportSettings {
    /// The checked format.
    pub fn format(&self) -> Option<crate::reports::ReportFormat> {
        match self.period_format.trim() {
            "xlsx" => Some(crate::reports::ReportFormat::Xlsx),
            "html" => Some(crate::reports::ReportFormat::Html),
            "csv" => Some(crate::reports::ReportFormat::Csv),
            _ => None,
        }
    }
}

/// `[security]`: where the data key that encrypts card and ID numbers at rest comes from, when
/// it is neither the systemd credential `data_key` nor `AIDPAY_DATA_KEY`. Never the key itself.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// A key file of mode 0600 (`aidpay keys init` writes one).
    #[serde(default)]
    pub data_key_file: Option<PathBuf>,
}

/// `[approval]`: four eyes (双人复核) on what moves money or changes where it goes.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSettings {
    /// New batches wait for a reviewer before anything reaches the bank.
    #[serde(default)]
    pub batches: bool,
    /// A re-issue to another card or holder, and a school's re-send that changes a card.
    #[serde(default)]
    pub card_changes: bool,
    #[serde(default)]
    pub cancellations: bool,
    #[serde(default)]
    pub accepts: bool,
}

/// `[console]`: the finance office's web console.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSettings {
    /// `127.0.0.1:8470` switches the console on (in `aidpay run`; `aidpay console` serves it alone).
    pub listen: Option<String>,
    /// TLS certificate and key (PEM files); without them plain HTTP, for a reverse proxy in front.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

/// `[daemon]`: how `aidpay run` behaves.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonSettings {
    /// When another daemon holds the special account's lock: `exit` (status 1) or `wait`.
    #[serde(default = "default_on_lock")]
    pub on_lock: String,
    /// The lock file with SQLite [default: the database file + `.lock`].
    #[serde(default)]
    pub lock_file: Option<PathBuf>,
    /// On SIGTERM, how long a running job may take to finish its transaction.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout_secs: u64,
    /// The first retry after a failed job; doubled per failure, capped at the schedule interval.
    #[serde(default = "default_retry_initial")]
    pub retry_initial_secs: u64,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        DaemonSettings {
            on_lock: default_on_lock(),
            lock_file: None,
            shutdown_timeout_secs: default_shutdown_timeout(),
            retry_initial_secs: default_retry_initial(),
        }
    }
}

fn default_on_lock() -> String {
    "exit".into()
}
fn default_shutdown_timeout() -> u64 {
    90
}
fn default_retry_initial() -> u64 {
    30
}

/// `[alerts]`: one message to finance staff when a job run raises new exceptions.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// The group robot's webhook URL (its `key`/`access_token` is the secret): only from the
    /// environment (`AIDPAY_ALERTS__WEBHOOK_URL`) or the credential `alert_webhook`.
    #[serde(default)]
    pub webhook_url: Option<SecretString>,
    /// `wecom` (企业微信群机器人) or `dingtalk` (钉钉自定义机器人).
    #[serde(default = "default_alert_kind")]
    pub kind: String,
    /// Attempts per message before it is recorded as an alert failure.
    #[serde(default = "default_alert_attempts")]
    pub max_attempts: u32,
    /// The wait after the first failed attempt; doubled per attempt.
    #[serde(default = "default_alert_backoff")]
    pub backoff_ms: u64,
    /// A job that fails this many runs in a row (its retries included) is alerted, once per streak.
    #[serde(default = "default_job_failures")]
    pub job_failures: u32,
    /// E-mail, the third channel: the SMTP server (STARTTLS on `smtp_port`, required). Absent: no mail.
    #[serde(default)]
    pub smtp_host: Option<String>,
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
    #[serde(default)]
    pub smtp_user: Option<String>,
    /// Only from the environment (`AIDPAY_ALERTS__SMTP_PASSWORD`) or the credential
    /// `alert_smtp_password`: a configuration file that sets it is refused.
    #[serde(default)]
    pub smtp_password: Option<SecretString>,
    /// A CA certificate (PEM) to trust besides the system's, for a district's own mail server.
    #[serde(default)]
    pub smtp_ca_file: Option<PathBuf>,
    #[serde(default)]
    pub mail_from: Option<String>,
    /// Recipients, separated by commas.
    #[serde(default)]
    pub mail_to: Option<String>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            webhook_url: None,
            kind: default_alert_kind(),
            max_attempts: default_alert_attempts(),
            backoff_ms: default_alert_backoff(),
            job_failures: default_job_failures(),
            smtp_host: None,
            smtp_port: default_smtp_port(),
            smtp_user: None,
            smtp_password: None,
            smtp_ca_file: None,
            mail_from: None,
            mail_to: None,
        }
    }
}

impl fmt::Debug for AlertSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertSettings")
            .field("webhook_url", &self.webhook_url.as_ref().map(|u| url_host(u.expose_secret())))
            .field("kind", &self.kind)
            .field("max_attempts", &self.max_attempts)
            .field("backoff_ms", &self.backoff_ms)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_user", &self.smtp_user)
            .field("smtp_password", &self.smtp_password.as_ref().map(|_| "(set)"))
            .finish()
    }
}

fn default_alert_kind() -> String {
    "wecom".into()
}
fn default_alert_attempts() -> u32 {
    4
}
fn default_alert_backoff() -> u64 {
    2000
}
fn default_job_failures() -> u32 {
    3
}
fn default_smtp_port() -> u16 {
    587
}

/// The host of a URL, the only part of a webhook URL that may be shown.
pub fn url_host(url: &str) -> String {
    reqwest::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_else(|| "(not a URL)".into())
}

/// `[returns]`: bank answers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnsSettings {
    /// A payment with no final status this many days after it was sent is `no_answer`.
    #[serde(default = "default_no_answer_days")]
    pub no_answer_days: i64,
    /// Extra Chinese reason texts → ISO codes, e.g. `"收款账户异常" = "AC06"` (win over the defaults).
    #[serde(default)]
    pub reasons: HashMap<String, String>,
}

impl Default for ReturnsSettings {
    fn default() -> Self {
        ReturnsSettings { no_answer_days: default_no_answer_days(), reasons: HashMap::new() }
    }
}

fn default_no_answer_days() -> i64 {
    5
}

/// `[reconcile]`: the special account's statements against what was paid.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileSettings {
    /// Counterpart accounts whose credits are fiscal allocations (财政拨付), e.g. the finance
    /// bureau's account.
    #[serde(default)]
    pub allocation_accounts: Vec<String>,
    /// A failed payment whose money has not come back this many days after it failed is
    /// `return_not_credited`.
    #[serde(default = "default_return_days")]
    pub return_days: i64,
    /// A batch debit without our batch id is matched by amount within this many days of the
    /// batch's execution date.
    #[serde(default = "default_debit_days")]
    pub debit_match_days: i64,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        ReconcileSettings { allocation_accounts: Vec::new(), return_days: default_return_days(), debit_match_days: default_debit_days() }
    }
}

fn default_return_days() -> i64 {
    10
}
fn default_debit_days() -> i64 {
    7
}

/// `[banks.<name>]`: one bank profile — which cards it pays, the file format, the transport.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankSettings {
    /// `domestic`, `pain.001.001.09` or `pain.001.001.03`.
    pub format: String,
    /// Card banks this profile pays (names or CNAPS codes, matched as substrings of the grant's
    /// 开户银行); empty for the default profile that pays every other card.
    #[serde(default)]
    pub card_banks: Vec<String>,
    /// The most payment lines per file (a bank's cap, e.g. 5000; 500 for other-bank cards).
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
    /// Remittance text per payment; `{period}` and `{program}` are replaced.
    #[serde(default = "default_remittance")]
    pub remittance: String,
    /// How the bank books a batch on the special account: `gross` (the whole batch as one debit,
    /// failed payments' money back later as return credits) or `net` (only what went through).
    #[serde(default = "default_booking")]
    pub booking: String,
    /// `dropfolder` or `gateway`.
    pub transport: String,
    /// The bank front-end's drop folder (transport = dropfolder).
    #[serde(default)]
    pub drop_dir: Option<PathBuf>,
    /// The gateway's base URL (transport = gateway).
    #[serde(default)]
    pub gateway_url: Option<String>,
    /// The gateway's signing key: only from the environment, `AIDPAY_BANKS__<NAME>__GATEWAY_KEY`.
    #[serde(default)]
    pub gateway_key: Option<SecretString>,
    #[serde(default = "default_gateway_timeout")]
    pub gateway_timeout_secs: u64,
    #[serde(default = "default_gateway_attempts")]
    pub gateway_max_attempts: u32,
    /// The delimited template (format = domestic).
    #[serde(default)]
    pub domestic: Option<DomesticProfile>,
    /// This bank sends statements or notifications that name no account (an excerpt without
    /// `Acct`, as PostFinance's): they are taken as this account's, which must be the special
    /// account of this configuration (`account.number`). Without it such a file is refused.
    #[serde(default)]
    pub statements_without_account: Option<String>,
}

fn default_booking() -> String {
    "gross".into()
}

fn default_max_lines() -> usize {
    5000
}
fn default_remittance() -> String {
    "{period} {program}".into()
}
fn default_gateway_timeout() -> u64 {
    30
}
fn default_gateway_attempts() -> u32 {
    5
}

/// The file format of a bank profile.
#[derive(Debug, Clone)]
pub enum BankFormat {
    Pain001(Pain001Version),
    Domestic(Box<DomesticProfile>),
}

impl BankFormat {
    pub fn name(&self) -> &'static str {
        match self {
            BankFormat::Pain001(v) => v.as_str(),
            BankFormat::Domestic(_) => "domestic",
        }
    }
}

/// How files reach a bank.
#[derive(Debug, Clone)]
pub enum Transport {
    DropFolder(PathBuf),
    Gateway(crate::transport::GatewaySettings),
}

/// A checked bank profile.
#[derive(Debug, Clone)]
pub struct BankProfile {
    pub name: String,
    pub format: BankFormat,
    pub card_banks: Vec<String>,
    pub max_lines: usize,
    pub remittance: String,
    pub transport: Transport,
    /// `true`: gross booking; `false`: net.
    pub gross: bool,
    /// `statements_without_account`: the bank sends statements naming no account, and they are
    /// the special account's (checked against `account.number` at start).
    pub statements_without_account: Option<String>,
}

impl BankProfile {
    /// The remittance text for a grant.
    pub fn remittance_for(&self, period: &str, program: &str) -> String {
        self.remittance.replace("{period}", period).replace("{program}", program)
    }
}

/// `[database]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://var/aidpay.db?mode=rwc` or `postgres://user@host/db`.
    pub url: String,
    /// Put into the URL at connect time; set it with `AIDPAY_DATABASE__PASSWORD`, not in the file.
    #[serde(default)]
    pub password: Option<SecretString>,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// SQLite's page cache for the whole pool, in MB, shared out evenly among the connections
    /// (`store::PoolSize`). Default 64.
    #[serde(default = "default_page_cache_mb")]
    pub page_cache_mb: u32,
}

fn default_max_connections() -> u32 {
    4
}

/// `[database] page_cache_mb` when unset.
pub const DEFAULT_PAGE_CACHE_MB: u32 = 64;

fn default_page_cache_mb() -> u32 {
    DEFAULT_PAGE_CACHE_MB
}

impl fmt::Debug for DatabaseSettings {
    // A URL may carry a password: print it redacted (atuin does the same).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(&self.url))
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("max_connections", &self.max_connections)
            .field("page_cache_mb", &self.page_cache_mb)
            .finish()
    }
}

/// `scheme://user:secret@host` → `scheme://user:***@host`.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && let Some((user, _)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_string()
}

/// `[paths]`: folders aidpay reads and writes; created at start if missing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathSettings {
    pub inbox: PathBuf,
    pub outbox: PathBuf,
    pub quarantine: PathBuf,
    pub reports: PathBuf,
    /// A group (of /etc/group) that may read the reports: they are then created 0640 and given
    /// to it, else 0600 (finance staff read them through that group).
    #[serde(default)]
    pub reports_group: Option<String>,
}

/// `[account]`: the special account (资助专户) that pays.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    pub number: String,
    pub name: String,
    pub bank: String,
    #[serde(default)]
    pub cnaps: Option<String>,
    /// The account's currency (ISO 4217): statements in any other are refused. Default CNY.
    #[serde(default = "default_currency")]
    pub currency: String,
}

fn default_currency() -> String {
    "CNY".into()
}

/// Account numbers compared as banks print them (spaces and dashes ignored, letters in any case).
pub use crate::formats::camt::same_account;

/// `[intake]`: rules for grant lists.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeSettings {
    /// Stages whose aid may be paid to a guardian's card; in the others the holder must be the student.
    #[serde(default = "default_guardian_stages")]
    pub guardian_card_stages: Vec<String>,
    /// Reported rejected rows per file in `--json` (the counts are always complete).
    #[serde(default = "default_max_listed_errors")]
    pub max_listed_errors: usize,
}

impl Default for IntakeSettings {
    fn default() -> Self {
        IntakeSettings { guardian_card_stages: default_guardian_stages(), max_listed_errors: default_max_listed_errors() }
    }
}

fn default_guardian_stages() -> Vec<String> {
    vec!["学前".into(), "小学".into(), "初中".into()]
}

fn default_max_listed_errors() -> usize {
    1000
}

/// One `[[standards]]` entry: the amount for program × stage × tier (optionally one term only).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandardSettings {
    pub program: String,
    pub stage: String,
    /// A tier, or `*` for a program paid the same at every tier.
    pub tier: String,
    /// Yuan as text (`"1250.00"`), so no float ever touches it.
    pub amount: String,
    #[serde(default)]
    pub period: Option<String>,
}

// ---------------------------------------------------------------- checked config

fn check_banks(raw: BTreeMap<String, BankSettings>, account: &str) -> Result<Vec<BankProfile>, ConfigError> {
    let mut out = Vec::new();
    for (name, b) in raw {
        let key = |field: &str| format!("banks.{name}.{field}");
        let format = match b.format.trim() {
            "domestic" => {
                let d = b.domestic.ok_or_else(|| invalid(key("domestic"), "format = \"domestic\" needs a [banks.<name>.domestic] template"))?;
                d.check().map_err(|e| invalid(key("domestic"), e))?;
                BankFormat::Domestic(Box::new(d))
            }
            "pain.001.001.09" => BankFormat::Pain001(Pain001Version::V09),
            "pain.001.001.03" => BankFormat::Pain001(Pain001Version::V03),
            other => return Err(invalid(key("format"), format!("'{other}' is not domestic, pain.001.001.09 or pain.001.001.03"))),
        };
        let mut max_lines = b.max_lines;
        if let BankFormat::Domestic(d) = &format {
            max_lines = max_lines.min(d.max_lines);
        }
        if max_lines == 0 {
            return Err(invalid(key("max_lines"), "must be at least 1"));
        }
        let transport = match b.transport.trim() {
            "dropfolder" => Transport::DropFolder(b.drop_dir.ok_or_else(|| invalid(key("drop_dir"), "transport = \"dropfolder\" needs drop_dir"))?),
            "gateway" => {
                let url = b.gateway_url.ok_or_else(|| invalid(key("gateway_url"), "transport = \"gateway\" needs gateway_url"))?;
                let key_secret = b.gateway_key.ok_or_else(|| {
                    invalid(
                        key("gateway_key"),
                        format!(
                            "missing: set AIDPAY_BANKS__{}__GATEWAY_KEY in the environment or the systemd credential gateway_key_{name}",
                            name.to_uppercase()
                        ),
                    )
                })?;
                Transport::Gateway(crate::transport::GatewaySettings {
                    base_url: url,
                    key: key_secret,
                    timeout: Duration::from_secs(b.gateway_timeout_secs.max(1)),
                    max_attempts: b.gateway_max_attempts.max(1),
                    initial_backoff: Duration::from_millis(500),
                })
            }
            other => return Err(invalid(key("transport"), format!("'{other}' is not dropfolder or gateway"))),
        };
        let gross = match b.booking.trim() {
            "gross" => true,
            "net" => false,
            other => return Err(invalid(key("booking"), format!("'{other}' is not gross or net"))),
        };
        let statements_without_account = match b.statements_without_account.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(named) if same_account(named, account) => Some(named.to_string()),
            Some(named) => {
                return Err(invalid(
                    key("statements_without_account"),
                    format!(
                        "'{named}' is not this configuration's special account ({account}); statements naming no account can only be taken as account.number's"
                    ),
                ));
            }
        };
        out.push(BankProfile {
            name,
            format,
            card_banks: b.card_banks,
            max_lines,
            remittance: b.remittance,
            transport,
            gross,
            statements_without_account,
        });
    }
    if !out.is_empty() && out.iter().filter(|p| p.card_banks.is_empty()).count() != 1 {
        return Err(invalid("banks", "exactly one bank profile must have no card_banks (the default for every other card)"));
    }
    Ok(out)
}

fn check_schedules(raw: &BTreeMap<String, String>) -> Result<Vec<JobSchedule>, ConfigError> {
    let jobs = crate::scheduler::JOBS;
    if let Some(unknown) = raw.keys().find(|k| !jobs.iter().any(|j| j.name == k.as_str())) {
        let names: Vec<&str> = jobs.iter().map(|j| j.name).collect();
        return Err(invalid(format!("schedule.{unknown}"), format!("not a job (jobs: {})", names.join(", "))));
    }
    jobs.iter()
        .map(|j| {
            let text = raw.get(j.name).map(String::as_str).unwrap_or(j.default_schedule);
            let (expr, schedule) = parse_cron(text).map_err(|e| invalid(format!("schedule.{}", j.name), e))?;
            Ok(JobSchedule { job: j.name, expr, schedule })
        })
        .collect()
}

fn check_daemon(d: &DaemonSettings) -> Result<Daemon, ConfigError> {
    let on_lock = match d.on_lock.trim() {
        "exit" => OnLock::Exit,
        "wait" => OnLock::Wait,
        other => return Err(invalid("daemon.on_lock", format!("'{other}' is not exit or wait"))),
    };
    if d.retry_initial_secs == 0 {
        return Err(invalid("daemon.retry_initial_secs", "must be at least 1"));
    }
    Ok(Daemon {
        on_lock,
        lock_file: d.lock_file.clone(),
        shutdown_timeout: Duration::from_secs(d.shutdown_timeout_secs),
        retry_initial: Duration::from_secs(d.retry_initial_secs),
    })
}

fn check_alerts(a: AlertSettings) -> Result<Option<Alerts>, ConfigError> {
    let kind = match a.kind.trim() {
        "wecom" => AlertKind::WeCom,
        "dingtalk" => AlertKind::DingTalk,
        other => return Err(invalid("alerts.kind", format!("'{other}' is not wecom or dingtalk"))),
    };
    let webhook_url = match a.webhook_url {
        Some(url) if !url.expose_secret().trim().is_empty() => {
            match reqwest::Url::parse(url.expose_secret().trim()) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
                // The URL holds the robot's key: say what is wrong without showing it.
                _ => return Err(invalid("alerts.webhook_url", "not an http(s) URL with a host")),
            }
            Some(SecretString::from(url.expose_secret().trim().to_string()))
        }
        _ => None,
    };
    let email = match a.smtp_host.as_deref().map(str::trim).filter(|h| !h.is_empty()) {
        None => None,
        Some(host) => {
            let from = a.mail_from.as_deref().map(str::trim).filter(|f| f.contains('@'));
            let Some(from) = from else { return Err(invalid("alerts.mail_from", "an e-mail address is needed with smtp_host")) };
            let to: Vec<String> = a.mail_to.as_deref().unwrap_or("").split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect();
            if to.is_empty() || to.iter().any(|t| !t.contains('@')) {
                return Err(invalid("alerts.mail_to", "one or more e-mail addresses, separated by commas, are needed with smtp_host"));
            }
            if a.smtp_user.is_some() != a.smtp_password.is_some() {
                return Err(invalid(
                    "alerts.smtp_password",
                    "smtp_user and the password go together (the password from AIDPAY_ALERTS__SMTP_PASSWORD or the credential alert_smtp_password)",
                ));
            }
            Some(EmailAlerts {
                host: host.to_string(),
                port: a.smtp_port,
                user: a.smtp_user.clone(),
                password: a.smtp_password,
                ca_file: a.smtp_ca_file.clone(),
                from: from.to_string(),
                to,
            })
        }
    };
    if webhook_url.is_none() && email.is_none() {
        return Ok(None);
    }
    if a.max_attempts == 0 {
        return Err(invalid("alerts.max_attempts", "must be at least 1"));
    }
    if a.job_failures == 0 {
        return Err(invalid("alerts.job_failures", "must be at least 1"));
    }
    Ok(Some(Alerts {
        webhook_url,
        kind,
        max_attempts: a.max_attempts,
        backoff: Duration::from_millis(a.backoff_ms),
        job_failures: a.job_failures,
        email,
    }))
}

/// The validation rules intake applies, taken from the configuration.
#[derive(Debug, Clone)]
pub struct Rules {
    pub guardian_card_stages: HashSet<Stage>,
    pub standards: Standards,
}

/// The checked configuration every command works from.
#[derive(Debug)]
pub struct Config {
    pub source: PathBuf,
    pub database: DatabaseSettings,
    pub paths: PathSettings,
    pub account: AccountSettings,
    pub rules: Rules,
    pub max_listed_errors: usize,
    /// Bank profiles by name; the one with no `card_banks` is the default.
    pub banks: Vec<BankProfile>,
    pub no_answer_days: i64,
    /// Domestic reason texts → ISO reason codes (defaults plus `[returns.reasons]`).
    pub reasons: crate::domain::reason::ReasonTable,
    pub reconcile: ReconcileSettings,
    /// Every job of `aidpay run` with its schedule (`None`: switched off), in the scheduler's order.
    pub schedules: Vec<JobSchedule>,
    pub daemon: Daemon,
    /// The webhook for new exceptions, when one is configured.
    pub alerts: Option<Alerts>,
    /// What needs a second person (all off without an `[approval]` section).
    pub approval: ApprovalSettings,
    pub console: ConsoleSettings,
    /// Where `aidpay run` serves `/metrics`, when configured.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The period reports the daemon writes (`[reports]`; all three by default).
    pub reports: ReportSettings,
    pub security: SecuritySettings,
}

/// One job's checked schedule.
#[derive(Debug, Clone)]
pub struct JobSchedule {
    pub job: &'static str,
    /// As written (5-field input shown with the `0 ` seconds prepended).
    pub expr: String,
    /// `None` when the job is switched off (`"off"` or `""`).
    pub schedule: Option<cron::Schedule>,
}

/// What to do when another daemon holds the special account's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnLock {
    Exit,
    Wait,
}

/// `[daemon]`, checked.
#[derive(Debug, Clone)]
pub struct Daemon {
    pub on_lock: OnLock,
    pub lock_file: Option<PathBuf>,
    pub shutdown_timeout: Duration,
    pub retry_initial: Duration,
}

/// The group robot the alerts go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    WeCom,
    DingTalk,
}

/// `[alerts]`, checked: a webhook, e-mail, or both.
#[derive(Clone)]
pub struct Alerts {
    pub webhook_url: Option<SecretString>,
    pub kind: AlertKind,
    pub max_attempts: u32,
    pub backoff: Duration,
    pub job_failures: u32,
    pub email: Option<EmailAlerts>,
}

/// The e-mail channel: SMTP with STARTTLS required.
#[derive(Clone)]
pub struct EmailAlerts {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<SecretString>,
    pub ca_file: Option<PathBuf>,
    pub from: String,
    pub to: Vec<String>,
}

impl fmt::Debug for Alerts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alerts")
            .field("host", &self.webhook_url.as_ref().map(|u| url_host(u.expose_secret())))
            .field("kind", &self.kind)
            .field("max_attempts", &self.max_attempts)
            .field("smtp", &self.email.as_ref().map(|e| format!("{}:{} → {}", e.host, e.port, e.to.join(","))))
            .finish()
    }
}

/// Secrets from systemd credentials (`LoadCredential=`): files under `$CREDENTIALS_DIRECTORY`,
/// read only where the environment has not set the value. `gateway_key_<bank>` (or `gateway_key`
/// for every gateway bank), `database_password`, `alert_webhook` (each also as `aidpay_<name>`).
fn apply_credentials(s: &mut Settings, dir: &Path) -> Result<(), ConfigError> {
    // `LoadCredential=aidpay:/etc/aidpay/credentials` (a folder) names each file `aidpay_<file>`;
    // `LoadCredential=<name>:<file>` names it `<name>`. Both are read.
    let read = |name: &str| -> Result<Option<SecretString>, ConfigError> {
        for file in [name.to_string(), format!("aidpay_{name}")] {
            let p = dir.join(&file);
            match std::fs::read_to_string(&p) {
                Ok(text) => return Ok(Some(SecretString::from(text.trim_end_matches(['\r', '\n']).to_string()))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(invalid(format!("credential {name}"), format!("{}: {e}", p.display()))),
            }
        }
        Ok(None)
    };
    for (name, b) in s.banks.iter_mut() {
        if b.gateway_key.is_none() && b.transport.trim() == "gateway" {
            b.gateway_key = match read(&format!("gateway_key_{name}"))? {
                Some(k) => Some(k),
                None => read("gateway_key")?,
            };
        }
    }
    if s.database.password.is_none() {
        s.database.password = read("database_password")?;
    }
    if s.alerts.webhook_url.is_none() {
        s.alerts.webhook_url = read("alert_webhook")?;
    }
    if s.alerts.smtp_password.is_none() {
        s.alerts.smtp_password = read("alert_smtp_password")?;
    }
    Ok(())
}

impl Config {
    /// Loads `path` (or the default locations) with the process environment as overrides.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_with_env(path, None)
    }

    /// As [`Config::load`], with the environment given explicitly (tests).
    pub fn load_with_env(path: Option<&Path>, env: Option<HashMap<String, String>>) -> Result<Config, ConfigError> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => DEFAULT_PATHS.iter().map(PathBuf::from).find(|p| p.exists()).ok_or_else(|| ConfigError::NotFound(DEFAULT_PATHS.join(", ")))?,
        };
        let shown = path.display().to_string();
        if !path.exists() {
            return Err(ConfigError::NotFound(shown));
        }
        // systemd credentials: from the process, or from the map a test gives.
        let credentials = match &env {
            Some(m) => m.get("CREDENTIALS_DIRECTORY").map(PathBuf::from),
            None => std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from),
        };
        // Only AIDPAY_SECTION__KEY names a key; AIDPAY_LOG, AIDPAY_NOW and the like are not config.
        let env: HashMap<String, String> = env
            .map(|m| m.into_iter().collect::<Vec<_>>())
            .unwrap_or_else(|| std::env::vars().collect())
            .into_iter()
            .filter(|(k, _)| k.strip_prefix("AIDPAY_").is_some_and(|rest| rest.contains("__")))
            .collect();
        // Values from the environment stay strings (an account number "0012345" keeps its zeros);
        // serde converts the ones that are numbers.
        let builder = config::Config::builder()
            .add_source(config::File::from(path.clone()).format(config::FileFormat::Toml))
            .add_source(config::Environment::with_prefix("AIDPAY").prefix_separator("_").separator("__").source(Some(env)));
        // The SMTP password never sits in the file (readable by whoever reads the configuration).
        let file_only = config::Config::builder().add_source(config::File::from(path.clone()).format(config::FileFormat::Toml)).build();
        if let Ok(f) = &file_only
            && f.get_string("alerts.smtp_password").is_ok()
        {
            return Err(invalid(
                "alerts.smtp_password",
                format!("{shown} must not hold the password: set AIDPAY_ALERTS__SMTP_PASSWORD or the credential alert_smtp_password"),
            ));
        }
        let mut settings: Settings =
            builder.build().and_then(|c| c.try_deserialize()).map_err(|source| ConfigError::Load { path: shown.clone(), source })?;
        if let Some(dir) = credentials.filter(|d| !d.as_os_str().is_empty()) {
            apply_credentials(&mut settings, &dir)?;
        }
        Config::check(path, settings)
    }

    /// A configuration from TOML text, read and checked as [`Config::load`] reads and checks a
    /// file (without environment overrides or systemd credentials); `source` names it in errors.
    /// For the fuzzers (tests/fuzz/) and tests.
    pub fn from_toml(text: &str, source: &Path) -> Result<Config, ConfigError> {
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| ConfigError::Load { path: source.display().to_string(), source: e })?;
        Config::check(source.to_path_buf(), settings)
    }

    /// The second stage: every value parsed, every rule checked.
    pub fn check(source: PathBuf, s: Settings) -> Result<Config, ConfigError> {
        let url = s.database.url.trim();
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(invalid("database.url", format!("'{}' is neither sqlite:… nor postgres://…", redact_url(url))));
        }
        if s.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        if s.database.page_cache_mb == 0 {
            return Err(invalid("database.page_cache_mb", "must be at least 1 (MB, for the whole pool)"));
        }
        if let Some(g) = &s.paths.reports_group
            && crate::files::group_id(g).is_none()
        {
            return Err(invalid("paths.reports_group", format!("组 '{g}' 在 /etc/group 中不存在 (no such group)")));
        }
        let digits = s.account.number.chars().filter(|c| !c.is_whitespace()).count();
        if digits == 0 || !s.account.number.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-') {
            return Err(invalid("account.number", "must be the special account's number (digits)"));
        }
        if s.account.name.trim().is_empty() {
            return Err(invalid("account.name", "must not be empty"));
        }
        let currency = s.account.currency.trim().to_ascii_uppercase();
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(invalid("account.currency", format!("'{}' is not an ISO 4217 currency code (e.g. CNY)", s.account.currency)));
        }
        let mut account = s.account;
        account.currency = currency;
        let mut guardian = HashSet::new();
        for (i, st) in s.intake.guardian_card_stages.iter().enumerate() {
            let stage = Stage::parse(st).ok_or_else(|| {
                invalid(format!("intake.guardian_card_stages[{i}]"), format!("'{st}' is not a stage (学前, 小学, 初中, 高中, 中职, 高等)"))
            })?;
            guardian.insert(stage);
        }
        let mut standards = Standards::default();
        for (i, st) in s.standards.iter().enumerate() {
            let key = |field: &str| format!("standards[{i}].{field}");
            if st.program.trim().is_empty() {
                return Err(invalid(key("program"), "must not be empty"));
            }
            let stage = Stage::parse(&st.stage)
                .ok_or_else(|| invalid(key("stage"), format!("'{}' is not a stage (学前, 小学, 初中, 高中, 中职, 高等)", st.stage)))?;
            let tier = if st.tier.trim() == "*" {
                TierRule::Any
            } else {
                TierRule::Only(
                    Tier::parse(&st.tier)
                        .ok_or_else(|| invalid(key("tier"), format!("'{}' is not a tier (一般困难, 困难, 特别困难 or *)", st.tier)))?,
                )
            };
            let amount = Fen::parse_yuan(&st.amount).map_err(|e| invalid(key("amount"), e.to_string()))?;
            let period = st.period.as_deref().unwrap_or("").trim();
            if standards.contains(st.program.trim(), stage, tier, period) {
                return Err(invalid(key("program"), "this program × stage × tier × period is listed twice"));
            }
            standards.insert(st.program.trim(), stage, tier, period, amount);
        }
        let banks = check_banks(s.banks, &account.number)?;
        if s.returns.no_answer_days < 1 {
            return Err(invalid("returns.no_answer_days", "must be at least 1"));
        }
        let reasons = crate::domain::reason::ReasonTable::with_overrides(s.returns.reasons).map_err(|e| invalid("returns.reasons", e.to_string()))?;
        if s.reconcile.return_days < 1 || s.reconcile.debit_match_days < 0 {
            return Err(invalid("reconcile.return_days", "must be at least 1 (and debit_match_days at least 0)"));
        }
        let schedules = check_schedules(&s.schedule)?;
        let daemon = check_daemon(&s.daemon)?;
        let alerts = check_alerts(s.alerts)?;
        if let Some(listen) = &s.console.listen
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(invalid("console.listen", format!("'{listen}' is not an address and port, e.g. 127.0.0.1:8470")));
        }
        let metrics_listen = match s.metrics.listen.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(l) => Some(
                l.parse::<std::net::SocketAddr>()
                    .map_err(|_| invalid("metrics.listen", format!("'{l}' is not an address and port, e.g. 127.0.0.1:9187")))?,
            ),
        };
        if s.reports.format().is_none() {
            return Err(invalid("reports.period_format", format!("'{}' is not xlsx, html or csv", s.reports.period_format)));
        }
        if s.console.tls_cert.is_some() != s.console.tls_key.is_some() {
            return Err(invalid("console.tls_cert", "tls_cert and tls_key go together"));
        }
        Ok(Config {
            reconcile: s.reconcile,
            schedules,
            daemon,
            alerts,
            approval: s.approval.unwrap_or_default(),
            console: s.console,
            metrics_listen,
            reports: s.reports,
            security: s.security,
            no_answer_days: s.returns.no_answer_days,
            reasons,
            banks,
            source,
            database: s.database,
            paths: s.paths,
            account,
            rules: Rules { guardian_card_stages: guardian, standards },
            max_listed_errors: s.intake.max_listed_errors,
        })
    }

    /// The bank profile that pays a card of this bank: the first whose `card_banks` matches,
    /// else the default.
    pub fn profile_for_bank(&self, bank: &str) -> Option<&BankProfile> {
        self.banks
            .iter()
            .find(|p| p.card_banks.iter().any(|b| bank.contains(b.as_str())))
            .or_else(|| self.banks.iter().find(|p| p.card_banks.is_empty()))
    }

    pub fn bank(&self, name: &str) -> Option<&BankProfile> {
        self.banks.iter().find(|p| p.name == name)
    }

    /// The database URL with the password (from the environment) put in, for connecting only.
    pub fn database_url(&self) -> SecretString {
        let url = self.database.url.trim();
        match (&self.database.password, url.split_once("://")) {
            (Some(pw), Some((scheme, rest))) if !url.starts_with("sqlite") => {
                let (userinfo, host) = rest.split_once('@').unwrap_or(("", rest));
                let user = userinfo.split(':').next().unwrap_or("");
                SecretString::from(format!("{scheme}://{user}:{}@{host}", pw.expose_secret()))
            }
            _ => SecretString::from(url.to_string()),
        }
    }

    /// Where the store's data key may come from (besides the credential and the environment):
    /// `[security] data_key_file`, else the key file beside the store — for SQLite
    /// `<database file>.data_key`, for PostgreSQL `data_key` in the folder above `paths.outbox`.
    pub fn key_options(&self) -> crate::store::KeyOptions {
        let url = self.database.url.trim();
        let beside = if url.starts_with("sqlite:") {
            let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
            let path = path.split('?').next().unwrap_or("");
            (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(format!("{path}.data_key")))
        } else {
            Some(self.paths.outbox.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join("data_key"))
        };
        crate::store::KeyOptions { data_key_file: self.security.data_key_file.clone(), beside_store: beside, isolated: false }
    }

    /// Creates the configured folders, so a fresh install works without manual steps.
    pub fn ensure_paths(&self) -> std::io::Result<()> {
        for p in [&self.paths.inbox, &self.paths.outbox, &self.paths.quarantine, &self.paths.reports] {
            std::fs::create_dir_all(p)?;
        }
        for b in &self.banks {
            if let Transport::DropFolder(d) = &b.transport {
                std::fs::create_dir_all(d)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[database]
url = "sqlite://var/test.db?mode=rwc"
[paths]
inbox = "var/inbox"
outbox = "var/outbox"
quarantine = "var/quarantine"
reports = "var/reports"
[account]
number = "0012345"
name = "某区学生资助管理中心"
bank = "中国银行"
[[standards]]
program = "国家助学金"
stage = "高中"
tier = "一般困难"
amount = "750"
[[standards]]
program = "寄宿生生活补助"
stage = "小学"
tier = "*"
amount = "500"
"#;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
        f
    }

    fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
        Some(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn loads_and_looks_up_standards() {
        let f = write(BASE);
        let c = Config::load_with_env(Some(f.path()), env(&[])).unwrap();
        assert_eq!(c.account.number, "0012345");
        let s = &c.rules.standards;
        assert_eq!(s.lookup("国家助学金", Stage::SeniorSecondary, Tier::General, "2026秋").map(|x| x.0), Some(Fen(75_000)));
        assert_eq!(s.lookup("寄宿生生活补助", Stage::Primary, Tier::Hard, "2026秋").map(|x| x.0), Some(Fen(50_000)));
        assert!(s.lookup("国家助学金", Stage::SeniorSecondary, Tier::Hard, "2026秋").is_none());
        assert!(c.rules.guardian_card_stages.contains(&Stage::Primary));
        assert!(!c.rules.guardian_card_stages.contains(&Stage::SeniorSecondary));
    }

    #[test]
    fn environment_overrides_keep_strings_and_parse_numbers() {
        let f = write(BASE);
        let c = Config::load_with_env(Some(f.path()), env(&[("AIDPAY_ACCOUNT__NUMBER", "0099"), ("AIDPAY_DATABASE__MAX_CONNECTIONS", "8")])).unwrap();
        assert_eq!(c.account.number, "0099");
        assert_eq!(c.database.max_connections, 8);
    }

    #[test]
    fn the_page_cache_is_a_budget_for_the_whole_pool() {
        let f = write(BASE);
        let c = Config::load_with_env(Some(f.path()), env(&[])).unwrap();
        assert_eq!(c.database.page_cache_mb, DEFAULT_PAGE_CACHE_MB);
        let c = Config::load_with_env(Some(f.path()), env(&[("AIDPAY_DATABASE__PAGE_CACHE_MB", "96")])).unwrap();
        assert_eq!(c.database.page_cache_mb, 96);
        let e = Config::load_with_env(Some(f.path()), env(&[("AIDPAY_DATABASE__PAGE_CACHE_MB", "0")])).unwrap_err();
        assert!(e.to_string().contains("database.page_cache_mb"), "{e}");
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let f = write(BASE);
        let e = Config::load_with_env(Some(f.path()), env(&[("AIDPAY_DATABASE__MAX_CONNECTIONS", "abc")])).unwrap_err();
        assert!(e.to_string().contains("database.max_connections"), "{e}");

        let f = write(&BASE.replace("amount = \"750\"", "amount = \"7.505\""));
        let e = Config::load_with_env(Some(f.path()), env(&[])).unwrap_err();
        assert!(e.to_string().contains("standards[0].amount"), "{e}");

        let f = write(&BASE.replace("stage = \"高中\"", "stage = \"大学\""));
        let e = Config::load_with_env(Some(f.path()), env(&[])).unwrap_err();
        assert!(e.to_string().contains("standards[0].stage"), "{e}");

        let f = write(&BASE.replace("[account]", "[acount]"));
        let e = Config::load_with_env(Some(f.path()), env(&[])).unwrap_err();
        assert!(e.to_string().contains("acount"), "{e}");
    }

    #[test]
    fn the_account_currency_and_statements_without_account() {
        let f = write(BASE);
        let c = Config::load_with_env(Some(f.path()), env(&[])).unwrap();
        assert_eq!(c.account.currency, "CNY", "the default");
        let c = Config::load_with_env(Some(f.path()), env(&[("AIDPAY_ACCOUNT__CURRENCY", "eur")])).unwrap();
        assert_eq!(c.account.currency, "EUR");
        let e = Config::load_with_env(Some(f.path()), env(&[("AIDPAY_ACCOUNT__CURRENCY", "yuan")])).unwrap_err();
        assert!(e.to_string().contains("account.currency"), "{e}");

        let bank = "\n[banks.pf]\nformat = \"pain.001.001.09\"\ntransport = \"dropfolder\"\ndrop_dir = \"var/pf\"\n";
        let f = write(&format!("{BASE}{bank}statements_without_account = \"0012 345\"\n"));
        let c = Config::load_with_env(Some(f.path()), env(&[])).unwrap();
        assert_eq!(c.bank("pf").unwrap().statements_without_account.as_deref(), Some("0012 345"));
        let f = write(&format!("{BASE}{bank}statements_without_account = \"0099999\"\n"));
        let e = Config::load_with_env(Some(f.path()), env(&[])).unwrap_err();
        assert!(e.to_string().contains("banks.pf.statements_without_account") && e.to_string().contains("0012345"), "{e}");
        assert!(same_account("NL08 INGB 0000 0012 34", "nl08ingb0000001234"));
        assert!(!same_account("", ""));
    }

    #[test]
    fn the_password_is_never_printed() {
        let f = write(&BASE.replace("sqlite://var/test.db?mode=rwc", "postgres://aid@db/aid"));
        let c = Config::load_with_env(Some(f.path()), env(&[("AIDPAY_DATABASE__PASSWORD", "s3cret")])).unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(c.database_url().expose_secret(), "postgres://aid:s3cret@db/aid");
        assert_eq!(redact_url("postgres://a:b@h/d"), "postgres://a:***@h/d");
    }

    #[test]
    fn five_field_weekdays_mean_what_crontab_says() {
        use chrono::{Datelike, TimeZone, Weekday};
        let from = chrono::FixedOffset::east_opt(8 * 3600).unwrap().with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap(); // a Wednesday
        let next = |e: &str| parse_cron(e).unwrap().1.unwrap().after(&from).next().unwrap();
        assert_eq!(next("0 2 * * 1").weekday(), Weekday::Mon, "1 is Monday in crontab(5)");
        assert_eq!(next("0 2 * * 0").weekday(), Weekday::Sun, "0 is Sunday");
        assert_eq!(next("0 2 * * 7").weekday(), Weekday::Sun, "so is 7");
        assert_eq!(next("0 2 * * 6").weekday(), Weekday::Sat);
        assert_eq!(parse_cron("0 2 * * 1-5").unwrap().0, "0 0 2 * * MON,TUE,WED,THU,FRI");
        assert_eq!(parse_cron("0 2 * * 5-7").unwrap().0, "0 0 2 * * SUN,FRI,SAT");
        assert_eq!(parse_cron("0 2 * * */2").unwrap().0, "0 0 2 * * SUN,TUE,THU,SAT");
        assert_eq!(parse_cron("0 2 * * mon,Wed").unwrap().0, "0 0 2 * * MON,WED");
        assert_eq!(parse_cron("0 2 * * *").unwrap().0, "0 0 2 * * *");
        assert!(parse_cron("0 2 * * 8").unwrap_err().contains("weekday"));
        assert!(parse_cron("0 2 * * 5-1").is_err());
        // Six fields stay the cron crate's own (1 = Sunday there), as documented.
        assert_eq!(parse_cron("0 0 2 * * MON").unwrap().0, "0 0 2 * * MON");
    }

    #[test]
    fn schedules_take_five_six_or_seven_fields_and_off() {
        assert_eq!(parse_cron("0 2 * * *").unwrap().0, "0 0 2 * * *");
        assert_eq!(parse_cron(" */2  * * * * * ").unwrap().0, "*/2 * * * * *");
        assert!(parse_cron("0 0 2 * * * 2027").unwrap().1.is_some());
        assert!(parse_cron("off").unwrap().1.is_none());
        assert!(parse_cron("0 2 * *").unwrap_err().contains("4 fields"));
        assert!(parse_cron("0 99 * * *").is_err());

        let f = write(BASE);
        let c = Config::load_with_env(Some(f.path()), env(&[("AIDPAY_SCHEDULE__BATCH", "30 1 * * *")])).unwrap();
        let batch = c.schedules.iter().find(|s| s.job == "batch").unwrap();
        assert_eq!(batch.expr, "0 30 1 * * *");
        assert_eq!(c.schedules.len(), crate::scheduler::JOBS.len(), "every job has a schedule, by default");
        assert_eq!(c.daemon.on_lock, OnLock::Exit);
        assert!(c.alerts.is_none());

        let e = Config::load_with_env(Some(f.path()), env(&[("AIDPAY_SCHEDULE__BATCH", "every night")])).unwrap_err();
        assert!(e.to_string().contains("schedule.batch"), "{e}");
        let e = Config::load_with_env(Some(f.path()), env(&[("AIDPAY_SCHEDULE__PAYROLL", "0 3 * * *")])).unwrap_err();
        assert!(e.to_string().contains("schedule.payroll") && e.to_string().contains("not a job"), "{e}");
        let e = Config::load_with_env(Some(f.path()), env(&[("AIDPAY_DAEMON__ON_LOCK", "steal")])).unwrap_err();
        assert!(e.to_string().contains("daemon.on_lock"), "{e}");
    }

    #[test]
    fn secrets_come_from_systemd_credentials_and_are_never_printed() {
        let f = write(&format!(
            "{}\n[banks.icbc]\nformat = \"pain.001.001.09\"\ntransport = \"gateway\"\ngateway_url = \"https://gw.example\"\n",
            BASE.replace("sqlite://var/test.db?mode=rwc", "postgres://aid@db/aid")
        ));
        let creds = tempfile::tempdir().unwrap();
        std::fs::write(creds.path().join("gateway_key_icbc"), "k3y-from-credential\n").unwrap();
        std::fs::write(creds.path().join("aidpay_database_password"), "pw-from-credential").unwrap();
        std::fs::write(creds.path().join("alert_webhook"), "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=robot-secret").unwrap();
        let dir = creds.path().to_str().unwrap();
        let c = Config::load_with_env(Some(f.path()), env(&[("CREDENTIALS_DIRECTORY", dir)])).unwrap();
        let Transport::Gateway(g) = &c.bank("icbc").unwrap().transport else { panic!("gateway") };
        assert_eq!(g.key.expose_secret(), "k3y-from-credential");
        assert_eq!(c.database_url().expose_secret(), "postgres://aid:pw-from-credential@db/aid");
        let a = c.alerts.as_ref().unwrap();
        assert_eq!(a.kind, AlertKind::WeCom);
        let shown = format!("{c:?}");
        for secret in ["k3y-from-credential", "pw-from-credential", "robot-secret"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("qyapi.weixin.qq.com"), "the host may be shown");

        // The environment wins over a credential.
        let c =
            Config::load_with_env(Some(f.path()), env(&[("CREDENTIALS_DIRECTORY", dir), ("AIDPAY_BANKS__ICBC__GATEWAY_KEY", "from-env")])).unwrap();
        let Transport::Gateway(g) = &c.bank("icbc").unwrap().transport else { panic!("gateway") };
        assert_eq!(g.key.expose_secret(), "from-env");

        // A bad webhook URL is refused without being shown.
        let e =
            Config::load_with_env(Some(f.path()), env(&[("CREDENTIALS_DIRECTORY", dir), ("AIDPAY_ALERTS__WEBHOOK_URL", "qyapi?key=robot-secret")]))
                .unwrap_err();
        assert!(e.to_string().contains("alerts.webhook_url") && !e.to_string().contains("robot-secret"), "{e}");
    }
}
