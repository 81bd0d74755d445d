//! What commands print: human text for people (Chinese labels), or with `--json` exactly one
//! JSON document on stdout for scripts and monitoring.

use crate::config::Config;
use crate::domain::{FileOutcome, GrantStatus, LabelZh, PaymentStatus};
use crate::intake::FileSummary;
use crate::store::ExceptionRow;
use std::io::Write;

/// `text` padded with spaces to `width` terminal columns (a Chinese character takes two), on the
/// left or the right; longer text is left as it is.
pub fn pad(text: &str, width: usize, right: bool) -> String {
    let w = unicode_width::UnicodeWidthStr::width(text);
    let fill = " ".repeat(width.saturating_sub(w));
    if right { format!("{fill}{text}") } else { format!("{text}{fill}") }
}

/// One JSON document on stdout.
pub fn json(value: &serde_json::Value) -> std::io::Result<()> {
    print_json(value)
}

fn print_json(value: &serde_json::Value) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)
}

/// `import`: per file the counts and the rejected rows.
pub fn import(files: &[FileSummary], json: bool) -> std::io::Result<()> {
    if json {
        // A struct, not json!{}, so the keys keep the documented order.
        #[derive(serde::Serialize)]
        struct Out<'a> {
            files: &'a [FileSummary],
        }
        return print_json(&serde_json::to_value(Out { files })?);
    }
    let mut out = std::io::stdout().lock();
    for f in files {
        if let Some(e) = &f.error {
            writeln!(out, "{}: 未导入：{e}", f.file)?;
            continue;
        }
        writeln!(
            out,
            "{}: {} 行 — 导入 {}（其中暂停 {}）, 未变 {}, 冲突 {}, 拒收 {}",
            f.file, f.rows, f.imported, f.held, f.unchanged, f.conflicts, f.rejected
        )?;
        for e in &f.errors {
            writeln!(out, "  第 {} 行 [{}]: {}", e.line, e.column, e.reason)?;
        }
        if f.errors_not_listed > 0 {
            writeln!(out, "  … 另有 {} 行拒收未列出", f.errors_not_listed)?;
        }
    }
    Ok(())
}

/// `exceptions list`.
pub fn exceptions(rows: &[ExceptionRow], json: bool) -> std::io::Result<()> {
    if json {
        return print_json(&serde_json::to_value(rows)?);
    }
    let mut out = std::io::stdout().lock();
    if rows.is_empty() {
        return writeln!(out, "没有待处理的异常");
    }
    // The problem as finance staff name it; its machine name is in --json (`kind`).
    let labels: Vec<&str> = rows.iter().map(|r| r.kind.label_zh()).collect();
    let kind_w = labels.iter().map(|l| unicode_width::UnicodeWidthStr::width(*l)).max().unwrap_or(0).max(4);
    writeln!(
        out,
        "{}  {} {} {} {} {}  说明",
        pad("编号", 5, true),
        pad("问题", kind_w, false),
        pad("级别", 4, false),
        pad("状态", 6, false),
        pad("资助编号", 14, false),
        pad("金额", 10, true)
    )?;
    for (r, label) in rows.iter().zip(&labels) {
        writeln!(
            out,
            "{}  {} {} {} {} {}  {}",
            pad(&r.id.to_string(), 5, true),
            pad(label, kind_w, false),
            pad(r.severity.label_zh(), 4, false),
            pad(r.status.label_zh(), 6, false),
            pad(r.grant_id.as_deref().unwrap_or("-"), 14, false),
            pad(r.amount.as_deref().unwrap_or("-"), 10, true),
            r.detail
        )?;
    }
    writeln!(out, "共 {} 条", rows.len())
}

/// `status`.
pub fn status(
    cfg: &Config,
    grants: &[(String, i64)],
    payments: &[(String, i64)],
    open: &[ExceptionRow],
    position: &crate::reconcile::PositionOut,
    jobs: &[crate::scheduler::JobStatus],
    last_alert: Option<&crate::store::JobRun>,
    warnings: &[String],
    keys: &crate::store::KeyStatus,
    json: bool,
) -> std::io::Result<()> {
    let mut by_kind: std::collections::BTreeMap<&str, i64> = Default::default();
    for e in open {
        *by_kind.entry(e.kind.as_str()).or_default() += 1;
    }
    if json {
        let grants: serde_json::Map<String, serde_json::Value> = grants.iter().map(|(s, n)| (s.clone(), (*n).into())).collect();
        let payments: serde_json::Map<String, serde_json::Value> = payments.iter().map(|(s, n)| (s.clone(), (*n).into())).collect();
        return print_json(&serde_json::json!({
            "account": cfg.account.name,
            "grants": grants,
            "payments": payments,
            "position": position,
            "open_exceptions": open.len(),
            "open_exceptions_by_kind": by_kind,
            "jobs": jobs,
            "last_alert": last_alert,
            "warnings": warnings,
            "data_at_rest": keys,
        }));
    }
    let mut out = std::io::stdout().lock();
    for w in warnings {
        writeln!(out, "警告: {w}")?;
    }
    writeln!(out, "专户: {}", cfg.account.name)?;
    for j in jobs {
        let last = match &j.last_run {
            Some(r) => format!(
                "上次 {} → {} {}{}",
                r.started_at,
                r.finished_at.as_deref().unwrap_or("-"),
                r.outcome.map_or("-", |o| o.label_zh()),
                r.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
            ),
            None => "从未运行".into(),
        };
        writeln!(
            out,
            "任务 {}（{}）[{}] 下次 {}; {last}",
            crate::alerts::job_label(&j.job),
            j.job,
            j.schedule,
            j.next_run.as_deref().unwrap_or("-")
        )?;
    }
    if let Some(a) = last_alert {
        writeln!(out, "最近提醒 {} {}: {}", a.started_at, a.outcome.map_or("-", |o| o.label_zh()), a.detail.as_deref().unwrap_or(""))?;
    }
    for (s, n) in grants {
        writeln!(out, "资助 {}: {n}", GrantStatus::parse(s).map_or(s.as_str(), |g| g.label_zh()))?;
    }
    for (s, n) in payments {
        writeln!(out, "支付 {}: {n}", PaymentStatus::parse(s).map_or(s.as_str(), |p| p.label_zh()))?;
    }
    writeln!(
        out,
        "专户资金: 拨入 {} 元, 已付出 {} 元, 退回 {} 元, 在途 {} 元, 余额 {}",
        position.allocations_in,
        position.paid_out,
        position.returned,
        position.in_flight,
        position.balance.as_deref().map(|b| format!("{b} 元")).unwrap_or_else(|| "未知（尚无对账单）".into())
    )?;
    writeln!(out, "待处理异常: {}", open.len())?;
    for (k, n) in by_kind {
        writeln!(out, "  {}: {n}", crate::exceptions::ExceptionKind::parse(k).map(|k| k.label_zh()).unwrap_or(k))?;
    }
    let versions = keys.key_versions.iter().map(|v| format!("v{v}")).collect::<Vec<_>>().join(", ");
    if keys.clear_values == 0 {
        writeln!(out, "卡号与身份证号: 全部加密存储 (all encrypted at rest; key versions {versions})")?;
    } else {
        writeln!(
            out,
            "卡号与身份证号: 仍有 {} 行为明文 (clear values remain: run `aidpay keys init` if there is no key, then any command that writes encrypts them)",
            keys.clear_values
        )?;
    }
    if let Some(v) = keys.rotating_to {
        writeln!(out, "密钥轮换未完成: 正在改用 v{v}，请再次运行 aidpay keys rotate (a rotation to v{v} is unfinished)")?;
    }
    Ok(())
}

/// `batch`: each batch with its file, number of payments and total.
pub fn batch(o: &crate::batch::CycleOutcome, json: bool) -> std::io::Result<()> {
    if json {
        return print_json(&serde_json::to_value(o)?);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "新建支付 {} 笔; 因户名无法写入暂停 {} 笔; 公示未结束等待 {} 笔", o.payments_created, o.unencodable, o.waiting_for_notice)?;
    if o.batches.is_empty() {
        return writeln!(out, "没有需要发送的批次");
    }
    for b in &o.batches {
        writeln!(
            out,
            "批次 {} [{}] {} 笔 合计 {} 元 → {}（{}）{}",
            b.batch_id,
            b.profile,
            b.payments,
            b.total,
            b.file.as_deref().unwrap_or("-"),
            b.status.label_zh(),
            b.error.as_deref().map(|e| format!(" 错误: {e}")).unwrap_or_default()
        )?;
    }
    Ok(())
}

/// `verify`: the owner states counted, then every failed check.
pub fn verify(r: &crate::verify::VerifyReport, json: bool) -> std::io::Result<()> {
    if json {
        return print_json(&serde_json::to_value(r)?);
    }
    let mut out = std::io::stdout().lock();
    use crate::verify::OwnerState as O;
    let n = |k: O| r.owner_states.get(k.as_str()).copied().unwrap_or(0);
    writeln!(
        out,
        "资助 {} 笔: 等待公示结束 {}, 待发放 {}, 在途 {}, 已发放 {}, 挂起待处理 {}, 已取消 {}; 批次 {} 个, 文件 {} 个已核对",
        r.grants,
        n(O::Waiting),
        n(O::ToBatch),
        n(O::InFlight),
        n(O::Paid),
        n(O::Held),
        n(O::Cancelled),
        r.batches,
        r.files_checked
    )?;
    if r.ok {
        return writeln!(out, "校验通过: 每笔资助都有且只有一个归属状态，批次合计与文件哈希一致");
    }
    writeln!(out, "校验未通过: {} 项问题", r.violations.len() as u64 + r.violations_not_listed)?;
    for v in &r.violations {
        writeln!(out, "  [{}] {}: {}", v.check, v.subject, v.detail)?;
    }
    if r.violations_not_listed > 0 {
        writeln!(out, "  …另有 {} 项未列出", r.violations_not_listed)?;
    }
    Ok(())
}

/// `exceptions resolve`: applied, or proposed for a second person.
pub fn resolve_outcome(r: &crate::exceptions::ResolveOutcome, json: bool) -> std::io::Result<()> {
    match r {
        crate::exceptions::ResolveOutcome::Applied(done) => resolved(done, json),
        crate::exceptions::ResolveOutcome::Proposed { message, .. } => {
            if json {
                return print_json(&serde_json::to_value(r)?);
            }
            writeln!(std::io::stdout().lock(), "{message}")
        }
    }
}

/// `approvals list`.
pub fn approvals(rows: &[crate::store::ApprovalRow], json: bool) -> std::io::Result<()> {
    if json {
        return print_json(&serde_json::to_value(rows)?);
    }
    let mut out = std::io::stdout().lock();
    if rows.is_empty() {
        return writeln!(out, "没有待复核的提议");
    }
    for a in rows {
        writeln!(
            out,
            "#{} [{}] {} 由 {} 于 {} 提出 — {}{}",
            a.id,
            a.kind,
            a.subject,
            a.proposed_by,
            a.proposed_at,
            a.status.label_zh(),
            a.decided_by.as_deref().map(|d| format!("，{d} 复核")).unwrap_or_default()
        )?;
        writeln!(out, "    提议: {}", a.after)?;
    }
    Ok(())
}

/// `approvals approve|reject`.
pub fn decided(d: &crate::approvals::Decided, json: bool) -> std::io::Result<()> {
    if json {
        return print_json(&serde_json::to_value(d)?);
    }
    writeln!(std::io::stdout().lock(), "提议 #{}（{}）: {}", d.id, d.status.label_zh(), d.message)
}

/// `user add` and `user list`.
pub fn users(rows: &[crate::store::UserRow], json: bool) -> std::io::Result<()> {
    if json {
        return print_json(&serde_json::to_value(rows)?);
    }
    let mut out = std::io::stdout().lock();
    for u in rows {
        let state = if u.disabled {
            "已停用"
        } else if u.locked_until.is_some_and(|t| t > crate::people::unix_now()) {
            "已锁定"
        } else {
            "正常"
        };
        writeln!(out, "{} {} {} {}", u.username, u.display_name, u.role.label_zh(), state)?;
    }
    Ok(())
}

/// A command that did one thing: `{"done": true, "message"}`.
pub fn done(message: &str, json: bool) -> std::io::Result<()> {
    if json {
        return print_json(&serde_json::json!({"done": true, "message": message}));
    }
    writeln!(std::io::stdout().lock(), "{message}")
}

/// `exceptions resolve`.
pub fn resolved(r: &crate::exceptions::Resolved, json: bool) -> std::io::Result<()> {
    if json {
        return print_json(&serde_json::to_value(r)?);
    }
    writeln!(std::io::stdout().lock(), "异常 {} 已处理 ({}): {}", r.id, r.action, r.message)
}

/// `ingest`: per file what it was and what it did.
pub fn ingest(files: &[crate::returns::IngestSummary], no_answer: u64, json: bool) -> std::io::Result<()> {
    if json {
        return print_json(&serde_json::json!({ "files": files, "no_answer_flagged": no_answer }));
    }
    let mut out = std::io::stdout().lock();
    if files.is_empty() {
        writeln!(out, "没有待处理的银行文件")?;
    }
    for f in files {
        match f.outcome {
            FileOutcome::Applied => writeln!(
                out,
                "{} [{}]: 状态 {} 条 — 成功 {}, 拒绝 {}, 退回 {}, 未知流水 {}, 重复 {}; 对账单分录 {}",
                f.file,
                f.kind.as_deref().unwrap_or("?"),
                f.statuses,
                f.settled,
                f.rejected,
                f.returned,
                f.unknown_references,
                f.duplicate_statuses,
                f.entries
            )
            .and_then(|_| {
                if f.entries_repeated > 0 || f.entries_not_booked > 0 {
                    writeln!(
                        out,
                        "  已存分录 {} 条未重复记录；银行未记账（待定或仅供参考）{} 条，仅列示不对账",
                        f.entries_repeated, f.entries_not_booked
                    )?;
                }
                if f.file_rejected {
                    writeln!(out, "  银行拒收整个文件且未指明哪一批：已生成“银行拒收整个文件”异常，请立即处理")?;
                }
                f.warnings.iter().try_for_each(|w| writeln!(out, "  注意: {w}"))
            })?,
            FileOutcome::Duplicate => writeln!(out, "{}: 已处理过（内容相同），未再处理", f.file)?,
            FileOutcome::Skipped => writeln!(out, "{}: 已由另一个 aidpay 进程处理，跳过", f.file)?,
            FileOutcome::Error => writeln!(out, "{}: 未处理: {}", f.file, f.error.as_deref().unwrap_or(""))?,
            FileOutcome::Quarantined => {
                writeln!(out, "{}: 已隔离 → {}: {}", f.file, f.quarantined_to.as_deref().unwrap_or("-"), f.error.as_deref().unwrap_or(""))?
            }
        }
    }
    if no_answer > 0 {
        writeln!(out, "超期未回执: 新增 {no_answer} 条“银行未回执”异常")?;
    }
    Ok(())
}

/// A report written.
pub fn report(path: &std::path::Path, json: bool) -> std::io::Result<()> {
    if json {
        return print_json(&serde_json::json!({ "report": path }));
    }
    writeln!(std::io::stdout().lock(), "报表已生成: {}", path.display())
}

/// `reconcile`.
pub fn reconcile(o: &crate::reconcile::Outcome, json: bool) -> std::io::Result<()> {
    if json {
        return print_json(&serde_json::to_value(o)?);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "对账单 {} 份: 批次扣款匹配 {}, 退票入账 {}, 财政拨付 {}; 不明支出 {}, 金额不符 {}, 无法匹配的收入 {}, 退款未到账 {}, 余额不连续 {}",
        o.statements,
        o.batch_debits_matched,
        o.returns_matched,
        o.allocations,
        o.unknown_debits,
        o.mismatches,
        o.unmatched_credits,
        o.returns_not_credited,
        o.balance_breaks
    )?;
    if !o.missing_days.is_empty() {
        writeln!(out, "缺少对账单的日期: {}", o.missing_days.join(", "))?;
    }
    let p = &o.position;
    writeln!(
        out,
        "专户资金: 拨入 {} 元, 已付出 {} 元, 退回 {} 元, 在途 {} 元, 余额 {}",
        p.allocations_in,
        p.paid_out,
        p.returned,
        p.in_flight,
        p.balance.as_deref().map(|b| format!("{b} 元")).unwrap_or_else(|| "未知".into())
    )?;
    writeln!(out, "新增异常 {} 条; 已确认发放的资助 {} 笔", o.exceptions_raised, o.grants_paid)
}

/// `bench`.
pub fn bench(r: &crate::bench::Report, json: bool) -> std::io::Result<()> {
    if json {
        return print_json(&serde_json::to_value(r)?);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "aidpay bench: {} grants on {} ({}), page cache {} MB", r.grants, r.backend, r.dir, r.page_cache_mb)?;
    writeln!(out, "{:<12} {:>10} {:>10} {:>12} {:>10}", "stage", "rows", "seconds", "rows/s", "peak MB")?;
    for s in &r.stages {
        writeln!(out, "{:<12} {:>10} {:>10.2} {:>12.0} {:>10.1}", s.stage, s.rows, s.seconds, s.rows_per_second, s.peak_mb)?;
    }
    writeln!(out, "{:<12} {:>10} {:>10.2} {:>12} {:>10.1}", "total", r.grants, r.total_seconds, "", r.peak_mb)?;
    let w = &r.pain001_writer;
    writeln!(out, "{:<12} {:>10} {:>10.2} {:>12.0} {:>10}  (the XML alone, into a sink)", w.stage, w.rows, w.seconds, w.rows_per_second, "")?;
    if !r.kept {
        writeln!(out, "(the bench's store and files were removed; --keep keeps them)")?;
    }
    if let Some(c) = &r.console {
        writeln!(
            out,
            "console: exception list with {} exceptions — first page {:.1} ms, filtered (school + kind) {:.1} ms, deep page {:.1} ms",
            c.exceptions, c.first_page_ms, c.filtered_ms, c.deep_page_ms
        )?;
    }
    Ok(())
}

/// `bench --districts K`.
pub fn bench_districts(r: &crate::bench::DistrictsReport, json: bool) -> std::io::Result<()> {
    if json {
        return print_json(&serde_json::to_value(r)?);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "aidpay bench: districts side by side, import and batch of {} grants each (PostgreSQL)", r.grants_per_district)?;
    writeln!(out, "one district alone      {:>8.2} s", r.alone_seconds)?;
    let each: Vec<String> = r.each_seconds.iter().map(|s| format!("{s:.2}")).collect();
    writeln!(out, "{} districts at once     {:>8.2} s  (each: {} s)", r.districts, r.together_seconds, each.join(", "))?;
    writeln!(out, "ratio                   {:>8.2}", r.ratio)?;
    Ok(())
}

/// `audit verify`.
pub fn audit_verify(r: &crate::audit::AuditVerify, json: bool) -> std::io::Result<()> {
    if json {
        return print_json(&serde_json::to_value(r)?);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "审计轨迹 {} 行，链头 {}；核对文件 {} 个（未保存的 {} 个）", r.lines, r.head, r.files_checked, r.files_not_kept)?;
    if r.ok {
        return writeln!(out, "校验通过: 每一行都接在上一行之后，内容与哈希一致，保存的文件与登记的哈希一致");
    }
    if let Some(b) = &r.first_bad_line {
        writeln!(out, "校验未通过: {}", b.reason)?;
    }
    for p in &r.file_problems {
        writeln!(out, "文件不符: {}", p.reason)?;
    }
    Ok(())
}

/// `audit export`.
pub fn audit_export(r: &crate::audit::AuditExport, json: bool) -> std::io::Result<()> {
    if json {
        return print_json(&serde_json::to_value(r)?);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "审计轨迹已导出到 {}: {} 行，附文件 {} 个（未保存的 {} 个）", r.dir, r.lines, r.files_copied, r.files_not_kept)?;
    writeln!(out, "  {}\n  {}\n  {}", r.csv, r.xlsx, r.head_file)?;
    writeln!(out, "链头 {}；校验{}", r.head, if r.verify_ok { "通过" } else { "未通过" })
}

/// `report period`.
pub fn period_report(r: &crate::reports::period::PeriodReport, json: bool) -> std::io::Result<()> {
    if json {
        return print_json(&serde_json::to_value(r)?);
    }
    let mut out = std::io::stdout().lock();
    let f = &r.figures;
    let m = &f.money;
    writeln!(out, "{} {}（{} 至 {}）", f.period.report_name(), f.period.label_zh(), f.from, f.to)?;
    writeln!(
        out,
        "  发放成功 {} 笔 {} 元，退票 {} 笔 {} 元，失败 {} 笔 {} 元，期末在途 {} 笔 {} 元",
        m.paid_count,
        crate::domain::Fen(m.paid_fen),
        m.returned_count,
        crate::domain::Fen(m.returned_fen),
        m.failed_count,
        crate::domain::Fen(m.failed_fen),
        m.in_flight_count,
        crate::domain::Fen(m.in_flight_fen)
    )?;
    for n in &m.notes {
        writeln!(out, "  说明: {n}")?;
    }
    writeln!(out, "  审计链头 {}", r.chain_head)?;
    for p in &r.files {
        writeln!(out, "报表已生成: {p}")?;
    }
    Ok(())
}

/// A report of several files (`report ledger`).
pub fn files(paths: &[std::path::PathBuf], json: bool) -> std::io::Result<()> {
    if json {
        return print_json(&serde_json::json!({ "report": paths.first(), "files": paths }));
    }
    let mut out = std::io::stdout().lock();
    for p in paths {
        writeln!(out, "报表已生成: {}", p.display())?;
    }
    Ok(())
}
