//! Issue 15 in a real browser (headless Chromium over WebDriver): finance staff work the list in
//! the console, a second person approves before money moves, an auditor sees everything and can
//! do nothing. Screenshots of every page go to target/test-screenshots/<test>/.

use crate::util::browser::{Browser, DEFAULT_WAIT, WithCookies};
use crate::util::{TestEnv, fixture, import_one, password_of};
use std::time::Duration;

async fn office() -> TestEnv {
    let env = TestEnv::new().await;
    env.with_approvals();
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    for (name, role) in [("clerk", "clerk"), ("reviewer", "reviewer"), ("auditor", "auditor"), ("admin", "admin")] {
        env.user(name, role).await;
    }
    env
}

async fn log_in(b: &Browser, base: &str, user: &str) {
    b.goto(&format!("{base}/login")).await;
    b.fill("username", user).await;
    b.fill("密码", &password_of(user)).await;
    b.submit("#login").await;
    b.wait_for_text("待处理异常", DEFAULT_WAIT).await;
}

/// Files in the bank's drop folders (what reached the bank).
fn dropped(env: &TestEnv) -> usize {
    ["var/bank/boc", "var/bank/icbc"]
        .iter()
        .filter_map(|d| std::fs::read_dir(env.path(d)).ok())
        .flatten()
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_type().unwrap().is_file() && !e.file_name().to_string_lossy().starts_with('.')))
        .count()
}

/// The value of the page's first hidden CSRF field.
async fn csrf_of(b: &Browser) -> String {
    b.field("csrf").await.attr("value").await.unwrap().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_proposes_a_corrected_card_and_a_reviewer_approves_it_in_the_browser() {
    let test = "console_four_eyes";
    let env = office().await;
    let console = env.console().await;
    let base = console.base.clone();
    let bad = env.json_async(&["exceptions", "list", "--kind", "invalid_card"], 0).await;
    let id = bad[0]["id"].as_i64().unwrap();
    let grant = bad[0]["grant_id"].as_str().unwrap().to_string();

    // 经办: logs in, finds the exception, proposes a re-issue to the corrected card.
    let clerk = Browser::start_as(test, "clerk").await;
    clerk.goto(&format!("{base}/login")).await;
    clerk.screenshot("login").await;
    log_in(&clerk, &base, "clerk").await;
    assert!(clerk.text().await.contains("工作台"));
    let cookie = clerk.cookie("aidpay_session").await.expect("a session cookie");
    assert!(cookie.http_only && cookie.same_site.as_deref() == Some("Strict"), "{cookie:?}");
    clerk.screenshot("dashboard").await;
    clerk.goto(&format!("{base}/exceptions")).await;
    clerk.select("kind", "卡号无效").await;
    clerk.submit("#filters").await;
    clerk.wait_for_text("共 1 条", DEFAULT_WAIT).await;
    clerk.screenshot("exceptions").await;
    clerk.click(&format!("a[href='/exceptions/{id}']")).await;
    clerk.wait_for("form#reissue", DEFAULT_WAIT).await;
    let page = clerk.text().await;
    assert!(page.contains("支付记录与银行回执") && page.contains("审计记录"), "{page}");
    assert!(!clerk.html().await.contains(&env.store().await.grant(&grant).await.unwrap().unwrap().card_number), "the card is masked on the page");
    clerk.screenshot("exception").await;
    clerk.fill("card", "6217000010001234569").await;
    clerk.fill("reissue-note", "学校更正卡号").await;
    clerk.submit("#reissue").await;
    clerk.wait_for_text("已提交复核", DEFAULT_WAIT).await;
    clerk.screenshot("proposed").await;
    assert_ne!(env.store().await.grant(&grant).await.unwrap().unwrap().card_number, "6217000010001234569", "nothing changed yet");

    // The clerk sees the proposal but may not approve it — not even by posting the form by hand.
    clerk.goto(&format!("{base}/approvals")).await;
    clerk.wait_for_text("变更收款卡", DEFAULT_WAIT).await;
    assert!(clerk.find_all("form.approve").await.is_empty(), "no approve button for a clerk");
    clerk.screenshot("approvals").await;
    let proposal = env.act("auditor", &["approvals", "list"], 0).await[0]["id"].as_i64().unwrap();
    let csrf = csrf_of(&clerk).await;
    let own = clerk.post_form(&format!("{base}/approvals/{proposal}/approve"), &[("csrf", &csrf), ("note", "自己批")], WithCookies::Browser).await;
    assert_eq!(own.status, 403, "{}", own.text());

    // A form without its CSRF token is refused.
    let other = env.json_async(&["exceptions", "list", "--kind", "duplicate_grant"], 0).await[0]["id"].as_i64().unwrap();
    clerk.goto(&format!("{base}/exceptions/{other}")).await;
    assert_eq!(clerk.remove("form#cancel input[name=csrf]").await, 1);
    clerk.fill("cancel-note", "重复").await;
    clerk.submit("#cancel").await;
    clerk.wait_for_text("校验码", DEFAULT_WAIT).await;
    clerk.screenshot("no-csrf-refused").await;
    assert_eq!(env.act("auditor", &["approvals", "list"], 0).await.as_array().unwrap().len(), 1, "nothing was proposed");

    // 复核: another person approves the card change; then the batch, which waits until approved.
    let reviewer = Browser::start_as(test, "reviewer").await;
    log_in(&reviewer, &base, "reviewer").await;
    reviewer.goto(&format!("{base}/approvals")).await;
    reviewer.screenshot("approvals").await;
    reviewer.fill(&format!("approve-note-{proposal}"), "已电话核实").await;
    reviewer.submit(&format!("#approval-{proposal} form.approve")).await;
    reviewer.wait_for_text("已批准 clerk 的提议", DEFAULT_WAIT).await;
    reviewer.screenshot("approved").await;
    assert_eq!(env.store().await.grant(&grant).await.unwrap().unwrap().card_number, "6217000010001234569");

    let v = env.json_async(&["batch"], 0).await;
    assert!(v["awaiting_approval"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(dropped(&env), 0, "a batch is not delivered while it awaits approval");
    reviewer.goto(&format!("{base}/batches")).await;
    reviewer.wait_for_text("待复核", DEFAULT_WAIT).await;
    reviewer.screenshot("batches-awaiting").await;
    let batches = env.act("auditor", &["approvals", "list"], 0).await.as_array().unwrap().len();
    assert!(batches >= 1);
    for _ in 0..batches {
        reviewer.goto(&format!("{base}/approvals")).await;
        reviewer.submit("form.approve").await;
        reviewer.wait_for_text("已批准，随下一次批次运行交给银行", DEFAULT_WAIT).await;
    }
    reviewer.screenshot("batches-approved").await;
    env.json_async(&["batch"], 0).await;
    assert!(dropped(&env) >= 1, "approved batches went out");
    let store = env.store().await;
    let cards: Vec<String> = store.payments_of_grant(&grant).await.unwrap().into_iter().filter(|p| p.batch_id.is_some()).map(|p| p.card_number).collect();
    assert_eq!(cards, vec!["6217000010001234569".to_string()], "the next batch pays the corrected card");
    reviewer.goto(&format!("{base}/batches")).await;
    reviewer.wait_for_text("已交付银行", DEFAULT_WAIT).await;
    reviewer.screenshot("batches-delivered").await;

    // 审计: sees every page and the trail, and has no button that changes anything.
    let auditor = Browser::start_as(test, "auditor").await;
    log_in(&auditor, &base, "auditor").await;
    for (path, name) in [("/", "dashboard"), ("/exceptions?status=all", "exceptions"), (&format!("/exceptions/{id}") as &str, "exception"), ("/approvals?status=all", "approvals"), ("/batches", "batches"), ("/reports", "reports"), ("/audit", "audit")] {
        auditor.goto(&format!("{base}{path}")).await;
        auditor.wait_for("h1", DEFAULT_WAIT).await;
        assert!(auditor.find_all("form#reissue, form#cancel, form#accept, form.approve, form.reject").await.is_empty(), "{path}: no action for an auditor");
        auditor.screenshot(name).await;
    }
    auditor.goto(&format!("{base}/audit")).await;
    let trail = auditor.text().await;
    assert!(trail.contains("grant.reissue") && trail.contains("clerk/reviewer") && trail.contains("approval.approve"), "{trail}");
    let csrf = csrf_of(&auditor).await;
    let tried = auditor.post_form(&format!("{base}/exceptions/{other}/resolve"), &[("csrf", &csrf), ("action", "cancel"), ("note", "x")], WithCookies::Browser).await;
    assert_eq!(tried.status, 403, "an auditor changes nothing: {}", tried.text());

    // 管理员: the users page.
    let admin = Browser::start_as(test, "admin").await;
    log_in(&admin, &base, "admin").await;
    admin.goto(&format!("{base}/users")).await;
    admin.fill("new-username", "wangwu").await;
    admin.fill("new-display", "王五").await;
    admin.select("new-role", "经办").await;
    admin.fill("new-password", "wangwu-口令-2026").await;
    admin.submit("#add-user").await;
    admin.wait_for_text("已新增用户 wangwu", DEFAULT_WAIT).await;
    admin.screenshot("users").await;
    for b in [clerk, reviewer, auditor, admin] {
        b.close().await;
    }
    assert_eq!(env.json_async(&["verify"], 0).await["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sixth_wrong_password_finds_the_user_locked() {
    let test = "console_lockout";
    let env = office().await;
    let console = env.console().await;
    let b = Browser::start(test).await;
    for _ in 0..5 {
        b.goto(&format!("{}/login", console.base)).await;
        b.fill("username", "clerk").await;
        b.fill("password", "not the password").await;
        b.submit("#login").await;
        b.wait_for_text("用户名或密码错误", DEFAULT_WAIT).await;
    }
    b.screenshot("wrong-password").await;
    b.fill("password", &password_of("clerk")).await;
    b.submit("#login").await;
    b.wait_for_text("已被锁定", Duration::from_secs(10)).await;
    b.screenshot("locked").await;
    assert!(b.cookie("aidpay_session").await.is_none(), "no session for a locked user");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_store_in_the_console_shows_the_position_the_charts_and_every_page() {
    let test = "console_demo";
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = tokio::task::spawn_blocking({
        let demo = demo.clone();
        move || std::process::Command::new(env!("CARGO_BIN_EXE_aidpay")).env_remove("AIDPAY_NOW").args(["--json", "demo", "--dir"]).arg(&demo).output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(summary["console"].as_str().unwrap().starts_with("http://127.0.0.1:"), "the demo says how to open the console");

    let console = crate::util::ConsoleProc::start(&demo.join("aidpay.toml"), &[]).await;
    let base = console.base.clone();
    let b = Browser::start(test).await;
    b.goto(&format!("{base}/login")).await;
    b.fill("username", "reviewer").await;
    b.fill("password", "demo-reviewer-2026").await;
    b.submit("#login").await;
    b.wait_for_text("待处理异常", DEFAULT_WAIT).await;
    let page = b.text().await;
    for label in ["拨入", "已付", "退回", "在途", "余额", "作业运行"] {
        assert!(page.contains(label), "{label}: {page}");
    }
    // The charts are images of this origin (the CSP allows nothing else), drawn on the server.
    let chart = b.get(&format!("{base}/charts/paid-per-month.svg"), WithCookies::Browser).await;
    assert_eq!(chart.status, 200);
    assert!(chart.text().contains("<svg") && chart.text().contains("国家助学金"), "{}", chart.text());
    let balance = b.get(&format!("{base}/charts/balance.svg"), WithCookies::Browser).await;
    assert!(balance.text().contains("<svg"));
    b.screenshot("dashboard").await;
    for (path, name) in [("/exceptions", "exceptions"), ("/approvals?status=all", "approvals"), ("/batches", "batches"), ("/reports", "reports")] {
        b.goto(&format!("{base}{path}")).await;
        b.wait_for("h1", DEFAULT_WAIT).await;
        b.screenshot(name).await;
    }
    // A report made from the console, then downloaded.
    b.goto(&format!("{base}/reports")).await;
    b.submit("#make-report").await;
    b.wait_for_text("已生成", DEFAULT_WAIT).await;
    b.screenshot("report-made").await;
    let link = b.find_all("table a").await.into_iter().next().expect("a report to download");
    let href = link.attr("href").await.unwrap().unwrap();
    let file = b.get(&format!("{base}{href}"), WithCookies::Browser).await;
    assert_eq!(file.status, 200);
    assert!(file.header("content-disposition").unwrap().starts_with("attachment"));
    // A batch's file, downloaded, is on the trail with who took it.
    b.goto(&format!("{base}/batches")).await;
    let file_link = b.find_all("a[href$='/file']").await.into_iter().next().expect("a batch file");
    let href = file_link.attr("href").await.unwrap().unwrap();
    assert_eq!(b.get(&format!("{base}{href}"), WithCookies::Browser).await.status, 200);
    b.close().await;
}
