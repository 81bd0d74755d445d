//! Issue 15: the console's JSON API (INTERFACES.md, `/api/v1`) keeps every rule the command line
//! keeps — a named person behind every act, a second person behind every decision that moves
//! money, CSRF on every state change — against the real `aidpay console` and a real store
//! (SQLite, and PostgreSQL with AIDPAY_TEST_DB=postgres).

use crate::util::{ApiClient, TestEnv, api_login, fixture, import_one, password_of};
use serde_json::{Value, json};
use sqlx::Row;

/// A store with utf8.csv imported, four eyes on, one user of each role.
async fn office() -> TestEnv {
    let env = TestEnv::new().await;
    env.with_approvals();
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    for (name, role) in [("clerk", "clerk"), ("reviewer", "reviewer"), ("auditor", "auditor"), ("admin", "admin")] {
        env.user(name, role).await;
    }
    env
}

fn first_of<'a>(list: &'a Value, kind: &str) -> &'a Value {
    list.as_array().unwrap().iter().find(|e| e["kind"] == kind).unwrap_or_else(|| panic!("no {kind} in {list}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_proposes_a_corrected_card_a_reviewer_approves_and_the_next_batch_pays_it() {
    let env = office().await;
    let console = env.console().await;
    let clerk = ApiClient::login(&console.base, "clerk").await;
    let reviewer = ApiClient::login(&console.base, "reviewer").await;

    // The work list over the API is the command line's.
    let (s, list) = clerk.get("/api/v1/exceptions?status=open").await;
    assert_eq!(s, 200);
    assert_eq!(list, env.json_async(&["exceptions", "list"], 0).await);
    let bad = first_of(&list, "invalid_card").clone();
    let id = bad["id"].as_i64().unwrap();
    let grant = bad["grant_id"].as_str().unwrap().to_string();

    // A re-issue to a corrected card is a proposal (202): nothing changes yet.
    let (s, p) = clerk.post(&format!("/api/v1/exceptions/{id}/resolve"), json!({"action": "reissue", "card": "6217000010001234569", "note": "学校更正卡号"})).await;
    assert_eq!(s, 202, "{p}");
    assert_eq!(p["kind"], "card_change");
    let proposal = p["proposal"].as_i64().unwrap();
    assert_ne!(env.store().await.grant(&grant).await.unwrap().unwrap().card_number, "6217000010001234569");

    // The clerk cannot approve their own proposal; nor can an auditor or an admin.
    let (s, e) = clerk.post(&format!("/api/v1/approvals/{proposal}/approve"), json!({"note": "自己批"})).await;
    assert_eq!(s, 403, "{e}");
    for who in ["auditor", "admin"] {
        let c = ApiClient::login(&console.base, who).await;
        let (s, e) = c.post(&format!("/api/v1/approvals/{proposal}/approve"), json!({"note": "x"})).await;
        assert_eq!(s, 403, "{who}: {e}");
    }
    // The pending proposal shows the card masked.
    let (_, pending) = reviewer.get("/api/v1/approvals?status=pending").await;
    let shown = pending.as_array().unwrap().iter().find(|a| a["id"] == proposal).unwrap().clone();
    assert_eq!(shown["kind"], "card_change");
    assert_eq!(shown["proposed_by"], "clerk");
    assert!(!shown.to_string().contains("6217000010001234569"), "{shown}");

    let (s, d) = reviewer.post(&format!("/api/v1/approvals/{proposal}/approve"), json!({"note": "已电话核实"})).await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["status"], "approved");
    assert_eq!(env.store().await.grant(&grant).await.unwrap().unwrap().card_number, "6217000010001234569");
    // Deciding it again is refused with the reason.
    let (s, _) = reviewer.post(&format!("/api/v1/approvals/{proposal}/approve"), json!({})).await;
    assert_eq!(s, 409);

    // The batch waits for approval; nothing reaches the bank until a reviewer approves it.
    env.json_async(&["batch"], 0).await;
    let (_, batches) = clerk.get("/api/v1/batches").await;
    let waiting: Vec<&Value> = batches.as_array().unwrap().iter().filter(|b| b["status"] == "awaiting_approval").collect();
    assert!(!waiting.is_empty(), "{batches}");
    let (_, pending) = reviewer.get("/api/v1/approvals").await;
    for a in pending.as_array().unwrap().iter().filter(|a| a["kind"] == "batch") {
        let (s, d) = reviewer.post(&format!("/api/v1/approvals/{}/approve", a["id"]), json!({"note": "已核对"})).await;
        assert_eq!(s, 200, "{d}");
    }
    env.json_async(&["batch"], 0).await;
    let store = env.store().await;
    let paid_to: String = sqlx::query("SELECT p.card_number FROM payments p JOIN batches b ON b.batch_id = p.batch_id WHERE p.grant_id = $1 AND b.status = 'delivered'")
        .bind(&grant)
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    let paid_to = store.reveal(aidpay::crypto::purpose::CARD_NUMBER, paid_to).unwrap();
    assert_eq!(paid_to, "6217000010001234569", "the approved card is paid");
    // The trail names both people.
    let actor: String = sqlx::query("SELECT actor FROM audit_log WHERE action = 'grant.reissue' AND subject = $1").bind(&grant).fetch_one(store.pool()).await.unwrap().get(0);
    assert_eq!(actor, "clerk/reviewer");
    assert_eq!(env.json_async(&["verify"], 0).await["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_change_needs_the_session_and_its_csrf_token() {
    let env = office().await;
    let console = env.console().await;
    let http = aidpay::tls::client_builder().build().unwrap();
    // No session: 401 for the API, the login page for a page.
    let r = http.get(format!("{}/api/v1/exceptions", console.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = aidpay::tls::client_builder().redirect(reqwest::redirect::Policy::none()).build().unwrap().get(format!("{}/exceptions", console.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/login");

    let clerk = ApiClient::login(&console.base, "clerk").await;
    let (_, list) = clerk.get("/api/v1/exceptions").await;
    let id = first_of(&list, "duplicate_grant")["id"].as_i64().unwrap();
    // Without the token, or with another session's token: 403, nothing done.
    let (s, e) = clerk.post_with(&format!("/api/v1/exceptions/{id}/resolve"), json!({"action": "cancel", "note": "重复"}), false).await;
    assert_eq!(s, 403, "{e}");
    let reviewer = ApiClient::login(&console.base, "reviewer").await;
    let forged = ApiClient { csrf: reviewer.csrf.clone(), ..clerk };
    let (s, _) = forged.post(&format!("/api/v1/exceptions/{id}/resolve"), json!({"action": "cancel", "note": "重复"})).await;
    assert_eq!(s, 403);
    // A form post (the pages' way) without the token: 403 too.
    let r = http
        .post(format!("{}/exceptions/{id}/resolve", console.base))
        .header("Cookie", &forged.cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(crate::util::browser::form_encode(&[("action", "cancel"), ("note", "重复")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.unwrap().contains("校验码"));
    assert_eq!(env.act("auditor", &["approvals", "list", "--status", "all"], 0).await.as_array().unwrap().len(), 0, "nothing was proposed");

    // Logged out, the session is over.
    let (s, _) = forged.post("/api/v1/logout", json!({})).await;
    assert_eq!(s, 403, "logout is a state change as well");
    let clerk = ApiClient::login(&console.base, "clerk").await;
    let (s, _) = clerk.post("/api/v1/logout", json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(clerk.get("/api/v1/exceptions").await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_what_a_person_may_do_and_the_store_has_the_last_word() {
    let env = office().await;
    let console = env.console().await;
    let (_, list) = ApiClient::login(&console.base, "auditor").await.get("/api/v1/exceptions").await;
    let id = first_of(&list, "duplicate_grant")["id"].as_i64().unwrap();
    // An auditor and an admin see the list but change nothing.
    for who in ["auditor", "admin"] {
        let c = ApiClient::login(&console.base, who).await;
        assert_eq!(c.get("/api/v1/exceptions").await.0, 200);
        let (s, e) = c.post(&format!("/api/v1/exceptions/{id}/resolve"), json!({"action": "cancel", "note": "x"})).await;
        assert_eq!(s, 403, "{who}: {e}");
    }
    // A resolution without a note, or of an unknown kind of action, is refused before anything.
    let clerk = ApiClient::login(&console.base, "clerk").await;
    assert_eq!(clerk.post(&format!("/api/v1/exceptions/{id}/resolve"), json!({"action": "cancel", "note": " "})).await.0, 422);
    assert_eq!(clerk.post(&format!("/api/v1/exceptions/{id}/resolve"), json!({"action": "pay-twice", "note": "x"})).await.0, 422);
    assert_eq!(clerk.post("/api/v1/exceptions/999999/resolve", json!({"action": "cancel", "note": "x"})).await.0, 404);
    // A re-issue refused by the rules (an invalid card) is 409 with the reason.
    let bad = first_of(&list, "invalid_card")["id"].as_i64().unwrap();
    let (s, e) = clerk.post(&format!("/api/v1/exceptions/{bad}/resolve"), json!({"action": "reissue", "card": "6217000010001234560", "note": "x"})).await;
    assert_eq!(s, 409, "{e}");
    assert!(e["error"].as_str().is_some_and(|m| !m.is_empty()), "{e}");

    // A proposal a reviewer makes needs another reviewer: with only one, it waits.
    let reviewer = ApiClient::login(&console.base, "reviewer").await;
    let (s, p) = reviewer.post(&format!("/api/v1/exceptions/{id}/resolve"), json!({"action": "cancel", "note": "重复报送"})).await;
    assert_eq!(s, 202, "{p}");
    let (s, _) = reviewer.post(&format!("/api/v1/approvals/{}/approve", p["proposal"]), json!({})).await;
    assert_eq!(s, 403, "the proposer cannot approve");
    // Rejecting needs a reason.
    env.user("reviewer2", "reviewer").await;
    let r2 = ApiClient::login(&console.base, "reviewer2").await;
    assert_eq!(r2.post(&format!("/api/v1/approvals/{}/reject", p["proposal"]), json!({})).await.0, 422);
    let (s, d) = r2.post(&format!("/api/v1/approvals/{}/reject", p["proposal"]), json!({"note": "不是重复"})).await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["status"], "rejected");

    // The store refuses a decision by the proposer even when asked directly.
    let store = env.store().await;
    let (_, p2) = reviewer.post(&format!("/api/v1/exceptions/{id}/resolve"), json!({"action": "cancel", "note": "再次提议"})).await;
    let refused = sqlx::query("UPDATE approvals SET status = 'approved', decided_by = proposed_by WHERE id = $1").bind(p2["proposal"].as_i64().unwrap()).execute(store.pool()).await;
    assert!(refused.is_err(), "the schema refuses an approval by the proposer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_lock_after_five_wrong_passwords_and_sessions_end_when_idle() {
    let env = office().await;
    let console = env.console().await;
    let (s, cookie, body) = api_login(&console.base, "clerk", &password_of("clerk")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["role"], "clerk");
    assert!(body["csrf"].as_str().unwrap().len() >= 32);
    assert!(cookie.unwrap().starts_with("aidpay_session="));
    // The cookie is HttpOnly and SameSite=Strict; pages carry a CSP without inline script.
    let r = aidpay::tls::client_builder().build().unwrap().post(format!("{}/api/v1/login", console.base)).json(&json!({"username": "clerk", "password": password_of("clerk")})).send().await.unwrap();
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"), "{set}");
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"), "{csp}");

    for _ in 0..5 {
        let (s, _, e) = api_login(&console.base, "reviewer", "wrong password").await;
        assert_eq!(s, 401, "{e}");
    }
    let (s, _, e) = api_login(&console.base, "reviewer", &password_of("reviewer")).await;
    assert_eq!(s, 423, "the sixth attempt finds the user locked, even with the right password: {e}");
    assert!(e["error"].as_str().unwrap().contains("锁定"), "{e}");
    let store = env.store().await;
    let failures: i64 = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM audit_log WHERE subject = 'reviewer' AND action LIKE 'login.%'").fetch_one(store.pool()).await.unwrap().get(0);
    assert_eq!(failures, 6, "every failure and the lock-out are on the trail");

    // 30 idle minutes end a session.
    let clerk = ApiClient::login(&console.base, "clerk").await;
    assert_eq!(clerk.get("/api/v1/batches").await.0, 200);
    sqlx::query("UPDATE sessions SET last_seen_at = last_seen_at - 1801").execute(store.pool()).await.unwrap();
    assert_eq!(clerk.get("/api/v1/batches").await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tls_cert_and_key_the_console_speaks_https_and_the_cookie_is_secure() {
    let env = office().await;
    let (cert, key) = (env.path("console.crt"), env.path("console.key"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let vars = vec![
        ("AIDPAY_CONSOLE__TLS_CERT".to_string(), cert.display().to_string()),
        ("AIDPAY_CONSOLE__TLS_KEY".to_string(), key.display().to_string()),
    ];
    let console = crate::util::ConsoleProc::start(&env.config, &vars).await;
    let https = console.base.replace("http://", "https://");
    let client = aidpay::tls::client_builder().danger_accept_invalid_certs(true).build().unwrap();
    let r = client.post(format!("{https}/api/v1/login")).json(&json!({"username": "clerk", "password": password_of("clerk")})).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set.contains("; Secure") && set.contains("HttpOnly"), "{set}");
    // Plain HTTP on the TLS port gets no page.
    let plain = aidpay::tls::client_builder().build().unwrap().get(format!("{}/login", console.base)).send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    // A key that is not the certificate's is refused at start, naming the setting.
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
    let out = env.run(&["console"], &[("AIDPAY_CONSOLE__TLS_CERT", cert.to_str().unwrap()), ("AIDPAY_CONSOLE__TLS_KEY", key.to_str().unwrap()), ("AIDPAY_CONSOLE__LISTEN", "127.0.0.1:0")]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tls_key"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The work list's filters (学校, 资助项目, 学期) are read once and kept — at a province's million
/// grants reading them took 1.4 s a page — and read again as soon as another list comes in: a
/// school whose first list was just imported is in the filter on the very next page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newly_imported_school_is_in_the_work_lists_filter_on_the_next_page() {
    let env = office().await;
    let console = env.console().await;
    let clerk = ApiClient::login(&console.base, "clerk").await;
    let page = || async {
        let r = clerk.http.get(format!("{}/exceptions", clerk.base)).header("Cookie", &clerk.cookie).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.text().await.unwrap()
    };
    let before = page().await;
    assert!(before.contains("城关第一小学") && !before.contains("东关小学"), "{before}");
    assert_eq!(page().await, before, "the same page twice, from the kept choices");
    import_one(&env, &fixture("grants/gbk.csv"), &[], 0);
    let after = page().await;
    assert!(after.contains("东关小学") && after.contains("2027春"), "the new school and term are offered: {after}");
}
