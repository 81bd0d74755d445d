//! Issue 16: the hash-chained audit trail. Any change to a line — its content, its order, a line
//! deleted (also the last) — is found by `audit verify`, which names the line; a changed outbox
//! file is found; writers in concurrent transactions never fork the chain; lines from before
//! the upgrade are chained; `audit export` writes the trail, its files and the chain head.

use crate::util::{TestEnv, fixture, import_one};
use aidpay::store::{AuditEntry, Store};
use serde_json::Value;
use sqlx::Row;

/// A store with a few lines on the trail: an import, batches created, written and handed over.
async fn with_trail() -> TestEnv {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    env.json_async(&["batch"], 0).await;
    let v = env.json_async(&["audit", "verify"], 0).await;
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["lines"].as_u64().unwrap() >= 5, "{v}");
    assert!(v["files_checked"].as_u64().unwrap() >= 1, "the outbox files are checked: {v}");
    env
}

async fn exec(store: &Store, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(store.pool()).await.unwrap();
}

/// `audit verify --json`, expecting it to fail; the first bad line's seq and reason.
async fn broken(env: &TestEnv) -> (i64, String, Value) {
    let v = env.json_async(&["audit", "verify"], 1).await;
    assert_eq!(v["ok"], false, "{v}");
    let bad = &v["first_bad_line"];
    (bad["seq"].as_i64().unwrap_or(-1), bad["reason"].as_str().unwrap_or("").to_string(), v.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_line_is_named() {
    let env = with_trail().await;
    let store = env.store().await;
    let after: Option<String> = sqlx::query("SELECT after_json FROM audit_log WHERE seq = 2").fetch_one(store.pool()).await.unwrap().get(0);
    let after = after.expect("line 2 has an after");
    // The content changed (a key renamed), the hashes left as they were.
    let forged = after.replacen('"', "\"x", 1);
    assert_ne!(forged, after);
    sqlx::query("UPDATE audit_log SET after_json = $1 WHERE seq = 2").bind(&forged).execute(store.pool()).await.unwrap();
    let (seq, reason, v) = broken(&env).await;
    assert_eq!(seq, 2, "{v}");
    assert!(reason.contains("第 2 行") && reason.contains("被改动"), "{reason}");
    // The actor changed instead (the content restored).
    sqlx::query("UPDATE audit_log SET after_json = $1 WHERE seq = 2").bind(&after).execute(store.pool()).await.unwrap();
    assert_eq!(env.json_async(&["audit", "verify"], 0).await["ok"], true);
    exec(&store, "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3").await;
    assert_eq!(broken(&env).await.0, 3);
    // Recomputing the line's own hash does not help: the next line's prev_hash no longer fits.
    let line = store.audit_lines(2, 1).await.unwrap().remove(0);
    let rehashed = line.computed_hash(3, line.prev_hash.as_deref().unwrap());
    sqlx::query("UPDATE audit_log SET hash = $1 WHERE seq = 3").bind(&rehashed).execute(store.pool()).await.unwrap();
    let (seq, reason, _) = broken(&env).await;
    assert_eq!(seq, 4, "{reason}");
    assert!(reason.contains("上一行哈希"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_out_of_order_are_named() {
    let env = with_trail().await;
    let store = env.store().await;
    // Lines 2 and 3 swap places.
    exec(&store, "UPDATE audit_log SET seq = -3 WHERE seq = 3").await;
    exec(&store, "UPDATE audit_log SET seq = 3 WHERE seq = 2").await;
    exec(&store, "UPDATE audit_log SET seq = 2 WHERE seq = -3").await;
    let (seq, reason, v) = broken(&env).await;
    assert_eq!(seq, 2, "{v}");
    assert!(reason.contains("第 2 行"), "{reason}");
    // Swapped by their times and ids instead (seq kept): the hash covers seq, so still found.
    exec(&store, "UPDATE audit_log SET seq = -3 WHERE seq = 3").await;
    exec(&store, "UPDATE audit_log SET seq = 3 WHERE seq = 2").await;
    exec(&store, "UPDATE audit_log SET seq = 2 WHERE seq = -3").await;
    assert_eq!(env.json_async(&["audit", "verify"], 0).await["ok"], true, "restored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_line_is_named_also_the_last() {
    let env = with_trail().await;
    let store = env.store().await;
    exec(&store, "CREATE TABLE kept AS SELECT * FROM audit_log").await;
    exec(&store, "DELETE FROM audit_log WHERE seq = 2").await;
    let (seq, reason, v) = broken(&env).await;
    assert_eq!(seq, 3, "{v}");
    assert!(reason.contains("缺少第 2 行"), "{reason}");
    // Renumbered to hide the gap: the prev_hash of the line after still names the deleted one.
    exec(&store, "UPDATE audit_log SET seq = seq - 1 WHERE seq > 2").await;
    let (seq, reason, _) = broken(&env).await;
    assert_eq!(seq, 2, "{reason}");

    exec(&store, "DELETE FROM audit_log").await;
    exec(&store, "INSERT INTO audit_log SELECT * FROM kept").await;
    assert_eq!(env.json_async(&["audit", "verify"], 0).await["ok"], true, "restored");
    let last: i64 = sqlx::query("SELECT CAST(MAX(seq) AS BIGINT) FROM audit_log").fetch_one(store.pool()).await.unwrap().get(0);
    sqlx::query("DELETE FROM audit_log WHERE seq = $1").bind(last).execute(store.pool()).await.unwrap();
    let (seq, reason, v) = broken(&env).await;
    assert_eq!(seq, last, "{v}");
    assert!(reason.contains(&format!("第 {last} 行起被删除")), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_outbox_file_is_found() {
    let env = with_trail().await;
    let store = env.store().await;
    let row = sqlx::query("SELECT after_json FROM audit_log WHERE action = 'batch.write' ORDER BY seq LIMIT 1").fetch_one(store.pool()).await.unwrap();
    let after: Value = serde_json::from_str(&row.get::<String, _>(0)).unwrap();
    let name = after["file"].as_str().unwrap();
    let path = env.path("var/outbox").join(name);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b" ");
    std::fs::write(&path, &bytes).unwrap();
    let v = env.json_async(&["audit", "verify"], 1).await;
    assert!(v["first_bad_line"].is_null(), "the chain itself is fine: {v}");
    let problems = v["file_problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{v}");
    assert_eq!(problems[0]["file"], name);
    assert_eq!(problems[0]["recorded_sha256"], after["sha256"]);
    assert!(problems[0]["reason"].as_str().unwrap().contains("不符"), "{v}");
    // The human text names it too.
    let out = env.run(&["audit", "verify"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains(name));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_never_fork_the_chain() {
    let env = TestEnv::new().await;
    let store = env.store().await.scoped("130100000012345678");
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let mut tx = store.begin().await.unwrap();
                // Some work in the transaction before the line, as a real writer has.
                tx.alloc_ids("files", 1).await.unwrap();
                let subject = format!("t{t}-{i}");
                tx.audit(&AuditEntry { actor: "test", action: "test.write", subject: &subject, before: None, after: None }).await.unwrap();
                tx.audit(&AuditEntry { actor: "test", action: "test.write2", subject: &subject, before: None, after: None }).await.unwrap();
                tokio::task::yield_now().await;
                tx.commit().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let v = env.json_async(&["audit", "verify"], 0).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["lines"], 160, "{v}");
    assert_eq!(v["head"]["seq"], 160, "{v}");
    // A rolled-back transaction leaves no line and no gap.
    let mut tx = store.begin().await.unwrap();
    tx.audit(&AuditEntry { actor: "test", action: "rolled.back", subject: "x", before: None, after: None }).await.unwrap();
    drop(tx);
    store.audit(&AuditEntry { actor: "test", action: "after", subject: "y", before: None, after: None }).await.unwrap();
    let v = env.json_async(&["audit", "verify"], 0).await;
    assert_eq!(v["lines"], 161, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_from_before_the_upgrade_are_chained_at_the_first_start() {
    let env = TestEnv::new().await;
    let store = env.store().await;
    // As migration 0005 leaves a trail of an old store: lines without seq or hash, counted in legacy.
    for i in 1..=3 {
        sqlx::query("INSERT INTO audit_log (id, at, actor, action, subject, before_json, after_json) VALUES ($1, $2, 'old', 'import', $3, NULL, '{}')")
            .bind(1000 + i)
            .bind(format!("2026-11-0{i}T10:00:00+08:00"))
            .bind(format!("old-{i}.csv"))
            .execute(store.pool())
            .await
            .unwrap();
    }
    exec(&store, "UPDATE audit_head SET legacy = 3").await;
    store.close().await;
    let v = env.json_async(&["audit", "verify"], 0).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["lines"], 3, "{v}");
    let store = env.store().await;
    let seqs: Vec<i64> = sqlx::query("SELECT seq FROM audit_log ORDER BY id").fetch_all(store.pool()).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(seqs, [1, 2, 3], "chained in id order");
    // And new lines follow them.
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    let v = env.json_async(&["audit", "verify"], 0).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["lines"], 4, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_the_trail_its_files_and_the_head() {
    let env = with_trail().await;
    let out = env.path("export");
    let v = env.json_async(&["audit", "export", "--from", "2026-11-01", "--to", "2026-11-30", "--out", out.to_str().unwrap()], 0).await;
    assert_eq!(v["verify_ok"], true, "{v}");
    assert!(v["lines"].as_u64().unwrap() >= 5, "{v}");
    let csv = std::fs::read(v["csv"].as_str().unwrap()).unwrap();
    assert!(csv.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with BOM");
    let text = String::from_utf8_lossy(&csv);
    assert!(text.contains("序号") && text.contains("本行哈希") && text.contains("batch.write"), "{text}");
    {
        use calamine::Reader;
        let mut book: calamine::Xlsx<_> = calamine::open_workbook(v["xlsx"].as_str().unwrap()).unwrap();
        let range = book.worksheet_range_at(0).unwrap().unwrap();
        assert!(range.rows().count() as u64 >= v["lines"].as_u64().unwrap() + 2);
    }
    let head = std::fs::read_to_string(out.join("chain-head.txt")).unwrap();
    let hash = v["head"]["hash"].as_str().unwrap();
    assert!(head.contains(hash) && head.contains("audit verify: ok"), "{head}");
    assert!(v["files_copied"].as_u64().unwrap() >= 1, "the batch files: {v}");
    let copies: Vec<_> = std::fs::read_dir(out.join("files")).unwrap().collect();
    assert_eq!(copies.len() as u64, v["files_copied"].as_u64().unwrap());
    // The export itself is on the trail, and an empty range is an empty export, not an error.
    let store = env.store().await;
    let n: i64 = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM audit_log WHERE action = 'audit.export'").fetch_one(store.pool()).await.unwrap().get(0);
    assert_eq!(n, 1);
    let empty = env.json_async(&["audit", "export", "--from", "2025-01-01", "--to", "2025-01-31", "--out", env.path("e2").to_str().unwrap()], 0).await;
    assert_eq!(empty["lines"], 0);
    let bad = env.run(&["audit", "export", "--from", "2026-13-01", "--to", "2026-11-30", "--out", "x"], &[]).await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("2026-13-01"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_proposed_and_quarantined_files_are_on_the_trail() {
    let env = TestEnv::new().await;
    env.with_approvals();
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    env.json_async(&["batch"], 0).await;
    let junk = env.path("junk.bin");
    std::fs::write(&junk, b"\x00\x01 not a bank file").unwrap();
    env.json_async(&["ingest", junk.to_str().unwrap()], 0).await;
    let store = env.store().await;
    let actions: Vec<String> = sqlx::query("SELECT action FROM audit_log ORDER BY seq").fetch_all(store.pool()).await.unwrap().iter().map(|r| r.get(0)).collect();
    for a in ["import", "batch.create", "approval.propose", "quarantine"] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    let v = env.json_async(&["audit", "verify"], 0).await;
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["files_checked"].as_u64().unwrap() >= 1, "the quarantined file is checked: {v}");
    // A quarantined file changed is found as well.
    let q = std::fs::read_dir(env.path("var/quarantine")).unwrap().map(|e| e.unwrap().path()).find(|p| !p.to_string_lossy().ends_with(".reason.txt")).unwrap();
    std::fs::write(&q, b"changed").unwrap();
    let v = env.json_async(&["audit", "verify"], 1).await;
    assert_eq!(v["file_problems"][0]["action"], "quarantine", "{v}");
}
