//! The pages' templates (askama, checked at compile time, HTML-escaped) and what they show:
//! every value is prepared as display text here or in [`super::pages`], so the templates hold no
//! logic beyond loops and the role's buttons.

use super::session::Viewer;
use crate::domain::Role;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// What every page's frame shows: the title, the account, who is logged in and the menu.
pub struct Chrome {
    pub title: String,
    pub account: String,
    pub logged_in: bool,
    pub user: String,
    pub csrf: String,
    /// `(href, label, is this page)`
    pub nav: Vec<(&'static str, &'static str, bool)>,
    /// A one-line message after an action (what was done, or why not).
    pub flash: String,
}

impl Chrome {
    /// The frame for `viewer` on the page at `here`; the menu shows what the role may open.
    pub fn new(title: &str, account: &str, viewer: Option<&Viewer>, here: &str) -> Chrome {
        let mut nav = vec![("/", "工作台"), ("/exceptions", "异常清单"), ("/approvals", "待复核"), ("/batches", "批次"), ("/reports", "报表")];
        if let Some(v) = viewer {
            if v.person.role.may_read_audit() {
                nav.push(("/audit", "审计日志"));
            }
            if v.person.role == Role::Admin {
                nav.push(("/users", "用户"));
            }
        }
        Chrome {
            title: title.to_string(),
            account: account.to_string(),
            logged_in: viewer.is_some(),
            user: viewer.map(|v| v.person.label()).unwrap_or_default(),
            csrf: viewer.map(|v| v.csrf.clone()).unwrap_or_default(),
            nav: nav.into_iter().map(|(h, l)| (h, l, h == here)).collect(),
            flash: String::new(),
        }
    }
}

/// Renders a template as an HTML response with `status`.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!("console: rendering a page: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, Html("<!doctype html><title>错误</title><p>页面生成失败，请联系管理员。</p>".to_string()))
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html", config = "src/console/askama.toml")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub heading: String,
    pub message: String,
}

/// A page that says why a request was refused (no menu: the viewer may not be known).
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let heading = match status {
        StatusCode::FORBIDDEN => "无权操作",
        StatusCode::NOT_FOUND => "找不到页面",
        StatusCode::CONFLICT => "操作被拒绝",
        StatusCode::UNAUTHORIZED => "请登录",
        _ => "出错了",
    };
    render(status, &ErrorPage { chrome: Chrome::new(heading, "", None, ""), heading: heading.to_string(), message: message.to_string() })
}

#[derive(Template)]
#[template(path = "login.html", config = "src/console/askama.toml")]
pub struct LoginPage {
    pub chrome: Chrome,
    pub username: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "dashboard.html", config = "src/console/askama.toml")]
pub struct DashboardPage {
    pub chrome: Chrome,
    /// `(label, amount in yuan)`: 拨入, 已付, 退回, 在途, 余额
    pub figures: Vec<(&'static str, String)>,
    /// `(kind, label, count)`
    pub open_by_kind: Vec<(String, String, i64)>,
    pub awaiting_me: usize,
    pub pending_all: usize,
    /// `(job, last run, outcome, next run)`
    pub jobs: Vec<(String, String, String, String)>,
}

/// One line of the work list as shown.
pub struct ExceptionLine {
    pub id: i64,
    pub kind: String,
    pub severity: String,
    pub status: String,
    pub grant_id: String,
    pub school: String,
    pub student: String,
    pub program: String,
    pub period: String,
    pub amount: String,
    pub created_at: String,
}

/// The filters as chosen (empty: all).
#[derive(Debug, Default, serde::Deserialize)]
pub struct ExceptionFilterForm {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub school: String,
    #[serde(default)]
    pub program: String,
    #[serde(default)]
    pub term: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub page: Option<i64>,
}

#[derive(Template)]
#[template(path = "exceptions.html", config = "src/console/askama.toml")]
pub struct ExceptionsPage {
    pub chrome: Chrome,
    pub filter: ExceptionFilterForm,
    pub kinds: Vec<(&'static str, &'static str)>,
    pub schools: Vec<(String, String)>,
    pub programs: Vec<String>,
    pub periods: Vec<String>,
    pub rows: Vec<ExceptionLine>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    /// The filters as a query string, for the pager's links.
    pub query: String,
}

/// An exception as its page shows it.
pub struct ExceptionView {
    pub id: i64,
    pub kind: String,
    pub severity: String,
    pub status: String,
    pub created_at: String,
    pub amount: String,
    pub detail: String,
    pub reason: String,
    pub suggestion: String,
    pub resolution: String,
}

/// A grant as the exception page shows it: card and ID number masked.
pub struct GrantView {
    pub grant_id: String,
    pub status: String,
    pub name: String,
    pub id_number: String,
    pub school: String,
    pub stage: String,
    pub program: String,
    pub period: String,
    pub amount: String,
    pub tier: String,
    pub holder: String,
    pub card: String,
}

/// One payment attempt and what the bank said of it.
pub struct PaymentView {
    pub attempt: i64,
    pub payment_ref: String,
    pub batch: String,
    pub card: String,
    pub holder: String,
    pub amount: String,
    pub status: String,
    pub events: String,
}

/// An audit line as shown.
pub struct AuditLine {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub before: String,
    pub after: String,
}

impl From<crate::store::AuditRow> for AuditLine {
    fn from(a: crate::store::AuditRow) -> AuditLine {
        AuditLine {
            id: a.id,
            at: a.at,
            actor: a.actor,
            action: a.action,
            subject: a.subject,
            before: a.before.unwrap_or_default(),
            after: a.after.unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "exception.html", config = "src/console/askama.toml")]
pub struct ExceptionPage {
    pub chrome: Chrome,
    pub e: ExceptionView,
    pub grant: Option<GrantView>,
    pub payments: Vec<PaymentView>,
    pub audit: Vec<AuditLine>,
    pub can_act: bool,
    pub needs_approval: bool,
}

/// A proposal as the 待复核 page shows it.
pub struct ApprovalView {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub proposed_by: String,
    pub proposed_at: String,
    pub before: String,
    pub after: String,
    pub status: String,
    pub decided_by: String,
    pub note: String,
    pub pending: bool,
    /// Proposed by the viewer: they may not decide it.
    pub mine: bool,
}

#[derive(Template)]
#[template(path = "approvals.html", config = "src/console/askama.toml")]
pub struct ApprovalsPage {
    pub chrome: Chrome,
    pub rows: Vec<ApprovalView>,
    pub can_decide: bool,
    pub show_all: bool,
}

/// A batch with its money per school and program.
pub struct BatchView {
    pub batch_id: String,
    pub status: String,
    pub profile: String,
    pub execution_date: String,
    pub count: i64,
    pub total: String,
    pub file: String,
    pub has_file: bool,
    /// `(school, program, count, yuan)`
    pub totals: Vec<(String, String, i64, String)>,
}

#[derive(Template)]
#[template(path = "batches.html", config = "src/console/askama.toml")]
pub struct BatchesPage {
    pub chrome: Chrome,
    pub rows: Vec<BatchView>,
}

#[derive(Template)]
#[template(path = "reports.html", config = "src/console/askama.toml")]
pub struct ReportsPage {
    pub chrome: Chrome,
    /// `(file name, size, modified)`
    pub files: Vec<(String, u64, String)>,
    pub can_make: bool,
}

#[derive(Template)]
#[template(path = "audit.html", config = "src/console/askama.toml")]
pub struct AuditPage {
    pub chrome: Chrome,
    pub audit: Vec<AuditLine>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
}

#[derive(Template)]
#[template(path = "users.html", config = "src/console/askama.toml")]
pub struct UsersPage {
    pub chrome: Chrome,
    /// `(username, display name, role, state, may be disabled)`
    pub rows: Vec<(String, String, String, String, bool)>,
}
