//! `aidpay demo`: the README's first command. A throw-away SQLite store in a new folder, the
//! fixture grant lists (built into the binary, so the demo runs anywhere) imported, and the
//! batch cycle run into the banks' drop folders, and the exception list printed. Later stages of
//! the cycle (bank answers, reconciliation) join here as they are built.

use crate::config::Config;
use crate::intake::ImportOptions;
use crate::store::{ExceptionFilter, Store};
use anyhow::Context;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

const CONFIG: &str = include_str!("../config/aidpay.toml");
const GRANT_LISTS: [(&str, &[u8]); 4] = [
    ("utf8.csv", include_bytes!("../fixtures/grants/utf8.csv")),
    ("gbk.csv", include_bytes!("../fixtures/grants/gbk.csv")),
    ("bom.csv", include_bytes!("../fixtures/grants/bom.csv")),
    ("sample.xlsx", include_bytes!("../fixtures/grants/sample.xlsx")),
];

/// Runs the demo in `dir` (a new folder under the temp dir when not given).
pub async fn run(dir: Option<PathBuf>, json: bool) -> anyhow::Result<ExitCode> {
    let dir = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("aidpay-demo-{}", crate::clock::now().format("%Y%m%d-%H%M%S-%3f"))),
    };
    std::fs::create_dir_all(dir.join("grants")).with_context(|| format!("creating {}", dir.display()))?;
    let config_path = dir.join("aidpay.toml");
    let mut files = Vec::new();
    for (name, bytes) in GRANT_LISTS {
        let p = dir.join("grants").join(name);
        std::fs::write(&p, bytes)?;
        files.push(p);
    }
    // The demo's own store and folders. The process environment is ignored on purpose, so an
    // AIDPAY_DATABASE__URL set for production can never point the demo at the real store.
    let var = dir.join("var");
    let config_text = CONFIG
        .replace("sqlite://var/aidpay.db?mode=rwc", &format!("sqlite://{}?mode=rwc", var.join("aidpay.db").display()))
        .replace("= \"var/", &format!("= \"{}/", var.display()));
    std::fs::write(&config_path, config_text)?;
    let cfg = Config::load_with_env(Some(&config_path), Some(HashMap::new()))?;
    cfg.ensure_paths()?;
    let store = Store::connect(&cfg.database_url(), 2).await?;

    if !json {
        println!("== aidpay demo in {} ==", dir.display());
        println!("\n-- 1. 导入资助名单 (import grant lists) --");
    }
    // In --json mode the demo prints one summary object at the end instead.
    let mut summaries = Vec::new();
    for f in &files {
        let s = crate::intake::import_file(&store, &cfg, f, ImportOptions::default(), &crate::actor()).await?;
        summaries.push(s);
    }
    if !json {
        crate::output::import(&summaries, false)?;
        println!("\n-- 2. 生成代发批次并交给银行 (batch files handed to the bank's drop folders) --");
    }
    let cycle = crate::batch::run_cycle(&store, &cfg, &crate::actor()).await?;
    if !json {
        crate::output::batch(&cycle, false)?;
        println!("\n-- 3. 异常清单 (exceptions for finance staff) --");
    }
    let exceptions = store.list_exceptions(&ExceptionFilter { status: Some("open".into()), ..Default::default() }).await?;
    let grants = store.count_grants_by_status().await?;
    if json {
        let grants: serde_json::Map<String, serde_json::Value> = grants.iter().map(|(s, n)| (s.clone(), (*n).into())).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "dir": dir, "imports": summaries, "batch": cycle, "grants": grants, "exceptions": exceptions,
            }))?
        );
    } else {
        crate::output::exceptions(&exceptions, false)?;
        println!("\nstore: {}", var.join("aidpay.db").display());
        println!("bank files: {} (copies handed to {})", cfg.paths.outbox.display(), var.join("bank").display());
        println!("again with: aidpay --config {} exceptions list", config_path.display());
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
