//! The console's pages: one handler per page or form. Each reads through the store's console
//! queries and acts through the same jobs the command line uses; the templates are in
//! [`super::view`].

use super::App;
use super::session::{self, Viewer};
use super::view::*;
use crate::approvals::{ApprovalError, Decision};
use crate::domain::card::mask_card;
use crate::domain::id_number::mask_id;
use crate::domain::{ApprovalStatus, ExceptionStatus, Fen, LabelZh, Role};
use crate::exceptions::{Action, ExceptionKind, ResolveError, ResolveOutcome};
use crate::people::PeopleError;
use crate::store::{AuditEntry, ExceptionQuery};
use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

/// Lines per page of the work list and the audit log.
pub const PAGE_SIZE: i64 = 50;

fn yuan(fen: Option<i64>) -> String {
    fen.map(|f| Fen(f).to_string()).unwrap_or_default()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!("console: {e}");
    error_page(StatusCode::INTERNAL_SERVER_ERROR, "系统内部错误，请稍后再试或联系管理员（详情见服务器日志）")
}

fn chrome(app: &App, title: &str, viewer: &Viewer, here: &str) -> Chrome {
    Chrome::new(title, &app.cfg.account.name, Some(viewer), here)
}

// ---- login ----

/// The login form.
pub async fn login_form(State(app): State<App>) -> Response {
    render(
        StatusCode::OK,
        &LoginPage { chrome: Chrome::new("登录", &app.cfg.account.name, None, ""), username: String::new(), message: String::new() },
    )
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// Where a login attempt ends: a session, or the reason and its HTTP status.
pub async fn log_in(app: &App, username: &str, password: &str) -> Result<(crate::people::Person, String, String), (StatusCode, String)> {
    match crate::people::authenticate(&app.store, username.trim(), password, "console").await {
        Ok(person) => match crate::people::open_session(&app.store, &person).await {
            Ok((token, csrf)) => Ok((person, token, csrf)),
            Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        },
        Err(e @ PeopleError::Locked(_)) => Err((StatusCode::LOCKED, e.to_string())),
        Err(e @ (PeopleError::WrongPassword | PeopleError::Disabled(_))) => Err((StatusCode::UNAUTHORIZED, e.to_string())),
        Err(e) => {
            tracing::error!("console login: {e}");
            Err((StatusCode::INTERNAL_SERVER_ERROR, "登录暂时无法完成，请稍后再试".to_string()))
        }
    }
}

/// The login form's post: a session cookie and the dashboard, or the form again with the reason.
pub async fn login(State(app): State<App>, headers: HeaderMap, Form(f): Form<LoginForm>) -> Response {
    match log_in(&app, &f.username, &f.password).await {
        Ok((_, token, _)) => {
            let cookie = session::set_cookie(&token, session::is_https(&app, &headers));
            ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
        }
        Err((status, message)) => render(
            status,
            &LoginPage { chrome: Chrome::new("登录", &app.cfg.account.name, None, ""), username: f.username.trim().to_string(), message },
        ),
    }
}

/// Ends the session.
pub async fn logout(State(app): State<App>, headers: HeaderMap, Extension(v): Extension<Viewer>) -> Response {
    if let Err(e) = crate::people::close_session(&app.store, &v.token, &v.person).await {
        return internal(e);
    }
    let cookie = session::set_cookie("", session::is_https(&app, &headers));
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}

// ---- 工作台 ----

/// The account's position, the open work, what awaits the viewer and the jobs.
pub async fn dashboard(State(app): State<App>, Extension(v): Extension<Viewer>) -> Response {
    let store = &app.store;
    let position = match store.position(&app.cfg.account.number).await {
        Ok(p) => p,
        Err(e) => return internal(e),
    };
    let figures = vec![
        ("拨入", Fen(position.allocations_in_fen).to_string()),
        ("已付", Fen(position.paid_out_fen).to_string()),
        ("退回", Fen(position.returned_fen).to_string()),
        ("在途", Fen(position.in_flight_fen).to_string()),
        ("余额", position.balance_fen.map(|b| Fen(b).to_string()).unwrap_or_else(|| "（尚无对账单）".into())),
    ];
    let open_by_kind = match store.open_exceptions_by_kind().await {
        Ok(k) => k.into_iter().map(|(kind, n)| (kind.as_str().to_string(), kind.label_zh().to_string(), n)).collect(),
        Err(e) => return internal(e),
    };
    let pending = match store.approvals(false, 1000).await {
        Ok(p) => p,
        Err(e) => return internal(e),
    };
    let awaiting_me = if v.person.role.may_decide() { pending.iter().filter(|a| a.proposed_by != v.person.username).count() } else { 0 };
    let jobs = match crate::scheduler::job_status(&app.cfg, store).await {
        Ok(j) => j
            .into_iter()
            .map(|j| {
                let (last, outcome) = match j.last_run {
                    Some(r) => (r.started_at, r.outcome.map(|o| o.label_zh()).unwrap_or_default()),
                    None => ("从未运行".into(), ""),
                };
                (crate::alerts::job_label(&j.job).to_string(), last, outcome.to_string(), j.next_run.unwrap_or_else(|| "未安排".into()))
            })
            .collect(),
        Err(e) => return internal(e),
    };
    render(
        StatusCode::OK,
        &DashboardPage { chrome: chrome(&app, "工作台", &v, "/"), figures, open_by_kind, awaiting_me, pending_all: pending.len(), jobs },
    )
}

// ---- 异常清单 ----

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// The work list, filtered and paged, newest first.
pub async fn exceptions(State(app): State<App>, Extension(v): Extension<Viewer>, Query(mut f): Query<ExceptionFilterForm>) -> Response {
    if f.status.is_empty() {
        f.status = "open".into();
    }
    let status = ExceptionStatus::filter(&f.status).unwrap_or(None);
    if status.is_none() {
        f.status = "all".into();
    }
    let kind = non_empty(&f.kind).and_then(|k| ExceptionKind::parse(&k));
    let page = f.page.unwrap_or(1).max(1);
    let q = ExceptionQuery {
        kind,
        status,
        school: non_empty(&f.school),
        program: non_empty(&f.program),
        period: non_empty(&f.term),
        offset: (page - 1) * PAGE_SIZE,
        limit: PAGE_SIZE,
    };
    let (found, choices) = match tokio::try_join!(app.store.exception_page(&q), app.choices.get(&app.store)) {
        Ok(x) => x,
        Err(e) => return internal(e),
    };
    let pages = ((found.total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let rows = found
        .rows
        .into_iter()
        .map(|r| ExceptionLine {
            id: r.id,
            kind: r.kind.label_zh().to_string(),
            severity: r.severity.label_zh().to_string(),
            status: r.status.label_zh().to_string(),
            grant_id: r.grant_id.unwrap_or_default(),
            school: r.school_name.unwrap_or_default(),
            student: r.student_name.unwrap_or_default(),
            program: r.program.unwrap_or_default(),
            period: r.period.unwrap_or_default(),
            amount: yuan(r.amount_fen),
            created_at: r.created_at,
        })
        .collect();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("kind", &f.kind)
        .append_pair("school", &f.school)
        .append_pair("program", &f.program)
        .append_pair("term", &f.term)
        .append_pair("status", &f.status)
        .finish();
    render(
        StatusCode::OK,
        &ExceptionsPage {
            chrome: chrome(&app, "异常清单", &v, "/exceptions"),
            filter: f,
            kinds: ExceptionKind::ALL.iter().map(|k| (k.as_str(), k.label_zh())).collect(),
            schools: choices.schools,
            programs: choices.programs,
            periods: choices.periods,
            rows,
            total: found.total,
            page,
            pages,
            query,
        },
    )
}

// ---- 异常详情 ----

/// Builds the exception page (also after an action on it, with `flash`).
async fn exception_page(app: &App, v: &Viewer, id: i64, flash: String, status: StatusCode) -> Response {
    let store = &app.store;
    let e = match store.exception_detail(id).await {
        Ok(Some(e)) => e,
        Ok(None) => return error_page(StatusCode::NOT_FOUND, &format!("异常 {id} 不存在")),
        Err(e) => return internal(e),
    };
    let kind = e.kind;
    let mut grant = None;
    let mut payments = Vec::new();
    let mut subjects = vec![format!("exception {id}"), id.to_string()];
    if let Some(gid) = &e.grant_id {
        subjects.push(gid.clone());
        match store.grant(gid).await {
            Ok(Some(g)) => {
                grant = Some(GrantView {
                    grant_id: g.grant_id.clone(),
                    status: g.status.label_zh().to_string(),
                    name: g.name.clone(),
                    id_number: mask_id(&g.id_number),
                    school: format!("{} {}", g.school_code, g.school_name),
                    stage: format!("{} {}", g.stage, g.grade),
                    program: g.program.clone(),
                    period: g.period.clone(),
                    amount: Fen(g.amount_fen).to_string(),
                    tier: format!("{} {}", g.tier, g.priority),
                    holder: g.card_holder.clone(),
                    card: mask_card(&g.card_number),
                })
            }
            Ok(None) => {}
            Err(e) => return internal(e),
        }
        let rows = match store.payments_of_grant(gid).await {
            Ok(r) => r,
            Err(e) => return internal(e),
        };
        for p in rows {
            let events = match store.payment_events(&p.payment_ref).await {
                Ok(ev) => ev
                    .into_iter()
                    .map(|ev| {
                        let reason = [ev.reason_code.unwrap_or_default(), ev.reason_text.unwrap_or_default()].join(" ");
                        format!("{} {}", ev.status, reason.trim())
                    })
                    .collect::<Vec<_>>()
                    .join("；"),
                Err(e) => return internal(e),
            };
            if let Some(b) = &p.batch_id {
                subjects.push(b.clone());
            }
            payments.push(PaymentView {
                attempt: p.attempt,
                payment_ref: p.payment_ref,
                batch: p.batch_id.unwrap_or_default(),
                card: mask_card(&p.card_number),
                holder: p.card_holder,
                amount: Fen(p.amount_fen).to_string(),
                status: p.status.label_zh().to_string(),
                events,
            });
        }
    }
    let audit = match store.audit_of(&subjects, 200).await {
        Ok(a) => a.into_iter().map(AuditLine::from).collect(),
        Err(e) => return internal(e),
    };
    let resolution = match (&e.resolution, &e.resolved_by) {
        (Some(r), by) => format!(
            "{}（{} {}）{}",
            r.label_zh(),
            by.clone().unwrap_or_default(),
            e.resolved_at.clone().unwrap_or_default(),
            e.note.clone().unwrap_or_default()
        ),
        _ => String::new(),
    };
    let approval = &app.cfg.approval;
    let view = ExceptionView {
        id: e.id,
        kind: kind.label_zh().to_string(),
        severity: e.severity.label_zh().to_string(),
        status: e.status.label_zh().to_string(),
        created_at: e.created_at,
        amount: yuan(e.amount_fen),
        detail: e.detail,
        reason: e.reason_code.unwrap_or_default(),
        suggestion: kind.suggestion_zh().to_string(),
        resolution,
    };
    let mut c = chrome(app, &format!("异常 #{id}"), v, "/exceptions");
    c.flash = flash;
    render(
        status,
        &ExceptionPage {
            chrome: c,
            e: view,
            grant,
            payments,
            audit,
            can_act: v.person.role.may_resolve() && e.status == ExceptionStatus::Open,
            needs_approval: approval.card_changes || approval.cancellations || approval.accepts,
        },
    )
}

/// One exception: the grant, every payment attempt and bank event, its trail, the role's actions.
pub async fn exception(State(app): State<App>, Extension(v): Extension<Viewer>, Path(id): Path<i64>) -> Response {
    exception_page(&app, &v, id, String::new(), StatusCode::OK).await
}

#[derive(serde::Deserialize)]
pub struct ResolveForm {
    action: String,
    #[serde(default)]
    card: String,
    #[serde(default)]
    holder: String,
    #[serde(default)]
    note: String,
}

/// The HTTP status for a resolution that was not applied.
pub fn resolve_status(e: &ResolveError) -> StatusCode {
    match e {
        ResolveError::NotFound(_) => StatusCode::NOT_FOUND,
        ResolveError::Forbidden(_) => StatusCode::FORBIDDEN,
        ResolveError::AlreadyResolved(_) | ResolveError::NoGrant { .. } | ResolveError::Refused(_) => StatusCode::CONFLICT,
        ResolveError::Store(_) | ResolveError::Batch(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The action a form or an API call names, with its note checked.
pub fn parse_action(action: &str, card: &str, holder: &str, note: &str) -> Result<Action, String> {
    if note.trim().is_empty() {
        return Err("请填写处理说明 (note)".into());
    }
    if note.chars().count() > 500 {
        return Err("处理说明不能超过 500 个字符".into());
    }
    match action {
        "reissue" => Ok(Action::Reissue { card: non_empty(card), holder: non_empty(holder) }),
        "cancel" => Ok(Action::Cancel),
        "accept" => Ok(Action::Accept),
        other => Err(format!("未知的处理方式 {other:?}：可选 reissue、cancel、accept")),
    }
}

/// Runs a resolution for the viewer; the role's rules and four eyes are the job's.
pub async fn do_resolve(app: &App, v: &Viewer, id: i64, action: &Action, note: &str) -> Result<ResolveOutcome, ResolveError> {
    if !v.person.role.may_resolve() {
        return Err(ResolveError::Forbidden(format!("{} 的角色（{}）不能处理异常", v.person.username, v.person.role.label_zh())));
    }
    crate::exceptions::resolve(&app.store, &app.cfg, id, action, note.trim(), &v.person).await
}

/// The resolve forms of an exception's page.
pub async fn resolve(State(app): State<App>, Extension(v): Extension<Viewer>, Path(id): Path<i64>, Form(f): Form<ResolveForm>) -> Response {
    let action = match parse_action(&f.action, &f.card, &f.holder, &f.note) {
        Ok(a) => a,
        Err(m) => return exception_page(&app, &v, id, m, StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    match do_resolve(&app, &v, id, &action, &f.note).await {
        Ok(ResolveOutcome::Applied(done)) => exception_page(&app, &v, id, format!("已处理：{}", done.message), StatusCode::OK).await,
        Ok(ResolveOutcome::Proposed { proposal, message, .. }) => {
            exception_page(&app, &v, id, format!("已提交复核（提议 #{proposal}）：{message}"), StatusCode::ACCEPTED).await
        }
        Err(e) => {
            let status = resolve_status(&e);
            if status == StatusCode::INTERNAL_SERVER_ERROR {
                return internal(e);
            }
            if status == StatusCode::FORBIDDEN {
                return error_page(status, &e.to_string());
            }
            exception_page(&app, &v, id, format!("未处理：{e}"), status).await
        }
    }
}

// ---- 待复核 ----

#[derive(serde::Deserialize, Default)]
pub struct StatusQuery {
    #[serde(default)]
    status: String,
}

async fn approvals_page(app: &App, v: &Viewer, all: bool, flash: String, status: StatusCode) -> Response {
    let rows = match app.store.approvals(all, 500).await {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let rows = rows
        .into_iter()
        .map(|a| {
            // The proposal as people read it: a new card number masked (the row's serializer does it).
            let shown = serde_json::to_value(&a).unwrap_or_default();
            ApprovalView {
                id: a.id,
                kind: a.kind.label_zh().to_string(),
                subject: a.subject.clone(),
                proposed_by: a.proposed_by.clone(),
                proposed_at: a.proposed_at.clone(),
                before: shown.get("before").filter(|b| !b.is_null()).map(|b| b.to_string()).unwrap_or_default(),
                after: shown.get("after").map(|b| b.to_string()).unwrap_or_default(),
                status: a.status.label_zh().to_string(),
                decided_by: a.decided_by.clone().unwrap_or_default(),
                note: a.note.clone().unwrap_or_default(),
                pending: a.status == ApprovalStatus::Pending,
                mine: a.proposed_by == v.person.username,
            }
        })
        .collect();
    let mut c = chrome(app, "待复核", v, "/approvals");
    c.flash = flash;
    render(status, &ApprovalsPage { chrome: c, rows, can_decide: v.person.role.may_decide(), show_all: all })
}

/// Proposals waiting for a second person (or all of them).
pub async fn approvals(State(app): State<App>, Extension(v): Extension<Viewer>, Query(q): Query<StatusQuery>) -> Response {
    approvals_page(&app, &v, q.status == "all", String::new(), StatusCode::OK).await
}

#[derive(serde::Deserialize, Default)]
pub struct NoteForm {
    #[serde(default)]
    note: String,
}

/// The HTTP status for a decision that was not taken.
pub fn decision_status(e: &ApprovalError) -> StatusCode {
    match e {
        ApprovalError::NotFound(_) => StatusCode::NOT_FOUND,
        ApprovalError::Forbidden(_) => StatusCode::FORBIDDEN,
        ApprovalError::Refused(_) => StatusCode::CONFLICT,
        ApprovalError::Resolve(r) => resolve_status(r),
        ApprovalError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `approve` or `reject` from a path segment.
pub fn parse_decision(s: &str) -> Option<Decision> {
    match s {
        "approve" => Some(Decision::Approve),
        "reject" => Some(Decision::Reject),
        _ => None,
    }
}

/// A reviewer approves or rejects a proposal.
pub async fn decide(
    State(app): State<App>,
    Extension(v): Extension<Viewer>,
    Path((id, decision)): Path<(i64, String)>,
    Form(f): Form<NoteForm>,
) -> Response {
    let Some(decision) = parse_decision(&decision) else {
        return not_found().await;
    };
    if decision == Decision::Reject && f.note.trim().is_empty() {
        return approvals_page(&app, &v, false, "驳回须写明理由".into(), StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    match crate::approvals::decide(&app.store, &app.cfg, id, decision, f.note.trim(), &v.person).await {
        Ok(d) => approvals_page(&app, &v, false, d.message, StatusCode::OK).await,
        Err(e) => match decision_status(&e) {
            StatusCode::INTERNAL_SERVER_ERROR => internal(e),
            StatusCode::FORBIDDEN => error_page(StatusCode::FORBIDDEN, &e.to_string()),
            status => approvals_page(&app, &v, false, format!("未处理：{e}"), status).await,
        },
    }
}

// ---- 批次 ----

/// Batches, newest first, with their money per school and program.
pub async fn batches(State(app): State<App>, Extension(v): Extension<Viewer>) -> Response {
    let list = match app.store.account_batches(200).await {
        Ok(b) => b,
        Err(e) => return internal(e),
    };
    let ids: Vec<String> = list.iter().map(|b| b.batch_id.clone()).collect();
    let totals = match app.store.batch_totals(&ids).await {
        Ok(t) => t,
        Err(e) => return internal(e),
    };
    let rows = list
        .into_iter()
        .map(|b| BatchView {
            totals: totals
                .iter()
                .filter(|t| t.batch_id == b.batch_id)
                .map(|t| (t.school_name.clone(), t.program.clone(), t.count, Fen(t.total_fen).to_string()))
                .collect(),
            status: b.status.label_zh().to_string(),
            profile: b.profile,
            execution_date: b.execution_date,
            count: b.nb_of_txs,
            total: Fen(b.ctrl_sum_fen).to_string(),
            has_file: b.file_name.is_some(),
            file: b.file_name.unwrap_or_default(),
            batch_id: b.batch_id,
        })
        .collect();
    render(StatusCode::OK, &BatchesPage { chrome: chrome(&app, "批次", &v, "/batches"), rows })
}

/// A batch's file as it went to the bank. It carries full card numbers (the bank needs them), so
/// every download goes on the audit trail with who took it.
pub async fn batch_file(State(app): State<App>, Extension(v): Extension<Viewer>, Path(id): Path<String>) -> Response {
    let batch = match app.store.account_batch(&id).await {
        Ok(b) => b,
        Err(e) => return internal(e),
    };
    let Some(name) = batch.and_then(|b| b.file_name) else {
        return error_page(StatusCode::NOT_FOUND, &format!("批次 {id} 没有文件"));
    };
    let path = app.cfg.paths.outbox.join(&name);
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) => {
            return error_page(StatusCode::NOT_FOUND, &format!("批次文件 {name} 读取失败：{e}"));
        }
    };
    let entry = AuditEntry {
        actor: &v.person.username,
        action: "batch.file_download",
        subject: &id,
        before: None,
        after: Some(serde_json::json!({"file": name, "sha256": crate::files::sha256_hex(&bytes)})),
    };
    if let Err(e) = app.store.audit(&entry).await {
        return internal(e);
    }
    download(&name, bytes)
}

/// A file as a download, named.
fn download(name: &str, bytes: Vec<u8>) -> Response {
    let mime = match name.rsplit('.').next() {
        Some("xml") => "application/xml",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Some("csv") => "text/csv; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    };
    let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    ([(header::CONTENT_TYPE, mime.to_string()), (header::CONTENT_DISPOSITION, format!("attachment; filename*=UTF-8''{encoded}"))], bytes)
        .into_response()
}

// ---- 报表 ----

fn report_files(dir: &std::path::Path) -> Vec<(String, u64, String)> {
    let mut files: Vec<(String, u64, String)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let meta = e.metadata().ok().filter(|m| m.is_file())?;
            let name = e.file_name().into_string().ok()?;
            let modified =
                meta.modified().ok().map(|t| chrono::DateTime::<chrono::Local>::from(t).format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default();
            Some((name, meta.len(), modified))
        })
        .collect();
    files.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    files
}

fn may_make_reports(role: Role) -> bool {
    role != Role::Admin
}

/// Every report in the reports folder, to download, and the button that makes one now.
pub async fn reports(State(app): State<App>, Extension(v): Extension<Viewer>) -> Response {
    reports_page(&app, &v, String::new()).await
}

async fn reports_page(app: &App, v: &Viewer, flash: String) -> Response {
    let mut c = chrome(app, "报表", v, "/reports");
    c.flash = flash;
    render(StatusCode::OK, &ReportsPage { chrome: c, files: report_files(&app.cfg.paths.reports), can_make: may_make_reports(v.person.role) })
}

#[derive(serde::Deserialize)]
pub struct MakeReportForm {
    which: String,
    format: String,
}

/// Makes the exception or the reconciliation report now.
pub async fn make_report(State(app): State<App>, Extension(v): Extension<Viewer>, Form(f): Form<MakeReportForm>) -> Response {
    if !may_make_reports(v.person.role) {
        return error_page(StatusCode::FORBIDDEN, "管理员不处理资金报表");
    }
    let format = match f.format.as_str() {
        "xlsx" => crate::reports::ReportFormat::Xlsx,
        "csv" => crate::reports::ReportFormat::Csv,
        "html" => crate::reports::ReportFormat::Html,
        _ => return reports_page(&app, &v, "未知的格式".into()).await,
    };
    let dir = app.cfg.paths.reports.clone();
    let made = match f.which.as_str() {
        "exceptions" => crate::reports::exception_report(&app.store, &app.cfg, format, &dir).await,
        "reconciliation" => crate::reports::reconciliation_report(&app.store, &app.cfg, format, &dir).await,
        _ => return reports_page(&app, &v, "未知的报表".into()).await,
    };
    let flash = match made {
        Ok(path) => {
            let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let entry = AuditEntry {
                actor: &v.person.username,
                action: "report.make",
                subject: &name,
                before: None,
                after: Some(serde_json::json!({"report": f.which, "format": f.format, "channel": "console"})),
            };
            if let Err(e) = app.store.audit(&entry).await {
                return internal(e);
            }
            format!("已生成 {name}")
        }
        Err(e) => {
            tracing::error!("console: making a report: {e}");
            format!("报表生成失败：{e}")
        }
    };
    reports_page(&app, &v, flash).await
}

/// A report from the reports folder (its name only: no path leaves the folder).
pub async fn report_file(State(app): State<App>, Path(name): Path<String>) -> Response {
    let plain = !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\']) && !name.contains("..");
    if !plain {
        return error_page(StatusCode::NOT_FOUND, "没有这个报表");
    }
    match tokio::fs::read(app.cfg.paths.reports.join(&name)).await {
        Ok(bytes) => download(&name, bytes),
        Err(_) => error_page(StatusCode::NOT_FOUND, "没有这个报表"),
    }
}

// ---- 审计日志 ----

#[derive(serde::Deserialize, Default)]
pub struct PageQuery {
    page: Option<i64>,
}

/// The whole audit trail, newest first (auditors and admins).
pub async fn audit(State(app): State<App>, Extension(v): Extension<Viewer>, Query(q): Query<PageQuery>) -> Response {
    if !v.person.role.may_read_audit() {
        return error_page(StatusCode::FORBIDDEN, "审计日志仅供审计人员和管理员查看");
    }
    let page = q.page.unwrap_or(1).max(1);
    let (rows, total) = match app.store.audit_page(None, None, (page - 1) * PAGE_SIZE, PAGE_SIZE).await {
        Ok(x) => x,
        Err(e) => return internal(e),
    };
    render(
        StatusCode::OK,
        &AuditPage {
            chrome: chrome(&app, "审计日志", &v, "/audit"),
            audit: rows.into_iter().map(AuditLine::from).collect(),
            total,
            page,
            pages: ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1),
        },
    )
}

// ---- 用户 ----

async fn users_page(app: &App, v: &Viewer, flash: String, status: StatusCode) -> Response {
    if !v.person.role.may_manage_users() {
        return error_page(StatusCode::FORBIDDEN, "用户管理仅限管理员");
    }
    let users = match app.store.users().await {
        Ok(u) => u,
        Err(e) => return internal(e),
    };
    let now = crate::people::unix_now();
    let rows = users
        .into_iter()
        .map(|u| {
            let state = if u.disabled {
                "已停用"
            } else if u.locked_until.is_some_and(|t| t > now) {
                "已锁定"
            } else {
                "正常"
            };
            let may_disable = !u.disabled && u.username != v.person.username;
            (u.username, u.display_name, u.role.label_zh().to_string(), state.to_string(), may_disable)
        })
        .collect();
    let mut c = chrome(app, "用户", v, "/users");
    c.flash = flash;
    render(status, &UsersPage { chrome: c, rows })
}

/// The users of this account (admins).
pub async fn users(State(app): State<App>, Extension(v): Extension<Viewer>) -> Response {
    users_page(&app, &v, String::new(), StatusCode::OK).await
}

#[derive(serde::Deserialize)]
pub struct NewUserForm {
    username: String,
    display_name: String,
    role: String,
    password: String,
}

/// An admin adds a user.
pub async fn add_user(State(app): State<App>, Extension(v): Extension<Viewer>, Form(f): Form<NewUserForm>) -> Response {
    if !v.person.role.may_manage_users() {
        return error_page(StatusCode::FORBIDDEN, "用户管理仅限管理员");
    }
    let Some(role) = Role::parse(&f.role) else {
        return users_page(&app, &v, "未知的角色".into(), StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    match crate::people::add_user(&app.store, f.username.trim(), &f.display_name, role, &f.password, &v.person.username).await {
        Ok(u) => users_page(&app, &v, format!("已新增用户 {}（{}）", u.username, u.role.label_zh()), StatusCode::OK).await,
        Err(PeopleError::Invalid(m)) => users_page(&app, &v, m, StatusCode::UNPROCESSABLE_ENTITY).await,
        Err(e) => internal(e),
    }
}

/// An admin disables a user.
pub async fn change_user(State(app): State<App>, Extension(v): Extension<Viewer>, Path((name, what)): Path<(String, String)>) -> Response {
    if !v.person.role.may_manage_users() {
        return error_page(StatusCode::FORBIDDEN, "用户管理仅限管理员");
    }
    if what != "disable" {
        return not_found().await;
    }
    if name == v.person.username {
        return users_page(&app, &v, "不能停用自己".into(), StatusCode::CONFLICT).await;
    }
    match crate::people::disable_user(&app.store, &name, &v.person.username).await {
        Ok(()) => users_page(&app, &v, format!("已停用用户 {name}"), StatusCode::OK).await,
        Err(PeopleError::Invalid(m)) => users_page(&app, &v, m, StatusCode::NOT_FOUND).await,
        Err(e) => internal(e),
    }
}

// ---- the rest ----

fn svg(body: String) -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")], body).into_response()
}

/// The dashboard's bar chart: paid per month by program.
pub async fn chart_paid(State(app): State<App>) -> Response {
    match app.store.paid_per_month().await {
        Ok(rows) => {
            let rows: Vec<(String, String, i64)> = rows.into_iter().map(|r| (r.month, r.program, r.total_fen)).collect();
            svg(crate::reports::charts::paid_per_month_svg(&rows))
        }
        Err(e) => internal(e),
    }
}

/// The dashboard's line chart: the balance by statement date.
pub async fn chart_balance(State(app): State<App>) -> Response {
    match app.store.balance_series().await {
        Ok(points) => svg(crate::reports::charts::balance_svg(&points)),
        Err(e) => internal(e),
    }
}

/// The dashboard's third chart: open exceptions by kind (Chinese labels).
pub async fn chart_open(State(app): State<App>) -> Response {
    match app.store.open_exceptions_by_kind().await {
        Ok(rows) => {
            let rows: Vec<(String, i64)> = rows.into_iter().map(|(k, n)| (k.label_zh().to_string(), n)).collect();
            svg(crate::reports::charts::open_exceptions_svg(&rows))
        }
        Err(e) => internal(e),
    }
}

/// The console's one stylesheet (screen and print).
pub async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], include_str!("console.css")).into_response()
}

pub async fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "找不到这个页面")
}
