//! The finance office's console (财务工作台): the work list, four eyes and the audit trail in a
//! browser, and the same rules as a JSON API for scripts (`/api/v1`, INTERFACES.md).
//!
//! Server-rendered Chinese pages ([`pages`], templates under `src/console/templates/`), usable
//! without JavaScript and printable, with the charts of [`crate::reports::charts`] as SVG images; a JSON API ([`api`]) beside them. Both call the same jobs
//! the command line calls ([`crate::exceptions::resolve`], [`crate::approvals::decide`],
//! [`crate::people`]), so the console adds no rule of its own and bypasses none: the store
//! refuses a decision by the proposer or by a role that may not, whichever door it came through.
//!
//! Security, in one place ([`session`]):
//! - a session is a random token in an `HttpOnly; SameSite=Strict` cookie (`Secure` under TLS or
//!   behind an HTTPS proxy); the store keeps its SHA-256; 30 idle minutes end it;
//! - every state change (every POST but the login) carries the session's CSRF token — a form's
//!   hidden `csrf` field or the `X-CSRF-Token` header — or is refused 403;
//! - a Content Security Policy without inline script (pages have no script at all), no framing,
//!   no referrer; card and ID numbers never appear in a URL (exceptions are addressed by number)
//!   and are masked on every page;
//! - it listens on 127.0.0.1 unless `[console] listen` says otherwise.
//!
//! `aidpay console` serves it alone; `aidpay run` serves it beside the jobs when `[console]
//! listen` is set. TLS: `[console] tls_cert`/`tls_key` ([`tls`]), or a reverse proxy in front (README).

pub mod api;
pub mod pages;
pub mod session;
mod tls;
mod view;

use crate::config::Config;
use crate::store::{FilterChoices, Store, StoreError};
use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::{get, post};
use std::future::Future;
use std::sync::Arc;
use tower_http::set_header::SetResponseHeaderLayer;

/// What every handler shares: the store (scoped to the special account), the configuration,
/// and the work list's filter choices as last read.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub cfg: Arc<Config>,
    pub choices: ChoicesCache,
}

/// The work list's filter choices — every school, program and term among the account's grants —
/// kept with the newest recorded file they were read after, and read again only once a newer
/// file is recorded. Reading them walks every grant (1.4 s a page at a province's million,
/// where the page itself takes a tenth of that); they change only when a grant list comes in
/// (a school's re-send supersedes grants within its import), so a page asks the store one
/// primary-key question instead. A list whose import commits while the choices are read makes a
/// newer file, so the next page reads them again: they are never stale for longer than a page.
#[derive(Clone, Default)]
pub struct ChoicesCache(Arc<tokio::sync::Mutex<Option<(i64, FilterChoices)>>>);

impl ChoicesCache {
    pub async fn get(&self, store: &Store) -> Result<FilterChoices, StoreError> {
        let newest = store.newest_file_id().await?;
        let mut held = self.0.lock().await;
        if let Some((at, choices)) = held.as_ref()
            && *at == newest
        {
            return Ok(choices.clone());
        }
        let choices = store.filter_choices().await?;
        *held = Some((newest, choices.clone()));
        Ok(choices)
    }
}

/// The policy every response carries: nothing but this origin's stylesheet and images; no
/// script, no plug-in, no frame.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Every route of the console, with the session and CSRF checks and the security headers.
pub fn router(app: App) -> Router {
    let routes = Router::new()
        .route("/", get(pages::dashboard))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/exceptions", get(pages::exceptions))
        .route("/exceptions/{id}", get(pages::exception))
        .route("/exceptions/{id}/resolve", post(pages::resolve))
        .route("/approvals", get(pages::approvals))
        .route("/approvals/{id}/{decision}", post(pages::decide))
        .route("/batches", get(pages::batches))
        .route("/batches/{id}/file", get(pages::batch_file))
        .route("/reports", get(pages::reports))
        .route("/reports/make", post(pages::make_report))
        .route("/reports/file/{name}", get(pages::report_file))
        .route("/audit", get(pages::audit))
        .route("/users", get(pages::users).post(pages::add_user))
        .route("/users/{name}/{what}", post(pages::change_user))
        .route("/charts/paid-per-month.svg", get(pages::chart_paid))
        .route("/charts/balance.svg", get(pages::chart_balance))
        .route("/charts/open-exceptions.svg", get(pages::chart_open))
        .route("/static/console.css", get(pages::stylesheet))
        .route("/api/v1/login", post(api::login))
        .route("/api/v1/logout", post(api::logout))
        .route("/api/v1/exceptions", get(api::exceptions))
        .route("/api/v1/exceptions/{id}/resolve", post(api::resolve))
        .route("/api/v1/approvals", get(api::approvals))
        .route("/api/v1/approvals/{id}/{decision}", post(api::decide))
        .route("/api/v1/batches", get(api::batches))
        .fallback(pages::not_found);
    routes
        .layer(axum::middleware::from_fn_with_state(app.clone(), session::guard))
        .layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .with_state(app)
}

/// The address the console listens on: `[console] listen`, else 127.0.0.1:8470.
pub fn listen_address(cfg: &Config) -> String {
    cfg.console.listen.clone().unwrap_or_else(|| "127.0.0.1:8470".to_string())
}

/// Serves the console on `listener` until `shutdown` completes.
pub async fn serve(
    cfg: Arc<Config>,
    store: Store,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    let app = router(App { store, cfg: cfg.clone(), choices: ChoicesCache::default() });
    match (&cfg.console.tls_cert, &cfg.console.tls_key) {
        (Some(cert), Some(key)) => {
            let acceptor = tls::acceptor(cert, key)?;
            tracing::info!("财务工作台 on https://{address}/");
            tls::serve(listener, acceptor, app, shutdown).await
        }
        _ => {
            tracing::info!("财务工作台 on http://{address}/");
            axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
            Ok(())
        }
    }
}

/// `aidpay console`: the console alone, until `shutdown`.
pub async fn run(cfg: Config, store: Store, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let address = listen_address(&cfg);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|e| anyhow::anyhow!("财务工作台无法监听 {address}: {e} (console.listen; is another aidpay console running?)"))?;
    serve(Arc::new(cfg), store, listener, shutdown).await
}
