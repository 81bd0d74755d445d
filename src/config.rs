//! Configuration in two stages (as ripgrep does with its flags): the raw TOML plus
//! `AIDPAY_SECTION__KEY` environment overrides are deserialised into [`Settings`], then checked and
//! turned into a [`Config`] whose standards and stages are parsed. A mistake stops start-up with the
//! key that is wrong and why.

use crate::domain::{Fen, Stage, Tier};
use crate::formats::domestic::DomesticProfile;
use crate::formats::pain001::Pain001Version;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use std::fmt;
use std::path::{Path, PathBuf};

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
}

fn default_max_connections() -> u32 {
    4
}

impl fmt::Debug for DatabaseSettings {
    // A URL may carry a password: print it redacted (atuin does the same).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(&self.url))
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("max_connections", &self.max_connections)
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
}

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

fn check_banks(raw: BTreeMap<String, BankSettings>) -> Result<Vec<BankProfile>, ConfigError> {
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
            "dropfolder" => Transport::DropFolder(
                b.drop_dir.ok_or_else(|| invalid(key("drop_dir"), "transport = \"dropfolder\" needs drop_dir"))?,
            ),
            "gateway" => {
                let url = b.gateway_url.ok_or_else(|| invalid(key("gateway_url"), "transport = \"gateway\" needs gateway_url"))?;
                let key_secret = b.gateway_key.ok_or_else(|| {
                    invalid(key("gateway_key"), format!("missing: set AIDPAY_BANKS__{}__GATEWAY_KEY in the environment", name.to_uppercase()))
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
        out.push(BankProfile { name, format, card_banks: b.card_banks, max_lines, remittance: b.remittance, transport, gross });
    }
    if !out.is_empty() && out.iter().filter(|p| p.card_banks.is_empty()).count() != 1 {
        return Err(invalid("banks", "exactly one bank profile must have no card_banks (the default for every other card)"));
    }
    Ok(out)
}

/// Which tiers a standard applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TierRule {
    Only(Tier),
    Any,
}

/// The standards table (资助标准), looked up by program × stage × tier × period.
#[derive(Debug, Default, Clone)]
pub struct Standards {
    // (program, stage, tier rule, period or "") → amount
    table: HashMap<(String, Stage, TierRule, String), Fen>,
}

impl Standards {
    /// The standard for a grant: a period-specific entry wins over a general one, a tier-specific
    /// one over `*`.
    pub fn lookup(&self, program: &str, stage: Stage, tier: Tier, period: &str) -> Option<(Fen, TierRule)> {
        for p in [period, ""] {
            for rule in [TierRule::Only(tier), TierRule::Any] {
                if let Some(f) = self.table.get(&(program.to_string(), stage, rule, p.to_string())) {
                    return Some((*f, rule));
                }
            }
        }
        None
    }

    pub fn insert(&mut self, program: &str, stage: Stage, tier: TierRule, period: &str, amount: Fen) {
        self.table.insert((program.to_string(), stage, tier, period.to_string()), amount);
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
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
            None => DEFAULT_PATHS
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
                .ok_or_else(|| ConfigError::NotFound(DEFAULT_PATHS.join(", ")))?,
        };
        let shown = path.display().to_string();
        if !path.exists() {
            return Err(ConfigError::NotFound(shown));
        }
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
            .add_source(
                config::Environment::with_prefix("AIDPAY")
                    .prefix_separator("_")
                    .separator("__")
                    .source(Some(env)),
            );
        let settings: Settings = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|source| ConfigError::Load { path: shown.clone(), source })?;
        Config::check(path, settings)
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
        let digits = s.account.number.chars().filter(|c| !c.is_whitespace()).count();
        if digits == 0 || !s.account.number.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-') {
            return Err(invalid("account.number", "must be the special account's number (digits)"));
        }
        if s.account.name.trim().is_empty() {
            return Err(invalid("account.name", "must not be empty"));
        }
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
                TierRule::Only(Tier::parse(&st.tier).ok_or_else(|| {
                    invalid(key("tier"), format!("'{}' is not a tier (一般困难, 困难, 特别困难 or *)", st.tier))
                })?)
            };
            let amount = Fen::parse_yuan(&st.amount).map_err(|e| invalid(key("amount"), e.to_string()))?;
            let period = st.period.as_deref().unwrap_or("").trim();
            if standards.table.contains_key(&(st.program.trim().to_string(), stage, tier, period.to_string())) {
                return Err(invalid(key("program"), "this program × stage × tier × period is listed twice"));
            }
            standards.insert(st.program.trim(), stage, tier, period, amount);
        }
        let banks = check_banks(s.banks)?;
        if s.returns.no_answer_days < 1 {
            return Err(invalid("returns.no_answer_days", "must be at least 1"));
        }
        let reasons = crate::domain::reason::ReasonTable::with_overrides(s.returns.reasons)
            .map_err(|e| invalid("returns.reasons", e.to_string()))?;
        if s.reconcile.return_days < 1 || s.reconcile.debit_match_days < 0 {
            return Err(invalid("reconcile.return_days", "must be at least 1 (and debit_match_days at least 0)"));
        }
        Ok(Config {
            reconcile: s.reconcile,
            no_answer_days: s.returns.no_answer_days,
            reasons,
            banks,
            source,
            database: s.database,
            paths: s.paths,
            account: s.account,
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
        let c = Config::load_with_env(
            Some(f.path()),
            env(&[("AIDPAY_ACCOUNT__NUMBER", "0099"), ("AIDPAY_DATABASE__MAX_CONNECTIONS", "8")]),
        )
        .unwrap();
        assert_eq!(c.account.number, "0099");
        assert_eq!(c.database.max_connections, 8);
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
    fn the_password_is_never_printed() {
        let f = write(&BASE.replace("sqlite://var/test.db?mode=rwc", "postgres://aid@db/aid"));
        let c = Config::load_with_env(Some(f.path()), env(&[("AIDPAY_DATABASE__PASSWORD", "s3cret")])).unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(c.database_url().expose_secret(), "postgres://aid:s3cret@db/aid");
        assert_eq!(redact_url("postgres://a:b@h/d"), "postgres://a:***@h/d");
    }
}
