//! Issue 15: two people for money, a name for every act. Users and roles, lock-out, and four
//! eyes (双人复核) on batches, card changes, cancellations and acceptances — refused by the store,
//! not only by the command line.

use crate::util::{TestEnv, fixture, import_one, password_of};
use serde_json::Value;
use sqlx::Row;

/// A store with utf8.csv imported, four eyes on, and one user of each role.
async fn office() -> TestEnv {
    let env = TestEnv::new().await;
    env.with_approvals();
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    for (name, role) in [("clerk", "clerk"), ("clerk2", "clerk"), ("reviewer", "reviewer"), ("reviewer2", "reviewer"), ("auditor", "auditor"), ("admin", "admin")] {
        env.user(name, role).await;
    }
    env
}

fn dropped(env: &TestEnv) -> usize {
    ["var/bank/boc", "var/bank/icbc"]
        .iter()
        .filter_map(|d| std::fs::read_dir(env.path(d)).ok())
        .flatten()
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_type().unwrap().is_file() && !e.file_name().to_string_lossy().starts_with('.')))
        .count()
}

async fn pending(env: &TestEnv, kind: &str) -> Vec<Value> {
    let v = env.act("auditor", &["approvals", "list"], 0).await;
    v.as_array().unwrap().iter().filter(|a| a["kind"] == kind).cloned().collect()
}

async fn open_of(env: &TestEnv, kind: &str) -> Vec<Value> {
    env.json_async(&["exceptions", "list", "--kind", kind], 0).await.as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_reaches_the_bank_only_once_a_reviewer_approved_its_exact_payments() {
    let env = office().await;
    let v = env.json_async(&["batch"], 0).await;
    assert!(v["awaiting_approval"].as_u64().unwrap() >= 2, "{v}");
    assert!(v["batches"].as_array().unwrap().iter().all(|b| b["status"] == "awaiting_approval"), "{v}");
    env.json_async(&["batch"], 0).await;
    assert_eq!(dropped(&env), 0, "nothing reaches the bank while it awaits approval");

    let batches = pending(&env, "batch").await;
    assert_eq!(batches.len(), v["awaiting_approval"].as_u64().unwrap() as usize, "one proposal per batch: {batches:?}");
    // A clerk, an auditor, an admin may not approve.
    for who in ["clerk", "auditor", "admin"] {
        let err = env.act(who, &["approvals", "approve", &batches[0]["id"].to_string()], 1).await;
        assert!(err.as_str().unwrap().contains("无权操作"), "{who}: {err}");
    }
    // Approve the first; change a payment of the second behind the reviewer's back, then approve it.
    env.act("reviewer", &["approvals", "approve", &batches[0]["id"].to_string(), "--note", "已核对"], 0).await;
    let store = env.store().await;
    let second = batches[1]["subject"].as_str().unwrap().to_string();
    sqlx::query("UPDATE payments SET card_number = '6222020000000000000' WHERE payment_ref = (SELECT MIN(payment_ref) FROM payments WHERE batch_id = $1)")
        .bind(&second)
        .execute(store.pool())
        .await
        .unwrap();
    let err = env.act("reviewer", &["approvals", "approve", &batches[1]["id"].to_string()], 1).await;
    assert!(err.as_str().unwrap().contains("已改变"), "a changed batch cannot ride on its proposal: {err}");

    let v = env.json_async(&["batch"], 0).await;
    let statuses: Vec<(String, String)> = v["batches"].as_array().unwrap().iter().map(|b| (b["batch_id"].as_str().unwrap().into(), b["status"].as_str().unwrap().into())).collect();
    assert!(statuses.contains(&(batches[0]["subject"].as_str().unwrap().into(), "delivered".into())), "{statuses:?}");
    assert!(statuses.contains(&(second.clone(), "awaiting_approval".into())), "{statuses:?}");
    assert_eq!(dropped(&env), 1, "only the approved batch");

    // An approved batch whose payments change before it is written is not written either.
    let third = env.json_async(&["exceptions", "list"], 0).await;
    let _ = third;
    let audit: i64 = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM audit_log WHERE action = 'approval.approve' AND actor = 'reviewer'")
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(audit, 1, "the approval names the reviewer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_batch_changed_before_it_is_written_is_not_written() {
    let env = office().await;
    env.json_async(&["batch"], 0).await;
    let batches = pending(&env, "batch").await;
    for b in &batches {
        env.act("reviewer", &["approvals", "approve", &b["id"].to_string()], 0).await;
    }
    let store = env.store().await;
    let subject = batches[0]["subject"].as_str().unwrap().to_string();
    sqlx::query("UPDATE payments SET amount_fen = amount_fen + 100 WHERE payment_ref = (SELECT MIN(payment_ref) FROM payments WHERE batch_id = $1)")
        .bind(&subject)
        .execute(store.pool())
        .await
        .unwrap();
    let out = env.run(&["--json", "batch"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let b = v["batches"].as_array().unwrap().iter().find(|b| b["batch_id"] == subject.as_str()).unwrap().clone();
    assert!(b["error"].as_str().unwrap().contains("not the ones a reviewer approved"), "{b}");
    assert_eq!(dropped(&env), batches.len() - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_batch_never_reaches_the_bank_and_its_grants_come_back() {
    let env = office().await;
    env.json_async(&["batch"], 0).await;
    let batches = pending(&env, "batch").await;
    let b = &batches[0];
    let err = env.act("reviewer", &["approvals", "reject", &b["id"].to_string()], 2).await;
    let _ = err; // a rejection must say why: usage error without --note
    env.act("reviewer", &["approvals", "reject", &b["id"].to_string(), "--note", "执行日期有误"], 0).await;
    let rejected = open_of(&env, "batch_rejected").await;
    assert_eq!(rejected.len(), 1);
    assert!(rejected[0]["detail"].as_str().unwrap().contains("执行日期有误"), "the reviewer's reason is on the work list: {rejected:?}");
    let store = env.store().await;
    let subject = b["subject"].as_str().unwrap();
    let live: i64 = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM payments WHERE batch_id = $1 AND live = 1")
        .bind(subject)
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(live, 0, "its payments are cancelled");
    assert_eq!(env.json_async(&["verify"], 0).await["ok"], true);
    // The next cycle batches those grants again, for a new approval.
    let v = env.json_async(&["batch"], 0).await;
    assert!(v["payments_created"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(pending(&env, "batch").await.len(), batches.len(), "{v}");
    assert_eq!(dropped(&env), 0);
    assert_eq!(env.json_async(&["verify"], 0).await["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_change_a_cancel_and_an_accept_wait_for_a_second_person() {
    let env = office().await;
    let bad = open_of(&env, "invalid_card").await;
    let grant = bad[0]["grant_id"].as_str().unwrap().to_string();
    let id = bad[0]["id"].to_string();
    let card_before = env.store().await.grant(&grant).await.unwrap().unwrap().card_number;

    // A re-issue to a corrected card: a proposal; nothing changes yet.
    let p = env.act("clerk", &["exceptions", "resolve", &id, "--reissue", "--card", "6217000010001234569", "--note", "学校更正卡号"], 0).await;
    let proposal = p["proposal"].as_i64().unwrap_or_else(|| panic!("{p}"));
    assert_eq!(p["kind"], "card_change");
    assert_eq!(env.store().await.grant(&grant).await.unwrap().unwrap().card_number, card_before);
    assert_eq!(open_of(&env, "invalid_card").await.len(), 1);
    // One open proposal per exception.
    env.act("clerk2", &["exceptions", "resolve", &id, "--cancel", "--note", "x"], 1).await;
    // The proposal shows the state before and what is proposed, the card masked.
    let list = pending(&env, "card_change").await;
    assert!(!list[0].to_string().contains("6217000010001234569"), "{list:?}");
    assert_eq!(list[0]["proposed_by"], "clerk");

    // The reviewer approves: now it is applied, and the trail names both.
    let d = env.act("reviewer", &["approvals", "approve", &proposal.to_string(), "--note", "已电话核实"], 0).await;
    assert_eq!(d["status"], "approved", "{d}");
    assert_eq!(env.store().await.grant(&grant).await.unwrap().unwrap().card_number, "6217000010001234569");
    assert!(open_of(&env, "invalid_card").await.is_empty());
    let store = env.store().await;
    let actor: String = sqlx::query("SELECT actor FROM audit_log WHERE action = 'grant.reissue' AND subject = $1")
        .bind(&grant)
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(actor, "clerk/reviewer");

    // A cancellation proposed by a reviewer needs another reviewer.
    let dup = open_of(&env, "duplicate_grant").await;
    let p = env.act("reviewer", &["exceptions", "resolve", &dup[0]["id"].to_string(), "--cancel", "--note", "重复"], 0).await;
    let pid = p["proposal"].to_string();
    let err = env.act("reviewer", &["approvals", "approve", &pid], 1).await;
    assert!(err.as_str().unwrap().contains("本人"), "the proposer cannot approve their own proposal: {err}");
    env.act("reviewer2", &["approvals", "approve", &pid], 0).await;
    assert_eq!(env.store().await.grant(dup[0]["grant_id"].as_str().unwrap()).await.unwrap().unwrap().status.as_str(), "cancelled");

    // An acceptance rejected by the reviewer: the exception stays on the work list.
    let off = open_of(&env, "amount_off_standard").await;
    let p = env.act("clerk", &["exceptions", "resolve", &off[0]["id"].to_string(), "--accept", "--note", "特批"], 0).await;
    env.act("reviewer", &["approvals", "reject", &p["proposal"].to_string(), "--note", "没有特批文件"], 0).await;
    assert_eq!(open_of(&env, "amount_off_standard").await.len(), 1);
    assert_eq!(env.json_async(&["verify"], 0).await["ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_clerks_and_reviewers_act_and_the_os_user_is_no_identity() {
    let env = office().await;
    let bad = open_of(&env, "amount_off_standard").await;
    let id = bad[0]["id"].to_string();
    for who in ["auditor", "admin"] {
        let err = env.act(who, &["exceptions", "resolve", &id, "--cancel", "--note", "x"], 1).await;
        assert!(err.as_str().unwrap().contains("无权操作"), "{who}: {err}");
    }
    // No --user: a usage error, nothing done.
    let out = env.run(&["exceptions", "resolve", &id, "--cancel", "--note", "x"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    // A wrong password: refused.
    let out = env.run_with_stdin(&["exceptions", "resolve", &id, "--cancel", "--note", "x", "--user", "clerk"], "not-the-password").await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(open_of(&env, "amount_off_standard").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_itself_refuses_a_decision_by_the_proposer_or_by_a_role_that_may_not() {
    let env = office().await;
    env.json_async(&["batch"], 0).await;
    let b = pending(&env, "batch").await.remove(0);
    let store = env.store().await;
    // Straight in the database: the proposer deciding their own proposal breaks the table's CHECK.
    let own = sqlx::query("UPDATE approvals SET status = 'approved', decided_by = proposed_by WHERE id = $1").bind(b["id"].as_i64().unwrap()).execute(store.pool()).await;
    assert!(own.is_err(), "the CHECK refuses it");
    // Through the store's own statement: a clerk's decision is not recorded.
    let scoped = store.clone().scoped("130100000012345678");
    let mut tx = scoped.begin().await.unwrap();
    let refused = tx.decide_approval(b["id"].as_i64().unwrap(), "clerk", aidpay::domain::ApprovalStatus::Approved, "").await.unwrap();
    assert_eq!(refused, Err(aidpay::store::DecisionRefused::NotAllowed));
    tx.commit().await.unwrap();
    assert_eq!(pending(&env, "batch").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_passwords_lock_a_user_and_an_admin_manages_users() {
    let env = TestEnv::new().await;
    env.user("clerk", "clerk").await;
    for _ in 0..5 {
        let out = env.run_with_stdin(&["approvals", "list", "--user", "clerk"], "wrong-password!").await;
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("用户名或密码错误"));
    }
    // The sixth attempt finds the user locked, even with the right password.
    let out = env.run_with_stdin(&["approvals", "list", "--user", "clerk"], &password_of("clerk")).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("锁定"), "{}", String::from_utf8_lossy(&out.stderr));
    // A new password lifts the lock; a disabled user can no longer act.
    let out = env.run_with_stdin(&["user", "passwd", "clerk", "--password-stdin"], &password_of("clerk")).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    env.act("clerk", &["approvals", "list"], 0).await;
    let users = env.json_async(&["user", "list"], 0).await;
    assert_eq!(users[0]["role"], "clerk");
    assert!(!users.to_string().contains("argon2"), "no password hash is ever printed: {users}");
    env.json_async(&["user", "disable", "clerk"], 0).await;
    let out = env.run_with_stdin(&["approvals", "list", "--user", "clerk"], &password_of("clerk")).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("停用"));
    // Short passwords are refused; every change is in the trail.
    let out = env.run_with_stdin(&["user", "add", "bob", "--role", "clerk", "--password-stdin"], "short").await;
    assert_eq!(out.status.code(), Some(1));
    let store = env.store().await;
    let actions: Vec<String> = sqlx::query("SELECT action FROM audit_log WHERE subject = 'clerk' ORDER BY id").fetch_all(store.pool()).await.unwrap().iter().map(|r| r.get(0)).collect();
    for a in ["user.add", "login.failed", "login.locked", "user.passwd", "login", "user.disable"] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_send_that_changes_a_card_is_held_until_a_second_person_agrees() {
    let env = office().await;
    // The school sends 2026Q-0002 again, to another card (valid, never paid yet).
    let text = std::fs::read_to_string(fixture("grants/utf8.csv")).unwrap().replace("6217003554950597671", "6217000010001234569");
    let resent = env.path("resent.csv");
    std::fs::write(&resent, text).unwrap();
    let s = import_one(&env, &resent, &[], 0);
    assert_eq!(s["superseded"], 1, "{s}");
    let store = env.store().await;
    let g = store.grant("2026Q-0002").await.unwrap().unwrap();
    assert_eq!(g.status.as_str(), "held", "a changed card is not paid on the school's word alone");
    let changed = open_of(&env, "card_changed").await;
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(!changed[0].to_string().contains("6217000010001234569"), "the card is masked: {changed:?}");
    // The batch leaves it out.
    env.json_async(&["batch"], 0).await;
    assert!(store.payments_of_grant("2026Q-0002").await.unwrap().is_empty());

    // A clerk's acceptance is a card_change proposal (even were acceptances not under four eyes);
    // a reviewer approves it; then it is paid to the new card.
    let p = env.act("clerk", &["exceptions", "resolve", &changed[0]["id"].to_string(), "--accept", "--note", "已电话向学校核实新卡"], 0).await;
    assert_eq!(p["kind"], "card_change", "{p}");
    assert_eq!(store.grant("2026Q-0002").await.unwrap().unwrap().status.as_str(), "held");
    env.act("reviewer", &["approvals", "approve", &p["proposal"].to_string(), "--note", "同意"], 0).await;
    assert_eq!(store.grant("2026Q-0002").await.unwrap().unwrap().status.as_str(), "valid");
    env.json_async(&["batch"], 0).await;
    let pays = store.payments_of_grant("2026Q-0002").await.unwrap();
    assert_eq!(pays.len(), 1);
    assert_eq!(pays[0].card_number, "6217000010001234569");
    assert_eq!(env.json_async(&["verify"], 0).await["ok"], true);
}
