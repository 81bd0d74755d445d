//! The command line contract of INTERFACES.md: exit codes, configuration errors, --json.

use crate::util::TestEnv;

#[tokio::test]
async fn usage_errors_exit_2() {
    let env = TestEnv::new().await;
    let out = env.cmd().arg("no-such-command").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = env.cmd().arg("import").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "import needs a file");
}

#[tokio::test]
async fn a_bad_configuration_names_its_key_and_exits_1() {
    let env = TestEnv::new().await;
    let out = env.cmd().env("AIDPAY_DATABASE__MAX_CONNECTIONS", "abc").args(["status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("database.max_connections"), "{err}");

    let text = std::fs::read_to_string(&env.config).unwrap().replacen("stage = \"高中\"", "stage = \"大学\"", 1);
    std::fs::write(&env.config, text).unwrap();
    let out = env.cmd().args(["status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("standards[0].stage") && err.contains("大学"), "{err}");
}

#[tokio::test]
async fn status_and_lists_print_one_json_document() {
    let env = TestEnv::new().await;
    // `status` only reads: the store is made by a command that writes (here an empty ingest).
    env.json(&["ingest"], 0);
    let v = env.json(&["status"], 0);
    assert_eq!(v["open_exceptions"], 0);
    let v = env.json(&["exceptions", "list", "--status", "all"], 0);
    assert!(v.as_array().unwrap().is_empty());
    let out = env.cmd().args(["exceptions", "list", "--kind", "nonsense"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test]
async fn the_benchmark_measures_every_stage_and_prints_json() {
    let env = TestEnv::new().await;
    let dir = env.path("bench");
    let mut args = vec!["bench", "--grants", "3000", "--dir", dir.to_str().unwrap()];
    // On PostgreSQL the bench gets this test's own fresh database.
    if crate::util::backend() == "postgres" {
        args.extend(["--database-url", env.db_url.as_str()]);
    }
    let v = env.json_async(&args, 0).await;
    let stages: Vec<&str> = v["stages"].as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["import", "validation", "batch", "answers", "reconcile"], "{v}");
    for s in v["stages"].as_array().unwrap() {
        assert_eq!(s["rows"], 3000, "{s}");
        assert!(s["rows_per_second"].as_f64().unwrap() > 0.0 && s["peak_mb"].as_f64().unwrap() > 0.0, "{s}");
    }
    assert_eq!(v["backend"], crate::util::backend(), "{v}");
    assert!(v["total_seconds"].as_f64().unwrap() > 0.0 && v["peak_mb"].as_f64().unwrap() > 0.0, "{v}");
    // The XML alone, and the console's work list over the bench's exceptions.
    assert_eq!(v["pain001_writer"]["rows"], 3000, "{v}");
    assert_eq!(v["console"]["exceptions"], 3000, "{v}");
    assert!(v["console"]["first_page_ms"].as_f64().unwrap() > 0.0, "{v}");
    // Its store and files are gone unless --keep.
    assert_eq!(v["kept"], false);
    assert!(!dir.exists(), "the bench removes its folder");
}
