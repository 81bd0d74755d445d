//! Who is asking: the session cookie, the CSRF check, and the one guard every request passes.
//!
//! [`guard`] runs before every handler. Public paths (the login page and call, the stylesheet)
//! pass as they are. Everything else needs a live session, else a page redirects to the login
//! and an API call gets 401. A POST must also carry the session's CSRF token — as the form's
//! hidden `csrf` field or the `X-CSRF-Token` header — else 403: a page on another site can make
//! the browser send the cookie, but cannot read the token. The person found is put in the
//! request as a [`Viewer`] for the handler.

use super::App;
use crate::people::Person;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

/// The session cookie's name.
pub const COOKIE: &str = "aidpay_session";
/// The largest form a page posts (a note, a card number): more is refused.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The person behind a request, their session's CSRF token and its cookie token.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub person: Person,
    pub csrf: String,
    pub token: String,
}

/// Paths anyone may reach without a session.
fn is_public(path: &str) -> bool {
    matches!(path, "/login" | "/api/v1/login" | "/static/console.css")
}

/// The session token the request's cookie carries.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// Whether the browser reached us over HTTPS (our own TLS, or a proxy that says so).
pub fn is_https(app: &App, headers: &HeaderMap) -> bool {
    app.cfg.console.tls_cert.is_some()
        || headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value for a new session (or, with an empty token, one that ends it).
pub fn set_cookie(token: &str, secure: bool) -> String {
    let max_age = if token.is_empty() { "; Max-Age=0".to_string() } else { String::new() };
    format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/{}{max_age}", if secure { "; Secure" } else { "" })
}

/// Compares two tokens in time that does not depend on where they differ.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The request's answer when it is refused: a page for a browser, `{"error"}` for the API.
pub fn refusal(api: bool, status: StatusCode, message: &str) -> Response {
    if api {
        (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
    } else {
        super::view::error_page(status, message)
    }
}

/// Every request passes here; see the module doc.
pub async fn guard(State(app): State<App>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if is_public(&path) {
        return next.run(req).await;
    }
    let api = path.starts_with("/api/");
    let found = match cookie_token(req.headers()) {
        Some(token) => match crate::people::session(&app.store, &token).await {
            Ok(s) => s.map(|(person, csrf)| Viewer { person, csrf, token }),
            Err(e) => {
                tracing::error!("console: reading the session: {e}");
                return refusal(api, StatusCode::INTERNAL_SERVER_ERROR, "系统暂时无法读取会话，请稍后再试");
            }
        },
        None => None,
    };
    let Some(viewer) = found else {
        return if api {
            refusal(true, StatusCode::UNAUTHORIZED, "未登录或会话已超时，请重新登录 (not logged in)")
        } else {
            Redirect::to("/login").into_response()
        };
    };
    let (req, sent) = if req.method() == Method::POST {
        match csrf_sent(req).await {
            Ok(pair) => pair,
            Err(r) => return r,
        }
    } else {
        (req, None)
    };
    let mut req = req;
    if req.method() == Method::POST && !sent.as_deref().is_some_and(|t| same_token(t, &viewer.csrf)) {
        tracing::warn!(user = %viewer.person.username, path = %path, "console: POST without a valid CSRF token refused");
        return refusal(api, StatusCode::FORBIDDEN, "请求缺少有效的校验码 (CSRF token)，已拒绝。请从工作台页面重新操作。");
    }
    req.extensions_mut().insert(viewer);
    next.run(req).await
}

/// The CSRF token a POST carries — header first, else the form's `csrf` field — and the request
/// rebuilt with its body for the handler.
async fn csrf_sent(req: Request) -> Result<(Request, Option<String>), Response> {
    if let Some(h) = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()) {
        let h = h.to_string();
        return Ok((req, Some(h)));
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok((req, None));
    }
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| refusal(false, StatusCode::PAYLOAD_TOO_LARGE, "提交的内容过大"))?;
    let token = url::form_urlencoded::parse(&bytes).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned());
    Ok((Request::from_parts(parts, Body::from(bytes)), token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_and_strict() {
        let c = set_cookie("abc", false);
        assert_eq!(c, "aidpay_session=abc; HttpOnly; SameSite=Strict; Path=/");
        assert!(set_cookie("abc", true).contains("; Secure"));
        assert!(set_cookie("", true).contains("Max-Age=0"));
    }

    #[test]
    fn the_token_is_found_among_other_cookies() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; aidpay_session=t0k; b=2".parse().unwrap());
        assert_eq!(cookie_token(&h).as_deref(), Some("t0k"));
        assert!(same_token("abc", "abc") && !same_token("abc", "abd") && !same_token("abc", "ab"));
    }
}
