//! aidpay pays approved student aid from a district's special account (资助专户) to each
//! student's dedicated aid card, unattended, and proves every yuan of it.
//!
//! The pipeline, one module each:
//! - [`intake`]: approved grant lists (CSV in UTF-8 or GBK, XLSX) read as streams of rows;
//! - [`validation`]: the payment rules every grant must meet (ID and card check digits, holder,
//!   standards, priority students);
//! - [`batch`]: valid unpaid grants → payments → batch files ([`formats`]) → the bank, crash-safe;
//!   [`delivery`] is the hand-over (the commit point: intent, hand-over, outcome) over
//!   [`transport`]; [`banksim`] is the bank simulator tests and the demo talk to;
//! - [`returns`]: bank answers in (pain.002, camt.053/.054, domestic result files), matched by
//!   reference, unreadable files quarantined;
//! - [`reconcile`]: the special account's statements against the batches, returns and allocations;
//! - [`jobs`]: the import and ingest jobs, one function each, called by the command line, the
//!   daemon, the demo and the bench alike (batch and reconcile are one function each already);
//! - [`exceptions`]: the work list and resolving; its vocabulary is [`domain::exception`];
//! - [`console`]: the finance office's web console (Chinese pages and the `/api/v1` JSON API)
//!   over the same jobs;
//! - [`people`]: who acts (users, roles, passwords, sessions) and [`approvals`]: the second person
//!   (双人复核) before money moves or where it goes changes;
//! - [`reports`]: tables for finance staff written as XLSX, CSV (UTF-8 with BOM) and HTML, and the
//!   exception report built on them;
//! - [`store`]: every SQL statement, on SQLite (embedded default) or PostgreSQL;
//! - [`domain`]: pure newtypes — money in fen, ID numbers, cards, names — the states money and
//!   decisions move through as enums ([`domain::state`]), and the exception vocabulary;
//! - [`crypto`]: card and ID numbers at rest — AEAD encryption, keyed look-up hashes, key files;
//! - [`config`], [`telemetry`], [`clock`], [`tls`]: configuration, logs, time and the HTTPS clients' TLS;
//!   [`memory`]: the two allocators' settings, memory handed back, the peak;
//! - [`audit`]: the hash-chained audit trail, `audit verify` and `audit export`;
//! - [`verify`]: the invariants (every grant has one owner, one live payment at most, batch sums,
//!   file hashes) checked against the store;
//! - [`cli`] and [`output`]: the command line the thin binary runs, human text or `--json`;
//!   [`progress`]: bars on a terminal for `import` and `batch`;
//! - [`demo`]: a whole cycle on a throw-away store; [`bench`]: a province's term, stage by stage;
//! - [`scheduler`] (`aidpay run`, the daemon), with [`lock`] (one daemon per special account),
//!   [`systemd`] (sd_notify) and [`alerts`] (new exceptions to finance staff).

pub mod alerts;
pub mod approvals;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod banksim;
pub mod batch;
pub mod bench;
pub mod config;
pub mod console;
pub mod crypto;
pub mod delivery;
pub mod demo;
pub mod domain;
pub mod exceptions;
pub mod files;
pub mod formats;
pub mod intake;
pub mod jobs;
pub mod lock;
pub mod memory;
pub mod metrics;
pub mod output;
pub mod people;
pub mod progress;
pub mod reconcile;
pub mod reports;
pub mod returns;
pub mod scheduler;
pub mod store;
pub mod systemd;
pub mod telemetry;
pub mod tls;
pub mod transport;
pub mod validation;
pub mod verify;

/// Who is acting, for the audit log: the operating-system user running aidpay.
pub fn actor() -> String {
    ["USER", "LOGNAME", "USERNAME"].iter().find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty())).unwrap_or_else(|| "unknown".to_string())
}
