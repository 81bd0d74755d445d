//! The browser harness itself (tests/util/browser.rs), against a tiny login app served by the test:
//! a real headless Chromium logs in through a form, keeps its own cookies, and leaves nothing
//! running. Needs chromium and chromium-driver (`bash .ci/run` installs them): without them these
//! tests fail, saying what to install.

use crate::util::browser::{Browser, DEFAULT_WAIT, WINDOW, WithCookies};
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const COOKIE: &str = "aidpay_session";
const TOKEN: &str = "t0k3n-from-the-form";

type Sessions = Arc<Mutex<HashMap<String, String>>>;

/// Serves the login app on 127.0.0.1 (a port of its own); returns its base address.
async fn serve() -> String {
    let sessions: Sessions = Arc::default();
    let app = Router::new()
        .route("/", get(login_page))
        .route("/login", axum::routing::post(login))
        .route("/home", get(home))
        .with_state(sessions);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn login_page() -> Html<String> {
    Html(format!(
        r#"<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>资助专户 · 登录</title></head>
<body><h1>财务人员登录</h1>
<form id="login" method="post" action="/login">
<input type="hidden" name="csrf" value="{TOKEN}">
<p><label for="user">用户名</label> <input id="user" name="user"></p>
<p><label for="pw">密码</label> <input id="pw" name="password" type="password"></p>
<p><button>登录</button></p>
</form></body></html>"#
    ))
}

async fn login(State(sessions): State<Sessions>, Form(f): Form<HashMap<String, String>>) -> Response {
    if f.get("csrf").map(String::as_str) != Some(TOKEN) {
        return (StatusCode::FORBIDDEN, Html("<title>拒绝</title><p>缺少校验码，请求被拒绝。</p>")).into_response();
    }
    let user = f.get("user").cloned().unwrap_or_default();
    if user.is_empty() || f.get("password").map(String::as_str) != Some("s3cret") {
        return (StatusCode::UNAUTHORIZED, Html("<title>登录失败</title><p>用户名或密码错误。</p>")).into_response();
    }
    let token = format!("{:032x}", rand::random::<u128>());
    sessions.lock().unwrap().insert(token.clone(), user);
    (
        [(header::SET_COOKIE, format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"))],
        Redirect::to("/home"),
    )
        .into_response()
}

async fn home(State(sessions): State<Sessions>, headers: HeaderMap) -> Response {
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(&format!("{COOKIE}=")).map(str::to_string));
    let user = token.and_then(|t| sessions.lock().unwrap().get(&t).cloned());
    match user {
        Some(user) => Html(format!(
            "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>工作台</title></head>\
             <body><h1>工作台</h1><p>已登录：{user}</p><p>会话 Cookie 已设置。</p></body></html>"
        ))
        .into_response(),
        None => Redirect::to("/").into_response(),
    }
}

/// Width and height of a PNG, from its header.
fn png_size(path: &std::path::Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "{} is a PNG", path.display());
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

async fn log_in(b: &Browser, base: &str, user: &str) {
    b.goto(&format!("{base}/")).await;
    b.fill("user", user).await; // by name
    b.fill("密码", "s3cret").await; // by its label
    b.click_text("登录").await;
    b.wait_for_text(&format!("已登录：{user}"), DEFAULT_WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_in_through_the_form_sets_a_strict_http_only_cookie() {
    let base = serve().await;
    let b = Browser::start("browser_login").await;

    b.goto(&format!("{base}/")).await;
    assert_eq!(b.title().await, "资助专户 · 登录");
    assert!(b.text().await.contains("财务人员登录"));
    let shot = b.screenshot("login").await;
    assert_eq!(png_size(&shot), WINDOW, "the window is the fixed size: {}", shot.display());

    b.fill("user", "张三").await;
    b.fill("密码", "s3cret").await;
    b.click_text("登录").await;
    b.wait_for_text("已登录：张三", DEFAULT_WAIT).await;
    assert!(b.url().await.ends_with("/home"), "the POST's redirect was followed: {}", b.url().await);
    assert_eq!(b.title().await, "工作台");
    b.wait_for("h1", Duration::from_secs(2)).await;
    b.screenshot("home").await;

    // The cookie as the browser keeps it.
    let all = b.cookies().await;
    let c = all.iter().find(|c| c.name == COOKIE).unwrap_or_else(|| panic!("no {COOKIE} cookie; the browser has {all:?}"));
    assert!(c.http_only, "{c:?}");
    assert_eq!(c.same_site.as_deref(), Some("Strict"), "{c:?}");
    assert!(!c.secure, "plain HTTP: not Secure: {c:?}");
    assert_eq!(c.expires, None, "a session cookie: {c:?}");

    // Raw requests beside the browser: the session without the form's token is refused; the
    // session cookie is what opens the home page.
    let no_token = b.post_form(&format!("{base}/login"), &[("user", "张三"), ("password", "s3cret")], WithCookies::Browser).await;
    assert_eq!(no_token.status, 403, "{}", no_token.text());
    let with_token =
        b.post_form(&format!("{base}/login"), &[("csrf", TOKEN), ("user", "李四"), ("password", "s3cret")], WithCookies::No).await;
    assert_eq!(with_token.status, 303, "{}", with_token.text());
    assert_eq!(with_token.header("location").as_deref(), Some("/home"));
    assert!(with_token.header("set-cookie").unwrap_or_default().contains("SameSite=Strict"));
    assert_eq!(b.get(&format!("{base}/home"), WithCookies::No).await.status, 303);
    let home = b.get(&format!("{base}/home"), WithCookies::Browser).await;
    assert!(home.status == 200 && home.text().contains("已登录：张三"), "{} {}", home.status, home.text());

    // The same refusal in the browser: the form with its token taken out.
    b.goto(&format!("{base}/")).await;
    assert_eq!(b.remove("input[name=csrf]").await, 1);
    b.fill("user", "张三").await;
    b.fill("password", "s3cret").await;
    b.submit("#login").await;
    b.wait_for_text("缺少校验码", DEFAULT_WAIT).await;
    b.screenshot("csrf-refused").await;

    let dir = b.output_dir().to_path_buf();
    b.close().await;
    let names: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    for want in ["01-login.png", "02-home.png", "03-csrf-refused.png", "chromedriver-1.log"] {
        assert!(names.iter().any(|n| n == want), "{want} in {}: {names:?}", dir.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_at_once_keep_their_own_sessions() {
    let base = serve().await;
    let (clerk, reviewer) = tokio::join!(Browser::start_as("browser_two", "clerk"), Browser::start_as("browser_two", "reviewer"));
    assert_ne!(clerk.process_group(), reviewer.process_group());
    tokio::join!(log_in(&clerk, &base, "张三"), log_in(&reviewer, &base, "李四"));
    clerk.screenshot("home").await;
    reviewer.screenshot("home").await;

    let (a, b) = (clerk.cookie(COOKIE).await.expect("clerk's cookie"), reviewer.cookie(COOKIE).await.expect("reviewer's cookie"));
    assert_ne!(a.value, b.value, "each browser has its own profile and cookie jar");
    // Each still sees its own person after the other logged in.
    clerk.goto(&format!("{base}/home")).await;
    assert!(clerk.text().await.contains("已登录：张三"));
    reviewer.goto(&format!("{base}/home")).await;
    assert!(reviewer.text().await.contains("已登录：李四"));
}

/// The processes of process group `pgid` that are still alive (zombies left out).
fn live_in_group(pgid: u32) -> Vec<String> {
    let mut live = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid pgrp ...; comm may hold spaces, so split after its ')'.
        let Some((head, rest)) = stat.rsplit_once(") ") else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z" {
            live.push(head.to_string() + ")");
        }
    }
    live
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_that_panics_leaves_no_browser_behind() {
    crate::util::browser::require_installed();
    let base = serve().await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let b = Browser::start("browser_panic").await;
        b.goto(&format!("{base}/")).await;
        let _ = tx.send((b.process_group(), live_in_group(b.process_group()), b.output_dir().to_path_buf()));
        panic!("a test failing with its browser open");
    });
    assert!(task.await.unwrap_err().is_panic());
    let (pgid, running, dir) = rx.await.unwrap();
    // chromedriver and Chromium's processes: Chromium is in the group that is killed.
    assert!(running.len() > 2 && running.iter().any(|p| p.contains("chrome")), "{running:?}");
    let until = Instant::now() + Duration::from_secs(10);
    while !live_in_group(pgid).is_empty() {
        assert!(Instant::now() < until, "still running 10 s after the panic: {:?}", live_in_group(pgid));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(dir.join("01-panic.png").is_file(), "the page at the panic is saved in {}", dir.display());
}
