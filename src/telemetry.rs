//! Logs through `tracing` to stderr: readable text on a terminal, JSON lines for collectors.
//! `AIDPAY_LOG` (or `RUST_LOG`) sets the filter, `info` by default. Card and ID numbers are
//! masked by the code that logs them (their `Debug` is masked too); secrets are `SecretString`.

use tracing_subscriber::EnvFilter;

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global subscriber, writing to stderr (so `--json` output on stdout stays clean).
pub fn init(format: LogFormat) {
    let filter = std::env::var("AIDPAY_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info,sqlx=warn"));
    // Colours only on a terminal: journald and log files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
