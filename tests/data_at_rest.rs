//! Issue 18: card and ID numbers at rest. No input number appears in the store's bytes (the
//! SQLite file and its WAL, or a `pg_dump`); a rotation killed half-way and run again leaves every
//! value readable and none clear; a wrong or missing key is refused at start with nothing written.

use crate::util::{TestEnv, backend, fixture, import_one};
use sqlx::Row;
use std::os::unix::process::ExitStatusExt;

/// Every card number (16–19 digits) and ID number (17 digits and a digit or X) in these files,
/// spaces removed, as the store would keep them.
pub fn numbers_in(files: &[std::path::PathBuf]) -> Vec<String> {
    let mut out = std::collections::BTreeSet::new();
    for f in files {
        let bytes = std::fs::read(f).unwrap();
        let mut run = String::new();
        for b in bytes.iter().copied().chain([b',']) {
            if b.is_ascii_digit() || b == b'X' || (b == b' ' && !run.is_empty()) {
                if b != b' ' {
                    run.push(b as char);
                }
            } else {
                if (16..=19).contains(&run.len()) && run[..run.len() - 1].bytes().all(|c| c.is_ascii_digit()) {
                    out.insert(run.clone());
                }
                run.clear();
            }
        }
    }
    out.into_iter().collect()
}

/// The bytes a backup would carry: the SQLite file and its WAL, or a plain-text `pg_dump`.
pub async fn store_bytes(env: &TestEnv) -> Vec<u8> {
    if backend() == "postgres" {
        let out = std::process::Command::new("pg_dump").arg(&env.db_url).output().expect("pg_dump");
        assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
        return out.stdout;
    }
    let db = env.path("var/aidpay.db");
    let mut bytes = std::fs::read(&db).unwrap();
    let wal = env.path("var/aidpay.db-wal");
    if wal.exists() {
        bytes.extend(std::fs::read(&wal).unwrap());
    }
    bytes
}

/// The numbers of `numbers` found in `bytes`.
pub fn found_in(bytes: &[u8], numbers: &[String]) -> Vec<String> {
    numbers.iter().filter(|n| bytes.windows(n.len()).any(|w| w == n.as_bytes())).cloned().collect()
}

const NEW_CARD: &str = "6217000010001234569";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_card_or_id_number_in_the_store_file_its_wal_or_a_dump() {
    let env = TestEnv::new().await;
    let files = [fixture("grants/utf8.csv"), fixture("grants/gbk.csv"), fixture("grants/bom.csv")];
    for f in &files {
        import_one(&env, f, &[], 0);
    }
    let mut numbers = numbers_in(&files);
    assert!(numbers.len() > 60, "the fixtures' numbers were found: {numbers:?}");
    numbers.push(NEW_CARD.to_string());
    // A batch (payments, batch files), and a proposed re-issue to a new card (kept to apply it).
    env.json_async(&["batch"], 0).await;
    env.with_approvals();
    env.user("clerk", "clerk").await;
    let ex = env.json_async(&["exceptions", "list", "--kind", "invalid_card"], 0).await;
    let id = ex[0]["id"].to_string();
    let p = env.act("clerk", &["exceptions", "resolve", &id, "--reissue", "--card", NEW_CARD, "--note", "更正卡号"], 0).await;
    assert!(p["proposal"].as_i64().is_some(), "{p}");

    let found = found_in(&store_bytes(&env).await, &numbers);
    assert!(found.is_empty(), "{} of {} numbers in the store's bytes: {found:?}", found.len(), numbers.len());

    // Still readable where people need them: masked in lists, whole in the bank's files.
    let listed = env.json_async(&["exceptions", "list"], 0).await.to_string();
    assert!(found_in(listed.as_bytes(), &numbers).is_empty(), "exceptions list shows a number in full");
    let approvals = env.act("clerk", &["approvals", "list"], 0).await.to_string();
    assert!(!approvals.contains(NEW_CARD) && approvals.contains("4569"), "{approvals}");
    let mut in_files = Vec::new();
    for e in std::fs::read_dir(env.path("var/outbox")).unwrap() {
        in_files.extend(std::fs::read(e.unwrap().path()).unwrap());
    }
    assert!(!found_in(&in_files, &numbers).is_empty(), "the bank files carry the full card numbers");
    let status = env.json_async(&["status"], 0).await;
    assert_eq!(status["data_at_rest"]["clear_values"], 0, "{status}");
    assert_eq!(status["data_at_rest"]["key_versions"], serde_json::json!([1]), "{status}");
    assert_eq!(env.json_async(&["verify"], 0).await["ok"], true);
    // The key file made beside the fresh store is the service user's alone.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(env.key_file()).unwrap().permissions().mode() & 0o777, 0o600);
}

/// The batch copies a grant's sealed card and holder into its payment row, and the import its
/// sealed card into the cards row, instead of encrypting them once more (two encryptions and a
/// hash per payment): the same stored text, still opening to the same numbers in the bank file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_and_cards_carry_their_grants_sealed_card_as_it_is() {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    let batch = env.json_async(&["batch"], 0).await;
    assert!(batch["payments_created"].as_i64().unwrap_or(0) > 5, "{batch}");
    let store = env.store().await;
    let pairs = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n, \
         CAST(COALESCE(SUM(CASE WHEN p.card_number = g.card_number AND p.card_holder = g.card_holder AND p.card_hash = g.card_hash \
         THEN 1 ELSE 0 END), 0) AS BIGINT) AS same FROM payments p JOIN grants g ON g.account_no = p.account_no AND g.grant_id = p.grant_id",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    let (n, same): (i64, i64) = (pairs.get("n"), pairs.get("same"));
    assert!(n > 5 && same == n, "{same} of {n} payments carry their grant's sealed card");
    let cards = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM cards c WHERE NOT EXISTS \
         (SELECT 1 FROM grants g WHERE g.card_hash = c.card_hash AND g.card_number = c.card_number)",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(cards.get::<i64, _>("n"), 0, "every card row holds a grant's sealed card");
    store.close().await;
    // Copied, not re-made: the bank's files still carry the numbers in full.
    let numbers = numbers_in(&[fixture("grants/utf8.csv")]);
    let mut in_files = Vec::new();
    for e in std::fs::read_dir(env.path("var/outbox")).unwrap() {
        in_files.extend(std::fs::read(e.unwrap().path()).unwrap());
    }
    assert!(!found_in(&in_files, &numbers).is_empty(), "the bank files carry the full card numbers");
    assert_eq!(env.json_async(&["verify"], 0).await["ok"], true);
}

/// (values under version `v`, values not under any version) over every sealed column.
async fn versions(env: &TestEnv, v: u32) -> (i64, i64) {
    let store = env.store().await;
    let mut under = 0;
    let mut clear = 0;
    for (table, col) in [
        ("grants", "name"),
        ("grants", "id_number"),
        ("grants", "card_holder"),
        ("grants", "card_number"),
        ("payments", "card_number"),
        ("payments", "card_holder"),
        ("cards", "card_number"),
        ("cards", "holder_name"),
    ] {
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(CASE WHEN {col} LIKE 'v{v}:%' THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN {col} NOT LIKE 'v%:%' THEN 1 ELSE 0 END), 0) AS BIGINT) FROM {table}"
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(store.pool()).await.unwrap();
        under += r.get::<i64, _>(0);
        clear += r.get::<i64, _>(1);
    }
    store.close().await;
    (under, clear)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_killed_half_way_and_run_again_leaves_every_value_readable_and_none_clear() {
    let env = TestEnv::new().await;
    let files = [fixture("grants/utf8.csv"), fixture("grants/gbk.csv")];
    for f in &files {
        import_one(&env, f, &[], 0);
    }
    env.json_async(&["batch"], 0).await;
    let before = env.json_async(&["exceptions", "list"], 0).await;
    let grant_before = env.store().await.grant("2026Q-0001").await.unwrap().unwrap();
    let (v1, clear) = versions(&env, 1).await;
    assert!(v1 > 100 && clear == 0, "{v1} {clear}");

    // Killed after the first chunk of five rows.
    let out = env.run(&["keys", "rotate"], &[("AIDPAY_KEYS_CHUNK", "5"), ("AIDPAY_CRASH_AT", "keys_chunk")]).await;
    assert_eq!(out.status.signal(), Some(9), "killed: {}", String::from_utf8_lossy(&out.stderr));
    let (v2, clear) = versions(&env, 2).await;
    let (v1_left, _) = versions(&env, 1).await;
    assert_eq!(clear, 0);
    assert!(v2 > 0 && v1_left > 0, "half-way: {v2} under v2, {v1_left} under v1");
    // Half-way, everything reads (old and new versions side by side) and status says so.
    assert_eq!(env.json_async(&["exceptions", "list"], 0).await, before);
    assert_eq!(env.store().await.grant("2026Q-0001").await.unwrap().unwrap(), grant_before);
    let status = env.json_async(&["status"], 0).await;
    assert_eq!(status["data_at_rest"]["rotating_to"], 2, "{status}");
    assert_eq!(env.json_async(&["verify"], 0).await["ok"], true);

    // Run again: it finishes the same rotation (no third key), every value under v2.
    let r = env.json_async(&["keys", "rotate"], 0).await;
    assert_eq!((r["version"].as_u64(), r["resumed"].as_bool(), r["remaining"].as_u64()), (Some(2), Some(true), Some(0)), "{r}");
    let (v1_left, clear) = versions(&env, 1).await;
    let (v2, _) = versions(&env, 2).await;
    assert_eq!((v1_left, clear), (0, 0));
    assert_eq!(v2, v1, "every value re-encrypted once");
    assert_eq!(env.store().await.grant("2026Q-0001").await.unwrap().unwrap(), grant_before);
    assert_eq!(env.json_async(&["exceptions", "list"], 0).await, before);
    let status = env.json_async(&["status"], 0).await;
    assert_eq!(status["data_at_rest"]["rotating_to"], serde_json::Value::Null, "{status}");
    assert_eq!(status["data_at_rest"]["key_versions"], serde_json::json!([1, 2]), "{status}");
    let key_text = std::fs::read_to_string(env.key_file()).unwrap();
    assert!(key_text.contains("aidpay-data-key v1 ") && key_text.contains("aidpay-data-key v2 ") && !key_text.contains(" v3 "));

    // The look-ups by hash still work after the rotation: the same list again changes nothing,
    // and new grants are checked against the stored ones (duplicates found).
    let again = import_one(&env, &files[0], &[], 0);
    assert_eq!(again["unchanged"], again["rows"].as_u64().unwrap() - again["rejected"].as_u64().unwrap(), "{again}");
    assert!(found_in(&store_bytes(&env).await, &numbers_in(&files)).is_empty());
    // And a later rotation is a new one.
    let r = env.json_async(&["keys", "rotate"], 0).await;
    assert_eq!((r["version"].as_u64(), r["resumed"].as_bool()), (Some(3), Some(false)), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_key_is_refused_at_start_and_nothing_is_written() {
    let env = TestEnv::new().await;
    import_one(&env, &fixture("grants/utf8.csv"), &[], 0);
    let other = env.path("other.key");
    let init = env.json_async(&["keys", "init", other.to_str().unwrap()], 0).await;
    assert!(init["advice"].as_str().unwrap().contains("data_key"), "{init}");
    let wrong = std::fs::read_to_string(&other).unwrap();
    let counts = env.json_async(&["status"], 0).await["grants"].clone();
    let snapshot = |env: &TestEnv| {
        if backend() == "postgres" {
            return Vec::new();
        }
        let mut b = std::fs::read(env.path("var/aidpay.db")).unwrap();
        b.extend(std::fs::read(env.path("var/aidpay.db-wal")).unwrap_or_default());
        b
    };
    let bytes = snapshot(&env);

    // Another key, from the environment: refused, the import never ran.
    let out = env.run(&["import", fixture("grants/gbk.csv").to_str().unwrap()], &[("AIDPAY_DATA_KEY", wrong.as_str())]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is not this store's") && err.contains("Nothing was written") && err.contains("environment variable AIDPAY_DATA_KEY"), "{err}");
    // The same for a command that only reads.
    let out = env.run(&["status"], &[("AIDPAY_DATA_KEY", wrong.as_str())]).await;
    assert_eq!(out.status.code(), Some(1));
    // No key at all (the key file moved away): refused, naming where it looked.
    let key = env.key_file();
    std::fs::rename(&key, env.path("moved.key")).unwrap();
    let out = env.run(&["batch"], &[]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no data key was found") && err.contains("AIDPAY_DATA_KEY"), "{err}");
    assert!(!key.exists(), "no new key is made for a store that holds encrypted values");
    // A key file anyone may read is refused too.
    std::fs::rename(env.path("moved.key"), &key).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = env.run(&["batch"], &[]).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    assert_eq!(snapshot(&env), bytes, "the store's bytes are untouched");
    assert_eq!(env.json_async(&["status"], 0).await["grants"], counts);
    let v = env.json_async(&["batch"], 0).await;
    assert!(v["payments_created"].as_u64().unwrap() > 0, "{v}");
}

/// HMAC-SHA-256 of a look-up hash in full (64 hex digits), as stores before migration 0010 kept
/// it, computed here from the key file's hash key and the documented message.
fn full_lookup_hash(key_file: &std::path::Path, purpose: &str, value: &str) -> String {
    use hmac::{KeyInit, Mac};
    let text = std::fs::read_to_string(key_file).unwrap();
    let hex_key = text.lines().find_map(|l| l.trim().strip_prefix("aidpay-hash-key ")).expect("a hash key line").trim();
    let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&hex::decode(hex_key).unwrap()).unwrap();
    m.update(b"aidpay-lookup\0");
    m.update(&(purpose.len() as u32).to_be_bytes());
    m.update(purpose.as_bytes());
    m.update(value.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// Issue 18's benchmark: look-up hashes are 128 bits (32 hex digits, the HMAC's first half), and a
/// store that holds the full 64-digit hashes of before migration 0010 keeps matching after it —
/// the same card for another holder is still `card_shared`, the same student and program still
/// `duplicate_grant`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_hashes_are_128_bits_and_older_full_hashes_still_match_after_migration_0010() {
    const ID: &str = crate::util::STUDENT_ID;
    const CARD: &str = crate::util::STUDENT_CARD;
    let env = TestEnv::new().await;
    crate::util::import_one_student(&env, "H");

    let key = env.key_file();
    let card_full = full_lookup_hash(&key, "card_number", CARD);
    let id_full = full_lookup_hash(&key, "id_number", ID);
    let store = env.store().await;
    let hashes = |sql: &'static str| {
        let pool = store.pool().clone();
        async move { sqlx::query(sql).fetch_all(&pool).await.unwrap().iter().map(|r| r.get::<String, _>(0)).collect::<Vec<_>>() }
    };
    assert_eq!(hashes("SELECT card_hash FROM grants").await, vec![card_full[..32].to_string()]);
    assert_eq!(hashes("SELECT id_hash FROM grants").await, vec![id_full[..32].to_string()]);
    assert_eq!(hashes("SELECT card_hash FROM cards").await, vec![card_full[..32].to_string()]);

    // Back to what an earlier release wrote, and migration 0010 not yet run.
    for sql in [
        format!("UPDATE grants SET card_hash = '{card_full}', id_hash = '{id_full}'"),
        format!("UPDATE cards SET card_hash = '{card_full}'"),
        "DELETE FROM _sqlx_migrations WHERE version = 10".to_string(),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(store.pool()).await.unwrap();
    }
    store.close().await;

    // Another student on the same card (another holder), and the same student again.
    crate::util::import_a_shared_card_and_the_student_again(&env, "H").await;

    let store = env.store().await;
    let lengths = sqlx::query(
        "SELECT CAST(MAX(length(card_hash)) AS BIGINT), CAST(MAX(length(id_hash)) AS BIGINT), CAST(MIN(length(card_hash)) AS BIGINT) FROM grants",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!((lengths.get::<i64, _>(0), lengths.get::<i64, _>(1), lengths.get::<i64, _>(2)), (32, 32, 32));
    assert_eq!(hashes_len(&store).await, 32);
    store.close().await;
}

async fn hashes_len(store: &aidpay::store::Store) -> i64 {
    sqlx::query("SELECT CAST(MAX(length(card_hash)) AS BIGINT) FROM cards").fetch_one(store.pool()).await.unwrap().get::<i64, _>(0)
}
