//! Issue 7: several processes on one store. Four `aidpay batch` race over the same grants (one
//! killed mid-cycle), then four `aidpay ingest` race over the same answer files: every grant in
//! exactly one live payment, every file applied once, sums exact. 100,000 grants on PostgreSQL
//! (`AIDPAY_TEST_DB=postgres`); 3,000 on SQLite, whose writers queue on the database lock.

use crate::util::{TestEnv, backend, import_one};
use aidpay::banksim::{AnswerMix, AnswerOptions, answer_dropped, pick_up};
use aidpay::config::{BankFormat, Config};
use sqlx::Row;
use std::process::{Child, Command, Stdio};

fn card(i: usize) -> String {
    let body = format!("622202{i:012}");
    (0..10)
        .map(|d| format!("{body}{d}"))
        .find(|c| {
            let sum: u32 = c
                .chars()
                .rev()
                .enumerate()
                .map(|(k, ch)| {
                    let mut v = ch.to_digit(10).unwrap();
                    if k % 2 == 1 {
                        v *= 2;
                        if v > 9 {
                            v -= 9;
                        }
                    }
                    v
                })
                .sum();
            sum % 10 == 0
        })
        .unwrap()
}

fn id_number(i: usize) -> String {
    let body = format!("1301{:02}2009{:02}{:02}{:03}", i % 99, 1 + i % 12, 1 + i % 28, i % 1000);
    let body = &body[..17];
    format!("{body}{}", aidpay::domain::id_number::check_char(body).unwrap())
}

fn spawn(env: &TestEnv, args: &[&str]) -> Child {
    let cmd = env.cmd();
    let mut c = Command::new(cmd.get_program());
    c.args(cmd.get_args()).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.spawn().expect("spawn aidpay")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_race_batch_and_ingest_and_nothing_is_paid_twice_or_lost() {
    let n = if backend() == "postgres" { 100_000 } else { 3_000 };
    let mut env = TestEnv::new().await;
    env.set_env("AIDPAY_LOG", "error");
    let list = env.path("province.csv");
    let mut text = String::from("资助编号,姓名,身份证号,学校代码,学校名称,学段,年级,资助项目,资助档次,重点保障类别,学期,金额,持卡人,卡号,开户银行,公示截止日期\n");
    for i in 0..n {
        text.push_str(&format!(
            "R-{i:07},学生{i},{},1103001,区第一高级中学,高中,高一,国家助学金,一般困难,,2026秋,750,学生{i},{},中国工商银行,2026-10-20\n",
            id_number(i),
            card(i)
        ));
    }
    std::fs::write(&list, text).unwrap();
    let s = import_one(&env, &list, &[], 0);
    assert_eq!(s["imported"].as_u64(), Some(n as u64));

    // Four batch cycles at once; one is killed mid-cycle.
    let mut children: Vec<Child> = (0..4).map(|_| spawn(&env, &["batch"])).collect();
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    children[1].kill().unwrap();
    for (i, c) in children.into_iter().enumerate() {
        let out = tokio::task::spawn_blocking(move || c.wait_with_output().unwrap()).await.unwrap();
        if i != 1 {
            assert!(out.status.success(), "batch process {i}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    // The next cycle (the daemon's next tick) finishes whatever the killed one left.
    env.json_async(&["batch"], 0).await;

    let store = env.store().await;
    let one = |sql: &'static str| {
        let pool = store.pool().clone();
        async move { sqlx::query(sql).fetch_one(&pool).await.unwrap().get::<i64, _>(0) }
    };
    assert_eq!(one("SELECT CAST(COUNT(*) AS BIGINT) FROM payments WHERE status IN ('created','sent','accepted','settled')").await, n as i64);
    assert_eq!(one("SELECT CAST(COUNT(DISTINCT grant_id) AS BIGINT) FROM payments").await, n as i64, "every grant, once");
    assert_eq!(one("SELECT CAST(COUNT(*) AS BIGINT) FROM payments WHERE batch_id IS NULL").await, 0);
    assert_eq!(one("SELECT CAST(COUNT(*) AS BIGINT) FROM batches WHERE status <> 'delivered'").await, 0);
    assert_eq!(
        one("SELECT CAST(SUM(ctrl_sum_fen) AS BIGINT) FROM batches").await,
        75_000 * n as i64,
        "the batches' control sums are every grant's amount, exactly"
    );
    let batches = one("SELECT CAST(COUNT(*) AS BIGINT) FROM batches").await;
    let dropped = std::fs::read_dir(env.path("var/bank/icbc")).unwrap().filter(|e| !e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.')).count();
    assert_eq!(dropped as i64, batches, "each batch handed to the bank once");

    // The bank answers every file; four ingest processes get all the answers at once.
    let vars: std::collections::HashMap<String, String> = env.env.iter().cloned().collect();
    let cfg = Config::load_with_env(Some(&env.config), Some(vars)).unwrap();
    let mut opts = AnswerOptions::new(chrono::DateTime::parse_from_rfc3339("2026-11-26T09:00:00+08:00").unwrap());
    if let BankFormat::Domestic(d) = &cfg.bank("icbc").unwrap().format {
        opts.domestic = Some((**d).clone());
    }
    let answers = answer_dropped(&pick_up(&env.path("var/bank/icbc")).unwrap(), &AnswerMix::settle_all(), &opts).unwrap();
    let dir = env.path("answers");
    std::fs::create_dir_all(&dir).unwrap();
    let mut paths = Vec::new();
    for (name, bytes) in &answers {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        paths.push(p.to_str().unwrap().to_string());
    }
    let mut children = Vec::new();
    for k in 0..4 {
        let mut order = paths.clone();
        order.rotate_left(k * paths.len() / 4);
        let args: Vec<&str> = std::iter::once("ingest").chain(order.iter().map(|s| s.as_str())).collect();
        children.push(spawn(&env, &args));
    }
    for c in children {
        let out = tokio::task::spawn_blocking(move || c.wait_with_output().unwrap()).await.unwrap();
        assert!(out.status.success(), "ingest: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(one("SELECT CAST(COUNT(*) AS BIGINT) FROM files WHERE direction = 'in' AND kind LIKE 'domestic_result%'").await, answers.len() as i64, "every file applied once");
    assert_eq!(one("SELECT CAST(COUNT(*) AS BIGINT) FROM payment_events").await, n as i64, "one status per payment");
    assert_eq!(one("SELECT CAST(COUNT(*) AS BIGINT) FROM payments WHERE status = 'settled'").await, n as i64);
    assert_eq!(one("SELECT CAST(COUNT(*) AS BIGINT) FROM exceptions WHERE kind = 'duplicate_status'").await, 0);
    assert_eq!(one("SELECT CAST(SUM(amount_fen) AS BIGINT) FROM payments WHERE status = 'settled'").await, 75_000 * n as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn districts_sharing_one_database_stay_apart() {
    let a = TestEnv::new().await;
    let b = district_b(&a).await;

    import_one(&a, &crate::util::fixture("grants/utf8.csv"), &[], 0);
    import_one(&b, &crate::util::fixture("grants/bom.csv"), &[], 0);
    let ea = a.json_async(&["exceptions", "list"], 0).await;
    let eb = b.json_async(&["exceptions", "list"], 0).await;
    assert_eq!(ea.as_array().unwrap().len(), 6);
    assert!(eb.as_array().unwrap().is_empty(), "district B sees none of A's exceptions: {eb}");

    let vb = b.json_async(&["batch"], 0).await;
    assert_eq!(vb["payments_created"], 3, "B pays only its own grants: {vb}");
    let va = a.json_async(&["batch"], 0).await;
    assert_eq!(va["payments_created"], 16);
    let sb = b.json_async(&["status"], 0).await;
    assert_eq!(sb["payments"]["sent"], 3, "{sb}");
}

/// Issue 12: two districts whose upstream systems hand out the same 资助编号 (here: the very same
/// list) each have their own grants; neither sees, pays or conflicts with the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn districts_reusing_a_grant_id_keep_their_own_grants() {
    let a = TestEnv::new().await;
    let mut b = district_b(&a).await;
    b.set_env("AIDPAY_DATABASE__URL", &a.db_url);

    let sa = import_one(&a, &crate::util::fixture("grants/utf8.csv"), &[], 0);
    let sb = import_one(&b, &crate::util::fixture("grants/utf8.csv"), &[], 0);
    assert_eq!((sb["imported"].clone(), sb["unchanged"].clone(), sb["conflicts"].clone()), (sa["imported"].clone(), 0.into(), 0.into()), "{sb}");
    // A's school re-sends a changed list: a matter of A's grants only.
    import_one(&a, &crate::util::fixture("grants/conflict.csv"), &[], 0);
    let eb = b.json_async(&["exceptions", "list"], 0).await;
    assert_eq!(eb.as_array().unwrap().len(), 6, "B sees its own six findings and nothing of A's: {eb}");
    assert!(eb.as_array().unwrap().iter().all(|e| e["kind"] != "import_conflict"), "{eb}");
    let va = a.json_async(&["batch"], 0).await;
    let vb = b.json_async(&["batch"], 0).await;
    // utf8.csv pays 16 grants; A's re-send changed two of them before they went out.
    assert_eq!(vb["payments_created"], 16, "B pays all of its own grants: {vb}");
    assert!(va["payments_created"].as_u64().unwrap() < 16, "A's corrected grants are A's: {va}");
    assert_eq!(a.json_async(&["verify"], 0).await["ok"], true);
    assert_eq!(b.json_async(&["verify"], 0).await["ok"], true);
}

/// District B beside `a`: another special account, its own folders, the same database and key.
async fn district_b(a: &TestEnv) -> TestEnv {
    let mut b = TestEnv::new().await;
    let text = std::fs::read_to_string(&a.config).unwrap().replace("130100000012345678", "130200000087654321").replace(
        &format!("{}/var/", a.dir.path().display()),
        &format!("{}/var/", b.dir.path().display()),
    );
    std::fs::write(&b.config, text).unwrap();
    b.db_url = a.db_url.clone();
    share_data_key(a, &mut b);
    b
}

/// Districts on one database share its data key (one store, one key): B is given the key file A's
/// first start made (beside the SQLite file; on PostgreSQL in the folder above A's outbox), as an
/// administrator gives every daemon of the database the same credential.
fn share_data_key(a: &crate::util::TestEnv, b: &mut crate::util::TestEnv) {
    let key = if crate::util::backend() == "postgres" { a.path("var/data_key") } else { a.path("var/aidpay.db.data_key") };
    b.set_env("AIDPAY_SECURITY__DATA_KEY_FILE", key.to_str().unwrap());
}

/// Issue 20: two districts' writers on one PostgreSQL database never wait for each other's ids.
/// A transaction that has taken ids and is still open (an import of 500,000 grants, say) must not
/// hold the next district's transaction up; the ids of both stay distinct. On SQLite a writer
/// holds the database's one write lock anyway, so there the ids are only checked to be distinct.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn districts_take_ids_without_waiting_for_each_other() {
    let env = TestEnv::new().await;
    let a = env.store().await.scoped("130100000012345678");
    let b = env.store().await.scoped("130200000087654321");
    let mut ta = a.begin().await.unwrap();
    let ids_a = ta.alloc_ids("exceptions", 3).await.unwrap();
    let file_a = ta.alloc_id("files").await.unwrap();
    let (ids_b, file_b) = if backend() == "postgres" {
        let mut tb = b.begin().await.unwrap();
        let taken = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            let ids = tb.alloc_ids("exceptions", 3).await.unwrap();
            (ids, tb.alloc_id("files").await.unwrap())
        })
        .await
        .expect("district B took its ids while district A's transaction was still open");
        tb.commit().await.unwrap();
        ta.commit().await.unwrap();
        taken
    } else {
        ta.commit().await.unwrap();
        let mut tb = b.begin().await.unwrap();
        let ids = tb.alloc_ids("exceptions", 3).await.unwrap();
        let file = tb.alloc_id("files").await.unwrap();
        tb.commit().await.unwrap();
        (ids, file)
    };
    let mut all: Vec<i64> = ids_a.iter().chain(ids_b.iter()).collect();
    assert_eq!(all.len(), 6);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 6, "exception ids are unique across districts: {ids_a:?} {ids_b:?}");
    assert_ne!(file_a, file_b);
}

/// Issue 20: a district's first import and batch look each grant, student, card and earlier
/// payment up by its key, one index probe each, never by walking the district's rows for every
/// chunk of a thousand — also for a second district on a table whose statistics know only the
/// first one's rows. Counted in index entries read (PostgreSQL's `pg_stat_user_indexes`), not
/// in seconds: walking, 10,000 grants read ~150,000 entries in the import alone (quadratic in
/// the rows); probing, about one per row. SQLite plans these without statistics (its plans:
/// `store::tests::look_ups_by_key_take_the_keys_index_on_sqlite`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_districts_first_import_and_batch_probe_each_key_instead_of_walking_the_district() {
    if backend() != "postgres" {
        return;
    }
    use sqlx::Connection;
    let n: i64 = 10_000;
    let a = TestEnv::new().await;
    let b = district_b(&a).await;
    let mut pg = sqlx::PgConnection::connect(&a.db_url).await.unwrap();
    // Index entries read on grants and payments so far, once the statistics of `inserted` rows
    // into grants have arrived (a process's counts reach the view when it ends).
    async fn entries_read(pg: &mut sqlx::PgConnection, inserted: i64) -> i64 {
        for _ in 0..100 {
            let ins: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(n_tup_ins), 0)::bigint FROM pg_stat_user_tables WHERE relname = 'grants'")
                .fetch_one(&mut *pg)
                .await
                .unwrap();
            if ins >= inserted {
                return sqlx::query_scalar("SELECT COALESCE(SUM(idx_tup_read), 0)::bigint FROM pg_stat_user_indexes WHERE relname IN ('grants', 'payments')")
                    .fetch_one(&mut *pg)
                    .await
                    .unwrap();
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the statistics of {inserted} grant rows did not arrive");
    }
    let mut before = entries_read(&mut pg, 0).await;
    for (k, env) in [&a, &b].into_iter().enumerate() {
        let file = env.path(&format!("district{k}.csv"));
        aidpay::bench::write_grants_from(&file, k as u64 * n as u64, n as u64).unwrap();
        let v = import_one(env, &file, &[], 0);
        assert_eq!(v["imported"], n, "{v}");
        let v = env.json_async(&["batch"], 0).await;
        assert_eq!(v["payments_created"], n, "{v}");
        let read = entries_read(&mut pg, (k as i64 + 1) * n).await;
        // The walks this replaced read 150,000 and more for 10,000 grants.
        assert!(read - before < 8 * n, "district {k}: {} index entries read for {n} grants", read - before);
        before = read;
        // The second district meets a table analysed with the first one's rows.
        sqlx::query("ANALYZE").execute(&mut pg).await.unwrap();
    }
}

/// Issue 20: on PostgreSQL a payment's status moves — sent when its file is handed over, then
/// what the bank answered — rewrite the row in place (a heap-only update), leaving its six
/// indexes alone. Each payment is written with room beside it on its page (migration 0013,
/// `fillfactor`); on full pages every move wrote a new entry into every index, which was most
/// of the delivery's and the answers' time at a million payments. The first move always finds
/// that room; a later one finds it once the page's old versions are pruned, which waits while
/// an older transaction is open (under the parallel test suite about half of them did). So at
/// least one move per payment, counted in PostgreSQL's own statistics (`n_tup_hot_upd`); before
/// migration 0013, 6 of 6,000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payments_status_moves_leave_its_indexes_alone_on_postgres() {
    if backend() != "postgres" {
        return;
    }
    use sqlx::Connection;
    let n: i64 = 3_000;
    let env = TestEnv::new().await;
    let file = env.path("grants.csv");
    aidpay::bench::write_grants_from(&file, 0, n as u64).unwrap();
    assert_eq!(import_one(&env, &file, &[], 0)["imported"], n);
    assert_eq!(env.json_async(&["batch"], 0).await["payments_created"], n);
    let vars: std::collections::HashMap<String, String> = env.env.iter().cloned().collect();
    let cfg = Config::load_with_env(Some(&env.config), Some(vars)).unwrap();
    let mut opts = AnswerOptions::new(chrono::DateTime::parse_from_rfc3339("2026-11-26T09:00:00+08:00").unwrap());
    if let BankFormat::Domestic(d) = &cfg.bank("icbc").unwrap().format {
        opts.domestic = Some((**d).clone());
    }
    for (name, bytes) in answer_dropped(&pick_up(&env.path("var/bank/icbc")).unwrap(), &AnswerMix::settle_all(), &opts).unwrap() {
        std::fs::write(env.path("var/inbox").join(name), bytes).unwrap();
    }
    env.json_async(&["ingest"], 0).await;

    // A process's counts reach the view when it ends: wait for both moves of every payment.
    let mut pg = sqlx::PgConnection::connect(&env.db_url).await.unwrap();
    let (mut updated, mut in_place) = (0i64, 0i64);
    for _ in 0..100 {
        let row = sqlx::query("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'payments'")
            .fetch_one(&mut pg)
            .await
            .unwrap();
        (updated, in_place) = (row.get(0), row.get(1));
        if updated >= 2 * n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(updated >= 2 * n, "{updated} payment updates for {n} payments sent and answered");
    assert!(in_place >= n, "{in_place} of {updated} payment updates in place for {n} payments");
}
