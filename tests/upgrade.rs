//! A district's store from the last release (schema 0001) upgrades in place: its grants,
//! payments, batches and exceptions survive, and a grant the old release stranded (a failed
//! payment whose exception was closed with `--accept`) is back on the work list.

use crate::util::TestEnv;
use sqlx::any::AnyPoolOptions;

/// The store as the last release left it: only migration 0001, and rows written as it wrote them.
async fn release_store(env: &TestEnv) {
    sqlx::any::install_default_drivers();
    let dir = env.path("release-migrations");
    std::fs::create_dir_all(&dir).unwrap();
    let first = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/migrations/0001_schema.sql");
    std::fs::copy(&first, dir.join("0001_schema.sql")).unwrap();
    if env.db_url.starts_with("sqlite:") {
        std::fs::create_dir_all(env.path("var")).unwrap();
    }
    let pool = AnyPoolOptions::new().max_connections(1).connect(&env.db_url).await.unwrap();
    sqlx::migrate::Migrator::new(dir.as_path()).await.unwrap().run(&pool).await.unwrap();

    // A batch file in the outbox, as the release wrote it, and its hash in `files`.
    let outbox = env.path("var/outbox");
    std::fs::create_dir_all(&outbox).unwrap();
    std::fs::write(outbox.join("B20261120000001.xml"), b"<Document/>").unwrap();
    let sha = aidpay::transport::sha256_hex(b"<Document/>");
    let acct = "130100000012345678";
    let t = "2026-11-20T10:00:00+08:00";
    let statements = [
        "UPDATE id_counters SET next_id = 10".to_string(),
        format!("INSERT INTO files VALUES (1, 'in', 'grant_list', 'old.csv', 'aa', 10, 'applied', NULL, '{t}')"),
        format!("INSERT INTO files VALUES (2, 'out', 'pain001', 'B20261120000001.xml', '{sha}', 11, 'delivered', 'B20261120000001', '{t}')"),
    ];
    let grant = |id: &str, status: &str, card: &str| {
        format!(
            "INSERT INTO grants VALUES ('{id}', '{acct}', '张三', '130102200909131867', '1103001', '区第一高级中学', '高中', '高一', '国家助学金', \
             '一般困难', '', '2026秋', 75000, '张三', '{card}', '中国银行', '2026-10-20', '{status}', 'fp-{id}', 1, 2, '{t}', '{t}')"
        )
    };
    let payment = |r: &str, gid: &str, status: &str, live: &str, out: i64| {
        format!(
            "INSERT INTO payments VALUES ('{r}', '{gid}', 1, '{acct}', 'boc', 'B20261120000001', 75000, '6216610200016587010', '张三', '中国银行', \
             '2026秋 国家助学金', '{status}', NULL, {out}, 0, {live}, '{t}', '{t}')"
        )
    };
    let exception = |id: i64, kind: &str, gid: &str, status: &str, resolution: &str| {
        format!(
            "INSERT INTO exceptions VALUES ({id}, '{acct}', '{kind}', 'medium', '{status}', '{gid}', NULL, NULL, 75000, 'detail', '{kind}:{gid}', \
             {resolution}, NULL, NULL, NULL, '{t}')"
        )
    };
    let rows = [
        grant("OLD-1", "valid", "6216610200016587010"),
        grant("OLD-2", "valid", "6216610200016587010"),
        grant("OLD-3", "held", "6216610200016587011"),
        grant("OLD-4", "paid", "6216610200016587010"),
        format!("INSERT INTO batches VALUES ('B20261120000001', '{acct}', 'boc', '2026-11-20', 'pain.001.001.09', 2, 150000, 'debited', \
                 'B20261120000001.xml', 2, NULL, '{t}', '{t}')"),
        payment("AP000000000002", "OLD-2", "rejected", "NULL", 0),
        payment("AP000000000004", "OLD-4", "settled", "1", 1),
        exception(1, "bank_rejected", "OLD-2", "resolved", "'accept'"),
        exception(2, "invalid_card", "OLD-3", "open", "NULL"),
    ];
    for sql in statements.iter().chain(rows.iter()) {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(&pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_from_the_last_release_upgrades_in_place() {
    let env = TestEnv::new().await;
    release_store(&env).await;

    let v = env.json_async(&["verify"], 0).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["grants"], 4);
    assert_eq!((v["owner_states"]["to_batch"].as_u64(), v["owner_states"]["held"].as_u64(), v["owner_states"]["paid"].as_u64()), (Some(1), Some(2), Some(1)), "{v}");
    // The stranded grant is someone's again: its accepted rejection is open once more.
    let ex = env.json_async(&["exceptions", "list"], 0).await;
    let kinds: Vec<(String, String)> = ex.as_array().unwrap().iter().map(|e| (e["kind"].as_str().unwrap().into(), e["grant_id"].as_str().unwrap().into())).collect();
    assert!(kinds.contains(&("bank_rejected".into(), "OLD-2".into())) && kinds.contains(&("invalid_card".into(), "OLD-3".into())), "{kinds:?}");

    // Its card and ID numbers are still clear: a command that writes needs a data key first,
    // and says how to make one; `status` counts what is clear.
    let status = env.json_async(&["status"], 0).await;
    assert!(status["data_at_rest"]["clear_values"].as_i64().unwrap() >= 6, "{status}");
    let out = env.run(&["batch"], &[]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("aidpay keys init") && err.contains("in clear"), "{err}");
    let init = env.json_async(&["keys", "init"], 0).await;
    assert_eq!(init["file"].as_str().map(std::path::PathBuf::from), Some(env.key_file()), "{init}");

    // The encryption in place is killed after its first chunk (one row): the rest is still clear,
    // and the next start finishes it.
    let clear_before = status["data_at_rest"]["clear_values"].as_i64().unwrap();
    let out = env.run(&["batch"], &[("AIDPAY_KEYS_CHUNK", "1"), ("AIDPAY_CRASH_AT", "keys_chunk")]).await;
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(9), "{}", String::from_utf8_lossy(&out.stderr));
    let left = env.json_async(&["status"], 0).await["data_at_rest"]["clear_values"].as_i64().unwrap();
    assert!(left > 0 && left < clear_before, "{left} of {clear_before} still clear");

    // And the upgraded store works on (encrypted in place at this start): the waiting grant goes
    // out, the failed one can be paid again.
    let b = env.json_async(&["batch"], 0).await;
    assert_eq!(b["payments_created"], 1, "{b}");
    let rej = ex.as_array().unwrap().iter().find(|e| e["kind"] == "bank_rejected").unwrap();
    env.user("clerk", "clerk").await;
    env.act("clerk", &["exceptions", "resolve", &rej["id"].to_string(), "--reissue", "--card", "6217000010001234569", "--note", "换卡"], 0).await;
    assert_eq!(env.json_async(&["verify"], 0).await["ok"], true);

    // Nothing of the release's clear numbers is left in the store's bytes.
    let status = env.json_async(&["status"], 0).await;
    assert_eq!(status["data_at_rest"]["clear_values"], 0, "{status}");
    let numbers: Vec<String> =
        ["130102200909131867", "6216610200016587010", "6216610200016587011", "6217000010001234569"].map(String::from).to_vec();
    let found = crate::data_at_rest::found_in(&crate::data_at_rest::store_bytes(&env).await, &numbers);
    assert!(found.is_empty(), "{found:?}");
    let g = env.store().await.grant("OLD-3").await.unwrap().unwrap();
    assert_eq!((g.card_number.as_str(), g.id_number.as_str(), g.name.as_str()), ("6216610200016587011", "130102200909131867", "张三"));
}

/// Issue 20: the upgrade hands out ids past the release's counters, on PostgreSQL from the
/// sequences migration 0011 made (starting where `id_counters` stood), on SQLite from the
/// counters themselves: no new row meets an old one's id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_after_the_upgrade_start_past_the_release_counters() {
    let env = TestEnv::new().await;
    release_store(&env).await;
    env.json_async(&["keys", "init"], 0).await;
    let store = env.store().await.scoped("130100000012345678");
    let mut tx = store.begin().await.unwrap();
    for table in ["files", "exceptions", "audit_log", "statement_entries", "payment_events", "payments", "batches"] {
        let ids: Vec<i64> = tx.alloc_ids(table, 3).await.unwrap().iter().collect();
        // The start encrypted the release's rows in place, which may have taken ids already.
        assert!(ids[0] >= 10 && ids == vec![ids[0], ids[0] + 1, ids[0] + 2], "{table}: {ids:?}");
    }
    // The counter migration 0004 added (approvals) moves on from where it stood.
    assert!(tx.alloc_id("approvals").await.unwrap() >= 1);
    tx.commit().await.unwrap();
}

/// Migrations 0001 up to `last` as the backend applies them (PostgreSQL's own texts where
/// `migrations/postgres/` has one), in a folder of their own.
fn migrations_up_to(env: &TestEnv, last: i64) -> std::path::PathBuf {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/migrations");
    let dir = env.path(&format!("migrations-to-{last}"));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(version) = name.split('_').next().and_then(|v| v.parse::<i64>().ok()) else { continue };
        if version > last {
            continue;
        }
        let own = src.join("postgres").join(&name);
        let text = if crate::util::backend() == "postgres" && own.exists() { own } else { src.join(&name) };
        std::fs::copy(text, dir.join(&name)).unwrap();
    }
    dir
}

/// How many rows each of `tables` holds.
async fn row_counts(pool: &sqlx::AnyPool, tables: &[&str]) -> Vec<i64> {
    let mut counts = Vec::new();
    for t in tables {
        counts.push(sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {t}"))).fetch_one(pool).await.unwrap());
    }
    counts
}

/// Issue 20: the store of the release before (schema 0014), with answers and a statement in it,
/// upgrades in place through migration 0015, which rebuilds on SQLite the five tables written in
/// bulk with their foreign keys deferred (no statement journal for a multi-row write). Every row
/// is still there, and the keys still hold: a payment event of no file never commits — on
/// SQLite it is refused at the commit, not by the statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_the_release_before_keeps_every_row_and_key_through_0015() {
    let env = TestEnv::new().await;
    release_store(&env).await;
    let pool = AnyPoolOptions::new().max_connections(1).connect(&env.db_url).await.unwrap();
    let sqlite = env.db_url.starts_with("sqlite:");
    if sqlite {
        sqlx::query("PRAGMA foreign_keys = ON").execute(&pool).await.unwrap();
    }
    sqlx::migrate::Migrator::new(migrations_up_to(&env, 14).as_path()).await.unwrap().run(&pool).await.unwrap();
    let acct = "130100000012345678";
    let t = "2026-11-21T10:00:00+08:00";
    // What the release's answers and statement ingest wrote, in its columns.
    let rows = [
        format!("INSERT INTO files (id, account_no, direction, kind, name, sha256, size_bytes, status, detail, created_at) \
                 VALUES (3, '{acct}', 'in', 'camt053', 'stmt.xml', 'cc', 12, 'applied', NULL, '{t}')"),
        format!("INSERT INTO payment_events (id, payment_ref, status, reason_code, reason_text, file_id, created_at) \
                 VALUES (5, 'AP000000000004', 'settled', NULL, NULL, 2, '{t}')"),
        format!("INSERT INTO statements (account_no, statement_id, kind, currency, from_date, to_date, opening_fen, closing_fen, file_id, created_at) \
                 VALUES ('{acct}', 'STMT-1', 'statement', 'CNY', '2026-11-20', '2026-11-20', 1000000, 925000, 3, '{t}')"),
        format!("INSERT INTO statement_entries (id, account_no, statement_id, entry_key, identity, identified_by, bank_ref, position, status, \
                 booking_date, credit, reversal, amount_fen, batch_ref, batch_nb_of_txs, batch_total_fen, bank_tx_code, counterpart, info, matched) \
                 VALUES (6, '{acct}', 'STMT-1', 'R1|D|-|75000#1', 'R1|D|-|75000', 'acct_svcr_ref', 'R1', 1, 'booked', '2026-11-20', 0, 0, 75000, \
                 'B20261120000001', 1, 75000, NULL, NULL, NULL, 'batch')"),
        "INSERT INTO statement_details (entry_id, position, end_to_end_id, amount_fen, return_reason, counterpart) \
         VALUES (6, 0, 'AP000000000004', 75000, NULL, NULL)"
            .to_string(),
    ];
    for sql in &rows {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(&pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let tables = ["grants", "grant_states", "payments", "payment_events", "statement_entries", "statement_details"];
    let before = row_counts(&pool, &tables).await;
    assert_eq!(before, vec![4, 4, 2, 1, 1, 1]);
    pool.close().await;

    // The next start applies 0015; the store is whole.
    let v = env.json_async(&["verify"], 0).await;
    assert_eq!(v["ok"], true, "{v}");
    let pool = AnyPoolOptions::new().max_connections(1).connect(&env.db_url).await.unwrap();
    assert_eq!(row_counts(&pool, &tables).await, before, "{tables:?}");
    let e2e: String = sqlx::query_scalar("SELECT end_to_end_id FROM statement_details WHERE entry_id = 6").fetch_one(&pool).await.unwrap();
    assert_eq!(e2e, "AP000000000004");

    if sqlite {
        sqlx::query("PRAGMA foreign_keys = ON").execute(&pool).await.unwrap();
        // Every key of the five tables is deferred, none left immediate.
        for t in ["grants", "payments", "payment_events", "statement_entries", "statement_details"] {
            let sql: String = sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1").bind(t).fetch_one(&pool).await.unwrap();
            let keys = sql.matches("REFERENCES").count();
            assert!(keys > 0 && sql.matches("DEFERRABLE INITIALLY DEFERRED").count() == keys, "{t}: {sql}");
        }
    }
    // A payment event of a file that does not exist: never committed.
    let mut tx = pool.begin().await.unwrap();
    let insert = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO payment_events (id, payment_ref, status, reason_code, reason_text, file_id, created_at) \
         VALUES (7, 'AP000000000004', 'settled', NULL, NULL, 999, '{t}')"
    )))
    .execute(&mut *tx)
    .await;
    if sqlite {
        assert!(insert.is_ok(), "deferred: the statement itself goes through");
        let commit = tx.commit().await;
        assert!(commit.as_ref().is_err_and(|e| e.to_string().contains("FOREIGN KEY")), "{commit:?}");
    } else {
        assert!(insert.is_err_and(|e| e.to_string().contains("foreign key")));
        tx.rollback().await.unwrap();
    }
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payment_events").fetch_one(&pool).await.unwrap();
    assert_eq!(events, 1);
}

/// Issue 20: a store of the release before (schema 0015) upgrades in place through migration
/// 0016, which replaces SQLite's two look-up hash indexes of grants by indexes of the hashes'
/// first 64 bits, built over the grants already there: a student the store already pays is still
/// found by the next list (`duplicate_grant`), and so is a card another student uses
/// (`card_shared`). PostgreSQL keeps its indexes (0016 does nothing there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_schema_0015_still_finds_its_students_and_cards_through_0016() {
    let env = TestEnv::new().await;
    crate::util::import_one_student(&env, "U");

    let sqlite = env.db_url.starts_with("sqlite:");
    let store = env.store().await;
    if sqlite {
        // Back to schema 0015's indexes, and 0016 not yet applied.
        for sql in [
            "DROP INDEX grants_id_key",
            "DROP INDEX grants_card_key",
            "CREATE INDEX grants_student_hash ON grants (account_no, id_hash, program, period)",
            "CREATE INDEX grants_card_hash ON grants (account_no, card_hash)",
            "DELETE FROM _sqlx_migrations WHERE version = 16",
        ] {
            sqlx::query(sql).execute(store.pool()).await.unwrap();
        }
    } else {
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 16").execute(store.pool()).await.unwrap();
    }
    store.close().await;

    // Another student on the same card (another holder), and the same student again.
    crate::util::import_a_shared_card_and_the_student_again(&env, "U").await;

    if sqlite {
        let store = env.store().await;
        let indexes: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'grants' AND sql IS NOT NULL ORDER BY name")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(indexes, ["grants_card_key", "grants_id_key"]);
    }
    assert_eq!(env.json_async(&["verify"], 0).await["ok"], true);
}
