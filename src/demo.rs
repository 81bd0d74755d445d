//! `aidpay demo`: the README's first command. A throw-away SQLite store in a new folder, the
//! fixture grant lists (built into the binary, so the demo runs anywhere) imported, and the
//! batch cycle run into the banks' drop folders, the bank simulator's answers and the special
//! account's statement ingested, the account reconciled, and the exception list and reports written;
//! then this month's report (月调度) and `audit verify` over the whole trail.

use crate::config::Config;
use crate::intake::ImportOptions;
use crate::store::{ExceptionFilter, Store};
use anyhow::Context;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

const CONFIG: &str = include_str!("../config/aidpay.toml");
/// The demo office's clerk and reviewer: user name, display name, password (a throw-away store).
const DEMO_CLERK: (&str, &str, &str) = ("clerk", "张经办", "demo-clerk-2026");
const DEMO_REVIEWER: (&str, &str, &str) = ("reviewer", "李复核", "demo-reviewer-2026");
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
    let mut cfg = Config::load_with_env(Some(&config_path), Some(HashMap::new()))?;
    // A throw-away store for one process: two connections are plenty.
    cfg.database.max_connections = 2;
    cfg.ensure_paths()?;
    let store = Store::open_with(&cfg, &crate::store::KeyOptions { isolated: true, ..cfg.key_options() }).await?;

    if !json {
        println!("== aidpay 演示，目录 {} ==", dir.display());
        println!("\n-- 1. 导入资助名单 --");
    }
    // In --json mode the demo prints one summary object at the end instead.
    let mut summaries = Vec::new();
    for f in &files {
        let s = crate::intake::import_file(&store, &cfg, f, ImportOptions::default(), &crate::actor()).await?;
        summaries.push(s);
    }
    if !json {
        crate::output::import(&summaries, false)?;
        println!("\n-- 2. 生成代发批次并交给银行（放入银行投递目录） --");
    }
    // The people of the demo office: a clerk (经办) and a reviewer (复核). With four eyes on (the
    // shipped configuration), the cycle leaves its batches awaiting the reviewer's approval, and
    // the next cycle hands the approved ones to the bank.
    let admin = format!("server-admin:{}", crate::actor());
    crate::people::add_user(&store, DEMO_CLERK.0, DEMO_CLERK.1, crate::domain::Role::Clerk, DEMO_CLERK.2, &admin).await?;
    crate::people::add_user(&store, DEMO_REVIEWER.0, DEMO_REVIEWER.1, crate::domain::Role::Reviewer, DEMO_REVIEWER.2, &admin).await?;
    let first = crate::batch::run_cycle(&store, &cfg, &crate::actor()).await?;
    let mut approved = Vec::new();
    if first.awaiting_approval > 0 {
        let reviewer = crate::people::authenticate(&store, DEMO_REVIEWER.0, DEMO_REVIEWER.2, "demo").await?;
        if !json {
            crate::output::batch(&first, false)?;
            println!("复核人 {} 复核待发批次（每个批次须经复核后才交银行）:", reviewer.label());
        }
        for a in crate::approvals::list(&store, false).await? {
            let d = crate::approvals::decide(&store, &cfg, a.id, crate::approvals::Decision::Approve, "已核对批次明细", &reviewer).await?;
            if !json {
                println!("  {}", d.message);
            }
            approved.push(d);
        }
    }
    let cycle = crate::batch::run_cycle(&store, &cfg, &crate::actor()).await?;
    if !json {
        crate::output::batch(&cycle, false)?;
        println!("\n-- 3. 银行处理并回执（模拟银行取走文件并回执） --");
    }
    let (answered, executed) = bank_answers(&cfg)?;
    if !json {
        for name in &answered {
            println!("银行回执: {name}");
        }
        println!("\n-- 4. 导入银行回执 --");
    }
    let ingested = crate::jobs::ingest(&store, &cfg, crate::jobs::BankFiles::Inbox, &crate::actor()).await?;
    if !json {
        crate::output::ingest(&ingested.files, ingested.no_answer, false)?;
        println!("\n-- 5. 专户对账单与对账 --");
    }
    let statement = bank_statement(&cfg, &executed)?;
    let ingested_statement = crate::returns::ingest_file(&store, &cfg, &statement, crate::returns::Origin::Inbox, &crate::actor()).await?;
    let reconciled = crate::reconcile::run(&store, &cfg, &crate::actor()).await?;
    let reconciliation = crate::reports::reconciliation_report(&store, &cfg, crate::reports::ReportFormat::Xlsx, &cfg.paths.reports).await?;
    if !json {
        crate::output::ingest(std::slice::from_ref(&ingested_statement), 0, false)?;
        crate::output::reconcile(&reconciled, false)?;
        println!("\n-- 6. 异常清单 --");
    }
    let report = crate::reports::exception_report(&store, &cfg, crate::reports::ReportFormat::Xlsx, &cfg.paths.reports).await?;
    let exceptions = store.list_exceptions(&ExceptionFilter { status: Some(crate::domain::ExceptionStatus::Open), ..Default::default() }).await?;
    let grants = store.count_grants_by_status().await?;
    let verified = crate::verify::run(&store, &cfg.account.number, &cfg.paths.outbox).await?;
    // This month's 月调度, and the audit trail checked (after the report: its file is on it too).
    let today = crate::clock::today();
    let month = crate::reports::period::PeriodSpec::Month { year: chrono::Datelike::year(&today), month: chrono::Datelike::month(&today) };
    let period = crate::reports::period::build(&store, &cfg, month, crate::reports::ReportFormat::Xlsx, &cfg.paths.reports, "演示程序").await?;
    let audit = crate::audit::verify(&store, &cfg).await?;
    if json {
        let grants: serde_json::Map<String, serde_json::Value> = grants.iter().map(|(s, n)| (s.clone(), (*n).into())).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "dir": dir, "imports": summaries, "batch": cycle, "answers": ingested.files, "grants": grants,
                "statement": ingested_statement, "reconcile": reconciled,
                "exceptions": exceptions, "report": report, "reconciliation_report": reconciliation, "verify": verified,
                "period_report": period.report, "chain_head": period.chain_head, "audit_verify": audit,
                "approved": approved, "users": [DEMO_CLERK.0, DEMO_REVIEWER.0],
                "console": format!("http://{}/", crate::console::listen_address(&cfg)),
            }))?
        );
    } else {
        crate::output::exceptions(&exceptions, false)?;
        println!("\n-- 7. 校验（每笔资助只有一个归属状态，批次合计与文件哈希一致） --");
        crate::output::verify(&verified, false)?;
        println!("\n-- 8. 月调度报表与审计轨迹校验 --");
        println!("月调度: {}", period.report);
        crate::output::audit_verify(&audit, false)?;
        println!("\n异常报表: {}", report.display());
        println!("对账表: {}", reconciliation.display());
        println!("数据库: {}", var.join("aidpay.db").display());
        println!("银行文件: {}（副本已放入 {}）", cfg.paths.outbox.display(), var.join("bank").display());
        println!("再次查看: aidpay --config {} exceptions list", config_path.display());
        println!(
            "财务工作台: aidpay --config {} console，然后用浏览器打开 http://{}/ ，以 {} 或 {} 登录",
            config_path.display(),
            crate::console::listen_address(&cfg),
            DEMO_CLERK.0,
            DEMO_REVIEWER.0
        );
        println!(
            "用户: {}（经办，密码 {}）和 {}（复核，密码 {}）；例如 echo '{}' | aidpay --config {} exceptions resolve 1 --cancel --note 测试 --user {}",
            DEMO_CLERK.0,
            DEMO_CLERK.2,
            DEMO_REVIEWER.0,
            DEMO_REVIEWER.2,
            DEMO_CLERK.2,
            config_path.display(),
            DEMO_CLERK.0
        );
    }
    store.close().await;
    Ok(if verified.ok && audit.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The bank's side of the demo: every file in the banks' drop folders is picked up and answered
/// (about one payment in six refused, as real banks do: closed, frozen, wrong name…) into
/// aidpay's inbox. Returns the answer files' names and what the bank executed, per profile
/// booking (gross or net).
type Executed = Vec<(bool, crate::banksim::AnsweredBatch)>;

fn bank_answers(cfg: &Config) -> anyhow::Result<(Vec<String>, Executed)> {
    use crate::banksim::{AnswerMix, AnswerOptions, RandomMix, answer_picked, pick_up};
    use crate::config::{BankFormat, Transport};
    let mix = AnswerMix::settle_all().with_random(RandomMix::rejections(2026, 0.18));
    let mut names = Vec::new();
    let mut executed = Vec::new();
    for bank in &cfg.banks {
        let Transport::DropFolder(dir) = &bank.transport else {
            continue;
        };
        let mut opts = AnswerOptions::new(crate::clock::now());
        if let BankFormat::Domestic(d) = &bank.format {
            opts.domestic = Some((**d).clone());
        }
        for a in answer_picked(&pick_up(dir)?, &mix, &opts)? {
            crate::transport::deliver(&cfg.paths.inbox, &a.answer_name, &a.answer)?;
            names.push(a.answer_name.clone());
            executed.push((bank.gross, a));
        }
    }
    Ok((names, executed))
}

/// The special account's statement for the day, as the bank would send it: the finance bureau's
/// allocation in, each batch debited (gross or net as the bank books it), refused payments'
/// money back. Written into the inbox; returns its path.
fn bank_statement(cfg: &Config, executed: &Executed) -> anyhow::Result<PathBuf> {
    use crate::banksim::statement::{camt053, statement_for};
    use crate::banksim::{Booking, Camt053Version, SimEntry, StatementOptions};
    let today = crate::clock::today();
    let opts = StatementOptions {
        account_no: cfg.account.number.clone(),
        account_name: Some(cfg.account.name.clone()),
        statement_id: format!("STMT{}", today.format("%Y%m%d")),
        from_date: today,
        to_date: today,
        with_details: true,
        late_returns: true,
    };
    let mut entries = vec![SimEntry::Allocation {
        amount: crate::domain::Fen(10_000_000),
        counterpart_account: cfg.reconcile.allocation_accounts.first().cloned().unwrap_or_else(|| "财政局".into()),
        counterpart_name: "某某区财政局".into(),
        date: today,
    }];
    for gross in [true, false] {
        let batches: Vec<_> = executed.iter().filter(|(g, _)| *g == gross).map(|(_, a)| a.executed()).collect();
        let booking = if gross { Booking::Gross } else { Booking::Net };
        entries.extend(statement_for(&batches, crate::domain::Fen(0), booking, &opts).entries);
    }
    let spec = crate::banksim::StatementSpec {
        account_no: opts.account_no.clone(),
        account_name: opts.account_name.clone(),
        statement_id: opts.statement_id.clone(),
        from_date: today,
        to_date: today,
        opening: crate::domain::Fen(0),
        entries,
        break_balance: None,
    };
    let name = format!("camt053_{}.xml", spec.statement_id);
    Ok(crate::transport::deliver(&cfg.paths.inbox, &name, &camt053(&spec, Camt053Version::V02, &crate::clock::now()))?)
}
