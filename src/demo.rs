//! `aidpay demo`: the README's first command. A throw-away SQLite store in a new folder, the
//! fixture grant lists (built into the binary, so the demo runs anywhere) imported, and the
//! batch cycle run into the banks' drop folders, the bank simulator's answers ingested, and the
//! exception list and report written. Reconciliation joins here as it is built.

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
        println!("\n-- 3. 银行处理并回执 (the bank simulator picks the files up and answers) --");
    }
    let answered = bank_answers(&cfg)?;
    if !json {
        for name in &answered {
            println!("银行回执: {name}");
        }
        println!("\n-- 4. 导入银行回执 (ingest the answers) --");
    }
    let mut ingested = Vec::new();
    for path in crate::returns::inbox_files(&cfg)? {
        ingested.push(crate::returns::ingest_file(&store, &cfg, &path, crate::returns::Origin::Inbox, &crate::actor()).await?);
    }
    if !json {
        crate::output::ingest(&ingested, 0, false)?;
        println!("\n-- 5. 异常清单 (exceptions for finance staff) --");
    }
    let report = crate::reports::exception_report(&store, &cfg, crate::reports::ReportFormat::Xlsx, &cfg.paths.reports).await?;
    let exceptions = store.list_exceptions(&ExceptionFilter { status: Some("open".into()), ..Default::default() }).await?;
    let grants = store.count_grants_by_status().await?;
    if json {
        let grants: serde_json::Map<String, serde_json::Value> = grants.iter().map(|(s, n)| (s.clone(), (*n).into())).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "dir": dir, "imports": summaries, "batch": cycle, "answers": ingested, "grants": grants,
                "exceptions": exceptions, "report": report,
            }))?
        );
    } else {
        crate::output::exceptions(&exceptions, false)?;
        println!("\n异常报表 (exception report for finance staff): {}", report.display());
        println!("store: {}", var.join("aidpay.db").display());
        println!("bank files: {} (copies handed to {})", cfg.paths.outbox.display(), var.join("bank").display());
        println!("again with: aidpay --config {} exceptions list", config_path.display());
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// The bank's side of the demo: every file in the banks' drop folders is picked up and answered
/// (about one payment in six refused, as real banks do: closed, frozen, wrong name…) into
/// aidpay's inbox. Returns the answer files' names.
fn bank_answers(cfg: &Config) -> anyhow::Result<Vec<String>> {
    use crate::banksim::{AnswerMix, AnswerOptions, RandomMix, answer_dropped, pick_up};
    use crate::config::{BankFormat, Transport};
    let mix = AnswerMix::settle_all().with_random(RandomMix::rejections(2026, 0.18));
    let mut names = Vec::new();
    for bank in &cfg.banks {
        let Transport::DropFolder(dir) = &bank.transport else { continue };
        let mut opts = AnswerOptions::new(crate::clock::now());
        if let BankFormat::Domestic(d) = &bank.format {
            opts.domestic = Some((**d).clone());
        }
        let picked = pick_up(dir)?;
        for (name, bytes) in answer_dropped(&picked, &mix, &opts)? {
            crate::transport::deliver(&cfg.paths.inbox, &name, &bytes)?;
            names.push(name);
        }
    }
    Ok(names)
}
