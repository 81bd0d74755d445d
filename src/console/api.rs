//! The console's JSON API for scripts and tests (`/api/v1`, contract in INTERFACES.md): the same
//! session, the same CSRF rule (header `X-CSRF-Token`), the same jobs as the pages. Errors are
//! `{"error": TEXT}` with the status the contract names.

use super::App;
use super::pages::{decision_status, do_resolve, log_in, parse_action, parse_decision, resolve_status};
use super::session::{self, Viewer, refusal};
use crate::exceptions::{ExceptionKind, ResolveOutcome};
use crate::store::ExceptionFilter;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!("console api: {message}");
        return refusal(true, status, "系统内部错误（详情见服务器日志）");
    }
    refusal(true, status, &message.to_string())
}

#[derive(serde::Deserialize)]
pub struct LoginBody {
    username: String,
    password: String,
}

/// `POST /api/v1/login`: 200 `{"user","role","csrf"}` and the session cookie; 401 wrong, 423 locked.
pub async fn login(State(app): State<App>, headers: HeaderMap, Json(b): Json<LoginBody>) -> Response {
    match log_in(&app, &b.username, &b.password).await {
        Ok((person, token, csrf)) => (
            [(header::SET_COOKIE, session::set_cookie(&token, session::is_https(&app, &headers)))],
            Json(serde_json::json!({"user": person.username, "display_name": person.display_name, "role": person.role, "csrf": csrf})),
        )
            .into_response(),
        Err((status, message)) => error(status, message),
    }
}

/// `POST /api/v1/logout`.
pub async fn logout(State(app): State<App>, headers: HeaderMap, Extension(v): Extension<Viewer>) -> Response {
    match crate::people::close_session(&app.store, &v.token, &v.person).await {
        Ok(()) => ([(header::SET_COOKIE, session::set_cookie("", session::is_https(&app, &headers)))], Json(serde_json::json!({"logged_out": true})))
            .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[derive(serde::Deserialize, Default)]
pub struct ExceptionsQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    school: Option<String>,
}

/// `GET /api/v1/exceptions?status=open|resolved|all&kind=K`: as `exceptions list --json`.
pub async fn exceptions(State(app): State<App>, Query(q): Query<ExceptionsQuery>) -> Response {
    let text = q.status.as_deref().unwrap_or("open");
    let Ok(status) = crate::domain::ExceptionStatus::filter(text) else {
        return error(StatusCode::BAD_REQUEST, format!("status={text}：可选 open、resolved、all"));
    };
    let kind = match q.kind.as_deref().map(|k| (k, ExceptionKind::parse(k))) {
        None => None,
        Some((_, Some(k))) => Some(k),
        Some((k, None)) => {
            return error(StatusCode::BAD_REQUEST, format!("kind={k}：不是异常类型"));
        }
    };
    match crate::exceptions::list(&app.store, &ExceptionFilter { kind, status, school: q.school }).await {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[derive(serde::Deserialize)]
pub struct ResolveBody {
    action: String,
    #[serde(default)]
    card: Option<String>,
    #[serde(default)]
    holder: Option<String>,
    #[serde(default)]
    note: String,
}

/// `POST /api/v1/exceptions/{id}/resolve`: 200 applied, 202 proposed, 403 role, 409 refused.
pub async fn resolve(State(app): State<App>, Extension(v): Extension<Viewer>, Path(id): Path<i64>, Json(b): Json<ResolveBody>) -> Response {
    let action = match parse_action(&b.action, b.card.as_deref().unwrap_or(""), b.holder.as_deref().unwrap_or(""), &b.note) {
        Ok(a) => a,
        Err(m) => return error(StatusCode::UNPROCESSABLE_ENTITY, m),
    };
    match do_resolve(&app, &v, id, &action, &b.note).await {
        Ok(ResolveOutcome::Applied(done)) => {
            let mut body = serde_json::to_value(&done).unwrap_or_default();
            body["applied"] = serde_json::Value::Bool(true);
            Json(body).into_response()
        }
        Ok(ResolveOutcome::Proposed { proposal, kind, message }) => {
            (StatusCode::ACCEPTED, Json(serde_json::json!({"applied": false, "proposal": proposal, "kind": kind, "message": message})))
                .into_response()
        }
        Err(e) => error(resolve_status(&e), e),
    }
}

/// `GET /api/v1/approvals?status=pending|all`.
pub async fn approvals(State(app): State<App>, Query(q): Query<ExceptionsQuery>) -> Response {
    let all = match q.status.as_deref().unwrap_or("pending") {
        "pending" => false,
        "all" => true,
        other => {
            return error(StatusCode::BAD_REQUEST, format!("status={other}：可选 pending、all"));
        }
    };
    match crate::approvals::list(&app.store, all).await {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[derive(serde::Deserialize, Default)]
pub struct NoteBody {
    #[serde(default)]
    note: String,
}

/// `POST /api/v1/approvals/{id}/approve|reject` `{"note"}`: 200; 403 proposer or role; 409 refused.
pub async fn decide(
    State(app): State<App>,
    Extension(v): Extension<Viewer>,
    Path((id, decision)): Path<(i64, String)>,
    body: Option<Json<NoteBody>>,
) -> Response {
    let Some(decision) = parse_decision(&decision) else {
        return error(StatusCode::NOT_FOUND, "可选 approve 或 reject");
    };
    let note = body.map(|Json(b)| b.note).unwrap_or_default();
    if decision == crate::approvals::Decision::Reject && note.trim().is_empty() {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "驳回须写明理由 (note)");
    }
    match crate::approvals::decide(&app.store, &app.cfg, id, decision, note.trim(), &v.person).await {
        Ok(d) => Json(d).into_response(),
        Err(e) => error(decision_status(&e), e),
    }
}

/// `GET /api/v1/batches`: `[{"batch_id","status","profile","nb_of_txs","total","file"}]`.
pub async fn batches(State(app): State<App>) -> Response {
    match app.store.account_batches(1000).await {
        Ok(list) => Json(
            list.into_iter()
                .map(|b| {
                    serde_json::json!({
                        "batch_id": b.batch_id, "status": b.status, "profile": b.profile, "nb_of_txs": b.nb_of_txs,
                        "total": crate::domain::Fen(b.ctrl_sum_fen).to_string(), "execution_date": b.execution_date,
                        "file": b.file_name, "created_at": b.created_at,
                    })
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}
