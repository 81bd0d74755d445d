//! `/metrics`: the Prometheus text format (OpenMetrics, via `prometheus-client`) for a district's
//! monitoring system. Everything is read from the store at scrape time, so the figures are the
//! same whoever serves them — `aidpay run` on its own `[metrics] listen` address, or the web
//! console on its router — and survive a restart:
//!
//! | family | type | labels |
//! |---|---|---|
//! | `aidpay_job_runs` | counter | `job`, `outcome` (`ok`, `error`, `interrupted`) |
//! | `aidpay_job_duration_seconds` | histogram | `job`, `outcome` |
//! | `aidpay_grants` | gauge | `status` |
//! | `aidpay_payments_in_flight`, `aidpay_payments_in_flight_fen` | gauge | – |
//! | `aidpay_open_exceptions` | gauge | `kind` (machine name) |
//! | `aidpay_account_balance_fen` | gauge | `account` (only once a statement has come) |
//! | `aidpay_account_last_statement_timestamp_seconds` | gauge | `account` (00:00 China time of the statement's last day) |
//! | `aidpay_alert_failures` | counter | – |
//!
//! Money is in fen (integers), as everywhere in aidpay. No card, ID number or name is exposed.

use crate::config::Config;
use crate::store::Store;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

type Labels = Vec<(String, String)>;

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn histogram() -> Histogram {
    // From a tenth of a second to an hour.
    Histogram::new([0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0])
}

/// A job run's length from its `job_runs` times (RFC 3339); `None` when one does not parse.
fn seconds(started: &str, finished: &str) -> Option<f64> {
    let a = chrono::DateTime::parse_from_rfc3339(started).ok()?;
    let b = chrono::DateTime::parse_from_rfc3339(finished).ok()?;
    Some(((b - a).num_milliseconds().max(0) as f64) / 1000.0)
}

/// The whole scrape, in the Prometheus/OpenMetrics text format.
pub async fn render(store: &Store, cfg: &Config) -> anyhow::Result<String> {
    let mut registry = Registry::default();

    let runs = Family::<Labels, Counter>::default();
    let durations = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
    let alert_failures = Counter::<u64>::default();
    for r in store.run_timings().await? {
        if r.job == crate::alerts::ALERT_JOB {
            if r.outcome == crate::domain::RunOutcome::Error {
                alert_failures.inc();
            }
            continue;
        }
        let l = labels(&[("job", &r.job), ("outcome", r.outcome.as_str())]);
        runs.get_or_create(&l).inc();
        if let Some(s) = r.finished_at.as_deref().and_then(|f| seconds(&r.started_at, f)) {
            durations.get_or_create(&l).observe(s);
        }
    }
    registry.register("aidpay_job_runs", "Runs of the daemon's jobs by outcome", runs);
    registry.register("aidpay_job_duration_seconds", "How long the daemon's job runs took, by outcome", durations);
    registry.register("aidpay_alert_failures", "Alerts to finance staff that could not be delivered after their retries", alert_failures);

    let grants = Family::<Labels, Gauge>::default();
    for (status, n) in store.count_grants_by_status().await? {
        grants.get_or_create(&labels(&[("status", &status)])).set(n);
    }
    registry.register("aidpay_grants", "Grants by status", grants);

    let (in_flight, in_flight_fen) = store.payments_in_flight().await?;
    let g = Gauge::<i64>::default();
    g.set(in_flight);
    registry.register("aidpay_payments_in_flight", "Payments created, sent or accepted and not yet settled or failed", g);
    let g = Gauge::<i64>::default();
    g.set(in_flight_fen);
    registry.register("aidpay_payments_in_flight_fen", "The sum of the payments in flight, in fen", g);

    let open = Family::<Labels, Gauge>::default();
    for (kind, n) in store.count_open_exceptions_by_kind().await? {
        open.get_or_create(&labels(&[("kind", &kind)])).set(n);
    }
    registry.register("aidpay_open_exceptions", "Open exceptions by kind", open);

    let account = cfg.account.number.as_str();
    let balance = Family::<Labels, Gauge>::default();
    if let Some(b) = store.position(account).await?.balance_fen {
        balance.get_or_create(&labels(&[("account", account)])).set(b);
    }
    registry.register("aidpay_account_balance_fen", "The special account's closing balance on its latest statement, in fen", balance);
    let last = Family::<Labels, Gauge>::default();
    if let Some(day) = store.last_statement_date(account).await?
        && let Ok(d) = chrono::NaiveDate::parse_from_str(day.get(..10).unwrap_or(&day), "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0).and_then(|t| t.and_local_timezone(crate::clock::china()).single())
    {
        last.get_or_create(&labels(&[("account", account)])).set(t.timestamp());
    }
    registry.register(
        "aidpay_account_last_statement_timestamp_seconds",
        "The last day the special account's latest statement covers (00:00 China time, Unix seconds)",
        last,
    );

    let mut out = String::new();
    encode(&mut out, &registry)?;
    Ok(out)
}

/// `aidpay run`'s own listener for `[metrics] listen`: `GET /metrics` only, until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Store,
    cfg: std::sync::Arc<Config>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (store, cfg) = (store.clone(), cfg.clone());
            async move {
                match tokio::time::timeout(Duration::from_secs(30), render(&store, &cfg)).await {
                    Ok(Ok(text)) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
                    Ok(Err(e)) => {
                        tracing::warn!("metrics scrape failed: {e:#}");
                        (StatusCode::INTERNAL_SERVER_ERROR, format!("metrics unavailable: {e}\n")).into_response()
                    }
                    Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "metrics timed out\n").into_response(),
                }
            }
        }),
    );
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn run_lengths_come_from_the_recorded_times() {
        assert_eq!(super::seconds("2026-11-25T02:00:00.000+08:00", "2026-11-25T02:00:01.500+08:00"), Some(1.5));
        assert_eq!(super::seconds("x", "2026-11-25T02:00:01.500+08:00"), None);
    }
}
