//! One integration test binary (fewer link steps), one module per capability.
//! The store under test is SQLite by default; `AIDPAY_TEST_DB=postgres` runs every test on a
//! fresh PostgreSQL database instead (`AIDPAY_TEST_PG_URL`, default postgres://root@127.0.0.1:5432/test).

mod util;

mod alerts;
mod audit;
mod batch;
mod browser;
mod cli;
mod concurrency;
mod console;
mod console_browser;
mod crash_safety;
mod data_at_rest;
mod daemon;
mod english;
mod four_eyes;
mod handover;
mod hardening;
mod import;
mod journald;
mod metrics;
mod owners;
mod package;
mod period;
mod reconcile;
mod returns;
mod shape;
mod soak;
mod statements;
mod upgrade;
